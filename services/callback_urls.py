"""Which callback URLs the service may call: https, and hosts that resolve to public addresses.

Checked when a batch registers its URL and again at every call, on the addresses the call
then connects to (so a name that re-resolves to an internal address is refused at the call).
Operators may allow named hosts, on http or on private addresses, with CALLBACK_ALLOWED_HOSTS.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urlsplit

from services.errors import ServiceError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
MAX_URL_LENGTH = 2048


class UnsafeCallbackUrl(ServiceError):
    """A callback URL the service will not call; the message says why, without probing."""

    code = "invalid_callback_url"


def is_public(address: IPAddress) -> bool:
    """True for an address on the public internet: not private, loopback, link-local,
    multicast, reserved, unspecified or shared, also when wrapped in an IPv6 form."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address.teredo is not None:
            embedded = address.teredo[1]
        if embedded is not None and not is_public(embedded):
            return False
    return address.is_global and not (
        address.is_multicast
        or address.is_reserved
        or address.is_loopback
        or address.is_link_local
        or address.is_private
        or address.is_unspecified
    )


def _host_of(url: str) -> tuple[str, str, int]:
    if len(url) > MAX_URL_LENGTH:
        raise UnsafeCallbackUrl(f"callback_url is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise UnsafeCallbackUrl("callback_url is not a valid URL") from None
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise UnsafeCallbackUrl("callback_url must be an https URL with a host name")
    if parts.username is not None or parts.password is not None:
        raise UnsafeCallbackUrl("callback_url must not carry a user name or password")
    default = 443 if parts.scheme == "https" else 80
    return parts.scheme, parts.hostname.lower().rstrip("."), port or default


def is_allowed_host(host: str, allowed_hosts: Collection[str]) -> bool:
    return host.lower().rstrip(".") in {h.lower().rstrip(".") for h in allowed_hosts}


async def resolve_public(host: str, port: int, allowed_hosts: Collection[str]) -> list[str]:
    """Resolve `host` and return its addresses, refusing any that is not public.

    Numeric forms (decimal, hex, octal, short dotted) go through the system resolver like any
    name, so `0x7f.0.0.1` and `2130706433` come back as 127.0.0.1 and are refused.

    Raises:
        UnsafeCallbackUrl: when the host does not resolve, or one address is not public.
    """
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError):
        raise UnsafeCallbackUrl("callback_url's host does not resolve") from None
    addresses = []
    for _, _, _, _, sockaddr in infos:
        text = str(sockaddr[0]).split("%", 1)[0]
        address = ipaddress.ip_address(text)
        if not is_allowed_host(host, allowed_hosts) and not is_public(address):
            raise UnsafeCallbackUrl("callback_url must point at a public internet address")
        addresses.append(text)
    if not addresses:
        raise UnsafeCallbackUrl("callback_url's host does not resolve")
    return addresses


async def check_callback_url(url: str, allowed_hosts: Collection[str]) -> str:
    """Return the URL when the service may call it.

    Raises:
        UnsafeCallbackUrl: not https (outside the allowed hosts), or not public.
    """
    scheme, host, port = _host_of(url)
    if scheme != "https" and not is_allowed_host(host, allowed_hosts):
        raise UnsafeCallbackUrl("callback_url must be an https URL")
    await resolve_public(host, port, allowed_hosts)
    return url
