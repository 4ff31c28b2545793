"""Send connector rules through Organization.invoke(): accepted and rejected cases (table-driven)."""

from __future__ import annotations

import pytest
from psrpcore.types import PSCredential, PSSecureString

from exchange_lab.config import LabConfig, ServerDef
from exchange_lab.org.testing import OrgHarness

SH = {"AddressSpaces": ["*"], "DNSRoutingEnabled": False, "SmartHosts": ["192.168.3.2"]}


def cred(user: str = "relay@contoso.com", password: str = "S3cret!pw") -> PSCredential:
    return PSCredential(UserName=user, Password=PSSecureString(password))


@pytest.fixture
def h(tmp_path):
    config = LabConfig()
    config.servers.append(ServerDef("EDGE01", site="", roles=["Edge"]))
    return OrgHarness(str(tmp_path), config)


ACCEPTED_NEW = [
    ("star", {"AddressSpaces": ["*"]}, "AddressSpaces", [{"Type": "SMTP", "Address": "*", "Cost": 1}]),
    ("star-dot-tld", {"AddressSpaces": ["*.com"]}, "AddressSpaces", [{"Type": "SMTP", "Address": "*.com", "Cost": 1}]),
    ("subdomains", {"AddressSpaces": ["*.contoso.com"]}, "AddressSpaces", [{"Type": "SMTP", "Address": "*.contoso.com", "Cost": 1}]),
    # the type is kept as written (Exchange shows smtp:contoso.com;5; public HealthChecker capture)
    ("typed-costed", {"AddressSpaces": ["smtp:contoso.com;5"]}, "AddressSpaces", [{"Type": "smtp", "Address": "contoso.com", "Cost": 5}]),
    ("cost-100", {"AddressSpaces": ["contoso.com;100", "fabrikam.com;1"]}, "AddressSpaces",
     [{"Type": "SMTP", "Address": "contoso.com", "Cost": 100}, {"Type": "SMTP", "Address": "fabrikam.com", "Cost": 1}]),
    ("single-string", {"AddressSpaces": "contoso.com"}, "AddressSpaces", [{"Type": "SMTP", "Address": "contoso.com", "Cost": 1}]),
    ("x400-costed", {**SH, "AddressSpaces": ["X400:o=MySite;p=MyOrg;a=adatum;c=us;10"]}, "AddressSpaces",
     [{"Type": "X400", "Address": "o=MySite;p=MyOrg;a=adatum;c=us", "Cost": 10}]),
    ("free-type", {**SH, "AddressSpaces": ["NOTES:anything goes"]}, "AddressSpaces", [{"Type": "NOTES", "Address": "anything goes", "Cost": 1}]),
    ("smart-hosts", {**SH, "SmartHosts": ["[10.1.1.1]", "relay.contoso.com"]}, "SmartHosts", ["10.1.1.1", "relay.contoso.com"]),
    ("port-0", {"AddressSpaces": ["*"], "Port": 0}, "Port", 0),
    ("port-max", {"AddressSpaces": ["*"], "Port": 65535}, "Port", 65535),
    ("port-string", {"AddressSpaces": ["*"], "Port": "587"}, "Port", 587),
    ("timeout-min", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "00:00:01"}, "ConnectionInactivityTimeOut", 1),
    ("timeout-day", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "1.00:00:00"}, "ConnectionInactivityTimeOut", 86400),
    ("size-mb", {"AddressSpaces": ["*"], "MaxMessageSize": "10MB"}, "MaxMessageSize", 10485760),
    ("size-space-kb", {"AddressSpaces": ["*"], "MaxMessageSize": "1.5 KB"}, "MaxMessageSize", 1536),
    ("size-bytes-rounded", {"AddressSpaces": ["*"], "MaxMessageSize": "1000"}, "MaxMessageSize", 1024),
    ("size-int-rounded", {"AddressSpaces": ["*"], "MaxMessageSize": 1025}, "MaxMessageSize", 2048),
    ("size-max", {"AddressSpaces": ["*"], "MaxMessageSize": "2147483647B"}, "MaxMessageSize", 2147483647),
    ("size-unlimited", {"AddressSpaces": ["*"], "MaxMessageSize": "Unlimited"}, "MaxMessageSize", None),
    ("messages-1", {"AddressSpaces": ["*"], "SmtpMaxMessagesPerConnection": 1}, "SmtpMaxMessagesPerConnection", 1),
    ("tls-level", {"AddressSpaces": ["*"], "RequireTLS": True, "TlsAuthLevel": "certificatevalidation"}, "TlsAuthLevel", "CertificateValidation"),
    ("domain-validation-sh", {**SH, "RequireTLS": True, "TlsAuthLevel": "DomainValidation", "TlsDomain": "*.contoso.com"}, "TlsDomain", "*.contoso.com"),
    ("domain-validation-dns", {"AddressSpaces": ["*"], "RequireTLS": True, "TlsAuthLevel": "DomainValidation"}, "TlsAuthLevel", "DomainValidation"),
    ("cert-name", {"AddressSpaces": ["*"], "TlsCertificateName": "<I>CN=Contoso CA, DC=contoso, DC=com<S>CN=mail.contoso.com"},
     "TlsCertificateName", "<I>CN=Contoso CA, DC=contoso, DC=com<S>CN=mail.contoso.com"),
    ("domain-secure", {"AddressSpaces": ["fabrikam.com"], "DomainSecureEnabled": True}, "DomainSecureEnabled", True),
    ("basic-auth", {**SH, "SmartHostAuthMechanism": "BasicAuth", "AuthenticationCredential": cred()}, "AuthenticationCredential",
     {"UserName": "relay@contoso.com", "Password": "S3cret!pw"}),
    ("source-servers", {"AddressSpaces": ["*"], "SourceTransportServers": ["ex02", "EX03.contoso.com"]}, "SourceTransportServers", ["EX02", "EX03"]),
    ("coexistence-ignored", {"AddressSpaces": ["*"], "IsCoexistenceConnector": True, "RequireOorg": True}, "RequireOorg", True),
    ("error-policies", {"AddressSpaces": ["*"], "ErrorPolicies": "DowngradeCustomFailures,DowngradeDnsFailures"}, "ErrorPolicies",
     "DowngradeDnsFailures, DowngradeCustomFailures"),
    ("enum-by-number", {"AddressSpaces": ["*"], "ProtocolLoggingLevel": 1}, "ProtocolLoggingLevel", "Verbose"),
    ("bool-from-int", {"AddressSpaces": ["*"], "Enabled": 0}, "Enabled", False),
]


