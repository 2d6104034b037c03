"""Absolute URLs for what leaves the site: og:url, og:image, short links, QR codes, emails."""

from django.conf import settings


def absolute_url(path_or_url: str, request=None) -> str:
    """Make a path absolute with PUBLIC_BASE_URL, else the request's scheme and host."""
    if path_or_url.startswith(("http://", "https://")):
        return path_or_url
    if settings.PUBLIC_BASE_URL:
        return settings.PUBLIC_BASE_URL + path_or_url
    if request is not None:
        return request.build_absolute_uri(path_or_url)
    raise ValueError("PUBLIC_BASE_URL is not set and there is no request to take a host from")
