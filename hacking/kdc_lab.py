"""Start a throwaway Kerberos realm and the Exchange lab with ``--auth kerberos``, for people.

    python hacking/kdc_lab.py [--state .lab/kerberos] [--auth kerberos|negotiate]

Prints the environment variables to export (KRB5_CONFIG, KRB5CCNAME, EXCHANGE_*) and how to get a
ticket, then waits; Ctrl-C (or SIGTERM) stops the lab and the KDC. The realm's directory is reused
on the next start (same passwords), so a ``kinit`` ticket stays valid across restarts.
"""

from __future__ import annotations

import argparse
import os
import shlex
import signal
import sys
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))

from exchange_lab import kdc  # noqa: E402
from labfixture import LabProcess  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--state", default=os.path.join(ROOT, ".lab", "kerberos"), help="directory for the realm and the lab")
    parser.add_argument("--auth", default="kerberos", choices=("kerberos", "negotiate"), help="the lab's --auth")
    args = parser.parse_args()
    missing = kdc.missing_tools()
    if missing:
        print(f"missing: {', '.join(missing)}; install: apt-get install $(cat {ROOT}/hacking/apt-packages.txt)", file=sys.stderr)
        return 2
    state = os.path.abspath(args.state)
    realm_dir = os.path.join(state, "kdc")
    saved = {}
    port = None
    info_path = os.path.join(realm_dir, "realm.json")
    if os.path.exists(info_path):
        import json

        with open(info_path, encoding="utf-8") as handle:
            data = json.load(handle)
        saved = {user: entry["password"] for user, entry in data["principals"].items()}
        port = data.get("kdc_port")
    realm = kdc.KerberosRealm(realm_dir, passwords=saved, port=port)
    try:
        realm.start()
    except kdc.KdcError as exc:
        print(f"kdc: {exc}", file=sys.stderr)
        return 2
    ccache = f"FILE:{os.path.join(state, 'ccache')}"
    os.environ.update(realm.env(ccache))
    lab = LabProcess(os.path.join(state, "lab"), auth=args.auth)
    try:
        ready = lab.start()
    except RuntimeError as exc:
        realm.stop()
        print(str(exc), file=sys.stderr)
        return 2
    exports = {
        "KRB5_CONFIG": realm.krb5_config,
        "KRB5CCNAME": ccache,
        "EXCHANGE_SERVER": realm.host,
        "EXCHANGE_PORT": str(ready["port"]),
        "EXCHANGE_PROTOCOL": "http",
        "EXCHANGE_AUTH": args.auth,
        "EXCHANGE_USERNAME": realm.principal("admin"),
    }
    print(f"Kerberos realm {realm.realm}: KDC on {realm.info()['kdc']}, lab on http://{realm.host}:{ready['port']}/PowerShell (--auth {args.auth})")
    print("\n# in another shell:")
    for key, value in exports.items():
        print(f"export {key}={shlex.quote(value)}")
    print(f"kinit {realm.principal('admin')}   # password: {realm.passwords['admin']}  (test realm)")
    print("# or set EXCHANGE_PASSWORD to that password instead of kinit")
    print("\nCtrl-C stops the lab and the KDC.", flush=True)
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    while not stop.wait(0.5):
        if lab.proc is not None and lab.proc.poll() is not None:
            print(f"the lab exited; see {lab.log_path}", file=sys.stderr)
            break
    lab.stop()
    realm.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
