# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters used by the role ``mailflow.exchange.smart_host_routing``.

They keep the role's YAML readable: preparing the wanted connectors, listing what to probe,
picking the test message's protocol log session, and building the per-connector report. The
input validation itself is the collection's JSON Schema (``module_utils``); the filter
``smart_host_routing_input_errors`` only applies it to the role's whole input and words the
errors with the role variable's path. No filter returns a secret.
"""

from __future__ import annotations

import re
import typing as t

from ansible.errors import AnsibleFilterError

BASIC_AUTH = ("basicauth", "basicauthrequiretls")
SECRET_KEYS = ("password",)
ROLE_VAR = "smart_host_routing_connectors"
SMART_HOSTS_VAR = "smart_host_routing_smart_hosts"


# --- helpers ---------------------------------------------------------------------------------
def _is_list(value: t.Any) -> bool:
    return isinstance(value, (list, tuple))


def _auth_mechanism(connector: dict[str, t.Any]) -> str:
    return str(connector.get("smart_host_auth_mechanism") or "").lower()


def _wanted_hosts(value: t.Any) -> list[str]:
    """The smart hosts a connector will have after the change that the role should probe.

    A plain list (or one string) is the whole list; ``{add: [...], remove: [...]}`` adds the
    ``add`` ones (the others are already in use). ``[192.168.3.2]`` is probed as 192.168.3.2.
    """
    if value is None:
        return []
    if isinstance(value, dict):
        value = value.get("add") or []
    if isinstance(value, str):
        value = [value]
    hosts = []
    for item in value:
        host = str(item).strip()
        if host.startswith("[") and host.endswith("]"):
            host = host[1:-1]
        if host and host.lower() not in (h.lower() for h in hosts):
            hosts.append(host)
    return hosts


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


def _results(registered: t.Any) -> list[dict[str, t.Any]]:
    """The per-item results of a registered loop (an empty list for a skipped or missing task)."""
    if isinstance(registered, dict) and _is_list(registered.get("results")):
        return [r for r in registered["results"] if isinstance(r, dict)]
    return []


def _by_connector(registered: t.Any, key: str = "item") -> dict[str, list[dict[str, t.Any]]]:
    grouped: dict[str, list[dict[str, t.Any]]] = {}
    for result in _results(registered):
        item = result.get(key)
        name = item.get("connector") if isinstance(item, dict) else item
        if name is None:
            continue
        grouped.setdefault(str(name).lower(), []).append(result)  # connector names are case-insensitive
    return grouped


# --- validate ----------------------------------------------------------------------------------
# Keys a connector item takes besides the Send connector settings of the option table.
CONNECTOR_KEYS = {"name": "str", "state": ("present", "absent"), "update_password": ("always", "on_create")}
SMART_HOST_KEYS = {
    "connector": "str",
    "hosts": "list",
    "state": ("present", "absent"),
    "exclusive": "bool",
    "fallback_to_dns": "bool",
    "smart_host_auth_mechanism": "enum",
    "auth_mechanism": "enum",  # deprecated old name of smart_host_auth_mechanism (the module warns)
    "authentication_credential": "credential",
    "update_password": ("always", "on_create"),
}


def _collection_utils() -> tuple[t.Any, t.Any]:
    try:
        from ansible_collections.mailflow.exchange.plugins.module_utils import _options, _schema
    except ImportError as exc:  # an incomplete collection: say so instead of validating nothing
        raise AnsibleFilterError(
            "smart_host_routing: the collection's JSON Schema (plugins/module_utils/_schema.py) cannot be loaded: %s" % exc
        ) from None
    return _options, _schema


def _suggest(key: str, known: t.Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(key, list(known), n=1)
    return " (did you mean %s?)" % close[0] if close else ""


def _keyword_errors(item: dict[str, t.Any], spec: dict[str, t.Any], extra_known: t.Iterable[str] = ()) -> list[tuple[str, str]]:
    """Unknown keys and the role-level keys the connector schema does not cover."""
    known = set(spec) | set(extra_known)
    errors = []
    for key in item:
        if key not in known:
            errors.append((str(key), "is not an option%s" % _suggest(str(key), known)))
    for key, rule in spec.items():
        if key not in item or item[key] is None:
            continue
        value = item[key]
        if isinstance(rule, tuple) and str(value) not in rule:
            errors.append((key, "must be one of %s, got %r" % (", ".join(rule), value)))
        elif rule == "str" and (not isinstance(value, str) or not value.strip()):
            errors.append((key, "must be a non-empty string"))
        elif rule == "bool" and not isinstance(value, bool):
            errors.append((key, "must be true or false"))
    return errors


def _safe_message(path: str, message: str) -> str:
    """Never echo a value given for a secret (a wrongly typed password would be shown otherwise)."""
    if any(secret in path.lower() for secret in SECRET_KEYS):
        return "must be a string (the value is not shown)"
    return message


def _split(error: str) -> tuple[str, str]:
    path, _sep, message = error.partition(": ")
    return ("" if path == "(task)" else path), message


def _connector_errors(connector: dict[str, t.Any]) -> list[tuple[str, str]]:
    options, schema = _collection_utils()
    errors = _keyword_errors(connector, CONNECTOR_KEYS, options.BY_NAME)
    if not connector.get("name"):
        errors.append(("name", "is required: the Send connector's name"))
    settings = {k: val for k, val in connector.items() if k in options.BY_NAME}
    if str(connector.get("state") or "present") != "absent":  # a removed connector's settings do not matter
        errors.extend(_split(e) for e in schema.validate(settings, "task"))
    return errors


def _smart_host_auth_mechanism(item: dict[str, t.Any]) -> t.Any:
    """A smart host item's smart_host_auth_mechanism, or its deprecated old name auth_mechanism."""
    value = item.get("smart_host_auth_mechanism")
    return item.get("auth_mechanism") if value is None else value


