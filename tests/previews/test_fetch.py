"""The safe fetcher: what it refuses, where it connects, and how it bounds a fetch.

Servers run on 127.0.0.1 only; tests that need a public-looking host name map it with the
`fake_dns` fixture. Nothing here touches the internet.
"""

import datetime
import ipaddress
import logging
import socket
import ssl
import time
import zlib
from urllib.parse import urlsplit

import pytest
import requests
import urllib3
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.provisional import urls

from previews.fetch import (
    BlockedURL,
    FetchError,
    FetchTimeout,
    GuardedAdapter,
    HTTPStatusError,
    InvalidURL,
    TooLarge,
    TooManyRedirects,
    UnsupportedContent,
    _Deadline,
    _parse_url,
    _Target,
    blocked_reason,
    decode_html,
    fetch,
)
from tests.previews.conftest import LocalServer, start_server

HTML = "<!doctype html><html><head><title>Hello</title></head><body>Hi</body></html>"

# --- what is refused ---------------------------------------------------------------------

BLOCKED_URLS = [
    "http://127.0.0.1/",
    "http://127.255.255.254/",
    "http://localhost/",
    "http://10.0.0.1/",
    "http://172.16.0.1/",
    "http://172.31.255.255/",
    "http://192.168.1.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://100.64.0.1/",
    "http://0.0.0.0/",
    "http://224.0.0.1/",
    "http://255.255.255.255/",
    "http://192.0.2.10/",
    "http://198.18.0.1/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fe80::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[2002:7f00:1::]/",
    "http://[2002:a00:1::]/",
    "http://[64:ff9b::7f00:1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[64:ff9b:1::1]/",
    "http://[2001::1]/",
    "http://[2001:db8::1]/",
    "http://2130706433/",
    "http://0x7f.1/",
    "http://0x7f000001/",
    "http://0177.0.0.1/",
    "http://127.1/",
    "http://0/",
    "http://017700000001/",
    "ftp://example.com/file",
    "file:///etc/passwd",
    "gopher://example.com/",
    "javascript:alert(1)",
    "data:text/html,<h1>hi</h1>",
    "http://user:pass@example.com/",
    "http://user@example.com/",
    "http://example.com:22/",
    "http://example.com:6379/",
]


@pytest.mark.parametrize("url", BLOCKED_URLS)
def test_unsafe_urls_are_refused_before_connecting(url, monkeypatch):
    def no_connection(*args, **kwargs):
        raise AssertionError("the fetcher tried to connect")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", no_connection)
    with pytest.raises((BlockedURL, InvalidURL)):
        fetch(url)


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://example.com/", "blocked_scheme"),
        ("http://user:pass@example.com/", "blocked_credentials"),
        ("http://example.com:22/", "blocked_port"),
        ("http://169.254.169.254/", "blocked_address"),
        ("http://0x7f.1/", "blocked_address"),
    ],
)
def test_refusals_carry_a_machine_code(url, code):
    with pytest.raises(BlockedURL) as exc:
        fetch(url)
    assert exc.value.code == code


@pytest.mark.parametrize(
    "url",
    [
        "",
        "   ",
        "http://",
        "http:///path",
        "http://exa mple.com/",
        "http://[::1/",
        "http://a\n.com/",
    ],
)
def test_malformed_urls_are_invalid(url):
    with pytest.raises(InvalidURL):
        fetch(url)


def test_a_non_string_url_is_invalid():
    with pytest.raises(InvalidURL):
        fetch(None)


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("169.254.169.254", "link_local"),
        ("100.64.0.1", "shared_cgnat"),
        ("224.0.0.1", "multicast"),
        ("255.255.255.255", "reserved"),
        ("::ffff:127.0.0.1", "loopback"),
        ("2002:7f00:1::", "6to4"),
        ("64:ff9b::7f00:1", "nat64"),
        ("2001::1", "teredo"),
        ("fc00::1", "unique_local"),
        ("fe80::1", "link_local"),
        ("5f00::1", "not_global_unicast"),
    ],
)
def test_blocked_reason_names_the_range(address, reason):
    assert blocked_reason(ipaddress.ip_address(address)) == reason


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"]
)
def test_public_addresses_are_allowed(address):
    assert blocked_reason(ipaddress.ip_address(address)) is None


PRIVATE_V4_NETWORKS = [
    "0.0.0.0/8",
    "10.0.0.0/8",
    "100.64.0.0/10",
    "127.0.0.0/8",
    "169.254.0.0/16",
    "172.16.0.0/12",
    "192.168.0.0/16",
]


