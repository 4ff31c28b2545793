# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The input check every module of the collection shares: each option's type and the module's own rules in one
message before anything else runs, never a traceback, secrets masked. ``checked_module`` is the AnsibleModule of
a module without an Exchange connection (smtp_probe); ``_module.exchange_module`` uses ``check_input`` and
``_refuse`` for the others. Kept apart from ``_module`` so that a module without a connection does not import
the remoting code and pypsrp (a fifth of smtp_probe's run).
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from ansible.module_utils.basic import AnsibleModule, _load_params

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema


class _Refusal(AnsibleModule):
    """The module that reports refused input: no invocation logging (a NUL in a value would make syslog
    fail before the message could be shown)."""

    def _log_invocation(self) -> None:
        return None


def _secret_strings(spec: dict[str, Any], raw: Any) -> set[str]:
    """The string values of every no_log option and sub-option in ``raw``: masked in the refusal."""
    found: set[str] = set()
    if not isinstance(raw, dict):
        return found
    names = {}
    for name, entry in spec.items():
        for key in [name] + list(entry.get("aliases") or ()):
            names[key] = entry
    for key, value in raw.items():
        entry = names.get(key)
        if entry is None or (not entry.get("no_log") and not entry.get("options")):
            if entry is None and isinstance(value, str) and value:
                found.add(value)  # an unknown option may be a misspelt secret
            continue
        if entry.get("no_log"):
            found |= _strings(value)
        elif isinstance(value, dict):
            found |= _secret_strings(entry["options"], value)
        elif isinstance(value, list):
            for item in value:
                if isinstance(item, dict):
                    found |= _secret_strings(entry["options"], item)
                elif any(sub.get("no_log") for sub in entry["options"].values()):
                    found |= _strings(item)  # a mapping with a secret given as a list: every string may be it
        elif any(sub.get("no_log") for sub in entry["options"].values()):
            found |= _strings(value)  # a mapping with a secret given as a plain string
    return found


def _strings(value: Any) -> set[str]:
    """Every non-empty string in a value, however nested."""
    found: set[str] = set()
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str) and item:
            found.add(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
    return found


def _refuse(spec: dict[str, Any], problems: list[str]) -> None:
    """fail_json with every problem, from a module whose spec accepts any input; secrets masked."""
    try:
        raw = _load_params()
    except Exception:  # pragma: no cover
        raw = {}
    loose = {name: {"type": "raw"} for name in spec}
    for name, entry in spec.items():
        for alias in entry.get("aliases") or ():
            loose[name].setdefault("aliases", []).append(alias)
    for key in raw:
        if key not in loose and not str(key).startswith("_ansible_") and not any(
                key in (e.get("aliases") or ()) for e in spec.values()):
            loose[key] = {"type": "raw"}  # unknown options are among the problems
    module = _Refusal(argument_spec=loose, supports_check_mode=True)
    module.no_log_values.update(_secret_strings(spec, raw))
    module.fail_json(msg="invalid task: %s" % "; ".join(problems), errors=problems)


CONSTRAINTS = ("mutually_exclusive", "required_one_of", "required_together")


def check_input(spec: dict[str, Any], validate: Optional[Callable[[dict[str, Any]], list[str]]] = None,
                control: bool = True, label: Optional[Callable[[list[str], dict[str, Any]], list[str]]] = None,
                constraints: Optional[dict[str, Any]] = None, own_words: tuple[str, ...] = ()) -> list[str]:
    """All problems of the module input: each option's type (as AnsibleModule would convert it) and the
    module's own rules (``validate`` gets the converted parameters, with None for an option whose type was
    wrong). Never raises: a bug in a check becomes a problem named as such, not a traceback."""
    try:
        raw = _load_params()
    except Exception:  # not run by Ansible (no arguments): AnsibleModule reports that itself
        return []
    try:
        converted, problems = _schema.check_input(spec, raw, control=control, constraints=constraints, own_words=own_words)
    except Exception as err:  # pragma: no cover - a defect of a check; never a traceback for the user
        return ["(task): the input could not be checked (%s)" % type(err).__name__]
    if validate is not None:
        typed = {p.split(":", 1)[0] for p in problems}
        try:
            found = validate(converted)
        except Exception:  # the module's own rules could not run on what is left: the type problems stand
            found = [] if problems else ["(task): the input could not be checked"]
        for problem in found:
            # one message per field: a wrong type already said what the field must be
            path = problem.split(":", 1)[0]
            if problem not in problems and not any(
                    t == path or t.startswith((path + ".", path + "[")) or path.startswith((t + ".", t + "["))
                    for t in typed):
                problems.append(problem)
    if label is not None and problems:
        problems = label(problems, raw)  # e.g. the connector each item problem is about
    return problems


def checked_module(argument_spec: dict[str, Any], validate: Optional[Callable[[dict[str, Any]], list[str]]] = None,
                   **kwargs: Any) -> AnsibleModule:
    """An AnsibleModule for a module without an Exchange connection, after its whole input was checked
    (types and ``validate``'s rules in one message, never a traceback)."""
    if _schema.HAS_JSONSCHEMA:
        problems = check_input(argument_spec, validate, control=False,  # its checks word NUL/CR/LF themselves
                               constraints={k: kwargs[k] for k in CONSTRAINTS if k in kwargs})
        if problems:
            _refuse(argument_spec, problems)
    return AnsibleModule(argument_spec=argument_spec, **kwargs)
