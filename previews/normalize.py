"""The one form of a URL under which its preview is stored and cached."""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import idna

from previews.fetch import InvalidURL

# Parameters that say where a click came from, not what the page is.
TRACKING_PARAMS = frozenset(
    """fbclid gclid gclsrc dclid gbraid wbraid ttclid twclid msclkid yclid mc_cid mc_eid
    igshid igsh _hsenc _hsmi li_fat_id srsltid scid epik rdt_cid vero_id oly_anon_id
    oly_enc_id wickedid slclid""".split()
)
DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LENGTH = 2048


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, IDN to punycode, default port, fragment and tracking
    parameters dropped. Raises InvalidURL (with the reason) for anything else."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("Enter a URL.")
    url = url.strip()
    if len(url) > MAX_LENGTH:
        raise InvalidURL(f"The URL is longer than {MAX_LENGTH} characters.")
    if any(ord(c) < 0x21 or ord(c) == 0x7F for c in url):
        raise InvalidURL("The URL contains a space or a control character.")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise InvalidURL(f"The URL is malformed: {exc}.") from exc
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidURL("Only http and https URLs can be previewed.")
    if not parts.hostname:
        raise InvalidURL("The URL has no host.")
    if parts.username or parts.password:
        raise InvalidURL("The URL must not contain a user name or password.")
    try:
        host = idna.encode(parts.hostname.rstrip("."), uts46=True).decode("ascii")
    except idna.IDNAError:
        host = parts.hostname.rstrip(".").lower()  # IP literals and the like
        if not host or any(c not in "0123456789abcdefx.:[]" for c in host):
            raise InvalidURL("The URL's host is not a valid name.") from None
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((scheme, netloc, parts.path or "/", query, ""))
