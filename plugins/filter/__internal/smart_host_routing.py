# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the role ``mailflow.exchange.smart_host_routing``.

The rules live in the modules: input is checked with send_connectors' own argument spec and JSON Schema
(``module_utils/_connectors/items.py``) and smart_host's own checks; what a connector will look like comes from
send_connectors itself (a check-mode run). What is left here is glue and formatting: the role's input as
send_connectors items, the probe targets and test messages from the planned connectors, the per-connector
report and its lines. No filter returns a secret, except ``smart_host_routing_plan`` whose items are only
ever used as task arguments.
"""

from __future__ import annotations

import json

import re
import typing as t

from ansible.errors import AnsibleFilterError

SECRET_KEYS = ("password",)
ROLE_VAR = "smart_host_routing_connectors"
SMART_HOSTS_VAR = "smart_host_routing_smart_hosts"


# --- helpers ---------------------------------------------------------------------------------
def _is_list(value: t.Any) -> bool:
    return isinstance(value, (list, tuple))


def _collection_utils() -> t.Any:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import items as _connectors
    except ImportError as exc:  # an incomplete collection: say so instead of validating nothing
        raise AnsibleFilterError(
            "smart_host_routing: the collection's validation (plugins/module_utils/_connectors/items.py and its JSON Schema) "
            "cannot be loaded: %s" % exc
        ) from None
    return _connectors


def short_name(name: t.Any) -> str:
    """A connector name as a message shows it (long names cut; module_utils._connectors.values owns the rule)."""
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.values import short_name as shorten

    return shorten(name)


def _redact(value: t.Any) -> t.Any:
    """A copy of ``value`` with every password-like key replaced (for reports and stats)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            if any(secret in str(key).lower() for secret in SECRET_KEYS):
                out[key] = "********" if item else item
            else:
                out[key] = _redact(item)
        return out
    if _is_list(value):
        return [_redact(item) for item in value]
    return value


def yaml_value(value: t.Any) -> str:
    """A value as YAML (flow style) writes it: ``null``, ``true``, ``[a, b]``, ``{username: relay}``."""
    import yaml

    # plain types first: ansible-core before 2.19 hands registered strings over as AnsibleUnsafeText, a str subclass
    # yaml.safe_dump refuses ("cannot represent an object"; make test-matrix under 2.17 and 2.18)
    plain = json.loads(json.dumps(_redact(value), default=str))
    text = yaml.safe_dump(plain, default_flow_style=True, width=100000, sort_keys=False).strip()
    if text.endswith("\n..."):
        text = text[: -len("\n...")]
    return text.strip()


def _results(registered: t.Any) -> list[dict[str, t.Any]]:
    """``results`` of a registered send_connectors/loop result (an empty list for a skipped or missing task)."""
    if isinstance(registered, dict) and _is_list(registered.get("results")):
        return [r if isinstance(r, dict) else {} for r in registered["results"]]
    return []


def _auth_mechanism(item: dict[str, t.Any]) -> str:
    return str(item.get("smart_host_auth_mechanism") or "").lower()


# --- the role's input as send_connectors items --------------------------------------------------
def _smart_host_utils() -> t.Any:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import smart_host as _smart_host
    except ImportError as exc:  # an incomplete collection: say so instead of guessing
        raise AnsibleFilterError("smart_host_routing: the collection's module_utils cannot be loaded: %s" % exc) from None
    return _smart_host


def plan(connectors: t.Any, credential: t.Any = None, smart_hosts: t.Any = None) -> dict[str, t.Any]:
    """``connectors`` and ``smart_hosts`` as applied, and ``batch``: both as one send_connectors list (connectors first).

    A BasicAuth connector or smart host item without a credential of its own gets ``credential`` (the role's
    smart host credential); smart host items are translated to send_connectors items by the same code as the
    smart_host module, and an item with the deprecated ``auth_mechanism`` gets the module's deprecation notice.
    """
    _smart_host = _smart_host_utils()
    prepared = [_smart_host.with_credential(c, credential) for c in (connectors if _is_list(connectors) else [])]
    host_items = [_smart_host.with_credential(i, credential) for i in (smart_hosts if _is_list(smart_hosts) else [])]
    for index, item in enumerate(host_items):
        for notice in _smart_host.deprecations(item, "%s[%d]" % (SMART_HOSTS_VAR, index)):
            _deprecate(notice)
    items = [c for c in prepared if isinstance(c, dict)] + [_smart_host.translate(i) for i in host_items if isinstance(i, dict)]
    return {"connectors": prepared, "smart_hosts": host_items, "batch": items}


def _deprecate(notice: dict[str, str]) -> None:
    """One deprecation notice, shown once per run however often the role's variables are templated."""
    from ansible.utils.display import Display

    Display().deprecated(notice["msg"], version=notice["version"], collection_name=notice["collection_name"])


# --- validate ----------------------------------------------------------------------------------
# The validate task renders its message twice (assert's ``that`` and ``fail_msg`` are both templated, pass or fail), and
# each render calls input_errors: its last answer is kept for the same input (about 2 ms per connector otherwise).
_LAST_INPUT_ERRORS: list[t.Any] = [None, []]


