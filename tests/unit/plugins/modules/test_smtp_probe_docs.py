"""smtp_probe's DOCUMENTATION and argument spec agree, and its examples only use documented options."""

from __future__ import annotations

import yaml

from ansible_collections.mailflow.exchange.plugins.modules import smtp_probe


def _compare(documented: dict, spec: dict, where: str) -> None:
    assert set(documented) == set(spec), where
    for name, entry in spec.items():
        doc = documented[name]
        assert doc["type"] == entry["type"], (where, name)
        assert doc.get("required", False) == entry.get("required", False), (where, name)
        assert doc.get("choices") == entry.get("choices"), (where, name)
        assert doc.get("default") == entry.get("default"), (where, name)
        assert doc.get("elements") == entry.get("elements"), (where, name)
        assert sorted(doc.get("aliases", [])) == sorted(entry.get("aliases", [])), (where, name)
        if "options" in entry:
            _compare(doc["suboptions"], entry["options"], f"{where}.{name}")


def test_documentation_matches_the_argument_spec():
    doc = yaml.safe_load(smtp_probe.DOCUMENTATION)
    spec = smtp_probe.argument_spec()
    _compare(doc["options"], spec, "options")
    assert spec["authentication_credential"]["options"]["password"]["no_log"] is True
    assert doc["attributes"]["check_mode"]["support"] == "full"


def test_examples_use_documented_options_only():
    spec = smtp_probe.argument_spec()
    known = set(spec) | {alias for entry in spec.values() for alias in entry.get("aliases", [])}
    tasks = [t for t in yaml.safe_load(smtp_probe.EXAMPLES) if "mailflow.exchange.smtp_probe" in t]
    assert len(tasks) >= 4
    for task in tasks:
        assert set(task["mailflow.exchange.smtp_probe"]) <= known, task["name"]


def test_return_documents_every_top_level_key():
    documented = set(yaml.safe_load(smtp_probe.RETURN))
    assert {"probes", "findings", "summary", "message_id", "test_message"} == documented
