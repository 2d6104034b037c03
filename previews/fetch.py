"""The safe fetcher: the one place Shoploop fetches a URL that someone else chose.

Every hop of a fetch (the first request and each redirect) goes through the same steps:

1. The URL is parsed, checked and normalised by `split_url`, the one normalisation that
   stored previews share: http or https only, no credentials, a port from 1 to 65535 (0 is
   never read as the default), the host lower-cased, IDNA-encoded, without a trailing dot,
   and an IPv4 address in any spelling written as its dotted quad.
2. Without asking a resolver: the port must be allowed (`PREVIEW_FETCH_ALLOWED_PORTS`), the
   name must not be a local one (`is_local_name`: "localhost", "*.local", a single label...)
   and an IP literal must be public. Then the host is resolved once, and every address it
   resolves to must be public (see `blocked_reason`). One private address among public
   ones refuses the whole host. `check_url` runs these same checks before anything is
   stored (the API, the console).
3. The connection goes to the address that was checked, never to a second lookup of the
   name, so DNS rebinding cannot swap it. TLS still sends the original host name (SNI) and
   checks the certificate against it; the Host header names the original host too.
4. A redirect starts over at 1 with the Location resolved against the current URL, at most
   `PREVIEW_FETCH_MAX_REDIRECTS` times. Anything else must be a 2xx (or a 304 to a
   conditional request) with an accepted content type, and its body is streamed,
   decompressed, and cut at the size limit, counting decompressed bytes.

One deadline bounds the whole fetch (connect, TLS, headers and body, every hop): a timer
shuts the sockets down when it passes, so a server that trickles one byte a second cannot
hold a worker. Name resolution is left to the system resolver's own timeouts.

With `PREVIEW_PROXY_URL` set, connections go to that proxy, which resolves names itself:
the address check still runs here, but the proxy must enforce the same egress rules (for
example Stripe's Smokescreen) for the rebinding guarantee to hold.
"""

import codecs
import ipaddress
import logging
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit, urlunsplit

import charset_normalizer
import idna
import requests
import urllib3
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from core.errors import ApplicationError

logger = logging.getLogger(__name__)

DEFAULT_USER_AGENT = "ShoploopPreview/1.0 (+https://shoploop.example/bot)"
DEFAULT_MAX_BYTES = 5 * 1024 * 1024
DEFAULT_VIDEO_MAX_BYTES = 100 * 1024 * 1024
JSON_MAX_BYTES = 1024 * 1024  # oEmbed answers are small; a bigger one is not oEmbed
DEFAULT_ALLOWED_PORTS = (80, 443, 8080, 8443)
MAX_URL_LENGTH = 4096

# What each kind of fetch accepts, by media type (parameters such as charset stripped).
ACCEPTED_TYPES = {
    "page": frozenset({"text/html", "application/xhtml+xml"}),
    "image": frozenset({"image/jpeg", "image/png", "image/gif", "image/webp", "image/avif"}),
    # Platform media (Instagram, TikTok posts): its own, larger size and time limits.
    "video": frozenset({"video/mp4", "video/quicktime", "video/webm", "video/x-matroska"}),
    "json": frozenset(
        {
            "application/json",
            "application/json+oembed",
            "text/json",
            "text/javascript",
            "application/javascript",
        }
    ),
}
ACCEPT_HEADERS = {
    "page": "text/html,application/xhtml+xml;q=0.9",
    "image": "image/avif,image/webp,image/png,image/jpeg,image/gif;q=0.9",
    "json": "application/json,application/json+oembed;q=0.9",
    "video": "video/mp4,video/quicktime;q=0.9,video/webm;q=0.8",
}
# urllib3 decodes these without optional packages; other encodings are not asked for.
ACCEPTED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
DEFAULT_PORTS = {"http": 80, "https": 443}
CHUNK_SIZE = 64 * 1024
META_SNIFF_BYTES = 2048
DETECT_SNIFF_BYTES = 64 * 1024


# --- errors ------------------------------------------------------------------------------


class FetchError(ApplicationError):
    """A fetch failed; `code` says why in a word a machine can branch on."""

    default_code = "fetch_failed"

    def __init__(self, message: str, *, code: str | None = None):
        super().__init__(message, code=code or self.default_code)


