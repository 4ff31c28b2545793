"""The cost of the role's Exchange-side route check (send_connector_route) for N connectors.

Run from the repository root (``make collection-link`` once)::

    .venv/bin/python hacking/benchmark_route.py               # N = 1, 10, 50
    .venv/bin/python hacking/benchmark_route.py --sizes 50 200 --servers 3

For each N a fresh lab (certificate stores on EX01..EX0S) is started with issue 12's latency profile
(runspace open 0.5 s, each cmdlet 0.2 s); one ``send_connector_route`` task checks N connectors that set
``tls_certificate_name``, spread over S source servers, as the role's preflight does. It prints the lab's
counter deltas (runspaces opened, cmdlets run by name, writes) and the task's wall time. Figures are
reported, never asserted (tests/integration/send_connector_route/test_send_connector_route.py asserts the cmdlet count).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))

from labfixture import LabProcess, exchange_env  # noqa: E402

CA = "CN=Contoso Issuing CA, O=Contoso"
SUBJECT = "CN=mail.contoso.com"


def lab_config(servers: int) -> dict:
    now = dt.datetime.now(dt.timezone.utc)
    cert = {"thumbprint": "0A1B2C", "issuer": CA, "subject": SUBJECT, "services": ["SMTP"],
            "not_before": (now - dt.timedelta(days=1)).isoformat(), "not_after": (now + dt.timedelta(days=365)).isoformat(),
            "has_private_key": True, "status": "Valid"}
    return {"latency": {"runspace_open": 0.5, "cmdlet": 0.2},
            "servers": [{"name": "EX%02d" % (i + 1), "certificates": [cert]} for i in range(servers)]}


def run_once(n: int, servers: int, workdir: str) -> dict:
    lab = LabProcess(os.path.join(workdir, "lab-%d-%d" % (n, servers)), config=lab_config(servers))
    ready = lab.start()
    try:
        connectors = [{"name": "Bench %03d" % i, "source_transport_servers": ["EX%02d" % (i % servers + 1)],
                       "tls_certificate_name": "<I>%s<S>%s" % (CA, SUBJECT), "max_message_size": "10MB",
                       "smart_hosts": ["relay.contoso.net"]} for i in range(n)]
        play = [{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": [
            {"name": "route", "mailflow.exchange.send_connector_route": {"connectors": connectors, "fail_on": []}}]}]
        path = os.path.join(workdir, "play-%d-%d.json" % (n, servers))
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(play, handle)
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, "collections"), ANSIBLE_NOCOLOR="1",
                   ANSIBLE_LOCALHOST_WARNING="False", ANSIBLE_INVENTORY_UNPARSED_WARNING="False",
                   ANSIBLE_PYTHON_INTERPRETER=sys.executable, **exchange_env(ready))
        before = lab.counters()
        start = time.monotonic()
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), path], env=env,
                              capture_output=True, text=True, check=False, timeout=600)
        seconds = time.monotonic() - start
        after = lab.counters()
        if proc.returncode:
            raise SystemExit("the task failed:\n%s" % proc.stdout[-3000:])
        moved = {k: after.get(k, 0) - before.get(k, 0) for k in after if after.get(k, 0) != before.get(k, 0)}
        return {"n": n, "servers": servers, "seconds": seconds, "moved": moved}
    finally:
        lab.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--servers", type=int, nargs="+", default=[1, 3])
    args = parser.parse_args()
    print("| N connectors | source servers | runspaces | cmdlets (by name) | writes | task wall time |")
    print("|---:|---:|---:|---|---:|---:|")
    with tempfile.TemporaryDirectory(prefix="bench-route-") as workdir:
        for n in args.sizes:
            for servers in args.servers:
                r = run_once(n, servers, workdir)
                m = r["moved"]
                by_name = ", ".join("%s %d" % (k.split(":", 1)[1], v) for k, v in sorted(m.items()) if k.startswith("cmdlet:"))
                row = (n, servers, m.get("runspaces_opened", 0), m.get("cmdlets_run", 0), by_name, m.get("writes", 0),
                       r["seconds"])
                print("| %d | %d | %d | %d: %s | %d | %.1f s |" % row)


if __name__ == "__main__":
    main()
