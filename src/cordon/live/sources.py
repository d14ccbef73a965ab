"""What a monitor may open: stream URLs, local files played in real time, standard input.

URLs are checked before FFmpeg sees them: only streaming protocols are accepted, and a host
that resolves to a private, loopback, link-local or otherwise internal address is refused
unless private addresses are explicitly allowed, so that a stream request cannot be used to
probe the network the monitor runs in (SSRF). Every address the name resolves to is checked,
not only the first.

Known limit: FFmpeg resolves the name again when it connects, and HLS playlists name their
segment URLs themselves; a DNS answer that changes between the two lookups, or a playlist
that points inward, is not caught here. A node exposed to untrusted stream requests should
also run its monitors behind an egress firewall.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from urllib.parse import urlsplit

from cordon.errors import CordonError

STDIN = "-"

# Protocols FFmpeg reads live streams from. `file:` and bare paths are local files.
NETWORK_SCHEMES = frozenset(
    {"rtmp", "rtmps", "rtmpt", "rtmpts", "http", "https", "srt", "rtsp", "rtsps", "udp", "rtp",
     "tcp", "hls"}
)


class SourceKind(Enum):
    NETWORK = "network"
    FILE = "file"
    STDIN = "stdin"


class SourceRefused(CordonError):
    """The source may not be opened (unsupported, private address, unresolvable)."""


@dataclass(frozen=True)
class Source:
    url: str
    kind: SourceKind
    # What FFmpeg opens: the URL, or the path of a local file.
    target: str

    @property
    def reconnects(self) -> bool:
        """Only a network stream can be opened again after it fails."""
        return self.kind is SourceKind.NETWORK


def _is_internal(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def resolve_addresses(host: str, port: int | None) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise SourceRefused(f"cannot resolve the host {host!r} ({exc})") from None
    return sorted({str(info[4][0]) for info in infos})


def check_source(url: str, *, allow_private: bool = False, allow_files: bool = True) -> Source:
    """Validate a stream location; raises SourceRefused with the reason."""
    text = url.strip()
    if not text:
        raise SourceRefused("an empty stream URL")
    if text == STDIN:
        if not allow_files:
            raise SourceRefused("standard input is not available here")
        return Source(text, SourceKind.STDIN, text)
    parts = urlsplit(text)
    scheme = parts.scheme.lower()
    if scheme in ("", "file") or (len(scheme) == 1 and text[1:3] in (":\\", ":/")):
        if not allow_files:
            raise SourceRefused(f"local files are not accepted as streams: {text!r}")
        path = Path(parts.path if scheme == "file" else text)
        if not path.is_file():
            raise SourceRefused(f"no such file: {str(path)!r}")
        return Source(text, SourceKind.FILE, str(path))
    if scheme not in NETWORK_SCHEMES:
        known = ", ".join(sorted(NETWORK_SCHEMES))
        raise SourceRefused(f"unsupported stream protocol {scheme!r} (supported: {known})")
    host = parts.hostname
    if not host:
        raise SourceRefused(f"the stream URL {text!r} names no host")
    try:
        port = parts.port
    except ValueError:
        raise SourceRefused(f"the stream URL {text!r} has an invalid port") from None
    if not allow_private:
        for address in resolve_addresses(host, port):
            if _is_internal(address):
                raise SourceRefused(
                    f"{host} resolves to the private or local address {address}; "
                    "pass --allow-private to watch streams on internal networks"
                )
    return Source(text, SourceKind.NETWORK, text)
