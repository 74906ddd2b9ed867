"""Which addresses a callback may reach: public ones only, checked again at the call."""

import ipaddress

import pytest

from bot.api_delivery import PublicOnlyResolver
from services.callback_urls import UnsafeCallbackUrl, check_callback_url, is_public


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.0.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",
        "224.0.0.251",
        "240.0.0.1",
        "255.255.255.255",
        "::1",
        "::",
        "fe80::1",
        "fc00::1",
        "ff02::1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",  # 6to4 around 127.0.0.1
        "64:ff9b::a00:1",
    ],
)
def test_internal_addresses_are_not_public(address):
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700:4700::1111"])
def test_internet_addresses_are_public(address):
    assert is_public(ipaddress.ip_address(address))


async def test_a_public_https_address_is_accepted_and_allowed_hosts_may_use_http():
    assert await check_callback_url("https://8.8.8.8/hook", ()) == "https://8.8.8.8/hook"
    local = "http://127.0.0.1:8080/hook"
    assert await check_callback_url(local, {"127.0.0.1"}) == local
    with pytest.raises(UnsafeCallbackUrl):
        await check_callback_url(local, {"localhost"})


async def test_the_resolver_of_each_call_refuses_a_name_that_now_points_inside():
    # A host accepted at registration may resolve elsewhere later: each call checks again,
    # and connects only to what it checked.
    with pytest.raises(UnsafeCallbackUrl):
        await PublicOnlyResolver(()).resolve("localhost", 443)
    allowed = await PublicOnlyResolver({"localhost"}).resolve("localhost", 443)
    assert {ipaddress.ip_address(r["host"]).is_loopback for r in allowed} == {True}
    public = await PublicOnlyResolver(()).resolve("8.8.8.8", 443)
    assert [r["host"] for r in public] == ["8.8.8.8"]
