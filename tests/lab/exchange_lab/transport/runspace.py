"""Runspace pools and pipelines on psrpcore's server objects, one :class:`Shell` per WSMan shell.

psrpcore is not thread-safe: every call on a pool or its pipelines happens under the shell's
condition lock. psrpcore queues pool and pipeline messages in one buffer; after each call the
buffer is drained into one outgoing queue per target (pool = ``None``, else the pipeline id),
because every WSMan Receive asks for exactly one target. Pipelines run in worker threads.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
import time
import traceback
import typing as t
import uuid

import psrpcore
from psrpcore.types import PipelineState, PSInvocationState, PSRPMessageType, PSVersion, add_note_property

from exchange_lab import api
from exchange_lab.transport import errors, soap

log = logging.getLogger("exchange_lab.transport")

FRAGMENT_SIZE = 32768  # bytes per psrpcore data_to_send() call (whole fragments)
INPUT_WAIT = 60.0  # seconds a pipeline with input waits for EndOfPipelineInput


def shell_gone(shell_id: str, machine: str) -> soap.SoapError:
    return soap.SoapError(
        soap.CODE_UNEXPECTED_SELECTORS,
        "w:InvalidSelectors",
        f"The request for the Windows Remote Shell with ShellId {shell_id} failed because the shell was not found "
        f"on the server. Possible causes are: the specified ShellId is incorrect or the shell no longer exists "
        f"on the server. Provide the correct ShellId or create a new shell and retry the operation.",
    )


def _fix_call_id(event: psrpcore.PSRPEvent) -> None:
    """pypsrp names a message's call id ``CI``; psrpcore 0.3.1 reads ``ci`` (PowerShell ignores case)."""
    message = event._ps_object  # noqa: SLF001 - the raw message psrpcore keeps on the event
    if getattr(message, "ci", None) is None:
        value = getattr(message, "CI", None)
        if value is not None:
            add_note_property(message, "ci", value, force=True)


def _private_data() -> dict[str, t.Any]:
    """ApplicationPrivateData of Windows PowerShell 5.1 on Windows Server 2019 (Exchange 2019's host)."""
    return {
        "PSVersionTable": {
            "PSVersion": PSVersion("5.1.17763.1"),
            "PSEdition": "Desktop",
            "PSCompatibleVersions": [PSVersion(v) for v in ("1.0", "2.0", "3.0", "4.0", "5.0", "5.1.17763.1")],
            "BuildVersion": PSVersion("10.0.17763.1"),
            "CLRVersion": PSVersion("4.0.30319.42000"),
            "WSManStackVersion": PSVersion("3.0"),
            "PSRemotingProtocolVersion": PSVersion("2.3"),
            "SerializationVersion": PSVersion("1.1.0.1"),
        }
    }


class LabRunspacePool(psrpcore.ServerRunspacePool):
    """psrpcore's server pool, tolerant of pypsrp's spelling of the call id."""

    def __init__(self) -> None:
        super().__init__(application_private_data=_private_data())

    def _process_SetMaxRunspaces(self, event: t.Any) -> None:  # noqa: N802 - psrpcore's hook names
        _fix_call_id(event)
        super()._process_SetMaxRunspaces(event)

    def _process_SetMinRunspaces(self, event: t.Any) -> None:  # noqa: N802
        _fix_call_id(event)
        super()._process_SetMinRunspaces(event)

    def _process_GetAvailableRunspaces(self, event: t.Any) -> None:  # noqa: N802
        _fix_call_id(event)
        super()._process_GetAvailableRunspaces(event)

    def _process_ResetRunspaceState(self, event: t.Any) -> None:  # noqa: N802
        _fix_call_id(event)
        super()._process_ResetRunspaceState(event)


class _NullOutput:
    """An output ``$null``: serialises as ``<Nil />`` like PowerShell's (psrpcore sends a bare None as
    an empty message, which pypsrp cannot parse)."""

    @classmethod
    def ToPSObjectForRemoting(cls, instance: t.Any, **kwargs: t.Any) -> None:  # noqa: N802 - psrpcore's hook
        return None


