# mailflow.exchange: everything a fresh machine needs, behind two commands.
#   make demo   the main job against the built-in Exchange lab, with its verification
#   make test   the whole test suite (sanity, lint, unit, lab, integration)
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

ROOT := $(abspath .)
VENV ?= $(ROOT)/.venv
PY := $(VENV)/bin/python
# The Python and the ansible-core release: hacking/venv.sh checks them before anything else (one sentence
# when no Python here fits), from hacking/ansible-core-versions.txt. PYTHON=/path/to/python3.x picks one.
PYTHON ?=
export PYTHON
COLLECTIONS := $(ROOT)/collections
COLL_LINK := $(COLLECTIONS)/ansible_collections/mailflow/exchange
SANITY_ROOT := $(or $(TMPDIR),/tmp)/mailflow-exchange-sanity-$(shell printf %s "$(ROOT)" | md5sum | cut -c1-8)
# (outside the git checkout: inside it ansible-test would ask git for the files and find none)
SANITY_COLL := $(SANITY_ROOT)/ansible_collections/mailflow/exchange
export ANSIBLE_COLLECTIONS_PATH := $(COLLECTIONS)
export PYTHONPATH := $(ROOT)/tests/lab$(if $(PYTHONPATH),:$(PYTHONPATH))
PYTEST_ARGS ?=

.PHONY: help system-packages demo-venv venv install collection-link test sanity lint units lab-tests integration pytest demo lab kdc-lab test-matrix test-matrix-smoke benchmark-scale clean

help:
	@echo "make demo   run the smart-host job against the built-in Exchange lab (sets everything up)"
	@echo "make test   run the whole test suite (sets everything up)"
	@echo "make lab    start the Exchange lab in the foreground (Ctrl-C stops it)"
	@echo "make kdc-lab  a throwaway Kerberos realm + a Kerberos-only lab in the foreground (docs/kerberos.md)"
	@echo "make sanity | lint | units | lab-tests | integration   run one part of the suite"
	@echo "make benchmark-scale  every figure of docs/benchmark.md's scale sections in one run (quiet machine)"
	@echo "make test-matrix  the suite's main parts under every ansible-core release declared, Python 3.11 and 3.12"

# Debian packages for the test suite only (Kerberos client/KDC and the headers gssapi/krb5 build
# against, Postfix, faketime): hacking/apt-packages.txt. `make demo` needs none. Checked every run
# (cheap); installed only when missing.
# Postfix is for the tests only (they run private instances): debconf "No configuration" and the
# system service disabled, so installing it never leaves a system MTA on port 25.
system-packages:
	@missing=$$(grep -v '^\s*#' hacking/apt-packages.txt | while read -r p; do [ -z "$$p" ] || dpkg -s "$$p" >/dev/null 2>&1 || echo "$$p"; done); \
	if [ -n "$$missing" ]; then \
	  sudo=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  [ -z "$$sudo" ] || sudo -v; \
	  echo "Installing Debian packages: $$missing"; \
	  hacking/progress.sh "apt-get update" "about 10 s" $$sudo apt-get update -qq; \
	  echo "postfix postfix/main_mailer_type select No configuration" | $$sudo debconf-set-selections; \
	  hacking/progress.sh "apt-get install of $$(echo $$missing | wc -w) packages" "about 1 min, more under load" \
	    $$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	  if command -v systemctl >/dev/null && systemctl is-enabled postfix >/dev/null 2>&1; then \
	    $$sudo systemctl disable --now postfix >/dev/null 2>&1 || true; \
	  fi; \
	fi

# What `make demo` needs: requirements-demo.txt (the modules without Kerberos, the lab) and the newest
# ansible-core the Python found supports; wheels only, no compiler, no Debian package.
# Everything (requirements-test.txt, the Kerberos extra built from source, KERBEROS_CFLAGS) for make install:
# first the Python check, then the Debian packages, then pip. hacking/venv.sh installs only what is stale.
KERBEROS_CFLAGS ?= -O0 -g0
export KERBEROS_CFLAGS
demo-venv:
	@hacking/venv.sh demo $(VENV)

