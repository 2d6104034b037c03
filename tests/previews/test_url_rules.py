"""One normalisation for the fetcher and stored previews, and the API refusing at once
what the fetcher would refuse later (issue 10): trailing dots, case, numeric spellings,
local names that do not resolve, port 0 and ports outside the allowed list."""

import ipaddress
import socket

import pytest
import urllib3
from django.contrib.auth.models import Group, User
from hypothesis import given
from hypothesis import strategies as st
from rest_framework.authtoken.models import Token

from previews import services
from previews.fetch import BlockedURL, InvalidURL, _parse_url, check_url, fetch, split_url
from previews.models import LinkPreview
from previews.normalize import normalize_url


@pytest.fixture
def no_connection(monkeypatch):
    """Fail the test if the fetcher opens a connection anywhere."""

    def refuse(*args, **kwargs):
        raise AssertionError("the fetcher tried to connect")

    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)


@pytest.fixture
def failing_dns(monkeypatch):
    """A resolver that answers nothing, as for a name that does not exist; counts lookups."""
    lookups = []

    def fail(host, *args, **kwargs):
        lookups.append(host)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    return lookups


@pytest.fixture
def api(client):
    user = User.objects.create_user("cm", password="pw", is_staff=True)
    user.groups.add(Group.objects.get(name="Catalog manager"))
    token = Token.objects.create(user=user).key

    def post(url):
        return client.post(
            "/api/previews",
            {"url": url},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Token {token}",
        )

    return post


# --- the one normal form --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "normal"),
    [
        ("http://LOCALHOST./", "http://localhost/"),
        ("http://localhost./x", "http://localhost/x"),
        ("http://127.0.0.1./", "http://127.0.0.1/"),
        ("HTTP://Shop.Example.COM.:443/a", "http://shop.example.com:443/a"),
        ("https://shop.example.com.:443/a", "https://shop.example.com/a"),
        ("http://2130706433/", "http://127.0.0.1/"),
        ("http://0x7f.1/", "http://127.0.0.1/"),
        ("http://0177.0.0.1/", "http://127.0.0.1/"),
        ("http://127.1/", "http://127.0.0.1/"),
        ("http://0x7F000001./", "http://127.0.0.1/"),
        ("http://[::FFFF:127.0.0.1]/", "http://[::ffff:7f00:1]/"),
        ("http://[0:0::1]:8080/", "http://[::1]:8080/"),
        ("https://BÜCHER.example./", "https://xn--bcher-kva.example/"),
        ("http://my_shop.example.com/", "http://my_shop.example.com/"),
    ],
)
def test_hosts_have_one_normal_form(url, normal):
    assert normalize_url(url) == normal
    # The fetcher checks and fetches that very form.
    assert _parse_url(url).url == normal.split("?")[0]


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://example.com:0/", "invalid_port"),
        ("https://example.com:00/", "invalid_port"),
        ("http://example.com:65536/", "invalid_port"),
        ("http://example.com:99999/", "invalid_port"),
        ("http://example.com:-1/", "invalid_port"),
        ("http://example.com:8o/", "invalid_port"),
        ("http://a..b/", "invalid_url"),
        ("http://-shop.example/", "invalid_url"),
        ("http://999.1.1.1/", "invalid_url"),
        ("http://1.2.3.4.5/", "invalid_url"),
        ("http://08.1/", "invalid_url"),
        ("http://./", "invalid_url"),
    ],
)
def test_malformed_hosts_and_ports_are_refused_by_both(url, code, no_connection):
    with pytest.raises(InvalidURL) as stored:
        normalize_url(url)
    assert stored.value.code == code
    with pytest.raises(InvalidURL) as fetched:
        fetch(url)
    assert fetched.value.code == code


def test_port_0_is_never_read_as_the_default_port(no_connection, allow_local):
    # Before, the fetcher turned ":0" into the scheme's port and fetched it.
    with pytest.raises(InvalidURL, match="from 1 to 65535"):
        fetch("http://127.0.0.1:0/")
    with pytest.raises(InvalidURL):
        split_url("https://shop.example.com:0/")


def test_the_port_message_names_the_allowed_ports(settings):
    settings.PREVIEW_FETCH_ALLOWED_PORTS = (80, 443, 8080)
    with pytest.raises(BlockedURL) as exc:
        check_url("http://shop.example.com:22/", resolve=False)
    assert exc.value.code == "blocked_port"
    assert exc.value.message == "Port 22 is not allowed: only ports 80, 443 and 8080 are fetched."


# --- local names and addresses, without a resolver ------------------------------------------