def _smart_host_errors(item: dict[str, t.Any]) -> list[tuple[str, str]]:
    options, _schema = _collection_utils()
    errors = _keyword_errors(item, SMART_HOST_KEYS)
    if not item.get("connector"):
        errors.append(("connector", "is required: the Send connector whose smart hosts change"))
    hosts = item.get("hosts")
    if not isinstance(hosts, list) or not hosts:
        errors.append(("hosts", "must be a non-empty list of IP addresses or FQDNs"))
    else:
        for index, host in enumerate(hosts):
            try:
                options.BY_NAME["smart_hosts"].item(host)
            except (ValueError, TypeError) as err:
                errors.append(("hosts[%d]" % index, str(err)))
    key = "auth_mechanism" if "auth_mechanism" in item and "smart_host_auth_mechanism" not in item else "smart_host_auth_mechanism"
    if "auth_mechanism" in item and "smart_host_auth_mechanism" in item:
        errors.append(("auth_mechanism", "is the old name of smart_host_auth_mechanism: give only smart_host_auth_mechanism"))
    mechanism = _smart_host_auth_mechanism(item)
    if mechanism is not None:
        choices = options.AUTH_MECHANISMS
        if str(mechanism).lower() not in (c.lower() for c in choices):
            errors.append((key, "must be one of %s, got %r" % (", ".join(choices), mechanism)))
        elif str(mechanism).lower() in BASIC_AUTH and not (item.get("authentication_credential") or {}).get("username"):
            errors.append(("authentication_credential", "BasicAuth and BasicAuthRequireTLS need authentication_credential"))
    return errors


def input_errors(connectors: t.Any, smart_hosts: t.Any = None) -> list[str]:
    """Every problem of the role's input, each as ``<variable path>: <rule>``; empty when valid.

    The connectors are checked with the JSON Schema ``send_connector`` applies to its own
    arguments (including every cross-field rule), plus unknown keys, ``name``, ``state`` and
    ``update_password``; the smart host items with the option table's rules. Names must be
    unique: two items for one connector would fight each other.
    """
    errors: list[str] = []

    def add(where: str, found: list[tuple[str, str]]) -> None:
        for path, message in found:
            full = "%s%s" % (where, ("." + path) if path and not path.startswith("[") else path)
            errors.append("%s: %s" % (full, _safe_message(path, message)))

    if not _is_list(connectors):
        return ["%s: must be a list of connectors, got %s" % (ROLE_VAR, type(connectors).__name__)]
    seen: dict[str, int] = {}
    for index, connector in enumerate(connectors):
        where = "%s[%d]" % (ROLE_VAR, index)
        if not isinstance(connector, dict):
            errors.append("%s: must be a dictionary of send_connector options" % where)
            continue
        add(where, _connector_errors(connector))
        name = str(connector.get("name") or "").lower()
        if name and name in seen:
            errors.append("%s.name: %r is already used by %s[%d]; give each connector once" % (where, connector.get("name"), ROLE_VAR, seen[name]))
        elif name:
            seen[name] = index
    if smart_hosts is not None:
        if not _is_list(smart_hosts):
            errors.append("%s: must be a list, got %s" % (SMART_HOSTS_VAR, type(smart_hosts).__name__))
        else:
            for index, item in enumerate(smart_hosts):
                where = "%s[%d]" % (SMART_HOSTS_VAR, index)
                if not isinstance(item, dict):
                    errors.append("%s: must be a dictionary of smart_host options" % where)
                    continue
                add(where, _smart_host_errors(item))
    return errors


# --- prepare -----------------------------------------------------------------------------------
def prepare_connectors(connectors: t.Any, credential: t.Any = None) -> list[dict[str, t.Any]]:
    """The connectors as the role applies them.

    A connector whose ``smart_host_auth_mechanism`` is BasicAuth/BasicAuthRequireTLS and that has
    no ``authentication_credential`` gets the role's smart host credential (from the AWX
    credential's environment variables) when that has a user name.
    """
    if not _is_list(connectors):
        return []
    prepared = []
    cred = credential if isinstance(credential, dict) else {}
    for connector in connectors:
        if not isinstance(connector, dict):
            prepared.append(connector)  # kept, so that validation reports it at its index
            continue
        item = dict(connector)
        if _auth_mechanism(item) in BASIC_AUTH and not item.get("authentication_credential") and cred.get("username"):
            item["authentication_credential"] = {"username": cred.get("username"), "password": cred.get("password") or ""}
        prepared.append(item)
    return prepared


def prepare_smart_hosts(items: t.Any, credential: t.Any = None) -> list[t.Any]:
    """Smart host items as the role applies them: BasicAuth items without a credential get the role's."""
    cred = credential if isinstance(credential, dict) else {}
    prepared: list[t.Any] = []
    for item in items if _is_list(items) else []:
        if isinstance(item, dict):
            item = dict(item)
            if str(_smart_host_auth_mechanism(item) or "").lower() in BASIC_AUTH and not item.get("authentication_credential") and cred.get("username"):
                item["authentication_credential"] = {"username": cred.get("username"), "password": cred.get("password") or ""}
        prepared.append(item)
    return prepared


