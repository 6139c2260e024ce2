"""Where a webhook may be sent: public addresses only, unless WEBHOOK_ALLOW_PRIVATE=1 (SSRF).

A webhook URL is checked when it is made and again at every delivery, on the addresses
its host resolves to then; the delivery connects to the very address it checked, so a
name that resolves to a public address at the check and a private one at the connect
(DNS rebinding) cannot slip through.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import SplitResult, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError

URL_MAX = 2000


_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")


class AddressRefused(Exception):
    """The URL's host resolves to an address webhooks may not reach."""


def is_public(address: str) -> bool:
    """Whether an IP address is a global unicast one (not loopback, private, reserved...)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        # An IPv4 address inside IPv6 (::ffff:127.0.0.1, 6to4, NAT64's 64:ff9b::/96, the
        # old IPv4-compatible ::/96) is judged as that address: a DNS64 network routes
        # 64:ff9b::a00:1 to 10.0.0.1.
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and (ip in _NAT64 or ip in _IPV4_COMPATIBLE):
            embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if embedded is not None:
            return is_public(str(embedded))
    return ip.is_global and not ip.is_multicast


def split(url: str) -> SplitResult:
    """The parts of a webhook URL, or ValidationError: http(s), a host, no credentials."""
    if not isinstance(url, str) or len(url) > URL_MAX:
        raise ValidationError({"url": [f"A URL of at most {URL_MAX} characters."]})
    invalid = ValidationError({"url": ["Enter a valid http or https URL."]})
    # No space or control character: the path goes into the request line as it is.
    if any(ord(c) <= 0x20 or ord(c) == 0x7F for c in url) or not url.isascii():
        raise invalid
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise invalid from None
    if parts.scheme not in ("http", "https"):
        raise invalid
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            {"url": ["No credentials in the URL: receivers check the signature."]}
        )
    if not parts.hostname:
        raise ValidationError({"url": ["The URL has no host."]})
    return parts


def port_of(parts: SplitResult) -> int:
    """The URL's port, or its scheme's."""
    return parts.port or (443 if parts.scheme == "https" else 80)


def refused(addresses: list[str]) -> list[str]:
    """The addresses a webhook may not reach (none when WEBHOOK_ALLOW_PRIVATE=1)."""
    if settings.WEBHOOK_ALLOW_PRIVATE:
        return []
    return [a for a in addresses if not is_public(a)]


def check_url(url: str) -> str:
    """Validate a webhook URL now: its form, and every address its host resolves to.

    Raises ValidationError (a field error on `url`) when it is malformed, does not
    resolve, or resolves to an address refused by default (any one of them: a name with
    a public and a private address could be steered to the private one).
    """
    parts = split(url)
    try:
        infos = socket.getaddrinfo(
            parts.hostname, port_of(parts), type=socket.SOCK_STREAM
        )
    except (OSError, UnicodeError):
        raise ValidationError({"url": ["The URL's host does not resolve."]}) from None
    bad = refused(sorted({str(info[4][0]) for info in infos}))
    if bad:
        raise ValidationError(
            {
                "url": [
                    "The URL resolves to a loopback, private or reserved address "
                    f"({', '.join(bad)}); set WEBHOOK_ALLOW_PRIVATE=1 to allow it."
                ]
            }
        )
    return url
