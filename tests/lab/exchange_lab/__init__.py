"""exchange_lab: a local stand-in for an Exchange organisation.

It speaks PowerShell remoting (WSMan + PSRP) like Exchange's ``/PowerShell`` endpoint,
emulates the Send connector cmdlets per their Microsoft parameter pages (docs/exchange-rules.md), and (later) routes mail
through Send connectors to smart hosts over real SMTP.

Layout:
    api.py        the boundary between the wire (transport/) and the organisation (org/)
    config.py     the lab configuration (``--config FILE``) with its knobs
    metrics.py    counters of runspaces and cmdlets, mirrored to ``<state>/counters.json``
    transport/    HTTP(S) server, authentication, WSMan SOAP, PSRP runspace/pipeline glue
    org/          the Exchange organisation: users/RBAC, Send connectors, cmdlets, state store
    cli.py        ``python -m exchange_lab serve|smarthost ...``
"""

__version__ = "0.1.0"