def connector_names(connectors: t.Any, state: str | None = "present") -> list[str]:
    """Names of the connectors (only those with the given state; None = all)."""
    names = []
    for connector in connectors if _is_list(connectors) else []:
        if not isinstance(connector, dict) or not connector.get("name"):
            continue
        if state is None or str(connector.get("state") or "present") == state:
            names.append(str(connector["name"]))
    return names


def by_name(connectors: t.Any) -> dict[str, dict[str, t.Any]]:
    """Connector name -> connector (so loops iterate over names and secrets never become an item)."""
    return {str(c["name"]): c for c in (connectors if _is_list(connectors) else []) if isinstance(c, dict) and c.get("name")}


PROBE_SETTINGS = ("require_tls", "tls_auth_level", "tls_domain", "smart_host_auth_mechanism", "max_message_size")


def _effective_max_message_size(connector: dict[str, t.Any], current: t.Any, known: bool) -> t.Any:
    """The MaxMessageSize the connector will have: the given one, else Exchange's current one, else
    New-SendConnector's default (35 MB; unlimited for Internal). None when the current connectors
    were not read (``known`` false) and none was given: then SIZE is not compared."""
    if connector.get("max_message_size") not in (None, ""):
        return connector["max_message_size"]
    if isinstance(current, dict):
        return current.get("max_message_size") if current.get("max_message_size") not in (None, "") else None
    if not known:
        return None
    return "unlimited" if str(connector.get("usage") or "").lower() == "internal" else "35MB"


def _probe_settings(connector: dict[str, t.Any], helo_name: t.Any = None, max_message_size: t.Any = None) -> dict[str, t.Any]:
    """The connector settings smtp_probe compares a smart host with (no secret)."""
    settings = {key: connector.get(key) for key in PROBE_SETTINGS if connector.get(key) not in (None, "")}
    if max_message_size not in (None, "") and "max_message_size" not in settings:
        settings["max_message_size"] = max_message_size  # made a string below
    if "max_message_size" in settings:
        settings["max_message_size"] = str(settings["max_message_size"])
    helo = connector.get("fqdn") or helo_name
    if helo:
        settings["helo_name"] = str(helo)
    return settings


def _port(value: t.Any) -> t.Any:
    """The connector's port as a number (25 when not given); a wrong value is kept as it is, for
    validation to report with its path (the plan is built before validation runs)."""
    if value in (None, ""):
        return 25
    try:
        return int(value)
    except (TypeError, ValueError):
        return value


def probe_targets(
    connectors: t.Any,
    connect_addresses: t.Any = None,
    smart_hosts: t.Any = None,
    existing: t.Any = None,
    helo_name: t.Any = None,
) -> list[dict[str, t.Any]]:
    """One entry per (connector, smart host) to probe before the change; no entry carries a secret.

    ``{connector, host, port, connect_address, settings, credential_from}``: ``settings`` are the
    connector's intended values smtp_probe checks against, ``credential_from`` says where the
    task finds the credential (``connector`` by name, or ``smart_host`` item by ``index``).
    A connector without ``max_message_size`` is compared with the MaxMessageSize it will have
    (Exchange's current value, or New-SendConnector's default when ``existing`` lists the current
    connectors and it is not among them). Connectors that are removed or route by DNS are not probed. Smart host items that add hosts
    to an existing connector are probed with that connector's current settings (``existing``,
    as send_connector_info returns them) and the item's auth mechanism.
    """
    addresses = {str(k).lower(): v for k, v in (connect_addresses or {}).items()} if isinstance(connect_addresses, dict) else {}
    current = {str(c.get("name", "")).lower(): c for c in (existing if _is_list(existing) else []) if isinstance(c, dict)}
    targets = []
    for connector in connectors if _is_list(connectors) else []:
        if not isinstance(connector, dict) or str(connector.get("state") or "present") != "present":
            continue
        for host in _wanted_hosts(connector.get("smart_hosts")):
            targets.append(
                {
                    "connector": str(connector.get("name")),
                    "host": host,
                    "port": _port(connector.get("port")),
                    "connect_address": addresses.get(host.lower()),
                    "settings": _probe_settings(
                        connector, helo_name, _effective_max_message_size(connector, current.get(str(connector.get("name", "")).lower()), _is_list(existing))
                    ),
                    "credential_from": "connector",
                    "index": None,
                }
            )
    for index, item in enumerate(smart_hosts if _is_list(smart_hosts) else []):
        if not isinstance(item, dict) or str(item.get("state") or "present") != "present":
            continue
        base = dict(current.get(str(item.get("connector", "")).lower()) or {})
        if _smart_host_auth_mechanism(item):
            base["smart_host_auth_mechanism"] = _smart_host_auth_mechanism(item)
        for host in _wanted_hosts(item.get("hosts")):
            targets.append(
                {
                    "connector": str(base.get("name") or item.get("connector")),  # Exchange's spelling
                    "host": host,
                    "port": _port(base.get("port")),
                    "connect_address": addresses.get(host.lower()),
                    "settings": _probe_settings(base, helo_name),
                    "credential_from": "smart_host",
                    "index": index,
                }
            )
    return targets


