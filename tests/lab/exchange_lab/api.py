"""The boundary between the PSRP transport and the emulated Exchange organisation.

The transport (``exchange_lab.transport``) turns every PSRP ``CreatePipeline`` into an
:class:`Invocation` and hands it to a :class:`Backend` (``exchange_lab.org.Organization``).
The backend answers with a :class:`PipelineResult`; the transport writes its output objects,
non-terminating errors and warnings to the client and sets the pipeline state (Completed, or
Failed when ``failure`` is set).

Values in ``CommandCall.parameters`` are exactly what psrpcore deserialised from the client
(str, int, bool, None, list, dict for a hashtable, ``psrpcore.types.PSCredential`` whose
password is a ``PSSecureString`` already decryptable with the session key, PSObjects...).
Output objects are psrpcore objects (``PSObject`` subclasses / primitives) that the transport
serialises unchanged.
"""

from __future__ import annotations

import dataclasses
import typing as t


@dataclasses.dataclass
class CommandCall:
    """One command of a pipeline as the client sent it."""

    name: str
    # Ordered (name, value) pairs; name is None for a positional argument. A switch given
    # without a value arrives as (name, None) or (name, True): backends must accept both.
    parameters: list[tuple[str | None, t.Any]]
    is_script: bool = False  # True when the client used add_script (no-language mode refuses)


@dataclasses.dataclass
class Invocation:
    user: str  # the authenticated user name as the lab knows it, e.g. "admin"
    commands: list[CommandCall]
    runspace_id: str = ""
    # The pipeline's input objects (rare for Exchange clients; kept for completeness).
    input: list[t.Any] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class ErrorInfo:
    """Everything the transport needs to build a PowerShell ErrorRecord like Exchange's."""

    message: str
    fully_qualified_error_id: str  # e.g. "[Server=EX01,...] [FailureCategory=Cmdlet-...] 5F3A1B2C,Microsoft.Exchange.Management.SystemConfigurationTasks.NewSendConnector"
    category: int  # System.Management.Automation.ErrorCategory value (psrpcore.types.ErrorCategory)
    exception_type: str = "System.Management.Automation.RuntimeException"  # .NET type name of the exception
    target_object: t.Any = None
    target_name: str = ""
    reason: str = ""  # CategoryInfo.Reason, usually the short exception type name
    activity: str = ""  # CategoryInfo.Activity, usually the cmdlet name


class CmdletFailure(Exception):
    """Raised inside a backend to end the pipeline with a terminating error."""

    def __init__(self, error: ErrorInfo) -> None:
        super().__init__(error.message)
        self.error = error


@dataclasses.dataclass
class PipelineResult:
    output: list[t.Any] = dataclasses.field(default_factory=list)
    errors: list[ErrorInfo] = dataclasses.field(default_factory=list)  # non-terminating
    warnings: list[str] = dataclasses.field(default_factory=list)
    failure: ErrorInfo | None = None  # terminating: pipeline state Failed


class Backend(t.Protocol):
    def authenticate(self, username: str, password: str) -> str | None:
        """Return the lab user name for valid Basic credentials, else None."""

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        """(domain, username, password) triples for pyspnego's NTLM_USER_FILE."""

    def invoke(self, invocation: Invocation) -> PipelineResult:
        """Run one pipeline. Must not raise except CmdletFailure (which the caller also handles)."""

    def ready_info(self) -> dict[str, str]:
        """username/password/readonly_username/readonly_password for the ready JSON."""

    def runspace_opened(self, user: str, runspace_id: str) -> None: ...

    def runspace_closed(self, user: str, runspace_id: str) -> None: ...
