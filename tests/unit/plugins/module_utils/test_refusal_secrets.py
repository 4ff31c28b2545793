"""A refused task masks a secret whatever shape it was given in (found by make test-matrix).

On ansible-core 2.17 to 2.20 a failed module result carries ``invocation.module_args``; an option that holds a
secret (``authentication_credential``: a mapping with a no_log ``password``) given as a list or a plain string
was echoed there, because AnsibleModule masks no_log sub-options only inside a mapping. The refusal collects
every string of such a value as a secret to mask.
"""

from __future__ import annotations

from ansible_collections.mailflow.exchange.plugins.module_utils._module_input import _secret_strings

SPEC = {
    "authentication_credential": {"type": "dict", "options": {"username": {"type": "str"}, "password": {"type": "str", "no_log": True}}},
    "hosts": {"type": "list", "elements": "str"},
}


def test_a_credential_given_as_a_list_is_masked():
    assert _secret_strings(SPEC, {"authentication_credential": ["CANARY-list", ["nested-CANARY"]], "hosts": ["a.example"]}) == {
        "CANARY-list", "nested-CANARY"}


def test_a_credential_given_as_a_string_is_masked():
    assert _secret_strings(SPEC, {"authentication_credential": "relay:CANARY-string"}) == {"relay:CANARY-string"}


def test_the_mapping_masks_only_its_password_and_other_options_stay():
    found = _secret_strings(SPEC, {"authentication_credential": {"username": "relay", "password": "CANARY-map"}, "hosts": ["a.example"]})
    assert found == {"CANARY-map"}
