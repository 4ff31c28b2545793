"""The role's filters are internal: they live in plugins/filter/__internal/ (which ``ansible-doc -t filter -l`` does not
list; meta/runtime.yml redirects their names there) and their docs say so; the public ones are listed and do not."""

from __future__ import annotations

import glob
import os

import yaml

FILTERS = os.path.join(os.path.dirname(__file__), "..", "..", "..", "..", "plugins", "filter")
PUBLIC = {"smtp_protocol_log", "smtp_protocol_sessions", "smart_host_routing_export"}


def _docs():
    for path in sorted(glob.glob(os.path.join(FILTERS, "*.yml")) + glob.glob(os.path.join(FILTERS, "__internal", "*.yml"))):
        with open(path, encoding="utf-8") as handle:
            yield yaml.safe_load(handle)["DOCUMENTATION"]


def test_every_role_filter_is_marked_internal_and_no_public_one_is():
    docs = list(_docs())
    assert {d["name"] for d in docs} >= PUBLIC | {"smart_host_routing_audit", "smart_host_routing_audit_targets"}
    for doc in docs:
        internal = doc["short_description"].startswith("Internal to the smart_host_routing role: ")
        assert internal == (doc["name"] not in PUBLIC), doc["name"]
        assert internal == any("B(Internal to the role)" in line for line in doc["description"]), doc["name"]


def test_only_public_filters_are_outside_the_internal_directory_and_every_internal_one_is_redirected():
    outside = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(FILTERS, "*.yml"))}
    inside = {os.path.basename(p)[:-4] for p in glob.glob(os.path.join(FILTERS, "__internal", "*.yml"))}
    assert outside == PUBLIC
    with open(os.path.join(FILTERS, "..", "..", "meta", "runtime.yml"), encoding="utf-8") as handle:
        routing = yaml.safe_load(handle)["plugin_routing"]["filter"]
    assert {name: r["redirect"] for name, r in routing.items()} == {
        name: "mailflow.exchange.__internal.internal_" + name for name in inside}
