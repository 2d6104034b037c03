"""Validation of the URLs a short link may send shoppers to.

A destination is checked once, when it is saved, and stored in a normal form; the redirect
only appends query parameters to it and re-checks its host. The rules:

- `http` or `https` only, with a host (`//evil.com` and `https:evil.com` have none);
- no credentials (`user@host`), no backslashes, no whitespace or control characters, which
  browsers "repair" in ways that change the host;
- the host normalised (case, trailing dot, IDN to punycode) and on the merchant's list of
  allowed destination domains. A lookalike IDN becomes a different punycode name, so it is not
  on the list.
"""

import re
from urllib.parse import quote, urlsplit, urlunsplit

import idna
from django.core.exceptions import ValidationError

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


def host_is_allowed(host: str, allowed: dict[str, bool]) -> bool:
    """`allowed` maps a normalised domain to whether its subdomains are allowed too."""
    if host in allowed:
        return True
    parts = host.split(".")
    for i in range(1, len(parts) - 1):
        parent = ".".join(parts[i:])
        if allowed.get(parent):
            return True
    return False


def normalize_destination(url: str, *, allowed: dict[str, bool]) -> str:
    """The normal form of `url`, or ValidationError saying which rule it breaks."""
    if not isinstance(url, str) or not url:
        raise ValidationError("Enter a destination URL.", code="url_empty")
    if len(url) > MAX_URL_LENGTH:
        raise ValidationError(
            "The URL is longer than %(max)d characters.",
            code="url_too_long",
            params={"max": MAX_URL_LENGTH},
        )
    if _FORBIDDEN.search(url):
        raise ValidationError(
            "The URL contains a space, a control character or a backslash.", code="url_characters"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError("The URL is malformed: %(why)s.", code="url_malformed",
                              params={"why": exc}) from exc  # fmt: skip
    if parts.scheme.lower() not in ("http", "https"):
        raise ValidationError("Only http and https URLs are allowed.", code="url_scheme")
    if not parts.netloc or not parts.hostname:
        raise ValidationError("The URL has no host (it must start with https://host/).",
                              code="url_no_host")  # fmt: skip
    if "@" in parts.netloc:
        raise ValidationError("The URL must not contain a user name or password.",
                              code="url_credentials")  # fmt: skip
    try:
        host = normalize_host(parts.hostname)
    except ValueError as exc:
        raise ValidationError("The URL's host is not valid: %(why)s.", code="url_host",
                              params={"why": exc}) from exc  # fmt: skip
    if not host_is_allowed(host, allowed):
        raise ValidationError(
            "%(host)s is not on the list of allowed destination domains.",
            code="url_host_not_allowed",
            params={"host": host},
        )
    scheme = parts.scheme.lower()
    netloc = host if port in (None, 80 if scheme == "http" else 443) else f"{host}:{port}"
    # Re-quote the path, query and fragment so that what is stored is unambiguous ASCII.
    path = quote(parts.path or "/", safe="/%:@!$&'()*+,;=-._~")
    query = quote(parts.query, safe="=&%:@!$'()*+,;/?-._~")
    fragment = quote(parts.fragment, safe="=&%:@!$'()*+,;/?-._~")
    return urlunsplit((scheme, netloc, path, query, fragment))