class InvalidURL(FetchError):
    """The URL cannot be parsed, or has no host."""

    default_code = "invalid_url"


class BlockedURL(FetchError):
    """The URL is well formed but not allowed: its scheme, credentials, port or address.

    The code names the rule: `blocked_scheme`, `blocked_credentials`, `blocked_port`,
    `blocked_address`.
    """

    default_code = "blocked_url"

    def __init__(self, message: str, *, code: str | None = None, reason: str | None = None):
        super().__init__(message, code=code)
        self.reason = reason  # for an address: "loopback", "private", "link_local", ...


class FetchTimeout(FetchError):
    default_code = "timeout"


class TooLarge(FetchError):
    default_code = "too_large"


class UnsupportedContent(FetchError):
    """The content type (or content encoding) is not one this kind of fetch accepts."""

    default_code = "unsupported_content"


class TooManyRedirects(FetchError):
    default_code = "too_many_redirects"


class HTTPStatusError(FetchError):
    default_code = "http_status"

    def __init__(self, status_code: int):
        super().__init__(f"The server answered with HTTP status {status_code}.")
        self.status_code = status_code


# --- result ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FetchResult:
    final_url: str
    status_code: int
    headers: dict[str, str]  # names lower-cased
    content: bytes  # decompressed body; empty for a 304
    text: str | None  # decoded body for pages and JSON; None for images and 304s
    encoding: str | None  # the codec that decoded `text`
    content_type: str | None  # media type without parameters, e.g. "text/html"
    redirects: list[str] = field(default_factory=list)  # URLs that redirected, in order
    not_modified: bool = False


# --- settings ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Limits:
    max_bytes: int
    connect_timeout: float
    total_timeout: float
    max_redirects: int

    @classmethod
    def for_kind(cls, kind: str, max_bytes: int | None) -> "_Limits":
        limit = getattr(settings, "PREVIEW_FETCH_MAX_BYTES", DEFAULT_MAX_BYTES)
        total_timeout = getattr(settings, "PREVIEW_FETCH_TOTAL_TIMEOUT", 10)
        if kind == "json":
            limit = min(limit, JSON_MAX_BYTES)
        elif kind == "video":  # a video is bigger and slower than a page: its own bounds
            limit = getattr(settings, "PREVIEW_FETCH_VIDEO_MAX_BYTES", DEFAULT_VIDEO_MAX_BYTES)
            total_timeout = getattr(settings, "PREVIEW_FETCH_VIDEO_TOTAL_TIMEOUT", 120)
        return cls(
            max_bytes=min(limit, max_bytes) if max_bytes else limit,
            connect_timeout=getattr(settings, "PREVIEW_FETCH_CONNECT_TIMEOUT", 3),
            total_timeout=total_timeout,
            max_redirects=getattr(settings, "PREVIEW_FETCH_MAX_REDIRECTS", 5),
        )


def _allowed_hosts() -> set[str]:
    return {host.lower() for host in getattr(settings, "PREVIEW_FETCH_ALLOWED_HOSTS", [])}


def _allowed_ports() -> set[int]:
    return set(getattr(settings, "PREVIEW_FETCH_ALLOWED_PORTS", DEFAULT_ALLOWED_PORTS))


# --- addresses ---------------------------------------------------------------------------