def input_errors(connectors: t.Any, smart_hosts: t.Any = None) -> list[str]:
    """Every problem of the role's input, each as ``<variable path>: <rule> (connector 'name')``; empty when valid.

    The connectors (as :func:`prepare_connectors` returns them) are checked by send_connectors' own check
    of its items; the smart host items by smart_host's argument spec and checks. Besides, names must be
    unique. A BasicAuth connector without a credential of its own gets the role's smart host credential
    before this check (:func:`prepare_connectors`).
    """
    key = repr((connectors, smart_hosts))  # types kept (1 and '1' differ); an object without a value repr never matches
    if _LAST_INPUT_ERRORS[0] == key:
        return list(_LAST_INPUT_ERRORS[1])
    errors = _input_errors(connectors, smart_hosts)
    _LAST_INPUT_ERRORS[:] = [key, list(errors)]
    return errors


def _input_errors(connectors: t.Any, smart_hosts: t.Any) -> list[str]:
    _connectors = _collection_utils()
    _smart_host = _smart_host_utils()
    if not _is_list(connectors):
        return _connectors.validate_items(connectors, prefix=ROLE_VAR)[1]
    # validate_items also refuses two items naming one connector, compared as Exchange compares names (_identity)
    errors = _connectors.validate_items(connectors, prefix=ROLE_VAR)[1]
    errors = [_shorten_label(_credential_source(e, connectors)) for e in errors]
    if smart_hosts is not None and not _is_list(smart_hosts):
        errors.append("%s: must be a list, not %s" % (SMART_HOSTS_VAR, _connectors._schema.type_name(smart_hosts)))
    for index, item in enumerate(smart_hosts if _is_list(smart_hosts) else []):
        path = "%s[%d]" % (SMART_HOSTS_VAR, index)
        params, found = _connectors.check_spec(item, _smart_host.argument_spec(), path)
        if not found:
            found = ["%s.%s" % (path, e) for e in _smart_host.validate(params)]
        label = " (connector %r)" % item.get("connector") if isinstance(item, dict) and item.get("connector") else ""
        errors.extend(_shorten_label(e + label) for e in found)
    return errors


def _shorten_label(error: str) -> str:
    """An error's trailing `` (connector 'name')`` with a long name shortened (the path already locates it)."""
    match = re.search(r" \(connector '(.*)'\)$", error)
    if not match or len(match.group(1)) <= 80:
        return error
    return error[: match.start()] + " (connector '%s')" % short_name(match.group(1))


CREDENTIAL_SOURCE = (
    "%s: smart_host_auth_mechanism %s needs the smart host's user name and password, and none was given: set the "
    "environment variables SMART_HOST_USERNAME and SMART_HOST_PASSWORD (in AWX: attach a credential of the type "
    "'Exchange smart host (mailflow.exchange)'), or smart_host_routing_smart_host_credential, or give this connector "
    "its own authentication_credential%s"
)


def _credential_source(error: str, connectors: list[t.Any]) -> str:
    """A missing credential of a BasicAuth connector, worded for where the role takes it from: the environment
    (SMART_HOST_USERNAME/SMART_HOST_PASSWORD, which the main playbook and the AWX credential type use)."""
    match = re.match(r"^(%s\[(\d+)\])\.authentication_credential: smart_host_auth_mechanism " % re.escape(ROLE_VAR), error)
    if not match:
        return error
    item = connectors[int(match.group(2))] if int(match.group(2)) < len(connectors) else None
    if not isinstance(item, dict) or item.get("authentication_credential") or str(_auth_mechanism(item)) not in _smart_host_utils().BASIC_AUTH:
        return error
    name = " (connector %r)" % short_name(item.get("name")) if item.get("name") else ""
    return CREDENTIAL_SOURCE % (match.group(1), item.get("smart_host_auth_mechanism"), name)


# --- preflight ---------------------------------------------------------------------------------
def probe_targets(
    planned: t.Any,
    items: t.Any,
    connect_addresses: t.Any = None,
    helo_name: t.Any = None,
    login: bool = True,
) -> list[dict[str, t.Any]]:
    """smtp_probe ``targets`` from a check-mode send_connectors result (``_probe/targets.py`` decides)."""
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils._probe import targets as _targets
    except ImportError as exc:  # an incomplete collection: say so instead of guessing
        raise AnsibleFilterError("smart_host_routing: the collection's module_utils cannot be loaded: %s" % exc) from None
    return _targets.probe_targets(_results(planned), items if _is_list(items) else [], connect_addresses, helo_name, login)


def _probe_label_names(entry: t.Any) -> list[str]:
    return [n.lower() for n in str((entry or {}).get("label") or "").split(", ") if n]


def blocking_findings(probe_result: t.Any, fail_on: t.Any = None) -> list[dict[str, t.Any]]:
    """The probe findings whose severity is in ``fail_on`` (each with its ``label``, the connectors), and a probe
    that could not run as an ``error`` of its own. Takes one smtp_probe result (or a registered loop of them)."""
    severities = {str(s).lower() for s in (fail_on if _is_list(fail_on) else ["error"])}
    runs = _results(probe_result) if isinstance(probe_result, dict) and "results" in probe_result else [probe_result]
    found: list[dict[str, t.Any]] = []
    for result in runs:
        if not isinstance(result, dict):
            continue
        item = result.get("item") if isinstance(result.get("item"), dict) else {}
        for finding in result.get("findings") or []:
            if isinstance(finding, dict) and str(finding.get("severity", "")).lower() in severities:
                entry = {"label": finding.get("label") or item.get("connector"), "host": finding.get("host") or item.get("host")}
                entry.update({k: finding.get(k) for k in ("severity", "code", "message", "hint")})
                found.append(entry)
        if not result.get("skipped") and result.get("msg") and not result.get("findings") and not result.get("probes"):
            found.append({"label": item.get("connector"), "host": item.get("host"), "severity": "error", "code": "probe_failed",
                          "message": "the probe could not run: %s" % result["msg"], "hint": None})
    return found


