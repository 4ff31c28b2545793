# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The Exchange side of a Send connector's route, checked before any change: pure functions over what
Get-ExchangeServer, Get-ExchangeCertificate -Server, Get-TransportConfig and Get-TransportService
returned (no network), so every rule is unit-testable. The smart host's side is smtp_probe's
(``_smtp_probe_findings``); the findings here have the same shape (severity, code, message, hint) plus
the connector and the source server they are about, and ``meets``: the text the administrator would
otherwise meet later, in the SmtpSend protocol log, a queue's LastError or an NDR.

Rules (issue 16):

* TlsCertificateName: on every source server the certificate must exist, be inside its validity period
  (warning 30 days before it ends, info 60), be enabled for SMTP, have its private key and status Valid.
  Several matching certificates (a renewal that left the old one): Exchange uses the longest-lived one,
  which is named; the checks above are made on that one.
* Source servers: each must exist and be a Mailbox server; a scoped connector (IsScopedConnector) is used
  only by transport servers of its source servers' AD site, so a source server in another site than the
  first one's is an error. No source server named on a new connector: Exchange uses the server that
  runs New-SendConnector (behind remote-PowerShell proxying, not necessarily the one connected to).
* MaxMessageSize above the organisation's MaxSendSize (the organisation limit applies first), or above
  the smart host's SIZE divided by 1.33 (Exchange's content conversion can grow a message by a third).
* FrontendProxyEnabled: mail leaves from the Front End Transport service of the Mailbox servers in the
  source servers' sites; they are named, since the smart host must accept them.
