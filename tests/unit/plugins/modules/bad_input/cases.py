"""Generated module inputs: hostile values for every option of every module, and every cross-option rule.

A case is ``{"id", "module", "args", "bad": [paths], "secret": canary or None}``. ``bad`` lists the option
paths whose values break a rule decidable from the input alone: each must be named in the one failure
message, before any connection. A case with ``bad == []`` is valid or not decidable from its input
(e.g. a 100,000-character comment, an injection string in free text): it may reach the network, and
only has to answer cleanly (no traceback, no "unexpected error", within the time limit).

Values come from hypothesis strategies (derandomized, so the suite is repeatable) over per-kind pools:
type confusion, out-of-range and non-finite numbers, NUL/CR/LF, non-ASCII, 100,000-character strings,
injection strings, and near-misses of each grammar.
"""

from __future__ import annotations

import math

from hypothesis import strategies as st

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import options as _options

CANARY = "CANARY-Pw-7f3e9b1c"  # a secret that must never appear in any output
HUGE = "x" * 100000
INJECT = ["'; Remove-SendConnector * -Confirm:$false; '", "x\u2019; Remove-SendConnector *; \u2019", "$(Get-Process)",
          "`$null", "a\r\nMAIL FROM:<inj@x.example>", "<script>", "%s%s%n"]
NONFINITE = [math.nan, math.inf, -math.inf]
TYPE_JUNK = [[1, 2], {"a": 1}, [["nested"]], {"username": {"x": 1}}]
CONTROL = ["a\x00b", "a\nb", "a\rb", "\x00"]

# ---- bad values per kind of option (every one breaks a rule decidable from the input) ----------
BAD = {
    "bool": ["maybe", 2, [True], {"a": 1}, 1.5, "yes please", math.nan],
    "int": ["abc", 1.5, [1], {"a": 1}, "1e400", 10 ** 30, -(10 ** 30), math.nan, math.inf, "12abc", True],
    "float": ["abc", [1], "nan", "inf", "-inf", math.nan, math.inf, "1e999", {"a": 1}],
    "enum": ["", " ", "Bogus", "Nonee", ["None"], {"a": 1}, "None\n", HUGE, "Basic Auth", "\u0130"],
    "flags": [["Bogus"], [""], ["Default\x00"], [["x"]], [{"a": 1}], "Default,Bogus", [HUGE]],
    "size": ["garbage (1,024 bytes)", "1" + "0" * 400 + "TB", "(" + " " * 3000 + "x", "2GB", -1, 1.5, True,
             [1], "nan", "inf", "1e9", HUGE, "35 MB\n", "-5MB", "\u0661\u0662", 2 ** 40, "35 XB"],
    "timespan": ["25:00:00", "2.00:00:00", 0, -1, 1.5, "abc", "00:10:00\n", True, "00:00:00.5", "99999999999999999999",
                 "1.2.3", HUGE, [600]],
    "fqdn": ["bad host!", "a..b", "999.999.999.999", HUGE, "mail\n.contoso.com", ["a"], "b\u00fccher.example", "-a.com",
             "a" * 64 + ".com", "*.contoso.com", "x;y", {"a": 1}],
    "domain": ["bad host!", "a..b", "999.999.999.999", HUGE, "mail\n.contoso.com", ["a"], "*contoso.com", "a.*.com",
               "x;y", "*.", {"a": 1}],
    "ip": ["::1", "fe80::1", "256.1.1.1", "[1.2.3.4]", "x", "1.2.3", "1.2.3.4\n", HUGE, ["1.2.3.4"], "01.2.3.4"],
    "certname": ["CN=mail", "<I>a<S>b", "<I><S>", "<I>CN=a<S>CN=b\n", "<I>CN=a", HUGE, ["<I>CN=a<S>CN=b"],
                 "<I>CN=a<S>CN=<b>"],
    "spaces": [["*."], ["contoso.com\n"], ["--"], ["X400:o=a;p=b"], ["X400:garbage;1"], [5], "not a list", [],
               {"add": "x"}, [{"domain": "*", "cost": 0}], [{"domain": "a.com", "colour": "red"}], ["*contoso.com"],
               [HUGE], ["contoso.com;101"], [{"domain": 5}], ["a.com", "a.com;2"], {"bogus": ["a.com"]}],
    "hosts": [["256.1.1.1"], ["bad host!"], ["--"], [""], [5], {"bogus": []}, ["999.999.999.999"], [HUGE],
              ["relay\n.contoso.com"], "a.com", [["x"]], ["[relay.contoso.com]"]],
    "servers": [["EX01\x00"], ["1.2.3.4"], [""], ["a b"], [5], [HUGE], ["EX01\n"], "EX01", [{"a": 1}]],
    "credential": [5, CANARY, {"password": CANARY}, {"username": "", "password": CANARY},
                   {"username": "u", "password": CANARY + "\n"}, {"username": "u", "password": CANARY, "x": 1},
                   [CANARY], {"username": "u\x00", "password": CANARY}, True],
    "str": CONTROL + [["list"], {"a": 1}],
    "choice": ["", "Bogus", "M365_MX", " m365_mx", "m365_mx\n", ["m365_mx"], {"a": 1}, HUGE, 5],
    "name": ["", " ", "a" * 65, "a;b", "x\ny", "\x00", ["n"], {"a": 1}, "a,b", 'a"b', "a#b", HUGE, "a\\b", "a/b",
             "a=b", "a+b", "a<b>"] + [i for i in INJECT if any(c in i for c in ';\n')],
    "time": ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00", "-99999999999999d", "yesterday",
             "2026-13-01T00:00:00Z", HUGE, "2026-01-01T00:00:00Z\n", ["now"], "-\u0661d"],
    "host": ["bad host!", "a\x00b", "999.999.999.999", HUGE, ["h"], "a b"],
}
# ---- values that are valid or not decidable from the input: they may be sent --------------------
ODD_VALID = {
    "str": [HUGE, "\u00dcn\u00efc\u00f8d\u00e9 \U0001f4e7", *[i for i in INJECT if not any(c in i for c in "\r\n")]],
    "name": ["fz[ab]", " padded ", "\u00dcn\u00efcode name", "Relay*", "what?"],
}