# Refused whatever Python's `is_global` says: before Python 3.12.4 it calls 6to4, NAT64,
# site-local and multicast addresses global. The names end up in logs.
_BLOCKED_NETWORKS = [
    (ipaddress.ip_network(network), reason)
    for network, reason in (
        ("0.0.0.0/8", "unspecified"),
        ("10.0.0.0/8", "private"),
        ("100.64.0.0/10", "shared_cgnat"),
        ("127.0.0.0/8", "loopback"),
        ("169.254.0.0/16", "link_local"),  # cloud metadata at 169.254.169.254
        ("172.16.0.0/12", "private"),
        ("192.0.0.0/24", "ietf_protocol"),
        ("192.0.2.0/24", "documentation"),
        ("192.88.99.0/24", "6to4_relay"),
        ("192.168.0.0/16", "private"),
        ("198.18.0.0/15", "benchmarking"),
        ("198.51.100.0/24", "documentation"),
        ("203.0.113.0/24", "documentation"),
        ("224.0.0.0/4", "multicast"),
        ("240.0.0.0/4", "reserved"),  # includes 255.255.255.255, the broadcast address
        ("::/128", "unspecified"),
        ("::1/128", "loopback"),
        ("64:ff9b::/96", "nat64"),  # a NAT64 gateway could reach any IPv4 address
        ("64:ff9b:1::/48", "nat64"),
        ("100::/64", "discard"),
        ("2001::/32", "teredo"),
        ("2001::/23", "ietf_protocol"),
        ("2001:db8::/32", "documentation"),
        ("2002::/16", "6to4"),  # embeds an IPv4 address; refused whole, whatever it embeds
        ("3fff::/20", "documentation"),
        ("fc00::/7", "unique_local"),
        ("fe80::/10", "link_local"),
        ("fec0::/10", "site_local"),
        ("ff00::/8", "multicast"),
    )
]
# Only global unicast IPv6 is reachable on the internet; everything else is refused.
_IPV6_GLOBAL_UNICAST = ipaddress.ip_network("2000::/3")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def blocked_reason(address: IPAddress) -> str | None:
    """Why `address` may not be fetched ("loopback", "private", ...), or None if public.

    An IPv4-mapped IPv6 address (::ffff:127.0.0.1) is judged by the IPv4 address inside.
    """
    if address.version == 6 and address.ipv4_mapped:
        address = address.ipv4_mapped
    for network, reason in _BLOCKED_NETWORKS:
        if address.version == network.version and address in network:
            return reason
    if address.version == 6 and address not in _IPV6_GLOBAL_UNICAST:
        return "not_global_unicast"
    if not address.is_global or address.is_multicast or address.is_reserved:
        return "not_global"
    return None


# --- URLs and targets --------------------------------------------------------------------


@dataclass(frozen=True)
class _Target:
    """One hop: the normalised URL, its host and port, and the address checked for it."""

    url: str
    scheme: str
    host: str  # ASCII (IDNA) and lower-case, IPv6 without brackets
    port: int
    address: str | None = None

    @property
    def host_header(self) -> str:
        return _netloc(self.scheme, self.host, self.port)


def _netloc(scheme: str, host: str, port: int) -> str:
    """`host[:port]`, the port left out when it is the scheme's default."""
    host = f"[{host}]" if ":" in host else host
    return host if port == DEFAULT_PORTS[scheme] else f"{host}:{port}"


@dataclass(frozen=True)
class URLParts:
    """A URL in the one normal form that both the fetcher and stored previews use.

    `host` is ASCII (IDNA for international names) and lower-case, without a trailing dot;
    an IPv4 address in any spelling the system resolver accepts ("2130706433", "0x7f.1",
    "0177.0.0.1", "127.1", "127.0.0.1.") is its dotted quad, an IPv6 address is in its
    compressed form without brackets. `port` is the explicit port or the scheme's default.
    """

    scheme: str
    host: str
    port: int
    path: str
    query: str

    @property
    def netloc(self) -> str:
        return _netloc(self.scheme, self.host, self.port)


_NUMERIC_LABEL = re.compile(r"0[xX][0-9a-fA-F]*|[0-9]+")
_NAME_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")


def split_url(url) -> URLParts:
    """Check a URL's form and return its normal parts: the one normalisation of a URL.

    Raises InvalidURL when it is malformed, with the reason (code `invalid_port` for a port
    outside 1-65535: port 0 is never read as "the default port"), and BlockedURL for a
    scheme other than http(s) (`blocked_scheme`) or credentials (`blocked_credentials`).
    Allowed ports and public addresses are checked by `check_url` and by `fetch`.
    """
    if not isinstance(url, str) or not url.strip() or len(url) > MAX_URL_LENGTH:
        raise InvalidURL("The URL is empty or too long.")
    url = url.strip()
    if any(ch.isspace() or ord(ch) < 32 or ord(ch) == 127 for ch in url):
        raise InvalidURL("The URL contains spaces or control characters.")
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise InvalidURL("The URL cannot be parsed.") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise BlockedURL("Only http and https URLs can be fetched.", code="blocked_scheme")
    if "@" in parts.netloc:
        raise BlockedURL("URLs with credentials are not fetched.", code="blocked_credentials")
    try:
        port = parts.port
    except ValueError:  # not a number, or above 65535
        port = 0
    if port == 0:
        raise InvalidURL("The port must be a number from 1 to 65535.", code="invalid_port")
    if not parts.hostname or "\\" in parts.netloc or "%" in parts.hostname:
        raise InvalidURL("The URL has no valid host.")
    host = normal_host(parts.hostname)
    return URLParts(scheme, host, port or DEFAULT_PORTS[scheme], parts.path or "/", parts.query)