def preflight_problems(probe_result: t.Any, fail_on: t.Any = None) -> list[str]:
    """The probe findings whose severity is in ``fail_on``, as lines a person reads, each with its hint."""
    lines: list[str] = []
    for finding in blocking_findings(probe_result, fail_on):
        if finding["code"] == "probe_failed":
            lines.append("[ERROR] %s" % finding["message"])
            continue
        labels = ", ".join(short_name(n) for n in str(finding.get("label") or "").split(", "))
        lines.append("[%s] %s -> %s: %s (%s)" % (str(finding.get("severity", "")).upper(), labels, finding.get("host"),
                                                 finding.get("message"), finding.get("code")))
        if finding.get("hint"):
            lines.append("    hint: %s" % finding["hint"])
    return lines


# --- verify ------------------------------------------------------------------------------------
def _role_settings_utils() -> t.Any:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils import _role_settings
    except ImportError as exc:  # an incomplete collection: say so instead of guessing
        raise AnsibleFilterError("smart_host_routing: the collection's module_utils cannot be loaded: %s" % exc) from None
    return _role_settings


def test_connectors(applied: t.Any, recipient: t.Any = "", recipients: t.Any = None) -> list[dict[str, t.Any]]:
    """The connectors to send a test message through (present, routing through smart hosts), with their recipient:
    the one ``recipients`` maps the connector to, else ``recipient``, else ``postmaster@`` the connector's first
    single-domain SMTP address space (``recipient_from`` names that domain, so the report can say so; an empty
    recipient when there is none). ``applied`` is the apply stage's registered result, or in the validate stage
    (before any change) the plan's batch of send_connectors items."""
    per = {str(k).lower(): val for k, val in (recipients or {}).items()} if isinstance(recipients, dict) else {}
    if _is_list(applied):
        entries = [{"name": item.get("name"), "state": item.get("state") or "present", "connector": dict(item, dns_routing_enabled=False)}
                   for item in applied if isinstance(item, dict) and item.get("smart_hosts")]
    else:
        entries = _results(applied)
    out: list[dict[str, t.Any]] = []
    seen: set[str] = set()
    for result in entries:
        connector = result.get("connector") or {}
        name = str(result.get("name") or "")
        if result.get("state") != "present" or connector.get("dns_routing_enabled") is not False or not connector.get("smart_hosts"):
            continue
        if name.lower() in seen:
            continue
        seen.add(name.lower())
        entry = {"name": name, "recipient": per.get(name.lower()) or recipient or "",
                 "servers": [str(x) for x in connector.get("source_transport_servers") or []]}
        if not entry["recipient"]:
            entry["recipient"], entry["recipient_from"] = _role_settings_utils().postmaster_recipient(connector.get("address_spaces"))
        out.append(entry)
    return out


def trace_messages(tested: t.Any, message_id: t.Any = None, servers: t.Any = None) -> list[dict[str, t.Any]]:
    """message_trace ``messages``: the one test message, once per connector, counted for its recipient, searched
    on ``servers`` or else the connector's source servers (as applied, so message_trace need not read them).
    Without ``message_id`` the items have none: message_trace's send_test_message sends the message they follow."""
    out = []
    for entry in tested if _is_list(tested) else []:
        message = {"connector": entry["name"], "recipients": [entry["recipient"]]}
        if message_id:
            message = dict({"message_id": str(message_id)}, **message)
        if _is_list(servers) and servers:
            message["servers"] = [str(s) for s in servers]
        elif entry.get("servers"):
            message["servers"] = list(entry["servers"])
        out.append(message)
    return out


def protocol_logging(registered: t.Any, tested: t.Any = None, level: str = "Verbose", only_changed: bool = False) -> list[dict[str, t.Any]]:
    """send_connectors items that set ``protocol_logging_level`` on the tested connectors that do not have it yet
    (from the read-back), or with ``only_changed`` back on those a registered run changed."""
    names = {str(e.get("name") or "").lower() for e in tested if isinstance(e, dict)} if _is_list(tested) else None
    out: list[dict[str, t.Any]] = []
    for result in _results(registered):
        name = str(result.get("name") or "")
        if not name or any(o["name"].lower() == name.lower() for o in out):
            continue
        if only_changed:
            if result.get("changed"):
                out.append({"name": name, "protocol_logging_level": level})
            continue
        read_back = result.get("read_back") if isinstance(result.get("read_back"), dict) else {}
        connector = read_back.get("connector") or result.get("connector") or {}
        if names is not None and name.lower() in names and str(connector.get("protocol_logging_level") or "") != level:
            out.append({"name": name, "protocol_logging_level": level})
    return out


# --- the accumulator: per-connector facts, keyed by connector name ----------------------------------
# Each stage of the role adds what it learnt about each connector to one accumulator (a mapping of connector
# name -> facts), with ``facts(accumulator, stage, registered result)``. The facts are the modules' own
# answers (send_connectors' results and diff, smtp_probe's findings, message_trace's verdicts), matched to the
# connectors by name; nothing is judged here. A new stage is one task file, one entry in STAGES and one
# section in SECTIONS.
def _key(name: t.Any) -> str:
    return str(name or "").strip().lower()


def _entry(acc: dict[str, t.Any], name: t.Any) -> t.Optional[dict[str, t.Any]]:
    """The accumulator's entry for the connector ``name`` (names compare as Exchange compares them: no case)."""
    wanted = _key(name)
    for key, entry in acc.items():
        if _key(key) == wanted:
            return entry
    return None