OPTION_KIND = {o.name: o.kind.name for o in _options.OPTIONS}
OPTION_KIND.update({"name": "name"})
RANGE_BAD = {"port": [-1, 65536, 70000], "smtp_max_messages_per_connection": [0, -5, 2 ** 31]}
CONNECTION = {"server": "127.0.0.1", "username": "admin", "password": CANARY, "protocol": "http",
              "connection_timeout": 3, "operation_timeout": 3}
CONNECTION_BAD = {
    "server_port": ["abc", 0, 65536, -1, 1.5, math.nan, [80]],
    "connection_timeout": [0, -1, "abc", 10 ** 30, math.inf],
    "operation_timeout": [0, "x", math.nan],
    "protocol": ["ftp", "HTTPS ", "", 5],
    "auth": ["magic", ["basic"]],
    "validate_certs": ["perhaps", 3],
    "server": BAD["host"],
    "domain_controller": BAD["host"],
    "username": CONTROL,
    "ca_cert": CONTROL,
}


def bad_for(option: str) -> list:
    kind = OPTION_KIND[option]
    values = list(BAD["int" if kind == "int" else kind])
    if option in _options.BY_NAME and _options.BY_NAME[option].nullable:
        values = [x for x in values if not (isinstance(x, str) and not x.strip())]  # empty clears it: valid
    values += RANGE_BAD.get(option, [])
    return values


def path_of(option: str, prefix: str = "") -> str:
    return option if not prefix else "%s.%s" % (prefix, option)