def normal_host(hostname: str) -> str:
    """A host name in normal form (see URLParts). Raises InvalidURL for what is not one."""
    if ":" in hostname:  # urlsplit found it between brackets: an IPv6 literal
        try:
            return str(ipaddress.IPv6Address(hostname))
        except ValueError as exc:
            raise InvalidURL("The URL's host is not a valid IPv6 address.") from exc
    host = hostname[:-1] if hostname.endswith(".") else hostname  # "localhost." is localhost
    if not host.isascii():
        try:
            host = idna.encode(host, uts46=True).decode("ascii")
        except (idna.IDNAError, UnicodeError) as exc:
            raise InvalidURL("The URL's host is not a valid domain name.") from exc
    host = host.lower()
    labels = host.split(".")
    if _NUMERIC_LABEL.fullmatch(labels[-1]):
        return _ipv4_from_numbers(labels)
    if len(host) > 253 or not all(_NAME_LABEL.fullmatch(label) for label in labels):
        raise InvalidURL("The URL's host is not a valid domain name.")
    return host


def _ipv4_from_numbers(labels: list[str]) -> str:
    """The dotted quad of a host whose last label is a number, read the way the WHATWG URL
    standard and the system resolver (inet_aton) read it: one to four parts, each decimal,
    octal ("0177") or hex ("0x7f"), the last one filling the bytes that remain."""
    invalid = InvalidURL("The URL's host is not a valid IPv4 address.")
    if len(labels) > 4 or not all(_NUMERIC_LABEL.fullmatch(label) for label in labels):
        raise invalid
    numbers = []
    for label in labels:
        try:
            if label[:2] in ("0x", "0X"):
                numbers.append(int(label[2:] or "0", 16))
            elif len(label) > 1 and label.startswith("0"):
                numbers.append(int(label, 8))
            else:
                numbers.append(int(label))
        except ValueError as exc:  # "08" is not octal
            raise invalid from exc
    *leading, last = numbers
    if any(number > 255 for number in leading) or last >= 256 ** (4 - len(leading)):
        raise invalid
    value = last
    for position, number in enumerate(leading):
        value += number << (8 * (3 - position))
    return str(ipaddress.IPv4Address(value))


# Names only a local resolver answers: special-use and never-delegated suffixes (RFC 6761
# localhost, RFC 6762 .local, RFC 8375 home.arpa, ICANN's .internal, and the suffixes ICANN
# will not delegate because private networks use them).
LOCAL_SUFFIXES = (
    "localhost", "localdomain", "local", "internal", "home.arpa", "lan", "home", "corp",
    "intranet",
)  # fmt: skip


def is_local_name(host: str) -> bool:
    """True for a host (in normal form) that can only name a machine on a private network,
    whatever it resolves to and whether it resolves at all: a special-use suffix, or a
    single label (only the resolver's search list turns one into a host)."""
    if _literal_address(host) is not None:
        return False
    return "." not in host or any(
        host == suffix or host.endswith("." + suffix) for suffix in LOCAL_SUFFIXES
    )


def _parse_url(url) -> _Target:
    """Check the URL's form and rebuild it from the parts that were checked."""
    parts = split_url(url)
    rebuilt = urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))
    return _Target(url=rebuilt, scheme=parts.scheme, host=parts.host, port=parts.port)


