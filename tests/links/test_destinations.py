"""Open redirects: a destination is checked when saved, and requests cannot change its host."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.errors import ApplicationError
from links.destinations import AllowedHost, normalize_destination

ALLOWED = {
    "shop.example.com": AllowedHost(ports=frozenset({8080})),
    "brand.example": AllowedHost(include_subdomains=True),
}

HOSTILE = [
    ("//evil.com", "url_scheme"),
    ("/\\evil.com", "url_characters"),
    ("https:evil.com", "url_no_host"),
    ("https:/evil.com", "url_no_host"),
    ("javascript:alert(1)", "url_scheme"),
    ("JaVaScRiPt:alert(1)", "url_scheme"),
    ("data:text/html,<script>alert(1)</script>", "url_scheme"),
    ("http://shop.example.com@evil.com", "url_credentials"),
    ("http://user:pass@shop.example.com/", "url_credentials"),
    ("http://shop.example.com\\@evil.com", "url_characters"),
    ("https://shop.example.com\\.evil.com/", "url_characters"),
    ("https://shop.exаmple.com/", "url_host_not_allowed"),  # Cyrillic 'а': a lookalike IDN
    ("https://shop.example.com.evil.com/", "url_host_not_allowed"),
    ("https://evilshop.example.com/", "url_host_not_allowed"),
    ("https://example.com/", "url_host_not_allowed"),
    ("https://shop.example.com\t.evil.com/", "url_characters"),
    ("https://shop.example.com/\x00", "url_characters"),
    ("https://shop.example.com/\r\nSet-Cookie:x=1", "url_characters"),
    ("https://shop.example.com/ path", "url_characters"),
    ("https://shop.example.com/\u202epath", "url_characters"),
    (" https://shop.example.com/", "url_characters"),
    ("ftp://shop.example.com/file", "url_scheme"),
    ("https://", "url_no_host"),
    ("https://shop.example.com:99999/", "url_malformed"),
    ("https://shop.example.com:0/", "url_port"),
    ("https://shop.example.com:8443/", "url_port"),  # not a port its domain names
    ("https://eu.brand.example:8080/", "url_port"),  # 8080 is shop.example.com's, not brand's
    ("https://shop.example.com:-1/", "url_malformed"),
    ("", "url_empty"),
]


@pytest.mark.parametrize(("url", "code"), HOSTILE)
def test_hostile_destinations_are_refused_with_the_rule_they_break(url, code):
    with pytest.raises(ApplicationError) as exc:
        normalize_destination(url, allowed=ALLOWED)
    assert exc.value.code == code


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("https://shop.example.com/products/hoodie", "https://shop.example.com/products/hoodie"),
        ("HTTPS://SHOP.EXAMPLE.COM./p?a=1#top", "https://shop.example.com/p?a=1#top"),
        ("https://shop.example.com:443/x", "https://shop.example.com/x"),
        ("http://shop.example.com:8080/x", "http://shop.example.com:8080/x"),
        ("https://shop.example.com", "https://shop.example.com/"),
        ("https://eu.brand.example/x", "https://eu.brand.example/x"),
        ("https://shop.example.com/caf%C3%A9", "https://shop.example.com/caf%C3%A9"),
        ("https://shop.example.com/café", "https://shop.example.com/caf%C3%A9"),
    ],
)
def test_allowed_destinations_are_stored_in_normal_form(url, normal):
    assert normalize_destination(url, allowed=ALLOWED) == normal


def test_idn_domains_are_compared_in_punycode():
    allowed = {"xn--bcher-kva.example": AllowedHost()}  # bücher.example
    assert normalize_destination("https://BÜCHER.example/", allowed=allowed) == (
        "https://xn--bcher-kva.example/"
    )


@given(st.text(min_size=1, max_size=60))
def test_no_text_after_the_host_changes_the_host(suffix):
    """Whatever follows, the stored URL is refused or stays on an allowed host."""
    try:
        normal = normalize_destination("https://shop.example.com" + suffix, allowed=ALLOWED)
    except ApplicationError:
        return
    from urllib.parse import urlsplit

    assert urlsplit(normal).hostname in ("shop.example.com",) or urlsplit(normal).hostname.endswith(
        ".brand.example"
    )


def test_the_port_error_says_which_ports_the_domain_allows():
    with pytest.raises(ApplicationError) as exc:
        normalize_destination("https://shop.example.com:9000/", allowed=ALLOWED)
    assert "Port 9000 is not allowed for shop.example.com" in exc.value.message
    assert "8080" in exc.value.message
    with pytest.raises(ApplicationError) as exc:
        normalize_destination("https://eu.brand.example:9000/", allowed=ALLOWED)
    assert "names the port in Allowed domains" in exc.value.message


@pytest.mark.parametrize("ports", ["0", "65536", "80, x", "-1"])
@pytest.mark.django_db
def test_an_allowed_domain_names_only_real_ports(ports):
    from links import services
    from links.models import AllowedDomain, AllowedDomainChange

    with pytest.raises(ApplicationError) as exc:
        services.allowed_domain_create(domain="partner.example", ports=ports)
    assert "ports" in exc.value.fields
    assert not AllowedDomain.objects.exists() and not AllowedDomainChange.objects.exists()
