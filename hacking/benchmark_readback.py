"""What send_connectors' ``read_back`` costs a run that creates N connectors (issue 17), on the issue-12 latency
profile (the lab's runspace open 0.5 s and 0.2 s per cmdlet, and ``benchmark_scale.DelayProxy`` holding every WSMan
request 30 ms).

The script runs the modules' own engine (``_engine.apply(..., read_back=True)`` on the collection's
``ConnectorManager`` and ``ExchangeSession``, one session per run as a module run has) against a lab process, two ways:

* ``one read per GUID``: the manager told that the session binds no pipeline input (``guids_by_pipeline`` off), so
  every written connector is read back by itself (``Get-SendConnector -Identity <GUID>``); this is also what the
  read-back did before it piped the GUIDs;
* ``one call (pipeline input)``: as shipped, the written GUIDs are the pipeline input of one Get-SendConnector.

Each run creates the same N connectors in an empty organisation; they are removed again outside the timing. It
prints medians of ``--repeat`` runs: the whole apply, the read-back alone, and the lab's Get-SendConnector count.

    .venv/bin/python hacking/benchmark_readback.py              # N = 50, 3 runs per way, about 4 minutes
    .venv/bin/python hacking/benchmark_readback.py --sizes 10 50 --repeat 3
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))
sys.path.insert(0, os.path.join(ROOT, "collections"))
sys.path.insert(0, os.path.join(ROOT, "hacking"))

from benchmark_scale import LATENCY, PROXY_DELAY, DelayProxy  # noqa: E402
from labfixture import LabProcess  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import engine as _engine  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session  # noqa: E402

WAYS = ("one read per GUID", "one call (pipeline input)")


def settings_for(ready: dict, port: int) -> dict:
    return _session.connection_settings({
        "server": "127.0.0.1", "server_port": port, "path": ready["path"], "protocol": "http",
        "auth": "basic", "username": ready["username"], "password": ready["password"], "operation_timeout": 120})


def create_all(settings: dict, way: str, size: int, lab: LabProcess) -> tuple[float, float, int]:
    """(apply seconds, read-back seconds, Get-SendConnector calls) of one run creating ``size`` connectors."""
    items = [_engine.Item("Readback %03d" % index, {"address_spaces": ["rb%03d.example" % index],
                                                    "smart_hosts": ["relay%d.contoso.com" % (index % 7)]})
             for index in range(size)]
    timed: list[float] = []
    original = _engine.Engine.read_back

    def read_back(engine: _engine.Engine) -> None:
        start = time.perf_counter()
        original(engine)
        timed.append(time.perf_counter() - start)

    before = lab.counters().get("cmdlet:Get-SendConnector", 0)
    with _session.ExchangeSession(settings) as session:
        manager = _manager.ConnectorManager(session)
        manager.guids_by_pipeline = way == WAYS[1]
        _engine.Engine.read_back = read_back  # type: ignore[method-assign]
        try:
            start = time.perf_counter()
            results = _engine.apply(manager, items, read_back=True)
            seconds = time.perf_counter() - start
        finally:
            _engine.Engine.read_back = original  # type: ignore[method-assign]
        assert all(r["changed"] and r["read_back"]["differences"] == [] for r in results), results[:2]
        gets = lab.counters().get("cmdlet:Get-SendConnector", 0) - before
        for item in items:
            session.run("Remove-SendConnector", [("Identity", item.name), ("Confirm", False)])
    return seconds, timed[0], gets


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print("profile: lab latency %s, proxy +%d ms per WSMan request; load %s" % (
        LATENCY, PROXY_DELAY * 1000, " ".join("%.1f" % x for x in os.getloadavg())))
    print("| N | read-back | apply, create all (median of %d) | the read-back alone | Get-SendConnector calls |"
          % args.repeat)
    print("|---:|---|---:|---:|---:|")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as state:
            lab = LabProcess(state, wire="exchange", auth="basic", config={"latency": LATENCY})
            ready = lab.start()
            proxy = DelayProxy((ready["host"], ready["port"]), PROXY_DELAY)
            try:
                settings = settings_for(ready, proxy.port)
                for way in WAYS:
                    runs = [create_all(settings, way, size, lab) for _run in range(args.repeat)]
                    print("| %d | %s | %.2f s | %.2f s | %d |" % (
                        size, way, statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs),
                        statistics.median(r[2] for r in runs)))
                    sys.stdout.flush()
            finally:
                proxy.close()
                lab.stop()
    print("load after: %s" % " ".join("%.1f" % x for x in os.getloadavg()))


if __name__ == "__main__":
    main()
