"""Execution environment metadata: what ansible-builder reads from the built collection.

The collection is built and installed as a user (or AWX's EE build) would get it, then
``ansible-builder introspect --sanitize`` reports the Python and system requirements it found.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import sys
import tarfile

import pytest
import yaml

from send_connector_harness import ROOT  # noqa: E402  (the one bootstrap is tests/conftest.py)
BIN = os.path.dirname(sys.executable)


def _tool(name: str) -> str:
    path = shutil.which(name, path=BIN) or shutil.which(name)
    if not path:
        pytest.fail("%s is not installed: run `make install` (requirements-test.txt pins it)" % name)
    return path


def _run(cmd: list[str], **kwargs) -> str:
    env = dict(os.environ, ANSIBLE_NOCOLOR="1")
    env.pop("ANSIBLE_COLLECTIONS_PATH", None)
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env, timeout=120, check=False, **kwargs)
    assert proc.returncode == 0, "%s failed:\n%s" % (" ".join(cmd), proc.stdout)
    return proc.stdout


def _names(requirements: list[str]) -> dict[str, str]:
    """'pyspnego[kerberos]==0.12.4  # from ...' -> {'pyspnego[kerberos]': '==0.12.4'}."""
    found = {}
    for line in requirements:
        line = line.split("#", 1)[0].strip()
        match = re.match(r"^([A-Za-z0-9_.\-]+(?:\[[^\]]+\])?)\s*(.*)$", line)
        if match:
            found[match.group(1).lower()] = match.group(2).replace(" ", "")
    return found


def _checkout(target: str) -> str:
    """The files of the checkout (tracked and not ignored), as a fresh clone has them, copied to ``target``.

    Building from this copy keeps local leftovers (build/, .lab/, other runs' output) out of the test.
    """
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"], cwd=ROOT, stdout=subprocess.PIPE, check=False, timeout=60
    )
    if listed.returncode != 0:  # not a git checkout: build what is there
        return ROOT
    for name in filter(None, listed.stdout.decode("utf-8").split("\0")):
        source = os.path.join(ROOT, name)
        if os.path.isfile(source):
            os.makedirs(os.path.dirname(os.path.join(target, name)), exist_ok=True)
            shutil.copy2(source, os.path.join(target, name))
    return target


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> str:
    """The collection tarball, built with ansible-galaxy from the checkout's files."""
    work = tmp_path_factory.mktemp("ee")
    source = _checkout(str(work / "checkout"))
    _run([_tool("ansible-galaxy"), "collection", "build", "--output-path", str(work), source], cwd=source)
    tarballs = glob.glob(str(work / "mailflow-exchange-*.tar.gz"))
    assert len(tarballs) == 1
    return tarballs[0]


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> str:
    """The collection installed offline, as an EE build gets it."""
    with tarfile.open(built) as tar:
        members = set(tar.getnames())
    for needed in ("meta/execution-environment.yml", "meta/ee-requirements.txt", "meta/ee-bindep.txt"):
        assert needed in members, "%s is not in the built collection (build_ignore?)" % needed
    target = str(tmp_path_factory.mktemp("ee-installed"))
    _run([_tool("ansible-galaxy"), "collection", "install", "--offline", "--force", "-p", target, built])
    return target


def _documented_ee_definition() -> dict:
    """The EE definition docs/awx.md prints (the YAML block with ``version: 3``)."""
    with open(os.path.join(ROOT, "docs", "awx.md"), encoding="utf-8") as handle:
        blocks = re.findall(r"```yaml\n(.*?)```", handle.read(), re.S)
    definitions = [yaml.safe_load(b) for b in blocks if re.search(r"^version: 3$", b, re.M)]
    assert len(definitions) == 1, "docs/awx.md should print one EE definition, found %d" % len(definitions)
    return definitions[0]


def test_documented_ee_definition_builds_as_printed(built, tmp_path):
    """docs/awx.md's EE definition, with the tarball beside it as the doc says: ansible-builder writes a build
    context whose every COPY source exists, and whose Galaxy step installs the collection from that context.

    No container engine here: the Galaxy stage's command runs as the Containerfile runs it (in WORKDIR
    /build, which is the context's _build folder), offline, into a temporary collections path.
    """
    definition = _documented_ee_definition()
    project = tmp_path / "ee-project"
    project.mkdir()
    for extra in definition.get("additional_build_files", []):
        assert os.path.basename(extra["src"]) == os.path.basename(built), (
            "docs/awx.md copies %s, but ansible-galaxy collection build makes %s" % (extra["src"], os.path.basename(built))
        )
        shutil.copy(built, project / extra["src"])
    with open(project / "execution-environment.yml", "w", encoding="utf-8") as handle:
        yaml.safe_dump(definition, handle, sort_keys=False)
    context = project / "context"
    _run([_tool("ansible-builder"), "create", "-f", "execution-environment.yml", "-c", str(context),
          "--output-filename", "Containerfile"], cwd=str(project))
    with open(context / "Containerfile", encoding="utf-8") as handle:
        containerfile = handle.read()

    copies = re.findall(r"^COPY (?!--from)(\S+) \S+$", containerfile, re.M)
    assert copies, containerfile
    for source in copies:
        assert os.path.exists(context / source), "the Containerfile copies %s, which is not in the build context" % source

    # The Galaxy stage: COPY _build /build, WORKDIR /build, then the collection install from requirements.yml.
    galaxy_stage = containerfile.split("AS galaxy", 1)[1].split("FROM ", 1)[0]
    assert re.search(r"^COPY _build /build$", galaxy_stage, re.M) and re.search(r"^WORKDIR /build$", galaxy_stage, re.M), galaxy_stage
    install = re.search(r"^RUN (?:\S+=\S+ )*(ansible-galaxy collection install .*)$", galaxy_stage, re.M)
    assert install, galaxy_stage
    argv = install.group(1).replace("$ANSIBLE_GALAXY_CLI_COLLECTION_OPTS", "").split()
    target = tmp_path / "usr-share-ansible-collections"
    argv = [_tool("ansible-galaxy")] + argv[1:argv.index("--collections-path")] + ["--collections-path", str(target), "--offline"]
    _run(argv, cwd=str(context / "_build"))
    installed = target / "ansible_collections" / "mailflow" / "exchange"
    assert (installed / "MANIFEST.json").is_file(), os.listdir(target)
    assert (installed / "meta" / "execution-environment.yml").is_file()

    # The image's ansible-core is the newest release the collection is tested with.
    with open(os.path.join(ROOT, "hacking", "ansible-core-versions.txt"), encoding="utf-8") as handle:
        newest = next(line.split()[0] for line in handle if line.strip() and not line.startswith("#"))
    assert definition["dependencies"]["ansible_core"]["package_pip"] == "ansible-core==" + newest


@pytest.fixture(scope="module")
def introspected(installed) -> dict:
    output = _run([_tool("ansible-builder"), "introspect", "--sanitize", installed])
    data = yaml.safe_load(output)
    assert isinstance(data, dict), output
    return data


def test_introspect_python_requirements(introspected):
    python = _names(introspected.get("python") or [])
    # PowerShell remoting, Kerberos through pyspnego's extra, schema validation, certificates.
    for name in ("pypsrp", "pyspnego[kerberos]", "gssapi", "krb5", "jsonschema", "cryptography"):
        assert name in python, "%s missing from the EE requirements: %s" % (name, sorted(python))
    assert all(spec.startswith("==") for spec in python.values()), python
    assert all("mailflow.exchange" in line for line in introspected["python"])


def test_introspect_system_requirements(introspected):
    system = introspected.get("system") or []
    packages = {line.split()[0]: line for line in system}
    # Kerberos client libraries for both package families, and headers to build gssapi/krb5.
    for name in ("krb5-libs", "krb5-workstation", "libkrb5-3", "krb5-user", "krb5-devel", "libkrb5-dev", "gcc"):
        assert name in packages, "%s missing from the EE system requirements" % name
    # The KDC and fake clock are for the project's own tests, never for an execution environment.
    for line in system:
        profiles = re.search(r"\[([^\]]*)\]", line)
        assert not (profiles and "test" in profiles.group(1).split()), "test-only package in the EE: %s" % line
    assert "krb5-kdc" not in packages


def test_ee_requirements_keep_the_runtime_pins():
    """The EE gets requirements.txt plus the Kerberos extra, with the same pins."""

    def read(path: str) -> dict[str, str]:
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            return _names([line for line in handle if line.strip() and not line.startswith(("#", "-"))])

    runtime = read("requirements.txt")
    kerberos = read("requirements-kerberos.txt")
    ee = read("meta/ee-requirements.txt")
    assert runtime, "requirements.txt lists nothing"
    assert "pyspnego[kerberos]" in kerberos, kerberos
    expected = dict(runtime, **kerberos)
    # pyspnego[kerberos] is pyspnego with the extra: the same pin, listed once.
    assert expected.pop("pyspnego") == expected["pyspnego[kerberos]"], (runtime, kerberos)
    assert ee == expected, "meta/ee-requirements.txt disagrees with requirements.txt + requirements-kerberos.txt: %s vs %s" % (ee, expected)


def test_core_requirements_have_no_kerberos_build():
    """make demo installs requirements-demo.txt: no package there is built from source (gssapi, krb5)."""
    seen = []
    pending = ["requirements-demo.txt"]
    while pending:
        path = pending.pop()
        with open(os.path.join(ROOT, path), encoding="utf-8") as handle:
            for line in handle:
                line = line.split("#", 1)[0].strip()
                if line.startswith("-r "):
                    pending.append(line[3:].strip())
                elif line:
                    seen.append(line.lower())
    assert any(line.startswith("pypsrp==") for line in seen), seen
    for name in ("gssapi", "krb5", "pyspnego[kerberos]"):
        assert not any(re.match(r"%s(?![A-Za-z0-9_.-])" % re.escape(name), line) for line in seen), "%s is in the demo's requirements: %s" % (name, seen)
