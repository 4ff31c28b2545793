"""The lab's wire: WSMan + PSRP (psrpcore server side) over HTTP(S) with Basic/NTLM/Negotiate.

:class:`Endpoint` wires the parts together; ``exchange_lab.serve`` runs it from the command line
and tests can run it in-process::

    endpoint = Endpoint(backend, metrics, config, state_dir, auth="ntlm", https=False)
    endpoint.start()            # listens; endpoint.port is the bound port
    ...
    endpoint.stop()
"""

from __future__ import annotations

import logging
import os
import threading

from exchange_lab import api
from exchange_lab.config import LabConfig
from exchange_lab.metrics import Metrics
from exchange_lab.transport import auth, tls
from exchange_lab.transport.server import FaultPlan, WSManHTTPServer
from exchange_lab.transport.service import CONFIGURATION_NAME, WSManService

AUTH_KINDS = ("basic", "ntlm", "negotiate", "kerberos")
PATH = "PowerShell"

log = logging.getLogger("exchange_lab.transport")


class Endpoint:
    def __init__(
        self,
        backend: api.Backend,
        metrics: Metrics,
        config: LabConfig,
        state_dir: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        auth_kind: str = "basic",
        https: bool = False,
    ) -> None:
        if auth_kind not in AUTH_KINDS:
            raise ValueError(f"auth must be one of {', '.join(AUTH_KINDS)}, not {auth_kind!r}")
        self.backend = backend
        self.metrics = metrics
        self.config = config
        self.state_dir = state_dir
        self.host = host
        self.auth_kind = auth_kind
        self.https = https
        self.ca_cert: str | None = None
        machine = f"{config.local_server}.{config.domain}" if config.domain else config.local_server
        ssl_context = None
        if https:
            ssl_context, self.ca_cert = tls.make_server_context(state_dir, [machine, config.local_server])
        authenticator = self._authenticator(auth_kind)
        scheme = "https" if https else "http"
        self.service = WSManService(backend, metrics, machine, "", open_delay=config.runspace_open_delay)
        self.server = WSManHTTPServer(
            (host, port), self.service, authenticator, FaultPlan(config.faults, metrics), ssl_context
        )
        self.port = self.server.server_address[1]
        self.service.endpoint = f"{scheme}://{host}:{self.port}/{PATH}"
        self._thread: threading.Thread | None = None

    @property
    def scheme(self) -> str:
        return self.server.scheme

    def _authenticator(self, kind: str) -> auth.Authenticator:
        if kind == "basic":
            return auth.BasicAuthenticator(self.backend.authenticate)
        users = self.backend.ntlm_users()
        by_name = {user.lower(): user for _, user, _ in users}
        if kind == "kerberos":  # Kerberos only, like Exchange's /PowerShell (key from KRB5_KTNAME)
            from exchange_lab.transport.kerberos import KerberosAuthenticator

            return KerberosAuthenticator(lambda name: by_name.get(name.lower()))
        user_file = os.path.join(self.state_dir, "ntlm_users")
        realms = [self.config.domain, self.config.domain.split(".")[0].upper()] if self.config.domain else []
        auth.write_ntlm_user_file(user_file, users, realms)
        return auth.SpnegoAuthenticator(kind, user_file, lambda name: by_name.get(name.lower()))

    def start(self) -> None:
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self.server.shutdown()  # no new requests
        self.service.close()  # close pools: wakes held Receives, tells the backend
        self.server.close_connections()
        self.server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def ready_info(self) -> dict[str, object]:
        info: dict[str, object] = {
            "host": self.host,
            "port": self.port,
            "scheme": self.scheme,
            "path": PATH,
            "configuration_name": CONFIGURATION_NAME,
            "auth": self.auth_kind,
        }
        info.update(self.backend.ready_info())
        if self.ca_cert:
            info["ca_cert"] = self.ca_cert
        info["state_dir"] = self.state_dir
        info["pid"] = os.getpid()
        return info


__all__ = ["AUTH_KINDS", "Endpoint", "PATH"]