# ---- cross-option rules (each entry: settings, the paths that must be named) ---------------------
CROSS = [
    ({"smart_hosts": ["relay.contoso.com"], "dns_routing_enabled": True}, ["dns_routing_enabled"]),
    ({"smart_host_auth_mechanism": "ExchangeServer", "dns_routing_enabled": True}, ["dns_routing_enabled"]),
    ({"smart_host_auth_mechanism": "basicauth", "smart_hosts": ["relay.contoso.com"]}, ["authentication_credential"]),
    ({"smart_host_auth_mechanism": "BasicAuthRequireTLS", "smart_hosts": ["1.2.3.4"]}, ["authentication_credential"]),
    ({"tls_auth_level": "EncryptionOnly", "require_tls": False}, ["require_tls"]),
    ({"tls_auth_level": "CertificateValidation", "require_tls": True, "ignore_starttls": True}, ["ignore_starttls"]),
    ({"require_tls": True, "ignore_starttls": True}, ["ignore_starttls"]),
    ({"domain_secure_enabled": True, "ignore_starttls": True}, ["ignore_starttls"]),
    ({"domain_secure_enabled": True, "smart_hosts": ["relay.contoso.com"]}, ["dns_routing_enabled"]),
    ({"domain_secure_enabled": True, "address_spaces": ["*.contoso.com"]}, ["address_spaces"]),
    ({"domain_secure_enabled": True, "address_spaces": [{"domain": "*", "cost": 2}]}, ["address_spaces"]),
    ({"address_spaces": ["X400:o=a;p=b;1"], "dns_routing_enabled": True}, ["dns_routing_enabled"]),
    ({"source_transport_servers": []}, ["source_transport_servers"]),
    ({"address_spaces": ["*", "*;2"]}, ["address_spaces"]),
    ({"smart_hosts": {}}, ["smart_hosts"]),
]


def _pick(values):
    return st.sampled_from(values)


@st.composite
def send_connector_case(draw):
    """1-3 bad settings (or a cross-option rule plus bad settings), on a valid base."""
    args = dict(CONNECTION, name="Fuzz connector", address_spaces=["fuzz.example"])
    bad: list[str] = []
    if draw(st.booleans()):
        settings, paths = draw(_pick(CROSS))
        args.update(settings)
        bad += paths
    taken = set(args) - set(CONNECTION) - {"name", "address_spaces"} if bad else set()
    options = draw(st.lists(_pick(sorted(OPTION_KIND)), min_size=0 if bad else 1, max_size=3, unique=True))
    for option in options:
        if option in taken:  # a cross-option rule set it: keep the rule's case intact
            continue
        args[option] = draw(_pick(bad_for(option)))
        bad.append(option)
    if "authentication_credential" in bad:
        bad = [p for p in bad if p != "authentication_credential"] + ["authentication_credential"]
    return {"module": "send_connector", "args": args, "bad": sorted(set(bad))}


@st.composite
def odd_valid_case(draw):
    """Valid but hostile-looking input: free text and names that must be sent as they are."""
    args = dict(CONNECTION, name=draw(_pick(ODD_VALID["name"])), address_spaces=["fuzz.example"], dns_routing_enabled=True)
    args["comment"] = draw(_pick(ODD_VALID["str"]))
    return {"module": "send_connector", "args": args, "bad": []}


@st.composite
def connection_case(draw):
    module = draw(_pick(["send_connector", "smart_host", "send_connector_info", "message_trace", "send_connectors"]))
    base = {
        "send_connector": {"name": "Fuzz connector", "state": "absent"},
        "smart_host": {"connector": "Fuzz connector", "hosts": ["relay.contoso.com"]},
        "send_connector_info": {},
        "message_trace": {"message_id": "<a@b.example>"},
        "send_connectors": {"connectors": [{"name": "Fuzz", "state": "absent"}]},
    }[module]
    args = dict(CONNECTION, **base)
    options = draw(st.lists(_pick(sorted(CONNECTION_BAD)), min_size=1, max_size=2, unique=True))
    for option in options:
        args[option] = draw(_pick(CONNECTION_BAD[option]))
    return {"module": module, "args": args, "bad": sorted(options)}