@given(data=st.data())
def test_any_private_ipv4_address_is_refused_in_every_spelling(data):
    network = data.draw(st.sampled_from(PRIVATE_V4_NETWORKS))
    address = data.draw(st.ip_addresses(network=network))
    spelling = data.draw(
        st.sampled_from([str(address), str(int(address)), hex(int(address)), f"[::ffff:{address}]"])
    )
    assert blocked_reason(address)
    with pytest.raises(BlockedURL):
        fetch(f"http://{spelling}/")


@given(address=st.ip_addresses(v=4))
def test_any_ipv4_address_that_is_not_global_is_refused(address):
    if not address.is_global or address.is_multicast:
        assert blocked_reason(address)
    mapped = ipaddress.IPv6Address(f"::ffff:{address}")
    assert blocked_reason(mapped) == blocked_reason(address)


@given(address=st.ip_addresses(v=6))
def test_any_ipv6_address_that_is_not_global_is_refused(address):
    if not address.is_global or address.is_multicast or address.is_reserved:
        if address.ipv4_mapped is None:
            assert blocked_reason(address)


@given(url=st.one_of(urls(), st.text(max_size=120), st.from_regex(r"\Ahttps?://\S{0,60}\Z")))
def test_parse_url_either_refuses_or_returns_what_it_checked(url):
    try:
        target = _parse_url(url)
    except (InvalidURL, BlockedURL):
        return
    parts = urlsplit(target.url)
    assert parts.scheme in ("http", "https")
    assert parts.hostname == target.host
    assert (parts.port or {"http": 80, "https": 443}[parts.scheme]) == target.port
    assert "@" not in parts.netloc


# --- name resolution and pinning ---------------------------------------------------------


def test_one_private_address_among_public_ones_refuses_the_host(fake_dns):
    fake_dns["mixed.test"] = ["93.184.216.34", "10.0.0.7"]
    with pytest.raises(BlockedURL):
        fetch("http://mixed.test/")


def test_allowed_hosts_match_exact_names_only(server, settings, fake_dns):
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["localhost"]
    fake_dns["localhost"] = ["127.0.0.1"]
    server.page("/", HTML)
    assert fetch(server.url("/", host="localhost")).status_code == 200
    with pytest.raises(BlockedURL):
        fetch(server.url("/", host="127.0.0.1"))