LOCAL_SPELLINGS = [
    "http://LOCALHOST./",
    "http://localhost./x",
    "http://Localhost:8080/",
    "http://127.0.0.1./",
    "http://127.1./",
    "http://0x7f.0.0.1/",
    "http://foo.localhost/",
    "http://printer.local./",
    "http://db.internal/",
    "http://router.home.arpa/",
    "http://nas.lan/",
    "http://intranet/",
    "http://intranet./",
    "http://[::1]/",
    "http://[::ffff:10.0.0.1]/",
]


@pytest.mark.parametrize("url", LOCAL_SPELLINGS)
def test_local_targets_are_refused_before_any_lookup(url, failing_dns, no_connection):
    with pytest.raises(BlockedURL) as exc:
        check_url(url)
    assert exc.value.code == "blocked_address"
    assert failing_dns == []  # the name alone said it is local
    with pytest.raises(BlockedURL):
        fetch(url)


def test_a_public_name_that_does_not_resolve_passes_the_check(failing_dns):
    check_url("https://shop.example.org/item")  # the fetch will record the failure
    assert failing_dns == ["shop.example.org"]


PRIVATE_V4 = ["10.0.0.0/8", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.168.0.0/16"]


@given(data=st.data())
def test_any_spelling_of_a_private_address_is_refused_without_a_resolver(data):
    address = data.draw(st.ip_addresses(network=data.draw(st.sampled_from(PRIVATE_V4))))
    number = int(address)
    spelling = data.draw(
        st.sampled_from(
            [str(address), str(number), hex(number), hex(number).upper().replace("0X", "0x"),
             ".".join(f"0{int(octet):o}" for octet in str(address).split(".")),
             f"{address.packed[0]}.{number & 0xFFFFFF}", f"[::ffff:{address}]"]
        )
    )  # fmt: skip
    dot = data.draw(st.sampled_from(["", "."])) if not spelling.startswith("[") else ""
    url = f"http://{spelling}{dot}/"
    with pytest.raises(BlockedURL):
        check_url(url, resolve=False)
    host = split_url(url).host
    assert ipaddress.ip_address(host) in (address, ipaddress.IPv6Address(f"::ffff:{address}"))


@given(
    name=st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z"),
    suffix=st.sampled_from(["localhost", "local", "internal", "home.arpa", "localdomain"]),
    upper=st.booleans(),
    dot=st.booleans(),
)
def test_any_name_under_a_local_suffix_is_refused(name, suffix, upper, dot):
    host = f"{name}.{suffix}{'.' if dot else ''}"
    with pytest.raises(BlockedURL):
        check_url(f"https://{host.upper() if upper else host}/", resolve=False)


# --- the API refuses at once, storing nothing ------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize("url", LOCAL_SPELLINGS)
def test_the_api_answers_422_for_every_local_spelling(api, url, failing_dns):
    response = api(url)
    assert response.status_code == 422
    assert response.json()["error"] == {
        "code": "blocked_url",
        "message": "This address is not allowed.",
        "fields": {"url": ["This address is not allowed."]},
    }
    assert not LinkPreview.objects.exists()


@pytest.mark.django_db
def test_the_api_answers_422_for_a_name_resolving_to_a_private_address(api, fake_dns):
    fake_dns["shop.example.org"] = ["10.1.2.3"]
    assert api("https://SHOP.example.org./item").status_code == 422
    assert not LinkPreview.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://example.com:0/", "The port must be a number from 1 to 65535."),
        ("http://example.com:65536/", "The port must be a number from 1 to 65535."),
        (
            "http://example.com:22/",
            "Port 22 is not allowed: only ports 80, 443, 8080 and 8443 are fetched.",
        ),
        (
            "https://example.com:6379/x",
            "Port 6379 is not allowed: only ports 80, 443, 8080 and 8443 are fetched.",
        ),
    ],
)
def test_the_api_answers_400_for_a_bad_port(api, url, message, failing_dns):
    response = api(url)
    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "invalid_url",
        "message": message,
        "fields": {"url": [message]},
    }
    assert not LinkPreview.objects.exists()
    assert failing_dns == []


@pytest.mark.django_db
def test_a_link_to_a_local_target_stores_a_blocked_preview_without_fetching(failing_dns):
    # Saving a short link asks for its destination's preview (not strictly): the link's
    # page can then say the preview is blocked, and nothing is ever fetched.
    preview, fresh = services.preview_request(url="http://LOCALHOST./admin")
    assert (preview.url, preview.status, fresh) == ("http://localhost/admin", "blocked", False)
    assert preview.error_code == "blocked_address"
    assert preview.next_refresh_at is None
    assert failing_dns == []
