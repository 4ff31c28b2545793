# -*- coding: utf-8 -*-
# Copyright: mailflow.exchange contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""PRIVATE: not a public API of the collection; it may change at any time.

The connection to Exchange's remote PowerShell endpoint, behind one small interface:
``ExchangeSession.run(cmdlet, params) -> list[dict]`` (and ``run_pipeline`` for several cmdlets in one pipeline). One RunspacePool per module run,
cmdlets only (Exchange's endpoint runs in no-language mode), keys exchanged before any
credential is sent, and every failure turned into one clear sentence (``ExchangeError``).
With ``keep_session`` a module run uses the pool a broker kept from an earlier one (``broker.py``), behind the same
interface.
"""

from __future__ import annotations

import importlib.util
import os
import re
import socket
import ssl
import traceback
from typing import Any, Optional

from ansible.module_utils.basic import env_fallback

from ansible_collections.mailflow.exchange.plugins.module_utils._remoting import kerberos as _kerberos
from ansible_collections.mailflow.exchange.plugins.module_utils._connectors.plan import Credential
from ansible_collections.mailflow.exchange.plugins.module_utils._remoting.wire import Output, Unreadable, read_output

# pypsrp (with requests, spnego and cryptography: 0.15-0.25 s of a module start) is imported only by a run that opens
# its own pool (load_pypsrp). A run through a runspace a broker kept (keep_session) talks to the broker's socket and
# never needs it. HAS_PYPSRP only says whether it is installed; a failing import is reported when a pool is opened.
PYPSRP_IMPORT_ERROR: Optional[str] = None
HAS_PYPSRP = importlib.util.find_spec("pypsrp") is not None
PSCredential: Any = None
AuthenticationError: Any = None
WinRMTransportError: Any = None
WSManFaultError: Any = None
PowerShell: Any = None
RunspacePool: Any = None
WSMan: Any = None


def load_pypsrp() -> None:
    """Import pypsrp's classes into this module (once); ExchangeError when it cannot be imported."""
    global PYPSRP_IMPORT_ERROR, PSCredential, AuthenticationError, WinRMTransportError, WSManFaultError
    global PowerShell, RunspacePool, WSMan
    if WSMan is not None:
        return
    try:
        from pypsrp.complex_objects import PSCredential
        from pypsrp.exceptions import AuthenticationError, WinRMTransportError, WSManFaultError
        from pypsrp.powershell import PowerShell, RunspacePool
        from pypsrp.wsman import WSMan
    except ImportError as err:
        PYPSRP_IMPORT_ERROR = traceback.format_exc()
        raise ExchangeError("pypsrp, which the Exchange modules need to open a remote PowerShell session, could not "
                            "be imported on the machine that runs the module (%s): install pypsrp there" % err)


AUTH_CHOICES = ["kerberos", "negotiate", "ntlm", "basic", "credssp"]

CONNECTION_ARGSPEC: dict[str, Any] = {
    "server": {"type": "str", "fallback": (env_fallback, ["EXCHANGE_SERVER"])},
    # Not "port": send_connector's own "port" is the connector's -Port (the smart hosts' SMTP port).
    "server_port": {"type": "int", "fallback": (env_fallback, ["EXCHANGE_PORT"])},
    "protocol": {"type": "str", "choices": ["http", "https"], "fallback": (env_fallback, ["EXCHANGE_PROTOCOL"])},
    "path": {"type": "str", "fallback": (env_fallback, ["EXCHANGE_PATH"])},
    "configuration_name": {"type": "str", "default": "Microsoft.Exchange"},
    "auth": {"type": "str", "choices": AUTH_CHOICES, "fallback": (env_fallback, ["EXCHANGE_AUTH"])},
    "username": {"type": "str", "fallback": (env_fallback, ["EXCHANGE_USERNAME"])},
    "password": {"type": "str", "no_log": True, "fallback": (env_fallback, ["EXCHANGE_PASSWORD"])},
    "validate_certs": {"type": "bool", "fallback": (env_fallback, ["EXCHANGE_VALIDATE_CERTS"])},
    "ca_cert": {"type": "path", "fallback": (env_fallback, ["EXCHANGE_CA_CERT"])},
    "connection_timeout": {"type": "int", "default": 30},
    "operation_timeout": {"type": "int", "default": 20},
    "domain_controller": {"type": "str"},
    "keep_session": {"type": "int", "default": 0},
}

KEEP_SESSION_MAX = 3600


# WSMan fault codes (MS-WSMV, winerror.h) the hints tell apart
_FAULT_RESOURCE_URI = 2150858752  # 0x80338000 ERROR_WSMAN_INVALID_RESOURCE_URI: no such session configuration
_FAULT_TIMEOUT = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
_FAULT_NO_SHELL = 2150858843  # 0x8033805B ERROR_WSMAN_UNEXPECTED_SELECTORS: the shell does not exist (any more)


class ExchangeError(Exception):
    """A failure to show the user as is: one sentence, no traceback."""

    def __init__(self, message: str, **details: Any) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class TransportError(ExchangeError):
    """The connection failed (network, TLS, HTTP, WSMan fault): Exchange's answer, if any, is unknown."""


class CmdletError(ExchangeError):
    """A cmdlet reported an error (terminating or not)."""

    def __init__(self, cmdlet: str, message: str, error_id: str = "", category: str = "", reason: str = "") -> None:
        text = "%s failed: %s" % (cmdlet, message)
        super().__init__(text, cmdlet=cmdlet, error_id=error_id, category=category)
        self.cmdlet = cmdlet
        self.error_message = message
        self.error_id = error_id
        self.category = category
        self.reason = reason

    def mentions(self, *words: str, message: bool = False) -> bool:
        """Whether the error's id, category or reason (and with ``message`` its text) holds one of ``words``
        (lower case), ignoring case: how Exchange's errors are told apart."""
        parts = [self.error_id, self.category, self.reason] + ([self.error_message] if message else [])
        haystack = " ".join(parts).lower()
        return any(word in haystack for word in words)

    @property
    def not_found(self) -> bool:
        return self.mentions("objectnotfound", "managementobjectnotfound")

    @property
    def input_not_bound(self) -> bool:
        """PowerShell bound no parameter to a pipeline input object (InputObjectNotBound, a ParameterBindingException)."""
        return self.mentions("inputobjectnotbound", "parameterbinding")

    @property
    def not_recognized(self) -> bool:
        return self.mentions("commandnotfound")


def connection_settings(params: dict[str, Any]) -> dict[str, Any]:
    """Module parameters (after env fallbacks) with their defaults filled in, validated."""
    server = params.get("server")
    if not server:
        raise ExchangeError("server is required: give the Exchange server's name (or set EXCHANGE_SERVER)")
    protocol = params.get("protocol") or "http"
    auth = params.get("auth") or "kerberos"
    port = params.get("server_port")
    if port is None:  # not given (and no EXCHANGE_PORT): the protocol's port
        port = 443 if protocol == "https" else 80
    elif isinstance(port, bool) or not isinstance(port, int) or not 1 <= port <= 65535:
        # 0 is refused too: it is no port to connect to, and must not silently become 80 or 443
        raise ExchangeError("server_port: must be a TCP port number from 1 to 65535, got %r (from server_port or "
                            "EXCHANGE_PORT); leave it out to use %d for %s" % (port, 443 if protocol == "https" else 80,
                                                                               protocol))
    validate_certs = params.get("validate_certs")
    username = params.get("username") or None  # an empty EXCHANGE_* variable means "not given"
    password = params.get("password") or None
    missing = [name for name, value in (("username", username), ("password", password)) if not value]
    if auth in ("basic", "ntlm", "credssp") and missing:  # kerberos and negotiate may use a ticket cache
        raise ExchangeError("%s authentication needs %s: give %s (or set %s)" % (
            auth, " and ".join(missing), "them" if len(missing) > 1 else "it",
            " and ".join("EXCHANGE_" + name.upper() for name in missing)))
    missing_kerberos = _kerberos.missing_extra(auth, password)
    if missing_kerberos:
        raise ExchangeError(missing_kerberos)
    keep = params.get("keep_session") or 0
    if isinstance(keep, bool) or not isinstance(keep, int) or not 0 <= keep <= KEEP_SESSION_MAX:
        raise ExchangeError("keep_session: must be a number of seconds from 0 to %d, got %r" % (KEEP_SESSION_MAX, keep))
    ca_cert = params.get("ca_cert")
    if ca_cert and protocol == "https" and validate_certs is not False:
        check_ca_file(ca_cert)
    return {
        "server": server,
        "port": int(port),
        "protocol": protocol,
        "path": (params.get("path") or "PowerShell").strip("/"),
        "configuration_name": params.get("configuration_name") or "Microsoft.Exchange",
        "auth": auth,
        "auth_given": bool(params.get("auth")),
        "username": username,
        "password": password,
        "validate_certs": True if validate_certs is None else bool(validate_certs),
        "ca_cert": ca_cert,
        "connection_timeout": int(params.get("connection_timeout") or 30),
        "operation_timeout": int(params.get("operation_timeout") or 20),
        "domain_controller": params.get("domain_controller"),
        "keep_session": keep,
    }


def transport_warnings(settings: dict[str, Any]) -> list[str]:
    """What every module run on these settings warns about the connection itself (a shared session's too)."""
    if settings["protocol"] != "https" and settings["auth"] == "basic":
        return ["basic authentication over http sends the Exchange credentials in clear text; use protocol https"]
    return []


def check_ca_file(path: str) -> None:
    """Refuse a ca_cert that is missing, unreadable or holds no PEM certificate, before connecting.

    Each gets its own sentence: otherwise all three end up as the same TLS failure.
    """
    if not os.path.exists(path):
        raise ExchangeError("ca_cert %s does not exist: give the PEM file of the CA that signed the server "
                            "certificate (or set EXCHANGE_CA_CERT)" % path)
    if os.path.isdir(path):
        return  # a directory of hashed CA files (c_rehash), which requests accepts as it is
    try:
        with open(path, "rb") as handle:
            data = handle.read(4 * 1024 * 1024)
    except OSError as err:
        raise ExchangeError("ca_cert %s cannot be read (%s): make it readable for the user that runs Ansible"
                            % (path, err.strerror or type(err).__name__))
    hint = ("give the CA certificate in PEM form, the text between -----BEGIN CERTIFICATE----- and "
            "-----END CERTIFICATE----- (a DER .cer file converts with: openssl x509 -inform der -in ca.cer -out ca.pem)")
    if b"-----BEGIN CERTIFICATE-----" not in data:
        raise ExchangeError("ca_cert %s holds no PEM certificate: %s" % (path, hint))
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError) as err:
        raise ExchangeError("ca_cert %s holds no certificate that can be read (%s): %s"
                            % (path, getattr(err, "reason", None) or str(err).splitlines()[0], hint))