def test_an_unresolvable_host_fails_with_a_code(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(FetchError) as exc:
        fetch("http://nowhere.test/")
    assert exc.value.code == "dns_failed"


@pytest.fixture
def connections(monkeypatch, server):
    """Record where urllib3 connects, and connect to the local server instead."""
    made = []

    def create_connection(address, timeout=None, source_address=None, socket_options=None):
        made.append(address)
        return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", create_connection)
    return made


def test_dns_rebinding_cannot_switch_the_checked_address(server, fake_dns, connections):
    # The name answers with a public address first and loopback on any later lookup.
    fake_dns["rebind.test"] = [["93.184.216.34"], ["127.0.0.1"]]
    server.page("/", HTML)

    result = fetch("http://rebind.test/")

    assert result.text == HTML
    assert fake_dns.lookups["rebind.test"] == 1
    assert connections == [("93.184.216.34", 80)]
    assert server.seen[0].headers["host"] == "rebind.test"


def test_each_redirect_hop_is_resolved_and_checked_again(server, fake_dns, connections):
    fake_dns["rebind.test"] = [["93.184.216.34"], ["127.0.0.1"]]
    server.redirect("/", "/second")
    server.page("/second", HTML)

    with pytest.raises(BlockedURL):
        fetch("http://rebind.test/")

    assert fake_dns.lookups["rebind.test"] == 2
    assert connections == [("93.184.216.34", 80)]


def test_the_adapter_builds_its_pool_for_the_pinned_address():
    deadline = _Deadline(5)
    adapter = GuardedAdapter(deadline=deadline, proxied=False)
    adapter.pin(_Target("https://shop.test/", "https", "shop.test", 443, "93.184.216.34"))
    try:
        request = requests.Request("GET", "https://shop.test/").prepare()
        pool = adapter.get_connection_with_tls_context(request, True)
        assert (pool.host, pool.port) == ("93.184.216.34", 443)
        assert pool.conn_kw["server_hostname"] == "shop.test"

        elsewhere = requests.Request("GET", "https://attacker.test/").prepare()
        with pytest.raises(BlockedURL):
            adapter.get_connection_with_tls_context(elsewhere, True)
    finally:
        adapter.close()
        deadline.close()


# --- fetching from a local server ---------------------------------------------------------


def test_fetches_an_html_page(server, allow_local):
    server.page("/shop", HTML)
    result = fetch(server.url("/shop?item=1"))
    assert result.status_code == 200
    assert result.text == HTML
    assert result.content == HTML.encode()
    assert result.content_type == "text/html"
    assert result.encoding == "utf-8"
    assert result.headers["content-type"] == "text/html; charset=utf-8"
    assert result.final_url == server.url("/shop?item=1")
    assert result.redirects == []
    assert result.not_modified is False


def test_sends_the_configured_user_agent_and_the_host(server, allow_local):
    server.page("/", HTML)
    fetch(server.url("/"))
    allow_local.PREVIEW_USER_AGENT = "ShoploopTest/2.0"
    fetch(server.url("/"))
    first, second = server.seen
    assert first.headers["user-agent"].startswith("ShoploopPreview/1.0")
    assert second.headers["user-agent"] == "ShoploopTest/2.0"
    assert first.headers["host"] == f"127.0.0.1:{server.port}"
    assert first.headers["accept-encoding"] == "gzip, deflate"


def chain(server: LocalServer, hops: int) -> str:
    """`/hop/N` redirects to `/hop/N-1`, ... `/hop/0` is the page. Relative and absolute
    Locations alternate."""
    for n in range(1, hops + 1):
        target = f"/hop/{n - 1}"
        server.redirect(f"/hop/{n}", target if n % 2 else server.url(target), status=301 + n % 3)
    server.page("/hop/0", HTML)
    return server.url(f"/hop/{hops}")


def test_follows_five_redirects(server, allow_local):
    result = fetch(chain(server, 5))
    assert result.text == HTML
    assert result.final_url == server.url("/hop/0")
    assert result.redirects == [server.url(f"/hop/{n}") for n in range(5, 0, -1)]


def test_refuses_a_sixth_redirect(server, allow_local):
    with pytest.raises(TooManyRedirects):
        fetch(chain(server, 6))
    assert len(server.seen) == 6


def test_the_redirect_limit_is_a_setting(server, allow_local):
    allow_local.PREVIEW_FETCH_MAX_REDIRECTS = 1
    with pytest.raises(TooManyRedirects):
        fetch(chain(server, 2))


@pytest.mark.parametrize(
    "location",
    [
        "http://10.0.0.1/",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/",
        "http://0x7f.2/",  # 127.0.0.2: a spelling is checked as the address it means
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ],
)
def test_a_redirect_to_a_blocked_address_is_refused(server, allow_local, location):
    server.redirect("/", location)
    with pytest.raises(BlockedURL):
        fetch(server.url("/"))


def test_a_redirect_from_an_allowed_host_to_another_local_name_is_refused(server, allow_local):
    server.redirect("/", server.url("/", host="localhost"))
    with pytest.raises(BlockedURL):
        fetch(server.url("/"))


def test_an_error_status_raises_with_the_code(server, allow_local):
    with pytest.raises(HTTPStatusError) as exc:
        fetch(server.url("/missing"))
    assert exc.value.status_code == 404
    assert exc.value.code == "http_status"


@pytest.mark.parametrize(
    "content_type",
    ["application/pdf", "text/plain", "application/json", "image/svg+xml", ""],
)
def test_a_page_fetch_takes_only_html(server, allow_local, content_type):
    server.reply(
        "/", body=b"%PDF-1.7", headers={"Content-Type": content_type} if content_type else {}
    )
    with pytest.raises(UnsupportedContent):
        fetch(server.url("/"))


def test_xhtml_is_a_page(server, allow_local):
    server.page("/", HTML, content_type="application/xhtml+xml")
    assert fetch(server.url("/")).text == HTML


def test_an_image_fetch_takes_only_images(server, allow_local):
    png = b"\x89PNG\r\n\x1a\n" + bytes(100)
    server.page("/a.png", png, content_type="image/png")
    server.page("/page", HTML)
    server.page("/b.svg", "<svg/>", content_type="image/svg+xml")

    result = fetch(server.url("/a.png"), kind="image")

    assert result.content == png
    assert result.text is None
    assert result.content_type == "image/png"
    for path in ("/page", "/b.svg"):
        with pytest.raises(UnsupportedContent):
            fetch(server.url(path), kind="image")


def test_an_unknown_content_encoding_is_refused(server, allow_local):
    server.reply(
        "/", body=b"\x00" * 10, headers={"Content-Type": "text/html", "Content-Encoding": "br"}
    )
    with pytest.raises(UnsupportedContent):
        fetch(server.url("/"))


def test_an_unknown_kind_is_a_programming_error():
    with pytest.raises(ValueError):
        fetch("http://example.com/", kind="audio")


# --- size --------------------------------------------------------------------------------


@pytest.mark.parametrize("declare_length", [True, False])
def test_a_body_over_the_limit_is_refused(server, allow_local, declare_length):
    allow_local.PREVIEW_FETCH_MAX_BYTES = 1000
    server.page("/", "x" * 1001, length=declare_length)
    with pytest.raises(TooLarge):
        fetch(server.url("/"))


def test_a_body_at_the_limit_is_read(server, allow_local):
    allow_local.PREVIEW_FETCH_MAX_BYTES = 1000
    server.page("/", "x" * 1000, length=False)
    assert len(fetch(server.url("/")).content) == 1000


def gzip_bytes(data: bytes, repeat: int = 1) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: gzip framing
    return b"".join([compressor.compress(data) for _ in range(repeat)] + [compressor.flush()])


@pytest.fixture(scope="module")
def gzip_bomb():
    bomb = gzip_bytes(bytes(1024 * 1024), repeat=50)  # 50 MB of zeros
    assert len(bomb) < 100_000
    return bomb


def test_a_gzip_bomb_is_cut_by_its_decompressed_size(server, allow_local, gzip_bomb):
    server.reply(
        "/", body=gzip_bomb, headers={"Content-Type": "text/html", "Content-Encoding": "gzip"}
    )
    with pytest.raises(TooLarge):
        fetch(server.url("/"))


def test_a_gzip_page_is_decompressed(server, allow_local):
    server.reply(
        "/",
        body=gzip_bytes(HTML.encode()),
        headers={"Content-Type": "text/html", "Content-Encoding": "gzip"},
    )
    assert fetch(server.url("/")).text == HTML


def test_json_fetches_are_capped_at_one_megabyte(server, allow_local):
    server.page("/oembed", b"[" + b"1," * 600_000 + b"1]", content_type="application/json")
    with pytest.raises(TooLarge):
        fetch(server.url("/oembed"), kind="json")


# --- time --------------------------------------------------------------------------------


def trickle(handler, *, head: bytes = b"", body: bool = True, seconds: float = 5):
    """Send `head` a byte at a time, then body bytes, one every 50 ms."""
    stop = time.monotonic() + seconds
    for byte in head:
        handler.wfile.write(bytes([byte]))
        handler.wfile.flush()
        time.sleep(0.05)
    while body and time.monotonic() < stop:
        handler.wfile.write(b"x")
        handler.wfile.flush()
        time.sleep(0.05)


def test_a_body_trickled_past_the_total_timeout_times_out(server, allow_local):
    allow_local.PREVIEW_FETCH_TOTAL_TIMEOUT = 0.5

    def route(handler):
        handler.wfile.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n")
        trickle(handler)

    server.routes["/"] = route
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch(server.url("/"))
    assert time.monotonic() - started < 2


def test_headers_trickled_past_the_total_timeout_time_out(server, allow_local):
    allow_local.PREVIEW_FETCH_TOTAL_TIMEOUT = 0.5
    head = b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 200 + b"\r\n\r\n"
    server.routes["/"] = lambda handler: trickle(handler, head=head, body=False)
    started = time.monotonic()
    with pytest.raises(FetchTimeout):
        fetch(server.url("/"))
    assert time.monotonic() - started < 2


def test_a_server_that_never_answers_times_out(allow_local):
    listener = socket.create_server(("127.0.0.1", 0))  # accepts, never answers
    try:
        allow_local.PREVIEW_FETCH_TOTAL_TIMEOUT = 0.3
        started = time.monotonic()
        with pytest.raises(FetchTimeout):
            fetch(f"http://127.0.0.1:{listener.getsockname()[1]}/")
        assert time.monotonic() - started < 2
    finally:
        listener.close()


def test_a_refused_connection_fails_with_a_code(allow_local):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]  # closed again: nothing listens there
    with pytest.raises(FetchError) as exc:
        fetch(f"http://127.0.0.1:{port}/")
    assert exc.value.code == "connection_failed"


