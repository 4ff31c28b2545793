"""The emulated Exchange organisation: the :class:`exchange_lab.api.Backend` the transport calls."""

from __future__ import annotations

import copy
import logging
import os
import threading
import time
import typing as t

from exchange_lab.api import CmdletFailure, ErrorInfo, Invocation, PipelineResult
from exchange_lab.config import LabConfig
from exchange_lab.metrics import Metrics
from exchange_lab.org import connectors, errors, pscore, route, servers, wire
from exchange_lab.org.params import Binder, Param
from exchange_lab.org.registry import CmdletDef, Context, Handler, lookup, register
from exchange_lab.org.store import Store
from exchange_lab.org.users import Users

log = logging.getLogger(__name__)
_NO_INPUT = object()
UNCOUNTED = {"get-labcounter"}  # reading the counters must not change them
# PowerShell's own cmdlets: counted like any cmdlet, but without ``latency.cmdlet`` (they run in the pipeline of an
# Exchange cmdlet, on objects already read; no directory work and no round trip of their own)
NO_LATENCY = {"select-object"}


def _builtin_table() -> dict[str, CmdletDef]:
    table: dict[str, CmdletDef] = {}
    register("Get-SendConnector", connectors.get_send_connector, params=connectors.GET_PARAMS, table=table)
    register("New-SendConnector", connectors.new_send_connector, writes=True, params=connectors.NEW_PARAMS, table=table)
    register("Set-SendConnector", connectors.set_send_connector, writes=True, params=connectors.SET_PARAMS, table=table)
    register(
        "Remove-SendConnector",
        connectors.remove_send_connector,
        writes=True,
        params=connectors.REMOVE_PARAMS,
        confirm_by_default=True,
        table=table,
    )
    register("Get-ExchangeServer", servers.get_exchange_server, params=servers.GET_SERVER_PARAMS, table=table)
    register(
        "Set-ADServerSettings",
        servers.set_ad_server_settings,
        params=servers.AD_SETTINGS_PARAMS,
        should_process=True,
        task_class="Microsoft.Exchange.Management.RecipientTasks.SetAdServerSettings",
        table=table,
    )
    register("Get-ExchangeCertificate", route.get_exchange_certificate, params=route.CERT_PARAMS,
             task_class="Microsoft.Exchange.Management.SystemConfigurationTasks.GetExchangeCertificate", table=table)
    register("Get-TransportConfig", route.get_transport_config, params=route.TRANSPORT_CONFIG_PARAMS, table=table)
    # replaced by the mail transport's richer one (log paths, retry intervals) when mail is enabled
    register("Get-TransportService", route.get_transport_service, params=route.TRANSPORT_SERVICE_PARAMS, table=table)
    register("Get-LabCounter", servers.get_lab_counter, params=[], task_class="ExchangeLab.GetLabCounter", table=table)
    return table


