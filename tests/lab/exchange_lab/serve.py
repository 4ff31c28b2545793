"""``python -m exchange_lab serve``: run the lab's PowerShell remoting endpoint until SIGTERM/SIGINT.

Prints one JSON line when listening (and writes it atomically to ``--ready-file``): host, port,
scheme, path, configuration_name, auth, username/password, readonly_username/readonly_password,
ca_cert (with ``--https``), state_dir, pid, and from the mail transport smtp_host, smtp_port
(the receive connector) and logs_dir (``<state>/logs/<server>/{MessageTracking,ProtocolLog/SmtpSend}``).
Logs go to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import logging
import os
import signal
import sys
import threading
import typing as t

from exchange_lab import config as lab_config
from exchange_lab import metrics as lab_metrics
from exchange_lab.transport import AUTH_KINDS

log = logging.getLogger("exchange_lab.serve")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, help="directory for the lab's state (created if missing)")
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default 0: any free port)")
    parser.add_argument(
        "--https", action="store_true", help="serve HTTPS with a fresh CA (its PEM goes to the state dir)"
    )
    parser.add_argument(
        "--auth", choices=AUTH_KINDS, default="basic",
        help="HTTP authentication (kerberos: Kerberos only, keytab from KRB5_KTNAME; see the kdc subcommand)",
    )
    parser.add_argument("--ready-file", help="write the ready JSON here too (atomically)")
    parser.add_argument("--config", help="lab configuration file (YAML or JSON)")
    parser.add_argument("--log-level", default="INFO", choices=("DEBUG", "INFO", "WARNING", "ERROR"))
    parser.add_argument(
        "--backend",
        help=argparse.SUPPRESS,  # tests only: MODULE:FACTORY or /path/file.py:FACTORY instead of the organisation
    )


def _load_factory(spec: str | None) -> t.Callable[..., t.Any]:
    if not spec:
        from exchange_lab.org import Organization

        return Organization
    target, _, attr = spec.rpartition(":")
    if target.endswith(".py"):
        module_spec = importlib.util.spec_from_file_location("lab_test_backend", target)
        if module_spec is None or module_spec.loader is None:
            raise ValueError(f"--backend: cannot load {target}")
        module = importlib.util.module_from_spec(module_spec)
        module_spec.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    return getattr(module, attr)


def _write_atomic(path: str, text: str) -> None:
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, path)


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=getattr(logging, args.log_level),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from exchange_lab.transport import Endpoint  # after logging is set up

    state = os.path.abspath(args.state)
    os.makedirs(state, exist_ok=True)
    try:
        cfg = lab_config.LabConfig.load(args.config)
    except (OSError, ValueError, TypeError) as exc:
        print(f"serve: cannot read --config {args.config}: {exc}", file=sys.stderr)
        return 2
    metrics = lab_metrics.Metrics(os.path.join(state, "counters.json"))
    try:
        factory = _load_factory(args.backend)
    except (ImportError, AttributeError, ValueError) as exc:
        print(f"serve: cannot load the Exchange organisation: {exc}", file=sys.stderr)
        return 2
    try:
        backend = factory(state_dir=state, config=cfg, metrics=metrics)
    except Exception as exc:  # noqa: BLE001 - a clear line for the user; details in the debug log
        log.debug("organisation start-up failed", exc_info=True)
        print(f"serve: cannot start the Exchange organisation in {state}: {exc}", file=sys.stderr)
        return 2
    from exchange_lab.mail import start_transport  # the mail hook: SMTP listener + transport cmdlets

    try:
        mail_transport, mail_info = start_transport(backend, cfg, state, args.host)
    except (OSError, ValueError) as exc:
        print(f"serve: cannot start the mail transport: {exc}", file=sys.stderr)
        return 2
    try:
        endpoint = Endpoint(
            backend, metrics, cfg, state, host=args.host, port=args.port, auth_kind=args.auth, https=args.https
        )
    except OSError as exc:
        print(f"serve: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2

    stop = threading.Event()

    def _on_signal(signum: int, _frame: t.Any) -> None:
        log.info("received %s, stopping", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)

    endpoint.start()
    ready = json.dumps({**endpoint.ready_info(), **mail_info}, sort_keys=True)
    if args.ready_file:
        _write_atomic(os.path.abspath(args.ready_file), ready + "\n")
    sys.stdout.write(ready + "\n")
    sys.stdout.flush()
    log.info("listening on %s://%s:%d/PowerShell (auth %s)", endpoint.scheme, args.host, endpoint.port, args.auth)

    while not stop.wait(0.5):
        pass
    endpoint.stop()
    if mail_transport is not None:
        mail_transport.stop()
    close = getattr(backend, "close", None)
    if callable(close):
        close()
    log.info("stopped")
    return 0