_NULL = _NullOutput()


@dataclasses.dataclass
class PipelineRun:
    pipeline: psrpcore.ServerPipeline
    command_id: str
    input: list[t.Any] = dataclasses.field(default_factory=list)
    input_done: threading.Event = dataclasses.field(default_factory=threading.Event)
    started: bool = False
    finished: bool = False  # a final state (Completed/Failed/Stopped) is queued
    closed: bool = False  # Signal terminate or pool close: results are dropped


class Shell:
    """One RunspacePool (a WSMan shell of resource Microsoft.Exchange)."""

    def __init__(
        self,
        shell_id: str,
        user: str,
        backend: api.Backend,
        open_delay: float,
        idle_timeout: float,
        machine: str,
    ) -> None:
        self.shell_id = shell_id
        self.user = user
        self.machine = machine
        self.idle_timeout = idle_timeout
        self.cond = threading.Condition()
        self.pool = LabRunspacePool()
        self.closed = False
        self.opened = False
        self.last_used = time.monotonic()
        self.ready_at = time.monotonic() + max(0.0, open_delay)
        self._backend = backend
        self._queues: dict[uuid.UUID | None, collections.deque[bytes]] = collections.defaultdict(collections.deque)
        self._runs: dict[uuid.UUID, PipelineRun] = {}

    # -- helpers (call with self.cond held) ------------------------------------------------------

    def _drain(self) -> None:
        while True:
            payload = self.pool.data_to_send(FRAGMENT_SIZE)
            if payload is None:
                break
            self._queues[payload.pipeline_id].append(payload.data)
        self.cond.notify_all()

    def _process_events(self) -> None:
        while True:
            event = self.pool.next_event()
            if event is None:
                break
            self._handle_event(event)
        self._drain()

    def _handle_event(self, event: psrpcore.PSRPEvent) -> None:
        if isinstance(event, psrpcore.InitRunspacePoolEvent):
            self.opened = True
        elif isinstance(event, psrpcore.GetAvailableRunspacesEvent):
            busy = sum(1 for r in self._runs.values() if r.started and not r.finished)
            self.pool.runspace_availability_response(event.ci, max(0, max(1, self.pool.max_runspaces) - busy))
        elif isinstance(event, (psrpcore.SetMaxRunspacesEvent, psrpcore.SetMinRunspacesEvent)):
            self.pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, psrpcore.ResetRunspaceStateEvent):
            self.pool.runspace_availability_response(event.ci, True)
        elif isinstance(event, psrpcore.CreatePipelineEvent):
            run = self._runs.get(event.pipeline_id)
            if run is not None and not run.started:
                run.started = True
                worker = threading.Thread(
                    target=self._run_pipeline,
                    args=(run, event.pipeline),
                    name=f"pipeline-{run.command_id}",
                    daemon=True,
                )
                worker.start()
        elif isinstance(event, psrpcore.PipelineInputEvent):
            run = self._runs.get(event.pipeline_id)
            if run is not None:
                run.input.append(event.data)
        elif isinstance(event, psrpcore.EndOfPipelineInputEvent):
            run = self._runs.get(event.pipeline_id)
            if run is not None:
                run.input_done.set()

    def _check_open(self) -> None:
        if self.closed:
            raise shell_gone(self.shell_id, self.machine)
        self.last_used = time.monotonic()

    # -- WSMan operations --------------------------------------------------------------------------

    def create(self, creation_data: bytes) -> None:
        with self.cond:
            self.pool.receive_data(psrpcore.PSRPPayload(creation_data, psrpcore.StreamType.default, None))
            self._process_events()

    def send(self, data: bytes, command_id: str | None) -> None:
        with self.cond:
            self._check_open()
            target = self._pipeline_key(command_id) if command_id else None
            self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, target))
            self._process_events()

    def command(self, command_id: str, data: bytes) -> str:
        with self.cond:
            self._check_open()
            pid = uuid.UUID(command_id) if command_id else uuid.uuid4()
            run = PipelineRun(psrpcore.ServerPipeline(self.pool, pid), str(pid).upper())
            self._runs[pid] = run
            if data:
                self.pool.receive_data(psrpcore.PSRPPayload(data, psrpcore.StreamType.default, pid))
                self._process_events()
            return run.command_id

    def receive(self, command_id: str | None, hold: float, budget: int) -> tuple[bytes, bool]:
        """Wait up to ``hold`` seconds for data for one target; (data, target done). Raises on timeout."""
        deadline = time.monotonic() + hold
        with self.cond:
            target = self._pipeline_key(command_id) if command_id else None
            while True:
                self._check_open()
                run = self._runs.get(target) if target is not None else None
                if target is not None and run is None:
                    raise self._unknown_command(command_id or "")
                now = time.monotonic()
                queue = self._queues.get(target)
                ready = target is not None or now >= self.ready_at
                if ready and queue:
                    data = self._take(queue, budget)
                    done = bool(run and run.finished and not queue)
                    return data, done
                if run is not None and run.finished:
                    return b"", True
                wait = deadline - now
                if target is None and now < self.ready_at:
                    wait = min(wait, self.ready_at - now)
                if deadline - now <= 0:
                    raise soap.SoapError(
                        soap.CODE_OPERATION_TIMEOUT,
                        "w:TimedOut",
                        "The WS-Management service cannot complete the operation within the time specified in "
                        "OperationTimeout.",
                        sender=False,
                    )
                self.cond.wait(max(0.01, wait))

    def signal(self, command_id: str, code: str) -> None:
        with self.cond:
            self._check_open()
            key = self._pipeline_key(command_id)
            run = self._runs.get(key)
            if run is None:
                raise self._unknown_command(command_id)
            if code in (soap.SIGNAL_CTRL_C, soap.SIGNAL_CTRL_C_ALT):
                if run.pipeline.state in (PSInvocationState.Running, PSInvocationState.Stopping):
                    run.pipeline.stop()
                    run.finished = True
                    self._drain()
            elif code.lower() == soap.SIGNAL_TERMINATE.lower():
                run.closed = True
                self._runs.pop(key, None)
                self.pool.pipeline_table.pop(key, None)
                self._queues.pop(key, None)
                self.cond.notify_all()
            else:
                raise soap.SoapError(
                    soap.CODE_INVALID_MESSAGE, "w:InvalidParameter", f"The signal code {code} is not supported."
                )

    def close(self) -> bool:
        """Close the pool; True when this call closed it (False if it was closed already)."""
        with self.cond:
            if self.closed:
                return False
            self.closed = True
            for run in self._runs.values():
                run.closed = True
            self._runs.clear()
            self.pool.pipeline_table.clear()
            try:
                self.pool.close()
            except psrpcore.PSRPCoreError:
                pass  # a pool that never opened
            self._queues.clear()
            self.cond.notify_all()
            return True

    # -- internals ---------------------------------------------------------------------------------

    def _pipeline_key(self, command_id: str) -> uuid.UUID:
        try:
            return uuid.UUID(command_id)
        except ValueError:
            raise self._unknown_command(command_id) from None

    def _unknown_command(self, command_id: str) -> soap.SoapError:
        return soap.SoapError(
            soap.CODE_UNEXPECTED_SELECTORS,
            "w:InvalidSelectors",
            f"The request for the command with CommandId {command_id} failed because the command was not found "
            f"in the shell {self.shell_id}.",
        )

    @staticmethod
    def _take(queue: collections.deque[bytes], budget: int) -> bytes:
        data = queue.popleft()
        while queue and len(data) + len(queue[0]) <= budget:
            data += queue.popleft()
        return data

    def _run_pipeline(self, run: PipelineRun, metadata: psrpcore.PowerShell) -> None:
        with self.cond:
            if run.closed:
                return
            run.pipeline.start()
            self._drain()
        if not metadata.no_input:
            run.input_done.wait(INPUT_WAIT)
        commands = [api.CommandCall(c.command_text, list(c.parameters), bool(c.is_script)) for c in metadata.commands]
        name = commands[0].name if commands else "<empty>"
        invocation = api.Invocation(
            user=self.user,
            commands=commands,
            runspace_id=str(self.pool.runspace_pool_id),
            input=list(run.input),
        )
        try:
            result = self._backend.invoke(invocation)
            if not isinstance(result, api.PipelineResult):
                raise TypeError(f"backend returned {type(result).__name__}, not PipelineResult")
        except api.CmdletFailure as exc:
            result = api.PipelineResult(failure=exc.error)
        except Exception:  # noqa: BLE001 - the lab must answer, never crash
            log.error("backend failed running %s:\n%s", name, traceback.format_exc())
            result = api.PipelineResult(failure=errors.internal_error(name))
        self._finish(run, result, name)

    def _finish(self, run: PipelineRun, result: api.PipelineResult, name: str) -> None:
        with self.cond:
            if run.closed or run.pipeline.state != PSInvocationState.Running:
                return  # terminated or stopped meanwhile
            pipeline = run.pipeline
            try:
                for value in result.output:
                    pipeline.write_output(_NULL if value is None else value)
                for info in result.errors:
                    pipeline.prepare_message(errors.error_record(info), message_type=PSRPMessageType.ErrorRecord)
                for text in result.warnings:
                    pipeline.write_warning(str(text))
                if result.failure is not None:
                    self._fail(pipeline, result.failure)
                else:
                    pipeline.complete()
            except Exception:  # noqa: BLE001 - e.g. an output object psrpcore cannot serialise
                log.error("could not send the result of %s:\n%s", name, traceback.format_exc())
                self._fail(pipeline, errors.internal_error(name))
            run.finished = True
            self._drain()

    @staticmethod
    def _fail(pipeline: psrpcore.ServerPipeline, info: api.ErrorInfo) -> None:
        """End the pipeline in state Failed with ``info`` as the terminating ErrorRecord.

        psrpcore 0.3.1 has no public call for this, so the PIPELINE_STATE message is built from its
        public message type and the pipeline's state is set to match.
        """
        message = PipelineState(PipelineState=int(PSInvocationState.Failed))
        message.ExceptionAsErrorRecord = errors.error_record(info)
        pipeline.prepare_message(message)
        pipeline.state = PSInvocationState.Failed


