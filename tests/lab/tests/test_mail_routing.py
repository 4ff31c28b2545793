"""Send connector selection (Microsoft's "Mail routing in Exchange Server" page, connector selection): pure routing rules."""

from __future__ import annotations

import pytest

from exchange_lab.mail.routing import TOO_LARGE, UNREACHABLE, NoRoute, Route, Router, match_space

SITES = {"EX01": "Default-First-Site-Name", "EX02": "Default-First-Site-Name", "EX03": "Branch-Site"}


def connector(name, spaces, **kw):
    base = {
        "Name": name,
        "AddressSpaces": [{"Type": "SMTP", "Address": s, "Cost": c} for s, c in spaces],
        "Enabled": True,
        "IsScopedConnector": False,
        "SourceTransportServers": ["EX01"],
        "MaxMessageSize": 36700160,
        "DNSRoutingEnabled": False,
        "SmartHosts": ["relay.contoso.net"],
    }
    base.update(kw)
    return base


def pick(connectors, domain="fabrikam.com", size=1000, local="EX01"):
    return Router(local, SITES).select(connectors, domain, size)


@pytest.mark.parametrize(
    ("space", "domain", "hit"),
    [
        ("*", "fabrikam.com", True),
        ("*.contoso.com", "contoso.com", True),
        ("*.contoso.com", "marketing.contoso.com", True),
        ("*.contoso.com", "notcontoso.com", False),
        ("contoso.com", "marketing.contoso.com", False),
        ("CONTOSO.com", "contoso.COM", True),
        ("--", "contoso.com", False),
    ],
)
def test_address_space_matching(space, domain, hit):
    assert (match_space(space, domain) is not None) is hit


def test_most_specific_space_beats_cost():
    wide = connector("A wide", [("*", 1)])
    mid = connector("B wildcard", [("*.contoso.com", 50)])
    exact = connector("C exact", [("marketing.contoso.com", 100)])
    assert pick([wide, mid, exact], "marketing.contoso.com").name == "C exact"
    assert pick([wide, mid], "marketing.contoso.com").name == "B wildcard"
    assert pick([wide, mid], "fabrikam.com").name == "A wide"


def test_exact_domain_beats_wildcard_of_same_domain():
    route = pick([connector("wild", [("*.contoso.com", 1)]), connector("exact", [("contoso.com", 5)])], "contoso.com")
    assert route.name == "exact"


def test_cost_then_name_break_ties():
    cheap = connector("Zulu", [("*", 1)])
    dear = connector("Alpha", [("*", 10)])
    assert pick([dear, cheap]).name == "Zulu"
    same_a = connector("alpha", [("*", 5)])
    same_b = connector("Bravo", [("*", 5)])
    route = pick([same_b, same_a])
    assert route.name == "alpha"
    assert route.cost == 5 and route.address_space == "*"


def test_hops_break_ties_before_name():
    remote = connector("Alpha remote", [("*", 1)], SourceTransportServers=["EX03"])
    local = connector("Zulu local", [("*", 1)], SourceTransportServers=["EX01"])
    assert pick([remote, local]).name == "Zulu local"


def test_disabled_connectors_are_ignored():
    off = connector("Off", [("fabrikam.com", 1)], Enabled=False)
    on = connector("On", [("*", 1)])
    assert pick([off, on]).name == "On"
    assert pick([off]) == NoRoute(UNREACHABLE, pick([off]).status)


def test_scoped_connector_only_in_its_site():
    scoped = connector("Branch only", [("fabrikam.com", 1)], IsScopedConnector=True, SourceTransportServers=["EX03"])
    fallback = connector("Everyone", [("*", 1)])
    assert pick([scoped, fallback], local="EX01").name == "Everyone"
    assert pick([scoped, fallback], local="EX03").name == "Branch only"
    # unscoped, the same connector is visible from the other site too
    unscoped = dict(scoped, IsScopedConnector=False)
    assert pick([unscoped, fallback], local="EX01").name == "Branch only"


def test_source_server_and_relay():
    route = pick([connector("Via EX02", [("*", 1)], SourceTransportServers=["EX02", "EX03"])])
    assert isinstance(route, Route)
    assert (route.source_server, route.relayed) == ("EX02", True)
    route = pick([connector("Here", [("*", 1)], SourceTransportServers=["EX02", "EX01"])])
    assert (route.source_server, route.relayed) == ("EX01", False)


def test_size_filter_and_ndr_when_every_connector_is_too_small():
    small = connector("Small", [("fabrikam.com", 1)], MaxMessageSize=1024)
    big = connector("Big", [("*", 1)], MaxMessageSize=None)
    assert pick([small, big], size=2048).name == "Big"
    assert pick([small, big], size=512).name == "Small"
    outcome = pick([small], size=2048)
    assert isinstance(outcome, NoRoute) and outcome.reason == TOO_LARGE
    assert outcome.status.startswith("550 5.3.4")


def test_no_match_is_unreachable():
    outcome = pick([connector("Contoso only", [("contoso.com", 1)])], "fabrikam.com")
    assert isinstance(outcome, NoRoute) and outcome.reason == UNREACHABLE


def test_non_smtp_spaces_never_match_smtp_domains():
    x400 = {"Name": "X400", "AddressSpaces": [{"Type": "X400", "Address": "c=us;a=;p=contoso", "Cost": 1}], "Enabled": True}
    assert isinstance(pick([x400]), NoRoute)