# What each ``auth`` value can answer, by the scheme names a server lists in WWW-Authenticate.
_AUTH_SCHEMES = {
    "kerberos": ("negotiate", "kerberos"),
    "negotiate": ("negotiate", "kerberos", "ntlm"),
    "ntlm": ("ntlm", "negotiate"),
    "basic": ("basic",),
    "credssp": ("credssp",),
}
_SCHEME = re.compile(r"(?:^|,)\s*([A-Za-z][A-Za-z0-9_-]*)(?=\s|,|$)")


def offered_schemes(header: str) -> list[str]:
    """The authentication schemes of a WWW-Authenticate value (several headers joined by commas)."""
    seen: list[str] = []
    for name in _SCHEME.findall(header or ""):
        if name.lower() not in (s.lower() for s in seen):
            seen.append(name)
    return seen


def auth_hint(auth: str, offered: list[str], url: str, auth_given: bool = True) -> Optional[str]:
    """A sentence when ``auth`` cannot work with the schemes the server offers, else None."""
    lowered = [s.lower() for s in offered]
    if not lowered or any(s in _AUTH_SCHEMES.get(auth, ()) for s in lowered):
        return None
    usable = [name for name in AUTH_CHOICES if any(s in _AUTH_SCHEMES[name] for s in lowered)]
    given = "auth is %s" % auth if auth_given else "auth was not given, so kerberos was used"
    if not usable:
        return ("%s offers only %s authentication (WWW-Authenticate), which this collection cannot use (%s); enable "
                "Kerberos, NTLM or Basic authentication on the PowerShell virtual directory" % (url, ", ".join(offered), given))
    advice = " or ".join("auth: %s" % name for name in usable)
    if usable == ["basic"] and url.startswith("http:"):
        advice += " with protocol https (over http Basic sends the password in clear text)"
    return "%s does not offer %s authentication (%s): the server offers %s (WWW-Authenticate); set %s (or EXCHANGE_AUTH)" % (
        url, auth, given, ", ".join(offered), advice)


