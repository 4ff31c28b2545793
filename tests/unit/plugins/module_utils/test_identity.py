"""_identity: connector names compared as Exchange compares them (.NET OrdinalIgnoreCase after Trim)."""

from __future__ import annotations

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import identity as _identity
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values


@pytest.mark.parametrize("first, second", [
    ("Relay", "RELAY"), ("relay", " Relay\t"), ("role-base", "role-base\u00a0"), ("role-base", "\u3000role-base\u2028"),
    ("\u00e9t\u00e9", "\u00c9T\u00c9"),  # simple one-to-one mappings outside ASCII
    ("\u1f80", "\u1f88"),  # GREEK ... YPOGEGRAMMENI: simple upper-case is the title-case form (str.upper gives two letters)
    ("\u01c6", "\u01c4"),
])
def test_same_connector(first, second):
    assert _identity.same(first, second) and _identity.key(first) == _identity.key(second)


@pytest.mark.parametrize("first, second", [
    ("Relay-Kelay", "Relay-\u212aelay"),  # KELVIN SIGN: str.lower() would fold it to k
    ("Relay-kelay", "Relay-\u212aelay"),
    ("I", "\u0131"), ("S", "\u017f"),  # .NET ordinal casing leaves dotless i and long s alone
    ("STRASSE", "stra\u00dfe"),  # no full case mapping (ß stays ß)
    ("Relay", "R\u0435lay"),  # Cyrillic e
    ("Relay", "\uff32elay"),  # fullwidth R
    ("Caf\u00e9", "Cafe\u0301"),  # NFC vs NFD
    ("\U00010428", "\U00010400"),  # outside the BMP: .NET Framework compares UTF-16 code units as they are
    ("role-base", "role-base\u200b"),  # zero-width space is not white space for .NET
])
def test_different_connectors(first, second):
    assert not _identity.same(first, second)
    assert _identity.find([{"Name": first}], second) == []


def test_the_old_comparison_would_have_matched_kelvin():
    # the defect of issue 15: str.lower() made these one connector
    assert "Relay-Kelay".lower() == "Relay-\u212aelay".lower()
    assert not _identity.same("Relay-Kelay", "Relay-\u212aelay")


def test_find_never_matches_a_guid():
    connectors = [{"Name": "Victim A", "Guid": "382bea8f-fb9a-4bc1-a16f-ee14abbb09b2"}, {"Name": "Other"}]
    assert _identity.find(connectors, "382bea8f-fb9a-4bc1-a16f-ee14abbb09b2") == []
    assert _identity.find(connectors, " victim a ") == [connectors[0]]


@pytest.mark.parametrize("name", [
    "382bea8f-fb9a-4bc1-a16f-ee14abbb09b2", "{382BEA8F-FB9A-4BC1-A16F-EE14ABBB09B2}", "(382bea8f-fb9a-4bc1-a16f-ee14abbb09b2)",
    "382bea8ffb9a4bc1a16fee14abbb09b2", "{0x382bea8f,0xfb9a,0x4bc1,{0xa1,0x6f,0xee,0x14,0xab,0xbb,0x09,0xb2}}",
    " 382bea8f-fb9a-4bc1-a16f-ee14abbb09b2 ", "urn:uuid:382bea8f-fb9a-4bc1-a16f-ee14abbb09b2",
])
def test_guid_shaped_names_are_read_with_all_and_written_by_guid(name):
    assert _identity.looks_like_guid(name) and _identity.needs_read_all(name)


@pytest.mark.parametrize("name", ["Relay", "382bea8f-fb9a-4bc1-a16f", "deadbeef", "g82bea8f-fb9a-4bc1-a16f-ee14abbb09b2"])
def test_other_names_are_not_guids(name):
    assert not _identity.looks_like_guid(name)


def test_needs_read_all():
    assert _identity.needs_read_all("fz[ab]") and _identity.needs_read_all("Relay*")
    assert _identity.needs_read_all("Relais Z\u00fcrich")
    assert not _identity.needs_read_all("Partner relay")


@pytest.mark.parametrize("char", sorted(_identity.BIDI_CONTROLS | _identity.ZERO_WIDTH))
def test_bidi_and_zero_width_names_are_refused(char):
    problem = _values.check_name("Relay" + char + "A")
    assert problem and ("U+%04X" % ord(char)) in problem
    assert "bidirectional" in problem or "zero-width" in problem


@pytest.mark.parametrize("name, other", [
    ("Relay-\u212aelay", "Relay-Kelay"), ("R\u0435lay", "Relay"), ("\uff32elay", "Relay"), ("Caf\u00e9", "Cafe\u0301"),
    ("P\u0430rtner relay", "partner RELAY"), ("\u039aappa", "Kappa"),
])
def test_lookalikes_are_found(name, other):
    assert _identity.lookalikes(name, [other, "Unrelated"]) == [other]
    warning = _identity.lookalike_warning(name, other)
    assert repr(other) in warning and "U+" in warning


def test_a_name_is_not_its_own_lookalike_and_distinct_names_are_not_lookalikes():
    assert _identity.lookalikes("Relay", ["RELAY", "Relay 2", "Rely"]) == []
    assert _identity.lookalikes("Caf\u00e9", ["Cafe"]) == []  # an accent a reader sees is no look-alike


def test_duplicates_name_both_paths():
    errors = _identity.duplicates([("connectors[0]", "role-base"), ("connectors[1]", "Other"), ("connectors[2]", 5),
                                   ("connectors[3]", " role-base"), ("connectors[4]", "ROLE-BASE\u00a0"),
                                   ("connectors[5]", "role-\u212aase")])
    assert len(errors) == 2, errors
    assert errors[0].startswith("connectors[3].name: ' role-base' names the same connector as connectors[0].name ('role-base')")
    assert errors[1].startswith("connectors[4].name: 'ROLE-BASE\\xa0' (ROLE-BASE<U+00A0>) names the same connector as "
                                "connectors[0].name")


def test_shown_is_bounded():
    assert len(_identity.shown("\u00e9" * 100000)) <= 200


def test_an_exchange_refusal_names_the_option_of_the_quoted_value():
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager
    from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan

    plan = _plan.plan_present("P2", {"address_spaces": ["p.example"], "smart_hosts": ["192.0.2.1"],
                                     "source_transport_servers": ["EX99"]}, None, "on_create")
    message = "The operation couldn't be performed because object 'EX99' couldn't be found on 'DC01.contoso.com'."
    assert _manager.refused_option(plan, message) == "source_transport_servers"
    assert _manager.refused_option(plan, "object 'P2' already exists") is None  # the connector's own name
    assert _manager.refused_option(plan, "no quotes here") is None
