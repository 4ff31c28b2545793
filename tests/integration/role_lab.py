"""An Exchange lab and a test smart host wired together the way the role's tests need them.

The smart host (``exchange_lab.smarthost.SmartHost``) listens on loopback with a certificate for
``smarthost.lab.test``; the lab (``python -m exchange_lab serve`` via ``LabProcess``) resolves that
name to it and trusts its CA, so the lab's transport delivers the role's test message through
the connector. Both ready files are written where ``playbooks/inventory/lab.yml`` reads them
(``EXCHANGE_LAB_READY``, ``SMART_HOST_READY``). Credentials in the environment are what the AWX
credential types inject (see :func:`render_injectors`).
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import typing as t

import yaml


from labfixture import LabProcess  # noqa: E402
# The role, runner and e2e tests take ROOT and collections_path from here; the harness owns them.
from send_connector_harness import CALLBACK_PLUGINS, ROOT, collections_path, exchange_env  # noqa: E402,F401  pylint: disable=unused-import

SMART_HOST_NAME = "smarthost.lab.test"
LAB_INVENTORY = os.path.join(ROOT, "playbooks", "inventory", "lab.yml")
CREDENTIAL_TYPES = os.path.join(ROOT, "awx", "credential_types")


def _write_json(path: str, data: dict[str, t.Any]) -> str:
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    return path


@contextlib.contextmanager
def lab_with_smart_host(workdir: str, aliases: t.Sequence[str] = (), lab_config: dict[str, t.Any] | None = None,
                        **smart_host_options: t.Any) -> t.Iterator[dict[str, t.Any]]:
    """Start a test smart host and a lab that routes to it; yield paths and ready data.

    ``smart_host_options`` are ``SmartHostConfig`` fields (starttls, auth, users, ...); the
    certificate names ``smarthost.lab.test`` and the ``aliases``, which the lab also resolves to
    the smart host (a second "smart host" at the same address). ``lab_config`` adds keys to the lab's
    configuration (servers with certificate stores, cmdlet_server, transport_config, ...).
    """
    from exchange_lab.smarthost import SmartHost, SmartHostConfig

    smart_dir = os.path.join(workdir, "smarthost")
    lab_dir = os.path.join(workdir, "lab")
    os.makedirs(smart_dir, exist_ok=True)
    os.makedirs(lab_dir, exist_ok=True)
    options = {"cert_names": [SMART_HOST_NAME, *aliases], "banner_name": SMART_HOST_NAME}
    options.update(smart_host_options)
    with SmartHost(SmartHostConfig(state_dir=smart_dir, **options)) as smart_host:
        smart_ready = _write_json(os.path.join(smart_dir, "ready.json"), smart_host.ready)
        lab = LabProcess(
            lab_dir,
            config={
                "hosts": {name: smart_host.ready["host"] for name in (SMART_HOST_NAME, *aliases)},
                **(lab_config or {}),
                # lab_config's mail keys are added to these (connect_timeout, send_event_id, ...)
                "mail": {"ca_bundle": smart_host.ready.get("ca_cert"), "retry_interval": 2, **(lab_config or {}).get("mail", {})},
            },
        )
        lab.start()
        try:
            yield {
                "lab": lab,
                "smart_host": smart_host,
                "lab_ready_file": os.path.join(lab_dir, "ready.json"),
                "smart_host_ready_file": smart_ready,
            }
        finally:
            lab.stop()


def exchange_inputs(lab: LabProcess) -> dict[str, t.Any]:
    """The inputs a user would type into an "Exchange management" credential for this lab."""
    ready = lab.ready
    return {
        "server": ready["host"],
        "port": str(ready["port"]),
        "protocol": ready["scheme"],
        "path": ready["path"],
        "auth": ready["auth"],
        "username": ready["username"],
        "password": ready["password"],
        "validate_certs": False,
        "ca_cert": "",
    }


def load_credential_type(name: str) -> dict[str, t.Any]:
    with open(os.path.join(CREDENTIAL_TYPES, name + ".yml"), encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def render_injectors(credential_type: dict[str, t.Any], inputs: dict[str, t.Any], files_dir: str) -> dict[str, str]:
    """The environment a job gets from one credential, rendered the way AWX does it.

    AWX renders each injector template with Jinja2 in a sandbox: the inputs by their ids, and
    ``tower.filename.<id>`` for each ``file`` injector, whose rendered content it writes to a
    private file first. Missing optional inputs render as empty strings.
    """
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    env = ImmutableSandboxedEnvironment()
    fields = {f["id"]: f for f in credential_type["inputs"]["fields"]}
    values = {key: inputs.get(key, fields[key].get("default", "")) for key in fields}
    injectors = credential_type.get("injectors") or {}
    filenames: dict[str, str] = {}
    for key, template in (injectors.get("file") or {}).items():
        ident = key.split(".", 1)[1] if "." in key else "template"
        path = os.path.join(files_dir, "credential_%s_%s" % (credential_type["name"].split()[0].lower(), ident))
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(env.from_string(template).render(**values))
        filenames[ident] = path
    context = dict(values, tower={"filename": filenames}, awx={"filename": filenames})
    return {name: env.from_string(str(template)).render(**context) for name, template in (injectors.get("env") or {}).items()}


# --- the main playbook (mailflow.exchange.smart_host) against a lab and its smart host ----------------------
BIN = os.path.dirname(sys.executable)
SEED = "Smart host to Internet"
# the role task that holds preflight and apply (one send_connectors run)
APPLY = "Apply | Check each connector's smart hosts and route, then bring the Send connectors to the wanted state (one run)"


class PlaybookRun:
    def __init__(self, proc: subprocess.CompletedProcess, records: list[dict[str, t.Any]]) -> None:
        self.rc = proc.returncode
        self.output = proc.stdout
        self.records = records

    def task(self, suffix: str) -> dict[str, t.Any]:
        found = [r for r in self.records if r["task"].endswith(suffix)]
        assert found, "task %r did not run (rc %s):\n%s" % (suffix, self.rc, self.output[-6000:])
        return found[-1]

    @property
    def report(self) -> list[dict[str, t.Any]]:
        # the report task sets the fact itself (ansible-core 2.21+) or returns it for the role's set_fact (older)
        result = self.task("Report | Summarise each connector, write the report for the change ticket and publish it for AWX workflows")["result"]
        return result["ansible_facts"]["smart_host_routing_report"] if "ansible_facts" in result else result["report"]


def run_playbook(lab: dict, tmp_path, extra_vars: dict[str, t.Any], *args: str, env: dict[str, t.Any] | None = None,
                 playbook: str = "mailflow.exchange.smart_host", timeout: int = 300) -> PlaybookRun:
    ready = lab["lab"].ready
    records = tmp_path / ("records-%s.json" % secrets.token_hex(4))
    extra = tmp_path / ("extra-%s.yml" % secrets.token_hex(4))
    extra.write_text(yaml.safe_dump(extra_vars))
    full_env = dict(os.environ)
    full_env.update(
        {
            "ANSIBLE_COLLECTIONS_PATH": collections_path(),
            "ANSIBLE_CALLBACK_PLUGINS": CALLBACK_PLUGINS,
            "ANSIBLE_CALLBACKS_ENABLED": "record_results",
            "RECORD_RESULTS_FILE": str(records),
            "ANSIBLE_NOCOLOR": "1",
            **exchange_env(ready),
            "EXCHANGE_LAB_READY": lab["lab_ready_file"],
            "SMART_HOST_READY": lab["smart_host_ready_file"],
        }
    )
    full_env.update(env or {})
    for name in [k for k, v in full_env.items() if v is None]:
        del full_env[name]  # env={"EXCHANGE_SERVER": None} takes a variable away
    proc = subprocess.run(
        [os.path.join(BIN, "ansible-playbook"), playbook, "-i", LAB_INVENTORY, "-e", "@%s" % extra, *args],
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout, check=False,
    )
    data = json.loads(records.read_text()) if records.exists() else []
    return PlaybookRun(proc, data)