def _exception_chain(err: BaseException, limit: int = 12) -> list[BaseException]:
    """The exception, what it was raised from, and the errors libraries wrap (urllib3's ``reason``)."""
    chain: list[BaseException] = []
    todo: list[Any] = [err]
    while todo and len(chain) < limit:
        current = todo.pop(0)
        if not isinstance(current, BaseException) or any(current is seen for seen in chain):
            continue
        chain.append(current)
        todo.extend([current.__cause__, current.__context__, getattr(current, "reason", None)])
        todo.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
    return chain


# OpenSSL X509_V_ERR_* codes of ssl.SSLCertVerificationError.verify_code
_NAME_MISMATCH = (62, 64)  # HOSTNAME_MISMATCH, IP_ADDRESS_MISMATCH
_UNKNOWN_ISSUER = (2, 18, 19, 20, 21)  # issuer unknown, self-signed leaf or chain, leaf signature unverifiable
_VALIDITY = (9, 10)  # not yet valid, expired


def endpoint_url(settings: dict[str, Any]) -> str:
    return "%s://%s:%d/%s" % (settings["protocol"], settings["server"], settings["port"], settings["path"])


# Exchange's remote sessions put "[Server=EX01,RequestId=<guid>,TimeStamp=<time>] [FailureCategory=Cmdlet-<Type>] "
# in front of an error's FullyQualifiedErrorId (and some hosts in front of its text too).
_EXCHANGE_PREFIX = re.compile(
    r"^\s*\[Server=(?P<server>[^,\]]*)(?:,[^\]]*)?\]\s*(?:\[FailureCategory=(?P<category>[^\]]*)\]\s*)?")