def blocking_findings(probe_results: t.Any, fail_on: t.Any = None) -> list[dict[str, t.Any]]:
    """The probe findings whose severity is in ``fail_on``, each with its connector."""
    severities = {str(s).lower() for s in (fail_on if _is_list(fail_on) else ["error"])}
    found = []
    for result in _results(probe_results):
        item = result.get("item") if isinstance(result.get("item"), dict) else {}
        for finding in result.get("findings") or []:
            if str(finding.get("severity", "")).lower() in severities:
                entry = {"connector": item.get("connector"), "host": finding.get("host") or item.get("host")}
                entry.update({k: finding.get(k) for k in ("severity", "code", "message", "hint")})
                found.append(entry)
        if result.get("failed") and not result.get("findings"):
            found.append(
                {
                    "connector": item.get("connector"),
                    "host": item.get("host"),
                    "severity": "error",
                    "code": "probe_failed",
                    "message": str(result.get("msg") or "the probe failed"),
                    "hint": "Check that the controller can reach the smart host (name, port, firewall).",
                }
            )
    return found


def format_findings(findings: t.Any) -> str:
    """Findings as lines a person reads: connector, host, severity, message, then the hint."""
    lines = []
    for f in findings if _is_list(findings) else []:
        lines.append("[%s] %s -> %s: %s (%s)" % (str(f.get("severity", "")).upper(), f.get("connector"), f.get("host"), f.get("message"), f.get("code")))
        if f.get("hint"):
            lines.append("    hint: %s" % f.get("hint"))
    return "\n".join(lines)


# --- verify --------------------------------------------------------------------------------------
def plan(
    connectors: t.Any,
    credential: t.Any = None,
    connect_addresses: t.Any = None,
    trace_server_names: t.Any = None,
    smart_hosts: t.Any = None,
    existing: t.Any = None,
    helo_name: t.Any = None,
) -> dict[str, t.Any]:
    """Everything the role's stages iterate over, from the wanted connectors and smart host items.

    ``connectors`` and ``smart_hosts`` as applied (see :func:`prepare_connectors`; they may hold the
    smart host password, so this value is only ever used in task arguments, never printed),
    ``by_name``, ``names`` (every connector), ``probe_targets`` (no secret), ``test_names``
    (present connectors with smart hosts) and ``trace_servers`` (name -> servers to search).
    """
    prepared = prepare_connectors(connectors, credential)
    items = prepare_smart_hosts(smart_hosts, credential)
    targets = probe_targets(prepared, connect_addresses, items, existing, helo_name)
    tested: list[str] = []
    for target in targets:
        if target["connector"].lower() not in (n.lower() for n in tested):
            tested.append(target["connector"])
    named = by_name(prepared)
    current = {str(c.get("name", "")).lower(): c for c in (existing if _is_list(existing) else []) if isinstance(c, dict)}
    return {
        "connectors": prepared,
        "smart_hosts": items,
        "by_name": named,
        "names": connector_names(prepared, None),
        "probe_targets": targets,
        "test_names": tested,
        "trace_servers": {name: trace_servers(named.get(name) or current.get(name.lower()), trace_server_names) for name in tested},
    }


def preflight_problems(probe_results: t.Any, fail_on: t.Any = None) -> list[str]:
    """The blocking probe findings as lines a person reads, each with its hint."""
    return format_findings(blocking_findings(probe_results, fail_on)).splitlines()


def _show(value: t.Any) -> str:
    if isinstance(value, (frozenset, set)):
        value = sorted(value)
    return repr(value)


def _option_difference(opt: t.Any, wanted: t.Any, current: t.Any) -> str:
    """'' when Exchange's value satisfies the wanted one, else what differs (both canonical)."""
    if opt.kind == "credential":
        want_user = (wanted or {}).get("username") if isinstance(wanted, dict) else None
        have_user = (current or {}).get("username") if isinstance(current, dict) else None
        if want_user and have_user and want_user.lower() != have_user.lower():
            return "user name %r, Exchange has %r" % (want_user, have_user)
        if want_user and not current:
            return "a credential for %r, Exchange has none" % want_user
        return ""
    if opt.partial and isinstance(wanted, dict):
        have = {opt.key([item]) for item in opt.canonical(current)} if current else set()
        missing = [x for x in wanted.get("add") or [] if opt.key([opt.item(x)]) not in have]
        present = [x for x in wanted.get("remove") or [] if opt.key([opt.item(x)]) in have]
        parts = []
        if missing:
            parts.append("%s not present" % ", ".join(map(str, missing)))
        if present:
            parts.append("%s still present" % ", ".join(map(str, present)))
        return "; ".join(parts)
    want = opt.canonical(wanted)
    have = opt.canonical(current) if current is not None or opt.is_list else None
    if opt.same(want, have):
        return ""
    return "wanted %s, Exchange has %s" % (_show(want), _show(have))


def readback_differences(wanted: t.Any, connectors: t.Any) -> list[str]:
    """Compare a wanted connector with the connectors send_connector_info read back.

    Only the settings the user gave are compared, normalised with the collection's option table
    (so ``*`` equals ``SMTP:*;1``); ``usage`` is create-only and cannot be read back, the password
    cannot be read at all (its user name is compared). Returns one line per difference.
    """
    options, _schema = _collection_utils()
    if not isinstance(wanted, dict):
        return []
    name = str(wanted.get("name") or "")
    found = [c for c in (connectors if _is_list(connectors) else []) if isinstance(c, dict) and str(c.get("name") or "").lower() == name.lower()]
    if str(wanted.get("state") or "present") == "absent":
        return ["the connector still exists"] if found else []
    if not found:
        return ["the connector was not found"]
    current = found[0]
    differences = []
    for key, value in wanted.items():
        opt = options.BY_NAME.get(key)
        if opt is None or value is None or opt.scope == options.CREATE:
            continue
        try:
            problem = _option_difference(opt, value, current.get(key))
        except (ValueError, TypeError) as err:
            problem = "cannot compare: %s" % err
        if problem:
            differences.append("%s: %s" % (key, problem))
    return differences