@pytest.mark.parametrize("label,params,key,expected", ACCEPTED_NEW, ids=[c[0] for c in ACCEPTED_NEW])
def test_new_accepts(h, label, params, key, expected):
    result = h.run("New-SendConnector", Name="C1", **params)
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    assert len(result.output) == 1
    assert h.connector("C1")[key] == expected


# (params, FullyQualifiedErrorId start, words the message must contain)
TERMINATING_NEW = [
    ("embedded-wildcard", {"AddressSpaces": ["*contoso.com"]}, "ParameterArgumentTransformationError", ["AddressSpaces", "*contoso.com"]),
    ("cost-0", {"AddressSpaces": ["contoso.com;0"]}, "ParameterArgumentTransformationError", ["AddressSpaces", "between 1 and 100"]),
    ("cost-101", {"AddressSpaces": ["contoso.com;101"]}, "ParameterArgumentTransformationError", ["AddressSpaces", "between 1 and 100"]),
    ("cost-text", {"AddressSpaces": ["contoso.com;x"]}, "ParameterArgumentTransformationError", ["AddressSpaces", "integer"]),
    ("x400-no-cost", {**SH, "AddressSpaces": ["X400:o=MySite;p=MyOrg;a=adatum;c=us"]}, "ParameterArgumentTransformationError", ["AddressSpaces", "explicit cost"]),
    ("port-range", {"AddressSpaces": ["*"], "Port": 70000}, "ParameterBindingFailed", ["Port", "between 0 and 65535"]),
    ("port-negative", {"AddressSpaces": ["*"], "Port": -1}, "ParameterBindingFailed", ["Port", "between 0 and 65535"]),
    ("port-text", {"AddressSpaces": ["*"], "Port": "abc"}, "ParameterArgumentTransformationError", ["Port", "System.Int32"]),
    ("enabled-text", {"AddressSpaces": ["*"], "Enabled": "maybe"}, "ParameterArgumentTransformationError", ["Enabled", "Boolean parameters accept only"]),
    ("timeout-zero", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "00:00:00"}, "ParameterBindingFailed", ["ConnectionInactivityTimeOut", "1.00:00:00"]),
    ("timeout-long", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "1.00:00:01"}, "ParameterBindingFailed", ["ConnectionInactivityTimeOut"]),
    ("timeout-text", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "ten minutes"}, "ParameterArgumentTransformationError", ["ConnectionInactivityTimeOut", "dd.hh:mm:ss"]),
    ("size-2gb", {"AddressSpaces": ["*"], "MaxMessageSize": "2GB"}, "ParameterBindingFailed", ["MaxMessageSize", "2147483647"]),
    ("size-unit", {"AddressSpaces": ["*"], "MaxMessageSize": "10 XB"}, "ParameterArgumentTransformationError", ["MaxMessageSize", "unlimited"]),
    ("messages-0", {"AddressSpaces": ["*"], "SmtpMaxMessagesPerConnection": 0}, "ParameterBindingFailed", ["SmtpMaxMessagesPerConnection"]),
    ("tls-domain-embedded", {"AddressSpaces": ["*"], "TlsDomain": "con*so.com"}, "ParameterArgumentTransformationError", ["TlsDomain", "con*so.com"]),
    ("tls-domain-prefix", {"AddressSpaces": ["*"], "TlsDomain": "*contoso.com"}, "ParameterArgumentTransformationError", ["TlsDomain"]),
    ("cert-name", {"AddressSpaces": ["*"], "TlsCertificateName": "CN=mail.contoso.com"}, "ParameterArgumentTransformationError", ["TlsCertificateName", "<I>"]),
    ("smart-host-syntax", {**SH, "SmartHosts": ["bad host:25"]}, "ParameterArgumentTransformationError", ["SmartHosts", "bad host:25"]),
    ("source-ip", {"AddressSpaces": ["*"], "SourceIPAddress": "10.0.0"}, "ParameterArgumentTransformationError", ["SourceIPAddress"]),
    ("enum-name", {"AddressSpaces": ["*"], "ProtocolLoggingLevel": "Loud"}, "ParameterArgumentTransformationError", ["ProtocolLoggingLevel", "None, Verbose"]),
    ("unknown-param", {"AddressSpaces": ["*"], "Bogus": 1}, "NamedParameterNotFound", ["'Bogus'"]),
    ("no-address-spaces", {}, "MissingMandatoryParameter", ["AddressSpaces"]),
    ("credential-string", {**SH, "AuthenticationCredential": "user:pw"}, "ParameterArgumentTransformationError", ["AuthenticationCredential", "PSCredential"]),
    ("confirm-prompt", {"AddressSpaces": ["*"], "Confirm": True}, "HostFunctionNotImplemented", ["confirmation"]),
    ("null-name", {"AddressSpaces": ["*"], "Name": None}, "ParameterArgumentValidationErrorNullNotAllowed", ["'Name'", "null"]),
    ("empty-name", {"AddressSpaces": ["*"], "Name": ""}, "ParameterArgumentValidationErrorEmptyStringNotAllowed", ["'Name'"]),
    # The syntax the collection also refuses locally (issue 11); the rule agreement test compares both copies.
    ("space-star-dot", {"AddressSpaces": ["*."]}, "ParameterArgumentTransformationError", ["AddressSpaces", "*."]),
    ("space-line-feed", {"AddressSpaces": ["contoso.com\n"]}, "ParameterArgumentTransformationError", ["AddressSpaces"]),
    ("x400-not-rfc1685", {**SH, "AddressSpaces": ["X400:garbage;1"]}, "ParameterArgumentTransformationError", ["RFC 1685"]),
    ("numeric-smart-host", {**SH, "SmartHosts": ["256.1.1.1"]}, "ParameterArgumentTransformationError", ["SmartHosts", "256.1.1.1"]),
    ("ipv6-source-ip", {"AddressSpaces": ["*"], "SourceIPAddress": "::1"}, "ParameterArgumentTransformationError", ["IPv4"]),
    ("cert-name-no-x500", {"AddressSpaces": ["*"], "TlsCertificateName": "<I>Contoso CA<S>mail"}, "ParameterArgumentTransformationError",
     ["TlsCertificateName"]),
    ("size-fraction-of-byte", {"AddressSpaces": ["*"], "MaxMessageSize": "1.3KB"}, "ParameterArgumentTransformationError", ["whole number of bytes"]),
    ("size-garbage-bytes", {"AddressSpaces": ["*"], "MaxMessageSize": "garbage (1,024 bytes)"}, "ParameterArgumentTransformationError",
     ["MaxMessageSize"]),
    ("timespan-fraction", {"AddressSpaces": ["*"], "ConnectionInactivityTimeOut": "00:10:00.5"}, "ParameterArgumentTransformationError",
     ["whole seconds"]),
    ("nul-in-comment", {"AddressSpaces": ["*"], "Comment": "a\x00b"}, "ParameterArgumentTransformationError", ["NUL"]),
]


