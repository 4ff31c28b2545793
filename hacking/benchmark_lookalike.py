"""What the single modules' look-alike check costs a create (issue 15): N connectors in a lab, one create.

send_connector reads a name it does not find by name (``Get-SendConnector -Identity``), creates it, and then reads
every connector's NAME once (``Get-SendConnector | Select-Object -ExpandProperty Name``) to warn about look-alikes.
This script runs the modules' own engine (``_engine.apply`` on the collection's ``ConnectorManager`` and
``ExchangeSession``, one session per create as a module run has) against a lab process holding N connectors (wire
profile ``exchange``, about 52 KB per connector, as Exchange 2019 writes them) in three ways:

* ``no look-alike read``: the engine with its names read switched off (what a create cost before);
* ``names read (pipeline)``: as shipped;
* ``every connector read in full``: the same with a session that has no Select-Object (``names_by_pipeline`` off,
  the fallback; it is also what the first attempt at this check read on every create).

Each create is followed by a Remove outside the timing. Medians of ``--repeat`` creates; the reads alone too.

    .venv/bin/python hacking/benchmark_lookalike.py              # N = 50, 7 creates per way, about a minute
    .venv/bin/python hacking/benchmark_lookalike.py --sizes 50 200 --repeat 5
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

from labfixture import LabProcess  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import engine as _engine  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors import manager as _manager  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session  # noqa: E402

WAYS = ("no look-alike read", "names read (pipeline)", "every connector read in full")


def settings_for(ready: dict) -> dict:
    return _session.connection_settings({
        "server": ready["host"], "server_port": ready["port"], "path": ready["path"], "protocol": "http",
        "auth": "basic", "username": ready["username"], "password": ready["password"], "operation_timeout": 120})


def create_once(settings: dict, way: str, name: str) -> float:
    """Seconds for one create through the engine (session open and close excluded, as they do not change)."""
    with _session.ExchangeSession(settings) as session:
        manager = _manager.ConnectorManager(session)
        manager.names_by_pipeline = way != WAYS[2]
        item = _engine.Item(name, {"address_spaces": ["%s.example" % name.replace(" ", "-").lower()],
                                   "smart_hosts": ["192.0.2.77"]})
        original = _engine.Engine.tell_lookalikes
        if way == WAYS[0]:
            _engine.Engine.tell_lookalikes = lambda self: None
        try:
            start = time.perf_counter()
            [result] = _engine.apply(manager, [item])
            seconds = time.perf_counter() - start
        finally:
            _engine.Engine.tell_lookalikes = original
        assert result["changed"] is True, result
        session.run("Remove-SendConnector", [("Identity", name), ("Confirm", False)])
    return seconds


def read_ms(settings: dict, what: str, rounds: int) -> float:
    times = []
    with _session.ExchangeSession(settings) as session:
        manager = _manager.ConnectorManager(session)
        call = {"by name": lambda: manager.get_raw("Bench 007"), "names (pipeline)": manager.get_names,
                "all, in full": lambda: manager.get_raw(None)}[what]
        call()
        for _round in range(rounds):
            start = time.perf_counter()
            call()
            times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[50])
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    print("| N | create (median of %d) | seconds | the read alone (ms) |" % args.repeat)
    print("|---|---|---|---|")
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as state:
            lab = LabProcess(state, wire="exchange")
            ready = lab.start()
            try:
                settings = settings_for(ready)
                with _session.ExchangeSession(settings) as session:
                    for index in range(size):
                        session.run("New-SendConnector", [
                            ("Name", "Bench %03d" % index), ("AddressSpaces", ["bench%03d.example" % index]),
                            ("SmartHosts", ["relay%d.contoso.com" % (index % 7)]), ("DNSRoutingEnabled", False)])
                reads = {WAYS[0]: read_ms(settings, "by name", args.repeat),
                         WAYS[1]: read_ms(settings, "names (pipeline)", args.repeat),
                         WAYS[2]: read_ms(settings, "all, in full", args.repeat)}
                for way in WAYS:
                    times = [create_once(settings, way, "Lookalike bench %d" % i) for i in range(args.repeat)]
                    label = "by name" if way == WAYS[0] else "+ " + way
                    print("| %d | %s | %.3f | %s %.1f |" % (size, way, statistics.median(times), label, reads[way]))
                    sys.stdout.flush()
            finally:
                lab.stop()


if __name__ == "__main__":
    main()