# --- conditional requests -------------------------------------------------------------------


def test_a_304_to_a_conditional_request_is_not_modified(server, allow_local):
    def route(handler):
        if handler.headers.get("If-None-Match") == '"v1"':
            handler.send_response(304)
            handler.send_header("ETag", '"v1"')
            handler.end_headers()
        else:
            body = HTML.encode()
            handler.send_response(200)
            handler.send_header("Content-Type", "text/html")
            handler.send_header("ETag", '"v1"')
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

    server.routes["/"] = route
    first = fetch(server.url("/"))
    again = fetch(
        server.url("/"), etag=first.headers["etag"], last_modified="Wed, 01 Jan 2025 00:00:00 GMT"
    )

    assert first.not_modified is False and first.text == HTML
    assert again.not_modified is True
    assert again.status_code == 304
    assert again.content == b"" and again.text is None
    assert server.seen[1].headers["if-none-match"] == '"v1"'
    assert server.seen[1].headers["if-modified-since"] == "Wed, 01 Jan 2025 00:00:00 GMT"
    assert "if-none-match" not in server.seen[0].headers


# --- decoding ------------------------------------------------------------------------------


def test_decodes_by_the_header_charset(server, allow_local):
    server.page("/", "<p>café</p>".encode("latin-1"), content_type="text/html; charset=ISO-8859-1")
    result = fetch(server.url("/"))
    assert result.text == "<p>café</p>"
    assert result.encoding == "cp1252"  # browsers read latin-1 labels as windows-1252