@pytest.mark.parametrize("label,params,error_id,words", TERMINATING_NEW, ids=[c[0] for c in TERMINATING_NEW])
def test_new_rejects_terminating(h, label, params, error_id, words):
    result = h.run("New-SendConnector", **{"Name": "C1", **params})
    assert result.failure is not None, result.errors
    assert result.failure.fully_qualified_error_id.startswith(error_id)
    for word in words:
        assert word in result.failure.message
    assert h.org.connectors() == []


# (params, FailureCategory exception, words) - written as error records, pipeline completes
TASK_NEW = [
    ("smart-hosts-with-dns", {"AddressSpaces": ["*"], "SmartHosts": ["relay.contoso.com"]}, "DataValidationException", ["SmartHosts", "DNSRoutingEnabled"]),
    ("no-dns-without-hosts", {"AddressSpaces": ["*"], "DNSRoutingEnabled": False}, "DataValidationException", ["DNSRoutingEnabled", "SmartHosts"]),
    ("non-smtp-dns", {"AddressSpaces": ["X400:o=a;c=us;5"]}, "DataValidationException", ["AddressSpaces", "non-SMTP"]),
    ("dash-dash", {"AddressSpaces": ["--"]}, "DataValidationException", ["--", "Edge"]),
    ("basic-no-cred", {**SH, "SmartHostAuthMechanism": "BasicAuth"}, "DataValidationException", ["AuthenticationCredential", "BasicAuth"]),
    ("basictls-no-cred", {**SH, "SmartHostAuthMechanism": "BasicAuthRequireTLS"}, "DataValidationException", ["AuthenticationCredential"]),
    ("auth-on-dns", {"AddressSpaces": ["*"], "SmartHostAuthMechanism": "ExternalAuthoritative"}, "DataValidationException", ["SmartHostAuthMechanism"]),
    ("requiretls-ignore", {"AddressSpaces": ["*"], "RequireTLS": True, "IgnoreSTARTTLS": True}, "DataValidationException", ["IgnoreSTARTTLS", "RequireTLS"]),
    ("level-without-tls", {"AddressSpaces": ["*"], "TlsAuthLevel": "EncryptionOnly"}, "DataValidationException", ["TlsAuthLevel", "RequireTLS"]),
    ("level-ignore-starttls", {"AddressSpaces": ["*"], "RequireTLS": False, "IgnoreSTARTTLS": True, "TlsAuthLevel": "EncryptionOnly"}, "DataValidationException", ["TlsAuthLevel"]),
    ("domainvalidation-no-domain", {**SH, "RequireTLS": True, "TlsAuthLevel": "DomainValidation"}, "DataValidationException", ["TlsDomain", "DomainValidation"]),
    ("domainsecure-smarthost", {**SH, "DomainSecureEnabled": True}, "DataValidationException", ["DomainSecureEnabled", "DNSRoutingEnabled"]),
    ("domainsecure-wildcard", {"AddressSpaces": ["*.fabrikam.com"], "DomainSecureEnabled": True}, "DataValidationException", ["DomainSecureEnabled", "wildcard"]),
    ("two-usages", {"AddressSpaces": ["*"], "Internet": None, "Internal": True}, "ArgumentException", ["Internet", "Internal"]),
    ("usage-and-switch", {"AddressSpaces": ["*"], "Usage": "Partner", "Partner": None}, "ArgumentException", ["Usage"]),
    ("unknown-source", {"AddressSpaces": ["*"], "SourceTransportServers": ["EX09"]}, "ManagementObjectNotFoundException", ["EX09", "DC01.contoso.com"]),
    ("edge-source", {"AddressSpaces": ["*"], "SourceTransportServers": ["EDGE01"]}, "ArgumentException", ["SourceTransportServers", "Edge"]),
    ("linked", {"LinkedReceiveConnector": "EX01\\Default EX01"}, "ArgumentException", ["LinkedReceiveConnector"]),
    ("blank-name", {"AddressSpaces": ["*"], "Name": " "}, "ArgumentException", ["Name"]),
    ("bad-name", {"AddressSpaces": ["*"], "Name": "a/b"}, "ArgumentException", ["Name", "a/b"]),
    ("duplicate-space", {"AddressSpaces": ["contoso.com", "SMTP:Contoso.com;2"]}, "DataValidationException", ["AddressSpaces", "more than once"]),
    ("dash-dash-smart-host", {**SH, "SmartHosts": ["--"]}, "DataValidationException", ["SmartHosts", "EdgeSync"]),
    ("long-name", {"AddressSpaces": ["*"], "Name": "a" * 65}, "ArgumentException", ["Name", "64 characters"]),
    ("line-feed-name", {"AddressSpaces": ["*"], "Name": "a\nb"}, "ArgumentException", ["Name", "line feed"]),
]


