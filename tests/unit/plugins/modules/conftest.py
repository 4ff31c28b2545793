"""Print the generated bad-input suite's counts at the end of the run (they are its result)."""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    import sys

    module = next((m for name, m in list(sys.modules.items()) if name.rsplit(".", 1)[-1] == "test_bad_input"), None)
    SUMMARY = getattr(module, "SUMMARY", None)
    if SUMMARY:
        failures = SUMMARY["failures"]
        terminalreporter.write_line(
            "generated bad input: %d cases (%d decidable from the input), failures by class: %s (slowest case %.2f s)"
            % (SUMMARY["cases"], SUMMARY["decidable_bad"],
               ", ".join("%s %d" % kv for kv in sorted(failures.items())) or "all 0", SUMMARY["slowest"]))