"""

from __future__ import annotations

import datetime
import re
from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values

SEVERITIES = ("error", "warning", "info")
EXPIRY_WARNING_DAYS = 30
EXPIRY_INFO_DAYS = 60
CONTENT_CONVERSION = 1.33  # a message can grow by about a third when Exchange converts its content

UNKNOWN_CREDENTIALS = "SmtpSend protocol log: 'TLS negotiation failed with error UnknownCredentials'"
QUEUE_TIMED_OUT = ("queue LastError: '451 4.4.397 Error communicating with target host. -> 421 4.4.1 Connection "
                   "timed out'")
_DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}:?\d{2})?$")


def parse_instant(value: Any) -> Optional[datetime.datetime]:
    """An Exchange DateTime (a datetime, or ISO 8601 text with up to 7 fraction digits) in UTC; None if unreadable."""
    if isinstance(value, datetime.datetime):
        return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)
    match = _DATE.match(str(value or "").strip())
    if not match:
        return None
    year, month, day, hour, minute, second, fraction, zone = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    tz = datetime.timezone.utc
    if zone and zone != "Z":
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        tz = datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:])))
    try:
        return datetime.datetime(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(second or 0),
                                 micro, tzinfo=tz).astimezone(datetime.timezone.utc)
    except ValueError:
        return None


def _x500(name: Any) -> str:
    return ",".join(part.strip().lower() for part in re.split(r"(?<!\\),", str(name or "")) if part.strip())


def split_certificate_name(value: Any) -> Optional[tuple[str, str]]:
    """``<I>issuer<S>subject`` -> (issuer, subject) as Exchange shows them; None when not given."""
    canon = _values.canonical_certificate_name(value)
    if not canon:
        return None
    issuer, _sep, subject = canon[3:].partition("<S>")
    return issuer, subject


def certificate(raw: dict[str, Any]) -> dict[str, Any]:
    """One Get-ExchangeCertificate object as plain values."""
    services = raw.get("Services")
    if isinstance(services, str):
        services = [s.strip() for s in services.split(",") if s.strip() and s.strip() != "None"]
    not_after = parse_instant(raw.get("NotAfter"))
    not_before = parse_instant(raw.get("NotBefore"))
    return {
        "thumbprint": str(raw.get("Thumbprint") or ""),
        "issuer": str(raw.get("Issuer") or ""),
        "subject": str(raw.get("Subject") or ""),
        "services": list(services or []),
        "not_before": not_before.isoformat() if not_before else None,
        "not_after": not_after.isoformat() if not_after else None,
        "has_private_key": raw.get("HasPrivateKey") in (True, "True", "true"),
        "status": str(raw.get("Status") or "Unknown"),
    }


def server(raw: dict[str, Any]) -> dict[str, Any]:
    """One Get-ExchangeServer object as plain values (name, fqdn, site, roles, is_mailbox, is_edge)."""
    site = raw.get("Site")
    if isinstance(site, dict):
        site = site.get("Name") or site.get("DistinguishedName")
    site_name = str(site or "").rsplit("/", 1)[-1] or None
    roles = raw.get("ServerRole")
    roles = [r.strip() for r in str(roles).split(",") if r.strip()] if roles not in (None, "") else []
    return {
        "name": str(raw.get("Name") or ""),
        "fqdn": str(raw.get("Fqdn") or "") or None,
        "site": site_name,
        "roles": roles,
        "is_mailbox": raw.get("IsMailboxServer") in (True, "True", "true"),
        "is_edge": raw.get("IsEdgeServer") in (True, "True", "true"),
    }


class _Collector:
    def __init__(self) -> None:
        self.items: list[dict[str, Any]] = []

    def add(self, severity: str, code: str, connector: str, server_name: Optional[str], message: str, hint: str,
            meets: str) -> None:
        self.items.append({"connector": connector, "server": server_name, "severity": severity, "code": code,
                           "message": message, "hint": hint, "meets": meets})


def _size_text(size: Any) -> str:
    if size == _values.UNLIMITED:
        return "unlimited"
    return "%s bytes (%s)" % ("{:,}".format(size), _values.format_size(size))


def chosen_certificate(candidates: list[dict[str, Any]]) -> Optional[dict[str, Any]]:
    """Of several certificates with the same issuer and subject, the one Exchange uses: the longest-lived."""
    dated = [(parse_instant(c.get("not_after")) or datetime.datetime.min.replace(tzinfo=datetime.timezone.utc), c)
             for c in candidates]
    return max(dated, key=lambda pair: pair[0])[1] if dated else None


def _certificate_findings(out: _Collector, name: str, server_name: str, wanted: tuple[str, str],
                          store: Optional[list[dict[str, Any]]], now: datetime.datetime) -> Optional[dict[str, Any]]:
    issuer, subject = wanted
    shown = "<I>%s<S>%s" % (issuer, subject)
    if store is None:
        return None
    candidates = [c for c in store if _x500(c.get("issuer")) == _x500(issuer) and _x500(c.get("subject")) == _x500(subject)]
    if not candidates:
        out.add("error", "certificate_missing", name, server_name,
                "the certificate tls_certificate_name names (%s) is not on source server %s" % (shown, server_name),
                "import the certificate (with its private key) on %s and enable it for SMTP "
                "(Import-ExchangeCertificate, Enable-ExchangeCertificate -Services SMTP), or take %s out of "
                "source_transport_servers" % (server_name, server_name),
                "%s on %s, then %s" % (UNKNOWN_CREDENTIALS, server_name, QUEUE_TIMED_OUT))
        return None
    chosen = chosen_certificate(candidates)
    if chosen is None:  # pragma: no cover - candidates is not empty
        return None
    if len(candidates) > 1:
        others = ", ".join(c["thumbprint"] for c in candidates if c is not chosen)
        out.add("warning", "certificate_duplicate", name, server_name,
                "%d certificates on %s match tls_certificate_name; Exchange uses %s (the longest-lived, valid until %s), "
                "not %s" % (len(candidates), server_name, chosen["thumbprint"], chosen.get("not_after"), others),
                "after a renewal, remove the old certificate from %s (Remove-ExchangeCertificate -Thumbprint %s) so that "
                "which one is used does not depend on dates" % (server_name, others.split(", ", 1)[0]),
                "the SmtpSend protocol log of %s shows certificate %s in the TLS handshake" % (server_name, chosen["thumbprint"]))
    start = parse_instant(chosen.get("not_before"))
    end = parse_instant(chosen.get("not_after"))
    thumb = chosen["thumbprint"]
    if (end is not None and end < now) or (start is not None and start > now):
        out.add("error", "certificate_expired", name, server_name,
                "certificate %s on %s (the one Exchange uses for tls_certificate_name) is outside its validity period "
                "(%s to %s)" % (thumb, server_name, chosen.get("not_before"), chosen.get("not_after")),
                "renew the certificate on %s, enable the new one for SMTP and point tls_certificate_name at it"
                % server_name,
                "%s on %s, then %s" % (UNKNOWN_CREDENTIALS, server_name, QUEUE_TIMED_OUT))
    elif end is not None:
        days = (end - now).total_seconds() / 86400.0
        if days <= EXPIRY_INFO_DAYS:
            out.add("warning" if days <= EXPIRY_WARNING_DAYS else "info", "certificate_expiring", name, server_name,
                    "certificate %s on %s (tls_certificate_name) ends in %d days (%s)" % (thumb, server_name, int(days),
                                                                                          chosen.get("not_after")),
                    "renew it before it ends and import the renewal on every source server",
                    "after %s: %s on %s, then %s" % (chosen.get("not_after"), UNKNOWN_CREDENTIALS, server_name,
                                                     QUEUE_TIMED_OUT))
    if not chosen.get("has_private_key"):
        out.add("error", "certificate_no_private_key", name, server_name,
                "certificate %s on %s (tls_certificate_name) has no private key" % (thumb, server_name),
                "import it again from a .pfx that carries the private key (Import-ExchangeCertificate -PrivateKeyExportable)",
                "%s on %s, then %s" % (UNKNOWN_CREDENTIALS, server_name, QUEUE_TIMED_OUT))
    if chosen.get("status") not in ("Valid",):
        out.add("error", "certificate_status", name, server_name,
                "certificate %s on %s (tls_certificate_name) has status %s, not Valid"
                % (thumb, server_name, chosen.get("status")),
                "replace the certificate (a revoked, untrusted or invalid certificate cannot be presented)",
                "%s on %s, then %s" % (UNKNOWN_CREDENTIALS, server_name, QUEUE_TIMED_OUT))
    if "SMTP" not in [str(s).upper() for s in chosen.get("services") or []]:
        out.add("warning", "certificate_not_smtp", name, server_name,
                "certificate %s on %s (tls_certificate_name) is not enabled for SMTP (services: %s)"
                % (thumb, server_name, ", ".join(chosen.get("services") or []) or "None"),
                "Enable-ExchangeCertificate -Server %s -Thumbprint %s -Services SMTP" % (server_name, thumb),
                "the SmtpSend protocol log of %s shows another certificate in the TLS handshake; a smart host that "
                "checks the client certificate refuses it" % server_name)
    return chosen


def route_findings(
    connectors: list[dict[str, Any]],
    servers: dict[str, dict[str, Any]],
    certificates: dict[str, Optional[list[dict[str, Any]]]],
    max_send_size: Any,
    smart_host_sizes: Optional[dict[str, Any]] = None,
    now: Optional[datetime.datetime] = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(findings, per-connector report) for ``connectors`` (dicts with the keys of send_connector's options).

    ``servers`` and ``certificates`` are keyed by lower-case server name; a server missing from
    ``certificates`` was not read (None: read, nothing known). ``smart_host_sizes`` maps a lower-case smart
    host to the SIZE it advertises (0 = no limit).
    """
    now = now or datetime.datetime.now(datetime.timezone.utc)
    sizes = {str(k).lower().strip("[]"): v for k, v in (smart_host_sizes or {}).items()}
    out = _Collector()
    report = []
    for connector in connectors:
        name = str(connector.get("name") or "")
        sources = [str(s) for s in connector.get("source_transport_servers") or []]
        entry: dict[str, Any] = {"name": name, "source_transport_servers": sources, "servers": []}
        if not sources:
            out.add("info", "source_servers_default", name, None,
                    "no source server is named: Exchange makes the server that runs New-SendConnector the source "
                    "server (behind remote-PowerShell proxying, not necessarily the server you connected to)",
                    "name source_transport_servers to decide which Mailbox servers send this connector's mail",
                    "Get-SendConnector shows a SourceTransportServers value nobody chose")
        wanted = split_certificate_name(connector.get("tls_certificate_name"))
        first_site = None
        for index, source in enumerate(sources):
            found = servers.get(source.lower().split(".", 1)[0])
            item: dict[str, Any] = {"name": source, "found": found is not None}
            entry["servers"].append(item)
            if found is None:
                out.add("error", "source_server_missing", name, source,
                        "source server %s is not an Exchange server of the organisation (Get-ExchangeServer)" % source,
                        "correct the name in source_transport_servers, or remove a decommissioned server from it",
                        "New-/Set-SendConnector: \"The operation couldn't be performed because object '%s' couldn't be "
                        "found on '<domain controller>'.\"" % source)
                continue
            item.update(site=found.get("site"), roles=found.get("roles"), is_mailbox=found.get("is_mailbox"))
            if not found.get("is_mailbox"):
                out.add("error", "source_server_not_mailbox", name, source,
                        "source server %s is not a Mailbox server (roles: %s); only Mailbox servers send through a "
                        "Send connector of the organisation" % (source, ", ".join(found.get("roles") or []) or "none"),
                        "use Mailbox servers as source servers; an Edge Transport server gets its connectors through "
                        "EdgeSync",
                        "New-/Set-SendConnector refuses the server, or mail queued for this connector on %s stays in a "
                        "queue with status Retry" % source)
            if index == 0:
                first_site = found.get("site")
            elif connector.get("is_scoped_connector") and found.get("site") != first_site:
                out.add("error", "source_server_other_site", name, source,
                        "connector is scoped (is_scoped_connector) to the AD site %s of its first source server, but "
                        "source server %s is in site %s" % (first_site, source, found.get("site")),
                        "use source servers of one site for a scoped connector, or set is_scoped_connector false",
                        "mail from servers of site %s finds no route: queue status Unreachable with "
                        "'550 5.4.4 ROUTING.NoConnectorForAddressType'" % found.get("site"))
            if wanted is not None:
                key = found["name"].lower()
                if key in certificates:
                    chosen = _certificate_findings(out, name, found["name"], wanted, certificates[key], now)
                    item["certificate"] = chosen
        # sizes
        size = connector.get("max_message_size")
        try:
            size = _values.parse_size(size)
        except _values.BadValue:
            size = None
        entry["max_message_size"] = size
        send = max_send_size
        if size is not None and isinstance(send, int) and (size == _values.UNLIMITED or size > send):
            out.add("warning", "max_size_above_org", name, None,
                    "max_message_size %s is above the organisation's MaxSendSize %s: messages between the two are "
                    "refused before they reach the connector (unless a mailbox's own MaxSendSize allows more for its "
                    "sender)" % (_size_text(size), _size_text(send)),
                    "lower max_message_size to %s or raise MaxSendSize (Set-TransportConfig -MaxSendSize)" % _values.format_size(send),
                    "NDR to the sender: '550 5.2.3 RESOLVER.RST.SendSizeLimit.Org; message too large for this organization'")
        hosts = [str(h).lower().strip("[]") for h in connector.get("smart_hosts") or []]
        limits = {h: sizes[h] for h in hosts if isinstance(sizes.get(h), int) and not isinstance(sizes.get(h), bool)
                  and sizes[h] > 0}
        if limits and size is not None:
            host, limit = min(limits.items(), key=lambda pair: pair[1])
            usable = int(limit / CONTENT_CONVERSION)
            if size == _values.UNLIMITED or size > usable:
                out.add("warning", "max_size_above_smart_host", name, None,
                        "max_message_size %s is above what smart host %s takes once Exchange has converted the content: "
                        "its SIZE %s / %.2f = %s"
                        % (_size_text(size), host, "{:,}".format(limit), CONTENT_CONVERSION, "{:,}".format(usable)),
                        "set max_message_size to at most %s (or raise the smart host's limit)"
                        % _values.format_size(usable // 1024 * 1024),
                        "queue LastError / NDR: '552 5.3.4 Message size exceeds fixed maximum message size' from %s" % host)
        entry["smart_host_sizes"] = limits
        # front-end proxy
        if connector.get("frontend_proxy_enabled"):
            sites = {s.get("site") for s in entry["servers"] if s.get("found")}
            front = sorted(s["name"] for s in servers.values() if s.get("is_mailbox") and s.get("site") in sites)
            entry["frontend_servers"] = front
            out.add("warning", "frontend_proxy", name, None,
                    "frontend_proxy_enabled: mail leaves through the Front End Transport service of %s, not from the "
                    "source servers themselves" % (", ".join(front) or "the Mailbox servers of the source servers' site"),
                    "allow the addresses of %s on the smart host (relay and connection limits)" % (", ".join(front) or "those servers"),
                    "the smart host refuses relay from an address it does not know: '550 5.7.54 SMTP; Unable to relay "
                    "recipient in non-accepted domain' or '554 5.7.1 Relay access denied' in the queue's LastError")
        report.append(entry)
    return out.items, report


# --- one run of the check (send_connector_route, send_connector_preflight) ---------------------------------
ORDER = {"error": 0, "warning": 1, "info": 2}


def connector_item(item: Any, path: str) -> tuple[dict[str, Any], list[str]]:
    """One connector item: (the keys the checks use, problems)."""
    problems = []
    name = item.get("name")
    if not isinstance(name, str) or not name.strip():
        problems.append("%s.name: is required (the connector's name)" % path)
    out = {"name": name.strip() if isinstance(name, str) else name}
    for key in ("source_transport_servers", "smart_hosts"):
        value = item.get(key)
        if value is None:
            out[key] = []
        elif not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            problems.append("%s.%s: must be a list of names" % (path, key))
        else:
            out[key] = [v.strip() for v in value]
    try:
        out["tls_certificate_name"] = _values.canonical_certificate_name(item.get("tls_certificate_name"))
    except _values.BadValue as err:
        problems.append("%s.tls_certificate_name: %s" % (path, err))
    try:
        out["max_message_size"] = _values.parse_size(item.get("max_message_size"))
        # the option table's range rule, as send_connector words it (a connector cannot hold a larger size)
        outside = _options.BY_NAME["max_message_size"].check(out["max_message_size"])
        if outside:
            problems.append("%s.max_message_size: %s" % (path, outside))
    except _values.BadValue as err:
        problems.append("%s.max_message_size: %s" % (path, err))
    for key in ("is_scoped_connector", "frontend_proxy_enabled"):
        value = item.get(key)
        if value is not None and not isinstance(value, bool):
            problems.append("%s.%s: must be true or false" % (path, key))
        out[key] = bool(value)
    return out, problems


def validate(params: dict[str, Any]) -> list[str]:
    problems = []
    for index, item in enumerate(params.get("connectors") or []):
        if not isinstance(item, dict):
            problems.append("connectors[%d]: must be a mapping of connector settings" % index)
            continue
        problems.extend(connector_item(item, "connectors[%d]" % index)[1])
    for host, size in (params.get("smart_host_sizes") or {}).items():
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            problems.append("smart_host_sizes.%s: must be a number of bytes (0 for no limit)" % host)
    return problems


def probe_sizes(probes: Any) -> dict[str, Any]:
    """host -> SIZE from smtp_probe's probes (the EHLO after TLS when there was one)."""
    sizes = {}
    for probe in probes or []:
        if not isinstance(probe, dict) or not probe.get("host"):
            continue
        for key in ("ehlo_tls", "ehlo"):
            ehlo = probe.get(key)
            if isinstance(ehlo, dict) and isinstance(ehlo.get("size"), int) and not isinstance(ehlo.get("size"), bool):
                sizes[str(probe["host"]).lower()] = ehlo["size"]
                break
    return sizes


def check(run: Any, connectors: Optional[list[dict[str, Any]]], probes: Any = None,
          smart_host_sizes: Optional[dict[str, Any]] = None) -> dict[str, Any]:
    """The Exchange side of every route, in a few reads per run (not per connector): ``run(cmdlet, params)`` runs
    one cmdlet in the caller's session. ``connectors`` are checked items (``connector_item``'s keys, e.g. a
    check-mode send_connectors result's connectors), or None to read and check every connector. ``probes`` are
    smtp_probe's (their SIZE), or a function that returns them, called after the reads (a probe running meanwhile);
    ``smart_host_sizes`` maps a smart host to a SIZE. Returns send_connector_route's
    result (without ``failed``: see ``failing``)."""
    cmdlets: list[str] = []

    def call(cmdlet: str, args: Optional[list] = None, shown: Optional[str] = None) -> list[dict[str, Any]]:
        cmdlets.append(shown or cmdlet)
        return run(cmdlet, args or [])

    read = None
    if connectors is None:
        checked = []
        read = []
        for raw in call("Get-SendConnector"):
            state = _options.from_exchange(raw)
            state["name"] = raw.get("Name")
            checked.append(connector_item(state, "connector")[0])
            # as send_connector_info returns it, so one session serves a caller that needs both (the audit)
            read.append(dict({"name": raw.get("Name")}, **_options.identity_from_exchange(raw), **state))
    else:
        checked = [connector_item(item, "connectors[%d]" % i)[0] for i, item in enumerate(connectors)]
    servers = {}
    for raw in call("Get-ExchangeServer"):
        found = server(raw)
        servers[found["name"].lower()] = found
    config = call("Get-TransportConfig")
    max_send = _values.parse_size((config[0] if config else {}).get("MaxSendSize")) if config else None
    for raw in call("Get-TransportService"):
        entry = servers.get(str(raw.get("Name") or "").lower())
        if entry is not None:
            entry["max_per_domain_outbound_connections"] = raw.get("MaxPerDomainOutboundConnections")
    needed: list[str] = []
    for connector in checked:
        if connector.get("tls_certificate_name"):
            for source in connector["source_transport_servers"]:
                key = source.lower().split(".", 1)[0]
                if key in servers and key not in needed:
                    needed.append(key)
    certificates = {}
    for key in needed:
        name = servers[key]["name"]
        found = call("Get-ExchangeCertificate", [("Server", name)], "Get-ExchangeCertificate -Server %s" % name)
        certificates[key] = [certificate(raw) for raw in found]
    sizes = probe_sizes(probes() if callable(probes) else probes)
    sizes.update({str(k).lower(): v for k, v in (smart_host_sizes or {}).items()})
    findings, report = route_findings(checked, servers, certificates, max_send, sizes)
    findings.sort(key=lambda f: ORDER.get(f["severity"], 3))
    result = {"changed": False, "findings": findings, "connectors": report,
              "servers": sorted(servers.values(), key=lambda s: s["name"].lower()),
              "max_send_size": max_send, "cmdlets": cmdlets}
    if read is not None:
        result["read"] = read
    return result


def failing(findings: list[dict[str, Any]], fail_on: Any) -> Optional[str]:
    """The failure message for the findings whose severity is in ``fail_on``, or None."""
    found = [f for f in findings if f["severity"] in (fail_on or [])]
    if not found:
        return None
    return "%d route finding(s) of severity %s: %s" % (
        len(found), "/".join(fail_on),
        "; ".join("%s%s: %s (hint: %s)" % (f["connector"], " on %s" % f["server"] if f["server"] else "",
                                           f["message"], f["hint"]) for f in found))