@pytest.mark.parametrize("label,params,exc,words", TASK_NEW, ids=[c[0] for c in TASK_NEW])
def test_new_rejects_with_error_record(h, label, params, exc, words):
    params = {"Name": "C1", **params}
    result = h.run("New-SendConnector", **params)
    assert result.failure is None
    assert len(result.errors) == 1 and result.output == []
    err = result.errors[0]
    assert err.fully_qualified_error_id.startswith("[Server=EX01,RequestId=")
    assert f"[FailureCategory=Cmdlet-{exc}]" in err.fully_qualified_error_id
    assert err.fully_qualified_error_id.endswith(",Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector")
    assert err.exception_type.endswith(exc)
    for word in words:
        assert word in err.message
    assert h.org.connectors() == []


def test_duplicate_name_is_org_wide_and_case_insensitive(h):
    assert h.run("New-SendConnector", Name="Outbound", AddressSpaces=["*"]).errors == []
    before = h.org.connectors()
    result = h.run("New-SendConnector", Name="OUTBOUND", AddressSpaces=["contoso.com"], SourceTransportServers=["EX03"])
    assert "[FailureCategory=Cmdlet-ADObjectAlreadyExistsException]" in result.errors[0].fully_qualified_error_id
    assert "already exists" in result.errors[0].message and "CN=OUTBOUND,CN=Connections" in result.errors[0].message
    assert h.org.connectors() == before


