"""Dangerous defaults need an explicit choice (issue 15), through ansible-playbook against the lab.

* Creating a connector without smart hosts (Exchange would route it by DNS: with address space ``*`` straight to
  the whole Internet) needs ``dns_routing_enabled: true`` stated, in ``send_connector`` and in every
  ``send_connectors`` item; the refusal names the field and comes before any write. Removing a connector's last
  smart host needs DNS routing stated too.
* An address space whose type is a URL scheme (``https:contoso.com``, ``mailto:...``) is refused before any call.

The lab, like Exchange, would accept both (``New-SendConnector`` routes by DNS by default and takes any text as an
address space type; ``test_rules_agree_with_lab.py`` checks the lab side): the client is stricter on purpose.
Every refusal is measured on the lab's counters and on the connectors it holds afterwards.
"""

from __future__ import annotations

import yaml

from send_connector_harness import delta

RULE = "required to create a connector without smart hosts"


def bulk(connectors, name="bulk"):
    return "- name: %s\n  mailflow.exchange.send_connectors:\n    connectors: %s\n  ignore_errors: true\n" % (
        name, yaml.safe_dump(connectors, default_flow_style=True, width=100000).strip())


def single(settings, name="one"):
    return "- name: %s\n  mailflow.exchange.send_connector: %s\n  ignore_errors: true\n" % (
        name, yaml.safe_dump(settings, default_flow_style=True, width=100000).strip())


def names(ansible):
    res = ansible.play("- name: read\n  mailflow.exchange.send_connector_info: {}\n").result("read")
    assert not res["failed"], res
    return sorted(c["name"] for c in res["connectors"])


def test_a_create_without_smart_hosts_is_refused_in_every_entry_point_before_any_write(ansible, lab):
    existing = names(ansible)
    before = lab.counters()
    run = ansible.play(
        single({"name": "Direct A", "address_spaces": ["*"]}, "module")
        + single({"name": "Direct B", "address_spaces": ["b.example"], "smart_hosts": []}, "empty list")
        + bulk([{"name": "Relayed C", "address_spaces": ["c.example"], "smart_hosts": ["192.0.2.80"]},
                {"name": "Direct D", "address_spaces": ["d.example"]},
                {"name": "Direct E", "address_spaces": ["e.example"], "smart_hosts": {"remove": ["192.0.2.1"]}}]))
    module = run.result("module")
    assert module["failed"] and module["msg"].startswith("the Send connector 'Direct A' cannot be created"), module
    assert "dns_routing_enabled: " + RULE in module["msg"] and "state dns_routing_enabled: true" in module["msg"], module
    assert "address space * is the whole Internet" in module["msg"], module
    empty = run.result("empty list")
    assert empty["failed"] and "dns_routing_enabled: " + RULE in empty["msg"], empty
    items = run.result("bulk")
    assert items["failed"], items
    assert any(e.startswith("connectors[1].dns_routing_enabled: " + RULE) and "(connector 'Direct D')" in e
               for e in items["errors"]), items["errors"]
    assert any(e.startswith("connectors[2].dns_routing_enabled: " + RULE) for e in items["errors"]), items["errors"]
    assert "nothing was changed" in items["msg"] and not any(e.startswith("connectors[0]") for e in items["errors"])
    moved = delta(before, lab.counters())
    assert not moved.get("writes") and not moved.get("cmdlet:New-SendConnector"), moved
    assert names(ansible) == existing  # Relayed C (valid) was not created either: one list, all or nothing


def test_stating_dns_routing_creates_the_connector(ansible, lab):
    before = lab.counters()
    run = ansible.play(single({"name": "Partner direct", "address_spaces": ["partner.example;5"],
                               "dns_routing_enabled": True}, "stated")
                       + bulk([{"name": "Partner direct 2", "address_spaces": ["partner2.example"],
                                "dns_routing_enabled": True}]))
    stated = run.result("stated")
    assert stated["changed"] and not stated["failed"], stated
    assert stated["commands"] == ["New-SendConnector -Name 'Partner direct' -AddressSpaces 'SMTP:partner.example;5' "
                                  "-DNSRoutingEnabled $true"]
    assert stated["connector"]["dns_routing_enabled"] is True and stated["connector"]["smart_hosts"] == []
    assert run.result("bulk")["changed"] and not run.result("bulk")["failed"]
    assert delta(before, lab.counters()).get("writes") == 2
    # an existing DNS-routed connector is changed without saying it again
    again = ansible.play(single({"name": "Partner direct", "port": 587}, "change")).result("change")
    assert again["changed"] and not again["failed"], again


def test_removing_the_last_smart_host_needs_dns_routing_stated(ansible, lab):
    made = ansible.play(single({"name": "Last host", "address_spaces": ["last.example"], "smart_hosts": ["192.0.2.90"]},
                               "make")).result("make")
    assert made["changed"] and not made["failed"], made
    before = lab.counters()
    run = ansible.play(single({"name": "Last host", "smart_hosts": []}, "module")
                       + bulk([{"name": "Last host", "smart_hosts": []}])
                       + "- name: smart host\n  mailflow.exchange.smart_host: {connector: Last host, hosts: [192.0.2.90],"
                         " state: absent}\n  ignore_errors: true\n")
    module = run.result("module")
    # send_connector has no fallback_to_dns: its refusal names the option it has
    assert module["failed"] and "smart_hosts: this would remove the last smart host of 'Last host'" in module["msg"]
    assert "set dns_routing_enabled: true to switch it to DNS routing" in module["msg"], module
    assert "set fallback_to_dns: true" in run.result("bulk")["msg"], run.result("bulk")
    assert "set fallback_to_dns: true" in run.result("smart host")["msg"], run.result("smart host")
    assert not delta(before, lab.counters()).get("writes")
    switched = ansible.play(single({"name": "Last host", "smart_hosts": [], "dns_routing_enabled": True},
                                   "switch")).result("switch")
    assert switched["changed"] and not switched["failed"], switched
    assert switched["connector"]["dns_routing_enabled"] is True and switched["connector"]["smart_hosts"] == []


def test_an_address_space_type_that_is_a_url_scheme_is_refused_before_any_call(ansible, lab):
    existing = names(ansible)
    before = lab.counters()
    run = ansible.play(
        single({"name": "Web", "address_spaces": ["https:contoso.com"], "smart_hosts": ["192.0.2.91"]}, "module")
        + bulk([{"name": "Mail link", "smart_hosts": ["192.0.2.92"],
                 "address_spaces": ["contoso.com", {"type": "mailto", "domain": "postmaster@contoso.com"}]}]))
    module = run.result("module")
    assert module["failed"] and any(e.startswith("address_spaces[0]: 'https:contoso.com' looks like a URL")
                                    for e in module["errors"]), module
    items = run.result("bulk")
    assert items["failed"] and any(e.startswith("connectors[0].address_spaces[1]: 'mailto:postmaster@contoso.com' "
                                                "looks like a URL") for e in items["errors"]), items
    moved = delta(before, lab.counters())
    assert not any(k.startswith(("cmdlet", "runspaces", "writes")) for k in moved), moved
    assert names(ansible) == existing
    # a documented custom type (a non-SMTP system's addresses) is taken, with smart hosts and DNS routing off (R6)
    notes = ansible.play(single({"name": "Notes gateway", "address_spaces": ["NOTES:Domain/Org;2"],
                                 "smart_hosts": ["192.0.2.93"]}, "notes")).result("notes")
    assert notes["changed"] and not notes["failed"], notes
    assert notes["connector"]["address_spaces"] == ["NOTES:Domain/Org;2"]
