"""WinRM message encryption over plain HTTP (MS-WSMV 2.2.9.1): multipart/encrypted bodies.

Each part pair is::

    --Encrypted Boundary\r\n
    \tContent-Type: application/HTTP-SPNEGO-session-encrypted\r\n
    \tOriginalContent: type=application/soap+xml;charset=UTF-8;Length=<plain length>\r\n
    --Encrypted Boundary\r\n
    \tContent-Type: application/octet-stream\r\n
    <uint32 LE signature length><signature><sealed data>
    --Encrypted Boundary--\r\n

The security context (``wrap_winrm`` / ``unwrap_winrm``) is the connection's authentication
context, so encryption is per connection.
"""

from __future__ import annotations

import re
import struct
import typing as t

SPNEGO_PROTOCOL = "application/HTTP-SPNEGO-session-encrypted"
BOUNDARY = "Encrypted Boundary"


class EncryptionError(Exception):
    pass


class WinRMContext(t.Protocol):
    def wrap_winrm(self, data: bytes) -> t.Any: ...

    def unwrap_winrm(self, header: bytes, data: bytes) -> bytes: ...


def is_encrypted(content_type: str) -> bool:
    return content_type.lower().startswith(("multipart/encrypted", "multipart/x-multi-encrypted"))


def protocol_of(content_type_header: str) -> str:
    """The ``protocol=`` of a request's Content-Type (the reply is sealed under the same name)."""
    match = re.search(r'protocol="?([^";]+)"?', content_type_header)
    return match.group(1) if match else SPNEGO_PROTOCOL


def content_type(protocol: str = SPNEGO_PROTOCOL) -> str:
    return f'multipart/encrypted;protocol="{protocol}";boundary="{BOUNDARY}"'


def unwrap(context: WinRMContext, body: bytes, content_type_header: str) -> bytes:
    match = re.search(r'boundary="?([^";]+)"?', content_type_header)
    boundary = match.group(1) if match else BOUNDARY
    parts = [p for p in re.split(rb"--\s*" + re.escape(boundary.encode()) + rb"(?:--)?\r\n", body) if p]
    if len(parts) % 2:
        raise EncryptionError("encrypted body has an odd number of MIME parts")
    plain = b""
    for index in range(0, len(parts), 2):
        meta, payload = parts[index], parts[index + 1]
        length_match = re.search(rb"Length=(\d+)", meta)
        if not length_match:
            raise EncryptionError("encrypted part without OriginalContent length")
        prefix = b"\tContent-Type: application/octet-stream\r\n"
        if payload.startswith(prefix):
            payload = payload[len(prefix) :]
        if len(payload) < 4:
            raise EncryptionError("encrypted part too short")
        sig_len = struct.unpack("<I", payload[:4])[0]
        header, sealed = payload[4 : 4 + sig_len], payload[4 + sig_len :]
        data = context.unwrap_winrm(header, sealed)
        if len(data) != int(length_match.group(1)):
            raise EncryptionError("decrypted length does not match OriginalContent length")
        plain += data
    return plain


def wrap(context: WinRMContext, data: bytes, protocol: str = SPNEGO_PROTOCOL) -> bytes:
    result = context.wrap_winrm(data)
    header, sealed, padding = result.header, result.data, result.padding_length
    head = "\r\n".join(
        [
            f"--{BOUNDARY}",
            f"\tContent-Type: {protocol}",
            f"\tOriginalContent: type=application/soap+xml;charset=UTF-8;Length={len(data) + padding}",
            f"--{BOUNDARY}",
            "\tContent-Type: application/octet-stream",
            "",
        ]
    ).encode()
    return head + struct.pack("<I", len(header)) + header + sealed + f"--{BOUNDARY}--\r\n".encode()
