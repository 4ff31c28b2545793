"""WS-Management SOAP envelopes: parse a request, build responses and WSManFaults.

Only the subset the PowerShell remoting client (pypsrp, PowerShell) uses is modelled. Responses
carry ``wsa:RelatesTo`` = the request's ``wsa:MessageID``; clients check it.
"""

from __future__ import annotations

import dataclasses
import re
import uuid
import xml.etree.ElementTree as ET

NS = {
    "s": "http://www.w3.org/2003/05/soap-envelope",
    "wsa": "http://schemas.xmlsoap.org/ws/2004/08/addressing",
    "wsman": "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd",
    "wsmv": "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd",
    "wst": "http://schemas.xmlsoap.org/ws/2004/09/transfer",
    "rsp": "http://schemas.microsoft.com/wbem/wsman/1/windows/shell",
    "f": "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault",
    "pwsh": "http://schemas.microsoft.com/powershell",
    "xml": "http://www.w3.org/XML/1998/namespace",
}
for _prefix, _uri in NS.items():
    if _prefix != "xml":
        ET.register_namespace(_prefix, _uri)

TRANSFER = "http://schemas.xmlsoap.org/ws/2004/09/transfer/"
SHELL = "http://schemas.microsoft.com/wbem/wsman/1/windows/shell/"
ACTION_CREATE = TRANSFER + "Create"
ACTION_DELETE = TRANSFER + "Delete"
ACTION_GET = TRANSFER + "Get"
ACTION_COMMAND = SHELL + "Command"
ACTION_SEND = SHELL + "Send"
ACTION_RECEIVE = SHELL + "Receive"
ACTION_SIGNAL = SHELL + "Signal"
ACTION_FAULT = "http://schemas.dmtf.org/wbem/wsman/1/wsman/fault"
ANONYMOUS = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous"

SIGNAL_TERMINATE = SHELL + "signal/Terminate"
SIGNAL_CTRL_C = "powershell/signal/ctrl_c"
SIGNAL_CTRL_C_ALT = "powershell/signal/crtl_c"  # spelling used by some PowerShell versions

# WSManFault codes as Windows reports them (decimal of the HRESULT).
CODE_OPERATION_TIMEOUT = 2150858793  # 0x80338029 ERROR_WSMAN_OPERATION_TIMEDOUT
CODE_UNEXPECTED_SELECTORS = 2150858843  # 0x8033805B the shell does not exist (any more)
CODE_INVALID_RESOURCE_URI = 2150858752  # 0x80338000 resource URI not in the catalog
CODE_ACTION_NOT_SUPPORTED = 2150858771  # 0x80338013 unsupported wsa:Action
CODE_INVALID_MESSAGE = 2150858770  # 0x80338012 malformed request
CODE_INTERNAL_ERROR = 2147500037  # 0x80004005 E_FAIL


class SoapError(Exception):
    """A request the service answers with a WSManFault (HTTP 500)."""

    def __init__(self, code: int, subcode: str, message: str, sender: bool = True) -> None:
        super().__init__(message)
        self.code = code
        self.subcode = subcode
        self.message = message
        self.sender = sender


@dataclasses.dataclass
class Request:
    action: str
    message_id: str
    resource_uri: str
    operation_timeout: float
    max_envelope_size: int
    selectors: dict[str, str]
    options: dict[str, str]
    body: ET.Element  # the s:Body element

    def first(self, path: str) -> ET.Element | None:
        return self.body.find(path, NS)


_DURATION = re.compile(r"^P(?:T(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?)?$")


def parse_duration(text: str | None, default: float) -> float:
    """xs:duration of the PTnS / PTnMnS form clients send; ``default`` when absent or odd."""
    match = _DURATION.match((text or "").strip())
    if not match or not any(match.groups()):
        return default
    hours, minutes, seconds = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds


