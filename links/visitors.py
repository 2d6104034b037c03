"""Who is clicking: bot or shopper, device, OS, browser, in-app browser, network.

Bots are recognised by crawlerdetect (a maintained list of crawler patterns, including the
link-preview fetchers of Facebook, X, Slack, WhatsApp, Telegram, Discord, LinkedIn, Apple,
Pinterest and TikTok); devices and browsers by ua-parser (the uap-core regexes). Results are
cached per user-agent string: a viral link sees the same few thousand strings again and again.
"""

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache

from crawlerdetect import CrawlerDetect
from django.conf import settings
from django.core.cache import cache
from ua_parser import parse as parse_user_agent

_crawlers = CrawlerDetect()

# In-app browsers: ua-parser's browser family first, then tokens the apps put in their UA.
IN_APP_FAMILIES = {
    "TikTok": "tiktok", "Instagram": "instagram", "Facebook": "facebook",
    "Snapchat": "snapchat", "Pinterest": "pinterest", "Twitter": "x",
}  # fmt: skip
IN_APP_TOKENS = (
    ("musical_ly", "tiktok"), ("BytedanceWebview", "tiktok"), ("TikTok", "tiktok"),
    ("Instagram", "instagram"), ("FBAN/", "facebook"), ("FBAV/", "facebook"),
    ("FB_IAB", "facebook"), ("Snapchat", "snapchat"), ("Pinterest/", "pinterest"),
    ("Twitter for", "x"), ("TwitterAndroid", "x"),
)  # fmt: skip


@dataclass(frozen=True)
class Agent:
    is_bot: bool
    device_type: str  # mobile, tablet, desktop or bot
    os: str  # ua-parser's OS family: iOS, Android, Windows, Mac OS X, ...
    os_group: str  # ios, android or desktop, as routing rules name them
    browser: str
    in_app: str  # tiktok, instagram, facebook, snapchat, pinterest, x or ""


@lru_cache(maxsize=8192)
def classify(user_agent: str) -> Agent:
    parsed = parse_user_agent(user_agent)
    os_family = parsed.os.family if parsed.os else ""
    browser = parsed.user_agent.family if parsed.user_agent else ""
    if not user_agent.strip() or _crawlers.isCrawler(user_agent):
        return Agent(True, "bot", "", "", (browser or "unknown bot")[:60], "")
    device = parsed.device.family if parsed.device else ""
    in_app = IN_APP_FAMILIES.get(browser, "") or next(
        (app for token, app in IN_APP_TOKENS if token in user_agent), ""
    )
    if os_family == "iOS" or os_family == "iPadOS":
        os_group = "ios"
        device_type = "tablet" if "iPad" in device or "iPad" in user_agent else "mobile"
    elif os_family == "Android":
        os_group = "android"
        device_type = "mobile" if "Mobile" in user_agent else "tablet"
    else:
        os_group = "desktop"
        device_type = "desktop"
    return Agent(False, device_type, os_family[:40], os_group, browser[:60], in_app)


def _candidate_ip(request) -> str:
    header = settings.CLIENT_IP_HEADER
    addresses = [a.strip() for a in request.META.get(header, "").split(",")] if header else []
    hops = settings.CLIENT_IP_HOPS
    candidate = addresses[-hops] if len(addresses) >= hops else ""
    return candidate or request.META.get("REMOTE_ADDR", "")


def client_ip(request) -> str:
    """The visitor's IP: from the header the edge sets (CLIENT_IP_HEADER), else the socket.

    In a list such as X-Forwarded-For only the address CLIENT_IP_HOPS from the right is
    trusted: it was appended by our own proxy; addresses to its left are the client's word.
    """
    return client_address(request)[0]


def network_of(ip: str) -> str:
    """The /24 (IPv4) or /48 (IPv6) the address is in: enough for geography, not a person."""
    if not ip:
        return ""
    address = ipaddress.ip_address(ip)
    if address.version == 4:
        return str(ipaddress.IPv4Network((int(address), 24), strict=False))
    return str(ipaddress.IPv6Network((int(address), 48), strict=False))  # any %scope dropped


_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
# An IPv4 address already in the one form ipaddress would print (no leading zeros).
_CANONICAL_V4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")


def client_address(request) -> tuple[str, str]:
    """(IP, its network) as `client_ip` and `network_of` give them; ("", "") if unknown.

    The common case, a canonical IPv4 address, is read without the ipaddress module, which
    costs more than the rest of the click put together.
    """
    candidate = _candidate_ip(request)
    match = _CANONICAL_V4.fullmatch(candidate)
    if match is not None:
        return candidate, f"{match[1]}.{match[2]}.{match[3]}.0/24"
    try:
        ip = str(ipaddress.ip_address(candidate))
    except ValueError:
        return "", ""
    return ip, network_of(ip)


_day_keys: dict[str, bytes] = {}


def day_key(day: str) -> bytes | None:
    """A random key for `day`, shared by all processes through the cache and then forgotten.

    None when the cache cannot be reached: no hash is better than one processes disagree on.
    """
    key = _day_keys.get(day)
    if key is None:
        try:
            stored = cache.get_or_set(f"links:visitor-key:{day}", secrets.token_hex(32), 2 * 86400)
        except Exception:
            return None
        key = bytes.fromhex(stored)
        _day_keys.clear()  # only today's key is kept in memory
        _day_keys[day] = key
    return key


_day_names: tuple[int, str] = (-1, "")


def _day_name(at: float) -> str:
    """`at` (a Unix time) as its UTC day, `YYYY-MM-DD`; formatted once a day."""
    global _day_names
    number = int(at // 86400)
    cached = _day_names
    if cached[0] != number:
        cached = _day_names = (number, datetime.fromtimestamp(at, UTC).strftime("%Y-%m-%d"))
    return cached[1]


def visitor_hash(
    ip: str, user_agent: str, *, now: datetime | None = None, at: float | None = None
) -> str:
    """A keyed hash of who is visiting; the key changes every day (UTC). Empty if unknown.

    `now` (a datetime) or `at` (a Unix time) says when; by default, now.
    """
    if now is not None:
        day = now.astimezone(UTC).strftime("%Y-%m-%d")
    else:
        day = _day_name(time.time() if at is None else at)
    key = day_key(day)
    if key is None or not ip:
        return ""
    return hmac.new(key, f"{ip}|{user_agent}".encode(), hashlib.sha256).hexdigest()[:32]
