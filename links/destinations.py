"""Validation of the URLs a short link may send shoppers to.

A destination is checked once, when it is saved, and stored in a normal form; the redirect
only appends query parameters to it and re-checks its host. The rules:

- `http` or `https` only, with a host (`//evil.com` and `https:evil.com` have none);
- no credentials (`user@host`), no backslashes, no whitespace or control characters, which
  browsers "repair" in ways that change the host;
- the host normalised (case, trailing dot, IDN to punycode) and on the merchant's list of
  allowed destination domains. A lookalike IDN becomes a different punycode name, so it is not
  on the list;
- the port the scheme's own (80 for http, 443 for https), or one the allowed domain names;
  port 0 and ports outside 1-65535 are never valid.

A broken rule is an `ApplicationError` whose code names it (`url_host_not_allowed`, ...);
the caller says which field it is about.
"""

import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit, urlunsplit

import idna

from core.errors import ApplicationError

MAX_URL_LENGTH = 2048
# Characters a URL may hold as typed; anything else (spaces, controls, backslash) is refused.
_FORBIDDEN = re.compile(
    r"[\x00-\x20\x7f-\x9f\\\u00a0\u1680\u2000-\u200f\u2028-\u202f\u205f-\u206f\u3000\ufeff]"
)
_HOST_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


def normalize_host(host: str) -> str:
    """Lower-case, drop a trailing dot, IDN to punycode. Raises ValueError if not a host name."""
    host = host.strip().rstrip(".").lower()
    if not host:
        raise ValueError("empty host")
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise ValueError(f"not a valid host name: {exc}") from exc
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or not all(_HOST_LABEL.match(label) for label in labels):
        raise ValueError("not a valid host name")
    return ascii_host


@dataclass(frozen=True)
class AllowedHost:
    """What an allowed domain lets links use: its subdomains too, and ports beyond the default."""

    include_subdomains: bool = False
    ports: frozenset[int] = field(default_factory=frozenset)


DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_ports(value: str) -> frozenset[int]:
    """`"8443, 8080"` -> {8443, 8080}. Raises ValueError naming a port that is not 1-65535."""
    ports = set()
    for item in value.replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        if not item.isdigit() or not 1 <= int(item) <= 65535:
            raise ValueError(f"{item} is not a port (1-65535)")
        ports.add(int(item))
    return frozenset(ports)


def allowed_entry(host: str, allowed: dict[str, AllowedHost]) -> AllowedHost | None:
    """The allowed domain that covers `host` (itself, or a parent allowing subdomains)."""
    if host in allowed:
        return allowed[host]
    parts = host.split(".")
    for i in range(1, len(parts) - 1):
        entry = allowed.get(".".join(parts[i:]))
        if entry is not None and entry.include_subdomains:
            return entry
    return None


def _error(message: str, code: str) -> ApplicationError:
    return ApplicationError(message, code=code)


def normalize_destination(url: str, *, allowed: dict[str, AllowedHost]) -> str:
    """The normal form of `url`, or ApplicationError whose code names the rule it breaks."""
    if not isinstance(url, str) or not url:
        raise _error("Enter a destination URL.", "url_empty")
    if len(url) > MAX_URL_LENGTH:
        raise _error(f"The URL is longer than {MAX_URL_LENGTH} characters.", "url_too_long")
    if _FORBIDDEN.search(url):
        raise _error(
            "The URL contains a space, a control character or a backslash.", "url_characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _error(f"The URL is malformed: {exc}.", "url_malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _error("Only http and https URLs are allowed.", "url_scheme")
    if not parts.netloc or not parts.hostname:
        raise _error("The URL has no host (it must start with https://host/).", "url_no_host")
    if "@" in parts.netloc:
        raise _error("The URL must not contain a user name or password.", "url_credentials")
    try:
        host = normalize_host(parts.hostname)
    except ValueError as exc:
        raise _error(f"The URL's host is not valid: {exc}.", "url_host") from exc
    entry = allowed_entry(host, allowed)
    if entry is None:
        raise _error(f"{host} is not on the list of allowed destination domains.",
                     "url_host_not_allowed")  # fmt: skip
    if port is not None and port != DEFAULT_PORTS[scheme] and port not in entry.ports:
        named = ", ".join(str(p) for p in sorted(entry.ports))
        raise _error(
            f"Port {port} is not allowed for {host}: {scheme} links use port "
            f"{DEFAULT_PORTS[scheme]}"
            + (f" or a port its allowed domain names ({named})." if named else
               ", unless its allowed domain names the port in Allowed domains."),
            "url_port",
        )  # fmt: skip
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    # Re-quote the path, query and fragment so that what is stored is unambiguous ASCII.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="=&%:@!$'()*+,;/?-._~")
    fragment = quote(parts.fragment, safe="=&%:@!$'()*+,;/?-._~")
    return urlunsplit((scheme, netloc, path, query, fragment))