def test_source_ip_address_is_stored_with_a_warning(h):
    result = h.run("New-SendConnector", Name="C1", AddressSpaces=["*"], SourceIPAddress="10.0.0.5")
    assert result.errors == [] and any("SourceIPAddress" in w and "Edge" in w for w in result.warnings)
    assert h.connector("C1")["SourceIPAddress"] == "10.0.0.5"


# --- Set ------------------------------------------------------------------------------------


@pytest.fixture
def hs(h):
    assert h.run("New-SendConnector", Name="DNS", AddressSpaces=["contoso.com"]).errors == []
    ok = h.run("New-SendConnector", Name="SH", **SH, SmartHostAuthMechanism="BasicAuth", AuthenticationCredential=cred())
    assert ok.errors == [] and ok.failure is None
    return h


ACCEPTED_SET = [
    ("add-host", "SH", {"SmartHosts": {"Add": ["b.contoso.com"]}}, "SmartHosts", ["192.168.3.2", "b.contoso.com"]),
    ("add-host-keys-ci", "SH", {"SmartHosts": {"ADD": "b.contoso.com", "remove": ["192.168.3.2"]}}, "SmartHosts", ["b.contoso.com"]),
    ("add-existing-host", "SH", {"SmartHosts": {"add": ["[192.168.3.2]"]}}, "SmartHosts", ["192.168.3.2"]),
    ("replace-hosts", "SH", {"SmartHosts": ["x.contoso.com", "y.contoso.com"]}, "SmartHosts", ["x.contoso.com", "y.contoso.com"]),
    ("dns-to-smarthost", "DNS", {"SmartHosts": ["relay.contoso.com"], "DNSRoutingEnabled": False}, "DNSRoutingEnabled", False),
    ("smarthost-to-dns", "SH", {"SmartHosts": None, "DNSRoutingEnabled": True, "SmartHostAuthMechanism": "None"}, "SmartHosts", []),
    ("stored-credential-counts", "SH", {"SmartHostAuthMechanism": "BasicAuthRequireTLS"}, "SmartHostAuthMechanism", "BasicAuthRequireTLS"),
    ("spaces-add-remove", "DNS", {"AddressSpaces": {"Add": ["fabrikam.com;2"], "Remove": ["SMTP:CONTOSO.com"]}}, "AddressSpaces",
     [{"Type": "SMTP", "Address": "fabrikam.com", "Cost": 2}]),
    ("servers-add", "DNS", {"SourceTransportServers": {"Add": ["EX02"]}}, "SourceTransportServers", ["EX01", "EX02"]),
    ("servers-swap", "DNS", {"SourceTransportServers": {"Add": ["EX02"], "Remove": ["ex01"]}}, "SourceTransportServers", ["EX02"]),
    ("clear-fqdn", "DNS", {"Fqdn": None}, "Fqdn", None),
    ("set-fqdn", "DNS", {"Fqdn": "mail.contoso.com"}, "Fqdn", "mail.contoso.com"),
    ("disable", "DNS", {"Enabled": False}, "Enabled", False),
    ("new-credential", "SH", {"AuthenticationCredential": cred("other", "pw2")}, "AuthenticationCredential", {"UserName": "other", "Password": "pw2"}),
]