def trace_servers(connector: t.Any, servers: t.Any = None) -> list[str]:
    """Transport servers whose tracking logs show the test message: the given ones or the connector's sources."""
    if _is_list(servers) and servers:
        return [str(s) for s in servers]
    value = connector.get("source_transport_servers") if isinstance(connector, dict) else None
    if isinstance(value, dict):
        value = value.get("add") or []
    if isinstance(value, str):
        value = [value]
    return [str(s) for s in value or []]


def smart_host_names(connector: t.Any) -> list[str]:
    """The smart hosts a traced SEND may name (lower case, brackets stripped)."""
    return [h.lower() for h in _wanted_hosts(connector.get("smart_hosts") if isinstance(connector, dict) else None)]


_UNREACHABLE = "The smart host is unreachable from the transport server: check name, port, firewall and anti-virus mass-mailing blocks."
_NO_DNS = "The smart host's name does not resolve on the transport server: fix DNS or use its IP address."
_CERT = "The smart host's certificate failed the connector's TLS checks (chain, expiry, or name vs tls_domain)."
_RELAY = "The smart host refused to relay for this server: allow the transport servers' IP addresses on the smart host, or authenticate."
# (pattern in LastError / RecipientStatus, hint), in the order of the failure modes of ANCHORS B.2.
_DEFERRED = (
    "The smart host deferred the message with a temporary (4xx) answer, quoted in the queue's LastError: "
    "Exchange keeps retrying; fix what the smart host's answer names (greylisting, rate limit, policy)."
)
# LastError "4.4.397 Error communicating with target host" covers sessions that never connected
# ("-> 421 4.2.1 Unable to connect -> SocketError") AND sessions that connected, maybe
# authenticated, and then stalled ("-> 421 4.4.1 Connection timed out") or dropped: only the
# first is "unreachable" (issue 9 item 5).
TRACE_HINTS = [
    (r"unable to connect|socket error|connection refused", _UNREACHABLE),
    (r"nonexistentdomain|\bdns\b", _NO_DNS),
    (
        r"implicit tls|tls on connect|timed out",
        "The smart host accepted the connection, then stopped answering until the session timed out: check the smart host's "
        "own log and load for that session (a port-465 implicit-TLS service looks the same: connectors only do STARTTLS).",
    ),
    (r"connection dropped|4\.4\.2\b", "The smart host closed the connection in the middle of the session: check the smart host's own log for that session."),
    (r"tlsrequired|starttls", "RequireTLS/BasicAuthRequireTLS need STARTTLS, which the smart host did not offer: enable it there."),
    (r"\b4\.7\.5\b|certificate", _CERT),
    (
        r"\b5\.7\.3\b|\b535\b",
        "The smart host refused the credentials or wants AUTH LOGIN: check authentication_credential (update_password: always) and that it offers LOGIN.",
    ),
    (r"\b530\b|\b5\.7\.0\b", "The smart host requires authentication: set smart_host_auth_mechanism BasicAuth/BasicAuthRequireTLS with a credential."),
    (r"\b5\.7\.1\b|unable to relay|relay access denied", _RELAY),
    (r"\b5\.3\.4\b|\b552\b", "The message is larger than the smart host accepts: lower max_message_size to the smart host's SIZE."),
    (r'responded with: "4\d\d\b', _DEFERRED),
    (
        r"4\.4\.397",
        "The smart host is unreachable from the transport server or broke off the session (LastError 4.4.397 without "
        "more detail): check name, port and firewall, then the smart host's own log.",
    ),
]


def trace_hint(trace: t.Any) -> str:
    """The hint for a trace that did not end in a SEND through the connector."""
    if not isinstance(trace, dict):
        return ""
    texts = [str(trace.get("last_error") or "")]
    for event in trace.get("events") or []:
        if isinstance(event, dict):
            texts.append(str(event.get("recipient_status") or ""))
            texts.append(str(event.get("source_context") or ""))
    blob = " ".join(texts).lower()
    for pattern, hint in TRACE_HINTS:
        if re.search(pattern, blob):
            return hint
    if trace.get("result") == "timeout":
        return (
            "No SEND event through this connector before the timeout: check the connector's address spaces cover the "
            "test recipient, it is enabled, and the source servers (and AD replication) have picked it up."
        )
    return "See the events and the queue's LastError above."


# --- report --------------------------------------------------------------------------------------
def _diff_changes(result: dict[str, t.Any]) -> list[str]:
    diff = result.get("diff")
    if isinstance(diff, list):
        diff = diff[0] if diff else {}
    if not isinstance(diff, dict):
        return []
    before = diff.get("before") if isinstance(diff.get("before"), dict) else {}
    after = diff.get("after") if isinstance(diff.get("after"), dict) else {}
    if not before or not after:  # created or removed: the command says it all
        return []
    changes = []
    for key in sorted(set(before) | set(after)):
        if before.get(key) != after.get(key):
            changes.append("%s: %s -> %s" % (key, _redact(before.get(key)), _redact(after.get(key))))
    return changes


