# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

From (what the task wants, what Exchange has) to the one cmdlet call that closes the gap.

Only settings the task gives are managed. Both sides are compared in canonical form
(``_options.Option.canonical``/``key``), so ``*`` equals ``SMTP:*;1`` and ``[192.168.3.2]``
equals ``192.168.3.2``. A plan holds the parameters of at most one ``New-SendConnector`` or
``Set-SendConnector`` call, the state after it, and the warnings to show.
"""

from __future__ import annotations

from typing import Any, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.options import BY_NAME, CREATE, SETTINGS, create_defaults


class Credential:
    """A user name and password on their way to a PSCredential; never rendered or returned."""

    def __init__(self, username: str, password: str) -> None:
        self.username = username
        self.password = password

    def __repr__(self) -> str:  # never leak the password through a repr
        return "Credential(username=%r, password=<hidden>)" % self.username


class Plan:
    def __init__(self) -> None:
        self.cmdlet: Optional[str] = None
        self.params: list[tuple[str, Any]] = []
        self.changed_keys: list[str] = []
        self.before: dict[str, Any] = {}
        self.after: dict[str, Any] = {}
        self.warnings: list[str] = []
        self.errors: list[str] = []
        # Exchange ran the Set- and answered that nothing was modified (a password sent again, unchanged)
        self.unmodified = False

    @property
    def changed(self) -> bool:
        return self.cmdlet is not None and not self.unmodified


def _has_hosts(value: Any) -> bool:
    if isinstance(value, list):
        return bool(value)
    if isinstance(value, dict):
        return bool(value.get("add"))
    return False


def implied(task: dict[str, Any]) -> dict[str, Any]:
    """The task with what it implies: smart hosts given -> dns_routing_enabled false (docs/exchange-rules.md R8)."""
    result = dict(task)
    if result.get("dns_routing_enabled") is None and _has_hosts(result.get("smart_hosts")):
        result["dns_routing_enabled"] = False
    return result


# Stricter than Exchange on purpose (issue 15): New-SendConnector routes by DNS unless told otherwise, so a create
# that names no smart host would quietly make a connector that delivers straight to the recipients' MX hosts (with
# address space * to the whole Internet). A create must say which routing it means (docs/exchange-rules.md R23).
DNS_CHOICE = ("required to create a connector without smart hosts: Exchange would route it by DNS, delivering mail "
              "for its address spaces straight to the recipients' MX hosts (address space * is the whole Internet); "
              "state dns_routing_enabled: true if that is meant, or give smart_hosts")


def dns_choice_problem(task: dict[str, Any]) -> Optional[str]:
    """The refusal of a create that names neither smart hosts nor dns_routing_enabled (``field: rule``), or None.

    ``task`` is a create's settings as given (None = not given). The rule that removing the last smart host needs
    an explicit choice too is the engine's (it needs the connector as it is)."""
    if task.get("dns_routing_enabled") is None and not _has_hosts(task.get("smart_hosts")):
        return "dns_routing_enabled: " + DNS_CHOICE
    return None


