"""Believe X-Forwarded-* headers only from the reverse proxies the operator names.

Behind a proxy the peer of every request is the proxy; the client's address, scheme and host
come in `X-Forwarded-For`, `-Proto` and `-Host`. Anyone can send those headers, so they count
only when the peer is one of `TRUSTED_PROXIES`, and then only the value that proxy added (the
last). A request from a trusted address without them (a health check) passes unchanged.
aiohttp-remotes reads the headers; its strict mode would refuse such health checks.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from aiohttp_remotes import XForwardedRelaxed

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Middleware = Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]


def trusted_forwarding(
    proxies: Sequence[str],
) -> Callable[[web.Request, Handler], Awaitable[web.StreamResponse]]:
    """A middleware that applies the forwarded headers of requests from `proxies`."""
    networks = [ipaddress.ip_network(proxy, strict=False) for proxy in proxies]
    forwarded = XForwardedRelaxed(num=1)

    def trusted(request: web.Request) -> bool:
        peer = request.transport.get_extra_info("peername") if request.transport else None
        if not peer:
            return False
        try:
            address = ipaddress.ip_address(peer[0])
        except ValueError:
            return False  # a Unix socket: no address to trust
        return any(address in network for network in networks)

    @web.middleware
    async def believe_trusted_proxies(request: web.Request, handler: Handler) -> web.StreamResponse:
        if trusted(request):
            return await forwarded.middleware(request, handler)
        return await handler(request)

    return believe_trusted_proxies
