"""A tiny api.Backend for the transport tests (loaded by ``serve --backend <this file>:make``).

It is not the emulated organisation: it only gives the wire something to carry, with cmdlets
whose behaviour the transport tests assert (echo, credential check, errors, failures, crashes).
This module holds no tests.
"""

from __future__ import annotations

import time
import typing as t

from exchange_lab import api

ADMIN = ("admin", "Lab-Passw0rd!")
READER = ("reader", "Read-0nly-Pass")
DOMAIN = "CONTOSO"
CATEGORY_INVALID_ARGUMENT = 5
CATEGORY_OBJECT_NOT_FOUND = 13


class TinyBackend:
    def __init__(self, state_dir: str, config: t.Any, metrics: t.Any) -> None:
        self.state_dir = state_dir
        self.config = config
        self.metrics = metrics
        self.open_runspaces: set[str] = set()

    # -- api.Backend -------------------------------------------------------------------------------
    def authenticate(self, username: str, password: str) -> str | None:
        for user, secret in (ADMIN, READER):
            if username.lower() == user and password == secret:
                return user
        return None

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        return [(DOMAIN, ADMIN[0], ADMIN[1]), (DOMAIN, READER[0], READER[1])]

    def ready_info(self) -> dict[str, str]:
        return {
            "username": ADMIN[0],
            "password": ADMIN[1],
            "readonly_username": READER[0],
            "readonly_password": READER[1],
        }

    def runspace_opened(self, user: str, runspace_id: str) -> None:
        self.open_runspaces.add(runspace_id)

    def runspace_closed(self, user: str, runspace_id: str) -> None:
        self.open_runspaces.discard(runspace_id)

    def invoke(self, invocation: api.Invocation) -> api.PipelineResult:
        command = invocation.commands[0]
        if command.is_script:
            raise api.CmdletFailure(
                api.ErrorInfo(
                    message="The syntax is not supported by this runspace. This can occur if the runspace is in no-language mode.",
                    fully_qualified_error_id="ScriptsNotAllowed",
                    category=46,  # ParserError
                    exception_type="System.Management.Automation.ParseException",
                    reason="ParseException",
                )
            )
        handler = getattr(self, "_" + command.name.replace("-", "_").lower(), None)
        if handler is None:
            raise api.CmdletFailure(
                api.ErrorInfo(
                    message=f"The term '{command.name}' is not recognized as the name of a cmdlet.",
                    fully_qualified_error_id="CommandNotFoundException",
                    category=13,
                    exception_type="System.Management.Automation.CommandNotFoundException",
                    target_object=command.name,
                    target_name=command.name,
                )
            )
        params = {name.lower(): value for name, value in command.parameters if name}
        return handler(invocation, params)

    # -- cmdlets -----------------------------------------------------------------------------------
    def _get_labecho(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        names = [n for c in inv.commands for n, _ in c.parameters]
        out: list[t.Any] = [f"user={inv.user}", f"commands={'|'.join(c.name for c in inv.commands)}"]
        out += [f"{n}={v!r}" for c in inv.commands for n, v in c.parameters]
        if inv.input:
            out.append(f"input={[str(i) for i in inv.input]!r}")
        count = int(params.get("count", 0) or 0)
        out += [f"item-{i:05d}-" + "x" * 200 for i in range(count)]
        return api.PipelineResult(
            output=out, warnings=["echo warning"] if "warn" in [n.lower() for n in names if n] else []
        )

    def _test_labcredential(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        cred = params["credential"]
        password = cred.Password.decrypt()
        return api.PipelineResult(output=[cred.UserName, str(password) == params.get("expected", ""), len(password)])

    def _get_labthing(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        """One object found, one not found (non-terminating error), like Get-X -Identity a,b."""
        return api.PipelineResult(
            output=["thing-a"],
            errors=[
                api.ErrorInfo(
                    message="The operation couldn't be performed because object 'thing-b' couldn't be found on 'DC01.contoso.com'.",
                    fully_qualified_error_id="[Server=EX01,RequestId=1,TimeStamp=1/1/2026 1:00:00 AM] [FailureCategory=Cmdlet-ManagementObjectNotFoundException] 8D2B1F3C,Microsoft.Exchange.Management.Tasks.GetLabThing",
                    category=CATEGORY_OBJECT_NOT_FOUND,
                    exception_type="Microsoft.Exchange.Configuration.Tasks.ManagementObjectNotFoundException",
                    target_object="thing-b",
                    target_name="thing-b",
                    reason="ManagementObjectNotFoundException",
                    activity="Get-LabThing",
                )
            ],
        )

    def _set_labthing(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        raise api.CmdletFailure(
            api.ErrorInfo(
                message='Cannot bind parameter \'Port\' to the target. Exception setting "Port": "The value must be between 1 and 65535."',
                fully_qualified_error_id="ParameterBindingFailed,Microsoft.Exchange.Management.Tasks.SetLabThing",
                category=CATEGORY_INVALID_ARGUMENT,
                exception_type="System.Management.Automation.ParameterBindingException",
                reason="ParameterBindingException",
                activity="Set-LabThing",
                target_name="Port",
            )
        )

    def _get_labnull(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        return api.PipelineResult(output=[None, "after-null", 0, False, ""])

    def _invoke_labcrash(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        raise RuntimeError("boom: a bug in the backend")

    def _start_labsleep(self, inv: api.Invocation, params: dict[str, t.Any]) -> api.PipelineResult:
        time.sleep(float(params.get("seconds", 1)))
        return api.PipelineResult(output=["slept"])


def make(state_dir: str, config: t.Any, metrics: t.Any) -> TinyBackend:
    return TinyBackend(state_dir, config, metrics)


BACKEND_SPEC = f"{__file__}:make"


def start_lab(state_dir: str, **kwargs: t.Any) -> t.Any:
    """Start ``serve`` in a subprocess with this backend (the lead's LabProcess, extra --backend)."""
    from labfixture import LabProcess

    proc = LabProcess(state_dir, extra_args=["--backend", BACKEND_SPEC], **kwargs)
    proc.start()
    return proc
