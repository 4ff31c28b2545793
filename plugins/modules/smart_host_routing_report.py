#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)

# Documentation only: the work is done on the controller by plugins/action/smart_host_routing_report.py (as
# ansible.builtin.set_fact and ansible.builtin.set_stats are documented).

from __future__ import annotations

DOCUMENTATION = r"""
module: smart_host_routing_report
short_description: "Internal to the smart_host_routing role: summarise, write the report file and publish the summary"
version_added: 0.1.0
description:
  - B(Internal to the role) P(mailflow.exchange.smart_host_routing#role) - its report stage calls it; it is not a
    stable interface of the collection and may change or go away in any release. Use the role, or the modules it calls.
  - Makes one summary per connector from the role's accumulated facts (the code of
    the filter C(mailflow.exchange.smart_host_routing_summary)) and sets it as the fact C(smart_host_routing_report), as
    M(ansible.builtin.set_fact) would.
  - Writes the summary as a Markdown document (the code of the filter C(mailflow.exchange.smart_host_routing_report_markdown))
    to O(path) on the controller, atomically and with mode C(0600), also in check mode; the file never counts as a change.
    When it cannot be written (for example its directory does not exist), the task does not fail but returns
    RV(report_file_error); the role fails on it after printing the summary.
  - Publishes the summary for AWX workflows under O(stats_key), as M(ansible.builtin.set_stats) with C(per_host=false) and
    C(aggregate=true) would; not when the file could not be written.
  - Runs on the controller only; it never connects to the host.
options:
  facts:
    description:
      - The role's accumulator, connector name to what each stage learnt (the filter C(mailflow.exchange.smart_host_routing_facts)).
    type: dict
    required: true
  path:
    description:
      - The Markdown file to write on the controller (the role's C(smart_host_routing_report_file)); its directory must
        exist. C(~) and environment variables are expanded. Empty - no file.
    type: str
    default: ""
  stats_key:
    description:
      - The key of the published data (the role's C(smart_host_routing_stats_key)); a variable name.
    type: str
    required: true
  host:
    description:
      - The Exchange organisation (inventory host) the report is about, shown at the top of the file.
    type: str
    default: ""
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The report file is written in check mode too (the planned change is what a change ticket needs).
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: all
    details: Runs on the controller; it never connects to the host.
author:
  - mailflow.exchange contributors (@mailflow)
seealso:
  - module: ansible.builtin.set_stats
  - module: ansible.builtin.set_fact
"""

EXAMPLES = r"""
# Only the role calls it, from roles/smart_host_routing/tasks/report.yml:
- name: Report | Summarise each connector, write the report for the change ticket and publish it for AWX workflows
  mailflow.exchange.smart_host_routing_report:
    facts: "{{ smart_host_routing__facts | default({}) }}"
    path: "{{ smart_host_routing_report_file }}"
    stats_key: "{{ smart_host_routing_stats_key }}"
    host: "{{ inventory_hostname }}"
  register: smart_host_routing__reported
"""

RETURN = r"""
report_file:
  description: The path of the report file as given (empty - no file was written).
  returned: always
  type: str
  sample: /tmp/smart_host_routing-exchange-lab-20260501T130500.000000Z.md
report_file_error:
  description: Why the report file could not be written, naming C(smart_host_routing_report_file); nothing was published.
  returned: when the file could not be written
  type: str
  sample: "smart_host_routing_report_file: cannot write the report to /missing/r.md on the controller: its directory /missing does not exist"
report:
  description:
    - The summary, one dictionary per connector, for the role to set as C(smart_host_routing_report) with
      M(ansible.builtin.set_fact). Before ansible-core 2.21 only set_fact itself can set a fact at set_fact's precedence.
    - From ansible-core 2.21 the fact is set by this task (C(ansible_facts.smart_host_routing_report)) and this key is not returned.
  returned: before ansible-core 2.21
  type: list
  elements: dict
"""