def plan_present(
    name: str,
    task: dict[str, Any],
    current: Optional[dict[str, Any]],
    update_password: str = "on_create",
) -> Plan:
    """Plan for ``state: present``. ``task`` holds only given settings (raw user values)."""
    plan = Plan()
    task = implied({k: val for k, val in task.items() if val is not None})
    creating = current is None
    plan.before = {} if creating else dict(current, name=name)
    if creating:
        problem = dns_choice_problem(task)
        if problem:
            plan.errors.append(problem)
        # Exchange fills in what the command leaves out; predict it, so that check mode shows the connector
        # Exchange would create and the rules (docs/exchange-rules.md R11, R13, ...) are checked against the real defaults.
        after: dict[str, Any] = dict(create_defaults(task.get("usage")), name=name)
    else:
        after = dict(current, name=name)
    params: list[tuple[str, Any]] = []
    for opt in SETTINGS:
        if opt.name not in task:
            continue
        value = task[opt.name]
        if opt.scope == CREATE:
            if creating:
                canon = opt.canonical(value)
                params.append((opt.param, opt.wire(canon)))
            # else: Exchange sets it only at creation and never shows it, so on an existing connector it is ignored,
            # quietly: a correct playbook names it on every run, and a warning each time would teach people to
            # ignore warnings (documented with the option).
            continue
        if opt.kind.secret:  # Exchange cannot show it: sent when the user differs, or always with update_password
            wanted = {"username": value["username"]}
            password = value.get("password")
            have = None if creating else current.get(opt.name)
            needed = creating or not opt.same(wanted, have)
            if needed and password is None and creating:
                plan.errors.append(
                    "%s.password: required: a new connector needs a password on create (user %s)"
                    % (opt.name, value["username"]))
            elif needed and password is None:
                plan.errors.append(
                    "%s.password: required to set the credential of user %s (Exchange cannot show the current "
                    "password, so it cannot be kept)" % (opt.name, value["username"])
                )
            elif needed or (update_password == "always" and password is not None):
                params.append((opt.param, Credential(value["username"], password)))
                after[opt.name] = wanted
                plan.changed_keys.append(opt.name)
            continue
        new, send, wire = opt.desired(value, None if creating else current.get(opt.name), creating)
        if opt.at_least_one and send and not new:
            plan.errors.append("%s: this change would leave none; %s" % (opt.name, opt.at_least_one))
        after[opt.name] = new
        if send:
            params.append((opt.param, wire))
            plan.changed_keys.append(opt.name)
    if not creating and current.get("dns_routing_enabled") is False and after.get("dns_routing_enabled") is True:
        _switch_to_dns(plan, name, task, current, after)
    plan.after = after
    if creating:
        plan.cmdlet = "New-SendConnector"
        plan.params = [("Name", name)] + params
    elif params:
        plan.cmdlet = "Set-SendConnector"
        plan.params = [("Identity", name)] + params
    return plan


def _switch_to_dns(plan: Plan, name: str, task: dict[str, Any], current: dict[str, Any], after: dict[str, Any]) -> None:
    """Exchange's side effects of ``-DNSRoutingEnabled $true`` on a smart-host connector, in the plan.

    Exchange clears SmartHosts, sets SmartHostAuthMechanism to None and drops the stored credential; the
    after-state (and so ``--diff``) shows it, and a warning says what is lost: switching back later needs
    the credential's password again.
    """
    dropped = []
    hosts = current.get("smart_hosts") or []
    if hosts and "smart_hosts" not in task:
        after["smart_hosts"] = []
        dropped.append("its smart hosts (%s)" % ", ".join(str(h) for h in hosts))
    mechanism = current.get("smart_host_auth_mechanism")
    if mechanism not in (None, "None") and "smart_host_auth_mechanism" not in task:
        after["smart_host_auth_mechanism"] = "None"
        dropped.append("smart_host_auth_mechanism %s (now None)" % mechanism)
    credential = current.get("authentication_credential")
    if credential and "authentication_credential" not in task:
        after["authentication_credential"] = None
        dropped.append("the stored credential of user %s" % (credential.get("username") if isinstance(credential, dict) else credential))
    if not dropped:
        return
    for key in ("smart_hosts", "smart_host_auth_mechanism", "authentication_credential"):
        if after.get(key) != current.get(key) and key not in plan.changed_keys:
            plan.changed_keys.append(key)
    plan.warnings.append(
        "connector %r: switching to DNS routing makes Exchange drop %s; switching back to smart hosts later needs "
        "them again, the credential with its password" % (name, ", ".join(dropped)))


def plan_absent(name: str, current: Optional[dict[str, Any]]) -> Plan:
    plan = Plan()
    if current is not None:
        plan.before = dict(current, name=name)
        plan.cmdlet = "Remove-SendConnector"
        plan.params = [("Identity", name), ("Confirm", False)]
    return plan


def state_for_validation(after: dict[str, Any]) -> dict[str, Any]:
    """The after-state in the shape the ``state`` schema expects (usage is never part of it)."""
    return {k: val for k, val in after.items() if k in BY_NAME or k == "name"}