venv install:
	@hacking/venv.sh test $(VENV) check
	@$(MAKE) --no-print-directory system-packages
	@hacking/venv.sh test $(VENV)
	@$(MAKE) --no-print-directory collection-link

collection-link:
	@mkdir -p $(dir $(COLL_LINK))
	@ln -sfn $(ROOT) $(COLL_LINK)

# ansible-test needs a real copy at .../ansible_collections/mailflow/exchange and, offline, a stand-in
# for the get-pip bootstrap script it would download. A cached sanity venv whose Python no longer runs
# (half-built, or made from a venv since deleted) is removed first, so ansible-test builds it again.
# INSTALL_STEP= leaves the install step out: make test has done it and runs sanity and lint side by side, and two
# installs at once raced on the venv's stamp files (CI failed: "mv: cannot move .ansible-core.new").
INSTALL_STEP := install
sanity: $(INSTALL_STEP)
	$(PY) hacking/ansible_test_cache.py
	@pipver=$$($(PY) -c 'import ansible_test._internal.python_requirements as r, inspect, re; print(re.search(r"pip=.(\d+\.\d+)", inspect.getsource(r)).group(1))'); \
	  mkdir -p ~/.ansible/test/cache; cp hacking/get_pip_standin.py ~/.ansible/test/cache/get_pip_$${pipver//./_}.py
	@rm -rf $(SANITY_COLL) && mkdir -p $(SANITY_COLL)
	@git ls-files -co --exclude-standard -z | grep -zv '^tests/lab/' | tar --null -T - -cf - | tar -xf - -C $(SANITY_COLL)
	cd $(SANITY_COLL) && $(VENV)/bin/ansible-test sanity --local --python 3.12 --color no

lint: $(INSTALL_STEP)
	$(VENV)/bin/ansible-lint --offline -q
	PATH=$(VENV)/bin:$$PATH $(VENV)/bin/antsibull-docs lint-collection-docs --plugin-docs $(COLL_LINK)
	$(VENV)/bin/antsibull-changelog lint
	# dead code: what vulture finds is deleted; tests/vulture_whitelist.py says why each exception is used
	$(VENV)/bin/vulture plugins roles tests/vulture_whitelist.py --min-confidence 60 \
	  --ignore-names DOCUMENTATION,EXAMPLES,RETURN,FilterModule,ActionModule,filters,ModuleDocFragment,ATTRIBUTES*,USED_ELSEWHERE

units: install
	$(PY) -m pytest -q tests/unit $(PYTEST_ARGS)

lab-tests: install
	$(PY) -m pytest -q tests/lab/tests $(PYTEST_ARGS)

integration: install
	$(PY) -m pytest -q tests/integration $(PYTEST_ARGS)

# The whole suite. pytest runs on three xdist workers (its tests mostly wait on labs, SMTP and
# ansible-playbook, so three keep two cores busy; tests/conftest.py keeps each file's tests together
# unless they are independent), and `make sanity` and `make lint` run at the same time with their output
# kept aside; their results follow pytest's, and the run ends with pytest's summary line again.
PYTEST_XDIST ?= -n 3 --dist loadscope
# make test runs everything with the lab's default wire profile (exchange: what Exchange 2019 writes), then the
# module and role integration tests that read and write connectors once more under each other profile
# (EXCHANGE_LAB_WIRE, read by tests/lab/tests/labfixture.py); each pass names its profile.
OTHER_WIRES ?= objects strings
WIRE_SUBSET ?= tests/integration/send_connector/test_send_connector_lifecycle.py tests/integration/send_connectors/test_send_connectors.py \
  tests/integration/role/test_role.py::test_check_mode_shows_the_change_and_writes_nothing \
  tests/integration/role/test_role.py::test_smart_host_items_add_a_relay_to_the_existing_connector
test: install
	@logs=$$(mktemp -d); \
	  ( $(MAKE) --no-print-directory sanity INSTALL_STEP= >"$$logs/sanity.log" 2>&1; echo $$? >"$$logs/sanity.rc" ) & \
	  ( $(MAKE) --no-print-directory lint INSTALL_STEP= >"$$logs/lint.log" 2>&1; echo $$? >"$$logs/lint.rc" ) & \
	  echo "make sanity and make lint run in the background; their output follows pytest's"; \
	  set +e; \
	  echo "=== lab wire profile exchange (the default): unit, lab and integration tests ==="; \
	  EXCHANGE_LAB_WIRE=exchange $(PY) -m pytest -q $(PYTEST_XDIST) tests/unit tests/lab/tests tests/integration $(PYTEST_ARGS) 2>&1 | tee "$$logs/pytest.log"; \
	  status=$${PIPESTATUS[0]}; \
	  for wire in $(OTHER_WIRES); do \
	    echo "=== lab wire profile $$wire: the module and role integration subset ==="; \
	    EXCHANGE_LAB_WIRE=$$wire $(PY) -m pytest -q $(PYTEST_XDIST) $(WIRE_SUBSET) $(PYTEST_ARGS) 2>&1 | tee "$$logs/pytest-$$wire.log"; \
	    [ "$${PIPESTATUS[0]}" = 0 ] || status=1; \
	  done; \
	  wait; \
	  for part in sanity lint; do \
	    rc=$$(cat "$$logs/$$part.rc" 2>/dev/null || echo 1); \
	    if [ "$$rc" = 0 ]; then echo "make $$part: passed"; else echo "=== make $$part FAILED (exit $$rc) ==="; cat "$$logs/$$part.log"; status=1; fi; \
	  done; \
	  for wire in $(OTHER_WIRES); do echo "lab wire profile $$wire: $$(tail -n 1 "$$logs/pytest-$$wire.log")"; done; \
	  echo "lab wire profile exchange: $$(tail -n 1 "$$logs/pytest.log")"; \
	  rm -rf "$$logs"; \
	  exit $$status

demo: demo-venv collection-link
	$(PY) hacking/demo.py

# HTTPS with the lab's own CA (.lab/state/ca.pem): Basic over plain HTTP would send the password in clear text
# and every task would warn. LAB_HTTPS= serves plain HTTP.
LAB_HTTPS ?= --https
lab: demo-venv collection-link
	$(PY) -m exchange_lab serve $(LAB_HTTPS) --state $(ROOT)/.lab/state --ready-file $(ROOT)/.lab/ready.json $(LAB_ARGS)

# The collection under every ansible-core release of hacking/ansible-core-versions.txt on Python 3.11/3.12
# (sanity, units, the main job and the role against the lab), each in its own venv under .matrix/; the
# table it prints is README's "Tested with". MATRIX_ARGS="--only 2.17.14/3.11 --parts units,main".
test-matrix: collection-link
	python3 hacking/test_matrix.py $(MATRIX_ARGS)

# CI's smoke part of the matrix (.ci/run, after make test): the oldest declared release on Python 3.11, the unit
# tests and the main job; what breaks on an old ansible-core shows here first.
test-matrix-smoke: collection-link
	python3 hacking/test_matrix.py --smoke

# Every figure of docs/benchmark.md's scale sections in one run (about 15 minutes on 2 quiet cores): the role,
# apply, no-op task, floor, report printing and trace at N=50 and N=200 on issue 12's latency profile, medians of
# three, load noted; then the parse and floor tables of the collection's CLIXML reader. BENCH_ARGS adds options.
benchmark-scale: collection-link
	$(PY) hacking/benchmark_scale.py --sizes 50 200 --repeat 3 --no-script --wire $(BENCH_ARGS)

# A throwaway Kerberos realm (MIT KDC on loopback) and a Kerberos-only lab, for people; prints what to export.
kdc-lab: install
	$(PY) hacking/kdc_lab.py $(KDC_ARGS)

# .venv too: a venv made for another Python or left half installed is never worth keeping.
clean:
	rm -rf build .pytest_cache collections .lab .matrix $(ROOT)/.venv
