"""The role's defaults, argument spec and README describe the same variables, with the same defaults."""

from __future__ import annotations

import os

import yaml

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 4, "roles", "smart_host_routing")


def _load(*parts: str):
    with open(os.path.join(ROLE, *parts), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def test_defaults_spec_and_readme_agree():
    defaults = _load("defaults", "main.yml")
    options = _load("meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    with open(os.path.join(ROLE, "README.md"), encoding="utf-8") as handle:
        readme = handle.read()
    assert set(defaults) == set(options), (sorted(set(defaults) ^ set(options)))
    for name, spec in options.items():
        assert spec.get("description"), name
        assert "| `%s` |" % name in readme, "%s is not in the README's table" % name
        if "default" in spec:
            assert spec["default"] == defaults[name], "%s: argument spec default %r, defaults/main.yml %r" % (name, spec["default"], defaults[name])
    # Secrets come from the environment by default, never from a literal in the role.
    assert defaults["smart_host_routing_smart_host_credential"]["password"] == "{{ lookup('ansible.builtin.env', 'SMART_HOST_PASSWORD') }}"
    assert options["smart_host_routing_smart_host_credential"]["options"]["password"]["no_log"] is True