def cut_exchange_prefix(text: str) -> tuple[str, dict[str, str]]:
    """``text`` without Exchange's ``[Server=...] [FailureCategory=...]`` prefix, and what the prefix said."""
    match = _EXCHANGE_PREFIX.match(text or "")
    if not match:
        return text, {}
    found = {"server": match.group("server")}
    if match.group("category"):
        found["failure_category"] = match.group("category")
    return text[match.end():], found


def _exception_text(exception: Any) -> str:
    """What an ErrorRecord's exception (as pypsrp deserialised it) says: its ToString, else its Message."""
    if isinstance(exception, str):
        return exception
    for attr in ("to_string", "_to_string"):
        text = getattr(exception, attr, None)
        if isinstance(text, str) and text:
            return text
    props = dict(getattr(exception, "extended_properties", None) or {})
    props.update(getattr(exception, "adapted_properties", None) or {})
    message = props.get("Message")
    return message if isinstance(message, str) else ""


def _error_text(record: Any) -> tuple[str, str, str, str]:
    """(message, FullyQualifiedErrorId, category, reason) of a pypsrp ErrorRecord, Exchange's prefixes cut off."""
    exception = getattr(record, "exception", None)
    message = _exception_text(exception) if exception is not None else ""
    message = message or getattr(record, "details_message", None) or getattr(record, "message", None) or str(record)
    message, _said = cut_exchange_prefix(str(message).strip())
    error_id, _said = cut_exchange_prefix(str(getattr(record, "fq_error", "") or ""))
    return (
        message.strip(),
        error_id,
        str(getattr(record, "reason", "") or ""),
        str(getattr(record, "category", "") or ""),
    )