SMART_HOST_BAD = {
    "connector": BAD["name"],
    # (a string is a list to Ansible: "a.com" is ["a.com"], valid for smart_host's hosts)
    "hosts": [v for v in BAD["hosts"] if not isinstance(v, str)] + [[], "not,a;list", {"add": ["a.com"]}],
    "state": ["gone", "", 5, ["present"]],
    "exclusive": BAD["bool"],
    "fallback_to_dns": BAD["bool"],
    "smart_host_auth_mechanism": BAD["enum"],
    "authentication_credential": BAD["credential"],
    "update_password": ["sometimes", "", 1],
    "smart_host_profile": BAD["choice"],
}
SMART_HOST_CROSS = [
    ({"hosts": [], "exclusive": False}, ["hosts"]),
    ({"exclusive": True, "state": "absent"}, ["exclusive"]),
    ({"smart_host_auth_mechanism": "BasicAuth"}, ["authentication_credential"]),
]


@st.composite
def smart_host_case(draw):
    args = dict(CONNECTION, connector="Fuzz connector", hosts=["relay.contoso.com"])
    bad: list[str] = []
    if draw(st.booleans()):
        settings, paths = draw(_pick(SMART_HOST_CROSS))
        args.update(settings)
        bad += paths
    taken = set(args) - set(CONNECTION) - {"connector", "hosts"} if bad else set()
    for option in draw(st.lists(_pick(sorted(SMART_HOST_BAD)), min_size=0 if bad else 1, max_size=3, unique=True)):
        if option in taken or option in bad:
            continue
        args[option] = draw(_pick(SMART_HOST_BAD[option]))
        bad.append(option)
    if args.get("hosts") == [] and "hosts" not in bad and not (args.get("exclusive") is True and args.get("fallback_to_dns") is True):
        bad.append("hosts")
    return {"module": "smart_host", "args": args, "bad": sorted(set(bad))}


@st.composite
def info_case(draw):
    value = draw(_pick([v for v in BAD["name"] if v != HUGE] + [HUGE]))
    return {"module": "send_connector_info", "args": dict(CONNECTION, name=value), "bad": ["name"]}


TRACE_BAD = {
    "message_id": CONTROL + [["x"], {"a": 1}],
    "sender": CONTROL + [["x"], "not an address", "<a@b.example>", "a@", "@b.example", "a@b..example"],
    "recipients": [["a\nb"], [{"a": 1}], {"a": 1}, ["a\x00b"], ["nobody"], ["a@b.example", "x y@z.example"]],
    "subject": CONTROL,
    "start": BAD["time"],
    "end": BAD["time"],
    "servers": [v for v in BAD["servers"] if v != "EX01"],
    "connector": [v for v in BAD["name"] if v not in ("", " ")],
    "wait_for": ["sent", "", "SEND ", 1],
    "fail_on_timeout": BAD["bool"],
    "stop_on_defer": BAD["bool"],
    "timeout": BAD["int"] + [-1, 10 ** 9],
    "poll_interval": BAD["float"] + [0, -1, 1e9],
    "result_size": BAD["int"] + [-1, 1099511627776, 2 ** 31],
    "messages": [[{"connector": "x"}], [{"message_id": "a\nb"}], [5], "x", [{"message_id": "m", "bogus": 1}],
                 [{"message_id": "m", "servers": ["EX01\x00"]}]],
}
TRACE_CROSS = [
    ({"wait_for": "send", "message_id": None}, ["wait_for"]),
    ({"start": "2026-05-02T00:00:00Z", "end": "2026-05-01T00:00:00Z"}, ["end"]),
    # a declared constraint: the checker names both options (as it words every module's constraints)
    ({"messages": [{"message_id": "<m@x.example>"}], "message_id": "<n@x.example>"}, ["messages and message_id"]),
    ({"messages": [], "message_id": None}, ["messages"]),
]


