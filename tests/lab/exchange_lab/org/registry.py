"""The cmdlet table: what the endpoint knows, and how other parts of the lab add cmdlets.

Extensions (e.g. the mail transport's Get-MessageTrackingLog, Get-Queue,
Get-TransportService) register at import time::

    from exchange_lab.org import Param, register

    def get_queue(ctx, args):          # ctx: exchange_lab.org.registry.Context
        return [ ...psrpcore objects... ]  # or ctx.error(TaskError(...)) for a non-terminating error

    register("Get-Queue", get_queue, params=[Param("Identity", position=0), Param("Server")],
             task_class="Microsoft.Exchange.Management.QueueViewerTasks.GetQueue")

``params=None`` accepts any parameter unconverted (names as the client sent them).
``writes=True`` marks a cmdlet the read-only role may not run and that counts as a write.
"""

from __future__ import annotations

import dataclasses
import typing as t

from exchange_lab.api import CmdletFailure, PipelineResult
from exchange_lab.org import errors
from exchange_lab.org.params import Param

if t.TYPE_CHECKING:
    from exchange_lab.org.organization import Organization

Handler = t.Callable[["Context", dict[str, t.Any]], t.Optional[list[t.Any]]]


@dataclasses.dataclass
class CmdletDef:
    name: str
    handler: Handler
    params: list[Param] | None = None
    writes: bool = False
    task_class: str | None = None
    should_process: bool = False
    confirm_by_default: bool = False  # ConfirmImpact High: prompts unless -Confirm:$false

    @property
    def klass(self) -> str:
        return self.task_class or errors.task_class(self.name)


@dataclasses.dataclass
class Context:
    """What a handler gets besides its bound arguments."""

    org: "Organization"
    cmdlet: CmdletDef
    user: str
    result: PipelineResult
    runspace_id: str = ""
    wrote: bool = False  # a handler sets this when it changed the organisation

    def error(self, err: errors.TaskError) -> None:
        """Write a non-terminating Exchange error record; the pipeline goes on."""
        self.result.errors.append(self.org.errors.task_error(self.cmdlet.name, err, self.cmdlet.klass))

    def fail(self, err: errors.TaskError) -> t.NoReturn:
        """End the pipeline with a terminating Exchange error."""
        raise CmdletFailure(self.org.errors.task_error(self.cmdlet.name, err, self.cmdlet.klass))

    def warn(self, text: str) -> None:
        self.result.warnings.append(text)


_GLOBAL: dict[str, CmdletDef] = {}


def register(
    name: str,
    handler: Handler,
    writes: bool = False,
    params: list[Param] | None = None,
    task_class: str | None = None,
    should_process: bool | None = None,
    confirm_by_default: bool = False,
    table: dict[str, CmdletDef] | None = None,
) -> CmdletDef:
    """Add (or replace) a cmdlet in the global table, or in ``table`` when given."""
    definition = CmdletDef(
        name=name,
        handler=handler,
        params=params,
        writes=writes,
        task_class=task_class,
        should_process=writes if should_process is None else should_process,
        confirm_by_default=confirm_by_default,
    )
    (_GLOBAL if table is None else table)[name.lower()] = definition
    return definition


def lookup(name: str, local: dict[str, CmdletDef]) -> CmdletDef | None:
    key = name.lower()
    return local.get(key) or _GLOBAL.get(key)