def _index(acc: dict[str, t.Any]) -> dict[str, dict[str, t.Any]]:
    return {_key(key): entry for key, entry in acc.items()}


def changes(result: t.Any) -> list[str]:
    """``key: before -> after`` for each setting the module's diff shows changed, values as YAML writes them.

    The diff is send_connectors' own: a credential appears in it only when the command sends one, so an
    unchanged connector has no line here (the summary, the report, set_stats and --diff agree).
    """
    if not isinstance(result, dict) or not result.get("changed"):
        return []
    diff = result.get("diff") if isinstance(result.get("diff"), dict) else {}
    before = diff.get("before") if isinstance(diff.get("before"), dict) else {}
    after = diff.get("after") if isinstance(diff.get("after"), dict) else {}
    if not before or not after:  # created or removed: the command says it all
        return []
    return ["%s: %s -> %s" % (key, yaml_value(before.get(key)), yaml_value(after.get(key)))
            for key in sorted(set(before) | set(after)) if before.get(key) != after.get(key)]


def _plan_facts(acc: dict[str, t.Any], planned: t.Any, check_mode: bool = False, **_context: t.Any) -> None:
    """The connectors and smart host items as the role applies them (``smart_host_routing_plan``'s result)."""
    planned = planned if isinstance(planned, dict) else {}
    rows = [(c.get("name"), str(c.get("state") or "present"), None) for c in planned.get("connectors") or [] if isinstance(c, dict)]
    rows += [(i.get("connector"), "present", i) for i in planned.get("smart_hosts") or [] if isinstance(i, dict)]
    for name, state, host_item in rows:
        entry = _entry(acc, name)
        if entry is None:
            entry = acc[str(name)] = {"name": str(name), "state": state, "check_mode": bool(check_mode), "changed": False,
                                      "commands": [], "changes": [], "_items": []}
        entry["_items"].append("connector" if host_item is None else "smart_host")
        if host_item is not None:
            entry.setdefault("smart_host_changes", []).append({
                "hosts": list(host_item.get("hosts") or []), "state": str(host_item.get("state") or "present"),
                "exclusive": bool(host_item.get("exclusive")), "changed": False, "smart_hosts_after": None,
            })


def _apply_facts(acc: dict[str, t.Any], registered: t.Any, **_context: t.Any) -> None:
    """send_connectors' result per connector: changed, commands, the changes its diff shows, the connector after."""
    seen: dict[str, int] = {}  # name -> how many results of this connector so far (a connector and its smart host items)
    for result in _results(registered):
        entry = _entry(acc, result.get("name"))
        if entry is None:
            continue
        position = seen[_key(entry["name"])] = seen.get(_key(entry["name"]), -1) + 1
        entry["changed"] = bool(entry["changed"] or result.get("changed"))
        entry["commands"] = list(entry["commands"]) + list(result.get("commands") or [])
        entry["changes"] = list(entry["changes"]) + changes(result)
        if result.get("connector"):
            entry["connector"] = _redact(result["connector"])
        kinds = entry.get("_items") or []
        if position < len(kinds) and kinds[position] == "smart_host":
            change = entry["smart_host_changes"][kinds[:position].count("smart_host")]
            change["changed"] = bool(result.get("changed"))
            change["smart_hosts_after"] = (result.get("connector") or {}).get("smart_hosts")


def _probe_facts(acc: dict[str, t.Any], registered: t.Any, **_context: t.Any) -> None:
    """smtp_probe's probes and findings, per connector named in the target's label."""
    result = registered if isinstance(registered, dict) else {}
    findings = [f for f in result.get("findings") or [] if isinstance(f, dict)]
    index = _index(acc)
    for probe in result.get("probes") or []:
        if not isinstance(probe, dict):
            continue
        mine = [f for f in findings if f.get("label") == probe.get("label")
                and str(f.get("host") or "").lower() == str(probe.get("host") or "").lower()]
        for name in _probe_label_names(probe):
            if name in index:
                index[name].setdefault("probes", []).append(_probe_summary(probe, mine))


def _read_back_facts(acc: dict[str, t.Any], registered: t.Any, **_context: t.Any) -> None:
    """apply's read-back (send_connectors with read_back): a connector it wrote carries ``read_back`` with the
    differences Exchange showed when read again; one it did not write was read as wanted by apply's own read."""
    if isinstance(registered, dict) and registered.get("skipped"):
        return
    for result in _results(registered):
        entry = _entry(acc, result.get("name"))
        if entry is None:
            continue
        read_back = result.get("read_back")
        if isinstance(read_back, dict):
            differences = [str(d) for d in read_back.get("differences") or []]
        elif result.get("written"):
            continue  # written but not read back: nothing to say
        else:
            differences = []
        entry["read_back"] = "differs" if differences or entry.get("read_back") == "differs" else "matches"
        if differences:
            entry.setdefault("read_back_differences", []).extend(differences)


def _test_facts(acc: dict[str, t.Any], registered: t.Any, tested: t.Any = None, **_context: t.Any) -> None:
    """The test message's Message-ID for each connector it was addressed for (None: Exchange did not accept it)."""
    if not isinstance(registered, dict) or not registered or registered.get("skipped"):
        return
    for wanted in tested if _is_list(tested) else []:
        entry = _entry(acc, (wanted or {}).get("name"))
        if entry is not None:
            entry["test_message_id"] = registered.get("message_id")
            if wanted.get("recipient_from"):
                entry["test_recipient"] = wanted.get("recipient")
                entry["test_recipient_from"] = wanted["recipient_from"]


