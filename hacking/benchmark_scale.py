"""Benchmark many Send connectors on a slow Exchange: the role, its apply phase, a naive script and the floor.

Run from the repository root (``make collection-link`` once)::

    .venv/bin/python hacking/benchmark_scale.py                 # N = 1, 10, 50
    .venv/bin/python hacking/benchmark_scale.py --sizes 1 10 50 200 --repeat 3
    make benchmark-scale                                        # every figure docs/benchmark.md shows, in one run

``make benchmark-scale`` is ``--sizes 50 200 --repeat 3 --no-script --wire``: the scale table (medians of three,
load noted), then ``hacking/benchmark_wire.py``'s two tables (parse per connector object: bare XML parse, the
collection's reader, pypsrp's path; the floor per connector before and after the parser change, with the
client's parse split from the lab and wire).

The latency profile of issue 12: the lab's ``latency`` knobs (runspace open 0.5 s, each cmdlet 0.2 s) and a
loopback TCP proxy in front of the lab's WSMan port that holds every request 30 ms (one WSMan round trip =
one HTTP request). For each N, on a fresh lab with a test smart host (``exchange_lab.smarthost``), N
connectors are created, then with nothing to change it measures:

* ``role``: the whole ``smart_host_routing`` run (validate, preflight with a probe of the smart host, apply,
  read-back, one test message to one recipient per connector traced through every connector, report);
* ``apply``: the role's apply task (from a callback that times each task), which holds the preflight checks (the
  probe and the route check) before its writes;
* ``apply alone``: one ``send_connectors`` task in its own playbook, with the lab's counter deltas
  (runspaces opened, cmdlets run, Get-SendConnector, writes); for N=50 also with 5 of 50 changed;
* ``no-op task``: an ``ansible.builtin.ping`` task (what one Ansible task costs);
* ``script``: a hand-written pypsrp script that opens a session per connector (Get, Set only if needed, close);
* ``floor``: one session and one ``Get-SendConnector`` returning all connectors;
* with ``--protocol-log``: the role run again with ``smart_host_routing_protocol_log`` on (SmtpSend logging turned on
  for the test and off again, the sessions read from the lab's logs), and a ``send_connectors`` run naming 5 of the
  N connectors with nothing to change, with ``read: all`` and with ``read: named``;
* ``lab delivery``: from the lab's message tracking log, the time from the test message's RECEIVE to its last
  SEND (the lab's own transport delivering one message through N connectors): the part of the role's trace
  wait that is the lab's, not the client's.

Prints one table with the ratios the issue asks for. Timings are reported, never asserted.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import glob
import json
import os
import platform
import select
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import typing as t

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))

from labfixture import LabProcess, end_brokers, session_dir  # noqa: E402

LATENCY = {"runspace_open": 0.5, "cmdlet": 0.2}
PROXY_DELAY = 0.030
IDLE_TIMEOUT = 1800  # seconds the proxy keeps a silent connection (the playbooks' own timeout is 1800 s)
SMART_HOST = "smarthost.lab.test"
APPLY_TASK = "Apply | Check each connector's smart hosts and route, then bring the Send connectors to the wanted state (one run)"
REPORT_TASK = "Report | Show the summary"
TRACE_TASK = "Verify | Send the test message over SMTP and trace it until it leaves through each connector"

TIMER = '''
import json, os, time
from ansible.plugins.callback import CallbackBase

class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_timer"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.started = {}
        self.times = []

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.started[task.get_name()] = time.perf_counter()

    def _done(self, result, status):
        name = result.task_name
        self.times.append({"task": name, "status": status, "seconds": time.perf_counter() - self.started.get(name, time.perf_counter())})

    def v2_runner_on_ok(self, result):
        self._done(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._done(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._done(result, "skipped")

    def v2_playbook_on_stats(self, stats):
        with open(os.environ["TASK_TIMES_FILE"], "w") as handle:
            json.dump(self.times, handle)
'''


# --- a loopback proxy that adds a delay to every WSMan request ---------------------------------
class DelayProxy:
    """TCP proxy 127.0.0.1:<port> -> target; a client chunk that starts a new request waits ``delay`` first."""

    def __init__(self, target: tuple[str, int], delay: float) -> None:
        self.target = target
        self.delay = delay
        self.server = socket.socket()
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self.requests = 0
        self._stop = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self._stop:
            try:
                client, _addr = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._pipe, args=(client,), daemon=True).start()

    def _pipe(self, client: socket.socket) -> None:
        upstream = socket.create_connection(self.target)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        last_client = 0.0
        try:
            while True:
                # a loaded lab may take minutes to serialise 200 connectors: an idle cut here would drop a Receive
                # the lab already answered, and pypsrp then reports "Fragment Id: 2 != Expected Fragment Id: 0"
                ready, _w, _x = select.select([client, upstream], [], [], IDLE_TIMEOUT)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    if sock is client:
                        now = time.monotonic()
                        if now - last_client > 0.005:  # a new request, not the rest of one
                            self.requests += 1
                            time.sleep(self.delay)
                        last_client = time.monotonic()
                        upstream.sendall(data)
                    else:
                        client.sendall(data)
        except OSError:
            return
        finally:
            client.close()
            upstream.close()

    def close(self) -> None:
        self._stop = True
        self.server.close()


# --- helpers -----------------------------------------------------------------------------------
def connectors(n: int, port: int) -> list[dict[str, t.Any]]:
    return [{"name": "Bench %03d" % i, "address_spaces": ["n%03d.bench.example" % i], "usage": "Custom",
             "smart_hosts": [SMART_HOST], "smart_host_auth_mechanism": "None", "source_transport_servers": ["EX01"],
             "is_scoped_connector": False, "port": port} for i in range(n)]


class Bench:
    def __init__(self, work: str, lab: LabProcess, proxy: DelayProxy, smart_host: t.Any) -> None:
        self.work = work
        self.lab = lab
        self.proxy = proxy
        self.smart_host = smart_host
        self.count = 0
        os.makedirs(os.path.join(work, "callback_plugins"), exist_ok=True)
        with open(os.path.join(work, "callback_plugins", "task_timer.py"), "w", encoding="utf-8") as handle:
            handle.write(TIMER)

    def env(self) -> dict[str, str]:
        ready = self.lab.ready
        env = dict(os.environ)
        env.update({
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "collections"),
            "ANSIBLE_CALLBACK_PLUGINS": os.path.join(self.work, "callback_plugins"),
            "ANSIBLE_CALLBACKS_ENABLED": "task_timer",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "0",
            "EXCHANGE_SERVER": "127.0.0.1",
            "EXCHANGE_PORT": str(self.proxy.port),
            "EXCHANGE_PROTOCOL": "http",
            "EXCHANGE_AUTH": str(ready["auth"]),
            "EXCHANGE_USERNAME": str(ready["username"]),
            "EXCHANGE_PASSWORD": str(ready["password"]),
            # the runspace the role keeps between its tasks (keep_session) listens in the lab's own directory
            "MAILFLOW_EXCHANGE_SESSION_DIR": session_dir(ready),
        })
        return env

    def playbook(self, play: dict[str, t.Any], extra: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        """Run one play; wall time, per-task times, counter deltas, rc."""
        self.count += 1
        path = os.path.join(self.work, "play%03d.json" % self.count)
        times = os.path.join(self.work, "times%03d.json" % self.count)
        extra_path = os.path.join(self.work, "extra%03d.json" % self.count)
        base = {"hosts": "localhost", "connection": "local", "gather_facts": False,
                "vars": {"ansible_python_interpreter": "{{ ansible_playbook_python }}"}}
        with open(path, "w", encoding="utf-8") as handle:
            json.dump([dict(base, **play)], handle)
        with open(extra_path, "w", encoding="utf-8") as handle:
            json.dump(extra or {}, handle)
        env = self.env()
        env["TASK_TIMES_FILE"] = times
        before = self.lab.counters()
        started = time.perf_counter()
        proc = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), path, "-i", "localhost,",
                               "-e", "@" + extra_path], env=env, cwd=ROOT, capture_output=True, text=True, check=False, timeout=1800)
        wall = time.perf_counter() - started
        time.sleep(0.3)  # the module's pool close reaches the lab just after the process exits
        after = self.lab.counters()
        keys = ("runspaces_opened", "cmdlets_run", "cmdlet:Get-SendConnector", "writes", "cmdlet:Get-MessageTrackingLog")
        delta = {k: after.get(k, 0) - before.get(k, 0) for k in keys}
        tasks = []
        if os.path.exists(times):
            with open(times, encoding="utf-8") as handle:
                tasks = json.load(handle)
        if proc.returncode != 0:
            print("    ansible-playbook failed (rc %d):\n%s" % (proc.returncode, "\n".join((proc.stdout + proc.stderr).splitlines()[-25:])))
        return {"wall": wall, "tasks": tasks, "delta": delta, "rc": proc.returncode}

    def apply(self, items: list[dict[str, t.Any]], read: str | None = None) -> dict[str, t.Any]:
        args: dict[str, t.Any] = {"connectors": "{{ items_ }}"}
        if read:
            args["read"] = read
        return self.playbook({"tasks": [{"name": APPLY_TASK, "mailflow.exchange.send_connectors": args}]}, {"items_": items})

    def noop(self) -> dict[str, t.Any]:
        return self.playbook({"tasks": [{"name": "noop", "ansible.builtin.ping": {}}]})

    def role(self, items: list[dict[str, t.Any]], protocol_log: bool = False) -> dict[str, t.Any]:
        ready = self.lab.ready
        variables = {
            "smart_host_routing_connectors": items,
            "smart_host_routing_connect_addresses": {SMART_HOST: self.smart_host.ready["host"]},
            "smart_host_routing_ca_cert": self.smart_host.ready.get("ca_cert") or "",
            "smart_host_routing_helo_name": "EX01.contoso.com",
            "smart_host_routing_test_sender": "administrator@contoso.com",
            "smart_host_routing_test_recipients": {c["name"]: "postmaster@" + c["address_spaces"][0] for c in items},
            "smart_host_routing_smtp_server": ready["host"],
            "smart_host_routing_smtp_port": ready["smtp_port"],
            "smart_host_routing_trace_timeout": 120,
            "smart_host_routing_trace_poll_interval": 1,
            "smart_host_routing_smart_host_credential": {"username": "", "password": ""},
        }
        if protocol_log:  # SmtpSend logging on for the test and off again, the sessions read from the lab's logs
            variables.update(smart_host_routing_protocol_log=True,
                             smart_host_routing_protocol_log_dir=os.path.join(self.lab.state_dir, "logs"))
        return self.playbook({"roles": [{"role": "mailflow.exchange.smart_host_routing"}]}, variables)

    def _pool(self) -> t.Any:
        return self.lab.pool(port=self.proxy.port, records=True)

    def script(self, items: list[dict[str, t.Any]]) -> float:
        """A session per connector: open, Get-SendConnector -Identity, Set only if the port differs, close."""
        started = time.perf_counter()
        for item in items:
            with self._pool() as pool:
                ps = self.lab.run_cmdlet("Get-SendConnector", {"Identity": item["name"]}, pool=pool)
                port = ps.output[0].get("Port") if ps.output else None
                if port != item["port"]:
                    self.lab.run_cmdlet("Set-SendConnector", {"Identity": item["name"], "Port": item["port"]}, pool=pool)
        return time.perf_counter() - started

    def floor(self) -> float:
        started = time.perf_counter()
        with self._pool() as pool:
            ps = self.lab.run_cmdlet("Get-SendConnector", None, pool=pool)
            assert not ps.had_errors
        return time.perf_counter() - started


def task_seconds(run: dict[str, t.Any], name: str) -> float:
    return sum(x["seconds"] for x in run["tasks"] if x["task"].endswith(name))


def lab_delivery(state_dir: str) -> float:
    """Seconds from the last test message's RECEIVE to its last SEND, from the lab's message tracking logs."""
    rows = []
    for path in sorted(glob.glob(os.path.join(state_dir, "logs", "*", "MessageTracking", "MSGTRK*.LOG"))):
        with open(path, encoding="utf-8", newline="") as handle:
            fields = None
            for row in csv.reader(handle):
                if row and row[0].startswith("#Fields:"):
                    fields = [row[0].split(":", 1)[1].strip()] + row[1:]
                elif row and not row[0].startswith("#") and fields:
                    rows.append(dict(zip(fields, row)))
    received = [r for r in rows if r.get("event-id") == "RECEIVE"]
    if not received:
        return float("nan")
    message_id = received[-1].get("message-id")
    when = [dt.datetime.fromisoformat(r["date-time"].replace("Z", "+00:00")) for r in rows
            if r.get("message-id") == message_id and r.get("event-id") in ("RECEIVE", "SEND")]
    return (max(when) - min(when)).total_seconds()


def one_size(work: str, n: int, repeat: int, five: bool, script: bool = True, protocol_log: bool = False) -> dict[str, t.Any]:
    from exchange_lab.smarthost import SmartHost, SmartHostConfig

    os.makedirs(os.path.join(work, "sh"), exist_ok=True)
    config = SmartHostConfig(state_dir=os.path.join(work, "sh"), cert_names=[SMART_HOST], banner_name=SMART_HOST, starttls=True)
    with SmartHost(config) as smart_host:
        lab = LabProcess(os.path.join(work, "lab"), config={
            "latency": LATENCY, "hosts": {SMART_HOST: smart_host.ready["host"]},
            "mail": {"ca_bundle": smart_host.ready.get("ca_cert"), "retry_interval": 2}})
        lab.start()
        proxy = DelayProxy((lab.ready["host"], lab.ready["port"]), PROXY_DELAY)
        try:
            bench = Bench(work, lab, proxy, smart_host)
            items = connectors(n, smart_host.ready["port"])
            created = bench.apply(items)
            print("  N=%d: created %d connectors in one send_connectors run: %.1f s, %s" % (n, n, created["wall"], created["delta"]), flush=True)
            out: dict[str, t.Any] = {"n": n, "role": [], "apply": [], "apply_alone": [], "noop": [], "script": [], "floor": [],
                                     "report": [], "trace": [], "delivery": []}
            for _round in range(repeat):
                role = bench.role(items)
                # the role keeps its runspace 60 s after its last task (keep_session): end it, so that the apply task
                # alone below opens its own, as a task of a playbook of one task does
                end_brokers(session_dir(lab.ready))
                out["role"].append(role["wall"])
                out["apply"].append(task_seconds(role, APPLY_TASK))
                out["report"].append(task_seconds(role, REPORT_TASK))
                out["trace"].append(task_seconds(role, TRACE_TASK))
                out["delivery"].append(lab_delivery(lab.state_dir))
                out["role_rc"] = role["rc"]
                out["role_delta"] = role["delta"]
                out["role_tasks"] = len(role["tasks"])
                out["role_breakdown"] = sorted(role["tasks"], key=lambda x: -x["seconds"])[:8]
                alone = bench.apply(items)
                out["apply_alone"].append(task_seconds(alone, APPLY_TASK))
                out["apply_delta"] = alone["delta"]
                out["noop"].append(task_seconds(bench.noop(), "noop"))
                out["floor"].append(bench.floor())
                if script:
                    out["script"].append(bench.script(items))
            if protocol_log:
                # the role with SmtpSend protocol logging on for the test (two more send_connectors runs, read: named),
                # and a send_connectors run that names 5 of the N connectors (nothing to change): read all vs read named
                out.update(role_plog=[], plog_delta={}, few_all=[], few_named=[])
                for _round in range(repeat):
                    run = bench.role(items, protocol_log=True)
                    end_brokers(session_dir(lab.ready))
                    out["role_plog"].append(run["wall"])
                    out["plog_delta"], out["plog_rc"] = run["delta"], run["rc"]
                    few = items[:5]
                    every = bench.apply(few)
                    named = bench.apply(few, read="named")
                    out["few_all"].append(task_seconds(every, APPLY_TASK))
                    out["few_named"].append(task_seconds(named, APPLY_TASK))
                    out["few_deltas"] = (every["delta"], named["delta"])
            if five:
                changed = [dict(c, port=2525) if i % 10 == 3 else c for i, c in enumerate(items)][:n]
                run = bench.apply(changed)
                out["five"] = {"changed": sum(1 for i in range(n) if i % 10 == 3), "delta": run["delta"],
                               "seconds": task_seconds(run, APPLY_TASK)}
            out["proxy_requests"] = proxy.requests
            return out
        finally:
            proxy.close()
            lab.stop()


def med(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 10, 50])
    parser.add_argument("--repeat", type=int, default=1, help="runs per size (medians are shown)")
    parser.add_argument("--no-script", action="store_true",
                        help="skip the per-connector-session script (about 1 s per connector on this profile)")
    parser.add_argument("--protocol-log", action="store_true",
                        help="also the role with smart_host_routing_protocol_log on, and send_connectors naming 5 of the N "
                             "connectors with read: all and read: named")
    parser.add_argument("--wire", action="store_true",
                        help="then hacking/benchmark_wire.py's tables for the same sizes (parse per connector; the floor per "
                             "connector before and after the parser change, client parse vs lab and wire)")
    args = parser.parse_args(argv)
    load = os.getloadavg()
    print("smart_host_routing scale benchmark | %s | %d CPU(s) | Python %s | load %.2f %.2f %.2f"
          % (platform.node(), os.cpu_count() or 0, platform.python_version(), *load))
    print("profile: lab latency %s, proxy +%d ms per WSMan request" % (json.dumps(LATENCY), PROXY_DELAY * 1000))
    results = []
    started = time.perf_counter()
    for n in args.sizes:
        with tempfile.TemporaryDirectory(prefix="bench-scale-%d-" % n) as work:
            results.append(one_size(work, n, args.repeat, five=(n >= 50), script=not args.no_script,
                                    protocol_log=args.protocol_log))
        r = results[-1]  # as soon as a size is done (a long run can be cut short without losing it)
        print("  N=%d done: role %s s, apply %s s, report printing %s s, role reads %d, rc %s; slowest: %s" % (
            n, [round(x, 1) for x in r["role"]], [round(x, 2) for x in r["apply"]], [round(x, 2) for x in r["report"]],
            r["role_delta"]["cmdlet:Get-SendConnector"], r.get("role_rc"),
            "; ".join("%.1f s %s" % (x["seconds"], x["task"]) for x in r["role_breakdown"][:6])), flush=True)
    print()
    script = not args.no_script
    # the role's apply task holds the preflight's probe and route check: "apply alone" is the change itself
    head = ["N", "role run", "preflight + apply (role task)", "apply alone", "no-op task + floor", "apply alone / (no-op+floor)"]
    if script:  # without the script there is nothing to show in its columns (they printed nan)
        head += ["per-connector script", "script / apply"]
    head += ["floor", "report printing", "trace (role task)", "lab delivery", "role runspaces, cmdlets, connector reads",
             "apply runspaces, cmdlets, reads, writes"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    for r in results:
        apply, alone = med(r["apply"]), med(r["apply_alone"])
        base = med(r["noop"]) + med(r["floor"])
        d, a = r["role_delta"], r["apply_delta"]
        role = "%.1f s (%.1f-%.1f)" % (med(r["role"]), min(r["role"]), max(r["role"])) if len(r["role"]) > 1 else "%.1f s" % med(r["role"])
        cells = [str(r["n"]), role + ("" if r.get("role_rc") == 0 else " (rc %s)" % r.get("role_rc")), "%.2f s" % apply,
                 "%.2f s" % alone, "%.2f + %.2f s" % (med(r["noop"]), med(r["floor"])), "%.2fx" % (alone / base)]
        if script:
            cells += ["%.1f s" % med(r["script"]), "%.1fx" % (med(r["script"]) / alone)]
        cells += ["%.2f s" % med(r["floor"]), "%.2f s" % med(r["report"]), "%.2f s" % med(r["trace"]),
                  "%.2f s" % med(r["delivery"]),
                  "%d, %d, %d" % (d["runspaces_opened"], d["cmdlets_run"], d["cmdlet:Get-SendConnector"]),
                  "%d, %d, %d, %d" % (a["runspaces_opened"], a["cmdlets_run"], a["cmdlet:Get-SendConnector"], a["writes"])]
        print("| " + " | ".join(cells) + " |")
    for r in results:
        if "five" in r:
            f = r["five"]
            print("\nN=%d, %d changed: apply %.2f s, runspaces %d, Get-SendConnector %d, writes %d, cmdlets %d" % (
                r["n"], f["changed"], f["seconds"], f["delta"]["runspaces_opened"], f["delta"]["cmdlet:Get-SendConnector"],
                f["delta"]["writes"], f["delta"]["cmdlets_run"]))
    if args.protocol_log:
        print("\n| N | role run | role run, protocol logging on | its runspaces, cmdlets, connector reads, writes | "
              "5 of N named, read: all | read: named | their Get-SendConnector (all, named) |")
        print("|---|---|---|---|---|---|---|")
        for r in results:
            d = r["plog_delta"]
            every, named = r["few_deltas"]
            print("| %d | %.1f s | %.1f s%s | %d, %d, %d, %d | %.2f s | %.2f s | %d, %d |" % (
                r["n"], med(r["role"]), med(r["role_plog"]), "" if r.get("plog_rc") == 0 else " (rc %s)" % r.get("plog_rc"),
                d["runspaces_opened"], d["cmdlets_run"], d["cmdlet:Get-SendConnector"], d["writes"],
                med(r["few_all"]), med(r["few_named"]), every["cmdlet:Get-SendConnector"], named["cmdlet:Get-SendConnector"]))
    print("\nslowest role tasks (N=%d):" % results[-1]["n"])
    for task in results[-1]["role_breakdown"]:
        print("  %6.2f s  %s (%s)" % (task["seconds"], task["task"], task["status"]))
    print("\nrole tasks run (N=%d): %d; load at the end %.2f %.2f %.2f; total %.0f s"
          % (results[-1]["n"], results[-1]["role_tasks"], *os.getloadavg(), time.perf_counter() - started))
    if args.wire:
        import benchmark_wire  # the parse and floor tables of docs/benchmark.md's reader section

        print()
        load = os.getloadavg()
        print("load average before the wire tables: %.2f %.2f %.2f\n" % load)
        benchmark_wire.parse_table(max(args.repeat, 3))
        benchmark_wire.floor_table(args.sizes, args.repeat)
        print("load average at the end: %.2f %.2f %.2f" % os.getloadavg())
    return 0 if all(r.get("role_rc") == 0 for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
