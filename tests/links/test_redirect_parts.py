"""The redirect's shortcuts give exactly what the plain code gives: cached locations, the
one-call attribution signature, IPv4 networks without ipaddress, click ids from a pool."""

import ipaddress
import os
from datetime import UTC, datetime

import pytest
from django.core import signing
from django.test import RequestFactory
from hypothesis import given, settings
from hypothesis import strategies as st

from links import clicks, redirect, routing
from links.visitors import client_address, client_ip, network_of, visitor_hash

text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
pairs = st.lists(st.tuples(text, text), max_size=5)
destinations = st.sampled_from(
    [
        "https://shop.example.com/products/hoodie",
        "https://shop.example.com/products/hoodie?color=grey&slclid=old",
        "https://shop.example.com/p?ref=partner&tag=merchant-20#reviews",
        "https://xn--bcher-kva.example/%C3%A9t%C3%A9?x=1&x=2&y=",
        "http://127.0.0.1:8000/products/cloud-hoodie/?variant=HOOD-M",
    ]
)


@settings(max_examples=300, deadline=None)
@given(
    destination=destinations,
    forwarded=pairs,
    extra=st.dictionaries(st.sampled_from(["ref", "slclid", "tag", "x", "utm_source"]), text),
    utm=st.dictionaries(st.sampled_from(["utm_source", "utm_medium"]), text),
    affiliate=st.sampled_from(["", "MAYA10", "a b&c"]),
)
def test_cached_locations_are_the_plain_merge(destination, forwarded, extra, utm, affiliate):
    snapshot = {"extra": extra, "utm": utm, "affiliate_code": affiliate}
    click_id = clicks.new_click_id()
    assert routing.location(destination, forwarded, snapshot, click_id) == routing.with_params(
        destination, forwarded, routing.tracking_params(snapshot, click_id)
    )


@settings(max_examples=200, deadline=None)
@given(value=st.text(st.characters(blacklist_categories=["Cs"]), max_size=80))
def test_the_attribution_signature_is_djangos(value):
    signer = signing.Signer(salt=redirect.ATTRIBUTION_SALT)
    assert redirect.sign(value) == signer.sign(value)
    assert signer.unsign(redirect.sign(value)) == value


def _reference_address(candidate: str) -> tuple[str, str]:
    try:
        ip = str(ipaddress.ip_address(candidate))
    except ValueError:
        return "", ""
    prefix = 24 if ipaddress.ip_address(ip).version == 4 else 48
    return ip, str(ipaddress.ip_network(f"{ip.split('%')[0]}/{prefix}", strict=False))


addresses = st.one_of(
    st.ip_addresses().map(str),
    st.ip_addresses(v=4).map(lambda ip: str(ip).replace(".", ".0", 1)),  # leading zero
    st.from_regex(r"[0-9.]{1,16}", fullmatch=True),
    st.sampled_from(["fe80::1%eth0", "::ffff:198.51.100.7", "0.0.0.0", "10.0.0.255"]),  # noqa: S104
    text,
)


@settings(max_examples=500, deadline=None)
@given(candidate=addresses)
def test_client_address_is_what_ipaddress_says(candidate):
    request = RequestFactory().get("/", REMOTE_ADDR=candidate)
    assert client_address(request) == _reference_address(candidate)
    ip = client_ip(request)
    assert (ip, network_of(ip)) == _reference_address(candidate)


def test_visitor_hash_days_follow_utc_whatever_the_form_of_the_time(settings):
    noon = datetime(2026, 11, 23, 12, tzinfo=UTC)
    by_datetime = visitor_hash("198.51.100.1", "ua", now=noon)
    assert by_datetime == visitor_hash("198.51.100.1", "ua", at=noon.timestamp())
    late = datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC).timestamp()
    assert visitor_hash("198.51.100.1", "ua", at=late) == by_datetime
    assert visitor_hash("198.51.100.1", "ua", at=late + 1) != by_datetime


def test_click_ids_are_uuidv7_in_time_order():
    ids = [clicks.new_click_id() for _ in range(2000)]
    assert len(set(ids)) == len(ids)
    assert all(len(i) == 32 and i[12] == "7" and i[16] in "89ab" for i in ids)
    millis = [int(i[:12], 16) for i in ids]
    assert millis == sorted(millis)


def test_a_forked_child_never_reuses_its_parents_random_bytes():
    pool = clicks.RandomPool(size=64)
    pool.take(8)  # the pool holds 56 more bytes the parent will hand out next
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        os.write(write, pool.take(16))
        os._exit(0)
    os.close(write)
    child = os.read(read, 16)
    os.close(read)
    os.waitpid(pid, 0)
    assert len(child) == 16
    assert child != pool.take(16)


@pytest.mark.parametrize("header", ["fr-CA,fr;q=0.9", "", "*", "en;q=0"])
def test_preferred_language_is_cached_per_header(header):
    assert routing.preferred_language(header) == routing.preferred_language.__wrapped__(header)