TRACE_KEYS = ("verdict", "taken_by", "last_error", "problem", "hint")
TRACE_EVENT_KEYS = ("timestamp", "event_id", "source", "connector_id", "server_hostname", "server_ip", "recipient_status")


def _trace_facts(acc: dict[str, t.Any], registered: t.Any, **_context: t.Any) -> None:
    """message_trace's trace per connector, with its own verdict, problem and hint."""
    if not isinstance(registered, dict) or registered.get("skipped"):
        return
    for trace in registered.get("traces") or []:
        entry = _entry(acc, (trace or {}).get("connector"))
        if entry is None:
            continue
        shown = {"result": trace.get("result"), "events": [
            {k: e.get(k) for k in TRACE_EVENT_KEYS}
            for e in trace.get("events") or [] if isinstance(e, dict)]}
        shown.update({key: trace[key] for key in TRACE_KEYS if trace.get(key)})
        entry["trace"] = shown


def _session_facts(acc: dict[str, t.Any], sessions: t.Any, **_context: t.Any) -> None:
    """The SmtpSend protocol log dialogue of each connector's test message (connector name -> lines)."""
    for name, lines in (sessions.items() if isinstance(sessions, dict) else []):
        entry = _entry(acc, name)
        if entry is not None and lines:
            entry["smtp_session"] = list(lines)


STAGES: dict[str, t.Callable[..., None]] = {
    "plan": _plan_facts,
    "preflight": _probe_facts,
    "apply": _apply_facts,
    "read_back": _read_back_facts,
    "test_message": _test_facts,
    "trace": _trace_facts,
    "protocol_log": _session_facts,
}


# What each stage reads of its registered result (None: all of it), so that only that is copied: a registered result
# reaches a filter as Ansible's lazy containers, where every value read is templated, and a stage that copied all of
# send_connectors' results (each with its connector, diff and snapshot) to read three keys spent most of its time there.
# A key of a mapping maps to what is read of its value; [spec] is a list whose mapping items are read as spec.
READS: dict[str, t.Any] = {
    "plan": None,
    "preflight": None,
    "apply": {"results": [dict.fromkeys(("name", "changed", "commands", "diff", "connector"))]},
    "read_back": {"skipped": None, "results": [dict.fromkeys(("name", "read_back", "written"))]},
    # message_trace's result (send_test_message): its Message-ID, not its traces; 'changed' is in every result of a task
    # that ran (failed or not), so a refused message (no message_id) still counts as sent and not accepted
    "test_message": dict.fromkeys(("skipped", "failed", "changed", "message_id")),
    "trace": {"skipped": None,
              "traces": [dict(dict.fromkeys(("connector", "result") + TRACE_KEYS), events=[dict.fromkeys(TRACE_EVENT_KEYS)])]},
    "protocol_log": None,
}


def _read(value: t.Any, spec: t.Any) -> t.Any:
    """A plain copy of what ``spec`` (see READS) names of ``value``; anything of another shape is copied as it is."""
    if spec is None:
        return _plain(value)
    if isinstance(spec, list) and isinstance(value, (list, tuple)):
        return [_read(item, spec[0]) for item in value]
    if isinstance(spec, dict) and isinstance(value, dict):
        return {key: _read(value[key], spec[key]) for key in spec if key in value}
    return _plain(value)


def facts(accumulator: t.Any, stage: t.Any, registered: t.Any = None, **context: t.Any) -> dict[str, t.Any]:
    """The accumulator with what ``stage`` learnt per connector added (a new mapping; the input is not changed).

    ``stage`` may be a list of stages with ``registered`` the list of their results, added in that order: the same as
    chaining the filter once per stage, with the accumulator copied once instead of once per stage.
    """
    stages, results = ([stage], [registered]) if not _is_list(stage) else (list(stage), list(registered or []))
    unknown = [name for name in stages if name not in STAGES]
    if unknown or len(stages) != len(results):
        raise AnsibleFilterError("smart_host_routing_facts: unknown stage %r (one of %s)" % (unknown[0], ", ".join(STAGES)) if unknown
                                 else "smart_host_routing_facts: %d stages but %d results" % (len(stages), len(results)))
    acc = _plain(accumulator) if isinstance(accumulator, dict) else {}
    for name, result in zip(stages, results):
        STAGES[name](acc, _read(result, READS[name]), **context)
    return acc