@st.composite
def trace_case(draw):
    args = dict(CONNECTION, message_id="<a@b.example>")
    bad: list[str] = []
    if draw(st.booleans()):
        settings, paths = draw(_pick(TRACE_CROSS))
        args.update(settings)
        bad += paths
    taken = set(args) - set(CONNECTION) - {"message_id"} if bad else set()
    if "wait_for" in bad:  # the rule is about the identifying options: leave them out
        taken |= {"message_id", "sender", "recipients", "subject", "messages"}
    for option in draw(st.lists(_pick(sorted(TRACE_BAD)), min_size=0 if bad else 1, max_size=3, unique=True)):
        if option in taken or option in bad or option == "message_id" and args.get("messages") is not None:
            continue
        if option in ("start", "end") and "end" in bad:
            continue
        args[option] = draw(_pick(TRACE_BAD[option]))
        bad.append(option)
    args = {k: v for k, v in args.items() if v is not None}
    return {"module": "message_trace", "args": args, "bad": sorted(set(bad))}


@st.composite
def connectors_case(draw):
    """send_connectors: bad settings in several items, paths connectors[i].option."""
    items = [{"name": "Fuzz %d" % i, "address_spaces": ["fuzz%d.example" % i]} for i in range(3)]
    bad = []
    for index in draw(st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True)):
        option = draw(_pick(sorted(o for o in OPTION_KIND if o != "name")))
        items[index][option] = draw(_pick(bad_for(option)))
        bad.append("connectors[%d].%s" % (index, option))
    return {"module": "send_connectors", "args": dict(CONNECTION, connectors=items), "bad": sorted(bad)}


PROBE_BAD = {
    "hosts": [["bad host!"], ["a\r\nb"], [5], [HUGE], "x\x00"],
    "port": BAD["int"] + [0, -1, 65536],
    "connect_address": ["a\x00b", "bad host!", ["x"]],
    "tls_domain": BAD["domain"],
    "require_tls": BAD["bool"],
    "ignore_starttls": BAD["bool"],
    "tls_auth_level": ["Bogus", ["x"], "EncryptionOnly\n"],
    "smart_host_auth_mechanism": ["Bogus", "", ["x"], "BasicAuth\x00"],
    # (an empty user name is not refused by smtp_probe when no AUTH is wanted: left to its owner)
    "authentication_credential": [v for v in BAD["credential"] if not (isinstance(v, dict) and v.get("username") == "")],
    "max_message_size": ["garbage (1,024 bytes)", "1" + "0" * 400 + "TB", "(" + " " * 3000 + "x", "nan", HUGE],
    "timeout": ["inf", "nan", math.inf, math.nan, -1, 0, "abc", 1e300],
    "fail_on": [["fatal"], "bogus", [5]],
    "helo_name": ["fuzz\r\nMAIL FROM:<inj@x.example>", "a b", "\x00", HUGE],
    "mail_from": ["a@b.example\r\nRSET", "not an address", "<a@b>", "a\x00@b.example"],
    "rcpt_to": [["x\r\nRSET"], ["nope"], "a@b\n"],
    "send_test_message": [{"from": "a@b.example\r\nRSET", "to": ["c@d.example"]}, {"to": ["c@d.example"]},
                          {"from": "a@b.example", "to": ["x\ny"]}, "x"],
    "targets": [[{"host": "a\r\nb"}], [{"port": 25}], [{"host": "h.example", "port": 70000}], "x", [5]],
}


@st.composite
def probe_case(draw, port):
    args = {"hosts": ["127.0.0.1"], "port": port, "timeout": 2}
    bad = []
    for option in draw(st.lists(_pick(sorted(PROBE_BAD)), min_size=1, max_size=3, unique=True)):
        args[option] = draw(_pick(PROBE_BAD[option]))
        bad.append(option)
    if "targets" in args:
        args.pop("hosts", None)
    return {"module": "smtp_probe", "args": args, "bad": sorted(bad)}


# ---- the preflight: send_connector_preflight's probe and fail_on, and send_connectors' preflight option ----------
PREFLIGHT_BAD = {
    "enabled": BAD["bool"],
    "ca_cert": CONTROL + [["x"], "/nonexistent/mailflow-ca.pem"],
    "timeout": PROBE_BAD["timeout"],
    "connect_addresses": [{"relay.contoso.com": "bad host!"}, {"relay.contoso.com": "a\x00b"}, "x", [1],
                          {"relay.contoso.com": ["1.2.3.4"]}],
    "helo_name": PROBE_BAD["helo_name"],
    "login": BAD["bool"],
}
FAIL_ON_BAD = [["fatal"], "bogus", [5], ["error", "Error "]]


