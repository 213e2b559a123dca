"""Trust X-Forwarded-Proto only from the proxies named in PARLEY_TRUSTED_PROXIES.

Django's SECURE_PROXY_SSL_HEADER believes the header from anyone. Behind a TLS
proxy that header is how Django learns a request came over HTTPS; sent by a
client directly, it would make Django treat plain http as secure (the CSRF
origin, Secure cookies, redirects). This middleware removes it from requests
that did not come from a named proxy, before anything reads it.
"""

from __future__ import annotations

import ipaddress
from functools import cache

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FORWARDED_PROTO = "HTTP_X_FORWARDED_PROTO"


@cache
def _networks(
    proxies: tuple[str, ...],
) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in proxies)


def proxy_trusted(address: str | None) -> bool:
    """Whether `address` (a client IP) is one of the proxies PARLEY_TRUSTED_PROXIES names."""
    proxies = tuple(settings.PARLEY_TRUSTED_PROXIES)
    if not address or not proxies:
        return False
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return False
    return any(ip in network for network in _networks(proxies))


class TrustedProxyMiddleware:
    """Drop X-Forwarded-Proto unless the request came from a trusted proxy."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if FORWARDED_PROTO in request.META and not proxy_trusted(request.META.get("REMOTE_ADDR")):
            del request.META[FORWARDED_PROTO]
        return self.get_response(request)