def _plain(value: t.Any) -> t.Any:
    """A plain copy of ``value`` (dicts and lists), each value read once: Ansible hands filters lazy containers
    whose every read may template, and the stages look entries up many times (with deepcopy and repeated reads,
    200 connectors took minutes instead of milliseconds)."""
    if isinstance(value, dict):
        return {key: _plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    return value


def summary(accumulator: t.Any) -> list[dict[str, t.Any]]:
    """One summary per connector, in the order of the role's input, from the accumulator; no secret in it."""
    entries = _plain(accumulator).values() if isinstance(accumulator, dict) else []
    return [{k: val for k, val in entry.items() if not str(k).startswith("_")} for entry in entries if isinstance(entry, dict)]


def verification_failures(summaries: t.Any, connectors: t.Any = None) -> list[str]:
    """What the verification found wrong, one line per problem with its hint; empty when all is well.

    The judgements are the modules': send_connectors in check mode still wanting a change (a read-back
    difference), no Message-ID for the test message (message_trace's send_test_message: Exchange did not accept it), and
    message_trace's verdict.
    """
    del connectors  # accepted for compatibility: the summaries carry all that is needed
    failures = []
    for s in summaries if _is_list(summaries) else []:
        if not isinstance(s, dict):
            continue
        name = short_name(s.get("name"))
        for difference in s.get("read_back_differences") or []:
            failures.append(
                "%s: read back differs: %s (hint: another writer changed it after the write, or Active Directory "
                "replication; run again to see what it holds now)" % (name, difference)
            )
        if "test_message_id" in s and not s.get("test_message_id"):
            failures.append(
                "%s: the test message was not accepted by Exchange's SMTP endpoint "
                "(hint: check smart_host_routing_smtp_server/port and that the sender may relay)" % name
            )
        trace = s.get("trace")
        if isinstance(trace, dict) and trace.get("verdict") == "fail":
            failures.append("%s: %s (hint: %s)" % (name, trace.get("problem"), trace.get("hint")))
    return failures


# --- report: the sections a summary is shown in, as text and as Markdown -----------------------------
def _probe_summary(probe: dict[str, t.Any], findings: list[dict[str, t.Any]]) -> dict[str, t.Any]:
    """The facts of one smtp_probe record a person wants in the report (no transcript, no secret)."""
    def part(key: str) -> dict[str, t.Any]:
        value = probe.get(key)
        return value if isinstance(value, dict) else {}

    cert, tls, auth, banner, ehlo = part("certificate"), part("tls"), part("auth"), part("banner"), part("ehlo")
    login = auth.get("login") if isinstance(auth.get("login"), dict) else {}
    shown = {
        "host": probe.get("host"),
        "port": probe.get("port"),
        "address": probe.get("address"),
        "banner": banner.get("text"),
        "starttls": ehlo.get("starttls"),
        "tls_version": tls.get("version"),
        "certificate_subject": cert.get("subject"),
        "certificate_days_left": cert.get("days_left"),
        "auth_mechanisms": auth.get("mechanisms_after_tls") or auth.get("mechanisms_before_tls"),
        "auth_login": ("ok" if login.get("ok") else "failed") if login.get("attempted") else None,
        "findings": [{k: f.get(k) for k in ("severity", "code", "message", "hint")} for f in findings],
    }
    if probe.get("error"):
        shown["error"] = probe.get("error")
    return shown


def _verb(entry: dict[str, t.Any]) -> str:
    """created / changed / removed (or "would be ..." in check mode), from the commands that ran."""
    if not entry.get("changed"):
        return "no change"
    first = str((entry.get("commands") or [""])[0])
    verb = "created" if first.startswith("New-") else "removed" if first.startswith("Remove-") else "changed"
    return "would be %s" % verb if entry.get("check_mode") else verb


def _session_line(line: t.Any) -> str:
    """A protocol log dialogue line, with the bare connect/disconnect events spelt out."""
    text = str(line)
    if text == "+":
        return "+ connected"
    if text.startswith("- ") or text == "-":
        return "- disconnected%s" % (" (%s)" % text[2:] if text[2:] else "")
    return text


def _status(value: t.Any) -> str:
    if _is_list(value):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)


# Text: one function per section, each returning the lines of one summary (none when it has nothing to say).
def _text_changes(s: dict[str, t.Any]) -> list[str]:
    lines = ["  change  %s" % change for change in s.get("changes") or []]
    for change in s.get("smart_host_changes") or []:
        lines.append("  smart hosts %s%s %s -> %s" % (
            change.get("state"), " (exclusive)" if change.get("exclusive") else "",
            ", ".join(map(str, change.get("hosts") or [])), ", ".join(map(str, change.get("smart_hosts_after") or [])) or "-"))
    return lines + ["  command %s" % command for command in s.get("commands") or []]


# Info findings the printed summary shows as well (the Markdown report lists every finding): the ones that may mean
# the connector will not work. AUTH_OFFERED: the connector does not authenticate and the smart host offers AUTH; a
# smart host that relays only after AUTH refuses the test message (530), which preflight cannot see from here.
TEXT_INFO_CODES = ("AUTH_OFFERED",)


def _text_probes(s: dict[str, t.Any]) -> list[str]:
    lines = []
    for probe in s.get("probes") or []:
        details = ", ".join(
            "%s %s" % (label, ", ".join(map(str, probe[key])) if _is_list(probe.get(key)) else probe.get(key))
            for label, key in (("TLS", "tls_version"), ("cert", "certificate_subject"), ("days left", "certificate_days_left"),
                               ("AUTH", "auth_mechanisms"), ("AUTH LOGIN", "auth_login"))
            if probe.get(key) not in (None, "", [])
        )
        lines.append("  probe   %s:%s %s" % (probe.get("host"), probe.get("port"), details or ""))
        shown = [f for f in probe.get("findings") or [] if str(f.get("severity", "")).lower() != "info"]
        lines.extend("          [%s] %s" % (str(f.get("severity", "")).upper(), f.get("message")) for f in shown)
        if not shown:  # say so, rather than leave the reader to guess from a missing line
            lines.append("          no error or warning for this connector's settings")
        lines.extend("          [INFO] %s. %s" % (f.get("message"), f.get("hint")) for f in probe.get("findings") or []
                     if str(f.get("severity", "")).lower() == "info" and f.get("code") in TEXT_INFO_CODES)
    return lines


def _text_read_back(s: dict[str, t.Any]) -> list[str]:
    if not s.get("read_back"):
        return []
    return ["  read back: %s" % s["read_back"]] + ["          %s" % d for d in s.get("read_back_differences") or []]