def _preflight_items(draw, bad: list) -> list:
    """Two valid smart-host connectors, and sometimes a bad setting in one of them (paths connectors[i].option)."""
    items = [{"name": "Fuzz %d" % i, "address_spaces": ["fuzz%d.example" % i], "smart_hosts": ["relay.contoso.com"],
              "dns_routing_enabled": False} for i in range(2)]
    if draw(st.booleans()):
        index = draw(st.integers(0, 1))
        option = draw(_pick(sorted(o for o in OPTION_KIND if o not in ("name", "smart_hosts", "dns_routing_enabled"))))
        items[index][option] = draw(_pick(bad_for(option)))
        bad.append("connectors[%d].%s" % (index, option))
    return items


def _preflight_options(draw, prefix: str, bad: list) -> dict:
    """1-2 bad probe suboptions and/or a bad fail_on; paths under ``prefix`` ("" for the module, "preflight")."""
    out: dict = {}
    probe = {}
    for option in draw(st.lists(_pick(sorted(PREFLIGHT_BAD)), min_size=0, max_size=2, unique=True)):
        probe[option] = draw(_pick(PREFLIGHT_BAD[option]))
        bad.append(path_of("probe." + option, prefix))
    if probe:
        out["probe"] = probe
    if not probe or draw(st.booleans()):
        out["fail_on"] = draw(_pick(FAIL_ON_BAD))
        bad.append(path_of("fail_on", prefix))
    return out


@st.composite
def preflight_case(draw):
    """send_connector_preflight: bad probe suboptions, fail_on, and item settings, all named in one message."""
    bad: list = []
    args = dict(CONNECTION, connectors=_preflight_items(draw, bad), **_preflight_options(draw, "", bad))
    return {"module": "send_connector_preflight", "args": args, "bad": sorted(bad)}


@st.composite
def connectors_preflight_case(draw):
    """send_connectors with preflight: the same rules, paths preflight.probe.option and preflight.fail_on."""
    bad: list = []
    items = _preflight_items(draw, bad)
    args = dict(CONNECTION, connectors=items, preflight=_preflight_options(draw, "preflight", bad))
    return {"module": "send_connectors", "args": args, "bad": sorted(bad)}


ROUTE_BAD = {
    "name": ["", " ", 5, ["n"]],
    "smart_hosts": ["relay.contoso.com", [""], [5], [["x"]], {"a": 1}],
    "source_transport_servers": ["EX01", [" "], [5], [{"a": 1}]],
    "tls_certificate_name": BAD["certname"],
    "max_message_size": BAD["size"],
    "is_scoped_connector": ["maybe", 2, [True], "yes please"],
    "frontend_proxy_enabled": ["maybe", 2, {"a": 1}],
}


@st.composite
def route_case(draw):
    """send_connector_route: bad connector keys (connectors[i].key), SIZE limits and fail_on."""
    items = [{"name": "Route %d" % i, "smart_hosts": ["relay%d.contoso.com" % i], "source_transport_servers": ["EX01"]}
             for i in range(2)]
    args = dict(CONNECTION, connectors=items)
    bad = []
    for choice in draw(st.lists(_pick(["item", "sizes", "fail_on"]), min_size=1, max_size=3, unique=True)):
        if choice == "item":
            index = draw(st.integers(0, 1))
            key = draw(_pick(sorted(ROUTE_BAD)))
            items[index][key] = draw(_pick(ROUTE_BAD[key]))
            bad.append("connectors[%d].%s" % (index, key))
        elif choice == "sizes":
            args["smart_host_sizes"] = {"relay0.contoso.com": draw(_pick([-1, "big", True, 1.5, [1]]))}
            bad.append("smart_host_sizes.relay0.contoso.com")
        else:
            args["fail_on"] = draw(_pick(FAIL_ON_BAD))
            bad.append("fail_on")
    return {"module": "send_connector_route", "args": args, "bad": sorted(bad)}
