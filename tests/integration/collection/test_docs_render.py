"""ansible-doc renders every module, filter and role of the collection without markup errors.

antsibull-docs lint checks references (M(), O()) but not what a reader sees: ``V(35 MB (36,700,160 bytes))``
closes at the first parenthesis and ansible-doc prints "`35 MB (36,700,160 bytes')" followed by a stray ")".
This renders the real text with ansible-doc (as a user would read it) and checks it:

* no markup left over (``V(``, ``O(``, ``C(``, ``RV(`` ... in the rendered text),
* every code span `...' is closed, and parentheses inside it are balanced,
* no stray backtick.

EXAMPLES are YAML shown as written, so they are left out of the check.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from send_connector_harness import collections_path

BIN = os.path.dirname(sys.executable)
LEFTOVER = re.compile(r"(?<![A-Za-z0-9_])(RV|[BCEILMOPUV])\((?=\S)")


def markup_errors(text: str) -> list[str]:
    """Problems in ansible-doc's rendered text (one line each, with the surrounding words)."""
    errors = []
    # ansible-doc's own layout: attribute names as `check_mode:` (backtick on both sides).
    flat = re.sub(r"`[A-Za-z_]+:`", "", " ".join(text.split()))
    for match in LEFTOVER.finditer(flat):
        errors.append("markup left over: ...%s..." % flat[max(0, match.start() - 30):match.end() + 30])
    pos = 0
    while True:
        start = flat.find("`", pos)
        if start < 0:
            break
        # ansible-doc closes a code span with ' followed by a non-word character (or the end).
        close = re.compile(r"'(?![A-Za-z0-9])").search(flat, start + 1)
        nxt = flat.find("`", start + 1)
        if close is None or (0 <= nxt < close.start()):
            errors.append("code span not closed: ...%s..." % flat[start:start + 60])
            pos = start + 1
            continue
        span = flat[start + 1:close.start()]
        # A macro closed at its first ")" leaves "(" open inside the span (and a stray ")" after it). A span
        # that is one character is that character as a value (`[' or `*'), not a mistake.
        depth = 0
        for char in span if len(span) > 1 else "":
            depth += {"(": 1, ")": -1}.get(char, 0)
            if depth < 0:
                break
        if depth != 0:
            errors.append("unbalanced parentheses in code span: ...%s..." % flat[max(0, start - 20):close.end() + 20])
        pos = close.end()
    return errors


def test_the_checker_finds_the_known_mistakes():
    bad = "so `35MB' equals `35 MB (36,700,160 bytes'), enum values"
    assert any("unbalanced" in e for e in markup_errors(bad))
    assert any("left over" in e for e in markup_errors("set V(foo) to"))
    assert any("not closed" in e for e in markup_errors("set `foo to `bar'"))
    assert markup_errors("`35 MB (36,700,160 bytes)' and the server's name, `SMTP:*;1', (see `a')") == []
    assert markup_errors("characters such as `[' or `(' or `*'") == []


def _run(*args: str) -> str:
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path(), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0",
               PAGER="cat")
    proc = subprocess.run([os.path.join(BIN, "ansible-doc"), *args], capture_output=True, text=True, env=env,
                          timeout=180, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "[ERROR]" not in proc.stderr and "[WARNING]: Missing documentation" not in proc.stderr, proc.stderr
    return proc.stdout


def _internal_filters() -> list[str]:
    """The role's filters meta/runtime.yml redirects into plugins/filter/__internal/ (16 of them)."""
    import yaml

    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), *[os.pardir] * 3)
    with open(os.path.join(root, "meta", "runtime.yml"), encoding="utf-8") as handle:
        routing = yaml.safe_load(handle)["plugin_routing"]["filter"]
    assert len(routing) == 16 and all(r["redirect"].startswith("mailflow.exchange.__internal.") for r in routing.values()), routing
    return sorted(routing)


def _plugins(kind: str) -> list[str]:
    listed = json.loads(_run("-t", kind, "-l", "-j", "mailflow.exchange"))
    return sorted(name for name in listed if name.startswith("mailflow.exchange."))


def _without_examples(text: str) -> str:
    """The rendered text minus each EXAMPLES section (YAML as written), per plugin."""
    return re.sub(r"(?ms)^EXAMPLES:.*?(?=^RETURN VALUES:|^> |\Z)", "", text)


@pytest.mark.parametrize("kind", ["module", "filter", "role"])
def test_every_plugin_renders_without_markup_errors(kind):
    names = _plugins(kind)
    expected = {
        "module": {"send_connector", "send_connector_info", "smart_host", "smtp_probe", "message_trace"},
        "filter": {"smtp_protocol_log", "smtp_protocol_sessions", "smart_host_routing_export"},
        "role": {"smart_host_routing"},
    }[kind]
    assert {"mailflow.exchange." + name for name in expected} <= set(names), names
    if kind == "filter":
        # only the public filters are listed (issue 19 item 9); the role's own, redirected by meta/runtime.yml into
        # plugins/filter/__internal/, still render by their names (the loop below reads them too)
        assert set(names) == {"mailflow.exchange." + name for name in expected}, names
        names = names + ["mailflow.exchange." + name for name in _internal_filters()]
    problems = []
    for name in names:
        text = _run("-t", kind, name)
        assert name.rsplit(".", 1)[1] in text
        problems += ["%s: %s" % (name, error) for error in markup_errors(_without_examples(text))]
    assert problems == [], "\n".join(problems)
