"""The AWX credential types inject exactly what the modules and the role read.

The environment variables the modules fall back to are taken from the connection argument spec
itself (``module_utils/_remoting/session.CONNECTION_ARGSPEC``), so a new connection option without an
injector fails here. The rules are AWX's: fields with id/type/label, secrets marked secret,
no ``ANSIBLE_`` variables, injectors only referring to defined inputs.
"""

from __future__ import annotations

import os
import re

import pytest

from role_lab import ROOT, load_credential_type, render_injectors


from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session  # noqa: E402

TYPES = ["exchange_management", "exchange_smart_host"]
FIELD_TYPES = {"string", "boolean"}


def _module_env_vars() -> set[str]:
    names = set()
    for spec in _session.CONNECTION_ARGSPEC.values():
        fallback = spec.get("fallback")
        if fallback:
            names.update(fallback[1])
    return names


@pytest.mark.parametrize("name", TYPES)
def test_credential_type_follows_awx_rules(name):
    ctype = load_credential_type(name)
    assert ctype["kind"] == "cloud"
    assert ctype["name"].endswith("(mailflow.exchange)")  # no collision with AWX's own types
    fields = ctype["inputs"]["fields"]
    ids = [f["id"] for f in fields]
    assert len(ids) == len(set(ids))
    for field in fields:
        assert field["type"] in FIELD_TYPES and field.get("label"), field
        if "password" in field["id"]:
            assert field.get("secret") is True, "%s must be secret" % field["id"]
    assert set(ctype["inputs"].get("required", [])) <= set(ids)
    injectors = ctype["injectors"]
    for variable, template in injectors["env"].items():
        assert not variable.startswith("ANSIBLE_"), variable
        code = re.sub(r"'[^']*'", "", re.sub(r"tower\.filename\.[a-z_]+", "", template))  # no string literals
        used = set(re.findall(r"\b([a-z_]+)\b", code)) - {"if", "endif", "else", "or", "and", "not"}
        assert used <= set(ids), "%s refers to unknown inputs %s" % (variable, used - set(ids))


def test_exchange_credential_sets_every_variable_the_modules_read(tmp_path):
    ctype = load_credential_type("exchange_management")
    module_vars = _module_env_vars()
    assert {"EXCHANGE_SERVER", "EXCHANGE_USERNAME", "EXCHANGE_PASSWORD", "EXCHANGE_PORT"} <= module_vars
    assert module_vars <= set(ctype["injectors"]["env"]), sorted(module_vars - set(ctype["injectors"]["env"]))

    inputs = {"server": "ex01.contoso.com", "port": "80", "username": "admin@CONTOSO.COM", "password": "pw-1", "validate_certs": True}
    env = render_injectors(ctype, inputs, str(tmp_path))
    assert env["EXCHANGE_SERVER"] == "ex01.contoso.com"
    assert env["EXCHANGE_AUTH"] == "kerberos"  # the default Exchange expects
    assert env["EXCHANGE_PROTOCOL"] == "http"
    assert env["EXCHANGE_PATH"] == "PowerShell"
    assert env["EXCHANGE_PASSWORD"] == "pw-1"
    assert env["EXCHANGE_CA_CERT"] == ""  # no CA given: the system store, not an empty file

    with_ca = render_injectors(ctype, dict(inputs, ca_cert="-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"), str(tmp_path))
    path = with_ca["EXCHANGE_CA_CERT"]
    assert os.path.isfile(path) and oct(os.stat(path).st_mode & 0o777) == "0o600"
    with open(path, encoding="utf-8") as handle:
        assert handle.read().startswith("-----BEGIN CERTIFICATE-----")


@pytest.mark.parametrize(
    ("given", "port"),
    [({}, "80"), ({"protocol": "https"}, "443"), ({"protocol": "https", "port": "8443"}, "8443"), ({"protocol": "http", "port": "8080"}, "8080")],
)
def test_exchange_credential_port_follows_the_protocol(tmp_path, given, port):
    """An empty port is the protocol's own, as the modules default it: never 80 with https."""
    ctype = load_credential_type("exchange_management")
    assert "port" not in ctype["inputs"]["required"]
    assert "default" not in next(f for f in ctype["inputs"]["fields"] if f["id"] == "port")
    inputs = dict({"server": "ex01.contoso.com", "username": "admin@CONTOSO.COM", "password": "pw-1"}, **given)
    assert render_injectors(ctype, inputs, str(tmp_path))["EXCHANGE_PORT"] == port


def test_smart_host_credential_feeds_the_role_defaults(tmp_path):
    env = render_injectors(load_credential_type("exchange_smart_host"), {"username": "relay", "password": "pw-2"}, str(tmp_path))
    assert env == {"SMART_HOST_USERNAME": "relay", "SMART_HOST_PASSWORD": "pw-2"}
    with open(os.path.join(ROOT, "roles", "smart_host_routing", "defaults", "main.yml"), encoding="utf-8") as handle:
        defaults = handle.read()
    for variable in env:
        assert "lookup('ansible.builtin.env', '%s')" % variable in defaults
