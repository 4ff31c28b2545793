"""The role's report action (plugins/action/smart_host_routing_report.py): the Markdown file is written atomically with
mode 0600, a file that cannot be written is a sentence naming smart_host_routing_report_file (never an exception), and
the documented options are the action's argument spec."""

from __future__ import annotations

import os
import stat

import yaml

from ansible_collections.mailflow.exchange.plugins.action import smart_host_routing_report as action
from ansible_collections.mailflow.exchange.plugins.modules import smart_host_routing_report as docs


def test_writes_the_text_with_mode_0600_replacing_an_older_file(tmp_path):
    target = tmp_path / "change.md"
    target.write_text("old report\n")
    os.chmod(target, 0o644)
    assert action.write_error(str(target), "# Report\n\nä `x`\r\n") is None
    assert target.read_bytes() == "# Report\n\nä `x`\r\n".encode("utf-8")  # as given: no newline translation
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["change.md"]  # no temporary file left behind


def test_expands_the_home_directory_and_variables_as_the_copy_module_did(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("REPORTS", "reports")
    (tmp_path / "reports").mkdir()
    assert action.write_error("~/$REPORTS/r.md", "text\n") is None
    assert (tmp_path / "reports" / "r.md").read_text() == "text\n"


def test_a_missing_directory_is_named_with_the_role_variable(tmp_path):
    target = tmp_path / "missing" / "r.md"
    assert action.write_error(str(target), "text\n") == (
        "smart_host_routing_report_file: cannot write the report to %s on the controller: its directory %s does not exist"
        % (target, target.parent))
    assert not target.parent.exists()


def test_a_directory_or_an_unwritable_directory_is_a_sentence_not_an_exception(tmp_path):
    assert action.write_error(str(tmp_path), "text\n") == (
        "smart_host_routing_report_file: cannot write the report to %s on the controller: it is a directory" % tmp_path)
    locked = tmp_path / "locked"
    locked.mkdir()
    os.chmod(locked, 0o500)
    try:
        message = action.write_error(str(locked / "r.md"), "text\n")
        if os.geteuid() == 0:  # root writes anyway
            assert message is None and (locked / "r.md").read_text() == "text\n"
        else:
            assert message == ("smart_host_routing_report_file: cannot write the report to %s on the controller: "
                               "Permission denied" % (locked / "r.md"))
            assert os.listdir(locked) == []
    finally:
        os.chmod(locked, 0o700)


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch):
    target = tmp_path / "r.md"
    target.write_text("old\n")

    def refuse(_source, _target):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(action.os, "replace", refuse)
    assert action.write_error(str(target), "new\n") == (
        "smart_host_routing_report_file: cannot write the report to %s on the controller: No space left on device" % target)
    assert target.read_text() == "old\n" and os.listdir(tmp_path) == ["r.md"]


def test_the_documented_options_are_the_argument_spec():
    documented = yaml.safe_load(docs.DOCUMENTATION)["options"]
    assert set(documented) == set(action.ARGUMENT_SPEC)
    for name, spec in action.ARGUMENT_SPEC.items():
        assert documented[name]["type"] == spec["type"], name
        assert documented[name].get("required", False) == spec.get("required", False), name
        assert documented[name].get("default") == spec.get("default"), name
    assert "Internal to the smart_host_routing role" in yaml.safe_load(docs.DOCUMENTATION)["short_description"]