def _text_trace(s: dict[str, t.Any]) -> list[str]:
    lines = ["  test message %s" % s["test_message_id"]] if s.get("test_message_id") else []
    if lines and s.get("test_recipient_from"):
        lines[0] += " to %s (no test recipient given: the postmaster of its address space %s)" % (s["test_recipient"], s["test_recipient_from"])
    trace = s.get("trace")
    if not isinstance(trace, dict):
        return lines
    lines.append("  trace: %s%s" % (trace.get("result"), " (Send connector %s took it)" % trace["taken_by"] if trace.get("taken_by") else ""))
    for e in trace.get("events") or []:
        lines.append("          %s %s connector=%s -> %s (%s) %s" % (
            e.get("timestamp"), e.get("event_id"), e.get("connector_id"), e.get("server_hostname"), e.get("server_ip"),
            _status(e.get("recipient_status"))))
    if trace.get("last_error"):
        lines.append("          LastError: %s" % trace["last_error"])
    if trace.get("hint"):
        lines.append("          hint: %s" % trace["hint"])
    return lines


def _text_session(s: dict[str, t.Any]) -> list[str]:
    if not s.get("smtp_session"):
        return []
    return ["  SMTP session (SmtpSend protocol log):"] + ["          %s" % _session_line(line) for line in s["smtp_session"]]


# Markdown: the same sections.
def _md_changes(s: dict[str, t.Any]) -> list[str]:
    out: list[str] = []
    if s.get("changes"):
        out += ["### Changes", ""] + ["- %s" % _md_code(change) for change in s["changes"]] + [""]
    if s.get("smart_host_changes"):
        out += ["### Smart host changes", ""]
        for change in s["smart_host_changes"]:
            out.append("- %s%s %s; smart hosts now: %s" % (
                _md_text(change.get("state")), " (exclusive)" if change.get("exclusive") else "",
                ", ".join(_md_code(h) for h in change.get("hosts") or []) or "-",
                ", ".join(_md_code(h) for h in change.get("smart_hosts_after") or []) or "-"))
        out.append("")
    out += ["### %s" % ("Commands that would run (check mode)" if s.get("check_mode") else "Commands run"), ""]
    if s.get("commands"):
        out += ["Exchange Management Shell; a credential shows as `(Get-Credential)`.", ""]
        out += _md_block(s["commands"], "powershell") + [""]
    else:
        out += ["None: the connector already was as wanted.", ""]
    return out


def _md_probes(s: dict[str, t.Any]) -> list[str]:
    probes = s.get("probes") or []
    if not probes:
        return []
    rows = [[
        _md_code("%s:%s" % (p.get("host"), p.get("port")), table=True), _md_text(p.get("address")),
        _md_text(p.get("tls_version") or ("no STARTTLS" if p.get("starttls") is False else "")),
        _md_text(p.get("certificate_subject")), _md_text(p.get("certificate_days_left")),
        _md_text(", ".join(map(str, p.get("auth_mechanisms") or []))), _md_text(p.get("auth_login")),
    ] for p in probes]
    out = ["### Smart host probes", ""]
    out += _md_table(["Smart host", "Address", "TLS", "Certificate", "Days left", "AUTH", "AUTH LOGIN"], rows) + [""]
    out += ["Findings:", ""]
    for probe in probes:
        findings = [f for f in probe.get("findings") or [] if isinstance(f, dict)]
        label = _md_code("%s:%s" % (probe.get("host"), probe.get("port")))
        if probe.get("error"):
            out.append("- %s: **probe failed**: %s" % (label, _md_text(probe["error"])))
        if not findings and not probe.get("error"):
            out.append("- %s: no finding for this connector's settings" % label)
        for f in findings:
            line = "- %s: **%s** %s" % (label, _md_text(str(f.get("severity") or "").upper()), _md_text(f.get("message")))
            if f.get("code"):
                line += " (%s)" % _md_code(f["code"])
            if f.get("hint"):
                line += " - hint: %s" % _md_text(f["hint"])
            out.append(line)
    return out + [""]


def _md_read_back(s: dict[str, t.Any]) -> list[str]:
    if not s.get("read_back"):
        return []
    out = ["### Read back", "", "The connector as Exchange shows it after the change %s the wanted settings." % (
        "matches" if s["read_back"] == "matches" else "**differs from**"), ""]
    differences = ["- %s" % _md_code(d) for d in s.get("read_back_differences") or []]
    return out + (differences + [""] if differences else [])


def _md_trace(s: dict[str, t.Any]) -> list[str]:
    trace = s.get("trace") if isinstance(s.get("trace"), dict) else None
    if not s.get("test_message_id") and not trace:
        return []
    out = ["### Test message and trace", ""]
    if s.get("test_message_id"):
        out += ["Message-ID %s" % _md_code(s["test_message_id"]), ""]
        if s.get("test_recipient_from"):
            out += ["Addressed to %s: no test recipient was given, so the postmaster of its address space %s." % (
                _md_code(s["test_recipient"]), _md_code(s["test_recipient_from"])), ""]
    if trace:
        taken = " (Send connector %s took it)" % _md_code(trace["taken_by"]) if trace.get("taken_by") else ""
        out += ["Trace result: **%s**%s" % (_md_text(trace.get("result")), taken), ""]
        rows = [[_md_text(e.get("timestamp")), _md_text(e.get("event_id")), _md_text(e.get("connector_id")),
                 _md_text(e.get("server_hostname")), _md_text(e.get("server_ip")), _md_text(_status(e.get("recipient_status")))]
                for e in trace.get("events") or [] if isinstance(e, dict)]
        if rows:
            out += _md_table(["Time (UTC)", "Event", "Connector", "Server", "IP", "Recipient status"], rows) + [""]
        if trace.get("last_error"):
            out += ["Queue LastError: %s" % _md_code(trace["last_error"]), ""]
        if trace.get("hint"):
            out += ["Hint: %s" % _md_text(trace["hint"]), ""]
    return out


