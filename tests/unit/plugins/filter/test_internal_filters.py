"""The role's filters say they are internal, in the one line ``ansible-doc -t filter -l`` shows; the public ones do not."""

from __future__ import annotations

import glob
import os

import yaml

FILTERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "filter")
PUBLIC = {"smtp_protocol_log", "smtp_protocol_sessions", "smart_host_routing_export"}


def _docs():
    for path in sorted(glob.glob(os.path.join(FILTERS, "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            yield yaml.safe_load(handle)["DOCUMENTATION"]


def test_every_role_filter_is_marked_internal_and_no_public_one_is():
    docs = list(_docs())
    assert {d["name"] for d in docs} >= PUBLIC | {"smart_host_routing_audit", "smart_host_routing_audit_targets"}
    for doc in docs:
        internal = doc["short_description"].startswith("Internal to the smart_host_routing role: ")
        assert internal == (doc["name"] not in PUBLIC), doc["name"]
        assert internal == any("B(Internal to the role)" in line for line in doc["description"]), doc["name"]
