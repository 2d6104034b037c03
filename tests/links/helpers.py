from urllib.parse import parse_qs, urlsplit

from links import clicks

MOBILE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
)
ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Mobile Safari/537.36"
)
DESKTOP_CHROME = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0.0.0 Safari/537.36"
)
TIKTOK_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_31.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US BytedanceWebview/d8a21c6"
)
INSTAGRAM_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Instagram 307.0.0.34.111 (iPhone14,5; iOS 17_1; en_US)"
)
FACEBOOK_ANDROID = (
    "Mozilla/5.0 (Linux; Android 13; SM-G991B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/119.0 Mobile Safari/537.36 [FB_IAB/FB4A;FBAV/442.0.0.33.118;]"
)
SNAPCHAT_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Snapchat/12.60.0.39 (like Safari/8617.2.4.10.8, panda)"
)
PINTEREST_ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/120.0 Mobile Safari/537.36 [Pinterest/Android]"
)
X_IOS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 Twitter for iPhone/10.20"
)


def human(client, path, user_agent=MOBILE_SAFARI, **extra):
    return client.get(path, HTTP_USER_AGENT=user_agent, **extra)


def query_of(response) -> dict:
    return {
        k: v[0] if len(v) == 1 else v
        for k, v in parse_qs(urlsplit(response["Location"]).query).items()
    }


def drain_all() -> int:
    assert clicks.flush(), "clicks did not reach the Redis buffer"
    return clicks.drain(time_budget=30)