def test_a_bom_wins_over_the_header(server, allow_local):
    server.page(
        "/", b"\xef\xbb\xbf<p>caf\xc3\xa9</p>", content_type="text/html; charset=iso-8859-1"
    )
    result = fetch(server.url("/"))
    assert result.text == "<p>café</p>"
    assert result.encoding == "utf-8"


def test_decodes_by_meta_charset(server, allow_local):
    body = "<html><head><meta charset='windows-1252'></head><p>“quoted” café</p></html>"
    server.page("/", body.encode("cp1252"), content_type="text/html")
    result = fetch(server.url("/"))
    assert "“quoted” café" in result.text
    assert result.encoding == "cp1252"


def test_decodes_by_meta_http_equiv_shift_jis():
    body = (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">'
        "<title>日本語のページ</title></head></html>"
    )
    text, encoding = decode_html(body.encode("shift_jis"))
    assert "<title>日本語のページ</title>" in text
    assert encoding == "cp932"


def test_a_meta_tag_after_two_kilobytes_is_not_read():
    body = b"<!--" + b" " * 2100 + b"--><meta charset='windows-1252'><p>caf\xc3\xa9</p>"
    text, encoding = decode_html(body)
    assert encoding == "utf-8"
    assert "café" in text


def test_detects_an_undeclared_charset():
    russian = "Привет, это страница магазина с товарами и ценами для покупателей. " * 20
    text, encoding = decode_html(f"<p>{russian}</p>".encode("cp1251"))
    assert russian in text
    assert encoding == "cp1251"


def test_undeclared_utf8_is_utf8():
    assert decode_html("<p>naïve – ok</p>".encode()) == ("<p>naïve – ok</p>", "utf-8")


def test_an_unknown_charset_label_falls_through_to_detection():
    assert decode_html(b"<p>plain</p>", "x-no-such-charset") == ("<p>plain</p>", "utf-8")


# --- proxies -------------------------------------------------------------------------------


@pytest.fixture
def proxy():
    local = LocalServer()
    httpd = start_server(local)
    yield local
    httpd.shutdown()
    httpd.server_close()


