"""The emulated Exchange organisation behind the lab's PowerShell endpoint.

``Organization(state_dir, config, metrics)`` implements :class:`exchange_lab.api.Backend`:
users and RBAC (``users.py``), the cmdlet table (``registry.py``) with PowerShell-like
parameter binding (``params.py``), the Send connector cmdlets and rules (``connectors.py``),
Get-ExchangeServer / Set-ADServerSettings / Get-LabCounter (``servers.py``), output objects
shaped like Exchange 2019's over remoting (``shapes.py``) and the crash-safe store
(``store.py``).

Choices where real Exchange behaviour had to be decided (docs/exchange-rules.md says which are documented, seen or ours):

* Terminating vs non-terminating. PowerShell engine errors end the pipeline (state Failed):
  script text in the no-language runspace (ScriptsNotAllowed), unknown command
  (CommandNotFoundException), unknown/ambiguous parameter (NamedParameterNotFound /
  AmbiguousParameter), missing mandatory parameter, argument transformation failures (type
  conversion and value syntax: Port "abc", Enabled "maybe", AddressSpaces "*contoso.com",
  TlsDomain, TlsCertificateName, MaxMessageSize units, time span format) and binding failures
  for out-of-range values (Port, cost, MaxMessageSize, ConnectionInactivityTimeOut,
  SmtpMaxMessagesPerConnection). Task-level errors (cross-parameter rules R4-R16, duplicate
  name, unknown source server, object not found) are written as error records and the pipeline
  completes, which is how pypsrp users see Exchange errors: ``had_errors`` set and an
  ErrorRecord with the ``[Server=...,RequestId=...,TimeStamp=...] [FailureCategory=Cmdlet-...]``
  FullyQualifiedErrorId in ``streams.error``. ``-ErrorAction Stop`` turns such an error into a
  terminating one; ``SilentlyContinue``/``Ignore`` drop it. Nothing is stored when a call fails.
* Read-only user (``viewer``, View-Only Organization Management): RBAC leaves cmdlets the role
  does not grant out of the session, so New/Set/Remove-SendConnector fail with the terminating
  "The term 'New-SendConnector' is not recognized ..." CommandNotFoundException. Get-* cmdlets,
  Set-ADServerSettings (session scope only) and Get-LabCounter are available to it.
* Remove-SendConnector has ConfirmImpact High: without ``-Confirm:$false`` (or with ``-Confirm``
  on any cmdlet) PowerShell would prompt; a remoting client without a host UI gets the
  terminating HostException "A command that prompts the user failed because the host program
  ... does not support user interaction" and nothing is removed. ``-WhatIf`` validates and
  changes nothing.
* R8/R9/R10-R14 are checked on the connector as it would be saved, so a Set on an existing
  connector is judged with its stored values (e.g. SmartHosts on a DNS connector needs
  ``-DNSRoutingEnabled $false`` in the same call; BasicAuth is fine when a credential is
  already stored). R9: a SmartHostAuthMechanism other than None on a DNS-routed connector is
  rejected (the docs say to use it only with smart hosts).
* SourceIPAddress (Edge only): the endpoint is a Mailbox server, so a value is syntax-checked
  (IPv4), stored, ignored, and a warning says so. IsCoexistenceConnector and RequireOorg are
  accepted and stored (they are in the 2016+ syntax) but have no effect; LinkedReceiveConnector
  (2010 only) is rejected with a task error.
* AuthenticationCredential is stored with its password (the lab's mail transport uses it) but a
  client only ever sees a Deserialized PSCredential with UserName and a null Password.
* Usage is stored (lab-internal key ``Usage``) but never output, as in Exchange.
* Get-LabCounter is not counted in the metrics it returns.
* Switching to DNS routing (``-DNSRoutingEnabled $true`` without smart hosts in the same call) clears
  SmartHosts, sets SmartHostAuthMechanism None and drops the credential, as Exchange does.
* TlsDomain needs TlsAuthLevel DomainValidation (Exchange's sentence). TlsCertificateName is looked up in
  the store of the first source server only, and only when it or the source servers are given; servers
  without ``certificates`` in the config have an unmodelled store and are not checked (the error wording
  is the lab's: Exchange's is not documented).
* Select-Object (``pscore.py``) is the one PowerShell core cmdlet of the session, while the config's
  ``core_cmdlets`` lists it (Exchange's list is unverified); it counts as a cmdlet, once per pipeline, without
  ``latency.cmdlet``. Every command of a pipeline counts once, not once per object that reaches it.
* ``cmdlet_server`` (default ``local_server``) is the server that runs the cmdlets behind remote-PowerShell
  proxying: New-SendConnector's default source server and the ``[Server=...]`` of error records.

Extensions add cmdlets with :func:`register` (see ``registry.py``).
"""

from exchange_lab.org.errors import TaskError
from exchange_lab.org.organization import Organization
from exchange_lab.org.params import ListChange, Param
from exchange_lab.org.registry import CmdletDef, Context, register

__all__ = ["CmdletDef", "Context", "ListChange", "Organization", "Param", "TaskError", "register"]