class Organization:
    """Users/RBAC, Send connectors, servers and the cmdlet table, persisted under ``state_dir``."""

    def __init__(self, state_dir: str, config: LabConfig, metrics: Metrics) -> None:
        os.makedirs(state_dir, exist_ok=True)
        self.state_dir = state_dir
        self.config = config
        self.metrics = metrics
        self.users = Users(state_dir, config.domain)
        self.store = Store(state_dir, "org.json", default={"connectors": []})
        self.errors = errors.ErrorFactory(config.cmdlet_server)  # [Server=...] names who ran it
        self.cmdlets = _builtin_table()
        if "Select-Object" in config.core_cmdlets:
            register("Select-Object", pscore.select_object, params=pscore.SELECT_PARAMS, task_class=pscore.SELECT_CLASS,
                     table=self.cmdlets)
        self.ad_server_settings: dict[str, dict[str, t.Any]] = {}
        self._lock = threading.Lock()
        self._cmdlet_count = 0
        # guid -> (visible elsewhere at, old record, the DC that took the write)
        self._hidden: dict[str, tuple[float, dict[str, t.Any] | None, str]] = {}
        # the ``reverted`` fault: the next write is to be undone (armed by its cmdlet), then the undo waiting for the
        # next cmdlet: (guid, the record before the write, or None for a New)
        self._revert_armed = False
        self._revert_pending: tuple[str, dict[str, t.Any] | None] | None = None
        self._runspaces: set[str] = set()

    # --- Backend: users -------------------------------------------------------------------

    def authenticate(self, username: str, password: str) -> str | None:
        return self.users.authenticate(username, password)

    def ntlm_users(self) -> list[tuple[str, str, str]]:
        return self.users.ntlm_users()

    def ready_info(self) -> dict[str, str]:
        return self.users.ready_info()

    def runspace_opened(self, user: str, runspace_id: str) -> None:
        with self._lock:
            self._runspaces.add(runspace_id)

    def runspace_closed(self, user: str, runspace_id: str) -> None:
        with self._lock:
            self._runspaces.discard(runspace_id)
            self.ad_server_settings.pop(runspace_id, None)

    # --- extensions -----------------------------------------------------------------------

    def register(
        self, name: str, handler: Handler, writes: bool = False, params: list[Param] | None = None, **kwargs: t.Any
    ) -> CmdletDef:
        """Add a cmdlet to this organisation only (see :func:`exchange_lab.org.register` for all)."""
        return register(name, handler, writes=writes, params=params, table=self.cmdlets, **kwargs)

    # --- connectors for the mail transport -------------------------------------------------

    def connectors(self) -> list[dict[str, t.Any]]:
        """Every Send connector as a plain dict (Exchange property names, Python values)."""
        with self.store.locked() as data:
            return copy.deepcopy(data["connectors"])

    def connector_for_delivery(self, guid: str, name: str) -> dict[str, t.Any] | None:
        """The Send connector with this GUID, else the one with this name (a copy), or None: as ``connectors``
        would find it, copying only that one."""
        with self.store.locked() as data:
            records = data["connectors"]
            found = next((r for r in records if guid and str(r.get("Guid", "")).lower() == guid.lower()), None)
            if found is None:
                found = next((r for r in records if str(r.get("Name", "")).lower() == name.lower()), None)
            return copy.deepcopy(found) if found is not None else None

    def same_dc(self, a: str | None, b: str | None) -> bool:
        """Two names of one domain controller (``DC01`` and ``DC01.contoso.com`` included)."""
        if not a or not b:
            return False
        a, b = a.lower().rstrip("."), b.lower().rstrip(".")
        return a == b or a.split(".", 1)[0] == b.split(".", 1)[0] and ("." not in a or "." not in b)

    def visible_connectors(self, domain_controller: str | None = None) -> list[dict[str, t.Any]]:
        """What Get sees: committed records, minus writes still "replicating" (fault injection).

        A write is at once visible on the domain controller that took it: a Get that names that DC
        with -DomainController sees it. Any other Get, including one without -DomainController, is
        served by a DC the write has not reached yet and sees the previous state until it has.
        """
        records = {r["Guid"]: r for r in self.connectors()}
        now = time.monotonic()
        with self._lock:
            for guid, (until, before, writer) in list(self._hidden.items()):
                if now >= until:
                    del self._hidden[guid]
                elif self.same_dc(domain_controller, writer):
                    continue
                elif before is None:
                    records.pop(guid, None)
                else:
                    records[guid] = copy.deepcopy(before)
        return list(records.values())

    def commit(self, ctx: Context, guid: str, before: dict[str, t.Any] | None) -> None:
        """Persist the store (caller holds ``store.locked()``) and note the write."""
        self.store.save()
        ctx.wrote = True
        with self._lock:
            if self._revert_armed:
                self._revert_armed = False
                self._revert_pending = (guid, copy.deepcopy(before))
        delay = getattr(ctx, "replication_delay", 0.0)
        if delay > 0:
            writer = getattr(ctx, "domain_controller", None) or self.config.domain_controller
            with self._lock:
                self._hidden[guid] = (time.monotonic() + delay, copy.deepcopy(before), writer)

    # --- Backend: invoke --------------------------------------------------------------------

    def invoke(self, invocation: Invocation) -> PipelineResult:
        result = PipelineResult()
        try:
            self._run(invocation, result)
            result.output = [wire.shape(value, self.config.wire) for value in result.output]
        except CmdletFailure as exc:
            result.failure = exc.error
        except Exception as exc:  # noqa: BLE001 - a lab bug must not kill the session or leak a traceback
            log.exception("internal error running %s", [c.name for c in invocation.commands])
            result.failure = ErrorInfo(
                message=f"The Exchange lab failed internally ({type(exc).__name__}); see the lab log.",
                fully_qualified_error_id="ExchangeLabInternalError",
                category=0,
            )
        return result

    def _resolve(self, invocation: Invocation) -> list[CmdletDef]:
        read_only = self.users.is_read_only(invocation.user)
        resolved = []
        for call in invocation.commands:
            if call.is_script:
                raise errors.scripts_not_allowed()
            cmd = lookup(call.name, self.cmdlets)
            # Exchange RBAC: a cmdlet the user's roles don't grant is not in the session at all.
            if cmd is None or (cmd.writes and read_only):
                raise errors.command_not_found(call.name)
            resolved.append(cmd)
        return resolved

    def _run(self, invocation: Invocation, result: PipelineResult) -> None:
        resolved = self._resolve(invocation)
        items: list[t.Any] = list(invocation.input) if invocation.input else [_NO_INPUT]
        for index, (call, cmd) in enumerate(zip(invocation.commands, resolved)):
            if index > 0:
                items = result.output
                result.output = []
            # one cmdlet run per command of the pipeline, however many objects reach it (PowerShell calls its
            # ProcessRecord once per object, and not at all when none arrive: then only its parameters are bound)
            delay = self._count(cmd)
            if index > 0 and not items:
                if cmd.params is not None:
                    Binder(cmd.name, cmd.params, cmd.should_process, cmd.task_class).bind(call.parameters)
                continue
            outputs: list[t.Any] = []
            for item in items:
                outputs.extend(self._run_one(invocation, call.parameters, cmd, item, result, delay))
            result.output = outputs

    def _count(self, cmd: CmdletDef) -> float:
        """Count one cmdlet run (counters, fault numbers, latency); the replication delay a fault gives its write."""
        if cmd.name.lower() in UNCOUNTED:
            return 0.0
        delay = 0.0
        self._undo_reverted()
        self.metrics.incr("cmdlets_run")
        self.metrics.incr(f"cmdlet:{cmd.name}")
        with self._lock:
            self._cmdlet_count += 1
            number = self._cmdlet_count
        for fault in self.config.faults:
            if fault.kind == "replication_delay" and fault.on_cmdlet == number:
                delay = float(fault.seconds)
            if fault.kind == "reverted" and fault.on_cmdlet == number:
                with self._lock:
                    self._revert_armed = True
        if self.config.cmdlet_delay > 0 and cmd.name.lower() not in NO_LATENCY:
            time.sleep(self.config.cmdlet_delay)
        return delay

    def _undo_reverted(self) -> None:
        """The ``reverted`` fault: undo the armed cmdlet's write before the next cmdlet runs (someone else did)."""
        with self._lock:
            pending, self._revert_pending = self._revert_pending, None
        if pending is None:
            return
        guid, before = pending
        with self.store.locked() as data:
            kept = [r for r in data["connectors"] if str(r.get("Guid", "")).lower() != guid.lower()]
            if before is not None:
                kept.append(before)
            data["connectors"][:] = kept
            self.store.save()
        log.info("fault: the write to connector %s was reverted (as if by another administrator)", guid)

    def _run_one(
        self,
        invocation: Invocation,
        pairs: list[tuple[str | None, t.Any]],
        cmd: CmdletDef,
        item: t.Any,
        result: PipelineResult,
        delay: float = 0.0,
    ) -> list[t.Any]:
        has_input = item is not _NO_INPUT
        if has_input and cmd.name.lower() in self.config.unbound_pipeline_input:
            # PowerShell binds no parameter to this object: a non-terminating error for it, the next object goes on
            result.errors.append(errors.input_not_bound(cmd.name, cmd.task_class))
            return []
        if cmd.params is None:
            args: dict[str, t.Any] = {name: value for name, value in pairs if name is not None}
            if has_input:
                args.setdefault("InputObject", item)
        else:
            binder = Binder(cmd.name, cmd.params, cmd.should_process, cmd.task_class)
            args = binder.bind(pairs, item if has_input else None, has_pipeline=has_input)
        if cmd.name.lower().startswith("get-") and args.get("Identity") is None and cmd.name.lower() not in UNCOUNTED:
            # a Get of every object (no -Identity, no pipeline input); Get-LabCounter reads the counters, it is none
            self.metrics.incr(f"read_all:{cmd.name}")
        ctx = Context(org=self, cmdlet=cmd, user=invocation.user, result=result, runspace_id=invocation.runspace_id)
        ctx.replication_delay = delay  # type: ignore[attr-defined]
        ctx.domain_controller = args.get("DomainController")  # type: ignore[attr-defined]  # the DC a write goes to
        before = len(result.errors)
        output = cmd.handler(ctx, args) or []
        if ctx.wrote:
            self.metrics.incr("writes")
        self._apply_error_action(args, result, before)
        return list(output)

    @staticmethod
    def _apply_error_action(args: dict[str, t.Any], result: PipelineResult, before: int) -> None:
        action = str(args.get("ErrorAction") or "").lower()
        mine = result.errors[before:]
        if not mine:
            return
        if action == "stop":
            del result.errors[before:]
            raise CmdletFailure(mine[0])
        if action in ("silentlycontinue", "ignore"):
            del result.errors[before:]
