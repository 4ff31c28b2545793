"""The client's syntax rules and the lab's independent copy (the oracle) agree on generated input.

For each connector setting whose validity is decidable from its syntax, hypothesis generates values
(well-formed, nearly well-formed and hostile). For every value:

* the client refuses it (``_schema.validate`` reports the setting's path)  <=>  the lab refuses it
  (``New-SendConnector ... -WhatIf`` through the lab organisation, the way a client call would go);
* when the client accepts, the lab is given what the client would send (canonical, wire form);
  when it refuses, the lab is given the raw value.

The two copies are written independently on purpose (``plugins/module_utils/_connectors/values.py`` vs
``tests/lab/exchange_lab/org/values.py``); a disagreement is a bug in one of them. Runs without a server.
"""

from __future__ import annotations

import itertools
import string

import pytest

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import plan as _plan
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import schema as _schema
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import values as _values

hypothesis = pytest.importorskip("hypothesis")
pytest.importorskip("exchange_lab")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from exchange_lab.config import LabConfig  # noqa: E402
from exchange_lab.org.testing import OrgHarness  # noqa: E402

SETTINGS = settings(max_examples=120, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
# Characters that matter to these grammars, plus hostile ones (control characters, a non-ASCII digit).
ALPHABET = string.ascii_letters[:6] + "xyzXYZ" + "0129" + ".-_*:;=,[]<>IS /\\#+\"'" + "\n\r\x00\t" + "\u0661\u00e9"
BASE = {"AddressSpaces": ["*"]}
SMART = {"AddressSpaces": ["*"], "DNSRoutingEnabled": False, "SmartHosts": ["192.168.3.2"]}
_counter = itertools.count()


def _is_list(opt) -> bool:
    return opt.kind.name in ("spaces", "hosts", "servers", "flags")


def fragments(examples):
    """Strings built from grammar pieces and arbitrary characters."""
    piece = st.one_of(st.sampled_from(examples), st.text(ALPHABET, max_size=12))
    return st.lists(piece, min_size=1, max_size=4).map("".join)


HOSTS = ["relay", "contoso", "com", ".", "*.", "*", "-", "_", "256", "1", "[", "]", "192.168.3.2", "::1", "--", "%eth0",
         "fe80::1", "http://",
         "999.999.999.999", "a" * 64, "x.y"]
SPACES = HOSTS + ["SMTP:", "smtp:", "X400:", "NOTES:", "HTTPS:", "mailto:", ";", ";1", ";100", ";0", ";101", "o=MySite",
                  "p=MyOrg", "c=us"]
CERTS = ["<I>", "<S>", "CN=Contoso CA", "CN=mail.contoso.com", "DC=com", ", ", "Contoso", "<", ">", "="]
SIZES = ["35", "MB", "KB", "B", "GB", "TB", " ", ".", "5", "unlimited", "2047", "2048", "(1,024 bytes)", "1" + "0" * 30]
SPANS = ["00", ":", "10", "1.", "23", "59", "60", "24", ".5", "-", "86400", "0"]
IPS = ["192.168.3.10", "0.0.0.0", "255.255.255.255", "256", ".", "::1", "fe80::1", "[", "]", "01"]
NAMES = ["Smart host", " ", "a" * 64, "[ab]", "*", "?", "\\", "/", ",", "=", "+", "<", ">", ";", '"', "#", "é",
         "\u202e", "\u200b", "\ufeff", "\u212a"]

# setting -> (generator, lab parameters that make the setting meaningful, Exchange parameter)
CASES = {
    "address_spaces": (fragments(SPACES), SMART),
    "smart_hosts": (fragments(HOSTS), SMART),
    "fqdn": (fragments(HOSTS), BASE),
    # TlsDomain is refused unless TlsAuthLevel is DomainValidation (Exchange's rule), so judge its syntax there
    "tls_domain": (fragments(HOSTS), {"AddressSpaces": ["*"], "RequireTLS": True, "TlsAuthLevel": "DomainValidation"}),
    "tls_certificate_name": (fragments(CERTS), BASE),
    "max_message_size": (fragments(SIZES), BASE),
    "connection_inactivity_timeout": (fragments(SPANS), BASE),
    "source_ip_address": (fragments(IPS), BASE),
    "protocol_logging_level": (fragments(["None", "verbose", "VERBOSE", "none", " ", "Verbos"]), BASE),
    "error_policies": (fragments(["Default", "downgradednsfailures", "UpgradeCustomFailures", ",", " "]), BASE),
    "name": (fragments(NAMES), BASE),
    # Int32 settings after Ansible's conversion: whole numbers, around and far past the documented ranges
    "port": (st.one_of(st.integers(-3, 65540), st.integers(-(2 ** 70), 2 ** 70)), BASE),
    "smtp_max_messages_per_connection": (st.one_of(st.integers(-3, 30), st.integers(2 ** 31 - 3, 2 ** 31 + 3),
                                                   st.integers(-(2 ** 70), 2 ** 70)), BASE),
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    return OrgHarness(str(tmp_path_factory.mktemp("oracle")), LabConfig())


def client_refuses(setting: str, value):
    """The client's verdict on one value: the messages about this setting (empty = accepted)."""
    if setting == "name":
        task = {"name": value}
    else:
        task = {"name": "Oracle", setting: [value] if _is_list(_options.BY_NAME[setting]) else value}
    found = _schema.validate(task, "task")
    return [e for e in found if e.startswith((setting + ":", setting + "["))]


def wire(setting: str, value):
    """What the client sends for an accepted value."""
    if setting == "name":
        return value.strip()
    opt = _options.BY_NAME[setting]
    canon = opt.canonical([value] if _is_list(opt) else value)
    return opt.wire(canon)


def lab_refuses(lab, setting: str, value) -> str:
    """The lab's verdict: the error New-SendConnector -WhatIf reports (empty = accepted)."""
    params = dict(CASES[setting][1])
    if setting == "name":
        name = value
    else:
        name = "Oracle %d" % next(_counter)
        params[_options.BY_NAME[setting].param] = value
    result = lab.run("New-SendConnector", Name=name, WhatIf=True, **params)
    problems = [e.message for e in result.errors] + ([result.failure.message] if result.failure else [])
    return "; ".join(problems)


# Where the client is stricter than Exchange on purpose (issue 15: values a task almost certainly does not mean,
# names that would show as another connector's). The lab, like Exchange, accepts these; the client refuses them
# with these words. Every other disagreement is a bug. test_the_stricter_rules_are_real_exceptions keeps this honest.
CLIENT_STRICTER = (
    "matches every certificate, so DomainValidation would check nothing",  # tls_domain: '*'
    "has an IPv6 zone id",  # smart_hosts: fe80::1%eth0
    "looks like a URL, not an address space",  # address_spaces: http://contoso.com, http:contoso.com, mailto:...
    "must not contain bidirectional control characters",  # name with U+202E ...
    "must not contain zero-width or invisible characters",  # name with U+200B ...
    # a create without smart hosts and without dns_routing_enabled (R23; the planner's rule, not a value's syntax:
    # test_a_create_without_smart_hosts_is_a_client_rule)
    "required to create a connector without smart hosts",
)


def stricter_only(refused) -> bool:
    return bool(refused) and all(any(words in message for words in CLIENT_STRICTER) for message in refused)


def check(lab, setting: str, value) -> None:
    if isinstance(value, str) and not value.strip(" \t") and setting != "name":
        return  # an empty value means "clear it" or "not given", not a syntax question
    refused = client_refuses(setting, value)
    listed = setting != "name" and _is_list(_options.BY_NAME[setting])
    sent = ([value] if listed else value) if refused else wire(setting, value)
    if sent is None:
        return  # nothing would be sent
    lab_says = lab_refuses(lab, setting, sent)
    if stricter_only(refused) and not lab_says:
        return  # a documented exception (CLIENT_STRICTER)
    assert bool(refused) == bool(lab_says), (
        "%s=%r: client %s, lab %s" % (setting, value, refused or "accepts", lab_says or "accepts (sent %r)" % (sent,)))


@pytest.mark.parametrize("setting", sorted(CASES))
def test_client_and_lab_agree(lab, setting):
    @SETTINGS
    @given(CASES[setting][0])
    def agree(value):
        check(lab, setting, value)

    agree()


KNOWN = [
    ("address_spaces", "*."), ("address_spaces", "contoso.com\n"), ("address_spaces", "X400:o=MySite;p=MyOrg"),
    ("address_spaces", "X400:garbage;1"), ("address_spaces", "--"), ("address_spaces", "*contoso.com"),
    ("address_spaces", "X400:o=MySite;p=MyOrg;a=adatum;c=us;1"), ("address_spaces", "contoso.com."),
    ("smart_hosts", "256.1.1.1"), ("smart_hosts", "999.999.999.999"), ("smart_hosts", "--"), ("smart_hosts", "[::1]"),
    ("max_message_size", "garbage (1,024 bytes)"), ("max_message_size", "1" + "0" * 400 + "TB"),
    ("max_message_size", "(" + " " * 3000 + "x"), ("max_message_size", "2GB"), ("max_message_size", "2047MB"),
    ("max_message_size", "1.3KB"), ("max_message_size", "\u0661\u0662"),
    ("tls_certificate_name", "<I>Contoso CA<S>mail"), ("tls_certificate_name", "<I>CN=Contoso CA<S>CN=mail.contoso.com"),
    ("tls_certificate_name", "<I>" + "a" * 100000),
    ("source_ip_address", "::1"), ("source_ip_address", "192.168.3.10"),
    ("connection_inactivity_timeout", "00:10"), ("connection_inactivity_timeout", "00:00:00.5"),
    ("protocol_logging_level", "verbose"), ("name", "a" * 65), ("name", " padded "), ("name", "fz[ab]"),
    ("name", "a,b"), ("fqdn", "mail_1.contoso.com"), ("tls_domain", "*"), ("tls_domain", "*."),
    ("fqdn", "."), ("smart_hosts", "fe80::1%eth0"), ("address_spaces", "http://contoso.com"), ("name", "Relay\u202eA"),
    ("address_spaces", "http:contoso.com"), ("address_spaces", "mailto:postmaster@contoso.com;2"),
    ("address_spaces", "NOTES:Domain/Org;2"),
    ("name", "Relay\u200bA"),
]


@pytest.mark.parametrize("setting, value", KNOWN, ids=[f"{s}-{i}" for i, (s, _v) in enumerate(KNOWN)])
def test_the_cases_of_issue_11_agree(lab, setting, value):
    check(lab, setting, value)


def test_the_issue_11_syntax_is_refused_by_both():
    """Spot checks that the agreement above is not agreement on accepting everything."""
    for setting, value in [("address_spaces", "*."), ("smart_hosts", "256.1.1.1"), ("source_ip_address", "::1"),
                           ("max_message_size", "garbage (1,024 bytes)"), ("tls_certificate_name", "<I>a<S>b")]:
        assert client_refuses(setting, value), (setting, value)
    assert _values.check_name("a" * 65)


@pytest.mark.parametrize("setting, value", [("tls_domain", "*"), ("smart_hosts", "fe80::1%eth0"),
                                            ("address_spaces", "http://contoso.com"), ("address_spaces", "HTTP:contoso.com"),
                                            ("address_spaces", "mailto:postmaster@contoso.com"), ("name", "Relay\u202eA"),
                                            ("name", "Relay\u200bA")])
def test_the_stricter_rules_are_real_exceptions(lab, setting, value):
    """Each CLIENT_STRICTER rule: the client refuses with those words, the lab (as Exchange) accepts."""
    refused = client_refuses(setting, value)
    assert stricter_only(refused), refused
    listed = setting != "name" and _is_list(_options.BY_NAME[setting])
    assert lab_refuses(lab, setting, [value] if listed else value) == ""


@pytest.mark.parametrize("params", [{"AddressSpaces": ["*"]}, {"AddressSpaces": ["contoso.com"], "SmartHosts": []}])
def test_a_create_without_smart_hosts_is_a_client_rule(lab, params):
    """R23: Exchange (and the lab) creates a DNS-routed connector when no smart host is named; the client refuses
    that create unless dns_routing_enabled: true is stated, with the words listed in CLIENT_STRICTER."""
    result = lab.run("New-SendConnector", Name="Oracle %d" % next(_counter), WhatIf=True, **params)
    assert not result.errors and not result.failure
    task = {"address_spaces": params["AddressSpaces"], "smart_hosts": params.get("SmartHosts")}
    refused = _plan.plan_present("Oracle", task, None).errors
    assert stricter_only(refused) and refused[0].startswith("dns_routing_enabled: "), refused
    assert _plan.plan_present("Oracle", dict(task, dns_routing_enabled=True), None).errors == []
    stated = lab.run("New-SendConnector", Name="Oracle %d" % next(_counter), WhatIf=True, DNSRoutingEnabled=True, **params)
    assert not stated.errors and not stated.failure
