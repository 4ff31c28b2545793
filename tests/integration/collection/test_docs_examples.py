"""Every fenced shell and YAML example of README.md, docs/*.md and the role README, run as printed.

Each document's examples run in order in one bash session (``set -euo pipefail``), as a reader pastes them
into one terminal from the repository root: shell blocks as they are, YAML blocks as the comment before them
says (``<!-- docs-test: ... -->``):

    file PATH                 write the block to PATH (a later shell block uses it)
    inventory PATH            write it, and check that every host of the group ``exchange`` sets
                              ansible_python_interpreter (the system Python has no pypsrp)
      ports VAR=READY:KEY ... put a port the session started into VAR (the doc says so in words)
      run                     run the main job with it: ansible-playbook mailflow.exchange.smart_host -i PATH
      syntax-check PLAYBOOK   ansible-playbook --syntax-check PLAYBOOK -i PATH
    syntax-check              a playbook that cannot run here: ansible-playbook --syntax-check (its roles and
                              modules resolve, its YAML and keywords are valid)
    ee                        the EE definition: tests/integration/collection/test_ee.py builds it with ansible-builder

A block that cannot run here says why in a visible line before it, ``*(Not run by the docs test: reason.)*``
(a container engine, AWX, a real Exchange); its YAML is still parsed. A block with neither fails the test: every example is either run or says why not.
Only two things differ from the page: ``/tmp/`` is a private directory per document (runs in parallel do not
collide), and ``.venv/bin/`` is the venv running the tests. Background processes a block starts are stopped
when its document's session ends (also on failure).

docs/benchmark.md is left out: its commands measure timings (hacking/benchmark*.py), which are benchmarks,
not tests.
"""

from __future__ import annotations

import glob
import os
import re
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap

import pytest
import yaml

from send_connector_harness import ROOT, collections_path
from labfixture import end_brokers

BIN = os.path.dirname(sys.executable)
DOCUMENTS = ["README.md", *sorted(p for p in glob.glob("docs/*.md", root_dir=ROOT) if p != "docs/benchmark.md"),
             "roles/smart_host_routing/README.md"]
SHELL = {"bash", "sh", "shell", "console"}
YAML = {"yaml", "yml"}
FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[\w-]*)[ \t]*\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
SKIP = re.compile(r"^[ \t]*\*\(Not run by the docs test: (?P<reason>.+?)\)\*[ \t]*$")
DIRECTIVE = re.compile(r"^[ \t]*<!-- docs-test: (?P<text>.+?) -->[ \t]*$")

# Every host of the group exchange names its Python (item 1 of issue 19): read from ansible-inventory --list.
CHECK_INTERPRETER = r"""
import json, sys
data = json.load(sys.stdin)
hosts = data.get("exchange", {}).get("hosts", [])
assert hosts, "the inventory has no host in the group exchange"
hostvars = data.get("_meta", {}).get("hostvars", {})
missing = [h for h in hosts if "ansible_python_interpreter" not in hostvars.get(h, {})]
assert not missing, "no ansible_python_interpreter for %s: the first task would run on the system Python" % missing
"""
# Put a port from a ready JSON into an inventory variable: set_port FILE VAR READY KEY
SET_PORT = r"""
import json, re, sys
path, var, ready, key = sys.argv[1:]
value = json.load(open(ready))[key]
text = open(path).read()
new, count = re.subn(r"(?m)^(\s*%s:\s*)\S+" % re.escape(var), lambda m: m.group(1) + str(value), text)
assert count == 1, "%s: %s appears %d times" % (path, var, count)
open(path, "w").write(new)
"""