def _literal_address(host: str) -> IPAddress | None:
    """The address when the host is written as a standard IP literal ("10.0.0.1", "::1")."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _resolve(host: str, port: int) -> list[IPAddress]:
    """Every address `host` resolves to, in the resolver's order, duplicates removed.

    Numeric spellings never get here as names: `split_url` wrote them as the address they
    mean, so they are checked as that address without asking the resolver.
    """
    literal = _literal_address(host)
    if literal is not None:
        return [literal]
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise FetchError("The host name could not be resolved.", code="dns_failed") from exc
    addresses: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = ipaddress.ip_address(str(sockaddr[0]).split("%")[0])
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise FetchError("The host name has no addresses.", code="dns_failed")
    return addresses


def _port_message(port: int) -> str:
    allowed = sorted(_allowed_ports())
    listed = ", ".join(str(p) for p in allowed[:-1])
    listed = f"{listed} and {allowed[-1]}" if listed else str(allowed[-1]) if allowed else "none"
    return f"Port {port} is not allowed: only ports {listed} are fetched."


def _not_public(reason: str) -> BlockedURL:
    return BlockedURL(
        "The URL points to an address that is not public.", code="blocked_address", reason=reason
    )


def _check_statically(target: _Target) -> bool:
    """The checks that need no resolver: the port, local names and IP literals.

    Returns whether the host is one of `PREVIEW_FETCH_ALLOWED_HOSTS` (tests only), which
    skips the address checks.
    """
    allowed = target.host in _allowed_hosts()
    if allowed:
        return True
    if target.port not in _allowed_ports():
        raise BlockedURL(_port_message(target.port), code="blocked_port")
    if is_local_name(target.host):
        raise _not_public("local_name")
    literal = _literal_address(target.host)
    if literal is not None and blocked_reason(literal):
        raise _not_public(blocked_reason(literal))
    return False


def _check(target: _Target) -> _Target:
    """Check the target statically, resolve its host once, check every address, and pin the
    first one."""
    allowed = _check_statically(target)
    addresses = _resolve(target.host, target.port)
    if not allowed:
        for address in addresses:
            reason = blocked_reason(address)
            if reason:
                raise _not_public(reason)
    # An IPv4-mapped address is connected to as the IPv4 address it was judged as.
    first = addresses[0]
    if first.version == 6 and first.ipv4_mapped:
        first = first.ipv4_mapped
    return _Target(target.url, target.scheme, target.host, target.port, str(first))


def check_url(url: str, *, resolve: bool = True) -> None:
    """Raise InvalidURL or BlockedURL if `url` may not be fetched, by the very rules and
    normalisation `fetch` applies to its first hop.

    Without `resolve`, only what needs no resolver: the form, the port, local names
    ("localhost.", "printer.local", a single label) and IP literals in any spelling. With
    it, the host is resolved too and every address checked; a host that does not resolve
    passes (the fetch will record that), unless its name alone says it is local.
    """
    target = _parse_url(url)
    if not resolve:
        _check_statically(target)
        return
    try:
        _check(target)
    except (InvalidURL, BlockedURL):
        raise
    except FetchError:
        return


# --- the deadline ------------------------------------------------------------------------


class _Deadline:
    """The wall-clock budget of one fetch, enforced on every socket the fetch opens.

    Socket timeouts alone restart on every byte received, so a trickling server could keep
    a fetch alive forever. Instead a timer shuts each watched socket down when the budget
    runs out, which wakes any blocked read at once. It shuts down a duplicate of the
    socket's file descriptor, owned here, so it can never touch a descriptor that was
    closed and reused for something else.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expires_at = time.monotonic() + seconds
        self.expired = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True
        self._timer.start()

    def remaining(self) -> float:
        return max(0.0, self.expires_at - time.monotonic())

    def check(self) -> None:
        if self.expired or self.remaining() <= 0:
            raise FetchTimeout(f"The fetch took longer than {self.seconds:g} seconds.")

    def watch(self, sock: socket.socket) -> None:
        duplicate = sock.dup()
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                _shutdown(duplicate)

    def close(self) -> None:
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shutdown(sock)


def _shutdown(sock: socket.socket) -> None:
    try:
        sock.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass  # already closed by the other side


# --- the transport -----------------------------------------------------------------------