class ShellRegistry:
    """All open shells; closes shells idle for longer than their IdleTimeOut."""

    def __init__(self, on_closed: t.Callable[[Shell], None]) -> None:
        self._lock = threading.Lock()
        self._shells: dict[str, Shell] = {}
        self._on_closed = on_closed
        self._stop = threading.Event()
        self._reaper = threading.Thread(target=self._reap, name="shell-reaper", daemon=True)
        self._reaper.start()

    def add(self, shell: Shell) -> None:
        with self._lock:
            self._shells[shell.shell_id.upper()] = shell

    def get(self, shell_id: str, user: str) -> Shell | None:
        with self._lock:
            shell = self._shells.get(shell_id.upper())
        if shell is None or shell.user != user:
            return None  # another user's shell is as good as absent
        return shell

    def remove(self, shell: Shell) -> None:
        with self._lock:
            self._shells.pop(shell.shell_id.upper(), None)
        if shell.close():
            self._on_closed(shell)

    def count(self) -> int:
        with self._lock:
            return len(self._shells)

    def close_all(self) -> None:
        self._stop.set()
        with self._lock:
            shells = list(self._shells.values())
        for shell in shells:
            self.remove(shell)

    def _reap(self) -> None:
        while not self._stop.wait(1.0):
            now = time.monotonic()
            with self._lock:
                idle = [s for s in self._shells.values() if now - s.last_used > s.idle_timeout]
            for shell in idle:
                log.info("closing idle runspace pool %s of %s", shell.shell_id, shell.user)
                self.remove(shell)
