"""``make test-matrix``: the collection under every ansible-core release it declares, on Python 3.11 and 3.12.

For each line of hacking/ansible-core-versions.txt (one per minor version, its newest patch) and each of that
release's Pythons that is 3.11 or 3.12 (found under pyenv, or as python3.N on PATH), in a virtual environment
of its own under .matrix/ (made once, one at a time, reused while the requirement files do not change):

  units     pytest tests/unit (the venv has the Kerberos extra, as make install's)
  main job  hacking/demo.py: the main playbook with the role against the lab and a test smart host, twice;
            the second run must change nothing (what `make demo` runs)
  role      pytest ROLE_TESTS, all of them (validation, check mode, preflight, apply, verification with its
            failures and progress lines, protocol logging, the report, set_stats and --diff) against the lab,
            once per release on the oldest Python here (3.11 where the release supports it: make test runs 3.12)
  sanity    ansible-test sanity --local from that release, once per release on the newest Python here (it needs a
            real copy of the collection; the get-pip bootstrap it would download is hacking/get_pip_standin.py)

Prints one line per part as it ends and a Markdown table at the end (also written to .matrix/results.md, or
results-<parts>.md for a subset of the parts); the
logs of each part are in .matrix/<release>-py<python>/<part>.log. Exit status 0 when every part passed.

    python3 hacking/test_matrix.py [--only 2.17.14/3.11 ...] [--parts units,main,role,sanity]
    python3 hacking/test_matrix.py --smoke      (CI: the oldest release on Python 3.11, units and main job)
"""

from __future__ import annotations

import argparse
import glob
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "hacking", "ansible-core-versions.txt")
MATRIX = os.path.join(ROOT, ".matrix")
PYTHONS = ("3.11", "3.12")
PARTS = ("units", "main", "role", "sanity")
# --smoke (CI, after make test): the unit tests and the main job, which show most breakage on an old release in ~3 min
SMOKE_PARTS = ("units", "main")
# What the parts need from requirements-test.txt besides requirements-demo.txt (same pins; not the linters or
# molecule, which bring their own ansible-core requirements).
# The role's own tests, every one of them: the main job shows one good run twice; these show the rest of what the
# role does and says. About 5 min on two xdist workers on a loaded 2-core machine: once per release, not per Python.
ROLE_TESTS = ("tests/integration/role/test_role.py", "tests/integration/role/test_role_output.py", "tests/integration/role/test_role_report.py")
TEST_TOOLS = ("pytest", "pytest-timeout", "hypothesis", "pytest-xdist", "execnet", "markdown-it-py")


def releases() -> list[tuple[str, list[str]]]:
    out = []
    with open(TABLE, encoding="utf-8") as handle:
        for line in handle:
            fields = line.split("#", 1)[0].split()
            if fields:
                out.append((fields[0], fields[1:]))
    return out


