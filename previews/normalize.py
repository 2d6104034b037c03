"""The one form of a URL under which its preview is stored and cached.

The parsing and host rules are the fetcher's own (`previews.fetch.split_url`), so a URL is
stored under exactly the form the fetcher will check and fetch; this adds only what makes
two addresses of one page the same key: no fragment, no tracking parameters.
"""

from urllib.parse import parse_qsl, urlencode, urlunsplit

from previews.fetch import BlockedURL, InvalidURL, split_url

# Parameters that say where a click came from, not what the page is.
TRACKING_PARAMS = frozenset(
    """fbclid gclid gclsrc dclid gbraid wbraid ttclid twclid msclkid yclid mc_cid mc_eid
    igshid igsh _hsenc _hsmi li_fat_id srsltid scid epik rdt_cid vero_id oly_anon_id
    oly_enc_id wickedid slclid""".split()
)
MAX_LENGTH = 2048


def _is_tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered.startswith("utm_") or lowered in TRACKING_PARAMS


def normalize_url(url: str) -> str:
    """Scheme and host lower-cased, IDN to punycode, no trailing dot, IPv4 as a dotted
    quad, default port, fragment and tracking parameters dropped. Raises InvalidURL (with
    the reason) for anything else, a scheme other than http(s) and credentials included."""
    if not isinstance(url, str) or not url.strip():
        raise InvalidURL("Enter a URL.")
    url = url.strip()
    if len(url) > MAX_LENGTH:
        raise InvalidURL(f"The URL is longer than {MAX_LENGTH} characters.")
    try:
        parts = split_url(url)
    except BlockedURL as exc:  # a scheme or credentials: not a URL a preview is made of
        raise InvalidURL(exc.message, code=exc.code) from None
    query = urlencode(
        [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _is_tracking(k)]
    )
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