@pytest.mark.parametrize("label,target,params,key,expected", ACCEPTED_SET, ids=[c[0] for c in ACCEPTED_SET])
def test_set_accepts(hs, label, target, params, key, expected):
    result = hs.run("Set-SendConnector", target, **params)
    assert result.failure is None and result.errors == [], (result.failure, result.errors)
    assert hs.connector(target)[key] == expected


TASK_SET = [
    ("remove-last-host", "SH", {"SmartHosts": {"Remove": ["192.168.3.2"]}}, ["DNSRoutingEnabled", "SmartHosts"]),
    ("hosts-on-dns", "DNS", {"SmartHosts": ["relay.contoso.com"]}, ["SmartHosts", "DNSRoutingEnabled"]),
    ("no-dns-alone", "DNS", {"DNSRoutingEnabled": False}, ["DNSRoutingEnabled"]),
    # (-DNSRoutingEnabled $true alone is no longer refused: Exchange clears SmartHosts, auth and credential;
    # see test_route_behaviours.py)
    ("dns-with-hosts", "SH", {"DNSRoutingEnabled": True, "SmartHosts": ["relay.contoso.com"]}, ["SmartHosts"]),
    ("drop-credential", "SH", {"AuthenticationCredential": None}, ["AuthenticationCredential"]),
    ("basic-on-dns", "DNS", {"SmartHostAuthMechanism": "BasicAuth"}, ["SmartHostAuthMechanism"]),
    ("no-servers", "DNS", {"SourceTransportServers": {"Remove": ["EX01"]}}, ["SourceTransportServers"]),
    ("rename-to-existing", "SH", {"Name": "dns"}, ["already exists"]),
    ("level-on-plain", "DNS", {"TlsAuthLevel": "CertificateValidation"}, ["TlsAuthLevel"]),
]


@pytest.mark.parametrize("label,target,params,words", TASK_SET, ids=[c[0] for c in TASK_SET])
def test_set_rejects_with_error_record(hs, label, target, params, words):
    before = hs.org.connectors()
    result = hs.run("Set-SendConnector", target, **params)
    assert result.failure is None and len(result.errors) == 1
    err = result.errors[0]
    assert err.fully_qualified_error_id.endswith("Microsoft.Exchange.Management.SystemConfigurationTasks.SetSendConnector")
    for word in words:
        assert word in err.message
    assert hs.org.connectors() == before


@pytest.mark.parametrize("param", ["Internet", "Internal", "Custom", "Partner", "Usage"])
def test_set_has_no_usage_parameters(hs, param):
    before = hs.org.connectors()
    result = hs.run("Set-SendConnector", "DNS", **{param: "Internet" if param == "Usage" else None})
    assert result.failure.fully_qualified_error_id.startswith("NamedParameterNotFound,")
    assert f"'{param}'" in result.failure.message
    assert hs.org.connectors() == before


def test_rename_keeps_guid_and_frees_old_name(hs):
    guid = hs.connector("SH")["Guid"]
    assert hs.run("Set-SendConnector", "SH", Name="Smart hosts 2").errors == []
    assert hs.connector("Smart hosts 2")["Guid"] == guid
    gone = hs.run("Get-SendConnector", "SH")
    assert "ManagementObjectNotFoundException" in gone.errors[0].fully_qualified_error_id
    assert hs.run("New-SendConnector", Name="SH", AddressSpaces=["*"]).errors == []


