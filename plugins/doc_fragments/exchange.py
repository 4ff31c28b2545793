# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection options and attributes shared by every module of mailflow.exchange."""

from __future__ import annotations


class ModuleDocFragment:
    # The connection to Exchange's remote PowerShell endpoint (module_utils/_remoting/session.py).
    DOCUMENTATION = r"""
options:
  server:
    description:
      - Name or address of the Exchange server whose remote PowerShell endpoint is used.
      - Required; if not given, the value of the environment variable E(EXCHANGE_SERVER) is used.
    type: str
  server_port:
    description:
      - TCP port of the endpoint. It is not called C(port) because M(mailflow.exchange.send_connector) has an option
        C(port), the connector's own SMTP port for its smart hosts.
      - Defaults to V(80) with O(protocol=http) and V(443) with O(protocol=https).
      - A value outside 1 to 65535 (V(0) included) is refused; it never falls back to the default.
      - If not given, the environment variable E(EXCHANGE_PORT) is used.
    type: int
  protocol:
    description:
      - V(http) is what Exchange documents together with Kerberos, which encrypts the session itself.
      - Use V(https) with O(auth=basic); basic authentication over V(http) sends the credentials in clear text.
      - Defaults to V(http). If not given, the environment variable E(EXCHANGE_PROTOCOL) is used.
    type: str
    choices: [http, https]
  path:
    description:
      - URL path of the endpoint. Defaults to V(PowerShell).
      - If not given, the environment variable E(EXCHANGE_PATH) is used.
    type: str
  configuration_name:
    description:
      - The PowerShell session configuration of the endpoint.
    type: str
    default: Microsoft.Exchange
  auth:
    description:
      - Authentication to the endpoint. Exchange expects V(kerberos); V(negotiate), V(ntlm), V(basic) and V(credssp) work
        where the PowerShell virtual directory allows them.
      - Defaults to V(kerberos). If not given, the environment variable E(EXCHANGE_AUTH) is used.
    type: str
    choices: [kerberos, negotiate, ntlm, basic, credssp]
  username:
    description:
      - User to connect as, preferably as a UPN (V(admin@contoso.com)). With V(kerberos) and no user, the current ticket is used.
      - If not given, the environment variable E(EXCHANGE_USERNAME) is used.
    type: str
  password:
    description:
      - Password of O(username). If not given, the environment variable E(EXCHANGE_PASSWORD) is used.
    type: str
  validate_certs:
    description:
      - Whether to validate the server certificate with O(protocol=https). Set to V(false) only for test systems.
      - Defaults to V(true). If not given, the environment variable E(EXCHANGE_VALIDATE_CERTS) is used.
    type: bool
  ca_cert:
    description:
      - CA bundle (PEM) used to validate the server certificate with O(protocol=https).
      - A file that is missing, cannot be read or holds no PEM certificate is refused before connecting.
      - If not given, the environment variable E(EXCHANGE_CA_CERT) is used.
    type: path
  connection_timeout:
    description:
      - Seconds to wait for a connection to the endpoint.
    type: int
    default: 30
  operation_timeout:
    description:
      - Seconds a single WSMan operation may take on the server.
    type: int
    default: 20
  domain_controller:
    description:
      - Domain controller Exchange reads and writes through, passed as C(-DomainController) to every C(*-SendConnector) cmdlet.
      - Pin it so that a change is read back from the same DC right after it is made (AD replication).
      - Without it, the first read goes where Exchange sends it, and every later call of the run (the write, and the
        read-back after a write whose answer was lost) names the DC that answered it, so one run uses one DC. That DC
        is sent, but left out of the returned C(commands), which show C(-DomainController) only when it is given.
    type: str
  keep_session:
    description:
      - Seconds to keep this task's Exchange runspace open after the task, for the next task with the same connection
        options and password to use instead of opening its own, as SSH's C(ControlPersist) keeps one connection for
        several tasks. Opening a runspace is the slowest step of most tasks (seconds on a real server); the role
        P(mailflow.exchange.smart_host_routing#role) sets V(60) so that one role run opens one runspace.
      - The runspace is held by a process of the same user that listens on a Unix socket in a directory only that user
        can enter (under the temporary directory, or E(MAILFLOW_EXCHANGE_SESSION_DIR)). A task uses it only after both
        sides proved they know the same password (it never crosses the socket), one task at a time; a task that finds
        it busy opens its own. The runspace is closed after O(keep_session) seconds without a task, or at the end of
        a task that used it with O(keep_session=0).
      - A task that finds that the kept runspace died (Exchange restarted, its idle limit) opens its own if its first
        command is a read; a write is never sent twice.
      - V(0) (the default) closes the task's own runspace at its end, as before. At most V(3600).
      - Linux only (the user check needs C(SO_PEERCRED)); elsewhere every task opens its own runspace whatever this says.
    type: int
    default: 0
notes:
  - The modules run on the controller (or in the execution environment) and talk to Exchange over PowerShell remoting
    with C(pypsrp). Exchange's endpoint accepts only cmdlets with parameters, which is all the modules send.
  - Every connection option can come from an environment variable, so an AWX custom credential type with an C(env)
    injector, molecule and the command line all work the same way. Set them once per play with
    C(module_defaults) and the action group C(group/mailflow.exchange.exchange).
requirements:
  - pypsrp >= 0.9.1 (and pyspnego with its kerberos extra for O(auth=kerberos))
  - jsonschema
"""

    # Attributes shared by all modules.
    ATTRIBUTES = r"""
options: {}
attributes:
  action_group:
    description: Use C(group/mailflow.exchange.exchange) in C(module_defaults) to set the connection options once.
    support: full
    membership:
      - mailflow.exchange.exchange
  platform:
    description: Runs on the controller (or execution environment) and manages Exchange over PowerShell remoting.
    support: full
    platforms: posix
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying anything.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second run reports no change.
"""

    # The modules that only read (send_connector_info, send_connector_route), with ATTRIBUTES.
    ATTRIBUTES_READ_ONLY = r"""
options: {}
attributes:
  check_mode:
    support: full
    details: Only reads; it runs the same in check mode.
  diff_mode:
    support: none
  idempotent:
    support: full
"""
