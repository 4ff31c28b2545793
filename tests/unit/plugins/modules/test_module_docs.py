"""The modules' DOCUMENTATION, argument specs and the option table say the same thing (nothing listed twice by hand
without a check)."""

from __future__ import annotations

import yaml

from ansible_collections.mailflow.exchange.plugins.doc_fragments.exchange import ModuleDocFragment
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session
from ansible_collections.mailflow.exchange.plugins.modules import send_connector, send_connector_info, smart_host


def docs(module):
    return yaml.safe_load(module.DOCUMENTATION)


def test_send_connector_documents_exactly_the_table():
    documented = docs(send_connector)["options"]
    spec = send_connector.argument_spec()
    assert set(documented) == set(spec)
    for opt in _options.OPTIONS:
        entry = documented[opt.name]
        assert entry["type"] == spec[opt.name]["type"], opt.name
        if opt.param:  # a connector setting names its Exchange parameter (a task option, the preset, has none)
            assert "-%s" % opt.param in " ".join(entry["description"]), opt.name
        if "choices" in spec[opt.name]:  # Ansible's choices: the docs list them as the argument spec does
            assert entry["choices"] == spec[opt.name]["choices"], opt.name
        if opt.choices:
            for choice in opt.choices:
                assert "V(%s)" % choice in " ".join(entry["description"]), (opt.name, choice)
    cred = documented["authentication_credential"]["suboptions"]
    assert spec["authentication_credential"]["options"]["password"]["no_log"] is True
    assert set(cred) == {"username", "password"}


def test_fragment_documents_the_connection_spec():
    documented = yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"]
    assert set(documented) == set(_session.CONNECTION_ARGSPEC)
    assert _session.CONNECTION_ARGSPEC["password"]["no_log"] is True
    env = {name: entry["fallback"][1][0] for name, entry in _session.CONNECTION_ARGSPEC.items() if "fallback" in entry}
    for name, var in env.items():
        assert "E(%s)" % var in " ".join(documented[name]["description"]), name
    assert set(env.values()) == {"EXCHANGE_SERVER", "EXCHANGE_PORT", "EXCHANGE_PROTOCOL", "EXCHANGE_PATH",
                                 "EXCHANGE_AUTH", "EXCHANGE_USERNAME", "EXCHANGE_PASSWORD",
                                 "EXCHANGE_VALIDATE_CERTS", "EXCHANGE_CA_CERT"}


def test_every_module_has_attributes_examples_return_and_seed_example_first():
    for module in (send_connector, smart_host, send_connector_info):
        doc = docs(module)
        attributes = dict(doc.get("attributes") or {})
        for fragment in doc["extends_documentation_fragment"]:  # the attributes the module takes from its fragments
            name = fragment.rsplit(".", 1)[-1].upper()
            if name != "EXCHANGE":
                for key, entry in yaml.safe_load(getattr(ModuleDocFragment, name))["attributes"].items():
                    attributes[key] = dict(entry, **attributes.get(key, {}))
        for key in ("check_mode", "diff_mode", "idempotent"):
            assert attributes[key]["description"] and attributes[key]["support"] in ("full", "partial", "none"), key
        assert yaml.safe_load(module.RETURN)
        examples = yaml.safe_load(module.EXAMPLES)
        keywords = ("name", "register", "when", "module_defaults", "block")
        prefixes = ("mailflow.exchange.", "ansible.builtin.")
        assert examples and all(k.startswith(prefixes) or k in keywords for task in examples for k in task)
    first = yaml.safe_load(send_connector.EXAMPLES)[0]["mailflow.exchange.send_connector"]
    assert first["name"] == "Smart host to Internet" and first["address_spaces"] == ["*"]
    assert first["usage"] == "Custom" and first["smart_hosts"] == ["192.168.3.2"]
    assert first["smart_host_auth_mechanism"] == "None"


def test_examples_are_valid_tasks_for_the_schema():
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema

    for task in yaml.safe_load(send_connector.EXAMPLES):
        args = task.get("mailflow.exchange.send_connector")
        if not args or args.get("state") == "absent":
            continue
        settings = {k: v for k, v in args.items() if k in _options.BY_NAME and "{{" not in str(v)}
        if isinstance(args.get("authentication_credential"), dict):  # the password is templated: any string
            settings["authentication_credential"] = dict(args["authentication_credential"], password="x")
        assert _schema.validate(dict(_plan.implied(settings), name=args["name"])) == [], task["name"]
