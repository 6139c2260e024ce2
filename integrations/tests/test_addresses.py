"""SSRF: webhook URLs must resolve to public addresses, unless WEBHOOK_ALLOW_PRIVATE=1."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from integrations import addresses

REFUSED = [
    "http://127.0.0.1/",
    "http://127.1.2.3:8080/hook",
    "http://localhost:9000/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://100.64.0.1/",  # carrier-grade NAT
    "http://0.0.0.0/",
    "http://[::1]/",
    "http://[::ffff:127.0.0.1]/",  # IPv4 loopback mapped into IPv6
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped
    "http://[2002:7f00:1::1]/",  # 6to4 around 127.0.0.1
    "http://[64:ff9b::a00:1]/",  # NAT64 to 10.0.0.1 on a DNS64 network
    "http://[::7f00:1]/",  # IPv4-compatible 127.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://224.0.0.1/",  # multicast
    "http://240.0.0.1/",  # reserved
    "http://2130706433/",  # 127.0.0.1 as one integer
]


@pytest.mark.parametrize("url", REFUSED)
def test_a_private_or_reserved_address_is_refused_by_default(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    with pytest.raises(ValidationError) as caught:
        addresses.check_url(url)
    assert "url" in caught.value.message_dict


def test_a_public_address_is_accepted(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = False
    assert addresses.check_url("https://93.184.215.14/hook") == (
        "https://93.184.215.14/hook"
    )


def test_webhook_allow_private_lets_loopback_through(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    assert addresses.check_url("http://127.0.0.1:8080/hook")


@pytest.mark.parametrize(
    "url",
    [
        "ftp://93.184.215.14/",
        "file:///etc/passwd",
        "gopher://93.184.215.14/",
        "http://user:pw@93.184.215.14/",
        "http://93.184.215.14/a b",
        "http://93.184.215.14/\r\nX-Evil: 1",
        "http:///nohost",
        "http://93.184.215.14:99999/",
        "http://[::1/",
        "x" * 3000,
        "",
    ],
)
def test_a_malformed_url_is_a_field_error(url, settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True  # the form alone is judged
    with pytest.raises(ValidationError) as caught:
        addresses.check_url(url)
    assert list(caught.value.message_dict) == ["url"]


def test_a_name_that_does_not_resolve_is_refused(settings):
    settings.WEBHOOK_ALLOW_PRIVATE = True
    with pytest.raises(ValidationError, match="does not resolve"):
        addresses.check_url("http://no-such-host.invalid/")
