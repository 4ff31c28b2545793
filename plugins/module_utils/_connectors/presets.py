# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

THE table of smart host provider presets (``smart_host_profile``). send_connector, smart_host,
send_connectors' items, the role's items and the audit all call :func:`resolve`; nothing else
knows a provider's rules.

A preset:

* sets the connector values the provider needs (``settings``). Values the task gives itself win;
  :func:`resolve` says which values came from the preset, so the diff can show it;
* refuses what the provider cannot work with (``refuse``: errors, checked on the values as they
  will be, before any change);
* raises findings a person must know (``findings``: severity, code, message, hint), e.g. the
  retirement of Basic authentication for Microsoft 365 client submission;
* tells the probe what to expect: the settings above are what the probe checks the smart host
  against (port, TLS, certificate level and domain, AUTH), plus ``hosts`` (the provider's host
  names, a finding when a smart host is not one of them).

Where each provider fact comes from is in ``source`` (and in the README's preset table).
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.smart_host import BASIC_AUTH as BASIC

IMPLICIT_TLS_PORTS = (465, 2465)  # SMTPS: Exchange's Send connector speaks STARTTLS only


def _mech(values: dict[str, Any]) -> str:
    return str(values.get("smart_host_auth_mechanism") or "None").lower()


def _user(values: dict[str, Any]) -> Optional[str]:
    cred = values.get("authentication_credential")
    return cred.get("username") if isinstance(cred, dict) and cred.get("username") else None


def _password(values: dict[str, Any]) -> Optional[str]:
    cred = values.get("authentication_credential")
    return cred.get("password") if isinstance(cred, dict) and cred.get("password") else None


def _finding(severity: str, code: str, message: str, hint: str) -> dict[str, str]:
    return {"severity": severity, "code": code, "message": message, "hint": hint}


class Preset:
    def __init__(self, name: str, title: str, source: str, settings: dict[str, Any], *,
                 hosts: tuple[str, ...] = (), ports: tuple[int, ...] = (),
                 refuse: Optional[Callable[[dict[str, Any]], list[str]]] = None,
                 findings: Optional[Callable[[dict[str, Any]], list[dict[str, str]]]] = None,
                 notes: str = "") -> None:
        self.name = name
        self.title = title
        self.source = source
        self.settings = settings
        self.hosts = hosts  # host names or ".suffix" patterns the provider uses
        self.ports = ports  # the ports the provider accepts for STARTTLS
        self._refuse = refuse
        self._findings = findings
        self.notes = notes

    def host_matches(self, host: str) -> bool:
        host = str(host).lower().rstrip(".")
        for pattern in self.hosts:
            if pattern.startswith(".") and host.endswith(pattern):
                return True
            if host == pattern:
                return True
        return False

    def refuse(self, values: dict[str, Any]) -> list[str]:
        errors = []
        port = values.get("port")
        if isinstance(port, int) and port in IMPLICIT_TLS_PORTS:
            errors.append("port: %d is implicit TLS (SMTPS); an Exchange Send connector speaks STARTTLS only, use %s"
                          % (port, " or ".join(str(p) for p in self.ports) or "587"))
        elif self.ports and isinstance(port, int) and port not in self.ports:
            errors.append("port: %s does not accept %d; use %s" % (self.title, port, " or ".join(str(p) for p in self.ports)))
        if values.get("require_tls") and values.get("ignore_starttls"):
            errors.append("ignore_starttls: must be false with %s (the provider needs TLS)" % self.title)
        if self._refuse:
            errors.extend(self._refuse(values))
        return errors

    def findings(self, values: dict[str, Any]) -> list[dict[str, str]]:
        found = []
        hosts = values.get("smart_hosts")
        if self.hosts and isinstance(hosts, list):
            for host in hosts:
                if not self.host_matches(str(host)):
                    found.append(_finding(
                        "warning", "profile_host",
                        "smart host %s is not one of %s's hosts (%s)" % (host, self.title, ", ".join(self.hosts)),
                        "check the smart host, or drop smart_host_profile: %s" % self.name))
        if self._findings:
            found.extend(self._findings(values))
        return found


# --- per provider rules -------------------------------------------------------------------------
def _needs_basic(title: str) -> Callable[[dict[str, Any]], list[str]]:
    def check(values: dict[str, Any]) -> list[str]:
        if _mech(values) not in BASIC:
            return ["smart_host_auth_mechanism: %s needs SMTP AUTH (BasicAuthRequireTLS), got %s"
                    % (title, values.get("smart_host_auth_mechanism"))]
        if _mech(values) == "basicauth":
            return ["smart_host_auth_mechanism: BasicAuth may send the password before TLS; %s needs BasicAuthRequireTLS"
                    % title]
        return []
    return check


def _m365_mx_refuse(values: dict[str, Any]) -> list[str]:
    errors = []
    if _mech(values) != "none":
        errors.append("smart_host_auth_mechanism: the Microsoft 365 MX endpoint takes no SMTP AUTH; use None (the tenant's "
                      "inbound connector recognises the organisation by its certificate or IP address)")
    if values.get("require_tls") is False:
        errors.append("require_tls: must be true for the Microsoft 365 MX endpoint (the inbound connector requires TLS)")
    if values.get("tls_auth_level") == "EncryptionOnly":
        errors.append("tls_auth_level: EncryptionOnly does not check Microsoft 365's certificate; use DomainValidation "
                      "(or CertificateValidation)")
    return errors


def _m365_mx_findings(values: dict[str, Any]) -> list[dict[str, str]]:
    found = []
    if not values.get("tls_certificate_name"):
        found.append(_finding(
            "warning", "m365_certificate",
            "tls_certificate_name is not set: Exchange Online cannot attribute the mail to the tenant through a "
            "certificate-based inbound connector",
            "set tls_certificate_name to <I>issuer<S>subject of the certificate the tenant's inbound connector expects"))
    if not values.get("fqdn"):
        found.append(_finding(
            "info", "m365_fqdn", "fqdn is not set: the EHLO name is the transport server's own name",
            "set fqdn to a name in the certificate of tls_certificate_name"))
    return found


def _m365_submission_refuse(values: dict[str, Any]) -> list[str]:
    user = _user(values)
    if user and "@" not in user:
        return ["authentication_credential.username: Microsoft 365 client submission logs in as a mailbox (user@domain), "
                "got a name without @"]
    return []


def _m365_submission_findings(values: dict[str, Any]) -> list[dict[str, str]]:
    return [_finding(
        "warning", "m365_basic_auth_retirement",
        "Microsoft 365 client submission (smtp.office365.com:587) with Basic authentication: Microsoft is retiring it; "
        "then every message is refused with 550 5.7.30 Basic authentication is not supported for Client Submission, "
        "and an Exchange Server Send connector cannot use OAuth. It also allows only 3 connections per mailbox at once",
        "send to the tenant's MX endpoint (<tenant>.mail.protection.outlook.com, port 25, smart_host_profile: m365_mx) "
        "with a certificate-based inbound connector in Exchange Online instead")]


_AWS_SECRET = re.compile(r"^[A-Za-z0-9/+]{40}$")


def _ses_refuse(values: dict[str, Any]) -> list[str]:
    errors = []
    user = _user(values) or ""
    if user.startswith("ASIA"):
        errors.append("authentication_credential.username: %s... is a temporary AWS access key (ASIA); Amazon SES SMTP "
                      "needs SMTP credentials of an IAM user" % user[:4])
    password = _password(values)
    if password and _AWS_SECRET.match(password):
        errors.append("authentication_credential.password: has the shape of an AWS secret access key (40 characters); "
                      "Amazon SES SMTP needs the SMTP password (created in the SES console, or derived from the key)")
    return errors


def _sendgrid_refuse(values: dict[str, Any]) -> list[str]:
    user = _user(values)
    if user is not None and user != "apikey":
        return ["authentication_credential.username: SendGrid's SMTP user name is literally apikey (the API key is the "
                "password), got another name"]
    return []


_MAILGUN_API_KEY = re.compile(r"^(key-[0-9a-f]{32}|[0-9a-f]{32}-[0-9a-f]{8}-[0-9a-f]{8})$")


def _mailgun_refuse(values: dict[str, Any]) -> list[str]:
    errors = []
    user = _user(values)
    if user is not None and "@" not in user:
        errors.append("authentication_credential.username: Mailgun's SMTP login is a full address of the sending "
                      "domain (e.g. postmaster@mg.example.com), got a name without @")
    password = _password(values)
    if password and _MAILGUN_API_KEY.match(password):
        errors.append("authentication_credential.password: has the shape of a Mailgun API key; Mailgun SMTP needs the "
                      "domain's SMTP password")
    return errors


def _google_refuse(values: dict[str, Any]) -> list[str]:
    if _mech(values) == "basicauth":
        return ["smart_host_auth_mechanism: Google's SMTP relay allows SMTP AUTH only over TLS; use BasicAuthRequireTLS "
                "(or None with IP address authentication)"]
    return []


def _google_findings(values: dict[str, Any]) -> list[dict[str, str]]:
    if values.get("fqdn"):
        return []
    return [_finding(
        "warning", "google_helo",
        "fqdn is not set: Google's SMTP relay with IP address authentication wants the EHLO name or the sender in one of "
        "your Google Workspace domains",
        "set fqdn to a name in one of your domains")]


def _generic_refuse(values: dict[str, Any]) -> list[str]:
    if _mech(values) == "basicauth":
        return ["smart_host_auth_mechanism: BasicAuth may send the password before TLS; use BasicAuthRequireTLS"]
    return []


_TLS = {"require_tls": True, "ignore_starttls": False}

PRESETS: dict[str, Preset] = {p.name: p for p in [
    Preset(
        "m365_mx", "Microsoft 365 MX endpoint",
        "https://learn.microsoft.com/exchange/mail-flow-best-practices/use-connectors-to-configure-mail-flow/"
        "set-up-connectors-to-route-mail; CSS-Exchange HealthChecker ExoConnectorCheck",
        dict(_TLS, port=25, smart_host_auth_mechanism="None", tls_auth_level="DomainValidation",
             tls_domain="mail.protection.outlook.com", cloud_services_mail_enabled=True),
        hosts=(".mail.protection.outlook.com",), ports=(25,),
        refuse=_m365_mx_refuse, findings=_m365_mx_findings,
        notes="no AUTH; the tenant's inbound connector identifies the organisation by tls_certificate_name"),
    Preset(
        "m365_submission", "Microsoft 365 client submission",
        "https://learn.microsoft.com/exchange/mail-flow-best-practices/how-to-set-up-a-multifunction-device-or-"
        "application-to-send-email-using-microsoft-365-or-office-365; https://techcommunity.microsoft.com/t5/"
        "exchange-team-blog/exchange-online-to-retire-basic-auth-for-client-submission-smtp/ba-p/4114750",
        dict(_TLS, port=587, smart_host_auth_mechanism="BasicAuthRequireTLS", tls_auth_level="CertificateValidation"),
        hosts=("smtp.office365.com",), ports=(587,),
        refuse=lambda values: _needs_basic("Microsoft 365 client submission")(values) + _m365_submission_refuse(values),
        findings=_m365_submission_findings,
        notes="3 concurrent connections per mailbox; Basic authentication being retired (550 5.7.30)"),
    Preset(
        "amazon_ses", "Amazon SES SMTP interface",
        "https://docs.aws.amazon.com/ses/latest/dg/smtp-connect.html; "
        "https://docs.aws.amazon.com/ses/latest/dg/smtp-credentials.html",
        dict(_TLS, port=587, smart_host_auth_mechanism="BasicAuthRequireTLS", tls_auth_level="CertificateValidation"),
        hosts=(".amazonaws.com",), ports=(25, 587, 2587),
        refuse=lambda values: _needs_basic("Amazon SES")(values) + _ses_refuse(values),
        notes="SMTP credentials (user = access key id, SMTP password), not the AWS secret access key"),
    Preset(
        "sendgrid", "Twilio SendGrid SMTP relay",
        "https://www.twilio.com/docs/sendgrid/for-developers/sending-email/integrating-with-the-smtp-api",
        dict(_TLS, port=587, smart_host_auth_mechanism="BasicAuthRequireTLS", tls_auth_level="CertificateValidation",
             smtp_max_messages_per_connection=5000),
        hosts=("smtp.sendgrid.net",), ports=(25, 587, 2525),
        refuse=lambda values: _needs_basic("SendGrid")(values) + _sendgrid_refuse(values),
        notes="user name apikey, password the API key; at most 5,000 messages per connection"),
    Preset(
        "mailgun", "Mailgun SMTP relay",
        "https://documentation.mailgun.com/docs/mailgun/user-manual/smtp-protocol/smtp-relay",
        dict(_TLS, port=587, smart_host_auth_mechanism="BasicAuthRequireTLS", tls_auth_level="CertificateValidation"),
        hosts=("smtp.mailgun.org", "smtp.eu.mailgun.org"), ports=(25, 587, 2525),
        refuse=lambda values: _needs_basic("Mailgun")(values) + _mailgun_refuse(values),
        notes="the domain's SMTP credentials (login@domain), not the API key"),
    Preset(
        "google_relay", "Google Workspace SMTP relay",
        "https://support.google.com/a/answer/2956491",
        dict(_TLS, port=587, tls_auth_level="CertificateValidation"),
        hosts=("smtp-relay.gmail.com",), ports=(25, 587),
        refuse=_google_refuse, findings=_google_findings,
        notes="TLS on 587; IP address or SMTP AUTH (over TLS only); EHLO name or sender in your domains"),
    Preset(
        "generic", "Any authenticated relay",
        "RFC 3207 (STARTTLS), RFC 8314 section 3 (implicit TLS on 465 is not STARTTLS)",
        dict(_TLS, tls_auth_level="CertificateValidation"),
        refuse=_generic_refuse,
        notes="TLS required and the certificate checked; no BasicAuth without TLS; no port 465"),
]}

NAMES = list(PRESETS)
OPTION = "smart_host_profile"  # its row in the option table (options.py) declares it: a choice among NAMES


class Resolved:
    def __init__(self, task: dict[str, Any], from_preset: list[str], errors: list[str], findings: list[dict[str, str]],
                 preset: Optional[Preset]) -> None:
        self.task = task
        self.from_preset = from_preset
        self.errors = errors
        self.findings = findings
        self.preset = preset

    def summary(self) -> Optional[dict[str, Any]]:
        """What the result tells about the preset (None without one)."""
        if self.preset is None:
            return None
        return {"name": self.preset.name, "provider": self.preset.title, "source": self.preset.source,
                "set": {key: self.task[key] for key in self.from_preset}, "findings": self.findings}


def resolve(profile: Optional[str], task: dict[str, Any], current: Optional[dict[str, Any]] = None) -> Resolved:
    """The task with the preset's values under it (the task's own values win), and what the preset refuses and finds.

    ``current`` is the connector as it is (canonical), when known: the rules are checked on the values as they will
    be (the task's, else the preset's, else the current ones).
    """
    if not profile:
        return Resolved(dict(task), [], [], [], None)
    preset = PRESETS.get(str(profile))
    if preset is None:
        return Resolved(dict(task), [], ["%s: must be one of %s, got %r" % (OPTION, ", ".join(NAMES), profile)], [], None)
    merged = dict(task)
    from_preset = []
    for key, value in preset.settings.items():
        if task.get(key) is None:
            merged[key] = value
            from_preset.append(key)
    values = dict(current or {})
    values.update({k: v for k, v in merged.items() if v is not None})
    if isinstance(values.get("smart_hosts"), dict):
        values.pop("smart_hosts")  # add/remove form: the resulting list is not known here
    errors = ["%s (smart_host_profile %s)" % (e, preset.name) for e in preset.refuse(values)]
    return Resolved(merged, from_preset, errors, preset.findings(values), preset)


def check(values: dict[str, Any], profile: str) -> tuple[list[str], list[dict[str, str]]]:
    """(refusals, findings) of a connector's values (canonical) against a preset, as the audit uses them."""
    preset = PRESETS[profile]
    return preset.refuse(values), preset.findings(values)


def guess(values: dict[str, Any]) -> Optional[str]:
    """The preset whose provider hosts a connector's smart hosts point at (None when none does)."""
    hosts = values.get("smart_hosts") or []
    for preset in PRESETS.values():
        if preset.hosts and hosts and all(preset.host_matches(str(h)) for h in hosts):
            return preset.name
    return None