class _WatchedConnectionMixin:
    """Hands every new socket to the fetch's deadline."""

    def __init__(self, *args, deadline: _Deadline | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._deadline = deadline

    def _new_conn(self):
        sock = super()._new_conn()
        if self._deadline is not None:
            self._deadline.watch(sock)
        return sock


class _WatchedHTTPConnection(_WatchedConnectionMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedConnectionMixin, HTTPSConnection):
    pass


class _WatchedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _WatchedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    """Sends each hop to the address `_check` approved for it, and nowhere else.

    Without a proxy the connection pool is made for the pinned IP address, while TLS uses
    the original host as `server_hostname`: urllib3 sends it as SNI, and the ssl module
    checks the certificate against it. (Setting `assert_hostname` as well would turn the
    ssl module's own check off in favour of urllib3's; one check, the standard one, is
    enough.) Requests carry the original host in their Host header.
    """

    def __init__(self, *, deadline: _Deadline, proxied: bool):
        super().__init__(pool_connections=1, pool_maxsize=1, max_retries=0)
        self._deadline = deadline
        self._proxied = proxied
        self._target: _Target | None = None
        self.pool: HTTPConnectionPool | None = None

    def pin(self, target: _Target) -> None:
        """Make `target` (already checked) the only destination of the next request."""
        self._close_pool()
        self._target = target

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        target = self._target
        if target is None or urlsplit(request.url).hostname != target.host:
            # Never connect anywhere that was not checked, whatever rewrote the request.
            raise BlockedURL("The request does not match the checked URL.", code="blocked_url")
        if self._proxied:
            pool = super().get_connection_with_tls_context(request, verify, proxies, cert)
            pool.conn_kw["deadline"] = self._deadline
            return pool
        if self.pool is None:
            self.pool = self._pinned_pool(request, verify, cert)
        return self.pool

    def proxy_manager_for(self, proxy, **proxy_kwargs):
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        manager.pool_classes_by_scheme = {"http": _WatchedHTTPPool, "https": _WatchedHTTPSPool}
        return manager

    def close(self) -> None:
        self._close_pool()
        super().close()

    def _pinned_pool(self, request, verify, cert) -> HTTPConnectionPool:
        target = self._target
        if target.scheme == "https":
            _, tls = self.build_connection_pool_key_attributes(request, verify, cert)
            return _WatchedHTTPSPool(
                target.address,
                target.port,
                maxsize=1,
                server_hostname=target.host,
                deadline=self._deadline,
                **tls,
            )
        return _WatchedHTTPPool(target.address, target.port, maxsize=1, deadline=self._deadline)

    def _close_pool(self) -> None:
        if self.pool is not None:
            self.pool.close()
            self.pool = None


def _new_session(kind: str, proxy_url: str | None) -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxy variables, no .netrc, no REQUESTS_CA_BUNDLE
    session.headers = {
        "User-Agent": getattr(settings, "PREVIEW_USER_AGENT", DEFAULT_USER_AGENT),
        "Accept": ACCEPT_HEADERS[kind],
        "Accept-Encoding": "gzip, deflate",
    }
    session.proxies = {"http": proxy_url, "https": proxy_url} if proxy_url else {}
    session.verify = getattr(settings, "PREVIEW_FETCH_CA_BUNDLE", None) or True
    return session


# --- fetch -------------------------------------------------------------------------------


def fetch(
    url: str,
    *,
    kind: str = "page",
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int | None = None,
) -> FetchResult:
    """Fetch `url` safely; see the module docstring for every rule.

    `kind` is "page" (HTML, decoded to text), "image", "json" (oEmbed, at most 1 MB) or
    "video" (MP4, MOV, WebM, MKV under PREVIEW_FETCH_VIDEO_MAX_BYTES and
    PREVIEW_FETCH_VIDEO_TOTAL_TIMEOUT instead of the page limits).
    `etag` and `last_modified` make the request conditional; a 304 answer comes back with
    `not_modified=True` and no content. `max_bytes` can only lower the configured limit.
    Raises a `FetchError` subclass on every failure.
    """
    if kind not in ACCEPTED_TYPES:
        raise ValueError(f"Unknown fetch kind {kind!r}.")
    limits = _Limits.for_kind(kind, max_bytes)
    proxy_url = getattr(settings, "PREVIEW_PROXY_URL", None) or None
    headers = {"If-None-Match": etag, "If-Modified-Since": last_modified}
    deadline = _Deadline(limits.total_timeout)
    session = _new_session(kind, proxy_url)
    adapter = GuardedAdapter(deadline=deadline, proxied=bool(proxy_url))
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    started = time.monotonic()
    host = None
    redirects: list[str] = []
    try:
        current = url
        for _hop in range(limits.max_redirects + 1):
            target = _parse_url(current)
            host = target.host
            deadline.check()
            target = _check(target)
            adapter.pin(target)
            response = _send(session, target, headers, deadline, limits)
            location = _redirect_location(response)
            if location is None:
                result = _finish(response, target, kind, deadline, limits, redirects)
                _log_done(result, host, started)
                return result
            response.close()
            redirects.append(target.url)
            current = urljoin(target.url, location)
        raise TooManyRedirects(f"More than {limits.max_redirects} redirects.")
    except FetchError as exc:
        _log_failure(exc, host)
        raise
    finally:
        session.close()
        deadline.close()


def _send(session, target: _Target, headers, deadline: _Deadline, limits: _Limits):
    request = requests.Request("GET", target.url, headers={**headers, "Host": target.host_header})
    prepared = session.prepare_request(request)
    remaining = deadline.remaining()
    timeout = (min(limits.connect_timeout, remaining), remaining)
    try:
        return session.send(prepared, allow_redirects=False, stream=True, timeout=timeout)
    except requests.RequestException as exc:
        raise _translate(exc, deadline) from exc


def _translate(exc: Exception, deadline: _Deadline) -> FetchError:
    """The FetchError for a transport failure; an expired deadline explains any of them."""
    if deadline.expired or deadline.remaining() <= 0:
        return FetchTimeout(f"The fetch took longer than {deadline.seconds:g} seconds.")
    if isinstance(exc, requests.exceptions.SSLError | urllib3.exceptions.SSLError):
        return FetchError("The TLS connection could not be verified.", code="tls_error")
    if isinstance(exc, requests.Timeout | urllib3.exceptions.TimeoutError):
        return FetchTimeout("The server took too long to answer.")
    if isinstance(exc, requests.exceptions.InvalidURL):
        return InvalidURL("The URL cannot be requested.")
    if isinstance(exc, requests.exceptions.ProxyError):
        return FetchError("The proxy refused the request.", code="proxy_error")
    if isinstance(exc, urllib3.exceptions.DecodeError):
        return FetchError("The body could not be decompressed.", code="decode_error")
    return FetchError("The connection failed.", code="connection_failed")


def _redirect_location(response) -> str | None:
    if response.status_code not in REDIRECT_STATUSES:
        return None
    location = response.headers.get("location")
    if not location:
        return None
    # Headers arrive as latin-1; servers send UTF-8 URLs in them (requests does the same).
    try:
        return location.encode("latin-1").decode("utf-8")
    except UnicodeError:
        return location


def _finish(response, target, kind, deadline, limits, redirects) -> FetchResult:
    """Check the final response and read its body."""
    headers = {name.lower(): value for name, value in response.headers.items()}
    media_type, charset = _parse_content_type(headers.get("content-type", ""))
    base = {
        "final_url": target.url,
        "status_code": response.status_code,
        "headers": headers,
        "content_type": media_type or None,
        "redirects": redirects,
    }
    if response.status_code == 304:
        response.close()
        return FetchResult(**base, content=b"", text=None, encoding=None, not_modified=True)
    if not 200 <= response.status_code < 300:
        response.close()
        raise HTTPStatusError(response.status_code)
    if media_type not in ACCEPTED_TYPES[kind]:
        response.close()
        raise UnsupportedContent(f"Content type {media_type[:100] or 'none'!r} is not accepted.")
    encodings = {e.strip().lower() for e in headers.get("content-encoding", "").split(",")}
    if not encodings <= ACCEPTED_ENCODINGS:
        response.close()
        raise UnsupportedContent("The content encoding is not supported.")
    content = _read_body(response, deadline, limits.max_bytes)
    text, encoding = None, None
    if kind == "page":
        text, encoding = decode_html(content, charset)
    elif kind == "json":
        text, encoding = _decode_json(content, charset)
    return FetchResult(**base, content=content, text=text, encoding=encoding)


def _read_body(response, deadline: _Deadline, max_bytes: int) -> bytes:
    """Stream the body, decompressing, and stop as soon as it passes `max_bytes`.

    urllib3 decompresses at most one chunk's worth per read, so a gzip bomb is cut after
    `max_bytes` of output, not after inflating it whole.
    """
    too_large = TooLarge(f"The body is larger than {max_bytes} bytes.")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        response.close()
        raise too_large
    chunks, size = [], 0
    try:
        for chunk in response.raw.stream(CHUNK_SIZE, decode_content=True):
            size += len(chunk)
            if size > max_bytes:
                raise too_large
            chunks.append(chunk)
            deadline.check()
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _translate(exc, deadline) from exc
    finally:
        response.close()
    deadline.check()  # a body cut short by the deadline must not pass as complete
    return b"".join(chunks)


def _log_failure(exc: FetchError, host: str | None) -> None:
    """Log the host only: paths and query strings can carry tokens."""
    if isinstance(exc, BlockedURL):
        extra = {"host": host, "code": exc.code, "reason": exc.reason}
        logger.info("preview.fetch.blocked", extra=extra)
    else:
        logger.info("preview.fetch.failed", extra={"host": host, "code": exc.code})


def _log_done(result: FetchResult, host: str, started: float) -> None:
    logger.info(
        "preview.fetch.done",
        extra={
            "host": host,
            "status": result.status_code,
            "bytes": len(result.content),
            "redirects": len(result.redirects),
            "elapsed_ms": round((time.monotonic() - started) * 1000),
        },
    )


# --- decoding ----------------------------------------------------------------------------

_CHARSET_PARAM = re.compile(r"""charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([\w.:-]+)""", re.IGNORECASE)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Labels browsers read as a wider encoding than the name says (WHATWG Encoding Standard):
# pages labelled latin-1 are written in windows-1252, Shift_JIS pages in windows-31j.
_BROWSER_ALIASES = {
    "iso-8859-1": "cp1252",
    "latin-1": "cp1252",
    "latin1": "cp1252",
    "us-ascii": "cp1252",
    "ascii": "cp1252",
    "shift_jis": "cp932",
    "shift-jis": "cp932",
    "sjis": "cp932",
    "x-sjis": "cp932",
    "windows-31j": "cp932",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "euc-kr": "cp949",
    "tis-620": "cp874",
}


def _parse_content_type(value: str) -> tuple[str, str | None]:
    media_type = value.split(";", 1)[0].strip().lower()
    match = _CHARSET_PARAM.search(value)
    return media_type, match.group(1) if match else None


def _codec(label: str | None) -> str | None:
    """The Python codec for a charset label, or None if Python does not know it."""
    if not label:
        return None
    label = label.strip().lower()
    label = _BROWSER_ALIASES.get(label, label)
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def decode_html(content: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """Decode an HTML body; return the text and the codec used.

    The order follows the HTML standard: a byte order mark, then the charset in the
    Content-Type header, then a `<meta charset>` or `<meta http-equiv>` in the first 2 KB,
    then detection. A BOM comes first because it cannot be there by accident, while
    headers are often a server default that ignores what the file really holds. A meta tag
    declaring UTF-16 in a body without a BOM is read as UTF-8, as browsers do.
    """
    for bom, codec in _BOMS:
        if content.startswith(bom):
            return content[len(bom) :].decode(codec, errors="replace"), codec
    codec = _codec(header_charset)
    if codec is None:
        match = _META_CHARSET.search(content[:META_SNIFF_BYTES])
        codec = _codec(match.group(1).decode("ascii")) if match else None
        if codec and codec.startswith("utf-16"):
            codec = "utf-8"
    if codec is None:
        codec = _detect(content)
    return content.decode(codec, errors="replace"), codec


def _detect(content: bytes) -> str:
    """UTF-8 when the bytes are valid UTF-8 (most pages), else charset-normalizer's guess."""
    try:
        content.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        pass
    best = charset_normalizer.from_bytes(content[:DETECT_SNIFF_BYTES]).best()
    return _codec(best.encoding if best else None) or "utf-8"


def _decode_json(content: bytes, header_charset: str | None) -> tuple[str, str]:
    """JSON is UTF-8 (RFC 8259); a declared charset or BOM is honoured when present."""
    if content.startswith(codecs.BOM_UTF8):
        return content[3:].decode("utf-8", errors="replace"), "utf-8"
    codec = _codec(header_charset) or "utf-8"
    return content.decode(codec, errors="replace"), codec