def _probe_summary(result: dict[str, t.Any]) -> dict[str, t.Any]:
    """The facts of one smtp_probe record a person wants in the report (no transcript, no secret)."""
    item = result.get("item") if isinstance(result.get("item"), dict) else {}
    probes = result.get("probes") or [{}]
    probe = probes[0] if isinstance(probes[0], dict) else {}

    def part(key: str) -> dict[str, t.Any]:
        value = probe.get(key)
        return value if isinstance(value, dict) else {}

    cert, tls, auth, banner, ehlo = part("certificate"), part("tls"), part("auth"), part("banner"), part("ehlo")
    login = auth.get("login") if isinstance(auth.get("login"), dict) else {}
    summary = {
        "host": item.get("host"),
        "port": item.get("port"),
        "address": probe.get("address"),
        "banner": banner.get("text"),
        "starttls": ehlo.get("starttls"),
        "tls_version": tls.get("version"),
        "certificate_subject": cert.get("subject"),
        "certificate_days_left": cert.get("days_left"),
        "auth_mechanisms": auth.get("mechanisms_after_tls") or auth.get("mechanisms_before_tls"),
        "auth_login": ("ok" if login.get("ok") else "failed") if login.get("attempted") else None,
        "findings": [
            {k: f.get(k) for k in ("severity", "code", "message", "hint")} for f in result.get("findings") or [] if isinstance(f, dict)
        ],
    }
    if probe.get("error"):
        summary["error"] = probe.get("error")
    return summary


def _verification(
    entry: dict[str, t.Any],
    wanted: dict[str, t.Any],
    probed: dict[str, list[dict[str, t.Any]]],
    readback: t.Any,
    tested: dict[str, list[dict[str, t.Any]]],
    traced: dict[str, list[dict[str, t.Any]]],
    logged: dict[str, t.Any],
) -> None:
    """Add probes, read-back, test message, trace and SMTP session of one connector to its entry."""
    name = entry["name"].lower()
    entry["probes"] = [_probe_summary(r) for r in probed.get(name, [])]
    if isinstance(readback, dict) and not readback.get("skipped") and _is_list(readback.get("connectors")):
        differences = readback_differences(wanted, readback["connectors"])
        entry["read_back"] = "differs" if differences else "matches"
        if differences:
            entry["read_back_differences"] = differences
    test = (tested.get(name) or [None])[0]
    if test is not None and not test.get("skipped"):
        entry["test_message_id"] = _message_id(test)
    trace = (traced.get(name) or [None])[0]
    if trace is not None and not trace.get("skipped"):
        entry["trace"] = {
            "result": trace.get("result"),
            "events": [
                {k: e.get(k) for k in ("timestamp", "event_id", "source", "connector_id", "server_hostname", "server_ip", "recipient_status")}
                for e in trace.get("events") or []
                if isinstance(e, dict)
            ],
        }
        if trace.get("last_error"):
            entry["trace"]["last_error"] = trace.get("last_error")
        if trace.get("result") != "sent":
            entry["trace"]["hint"] = trace_hint(trace)
    session = next((lines for key, lines in logged.items() if str(key).lower() == name), None)
    if session:
        entry["smtp_session"] = session


def _smart_host_wanted(item: dict[str, t.Any]) -> dict[str, t.Any]:
    """What a smart host item means for the connector's SmartHosts, as send_connector would say it."""
    hosts = list(item.get("hosts") or [])
    if str(item.get("state") or "present") == "absent":
        return {"name": item.get("connector"), "smart_hosts": {"remove": hosts}}
    if item.get("exclusive"):
        return {"name": item.get("connector"), "smart_hosts": hosts}
    return {"name": item.get("connector"), "smart_hosts": {"add": hosts}}


def summary(
    connectors: t.Any,
    apply: t.Any = None,
    probes: t.Any = None,
    readback: t.Any = None,
    tests: t.Any = None,
    traces: t.Any = None,
    sessions: t.Any = None,
    check_mode: bool = False,
    smart_hosts: t.Any = None,
    smart_host_changes: t.Any = None,
) -> list[dict[str, t.Any]]:
    """One summary per connector from the role's registered results; no secret in it.

    Connectors changed through ``smart_hosts`` items (the smart_host module) get an entry too,
    with ``smart_host_changes``; their read-back checks the hosts the items added or removed.
    """
    applied = _by_connector(apply)
    probed = _by_connector(probes)
    tested = _by_connector(tests)
    traced = _by_connector(traces)
    logged = sessions if isinstance(sessions, dict) else {}
    out: list[dict[str, t.Any]] = []
    for connector in connectors if _is_list(connectors) else []:
        if not isinstance(connector, dict):
            continue
        name = str(connector.get("name"))
        entry: dict[str, t.Any] = {"name": name, "state": str(connector.get("state") or "present"), "check_mode": bool(check_mode)}
        result = (applied.get(name.lower()) or [{}])[0]
        entry["changed"] = bool(result.get("changed"))
        entry["commands"] = list(result.get("commands") or [])
        entry["changes"] = _diff_changes(result)
        if result.get("connector"):
            entry["connector"] = _redact(result.get("connector"))
        _verification(entry, connector, probed, readback, tested, traced, logged)
        out.append(entry)
    item_results = {r.get("item"): r for r in _results(smart_host_changes)}
    for index, item in enumerate(smart_hosts if _is_list(smart_hosts) else []):
        if not isinstance(item, dict):
            continue
        name = str(item.get("connector"))
        result = item_results.get(index) or {}
        entry = next((e for e in out if e["name"].lower() == name.lower()), None)
        if entry is None:
            entry = {"name": name, "state": "present", "check_mode": bool(check_mode), "changed": False, "commands": [], "changes": []}
            _verification(entry, _smart_host_wanted(item), probed, readback, tested, traced, logged)
            out.append(entry)
        elif isinstance(readback, dict) and _is_list(readback.get("connectors")):
            extra = readback_differences(_smart_host_wanted(item), readback["connectors"])
            if extra:
                entry["read_back"] = "differs"
                entry.setdefault("read_back_differences", []).extend(extra)
        entry["changed"] = bool(entry.get("changed") or result.get("changed"))
        entry["commands"] = list(entry.get("commands") or []) + list(result.get("commands") or [])
        entry.setdefault("smart_host_changes", []).append(
            {
                "hosts": list(item.get("hosts") or []),
                "state": str(item.get("state") or "present"),
                "exclusive": bool(item.get("exclusive")),
                "changed": bool(result.get("changed")),
                "smart_hosts_after": result.get("smart_hosts"),
            }
        )
    return out