def _md_session(s: dict[str, t.Any]) -> list[str]:
    if not s.get("smtp_session"):
        return []
    return ["### SMTP session (SmtpSend protocol log)", ""] + _md_block([_session_line(line) for line in s["smtp_session"]]) + [""]


# (name, text renderer, Markdown renderer), in the order a report shows them: a new stage adds one row.
SECTIONS: list[tuple[str, t.Callable[[dict[str, t.Any]], list[str]], t.Callable[[dict[str, t.Any]], list[str]]]] = [
    ("changes", _text_changes, _md_changes),
    ("probes", _text_probes, _md_probes),
    ("read_back", _text_read_back, _md_read_back),
    ("trace", _text_trace, _md_trace),
    ("protocol_log", _text_session, _md_session),
]


def _summaries(value: t.Any) -> list[dict[str, t.Any]]:
    """Summaries from a summary list or an accumulator."""
    if isinstance(value, dict):
        value = summary(value)
    return [s for s in (value if _is_list(value) else []) if isinstance(s, dict)]


def report_lines(summaries: t.Any) -> list[str]:
    """The summaries as the lines a person reads (per connector a head line, then each section)."""
    lines: list[str] = []
    for s in _summaries(summaries):
        lines.append("Send connector %r (%s): %s" % (s.get("name"), s.get("state"), _verb(s)))
        for _name, text, _markdown in SECTIONS:
            lines.extend(text(s))
    return lines


def report_text(summaries: t.Any) -> str:
    """The report as one text (its lines joined), printed by the role as one message."""
    return "\n".join(report_lines(summaries))


# --- report as a Markdown file ---------------------------------------------------------------------
def _md_text(value: t.Any) -> str:
    """Plain text safe in a Markdown paragraph or table cell (one line, no markup taken as markup)."""
    text = " ".join(str("" if value is None else value).split())
    text = re.sub(r"([\\`*\[\]<>|])", r"\\\1", text)
    return text


def _md_code(value: t.Any, table: bool = False) -> str:
    """Inline code that survives backticks in the value; in a table cell (``table``) pipes are escaped."""
    text = " ".join(str("" if value is None else value).split())
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    padded = " %s " % text if text.startswith("`") or text.endswith("`") or longest else text
    return "%s%s%s" % (fence, padded.replace("|", "\\|") if table else padded, fence)


def _md_block(lines: t.Iterable[t.Any], language: str = "text") -> list[str]:
    """A fenced code block longer than any backtick run inside it."""
    body = [str(line) for line in lines]
    longest = max((len(run) for line in body for run in re.findall(r"`+", line)), default=0)
    fence = "`" * max(3, longest + 1)
    return ["%s%s" % (fence, language)] + body + [fence]


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    out = ["| %s |" % " | ".join(header), "|%s|" % "|".join("---" for _column in header)]
    out.extend("| %s |" % " | ".join(cell if cell != "" else " " for cell in row) for row in rows)
    return out


def report_markdown(summaries: t.Any, host: t.Any = None, generated: t.Any = None, title: t.Any = None) -> str:
    """The summaries as a Markdown document an administrator attaches to a change ticket.

    Same sections as ``report_lines`` (what changed, the commands, each probe with all its findings and hints,
    the read-back, the trace events and the SMTP session), laid out with headings, tables and code blocks.
    Every value from Exchange or a smart host is escaped, so it cannot become markup.
    """
    entries = _summaries(summaries)
    check_mode = any(s.get("check_mode") for s in entries)
    out = ["# %s" % _md_text(title or "Smart host routing report"), ""]
    if host:
        out.append("- **Exchange (inventory host):** %s" % _md_text(host))
    if generated:
        out.append("- **Generated:** %s" % _md_text(generated))
    out.append("- **Mode:** %s" % ("check mode - nothing was changed; the commands below would run" if check_mode else "changes applied"))
    out.append("- **Connectors:** %s" % (_md_text(", ".join("%s (%s)" % (s.get("name"), _verb(s)) for s in entries)) or "none"))
    out.append("")
    for s in entries:
        out += ["## Send connector %s: %s" % (_md_code(s.get("name")), _md_text(_verb(s))), ""]
        out += ["Wanted state: %s." % _md_text(s.get("state")), ""]
        for _name, _text, markdown in SECTIONS:
            out += markdown(s)
    return "\n".join(out).rstrip("\n") + "\n"


class FilterModule:
    """Filters of the smart_host_routing role: internal to the role, not a stable interface. The role calls them by their
    smart_host_routing_* names, which meta/runtime.yml redirects here; under plugins/filter/__internal (a directory
    ansible-doc does not list) they stay out of `ansible-doc -t filter -l`, where only the public filters belong."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "internal_smart_host_routing_input_errors": input_errors,
            "internal_smart_host_routing_plan": plan,
            "internal_smart_host_routing_probe_targets": probe_targets,
            "internal_smart_host_routing_preflight_problems": preflight_problems,
            "internal_smart_host_routing_test_connectors": test_connectors,
            "internal_smart_host_routing_trace_messages": trace_messages,
            "internal_smart_host_routing_protocol_logging": protocol_logging,
            "internal_smart_host_routing_facts": facts,
            "internal_smart_host_routing_summary": summary,
            "internal_smart_host_routing_verification_failures": verification_failures,
            "internal_smart_host_routing_report_text": report_text,
            "internal_smart_host_routing_report_markdown": report_markdown,
        }
