"""Pure rules of the Exchange side of the route (_route_findings), the DNS-switch plan and error prefixes."""

from __future__ import annotations

import datetime as dt

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import route as _route_findings
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.timezone.utc)
NAME = "<I>CN=Contoso CA<S>CN=mail.contoso.com"
SERVERS = {"ex01": {"name": "EX01", "site": "A", "roles": ["Mailbox"], "is_mailbox": True},
           "ex02": {"name": "EX02", "site": "B", "roles": ["Mailbox"], "is_mailbox": True}}


def cert(thumb, days_left, **kw):
    return dict({"thumbprint": thumb, "issuer": "CN=Contoso CA", "subject": "CN=mail.contoso.com", "services": ["SMTP"],
                 "not_before": (NOW - dt.timedelta(days=10)).isoformat(),
                 "not_after": (NOW + dt.timedelta(days=days_left)).isoformat(), "has_private_key": True,
                 "status": "Valid"}, **kw)


def findings(certs, **connector):
    base = {"name": "C", "source_transport_servers": ["EX01"], "tls_certificate_name": NAME}
    base.update(connector)
    found, _report = _route_findings.route_findings([base], SERVERS, {"ex01": certs}, 10485760, now=NOW)
    return [(f["severity"], f["code"]) for f in found]


@pytest.mark.parametrize("days, expected", [
    (90, []), (59, [("info", "certificate_expiring")]), (29, [("warning", "certificate_expiring")]),
    (-1, [("error", "certificate_expired")]),
])
def test_expiry_thresholds(days, expected):
    assert findings([cert("A", days)]) == expected


def test_the_longest_lived_duplicate_is_the_one_judged():
    found, report = _route_findings.route_findings(
        [{"name": "C", "source_transport_servers": ["EX01"], "tls_certificate_name": NAME}], SERVERS,
        {"ex01": [cert("OLD", -5), cert("NEW", 300)]}, None, now=NOW)
    assert [f["code"] for f in found] == ["certificate_duplicate"]
    assert "Exchange uses NEW" in found[0]["message"] and "OLD" in found[0]["hint"]
    assert report[0]["servers"][0]["certificate"]["thumbprint"] == "NEW"


def test_issuer_and_subject_match_whatever_the_spacing_and_case():
    assert findings([cert("A", 300, issuer="cn=contoso ca", subject="CN=mail.contoso.com")]) == []


def test_unusable_certificate_codes():
    assert findings([cert("A", 300, has_private_key=False, status="Revoked", services=["IIS"])]) == [
        ("error", "certificate_no_private_key"), ("error", "certificate_status"), ("warning", "certificate_not_smtp")]
    assert findings([]) == [("error", "certificate_missing")]


def test_a_store_that_was_not_read_gives_no_certificate_finding():
    found, _r = _route_findings.route_findings(
        [{"name": "C", "source_transport_servers": ["EX01"], "tls_certificate_name": NAME}], SERVERS, {}, None, now=NOW)
    assert found == []


def test_smart_host_size_with_content_conversion():
    connector = {"name": "C", "source_transport_servers": ["EX01"], "max_message_size": 10 * 1048576,
                 "smart_hosts": ["[192.0.2.1]"]}
    # 13,000,000 / 1.33 = 9,774,436 < 10 MB: too big once converted
    found, _r = _route_findings.route_findings([connector], SERVERS, {}, None, {"192.0.2.1": 13000000}, now=NOW)
    assert [f["code"] for f in found] == ["max_size_above_smart_host"]
    found, _r = _route_findings.route_findings([connector], SERVERS, {}, None, {"192.0.2.1": 14000000}, now=NOW)
    assert found == []
    found, _r = _route_findings.route_findings([dict(connector, max_message_size="unlimited")], SERVERS, {}, 10485760,
                                               {"192.0.2.1": 0}, now=NOW)
    assert [f["code"] for f in found] == ["max_size_above_org"]


def test_exchange_dates_with_seven_fraction_digits_and_offsets():
    assert _route_findings.parse_instant("2027-01-02T03:04:05.1234567+02:00") == dt.datetime(
        2027, 1, 2, 1, 4, 5, 123456, tzinfo=dt.timezone.utc)
    assert _route_findings.parse_instant("not a date") is None


def test_switch_to_dns_routing_is_planned_with_what_exchange_drops():
    current = {"dns_routing_enabled": False, "smart_hosts": ["relay.contoso.com"], "smart_host_auth_mechanism": "BasicAuth",
               "authentication_credential": {"username": "relay"}, "address_spaces": ["SMTP:*;1"]}
    plan = _plan.plan_present("SH", {"dns_routing_enabled": True}, current)
    assert plan.params == [("Identity", "SH"), ("DNSRoutingEnabled", True)]
    assert (plan.after["smart_hosts"], plan.after["smart_host_auth_mechanism"], plan.after["authentication_credential"]) == (
        [], "None", None)
    assert {"smart_hosts", "smart_host_auth_mechanism", "authentication_credential"} <= set(plan.changed_keys)
    [warning] = plan.warnings
    assert "relay.contoso.com" in warning and "user relay" in warning and "password" in warning


def test_exchange_error_prefixes_are_cut_to_the_sentence():
    text = ("[Server=EX02,RequestId=0b6e2a52-5c51-4ad4-9a0e-3d8f1a2b3c4d,TimeStamp=12/7/2026 1:22:59 AM] "
            "[FailureCategory=Cmdlet-ManagementObjectNotFoundException] The operation couldn't be performed.")
    cut, said = _session.cut_exchange_prefix(text)
    assert cut == "The operation couldn't be performed."
    assert said == {"server": "EX02", "failure_category": "Cmdlet-ManagementObjectNotFoundException"}
    assert _session.cut_exchange_prefix("plain text") == ("plain text", {})

    class Record:
        exception = None
        message = text
        fq_error = "[Server=EX02,RequestId=x,TimeStamp=y] [FailureCategory=Cmdlet-X] 1A2B3C4D,Microsoft.Exchange.Task"
        reason = category = ""

    message, error_id, _reason, _category = _session._error_text(Record())
    assert message == "The operation couldn't be performed." and error_id == "1A2B3C4D,Microsoft.Exchange.Task"
