"""What `vulture` (make lint) cannot see used, each with the reason; everything else it finds is deleted.

Names Ansible looks up by name (DOCUMENTATION, EXAMPLES, RETURN, FilterModule.filters, ActionModule, ModuleDocFragment,
ATTRIBUTES) are passed to vulture as --ignore-names in the Makefile.
"""

# USED_ELSEWHERE: one tuple of the names (pylint 2.17 refuses the name "_"); vulture ignores it by name (Makefile)
from ansible_collections.mailflow.exchange.plugins.module_utils import _module_input
from ansible_collections.mailflow.exchange.plugins.module_utils._probe import smtp as _smtp_probe

USED_ELSEWHERE = (
    # An override of AnsibleModule's method (no invocation logging for a refused input).
    _module_input._Refusal._log_invocation,
    # ssl.SSLContext attributes: set by the probe, read by the ssl module.
    _smtp_probe.ssl.SSLContext.minimum_version,
    _smtp_probe.ssl.SSLContext.check_hostname,
    _smtp_probe.ssl.SSLContext.verify_mode,
)
