"""``python -m exchange_lab kdc``: run a throwaway MIT Kerberos realm for the lab until SIGTERM/SIGINT.

Prints one JSON line when the KDC answers (and writes it atomically to ``--ready-file``): realm,
host, kdc (address:port), kdc_port, krb5_config, keytab, service_principal, env (the variables
to export for the lab and for clients) and principals with their passwords. It is a test realm:
the passwords are printed on purpose. Typical use::

    python -m exchange_lab kdc --state .lab/kdc &
    eval "$(jq -r '.env | to_entries[] | "export \\(.key)=\\(.value)"' .lab/kdc/realm.json)"
    python -m exchange_lab serve --state .lab/state --auth kerberos
    kinit admin@LAB.TEST     # then connect to http://localhost:<port>/PowerShell with auth kerberos
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import typing as t

from exchange_lab.kdc import DEFAULT_HOST, DEFAULT_REALM, KdcError, KerberosRealm


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state", required=True, help="directory for the realm (created if missing; reused if it has one)")
    parser.add_argument("--realm", default=DEFAULT_REALM, help=f"realm name (default {DEFAULT_REALM})")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"the lab's host name: the service principal is HTTP/<host> (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=0, help="KDC port on 127.0.0.1, UDP and TCP (default 0: a free port)")
    parser.add_argument("--user", action="append", dest="users", help="a user principal to create (repeatable; default admin and viewer)")
    parser.add_argument("--clock-offset", type=int, default=0, help="run the KDC this many seconds off (libfaketime), to provoke clock skew")
    parser.add_argument("--ready-file", help="write the ready JSON here too (atomically)")


def _saved_passwords(state: str) -> dict[str, str]:
    """Passwords of a realm created earlier in the same directory (its realm.json)."""
    try:
        with open(os.path.join(state, "realm.json"), encoding="utf-8") as handle:
            saved = json.load(handle)
    except (OSError, ValueError):
        return {}
    return {user: entry["password"] for user, entry in saved.get("principals", {}).items()}


def run(args: argparse.Namespace) -> int:
    state = os.path.abspath(args.state)
    passwords = _saved_passwords(state)
    port = args.port or None
    if port is None and passwords:
        with open(os.path.join(state, "realm.json"), encoding="utf-8") as handle:
            port = json.load(handle).get("kdc_port")  # an existing realm keeps its port (krb5.conf names it)
    realm = KerberosRealm(
        state,
        realm=args.realm,
        host=args.host,
        users=args.users or ("admin", "viewer"),
        passwords=passwords,
        port=port,
        clock_offset=args.clock_offset,
    )
    try:
        realm.start()
    except KdcError as exc:
        print(f"kdc: {exc}", file=sys.stderr)
        return 2
    stop = threading.Event()

    def _on_signal(signum: int, _frame: t.Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
    ready = json.dumps(realm.info(), sort_keys=True)
    if args.ready_file:
        tmp = f"{args.ready_file}.{os.getpid()}.tmp"
        with open(tmp, "w", encoding="utf-8") as handle:
            handle.write(ready + "\n")
        os.replace(tmp, args.ready_file)
    sys.stdout.write(ready + "\n")
    sys.stdout.flush()
    while not stop.wait(0.5):
        if realm.proc is not None and realm.proc.poll() is not None:
            print(f"kdc: krb5kdc exited with {realm.proc.returncode}", file=sys.stderr)
            return 1
    realm.stop()
    return 0