def blocks(document: str) -> list[dict]:
    with open(os.path.join(ROOT, document), encoding="utf-8") as handle:
        text = handle.read()
    found = []
    for match in FENCE.finditer(text):
        lang = match.group("lang").lower()
        if lang not in SHELL | YAML:
            continue
        before = [line for line in text[: match.start()].splitlines() if line.strip()][-2:]
        skip = directive = None
        for line in before:
            if SKIP.match(line):
                skip = SKIP.match(line).group("reason")
            elif DIRECTIVE.match(line):
                directive = DIRECTIVE.match(line).group("text")
        # The nearest line only, or the two nearest when they are a skip line and a directive.
        if before and not (SKIP.match(before[-1]) or DIRECTIVE.match(before[-1])):
            skip = directive = None
        found.append({
            "line": text[: match.start()].count("\n") + 1,
            "lang": "yaml" if lang in YAML else "bash",
            "body": textwrap.dedent(match.group("body")),
            "skip": skip,
            "directive": directive,
        })
    return found


def is_playbook(data) -> bool:
    plays = ("hosts", "import_playbook", "ansible.builtin.import_playbook")
    return isinstance(data, list) and bool(data) and all(isinstance(p, dict) and any(k in p for k in plays) for p in data)


def session_script(document: str, scratch: str) -> tuple[str, list[str], list[str]]:
    """The bash session for one document; the examples it runs and the ones it does not (with the reason)."""

    def adapt(text: str) -> str:
        return re.sub(r"(?<![\w./-])/tmp(?=/|\s|$)", scratch, text).replace(".venv/bin/", BIN + "/")

    lines = [
        "set -euo pipefail",
        # Background jobs the blocks start (a lab, a Postfix) stop with the session, also when a block fails.
        "trap 'kill $(jobs -p) 2>/dev/null || true; wait || true' EXIT",
        "cd %s" % shlex.quote(ROOT),
    ]
    ran, not_run = [], []
    for block in blocks(document):
        where = "%s:%d" % (document, block["line"])
        if block["lang"] == "yaml":
            try:
                data = yaml.safe_load(block["body"])
            except yaml.YAMLError as exc:
                raise AssertionError("%s: the YAML does not parse: %s" % (where, exc)) from exc
            directive = block["directive"]
            if directive is None and block["skip"] is None:
                raise AssertionError("%s: a YAML example with neither a docs-test directive nor a 'Not run' line" % where)
            if directive is None:
                not_run.append("%s (%s)" % (where, block["skip"]))
                continue
            steps = [s.strip() for s in directive.split(";")]
            kind, _sep, path = steps[0].partition(" ")
            if kind == "syntax-check":  # a playbook that cannot run here: its syntax, roles and modules resolve
                assert is_playbook(data), "%s: syntax-check on something that is not a playbook" % where
                path = "%s/example-%d.yml" % (scratch, block["line"])
                lines.append("cat > %s <<'DOCS_EOF'\n%sDOCS_EOF" % (shlex.quote(path), block["body"]))
                lines.append("echo '### %s: --syntax-check'" % where)
                lines.append("ANSIBLE_HOST_PATTERN_MISMATCH=ignore ANSIBLE_LOCALHOST_WARNING=false "
                             "ansible-playbook --syntax-check -i localhost, %s >/dev/null" % shlex.quote(path))
                ran.append(where + " (syntax)")
                continue
            if kind == "ee":
                with open(os.path.join(ROOT, "tests", "integration", "collection", "test_ee.py"), encoding="utf-8") as handle:
                    assert "def test_documented_ee_definition_builds_as_printed" in handle.read()
                ran.append(where + " (test_ee.py)")
                continue
            assert kind in ("file", "inventory") and path, "%s: unknown docs-test directive %r" % (where, directive)
            path = adapt(path)
            lines.append("echo '### %s: %s'" % (where, kind))
            lines.append("mkdir -p %s" % shlex.quote(os.path.dirname(path)))
            lines.append("cat > %s <<'DOCS_EOF'\n%sDOCS_EOF" % (shlex.quote(path), adapt(block["body"])))
            if kind == "inventory":
                lines.append("ansible-inventory -i %s --list | %s -c %s" % (shlex.quote(path), shlex.quote(sys.executable),
                                                                            shlex.quote(CHECK_INTERPRETER)))
            for step in steps[1:]:
                verb, _sep, rest = step.partition(" ")
                if verb == "ports":
                    for assignment in rest.split():
                        var, _eq, source = assignment.partition("=")
                        ready, _colon, key = source.rpartition(":")
                        lines.append("%s -c %s %s %s %s %s" % (shlex.quote(sys.executable), shlex.quote(SET_PORT),
                                                               shlex.quote(path), var, shlex.quote(adapt(ready)), key))
                elif verb == "run":
                    lines.append("ansible-playbook mailflow.exchange.smart_host -i %s" % shlex.quote(path))
                elif verb == "syntax-check":
                    lines.append("ansible-playbook --syntax-check -i %s %s" % (shlex.quote(path), shlex.quote(adapt(rest))))
                else:
                    raise AssertionError("%s: unknown docs-test step %r" % (where, step))
            ran.append(where)
            continue
        if block["skip"] is not None:
            not_run.append("%s (%s)" % (where, block["skip"]))
            continue
        lines.append("echo '### %s'" % where)
        lines.append(adapt(block["body"]))
        ran.append(where)
    return "\n".join(lines) + "\n", ran, not_run


