"""WSMan operations of the PowerShell endpoint: Create, Command, Send, Receive, Signal, Delete, Get.

Input: a parsed :class:`soap.Request` and the authenticated lab user. Output: the response
envelope, or :class:`soap.SoapError` for a WSManFault.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import uuid
import weakref

from exchange_lab import api
from exchange_lab.metrics import Metrics
from exchange_lab.transport import runspace, soap

log = logging.getLogger("exchange_lab.transport")

CONFIGURATION_NAME = "Microsoft.Exchange"
PS_URI_PREFIX = "http://schemas.microsoft.com/powershell/"
RESOURCE_URI = PS_URI_PREFIX + CONFIGURATION_NAME
SHELL_URI = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell"  # Get of a shell's state (is_alive)
DEFAULT_IDLE = 900.0  # seconds a pool may stay unused (Exchange's default session idle time-out is 15 min)
MAX_HOLD = 60.0


class WSManService:
    def __init__(
        self,
        backend: api.Backend,
        metrics: Metrics,
        machine: str,
        endpoint: str,
        open_delay: float = 0.0,
    ) -> None:
        self.backend = backend
        self.metrics = metrics
        self.machine = machine
        self.endpoint = endpoint
        self.open_delay = open_delay
        self.shells = runspace.ShellRegistry(self._closed)
        # Per shell, per command: the Receive state (see _receive); gone with the shell
        self._receives: weakref.WeakKeyDictionary[runspace.Shell, dict[str, _Receives]] = weakref.WeakKeyDictionary()
        self._guard = threading.Lock()

    # -- dispatch ----------------------------------------------------------------------------------

    def handle(self, request: soap.Request, user: str, client_ip: str) -> bytes:
        if not (request.action == soap.ACTION_GET and request.resource_uri.lower() == SHELL_URI):
            self._check_resource(request.resource_uri)
        if request.action == soap.ACTION_CREATE:
            return self._create(request, user, client_ip)
        shell_handlers = {
            soap.ACTION_COMMAND: self._command,
            soap.ACTION_SEND: self._send,
            soap.ACTION_RECEIVE: self._receive,
            soap.ACTION_SIGNAL: self._signal,
            soap.ACTION_DELETE: self._delete,
            soap.ACTION_GET: self._get,
        }
        handler = shell_handlers.get(request.action)
        if handler is None:
            raise soap.SoapError(
                soap.CODE_ACTION_NOT_SUPPORTED,
                "wsa:ActionNotSupported",
                f"The WS-Management service cannot process the request. The action {request.action or '(none)'} "
                f"is not supported by the resource {request.resource_uri}.",
            )
        return handler(request, self._shell(request, user))

    def close(self) -> None:
        self.shells.close_all()

    def _check_resource(self, uri: str) -> None:
        if uri.lower() == RESOURCE_URI.lower():
            return
        if uri.lower().startswith(PS_URI_PREFIX.lower()):
            name = uri[len(PS_URI_PREFIX) :]
            message = (
                f"The WS-Management service cannot process the request. Cannot find the {name} session "
                f"configuration in the WSMan: drive on the {self.machine.split('.')[0]} computer."
            )
        else:
            message = (
                f"The WS-Management service cannot process the request. The resource URI ({uri}) was not found "
                f"in the WS-Management catalog."
            )
        raise soap.SoapError(soap.CODE_INVALID_RESOURCE_URI, "w:DestinationUnreachable", message)

    def _shell(self, request: soap.Request, user: str) -> runspace.Shell:
        shell_id = request.selectors.get("ShellId", "")
        shell = self.shells.get(shell_id, user) if shell_id else None
        if shell is None:
            raise runspace.shell_gone(shell_id or "(none)", self.machine)
        return shell

    # -- operations --------------------------------------------------------------------------------

    def _create(self, request: soap.Request, user: str, client_ip: str) -> bytes:
        shell_el = request.first("rsp:Shell")
        creation = shell_el.find("pwsh:creationXml", soap.NS) if shell_el is not None else None
        if shell_el is None or creation is None or not (creation.text or "").strip():
            raise soap.SoapError(
                soap.CODE_INVALID_MESSAGE,
                "w:InvalidMessage",
                "The WS-Management service cannot process the request: a PowerShell shell needs creationXml.",
            )
        shell_id = (shell_el.attrib.get("ShellId") or "").upper()
        if not shell_id:
            shell_id = str(uuid.uuid4()).upper()
        idle_el = shell_el.find("rsp:IdleTimeOut", soap.NS)
        idle = soap.parse_duration(idle_el.text if idle_el is not None else None, DEFAULT_IDLE)
        shell = runspace.Shell(shell_id, user, self.backend, self.open_delay, idle, self.machine)
        shell.create(_b64(creation.text or ""))
        self.shells.add(shell)
        self.metrics.incr("runspaces_opened")
        try:
            self.backend.runspace_opened(user, str(shell.pool.runspace_pool_id))
        except Exception:  # noqa: BLE001 - bookkeeping only; the pool is open for the client
            log.exception("backend.runspace_opened failed")

        created = soap.element("wst:ResourceCreated")
        soap.sub(created, "wsa:Address", self.endpoint)
        params = soap.sub(created, "wsa:ReferenceParameters")
        soap.sub(params, "wsman:ResourceURI", RESOURCE_URI)
        selectors = soap.sub(params, "wsman:SelectorSet")
        soap.sub(selectors, "wsman:Selector", shell_id, {"Name": "ShellId"})
        info = soap.element("rsp:Shell")
        for tag, value in (
            ("ShellId", shell_id),
            ("Name", "Microsoft.Exchange"),
            ("ResourceUri", RESOURCE_URI),
            ("Owner", user),
            ("ClientIP", client_ip),
            ("IdleTimeOut", f"PT{idle:.3f}S"),
            ("InputStreams", "stdin pr"),
            ("OutputStreams", "stdout"),
            ("ShellRunTime", "P0DT0H0M0S"),
            ("ShellInactivity", "P0DT0H0M0S"),
        ):
            soap.sub(info, f"rsp:{tag}", value)
        return soap.response(request, [created, info])

    def _command(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        line = request.first("rsp:CommandLine")
        if line is None:
            raise soap.SoapError(soap.CODE_INVALID_MESSAGE, "w:InvalidMessage", "Command needs rsp:CommandLine.")
        args = line.find("rsp:Arguments", soap.NS)
        data = _b64(args.text or "") if args is not None else b""
        try:
            command_id = shell.command(line.attrib.get("CommandId", ""), data)
        except ValueError:
            raise soap.SoapError(
                soap.CODE_INVALID_MESSAGE, "w:InvalidMessage", "The CommandId is not a GUID."
            ) from None
        body = soap.element("rsp:CommandResponse")
        soap.sub(body, "rsp:CommandId", command_id)
        return soap.response(request, [body])

    def _send(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        streams = request.body.findall("rsp:Send/rsp:Stream", soap.NS)
        if not streams:
            raise soap.SoapError(soap.CODE_INVALID_MESSAGE, "w:InvalidMessage", "Send needs rsp:Stream.")
        for stream in streams:
            shell.send(_b64(stream.text or ""), stream.attrib.get("CommandId"))
        return soap.response(request, [soap.element("rsp:SendResponse")])

    def _receive(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        """A Receive; the same Receive sent again (same wsa:MessageID) gets the same answer.

        pypsrp sends a Receive again, unchanged, when its HTTP read timed out (``retries_on_read_timeout=5``: "just
        sending the exact same request again will return the same data"). Had the lab handed out the next
        fragments instead, the first answer's were lost and the client failed with "Fragment Id: 2 != Expected
        Fragment Id: 0" (seen reading 200 connectors on a starved machine). Receives of one command run one at a
        time, so a repeat that arrives while the first is still being answered waits for that answer.
        """
        desired = request.first("rsp:Receive/rsp:DesiredStream")
        command_id = desired.attrib.get("CommandId") if desired is not None else None
        with self._guard:
            state = self._receives.setdefault(shell, {}).setdefault((command_id or "").upper(), _Receives())
        with state.lock:
            if request.message_id and state.message_id == request.message_id:
                self.metrics.incr("receives_repeated")
                return state.response
            state.response = self._receive_new(request, shell, command_id)
            state.message_id = request.message_id
            return state.response

    def _receive_new(self, request: soap.Request, shell: runspace.Shell, command_id: str | None) -> bytes:
        hold = min(MAX_HOLD, max(0.2, request.operation_timeout - 1.0))
        # Base64 grows data by 4/3; keep room for the envelope around it.
        budget = max(4096, int((request.max_envelope_size - 4096) * 3 / 4))
        data, done = shell.receive(command_id, hold, budget)
        body = soap.element("rsp:ReceiveResponse")
        attrib = {"Name": "stdout"}
        if command_id:
            attrib["CommandId"] = command_id.upper()
        if data:
            soap.sub(body, "rsp:Stream", base64.b64encode(data).decode(), attrib)
        if command_id:
            state = "Done" if done else "Running"
            soap.sub(
                body,
                "rsp:CommandState",
                None,
                {"CommandId": command_id.upper(), "State": f"{soap.SHELL}CommandState/{state}"},
            )
        return soap.response(request, [body])

    def _signal(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        signal = request.first("rsp:Signal")
        code = signal.find("rsp:Code", soap.NS) if signal is not None else None
        if signal is None or code is None:
            raise soap.SoapError(soap.CODE_INVALID_MESSAGE, "w:InvalidMessage", "Signal needs rsp:Code.")
        shell.signal(signal.attrib.get("CommandId", ""), (code.text or "").strip())
        return soap.response(request, [soap.element("rsp:SignalResponse")])

    def _delete(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        self.shells.remove(shell)
        return soap.response(request)

    def _get(self, request: soap.Request, shell: runspace.Shell) -> bytes:
        info = soap.element("rsp:Shell")
        soap.sub(info, "rsp:ShellId", shell.shell_id)
        soap.sub(info, "rsp:ResourceUri", RESOURCE_URI)
        soap.sub(info, "rsp:Owner", shell.user)
        soap.sub(info, "rsp:State", "Connected")
        return soap.response(request, [info])

    def _closed(self, shell: runspace.Shell) -> None:
        self.metrics.incr("runspaces_closed")
        try:
            self.backend.runspace_closed(shell.user, str(shell.pool.runspace_pool_id))
        except Exception:  # noqa: BLE001 - a backend hiccup must not break the close
            log.exception("backend.runspace_closed failed")


class _Receives:
    """One command's Receives: one at a time (``lock``), and the last answered, by its wsa:MessageID."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.message_id = ""
        self.response = b""


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise soap.SoapError(soap.CODE_INVALID_MESSAGE, "w:InvalidMessage", "A stream is not valid base64.") from None
