"""Open redirects: a destination is checked when saved, and requests cannot change its host."""

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from links.destinations import normalize_destination

ALLOWED = {"shop.example.com": False, "brand.example": True}

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
    ("", "url_empty"),
]


@pytest.mark.parametrize(("url", "code"), HOSTILE)
def test_hostile_destinations_are_refused_with_the_rule_they_break(url, code):
    with pytest.raises(ValidationError) as exc:
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
    allowed = {"xn--bcher-kva.example": False}  # bücher.example
    assert normalize_destination("https://BÜCHER.example/", allowed=allowed) == (
        "https://xn--bcher-kva.example/"
    )


@given(st.text(min_size=1, max_size=60))
def test_no_text_after_the_host_changes_the_host(suffix):
    """Whatever follows, the stored URL is refused or stays on an allowed host."""
    try:
        normal = normalize_destination("https://shop.example.com" + suffix, allowed=ALLOWED)
    except ValidationError:
        return
    from urllib.parse import urlsplit

    assert urlsplit(normal).hostname in ("shop.example.com",) or urlsplit(normal).hostname.endswith(
        ".brand.example"
    )
