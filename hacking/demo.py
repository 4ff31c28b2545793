"""``make demo``: the main job against the built-in Exchange lab, told as a story.

1. start a test smart host (STARTTLS, a certificate for smarthost.lab.test) and the Exchange lab,
   which resolves smarthost.lab.test to it and trusts its CA;
2. run ``ansible-playbook mailflow.exchange.smart_host`` (validate, preflight probe, apply,
   verify with a traced test message and the SMTP session from the protocol log, report);
3. run it again: nothing changes;
4. stop everything.

Only loopback addresses are used. Exit status: 0 when both runs succeed and the second one
changes nothing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab"))
sys.path.insert(0, os.path.join(ROOT, "tests", "lab", "tests"))

from exchange_lab.smarthost import SmartHost, SmartHostConfig  # noqa: E402
from labfixture import LabProcess, exchange_env  # noqa: E402

SMART_HOST_NAME = "smarthost.lab.test"


def banner(text: str) -> None:
    print(f"\n=== {text} " + "=" * max(0, 76 - len(text)), flush=True)


def run_playbook(env: dict[str, str], label: str) -> tuple[int, str]:
    cmd = [
        os.path.join(os.path.dirname(sys.executable), "ansible-playbook"),
        "mailflow.exchange.smart_host",
        "-i",
        os.path.join(ROOT, "playbooks", "inventory", "lab.yml"),
        "--diff",
    ]
    banner(f"{label}: {' '.join(['ansible-playbook'] + cmd[1:])}")
    started = time.monotonic()
    # Streamed line by line: a run takes 20-50 s, and a silent screen for that long looks like a hang.
    lines = []
    with subprocess.Popen(cmd, env=env, cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        assert proc.stdout is not None
        for line in proc.stdout:
            print(line, end="", flush=True)
            lines.append(line)
    print(f"({label} took {time.monotonic() - started:.1f} s, exit status {proc.returncode})", flush=True)
    return proc.returncode, "".join(lines)


def ansible_core_version() -> str:
    from ansible.release import __version__  # pylint: disable=import-outside-toplevel

    return __version__


def recap_changed(output: str) -> int:
    """Sum of changed= over the PLAY RECAP lines."""
    return sum(int(n) for n in re.findall(r"\bchanged=(\d+)", output.split("PLAY RECAP", 1)[-1]))


def main() -> int:
    print(f"ansible-core {ansible_core_version()} on Python {sys.version.split()[0]} ({sys.executable})", flush=True)
    with tempfile.TemporaryDirectory(prefix="mailflow-demo-") as work:
        banner("Starting a test smart host (STARTTLS, certificate for smarthost.lab.test)")
        smart_host = SmartHost(
            # A certificate valid for 397 days, like a public one (the default lasts centuries, and the
            # report would say "days left 355416").
            SmartHostConfig(
                state_dir=os.path.join(work, "smarthost"), starttls=True, cert_names=[SMART_HOST_NAME], banner_name=SMART_HOST_NAME,
                cert_valid_days=397,
            )
        )
        smart_host.start()
        lab = LabProcess(
            os.path.join(work, "lab"),
            https=True,  # as against a real Exchange: Basic over plain HTTP would send the password in clear text
            config={"hosts": {SMART_HOST_NAME: smart_host.ready["host"]}, "mail": {"ca_bundle": smart_host.ready["ca_cert"], "retry_interval": 2}},
        )
        try:
            smart_host_ready = os.path.join(work, "smarthost", "ready.json")
            with open(smart_host_ready, "w", encoding="utf-8") as handle:
                json.dump(smart_host.ready, handle)
            print(json.dumps({k: smart_host.ready[k] for k in ("host", "port", "mode", "cert_names")}))
            banner("Starting the Exchange lab (PowerShell remoting over HTTPS + SMTP)")
            ready = lab.start()
            print(json.dumps({k: v for k, v in ready.items() if "password" not in k}))
            env = dict(os.environ)
            env.update(
                {
                    "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, "collections"),
                    "ANSIBLE_FORCE_COLOR": "0",
                    "ANSIBLE_NOCOLOR": "1",
                    **exchange_env(ready),  # HTTPS: with the lab's CA in EXCHANGE_CA_CERT, certificates are checked
                    "EXCHANGE_LAB_READY": os.path.join(lab.state_dir, "ready.json"),
                    "SMART_HOST_READY": smart_host_ready,
                }
            )
            first_rc = run_playbook(env, "First run")[0]
            second_rc, second = run_playbook(env, "Second run (nothing should change)")
            changed = recap_changed(second)
            banner("Result")
            received = smart_host.messages()
            print(f"Messages the smart host received: {len(received)}")
            for message in received:
                tls = f"TLS {message.tls_version}" if message.tls else "no TLS"
                print(f"  {message.message_id} from {message.mail_from} to {', '.join(message.rcpt_to)} (EHLO {message.helo}, {tls})")
            ok = first_rc == 0 and second_rc == 0 and changed == 0
            report = re.search(r"Report for the change ticket \(Markdown\): (\S+)\)", second)
            if report:
                print(f"The report for a change ticket (Markdown, from the second run): {report.group(1)}")
            print("Second run changed nothing." if changed == 0 else f"Second run reported {changed} change(s)!")
            print("DEMO OK" if ok else "DEMO FAILED")
            return 0 if ok else 1
        finally:
            banner("Stopping the lab and the smart host")
            lab.stop()
            smart_host.stop()


if __name__ == "__main__":
    sys.exit(main())