def test_proxy_environment_variables_are_ignored(server, proxy, allow_local, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
        monkeypatch.setenv(name, proxy.url())
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    server.page("/", HTML)
    assert fetch(server.url("/")).text == HTML
    assert proxy.seen == []


def test_the_configured_proxy_is_used(server, proxy, allow_local):
    allow_local.PREVIEW_PROXY_URL = proxy.url()
    target = server.url("/via-proxy")
    proxy.page(target, "<p>proxied</p>")

    assert fetch(target).text == "<p>proxied</p>"
    assert [seen.path for seen in proxy.seen] == [target]
    assert server.seen == []


def test_the_proxy_does_not_lift_the_address_check(proxy, settings):
    settings.PREVIEW_PROXY_URL = proxy.url()
    with pytest.raises(BlockedURL):
        fetch("http://169.254.169.254/")
    assert proxy.seen == []


# --- TLS ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):
    """A throwaway CA and a certificate for shop.test signed by it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)

    def build(subject, issuer, public_key, *, ca):
        builder = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
            .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer)]))
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        )
        if not ca:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.DNSName(subject)]), critical=False
            ).add_extension(
                x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
            )
        return builder

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = build("Shoploop Test CA", "Shoploop Test CA", ca_key.public_key(), ca=True)
    ca_cert = ca_cert.sign(ca_key, hashes.SHA256())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = build("shop.test", "Shoploop Test CA", key.public_key(), ca=False).sign(
        ca_key, hashes.SHA256()
    )

    folder = tmp_path_factory.mktemp("tls")
    paths = {"ca": folder / "ca.pem", "cert": folder / "cert.pem", "key": folder / "key.pem"}
    paths["ca"].write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    paths["cert"].write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths["key"].write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return paths


@pytest.fixture
def tls_server(certificates, settings, fake_dns):
    """An https server for shop.test on 127.0.0.1; other.test resolves there too."""
    local = LocalServer(scheme="https")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificates["cert"], certificates["key"])
    local.sni = []
    context.sni_callback = lambda sock, name, ctx: local.sni.append(name)
    httpd = start_server(local, wrap=lambda sock: context.wrap_socket(sock, server_side=True))
    fake_dns["shop.test"] = ["127.0.0.1"]
    fake_dns["other.test"] = ["127.0.0.1"]
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["shop.test", "other.test"]
    settings.PREVIEW_FETCH_CA_BUNDLE = str(certificates["ca"])
    local.page("/", HTML)
    yield local
    httpd.shutdown()
    httpd.server_close()


def test_tls_to_a_pinned_address_verifies_the_original_host_name(tls_server):
    result = fetch(tls_server.url("/", host="shop.test"))
    assert result.text == HTML
    assert tls_server.sni == ["shop.test"]
    assert tls_server.seen[0].headers["host"] == f"shop.test:{tls_server.port}"


def test_tls_refuses_a_certificate_for_another_host_name(tls_server):
    with pytest.raises(FetchError) as exc:
        fetch(tls_server.url("/", host="other.test"))
    assert exc.value.code == "tls_error"
    assert tls_server.seen == []


def test_tls_refuses_an_untrusted_certificate(tls_server, settings):
    settings.PREVIEW_FETCH_CA_BUNDLE = None  # back to the public CA bundle
    with pytest.raises(FetchError) as exc:
        fetch(tls_server.url("/", host="shop.test"))
    assert exc.value.code == "tls_error"


# --- logging -------------------------------------------------------------------------------


def test_logs_events_with_the_host_but_not_the_path(caplog):
    caplog.set_level(logging.INFO, logger="previews.fetch")
    with pytest.raises(BlockedURL):
        fetch("http://169.254.169.254/latest/meta-data/?token=secret")
    [record] = [r for r in caplog.records if r.name == "previews.fetch"]
    assert record.getMessage() == "preview.fetch.blocked"
    assert record.host == "169.254.169.254"
    assert record.reason == "link_local"
    assert "secret" not in str(record.__dict__)


def test_closing_the_deadline_stops_its_timer_thread():
    deadline = _Deadline(60)
    deadline.close()
    deadline._timer.join(timeout=1)
    assert not deadline._timer.is_alive()
    assert not deadline.expired


@hypothesis_settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=20)
@given(status=st.sampled_from([400, 401, 403, 410, 429, 500, 502, 503]))
def test_every_error_status_is_an_http_status_error(server, allow_local, status):
    server.reply(f"/{status}", status=status, body=b"no")
    with pytest.raises(HTTPStatusError) as exc:
        fetch(server.url(f"/{status}"))
    assert exc.value.status_code == status


def test_parse_url_normalises_what_it_sends():
    target = _parse_url("  HTTP://Bücher.Example:80/a%20b?q=1#frag ")
    assert target.host == "xn--bcher-kva.example"
    assert target.port == 80
    assert target.url == "http://xn--bcher-kva.example/a%20b?q=1"


def test_a_redirect_without_location_is_an_http_status_error(server, allow_local):
    server.reply("/", status=302)
    with pytest.raises(HTTPStatusError) as exc:
        fetch(server.url("/"))
    assert exc.value.status_code == 302


def test_max_bytes_can_lower_the_limit_for_one_fetch(server, allow_local):
    server.page("/", "x" * 200)
    with pytest.raises(TooLarge):
        fetch(server.url("/"), max_bytes=100)
    assert len(fetch(server.url("/"), max_bytes=10**9).content) == 200