def test_set_identity_forms(hs):
    guid = hs.connector("DNS")["Guid"]
    assert hs.run("Set-SendConnector", guid, Port=26).errors == []
    assert hs.run("Set-SendConnector", "EX01\\DNS", Comment="via server").errors == []
    record = hs.connector("DNS")
    assert record["Port"] == 26 and record["Comment"] == "via server"
    missing = hs.run("Set-SendConnector", "Nope", Port=27)
    assert missing.failure is None
    assert "[FailureCategory=Cmdlet-ManagementObjectNotFoundException]" in missing.errors[0].fully_qualified_error_id
    assert missing.errors[0].message == "The operation couldn't be performed because object 'Nope' couldn't be found on 'DC01.contoso.com'."


def test_whatif_and_confirm_change_nothing(hs):
    before = hs.org.connectors()
    assert hs.run("Set-SendConnector", "DNS", Port=2525, WhatIf=None).errors == []
    prompt = hs.run("Set-SendConnector", "DNS", Port=2525, cf=True)
    assert prompt.failure.fully_qualified_error_id.startswith("HostFunctionNotImplemented,")
    assert hs.run("Remove-SendConnector", "DNS", wi=True).failure is None
    assert hs.org.connectors() == before


def test_set_without_change_warns_and_writes_nothing(hs):
    before = hs.org.connectors()
    result = hs.run("Set-SendConnector", "DNS", Port=25, Enabled=True)
    assert result.errors == [] and result.failure is None
    assert result.warnings == ["The command completed successfully but no settings of 'DNS' have been modified."]
    assert hs.org.connectors() == before and hs.metrics.snapshot()["writes"] == 2


@pytest.mark.parametrize("cmdlet", ["Set-SendConnector", "Remove-SendConnector"])
def test_null_identity_is_refused_on_writes(hs, cmdlet):
    before = hs.org.connectors()
    result = hs.run(cmdlet, Identity=None, Confirm=False)
    assert result.failure.fully_qualified_error_id.startswith("ParameterArgumentValidationErrorNullNotAllowed,")
    assert "'Identity'" in result.failure.message
    assert hs.org.connectors() == before


def test_validation_still_runs_under_whatif(hs):
    result = hs.run("Set-SendConnector", "DNS", DNSRoutingEnabled=False, WhatIf=True)
    assert len(result.errors) == 1 and "DNSRoutingEnabled" in result.errors[0].message


# --- Get / Remove -----------------------------------------------------------------------------


def test_get_identity_null_returns_all(hs):
    assert [o.Name for o in hs.run("Get-SendConnector").output] == ["DNS", "SH"]
    assert [o.Name for o in hs.run("Get-SendConnector", Identity=None).output] == ["DNS", "SH"]
    assert [o.Name for o in hs.run("Get-SendConnector", "s*").output] == ["SH"]
    guid = hs.connector("SH")["Guid"]
    assert [o.Name for o in hs.run("Get-SendConnector", guid).output] == ["SH"]
    assert [o.Name for o in hs.run("Get-SendConnector", "ex02\\dns").output] == ["DNS"]


def test_get_not_found_is_non_terminating(hs):
    result = hs.run("Get-SendConnector", "Nope")
    assert result.failure is None and result.output == []
    err = result.errors[0]
    assert err.fully_qualified_error_id.endswith("Microsoft.Exchange.Management.SystemConfigurationTasks.GetSendConnector")
    assert err.category == 0  # NotSpecified, like Exchange's ManagementObjectNotFoundException
    assert err.exception_type == "Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException"


def test_remove_needs_confirm_false(hs):
    before = hs.org.connectors()
    prompt = hs.run("Remove-SendConnector", "DNS")
    assert prompt.failure.fully_qualified_error_id.startswith("HostFunctionNotImplemented,")
    assert "does not support user interaction" in prompt.failure.message
    assert hs.org.connectors() == before
    assert hs.run("Remove-SendConnector", "DNS", Confirm=False).errors == []
    assert hs.connector("DNS") is None and hs.connector("SH") is not None
    again = hs.run("Remove-SendConnector", "DNS", Confirm=False)
    assert "ManagementObjectNotFoundException" in again.errors[0].fully_qualified_error_id