def _message_id(result: t.Any) -> str | None:
    """The Message-ID smtp_probe returned for its test message (wherever the module put it)."""
    if not isinstance(result, dict):
        return None
    for key in ("message_id",):
        if result.get(key):
            return str(result[key])
    test = result.get("test_message")
    if isinstance(test, dict) and test.get("message_id"):
        return str(test["message_id"])
    for probe in result.get("probes") or []:
        if isinstance(probe, dict):
            if probe.get("message_id"):
                return str(probe["message_id"])
            test = probe.get("test_message")
            if isinstance(test, dict) and test.get("message_id"):
                return str(test["message_id"])
    return None


def verification_failures(summaries: t.Any, connectors: t.Any = None) -> list[str]:
    """What the verification found wrong, one line per problem with its hint; empty when all is well."""
    smart_hosts_by_connector = {name: smart_host_names(c) for name, c in by_name(connectors).items()}
    failures = []
    for s in summaries if _is_list(summaries) else []:
        if not isinstance(s, dict):
            continue
        name = s.get("name")
        for difference in s.get("read_back_differences") or []:
            failures.append(
                "%s: read back differs: %s (hint: the change is not visible yet - AD replication or another writer; "
                "pin domain_controller and run again)" % (name, difference)
            )
        if "test_message_id" in s and not s.get("test_message_id"):
            failures.append(
                "%s: the test message was not accepted by Exchange's SMTP endpoint "
                "(hint: check smart_host_routing_smtp_server/port and that the sender may relay)" % name
            )
        trace = s.get("trace")
        if isinstance(trace, dict) and trace.get("result") != "sent":
            failures.append(
                "%s: the test message did not leave through the connector (trace result %s%s) (hint: %s)"
                % (name, trace.get("result"), ", LastError: %s" % trace["last_error"] if trace.get("last_error") else "", trace.get("hint"))
            )
        elif isinstance(trace, dict):
            hosts = smart_hosts_by_connector.get(name) or []
            sends = [e for e in trace.get("events") or [] if str(e.get("event_id") or "").upper().startswith("SEND")]
            if hosts and sends and not any(
                str(e.get("server_hostname") or "").lower().strip("[]") in hosts or str(e.get("server_ip") or "").lower() in hosts for e in sends
            ):
                failures.append(
                    "%s: the test message left to %s, which is not one of the connector's smart hosts %s "
                    "(hint: another connector with a more specific address space or lower cost took it)"
                    % (name, ", ".join(str(e.get("server_hostname")) for e in sends), ", ".join(hosts))
                )
    return failures


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


def report_lines(summaries: t.Any) -> list[str]:
    """The summaries as the lines printed at the end of the play."""
    lines: list[str] = []
    for s in summaries if _is_list(summaries) else []:
        if not isinstance(s, dict):
            continue
        head = "Send connector %r (%s): %s" % (s.get("name"), s.get("state"), _verb(s))
        lines.append(head)
        for change in s.get("changes") or []:
            lines.append("  change  %s" % change)
        for change in s.get("smart_host_changes") or []:
            lines.append(
                "  smart hosts %s%s %s -> %s"
                % (
                    change.get("state"),
                    " (exclusive)" if change.get("exclusive") else "",
                    ", ".join(map(str, change.get("hosts") or [])),
                    ", ".join(map(str, change.get("smart_hosts_after") or [])) or "-",
                )
            )
        for command in s.get("commands") or []:
            lines.append("  command %s" % command)
        for probe in s.get("probes") or []:
            details = ", ".join(
                "%s %s" % (label, ", ".join(map(str, probe[key])) if _is_list(probe.get(key)) else probe.get(key))
                for label, key in (
                    ("TLS", "tls_version"),
                    ("cert", "certificate_subject"),
                    ("days left", "certificate_days_left"),
                    ("AUTH", "auth_mechanisms"),
                    ("AUTH LOGIN", "auth_login"),
                )
                if probe.get(key) not in (None, "", [])
            )
            lines.append("  probe   %s:%s %s" % (probe.get("host"), probe.get("port"), details or ""))
            shown = [f for f in probe.get("findings") or [] if str(f.get("severity", "")).lower() != "info"]
            for f in shown:  # info findings stay in the summary data
                lines.append("          [%s] %s" % (str(f.get("severity", "")).upper(), f.get("message")))
            if not shown:  # say so, rather than leave the reader to guess from a missing line
                lines.append("          no error or warning for this connector's settings")
        if s.get("read_back"):
            lines.append("  read back: %s" % s["read_back"])
            for diff in s.get("read_back_differences") or []:
                lines.append("          %s" % diff)
        if s.get("test_message_id"):
            lines.append("  test message %s" % s["test_message_id"])
        trace = s.get("trace")
        if isinstance(trace, dict):
            lines.append("  trace: %s" % trace.get("result"))
            for e in trace.get("events") or []:
                lines.append(
                    "          %s %s connector=%s -> %s (%s) %s"
                    % (
                        e.get("timestamp"),
                        e.get("event_id"),
                        e.get("connector_id"),
                        e.get("server_hostname"),
                        e.get("server_ip"),
                        "; ".join(map(str, e["recipient_status"])) if _is_list(e.get("recipient_status")) else e.get("recipient_status") or "",
                    )
                )
            if trace.get("last_error"):
                lines.append("          LastError: %s" % trace["last_error"])
            if trace.get("hint"):
                lines.append("          hint: %s" % trace["hint"])
        if s.get("smtp_session"):
            lines.append("  SMTP session (SmtpSend protocol log):")
            lines.extend("          %s" % _session_line(line) for line in s["smtp_session"])
    return lines


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
    out = ["| %s |" % " | ".join(header), "|%s|" % "|".join("---" for _ in header)]
    out.extend("| %s |" % " | ".join(cell if cell != "" else " " for cell in row) for row in rows)
    return out