def find_python(minor: str) -> str | None:
    try:
        root = subprocess.run(["pyenv", "root"], capture_output=True, text=True, check=False).stdout.strip()
    except OSError:
        root = ""
    found = sorted(glob.glob(os.path.join(root, "versions", minor + ".*", "bin", "python3")) if root else [],
                   key=lambda p: [int(n) for n in re.findall(r"\d+", p.split("/versions/")[1].split("/")[0])])
    candidates = found[::-1] + [p for p in (shutil.which("python" + minor),) if p]
    for candidate in candidates:
        proc = subprocess.run([candidate, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                              capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip() == minor:
            return candidate
    return None


def test_tool_pins() -> list[str]:
    pins = []
    with open(os.path.join(ROOT, "requirements-test.txt"), encoding="utf-8") as handle:
        for line in handle:
            line = line.split("#", 1)[0].strip()
            name = re.split(r"[=<>\[ ]", line, 1)[0].lower()
            if name in TEST_TOOLS:
                pins.append(line)
    return pins


def run_logged(cmd: list[str], log: str, env: dict[str, str] | None = None, cwd: str = ROOT, timeout: int = 3600) -> int:
    with open(log, "w", encoding="utf-8") as handle:
        handle.write("$ %s\n" % " ".join(cmd))
        handle.flush()
        # Its own process group: on a timeout or Ctrl-C, what it started (a lab, ansible-playbook) stops with it.
        proc = subprocess.Popen(cmd, stdout=handle, stderr=subprocess.STDOUT, env=env, cwd=cwd, start_new_session=True)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            handle.write("\n(timed out after %d s)\n" % timeout)
            return 124
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def make_venv(python: str, core: str, venv: str, log: str) -> int:
    """A venv with the release and the requirements; kept while what it was made from is unchanged."""
    wanted = "-r %s\n-r %s\nansible-core==%s\n%s\n" % (
        os.path.join(ROOT, "requirements-demo.txt"),
        os.path.join(ROOT, "requirements-kerberos.txt"),  # the unit tests cover Kerberos too
        core, "\n".join(test_tool_pins()))
    made_of = wanted
    for name in ("requirements.txt", "requirements-demo.txt", "requirements-kerberos.txt"):
        with open(os.path.join(ROOT, name), encoding="utf-8") as handle:
            made_of += "# %s\n%s" % (name, handle.read())
    stamp = os.path.join(venv, ".matrix-installed")
    try:
        with open(stamp, encoding="utf-8") as handle:
            made_from = handle.read()
    except OSError:
        made_from = None
    if made_from == made_of and subprocess.run([os.path.join(venv, "bin", "python"), "-c", ""], check=False).returncode == 0:
        return 0
    shutil.rmtree(venv, ignore_errors=True)
    rc = run_logged([python, "-m", "venv", venv], log)
    if rc == 0:
        with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False, dir=MATRIX) as req:
            req.write(wanted)
        try:
            # gssapi and krb5 are built from source (cached by pip per Python): without optimisation, as make install
            rc = run_logged([os.path.join(venv, "bin", "python"), "-m", "pip", "install", "--quiet",
                             "--disable-pip-version-check", "-r", req.name], log + ".pip",
                            env=dict(os.environ, CFLAGS=os.environ.get("KERBEROS_CFLAGS", "-O0 -g0")))
        finally:
            os.unlink(req.name)
    if rc == 0:
        with open(stamp, "w", encoding="utf-8") as handle:
            handle.write(made_of)
    return rc


def environment() -> dict[str, str]:
    env = dict(os.environ)
    env["ANSIBLE_COLLECTIONS_PATH"] = os.path.join(ROOT, "collections")
    env["PYTHONPATH"] = os.path.join(ROOT, "tests", "lab")
    env.pop("VIRTUAL_ENV", None)
    return env


def sanity(venv: str, minor: str, workdir: str, log: str) -> int:
    python = os.path.join(venv, "bin", "python")
    # The get-pip stand-in under the pip version this ansible-test asks for (25.2 for 2.21, 23.1.2 for 2.17).
    proc = subprocess.run(
        [python, "-c", "import ansible_test._internal.python_requirements as r, inspect, re; "
                       "print(re.search(r'pip=.(\\d+(?:\\.\\d+)+)', inspect.getsource(r)).group(1))"],
        capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        with open(log, "w", encoding="utf-8") as handle:
            handle.write(proc.stdout + proc.stderr)
        return proc.returncode
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    shutil.copy(os.path.join(ROOT, "hacking", "get_pip_standin.py"), os.path.join(cache, "get_pip_%s.py" % proc.stdout.strip().replace(".", "_")))
    subprocess.run([python, os.path.join(ROOT, "hacking", "ansible_test_cache.py")], capture_output=True, check=False)
    # A real copy at .../ansible_collections/mailflow/exchange, outside any git checkout.
    copy = os.path.join(workdir, "ansible_collections", "mailflow", "exchange")
    shutil.rmtree(os.path.join(workdir, "ansible_collections"), ignore_errors=True)
    os.makedirs(copy)
    files = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    for name in filter(None, files.decode("utf-8").split("\0")):
        source = os.path.join(ROOT, name)
        if name.startswith("tests/lab/") or not os.path.isfile(source):
            continue
        os.makedirs(os.path.dirname(os.path.join(copy, name)), exist_ok=True)
        shutil.copy2(source, os.path.join(copy, name))
    env = environment()
    env.pop("ANSIBLE_COLLECTIONS_PATH")
    env.pop("PYTHONPATH")
    env["PATH"] = os.path.join(venv, "bin") + os.pathsep + env.get("PATH", "")
    rc = run_logged([os.path.join(venv, "bin", "ansible-test"), "sanity", "--local", "--python", minor, "--color", "no"],
                    log, env=env, cwd=copy)
    with open(log, encoding="utf-8", errors="replace") as handle:
        if "All targets skipped" in handle.read():
            with open(log, "a", encoding="utf-8") as out:
                out.write("\n(ansible-test found nothing to test: that is a failure, not a pass)\n")
            return rc or 1
    return rc


def summary(log: str, part: str) -> str:
    """A short note from a part's log: pytest's counts, or the first error."""
    try:
        with open(log, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return ""
    if part in ("units", "role"):
        found = re.findall(r"^=*\s*(\d+ (?:passed|failed)[^=\n]*?)\s*=*$", text, re.M)
        return found[-1].replace(" in ", ", ") if found else ""
    if part == "main":
        warnings = text.count("[WARNING]") + text.count("[DEPRECATION WARNING]")
        return "%d warning(s)" % warnings if warnings else "no warnings"
    if part == "sanity":
        errors = re.findall(r"^ERROR: Found \d+ [\w-]+ issue.*$", text, re.M)
        return "; ".join(errors[:2])
    return ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--only", action="append", default=[], help="RELEASE/PYTHON, e.g. 2.17.14/3.11 (repeatable)")
    parser.add_argument("--parts", default=None, help="comma-separated, of %s (default: all)" % ", ".join(PARTS))
    parser.add_argument("--smoke", action="store_true",
                        help="CI's smoke part (make test-matrix-smoke): the oldest release on its oldest Python here, units and main job")
    args = parser.parse_args()
    parts = [p for p in (args.parts or ",".join(SMOKE_PARTS if args.smoke else PARTS)).split(",") if p]
    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        parser.error("unknown part(s) %s; the parts are %s" % (", ".join(unknown), ", ".join(PARTS)))
    combos = [(core, minor) for core, minors in releases() for minor in minors if minor in PYTHONS]
    if args.smoke:
        # the declared floor (the last line) on the oldest of its Pythons that is here: what breaks first on old versions
        floor = [c for c in combos if c[0] == combos[-1][0]]
        here = [c for c in floor if find_python(c[1])] or floor
        combos = [min(here, key=lambda c: tuple(map(int, c[1].split("."))))]
    if args.only:
        combos = [c for c in combos if "%s/%s" % c in args.only]
        if not combos:
            parser.error("--only %s matches no release/Python of hacking/ansible-core-versions.txt" % " ".join(args.only))
    # ansible-test sanity checks the code once per release (its compile and import tests take --python): on
    # the newest of the Pythons run here.
    sanity_python, role_python = {}, {}
    for core, minor in combos:
        sanity_python[core] = max(sanity_python.get(core, minor), minor, key=lambda v: tuple(map(int, v.split("."))))
        role_python[core] = min(role_python.get(core, minor), minor, key=lambda v: tuple(map(int, v.split("."))))
    os.makedirs(MATRIX, exist_ok=True)
    # The collection link the playbooks use (make collection-link).
    link = os.path.join(ROOT, "collections", "ansible_collections", "mailflow", "exchange")
    if not os.path.exists(link):
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(ROOT, link)

    rows = []
    failed = False
    for core, minor in combos:
        ident = "%s-py%s" % (core, minor)
        base = os.path.join(MATRIX, ident)
        os.makedirs(base, exist_ok=True)
        venv = os.path.join(base, "venv")
        row = {"core": core, "python": minor, "results": {}}
        rows.append(row)
        python = find_python(minor)
        if python is None:
            print("%s: no Python %s here (pyenv install %s): skipped" % (ident, minor, minor), flush=True)
            row["results"] = {p: ("not run", "no Python %s" % minor) for p in parts}
            failed = True
            continue
        started = time.monotonic()
        print("%s: making the venv (%s) ..." % (ident, python), flush=True)
        if make_venv(python, core, venv, os.path.join(base, "venv.log")) != 0:
            print("%s: the venv failed, see %s/venv.log*" % (ident, base), flush=True)
            row["results"] = {p: ("not run", "venv failed") for p in parts}
            failed = True
            continue
        vpy = os.path.join(venv, "bin", "python")
        for part in parts:
            if part == "sanity" and minor != sanity_python[core]:
                row["results"][part] = ("-", "on Python %s" % sanity_python[core])
                continue
            if part == "role" and minor != role_python[core]:
                row["results"][part] = ("-", "on Python %s" % role_python[core])
                continue
            log = os.path.join(base, part + ".log")
            part_started = time.monotonic()
            print("%s: %s ..." % (ident, part), flush=True)
            if part == "units":
                rc = run_logged([vpy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/unit"], log, env=environment())
            elif part == "main":
                rc = run_logged([vpy, os.path.join(ROOT, "hacking", "demo.py")], log, env=environment(), timeout=900)
            elif part == "role":
                rc = run_logged([vpy, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadscope", *ROLE_TESTS],
                                log, env=environment())
            else:
                # Outside the git checkout: inside it ansible-test asks git for the files and finds none.
                root = os.path.join(tempfile.gettempdir(), "mailflow-matrix-sanity-%s" % ident)
                rc = sanity(venv, minor, root, log)
            seconds = time.monotonic() - part_started
            verdict = "passed" if rc == 0 else "FAILED"
            failed = failed or rc != 0
            note = summary(log, part)
            row["results"][part] = (verdict, note)
            print("%s: %s %s in %.0f s%s" % (ident, part, verdict, seconds, " (%s)" % note if note else ""), flush=True)
        row["seconds"] = time.monotonic() - started

    names = {"units": "units", "main": "main job (twice)", "role": "role tests (once per release)", "sanity": "sanity (once per release)"}
    lines = ["| ansible-core | Python | " + " | ".join(names[p] for p in parts) + " |",
             "|---|---|" + "---|" * len(parts)]
    for row in rows:
        cells = []
        for part in parts:
            verdict, note = row["results"].get(part, ("not run", ""))
            cells.append(verdict + (" (%s)" % note if note else ""))
        lines.append("| %s | %s | %s |" % (row["core"], row["python"], " | ".join(cells)))
    table = "\n".join(lines)
    # One file per set of parts, so that a sanity-only run beside a full one keeps both tables.
    name = "results.md" if parts == list(PARTS) else "results-%s.md" % "-".join(parts)
    with open(os.path.join(MATRIX, name), "w", encoding="utf-8") as handle:
        handle.write(table + "\n")
    print("\n" + table)
    total = sum(1 for r in rows for p in parts if r["results"].get(p, ("",))[0] != "-")
    bad = sum(1 for r in rows for p in parts if r["results"].get(p, ("",))[0] not in ("passed", "-"))
    print("\n%d passed, %d failed" % (total - bad, bad))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
