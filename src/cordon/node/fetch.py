"""Fetching media by URL for matching, without becoming a way into internal networks: only
http(s), the host resolved here and every address checked (private, loopback, link-local and
other non-global addresses refused unless their network is allowed), the connection made
to the checked address (no second DNS answer), redirects followed by hand and checked the
same way, and limits on size and time."""

from __future__ import annotations

import ipaddress
import socket
import time
from collections.abc import Sequence
from typing import BinaryIO
from urllib.parse import urljoin, urlsplit

import httpx

from cordon.node.service import NodeError

SCHEMES = ("http", "https")
_CHUNK = 1 << 16


class FetchRefused(NodeError):
    status = 422


def _networks(allowed: Sequence[str]) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [ipaddress.ip_network(n, strict=False) for n in allowed]


def _internal(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def check_url(url: str, allowed: Sequence[str]) -> tuple[str, str, int, str]:
    """(scheme, host, port, address to connect to) of an acceptable URL."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        raise FetchRefused(f"only http and https URLs are fetched, not {scheme or 'none'!r}")
    host = parts.hostname
    if not host:
        raise FetchRefused("the URL names no host")
    try:
        port = parts.port or (443 if scheme == "https" else 80)
    except ValueError:
        raise FetchRefused("the URL has an invalid port") from None
    return scheme, host, port, check_host(host, port, allowed)[0]


def check_host(host: str, port: int | None, allowed: Sequence[str],
               refusal: str = "such addresses are not fetched") -> list[str]:
    """Every address `host` resolves to, refused (FetchRefused) when one of them is internal
    and outside the allowed networks."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise FetchRefused(f"cannot resolve the host {host!r}") from None
    networks = _networks(allowed)
    addresses = []
    for info in infos:
        ip = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if _internal(ip) and not any(ip in net for net in networks):
            # Every answer is checked: one internal address is enough to refuse the host.
            raise FetchRefused(f"{host} resolves to the private or local address {ip}; "
                               f"{refusal}")
        addresses.append(str(ip))
    if not addresses:
        raise FetchRefused(f"cannot resolve the host {host!r}")
    return addresses


def fetch(url: str, out: BinaryIO, *, max_bytes: int, timeout: float, max_redirects: int,
          allowed: Sequence[str] = ()) -> str:
    """Write the body at `url` to `out`; returns the final URL."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=httpx.Timeout(min(timeout, 30.0)), follow_redirects=False,
                      trust_env=False) as http:
        for _ in range(max_redirects + 1):
            scheme, host, port, address = check_url(url, allowed)
            parts = urlsplit(url)
            netloc = f"[{address}]" if ":" in address else address
            target = parts._replace(scheme=scheme, netloc=f"{netloc}:{port}").geturl()
            default_port = port == (443 if scheme == "https" else 80)
            headers = {"Host": host if default_port else f"{host}:{port}",
                       "Accept": "image/*, video/*, */*;q=0.5"}
            extensions = {"sni_hostname": host} if scheme == "https" else {}
            try:
                with http.stream("GET", target, headers=headers,
                                 extensions=extensions) as response:
                    if response.is_redirect:
                        location = response.headers.get("location")
                        if not location:
                            raise FetchRefused("the URL redirects without a location")
                        url = urljoin(url, location)
                        continue
                    if response.status_code != 200:
                        raise NodeError(f"the URL answered {response.status_code}", 422)
                    declared = response.headers.get("content-length")
                    if declared and declared.isdigit() and int(declared) > max_bytes:
                        raise NodeError(f"the content at the URL is larger than {max_bytes} "
                                        "bytes", 413)
                    received = 0
                    for chunk in response.iter_bytes(_CHUNK):
                        received += len(chunk)
                        if received > max_bytes:
                            raise NodeError(f"the content at the URL is larger than "
                                            f"{max_bytes} bytes", 413)
                        if time.monotonic() > deadline:
                            raise NodeError(f"the URL took more than {timeout:g} s to fetch",
                                            422)
                        out.write(chunk)
                    return url
            except httpx.TimeoutException:
                raise NodeError(f"the URL took more than {timeout:g} s to answer", 422) from None
            except httpx.HTTPError as exc:
                raise NodeError(f"cannot fetch the URL ({exc.__class__.__name__})", 422) from None
    raise FetchRefused(f"the URL redirects more than {max_redirects} times")
