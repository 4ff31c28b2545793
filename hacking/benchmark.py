"""Benchmark the Exchange lab and the send_connector module against it; prints figures, asserts no timings.

Run from the repository root (``make collection-link`` once, for the module-level part)::

    .venv/bin/python hacking/benchmark.py            # full run, under 2 minutes on 2 cores
    .venv/bin/python hacking/benchmark.py --quick    # fewer samples, under 30 s

Sections (each starts its own lab on 127.0.0.1 with ``labfixture.LabProcess``):

1. lab start-up, RunspacePool open/close latency (median/p95 over N);
2. Get/New/Set/Remove-SendConnector latency over one pool, and Get-SendConnector by result size;
3. the same with the lab's ``latency`` knobs (runspace_open, cmdlet) set, i.e. a slow Exchange;
4. throughput with 1, 5 and 20 concurrent clients (one pool each, Get-SendConnector);
5. HTTP Basic vs HTTPS Basic vs NTLM with WinRM message encryption: pool open + one cmdlet;
6. module level: ``ansible-playbook`` running ``mailflow.exchange.send_connector`` (create, the same
   again, a change, and the same again against the slow lab) with the wall time and the lab's counter
   deltas per run. Each run prints a machine-readable line::

       CALLS <label>: changed=<bool> runspaces_opened=<n> cmdlets_run=<n> get_send_connector=<n> writes=<n>

   The collection promises: a run that changes nothing makes exactly one Get-SendConnector and no
   write; a change makes one write; a create also reads every connector's name once after its write
   (Get-SendConnector | Select-Object, for look-alikes of the new name). ``tests/lab/tests/test_benchmark_smoke.py`` checks those lines.

Many connectors, the role and a per-connector-session script on the latency profile of issue 12:
``hacking/benchmark_scale.py`` (docs/benchmark.md).

Exit status 0 when every section ran (the call counts are reported, not judged, here), 1 when one failed.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import json
import os
import platform
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

from labfixture import LabProcess, exchange_env  # noqa: E402

SLOW = {"runspace_open": 0.5, "cmdlet": 0.2}  # the "slow Exchange" latency knobs, in seconds
PLAYBOOK = """\
- name: send_connector benchmark run
  hosts: localhost
  connection: local
  gather_facts: false
  vars:
    ansible_python_interpreter: "{{ ansible_playbook_python }}"
  tasks:
    - name: Smart-host connector
      mailflow.exchange.send_connector:
        name: Benchmark smart host
        address_spaces: ['*']
        usage: Custom
        dns_routing_enabled: false
        smart_hosts: [192.0.2.25]
        smart_host_auth_mechanism: None
        port: "{{ bench_port | int }}"
      register: result
    - name: Report
      ansible.builtin.debug:
        msg: "BENCH_CHANGED={{ result.changed }}"
