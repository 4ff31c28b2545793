"""The ``mail:`` section of the lab configuration (``LabConfig.extra["mail"]``).

Every key is optional::

    mail:
      enabled: true                 # false: no SMTP listener, no transport cmdlets' data
      smtp_port: 0                  # the receive connector's port (0 = any free port; see smtp_port in the ready JSON)
      ca_bundle: /path/ca.pem       # trust anchors for TlsAuthLevel CertificateValidation/DomainValidation
      retry_interval: 60            # seconds between delivery attempts of a queue in Retry
      message_expiration: 172800    # seconds until a queued message is returned (FAIL + DSN)
      connect_timeout: 30           # seconds, cap on the connector's ConnectionInactivityTimeOut
      accepted_domains: [fabrikam.org]  # sender domains besides the lab's domain
      receive_max_message_size: 36700160
      send_event_id: SEND           # or SENDEXTERNAL, the tracking event for delivery through a connector
"""

from __future__ import annotations

import dataclasses
import typing as t


class MailConfigError(ValueError):
    """A wrong value in the ``mail:`` section; the message names the key."""


@dataclasses.dataclass
class MailSettings:
    enabled: bool = True
    smtp_port: int = 0
    ca_bundle: str | None = None
    retry_interval: float = 60.0
    message_expiration: float = 172800.0
    connect_timeout: float = 30.0
    accepted_domains: list[str] = dataclasses.field(default_factory=list)
    receive_max_message_size: int = 36700160
    send_event_id: str = "SEND"

    @classmethod
    def from_extra(cls, extra: dict[str, t.Any]) -> "MailSettings":
        raw = dict((extra or {}).get("mail") or {})
        settings = cls()
        unknown = sorted(set(raw) - {f.name for f in dataclasses.fields(cls)})
        if unknown:
            raise MailConfigError(f"mail: unknown key(s) {', '.join(unknown)}")
        for key, value in raw.items():
            current = getattr(settings, key)
            try:
                if isinstance(current, bool):
                    value = bool(value)
                elif isinstance(current, int):
                    value = int(value)
                elif isinstance(current, float):
                    value = float(value)
                elif isinstance(current, list):
                    value = [str(v).lower() for v in value]
                elif value is not None:
                    value = str(value)
            except (TypeError, ValueError):
                raise MailConfigError(f"mail.{key}: {value!r} is not a valid {type(current).__name__}") from None
            setattr(settings, key, value)
        if settings.retry_interval <= 0:
            raise MailConfigError("mail.retry_interval must be a positive number of seconds")
        if settings.send_event_id.upper() not in ("SEND", "SENDEXTERNAL"):
            raise MailConfigError("mail.send_event_id must be SEND or SENDEXTERNAL")
        settings.send_event_id = settings.send_event_id.upper()
        return settings
