"""Command line: ``python -m exchange_lab serve ...`` and ``python -m exchange_lab smarthost ...``.

Each subcommand lives in its own module, which provides ``add_arguments(parser)`` and
``run(args) -> int``; this file only wires them up.
"""

from __future__ import annotations

import argparse
import importlib

SUBCOMMANDS = {
    "serve": ("exchange_lab.serve", "start the Exchange lab (PowerShell remoting endpoint, later SMTP)"),
    "smarthost": ("exchange_lab.smarthost", "start a test smart host (SMTP with optional STARTTLS/AUTH)"),
    "postfix": ("exchange_lab.postfix", "run a private Debian Postfix as the smart host (STARTTLS, Cyrus SASL, Maildir)"),
    "kdc": ("exchange_lab.kdc_command", "run a throwaway MIT Kerberos realm (KDC on loopback) for --auth kerberos"),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m exchange_lab",
        description="A local Exchange organisation for tests: PowerShell remoting like Exchange's /PowerShell endpoint.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            continue  # a subcommand not built yet
        sub_parser = sub.add_parser(name, help=help_text, description=help_text)
        module.add_arguments(sub_parser)
        sub_parser.set_defaults(_run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args._run(args) or 0)