def test_the_marker_lines_are_found():
    """The parser sees this file's conventions where the documents use them (a guard against a silent no-op)."""
    found = {d: blocks(d) for d in DOCUMENTS}
    assert sum(len(b) for b in found.values()) >= 15, {d: len(b) for d, b in found.items()}
    assert any(b["skip"] for b in found["docs/awx.md"])
    assert any(b["directive"] and b["directive"].startswith("inventory") for b in found["docs/own-smart-host.md"])


@pytest.mark.parametrize("document", DOCUMENTS)
def test_document_examples_run_as_printed(document, tmp_path, record_property):
    # The reader's /tmp: a directory others can enter (Postfix's own user reads /tmp/pf, as under /tmp).
    scratch = tempfile.mkdtemp(prefix="docs-examples-", dir="/tmp")
    os.chmod(scratch, 0o755)
    try:
        run_session(document, scratch, tmp_path, record_property)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def run_session(document, scratch, tmp_path, record_property):
    script, ran, not_run = session_script(document, scratch)
    with open(tmp_path / "session.sh", "w", encoding="utf-8") as handle:
        handle.write(script)
    env = dict(os.environ)
    env.update({
        "PATH": BIN + os.pathsep + env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": collections_path(),
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
    })
    for key in [k for k in env if k.startswith(("EXCHANGE_", "SMART_HOST_"))]:
        del env[key]  # only what the document itself exports
    # the runspaces the role keeps (keep_session) in a directory of this test's, ended with it
    env["MAILFLOW_EXCHANGE_SESSION_DIR"] = str(tmp_path / "sessions")
    proc = subprocess.Popen(["bash", str(tmp_path / "session.sh")], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        output = proc.communicate(timeout=900)[0]
    finally:
        # The session's own trap stops its background jobs; this catches what escaped (a timeout, a kill).
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        end_brokers(env["MAILFLOW_EXCHANGE_SESSION_DIR"])
    record_property("docs_examples_summary", "%s: %d example(s) ran, %d not run" % (document, len(ran), len(not_run)))
    assert proc.returncode == 0, "%s: an example failed (exit %d):\n%s" % (document, proc.returncode, output[-8000:])
    # No warning a reader learns to ignore. The one exception is ansible-galaxy's note that the EE check's
    # side path is not a collections path, which is the point of that step (docs/awx.md).
    warnings = [line for line in output.splitlines() if "[WARNING]" in line and "is not part of the configured Ansible collections paths" not in line]
    assert not warnings, warnings
    assert "in clear text" not in output
    # Every example either ran or says why not.
    assert len(ran) + len(not_run) == len(blocks(document))