"""


# --- helpers ---------------------------------------------------------------------------------


def summary(samples: list[float]) -> str:
    """``median 12.3 ms  p95 15.0 ms  (n=20)`` for a list of seconds."""
    if not samples:
        return "no samples"
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, max(0, round(0.95 * len(ordered)) - 1))]
    return f"median {statistics.median(ordered) * 1000:8.1f} ms   p95 {p95 * 1000:8.1f} ms   (n={len(ordered)})"


def timed(func: t.Callable[[], t.Any]) -> tuple[float, t.Any]:
    started = time.perf_counter()
    value = func()
    return time.perf_counter() - started, value


@contextlib.contextmanager
def lab_process(work: str, label: str, **kwargs: t.Any) -> t.Iterator[LabProcess]:
    lab = LabProcess(os.path.join(work, label), **kwargs)
    seconds = timed(lab.start)[0]
    print(f"  lab '{label}' ready in {seconds * 1000:.0f} ms (process start to ready file)")
    try:
        yield lab
    finally:
        lab.stop()


def run(lab: LabProcess, pool: t.Any, name: str, parameters: dict[str, t.Any] | None = None) -> t.Any:
    """One cmdlet; a cmdlet that fails is a benchmark error (it would skew every figure)."""
    ps = lab.run_cmdlet(name, parameters, pool=pool)
    if ps.had_errors or ps.streams.error:
        errors = "; ".join(str(e) for e in ps.streams.error) or "pipeline failed"
        raise RuntimeError(f"{name} failed: {errors}")
    return ps.output


def connector_params(index: int) -> dict[str, t.Any]:
    return {
        "Name": f"Bench {index}",
        "AddressSpaces": f"bench{index}.example",
        "Custom": True,
        "DNSRoutingEnabled": False,
        "SmartHosts": "192.0.2.25",
        "SmartHostAuthMechanism": "None",
    }


def heading(text: str) -> None:
    print(f"\n== {text}", flush=True)


# --- sections --------------------------------------------------------------------------------


def bench_runspace(lab: LabProcess, n: int) -> None:
    opens: list[float] = []
    closes: list[float] = []
    for _sample in range(n):
        pool = lab.pool(records=True)
        opens.append(timed(pool.open)[0])
        closes.append(timed(pool.close)[0])
    print(f"  RunspacePool open            {summary(opens)}")
    print(f"  RunspacePool close           {summary(closes)}")


def bench_cmdlets(lab: LabProcess, n: int, base: int) -> None:
    samples: dict[str, list[float]] = {"Get-SendConnector": [], "New-SendConnector": [], "Set-SendConnector": [], "Remove-SendConnector": []}
    with lab.pool(records=True) as pool:
        for i in range(n):
            index = base + i
            name = f"Bench {index}"
            samples["New-SendConnector"].append(timed(lambda: run(lab, pool, "New-SendConnector", connector_params(index)))[0])
            samples["Get-SendConnector"].append(timed(lambda: run(lab, pool, "Get-SendConnector"))[0])
            samples["Set-SendConnector"].append(
                timed(lambda: run(lab, pool, "Set-SendConnector", {"Identity": name, "Port": 2525 + i}))[0]
            )
            samples["Remove-SendConnector"].append(
                timed(lambda: run(lab, pool, "Remove-SendConnector", {"Identity": name, "Confirm": False}))[0]
            )
    for name, values in samples.items():
        print(f"  {name:<28} {summary(values)}")


def bench_output_size(lab: LabProcess, n: int, sizes: tuple[int, ...] = (0, 1, 3, 10)) -> None:
    """Get-SendConnector latency by how many connectors it returns (each is a large serialised object)."""
    with lab.pool(records=True) as pool:
        made = 0
        for size in sizes:
            while made < size:
                run(lab, pool, "New-SendConnector", connector_params(500 + made))
                made += 1
            samples = [timed(lambda: run(lab, pool, "Get-SendConnector"))[0] for _sample in range(n)]
            label = f"Get-SendConnector, {size} conn."
            print(f"  {label:<28} {summary(samples)}")
        for index in range(made):
            run(lab, pool, "Remove-SendConnector", {"Identity": f"Bench {500 + index}", "Confirm": False})


def bench_throughput(lab: LabProcess, clients_list: tuple[int, ...], total: int) -> None:
    with lab.pool(records=True) as pool:  # a few connectors so Get-SendConnector returns something
        for i in range(3):
            run(lab, pool, "New-SendConnector", connector_params(900 + i))
    for clients in clients_list:
        per_client = max(2, total // clients)
        pools = []
        open_time = timed(lambda: _open_pools(lab, clients, pools))[0]
        barrier = threading.Barrier(clients + 1)

        def worker(pool: t.Any) -> int:
            barrier.wait()
            for _call in range(per_client):
                run(lab, pool, "Get-SendConnector")
            return per_client

        try:
            with concurrent.futures.ThreadPoolExecutor(max_workers=clients) as executor:
                futures = [executor.submit(worker, p) for p in pools]
                barrier.wait()
                started = time.perf_counter()
                done = sum(f.result() for f in futures)
                elapsed = time.perf_counter() - started
        finally:
            for p in pools:
                with contextlib.suppress(Exception):
                    p.close()
        print(
            f"  {clients:>2} client(s) x {per_client:>3} Get-SendConnector: {done / elapsed:7.1f} cmdlets/s"
            f"   ({elapsed:.2f} s; opening the {clients} pool(s) concurrently took {open_time:.2f} s)"
        )


def _open_pools(lab: LabProcess, count: int, into: list[t.Any]) -> None:
    with concurrent.futures.ThreadPoolExecutor(max_workers=count) as executor:
        def _one() -> t.Any:
            pool = lab.pool(records=True)
            pool.open()
            return pool

        into.extend(executor.map(lambda _index: _one(), range(count)))


def bench_transports(work: str, n: int) -> None:
    variants = [("http-basic", {"auth": "basic"}), ("https-basic", {"auth": "basic", "https": True}), ("http-ntlm", {"auth": "ntlm"})]
    for label, kwargs in variants:
        with lab_process(work, label, **kwargs) as lab:
            opens: list[float] = []
            cmdlets: list[float] = []
            for _sample in range(n):
                pool = lab.pool(records=True)
                opens.append(timed(pool.open)[0])
                try:
                    cmdlets.append(timed(lambda: run(lab, pool, "Get-SendConnector"))[0])
                finally:
                    pool.close()
            note = "(WinRM message encryption)" if kwargs["auth"] == "ntlm" else ""
            print(f"  {label:<12} pool open      {summary(opens)} {note}")
            print(f"  {label:<12} cmdlet         {summary(cmdlets)}")


# --- module level ----------------------------------------------------------------------------


def module_env(lab: LabProcess) -> dict[str, str]:
    ready = lab.ready
    env = dict(os.environ)
    env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "collections"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "0",
            "ANSIBLE_LOCALHOST_WARNING": "0",
            "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
            **exchange_env(ready),
        }
    )
    return env


def counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    keys = ("runspaces_opened", "cmdlets_run", "cmdlet:Get-SendConnector", "writes")
    return {k: after.get(k, 0) - before.get(k, 0) for k in keys}


def module_run(lab: LabProcess, playbook: str, label: str, port: int) -> bool:
    """One ansible-playbook run; prints its wall time and the CALLS line. True when it succeeded."""
    ansible = os.path.join(os.path.dirname(sys.executable), "ansible-playbook")
    cmd = [ansible, playbook, "-i", "localhost,", "-e", f"bench_port={port}"]
    before = lab.counters()
    wall, proc = timed(
        lambda: subprocess.run(cmd, env=module_env(lab), cwd=ROOT, text=True, capture_output=True, check=False, timeout=120)
    )
    time.sleep(0.2)  # the module's pool close reaches the lab just after the process exits
    delta = counter_delta(before, lab.counters())
    changed = "BENCH_CHANGED=True" in proc.stdout
    print(f"  {label:<26} wall {wall:6.2f} s   exit {proc.returncode}")
    print(
        f"  CALLS {label}: changed={changed} runspaces_opened={delta['runspaces_opened']} cmdlets_run={delta['cmdlets_run']}"
        f" get_send_connector={delta['cmdlet:Get-SendConnector']} writes={delta['writes']}",
        flush=True,
    )
    if proc.returncode != 0:
        tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
        print(f"  ansible-playbook failed ({label}):\n{tail}")
        return False
    return True


def bench_module(work: str, slow: bool) -> bool:
    if not os.path.isdir(os.path.join(ROOT, "collections", "ansible_collections", "mailflow", "exchange")):
        print("  collections/ansible_collections/mailflow/exchange is missing: run `make collection-link` once")
        return False
    playbook = os.path.join(work, "send_connector_bench.yml")
    with open(playbook, "w", encoding="utf-8") as handle:
        handle.write(PLAYBOOK)
    ok = True
    with lab_process(work, "module") as lab:
        ok &= module_run(lab, playbook, "create", 25)
        ok &= module_run(lab, playbook, "no-change", 25)
        ok &= module_run(lab, playbook, "change", 2525)
    if slow:
        with lab_process(work, "module-slow", config={"latency": SLOW}) as lab:
            ok &= module_run(lab, playbook, "slow-create", 25)
            ok &= module_run(lab, playbook, "slow-no-change", 25)
    return ok


# --- main ------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples and no slow-lab module runs (under 30 s)")
    args = parser.parse_args(argv)
    n = 5 if args.quick else 20
    slow_n = 2 if args.quick else 5
    started = time.perf_counter()
    print(
        f"exchange_lab benchmark {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC"
        f" | {platform.node()} | {os.cpu_count()} CPU(s) | Python {platform.python_version()}"
        f" | {'quick' if args.quick else 'full'}"
    )
    failures: list[str] = []
    with tempfile.TemporaryDirectory(prefix="exchange-lab-bench-") as work:
        sections: list[tuple[str, t.Callable[[], t.Any]]] = [
            ("Runspace and cmdlets, HTTP Basic, no added latency", lambda: _fast_lab(work, n)),
            (f"Slow Exchange: latency {json.dumps(SLOW)}", lambda: _slow_lab(work, slow_n)),
            ("Throughput, Get-SendConnector, one pool per client", lambda: _throughput(work, args.quick)),
            ("Transports: pool open + one Get-SendConnector", lambda: bench_transports(work, 3 if args.quick else 10)),
            ("Module level: ansible-playbook with mailflow.exchange.send_connector", lambda: bench_module(work, not args.quick)),
        ]
        for title, section in sections:
            heading(title)
            try:
                if section() is False:
                    failures.append(title)
            except Exception as exc:  # noqa: BLE001 - report and carry on with the next section
                print(f"  FAILED: {type(exc).__name__}: {exc}")
                failures.append(title)
    print(f"\nTotal {time.perf_counter() - started:.1f} s" + (f"; failed sections: {', '.join(failures)}" if failures else ""))
    return 1 if failures else 0


def _fast_lab(work: str, n: int) -> None:
    with lab_process(work, "fast") as lab:
        bench_runspace(lab, n)
        bench_cmdlets(lab, n, 0)
        bench_output_size(lab, max(3, n // 4))


def _slow_lab(work: str, n: int) -> None:
    with lab_process(work, "slow", config={"latency": SLOW}) as lab:
        bench_runspace(lab, n)
        bench_cmdlets(lab, n, 0)


def _throughput(work: str, quick: bool) -> None:
    with lab_process(work, "throughput") as lab:
        bench_throughput(lab, (1, 5, 20), 20 if quick else 200)


if __name__ == "__main__":
    sys.exit(main())