def parse_request(data: bytes) -> Request:
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise SoapError(
            CODE_INVALID_MESSAGE, "w:InvalidMessage", f"The request is not well-formed XML: {exc}"
        ) from None
    header = root.find("s:Header", NS)
    body = root.find("s:Body", NS)
    if root.tag != f"{{{NS['s']}}}Envelope" or header is None or body is None:
        raise SoapError(CODE_INVALID_MESSAGE, "w:InvalidMessage", "The request is not a SOAP 1.2 envelope.")

    def text(path: str) -> str:
        element = header.find(path, NS)
        return (element.text or "").strip() if element is not None else ""

    selectors = {
        s.attrib.get("Name", ""): (s.text or "") for s in header.findall("wsman:SelectorSet/wsman:Selector", NS)
    }
    options = {o.attrib.get("Name", ""): (o.text or "") for o in header.findall("wsman:OptionSet/wsman:Option", NS)}
    try:
        max_env = int(text("wsman:MaxEnvelopeSize") or 153600)
    except ValueError:
        max_env = 153600
    return Request(
        action=text("wsa:Action"),
        message_id=text("wsa:MessageID"),
        resource_uri=text("wsman:ResourceURI"),
        operation_timeout=parse_duration(text("wsman:OperationTimeout"), 60.0),
        max_envelope_size=max_env,
        selectors=selectors,
        options=options,
        body=body,
    )


def _envelope(action: str, relates_to: str) -> tuple[ET.Element, ET.Element]:
    envelope = ET.Element(f"{{{NS['s']}}}Envelope", {f"{{{NS['xml']}}}lang": "en-US"})
    header = ET.SubElement(envelope, f"{{{NS['s']}}}Header")
    ET.SubElement(header, f"{{{NS['wsa']}}}Action").text = action
    ET.SubElement(header, f"{{{NS['wsa']}}}MessageID").text = f"uuid:{str(uuid.uuid4()).upper()}"
    ET.SubElement(header, f"{{{NS['wsa']}}}To").text = ANONYMOUS
    ET.SubElement(header, f"{{{NS['wsa']}}}RelatesTo").text = relates_to
    body = ET.SubElement(envelope, f"{{{NS['s']}}}Body")
    return envelope, body


def response(request: Request, content: list[ET.Element] | None = None) -> bytes:
    """A reply to ``request``: action ``<request action>Response`` with ``content`` in the body."""
    envelope, body = _envelope(request.action + "Response", request.message_id)
    for element in content or []:
        body.append(element)
    return ET.tostring(envelope, encoding="utf-8", xml_declaration=False)


def fault(relates_to: str, code: int, subcode: str, message: str, machine: str, sender: bool = True) -> bytes:
    """A SOAP fault with the Windows ``WSManFault`` detail (Code, Machine, Message)."""
    envelope, body = _envelope(ACTION_FAULT, relates_to)
    soap_fault = ET.SubElement(body, f"{{{NS['s']}}}Fault")
    code_el = ET.SubElement(soap_fault, f"{{{NS['s']}}}Code")
    ET.SubElement(code_el, f"{{{NS['s']}}}Value").text = "s:Sender" if sender else "s:Receiver"
    sub = ET.SubElement(code_el, f"{{{NS['s']}}}Subcode")
    ET.SubElement(sub, f"{{{NS['s']}}}Value").text = subcode
    reason = ET.SubElement(soap_fault, f"{{{NS['s']}}}Reason")
    ET.SubElement(reason, f"{{{NS['s']}}}Text", {f"{{{NS['xml']}}}lang": "en-US"}).text = message
    detail = ET.SubElement(soap_fault, f"{{{NS['s']}}}Detail")
    wsman_fault = ET.SubElement(detail, f"{{{NS['f']}}}WSManFault", {"Code": str(code), "Machine": machine})
    ET.SubElement(wsman_fault, f"{{{NS['f']}}}Message").text = message
    # The prefixes inside s:Value must resolve: declare w: and s: on the envelope explicitly.
    data = ET.tostring(envelope, encoding="utf-8")
    return data.replace(b"<s:Envelope ", f'<s:Envelope xmlns:w="{NS["wsman"]}" '.encode(), 1)


def element(tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> ET.Element:
    """``tag`` is ``prefix:name`` with a prefix from :data:`NS`."""
    prefix, name = tag.split(":", 1)
    el = ET.Element(f"{{{NS[prefix]}}}{name}", attrib or {})
    if text is not None:
        el.text = text
    return el


def sub(parent: ET.Element, tag: str, text: str | None = None, attrib: dict[str, str] | None = None) -> ET.Element:
    child = element(tag, text, attrib)
    parent.append(child)
    return child