def _md_status(value: t.Any) -> str:
    if _is_list(value):
        return "; ".join(map(str, value))
    return "" if value is None else str(value)


def report_markdown(
    summaries: t.Any,
    host: t.Any = None,
    generated: t.Any = None,
    title: t.Any = None,
) -> str:
    """The summaries as a Markdown document an administrator attaches to a change ticket.

    Same content as ``report_lines`` (what changed, the commands, each probe with all its findings and
    hints, the read-back, the trace events and the SMTP session), laid out with headings, tables and
    code blocks. Every value from Exchange or a smart host is escaped, so it cannot become markup.
    """
    entries = [s for s in (summaries if _is_list(summaries) else []) if isinstance(s, dict)]
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
        if s.get("changes"):
            out += ["### Changes", ""]
            out += ["- %s" % _md_code(change) for change in s["changes"]] + [""]
        for change in s.get("smart_host_changes") or []:
            if change is s.get("smart_host_changes")[0]:
                out += ["### Smart host changes", ""]
            out.append(
                "- %s%s %s; smart hosts now: %s"
                % (
                    _md_text(change.get("state")),
                    " (exclusive)" if change.get("exclusive") else "",
                    ", ".join(_md_code(h) for h in change.get("hosts") or []) or "-",
                    ", ".join(_md_code(h) for h in change.get("smart_hosts_after") or []) or "-",
                )
            )
        if s.get("smart_host_changes"):
            out.append("")
        commands = s.get("commands") or []
        out += ["### %s" % ("Commands that would run (check mode)" if s.get("check_mode") else "Commands run"), ""]
        if commands:
            out += ["Exchange Management Shell; a credential shows as `(Get-Credential)`.", ""]
            out += _md_block(commands, "powershell") + [""]
        else:
            out += ["None: the connector already was as wanted.", ""]
        probes = s.get("probes") or []
        if probes:
            out += ["### Smart host probes", ""]
            rows = []
            for probe in probes:
                rows.append(
                    [
                        _md_code("%s:%s" % (probe.get("host"), probe.get("port")), table=True),
                        _md_text(probe.get("address")),
                        _md_text(probe.get("tls_version") or ("no STARTTLS" if probe.get("starttls") is False else "")),
                        _md_text(probe.get("certificate_subject")),
                        _md_text(probe.get("certificate_days_left")),
                        _md_text(", ".join(map(str, probe.get("auth_mechanisms") or []))),
                        _md_text(probe.get("auth_login")),
                    ]
                )
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
            out.append("")
        if s.get("read_back"):
            out += ["### Read back", "", "The connector as Exchange shows it after the change %s the wanted settings." % (
                "matches" if s["read_back"] == "matches" else "**differs from**"), ""]
            out += ["- %s" % _md_code(d) for d in s.get("read_back_differences") or []]
            if s.get("read_back_differences"):
                out.append("")
        trace = s.get("trace") if isinstance(s.get("trace"), dict) else None
        if s.get("test_message_id") or trace:
            out += ["### Test message and trace", ""]
            if s.get("test_message_id"):
                out += ["Message-ID %s" % _md_code(s["test_message_id"]), ""]
            if trace:
                out += ["Trace result: **%s**" % _md_text(trace.get("result")), ""]
                rows = [
                    [
                        _md_text(e.get("timestamp")),
                        _md_text(e.get("event_id")),
                        _md_text(e.get("connector_id")),
                        _md_text(e.get("server_hostname")),
                        _md_text(e.get("server_ip")),
                        _md_text(_md_status(e.get("recipient_status"))),
                    ]
                    for e in trace.get("events") or []
                    if isinstance(e, dict)
                ]
                if rows:
                    out += _md_table(["Time (UTC)", "Event", "Connector", "Server", "IP", "Recipient status"], rows) + [""]
                if trace.get("last_error"):
                    out += ["Queue LastError: %s" % _md_code(trace["last_error"]), ""]
                if trace.get("hint"):
                    out += ["Hint: %s" % _md_text(trace["hint"]), ""]
        if s.get("smtp_session"):
            out += ["### SMTP session (SmtpSend protocol log)", ""]
            out += _md_block([_session_line(line) for line in s["smtp_session"]]) + [""]
    return "\n".join(out).rstrip("\n") + "\n"


class FilterModule:
    """Filters of the smart_host_routing role."""

    def filters(self) -> dict[str, t.Callable[..., t.Any]]:
        return {
            "smart_host_routing_input_errors": input_errors,
            "smart_host_routing_plan": plan,
            "smart_host_routing_preflight_problems": preflight_problems,
            "smart_host_routing_summary": summary,
            "smart_host_routing_verification_failures": verification_failures,
            "smart_host_routing_report_lines": report_lines,
            "smart_host_routing_report_markdown": report_markdown,
        }
