"""Print the generated bad-input suites' counts at the end of the run (they are their result).

Each suite records one line as the user property ``bad_input_summary`` of its report; reports travel
to the controlling process (also under pytest-xdist), where this hook prints them.
"""

from __future__ import annotations


def pytest_terminal_summary(terminalreporter):
    lines = []
    for reports in terminalreporter.stats.values():
        for report in reports:
            for key, value in getattr(report, "user_properties", None) or ():
                if key == "bad_input_summary" and value not in lines:
                    lines.append(value)
    for line in lines:
        terminalreporter.write_line(line)
