"""What reading Send connectors costs the client: pypsrp's deserialiser against the collection's reader.

Two parts, figures printed as Markdown tables (docs/benchmark.md):

1. Parse only, per connector object (no network): the public Exchange 2019 captures (tests/data/exchange, as
   PSRP messages with and without ``Deserialized.``) and one connector message of each lab wire profile,
   exactly as the lab's transport writes it. For each: a bare XML parse (ElementTree), the collection's reader
   (``_wire.read_message``), and the path the session used before (pypsrp 0.9.1's generic deserialiser with its
   lists read, then ``object_to_dict``: tests/integration/pypsrp_reference.py). Medians of ``--repeat`` rounds.
2. The floor, end to end: one session and one ``Get-SendConnector`` returning N connectors from a lab process
   (wire profile ``exchange``), with the session's reader (after) and with the earlier pypsrp path (before);
   the client's time inside deserialisation is measured separately, so the rest is the lab and the wire.

    .venv/bin/python hacking/benchmark_wire.py                    # N = 50 and 200, about 2 minutes
    .venv/bin/python hacking/benchmark_wire.py --sizes 50 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
sys.path.insert(0, os.path.join(ROOT, "collections"))

from labfixture import LabProcess  # noqa: E402
from pypsrp_reference import reference_record  # noqa: E402

from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import session as _session  # noqa: E402
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import wire as _wire

CAPTURES = ("GetSendConnector.xml", "GetSendConnectorConfiguredToRelayToM365.xml")


def median_ms(func, rounds: int, inner: int) -> float:
    times = []
    for _round in range(rounds):
        start = time.perf_counter()
        for _call in range(inner):
            func()
        times.append((time.perf_counter() - start) / inner * 1000)
    return statistics.median(times)


def capture_messages() -> list[tuple[str, str]]:
    found = []
    for name in CAPTURES:
        root = ET.parse(os.path.join(ROOT, "tests", "data", "exchange", name)).getroot()
        _wire._strip_namespace(root)
        [obj] = root
        plain = ET.tostring(obj, encoding="unicode")
        found.append((f"capture {name}", plain))
        prefixed = ET.fromstring(plain)
        for t in prefixed.iter("T"):
            t.text = "Deserialized." + (t.text or "")
        found.append((f"capture {name}, Deserialized.", ET.tostring(prefixed, encoding="unicode")))
    return found


def lab_messages() -> list[tuple[str, str]]:
    from exchange_lab.config import WIRE_PROFILES, LabConfig
    from exchange_lab.org.testing import OrgHarness, clixml

    found = []
    for profile in WIRE_PROFILES:
        with tempfile.TemporaryDirectory() as state:
            lab = OrgHarness(state, LabConfig(wire=profile))
            lab.run("New-SendConnector", Name="Bench", AddressSpaces=["*"], SmartHosts=["relay.contoso.com"],
                    DNSRoutingEnabled=False, TlsCertificateName="<I>CN=Contoso CA<S>CN=mail.contoso.com")
            [obj] = lab.run("Get-SendConnector", "Bench").output
            found.append((f"lab profile {profile}", ET.tostring(clixml(obj), encoding="unicode")))
    return found


def parse_table(rounds: int) -> None:
    print("## Parse only, per connector object (median of %d rounds, ms)\n" % rounds)
    print("| message | size | bare XML parse | collection reader | pypsrp + object_to_dict (before) | before / reader |")
    print("|---|---|---|---|---|---|")
    for label, message in capture_messages() + lab_messages():
        bare = median_ms(lambda: ET.fromstring(message), rounds, 20)
        reader = median_ms(lambda: _wire.read_message(message), rounds, 20)
        before = median_ms(lambda: reference_record(message), rounds, 5)
        print(f"| {label} | {len(message) / 1024:.0f} KB | {bare:.2f} | {reader:.2f} | {before:.2f} | {before / reader:.1f}x |")
    print()


class Timed(_session.ExchangeSession):
    """The session, timing the client's deserialisation of output; ``before`` uses the earlier pypsrp path."""

    before = False

    def open(self):
        super().open()
        serializer = self._pool._serializer
        # before: pypsrp's generic path and its flattening, handed to the session as the reader's records
        read = (lambda element: _wire.Output(reference_record(element))) if self.before else serializer.deserialize
        original = serializer.deserialize
        self.parse_seconds = 0.0

        def deserialize(element, metadata=None, clear=True):
            if metadata is None and clear and isinstance(element, str):
                start = time.perf_counter()
                try:
                    return read(element)
                finally:
                    self.parse_seconds += time.perf_counter() - start
            return original(element, metadata, clear)

        serializer.deserialize = deserialize


def floor_table(sizes: list[int], rounds: int) -> None:
    print("## The floor: one session, one Get-SendConnector returning N connectors (lab profile exchange)\n")
    print(f"Median of {rounds} rounds. 'client parse' is the time inside deserialisation of the output messages.\n")
    print("| N | path | floor | per connector | client parse per connector | rest (lab, wire, session) per connector |")
    print("|---|---|---|---|---|---|")
    for size in sizes:
        with tempfile.TemporaryDirectory() as state:
            lab = LabProcess(state, wire="exchange")
            ready = lab.start()
            try:
                settings = _session.connection_settings({
                    "server": ready["host"], "server_port": ready["port"], "path": ready["path"],
                    "protocol": "http", "auth": "basic", "username": ready["username"],
                    "password": ready["password"], "operation_timeout": 120})
                with _session.ExchangeSession(settings) as session:
                    for index in range(size):
                        session.run("New-SendConnector", [
                            ("Name", "Bench %03d" % index), ("AddressSpaces", ["bench%03d.example" % index]),
                            ("SmartHosts", ["relay%d.contoso.com" % (index % 7)]), ("DNSRoutingEnabled", False)])
                for before in (True, False):
                    floors, parses = [], []
                    for _round in range(rounds):
                        Timed.before = before
                        start = time.perf_counter()
                        with Timed(settings) as session:
                            records = session.run("Get-SendConnector")
                        floors.append(time.perf_counter() - start)
                        parses.append(session.parse_seconds)
                        assert len(records) == size and records[0]["SmartHosts"], records[:1]
                    floor, parse = statistics.median(floors), statistics.median(parses)
                    label = "pypsrp + object_to_dict (before)" if before else "collection reader (after)"
                    print(f"| {size} | {label} | {floor:.2f} s | {floor / size * 1000:.1f} ms | "
                          f"{parse / size * 1000:.2f} ms | {(floor - parse) / size * 1000:.1f} ms |")
            finally:
                lab.stop()
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[50, 200])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    load = os.getloadavg()
    print(f"load average at the start: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f} (2 cores)\n")
    parse_table(max(args.repeat, 3))
    floor_table(args.sizes, args.repeat)
    load = os.getloadavg()
    print(f"load average at the end: {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}")


if __name__ == "__main__":
    main()