class ExchangeSession:
    """One RunspacePool on Exchange's endpoint; use as a context manager."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        self.url = endpoint_url(settings)
        self._pool: Any = None
        self._keys_exchanged = False
        self.warnings: list[str] = []
        self.calls: list[str] = []

    # ---- life cycle ---------------------------------------------------------------------
    def __enter__(self) -> "ExchangeSession":
        self.open()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _wsman(self) -> Any:
        s = self.settings
        ssl = s["protocol"] == "https"
        cert_validation: Any = s["validate_certs"]
        if ssl and cert_validation and s.get("ca_cert"):
            cert_validation = s["ca_cert"]
        # Basic over plain HTTP has no message encryption; Exchange allows it only when the
        # administrator enabled it, and the credentials travel in clear text.
        encryption = "never" if not ssl and s["auth"] == "basic" else "auto"
        self.warnings.extend(transport_warnings(s))
        try:
            username = _kerberos.principal_name(s.get("username"), s["auth"])
        except ValueError as err:
            raise ExchangeError(str(err))
        return WSMan(
            s["server"],
            port=s["port"],
            path=s["path"],
            ssl=ssl,
            auth=s["auth"],
            username=username,
            password=s.get("password"),
            cert_validation=cert_validation,
            connection_timeout=s["connection_timeout"],
            operation_timeout=s["operation_timeout"],
            read_timeout=s["operation_timeout"] + 5,
            encryption=encryption,
            **_kerberos.wsman_options(s["auth"])
        )

    def open(self) -> None:
        def _open() -> None:
            self._pool = RunspacePool(self._wsman(), configuration_name=self.settings["configuration_name"])
            read_output(self._pool._serializer)
            self._pool.open()
            # Exchange returns AuthenticationCredential as a PSCredential whose password is a
            # SecureString, which needs the session key. pypsrp 0.9.1 ignores a key request the
            # server starts (its handler never calls exchange_keys), so start the exchange here.
            self._pool.exchange_keys()
            self._keys_exchanged = True

        load_pypsrp()
        diagnostics = _kerberos.NegotiateDiagnostics()
        with diagnostics:  # keeps why negotiate gave up on Kerberos, if it does
            self._guard(_open, diagnostics)

    def reconnect(self) -> None:
        """Drop the current pool (best effort) and open a new one: after a failure mid-call."""
        self.close()
        self._keys_exchanged = False
        self.open()

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            pool.close()
        except Exception:  # closing is best effort: the work is already done or reported
            pass

    # ---- the one interface ------------------------------------------------------------
    def run(self, cmdlet: str, params: Optional[list] = None) -> list[dict[str, Any]]:
        """Run one cmdlet with parameters; return its output objects as plain dicts.

        Raises CmdletError for an Exchange error (non-terminating ErrorRecord or Failed
        pipeline) and ExchangeError for a transport problem.
        """
        return self.run_pipeline([(cmdlet, params)])

    def run_pipeline(self, commands: list[tuple[str, Optional[list]]], input: Optional[list] = None,
                     errors: Optional[list] = None) -> list[dict[str, Any]]:
        """Run one pipeline of cmdlets, each with its parameters (``Get-SendConnector | Select-Object
        -ExpandProperty Name`` is ``[("Get-SendConnector", []), ("Select-Object", [("ExpandProperty", "Name")])]``):
        one PSRP pipeline, one round trip. Its output and errors as ``run``'s; a CmdletError names the pipeline.

        ``input``: objects sent as the pipeline's input (PSRP PIPELINE_INPUT), which PowerShell binds to the first
        cmdlet's parameter that takes pipeline input, one record per object. ``errors``: a list that receives each
        non-terminating error (a CmdletError) instead of raising the first, so the output of the other objects is
        kept; a pipeline that failed (a terminating error) raises in any case.
        """
        commands = [(cmdlet, list(params or [])) for cmdlet, params in commands]
        if not self._keys_exchanged and any(isinstance(value, Credential) for _cmdlet, params in commands
                                            for _name, value in params):
            self._guard(self._pool.exchange_keys)
            self._keys_exchanged = True
        label = " | ".join(cmdlet for cmdlet, _params in commands)
        self.calls.append(label)

        def _invoke() -> Any:
            ps = PowerShell(self._pool)
            for cmdlet, params in commands:
                ps.add_cmdlet(cmdlet)
                for name, value in params:
                    ps.add_parameter(name, self._wire(value))
            output = ps.invoke(input=[self._wire(value) for value in input]) if input else ps.invoke()
            return ps, output

        ps, output = self._guard(_invoke)
        records = list(ps.streams.error)
        for warning in ps.streams.warning:
            text = getattr(warning, "message", None) or str(warning)
            self.warnings.append("%s: %s" % (label, text))
        if ps.had_errors and errors is not None:
            # the failed pipeline's own record comes last (pypsrp appends the PipelineState's error record)
            raise self._cmdlet_error(label, records[-1] if records else None)
        if ps.had_errors or (records and errors is None):
            raise self._cmdlet_error(label, records[0] if records else None)
        if errors is not None:
            errors.extend(self._cmdlet_error(label, record) for record in records)
        return [self.record(obj, label) for obj in output]

    def _cmdlet_error(self, label: str, record: Any) -> CmdletError:
        """The CmdletError of one ErrorRecord (None: a pipeline that failed without one)."""
        if record is not None:
            message, error_id, reason, category = _error_text(record)
        else:
            message, error_id, reason, category = "the pipeline failed without an error record", "", "", ""
        error = CmdletError(label, message, error_id=error_id, category=category, reason=reason)
        if error.not_recognized:
            error.message = (
                "%s failed: the account %s may not run it; Exchange role-based access control does not offer this "
                "cmdlet in its session (give it a role that manages Send connectors, e.g. Organization Management)"
                % (label, self.settings.get("username") or "in use")
            )
        return error

    @staticmethod
    def record(obj: Any, cmdlet: str = "the command") -> dict[str, Any]:
        """One output object as ``{PropertyName: plain value}`` (``{"value": v}`` for a primitive).

        Every output message goes to the collection's reader (_wire); there is no second, slower reader to fall
        back on: what it cannot read is an ExchangeError that says so.
        """
        if isinstance(obj, Output):
            return obj.record
        why = obj.reason if isinstance(obj, Unreadable) else "it did not reach the collection's reader (%s)" % (
            type(obj).__name__)
        raise ExchangeError(
            "%s ran, but its answer could not be read: %s. This is a defect of the "
            "collection's CLIXML reader: please report it with the Exchange version and the command" % (cmdlet, why))

    @staticmethod
    def _wire(value: Any) -> Any:
        if isinstance(value, Credential):
            return PSCredential(username=value.username, password=value.password)
        if isinstance(value, dict):
            return {key: ExchangeSession._wire(val) for key, val in value.items()}
        return value

    # ---- errors -------------------------------------------------------------------------
    def _guard(self, func: Any, diagnostics: Any = None) -> Any:
        try:
            return func()
        except ExchangeError:
            raise
        except Exception as err:
            if self._auth_refused(err):
                hint = auth_hint(self.settings["auth"], self._offered(), self.url, self.settings.get("auth_given", True))
                if hint:
                    raise TransportError(hint)
            kerberos = _kerberos.explain(err, dict(self.settings, url=self.url), diagnostics)
            if kerberos:
                raise TransportError(kerberos)
            return self._map_error(err)

    @staticmethod
    def _auth_refused(err: BaseException) -> bool:
        """A 401, or pypsrp finding no scheme it can use in the server's WWW-Authenticate."""
        load_pypsrp()  # the classes below are pypsrp's (imported once, when a pool is opened)
        if isinstance(err, AuthenticationError):
            return True
        if isinstance(err, WinRMTransportError) and getattr(err, "code", None) == 401:
            return True
        return isinstance(err, ValueError) and "incompatible with the specified auth_provider" in str(err)

    def _offered(self) -> list[str]:
        """The schemes the endpoint lists in the WWW-Authenticate of a 401 (one request, no credentials)."""
        try:
            import requests  # pypsrp's own HTTP library

            s = self.settings
            verify: Any = s["validate_certs"]
            if verify and s.get("ca_cert"):
                verify = s["ca_cert"]
            response = requests.post(
                self.url, data=b"", headers={"Content-Type": "application/soap+xml;charset=UTF-8"},
                verify=verify, timeout=(s["connection_timeout"], s["operation_timeout"] + 5), allow_redirects=False)
            if response.status_code != 401:
                return []
            return offered_schemes(response.headers.get("WWW-Authenticate", ""))
        except Exception:  # only a better message is lost
            return []

    def _certificate_names(self) -> list[str]:
        """The DNS names and IP addresses the server's certificate carries (read without validation)."""
        try:
            from cryptography import x509

            pem = ssl.get_server_certificate((self.settings["server"], self.settings["port"]),
                                             timeout=self.settings["connection_timeout"])
            cert = x509.load_pem_x509_certificate(pem.encode("ascii"))
            try:
                san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
                names = list(san.get_values_for_type(x509.DNSName)) + [str(ip) for ip in san.get_values_for_type(x509.IPAddress)]
            except x509.ExtensionNotFound:
                names = [str(a.value) for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]
            return names
        except Exception:  # only a better message is lost
            return []

    def _tls_error(self, chain: list[BaseException]) -> Optional[str]:
        """One sentence for a failed certificate check, by what failed; None when it was no such check."""
        verify = next((e for e in chain if isinstance(e, ssl.SSLCertVerificationError)), None)
        if verify is None:
            return None
        code = getattr(verify, "verify_code", None)
        detail = str(getattr(verify, "verify_message", "") or verify.reason or verify).strip()
        ca_cert = self.settings.get("ca_cert")
        if code in _NAME_MISMATCH:
            names = self._certificate_names()
            carried = " (it is for %s)" % ", ".join(names[:8]) if names else ""
            server = self.settings["server"]
            return ("the TLS certificate of %s is not valid for the name %s%s: set server to a name the certificate "
                    "carries, or give Exchange a certificate for %s" % (self.url, server, carried, server))
        if code in _UNKNOWN_ISSUER:
            if ca_cert:
                return ("the TLS certificate of %s was not issued by the CA in ca_cert %s (%s): give the PEM file of the "
                        "CA that signed the server certificate" % (self.url, ca_cert, detail))
            return ("the TLS certificate of %s was issued by a CA this machine does not trust (%s): give that CA's PEM "
                    "file in ca_cert (or EXCHANGE_CA_CERT), or set validate_certs false only for a test system"
                    % (self.url, detail))
        if code in _VALIDITY:
            return ("the TLS certificate of %s is outside its validity period (%s): renew the Exchange certificate, or "
                    "check this machine's clock" % (self.url, detail))
        return ("TLS certificate validation failed for %s (%s): give the CA that signed the server certificate in "
                "ca_cert (or EXCHANGE_CA_CERT), or set validate_certs false only for a test system" % (self.url, detail))

    def _map_error(self, err: Exception) -> Any:
        """Raise the ExchangeError (one sentence) that explains a transport failure."""
        load_pypsrp()
        if isinstance(err, AuthenticationError):
            raise TransportError(
                "%s rejected the credentials of user %s with %s authentication (HTTP 401): check username and "
                "password, and that the PowerShell virtual directory allows %s authentication"
                % (self.url, self.settings.get("username") or "(none)", self.settings["auth"], self.settings["auth"])
            )
        if isinstance(err, WinRMTransportError):
            raise TransportError(self._http_error(err.code))
        if isinstance(err, WSManFaultError):
            reason = (getattr(err, "reason", None) or str(err)).strip()
            raise TransportError(
                "%s refused the session (WSMan fault %s): %s; %s"
                % (self.url, getattr(err, "code", "?"), reason, self._fault_hint(getattr(err, "code", None), reason))
            )
        raise TransportError(self._network_error(err))

    def _fault_hint(self, code: Any, reason: str) -> str:
        """What to check for a WSMan fault: the hint that matches the fault (issue 15), not always configuration_name."""
        text = reason.lower()
        if code == _FAULT_RESOURCE_URI or "configuration" in text or "resource uri" in text:
            return ("check configuration_name (%s): the server has no such PowerShell session configuration"
                    % self.settings["configuration_name"])
        if code == _FAULT_TIMEOUT or "timed out" in text or "timeout" in text:
            return "the server did not answer in time: raise operation_timeout, or check the Exchange server's load"
        if code == _FAULT_NO_SHELL or "shell" in text and ("not found" in text or "does not exist" in text):
            return "the server no longer has this session (it was closed or recycled): run the task again"
        if "quota" in text or "maximum number" in text:
            return "the user has too many open remote PowerShell sessions: close some, or wait for them to time out"
        return "a fault of the WS-Management service on the server: run the task again, and if it persists look at the " \
               "server's event log"

    def _http_error(self, code: int) -> str:
        if code == 404:
            return "%s was not found (HTTP 404): check server, port and path (Exchange uses /PowerShell)" % self.url
        if code == 403:
            return "%s refused access (HTTP 403): the user may not use remote PowerShell or SSL is required" % self.url
        if code == 401:
            return "%s rejected the credentials (HTTP 401)" % self.url
        return "%s answered HTTP %s instead of a remote PowerShell reply" % (self.url, code)

    def _network_error(self, err: Exception) -> str:
        chain = _exception_chain(err)
        names = " ".join(type(e).__name__ for e in chain)
        text = " ".join(str(e) for e in chain)
        lowered = (names + " " + text).lower()
        if "timeout" in lowered or "timed out" in lowered:
            return "%s did not answer in time (connection_timeout %ss, operation_timeout %ss): check the server and the network" % (
                self.url, self.settings["connection_timeout"], self.settings["operation_timeout"])
        if "wrong_version_number" in lowered or "wrong version number" in lowered:
            return "%s did not answer with TLS; if it expects plain http, set protocol http" % self.url
        dropped = any(word in lowered for word in ("reset by peer", "connection aborted", "remotedisconnected"))
        if dropped and self._keys_exchanged:  # the session was open: no protocol mismatch, the server dropped us
            return "%s closed the connection without an answer" % self.url
        if self.settings["protocol"] == "http" and dropped:
            return "%s closed the connection without answering; if it expects https, set protocol https" % self.url
        tls = self._tls_error(chain)
        if tls:
            return tls
        if "ssl" in lowered or "certificate" in lowered:
            return (
                "TLS certificate validation failed for %s: give the CA that signed the server certificate in ca_cert "
                "(or EXCHANGE_CA_CERT), or set validate_certs false only for a test system" % self.url
            )
        if "refused" in lowered:
            return "could not connect to %s: connection refused (is the server listening on port %d?)" % (
                self.url, self.settings["port"])
        if isinstance(err, socket.gaierror) or "name or service not known" in lowered or "getaddrinfo" in lowered \
                or "failed to resolve" in lowered or "nodename nor servname" in lowered:
            return "could not resolve the server name %s" % self.settings["server"]
        if "kerberos" in lowered or "gss" in lowered or "spnego" in lowered:
            return "%s authentication to %s failed: %s" % (self.settings["auth"], self.url, str(err).splitlines()[0])
        if isinstance(err, (ConnectionError, OSError)):
            return "could not connect to %s: %s" % (self.url, str(err).splitlines()[0] if str(err) else type(err).__name__)
        if "FragmentError" in names:
            # pypsrp sends a Receive whose read timed out again and counts on the same reply; a server that answered
            # the repeat with later data lost the first reply's fragments (seen reading 200 connectors under load)
            return ("the answer from %s arrived incomplete (a reply read after a timeout was not repeated: %s): the "
                    "server was slower than operation_timeout %ss + 5 s; raise operation_timeout or run the task again"
                    % (self.url, str(err).splitlines()[0], self.settings["operation_timeout"]))
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        return "remote PowerShell to %s failed: %s" % (self.url, first)
