"""The link edge: a WSGI application in front of Django that answers a shopper's `/p/<code>`
itself, and hands every other request to Django unchanged.

`config/wsgi.py` serves `LinkEdge(get_wsgi_application())`, so gunicorn runs it for every
request. It answers only the redirect's fast path, a request that is all of:
- a GET of exactly `/p/<code>` (the URL conf's pattern), from a visitor that is not a crawler;
- for a link whose snapshot is cached (in this process or the shared cache) and live;
- with a Host that ALLOWED_HOSTS accepts, no HTTPS redirect due (SECURE_SSL_REDIRECT), no
  PREPEND_WWW redirect or DISALLOWED_USER_AGENTS match: the edge runs Django's own
  SecurityMiddleware and CommonMiddleware request checks, and any answer or error from them
  sends the request to Django;
- carrying no session or CSRF cookie (Django's middleware could answer with a cookie of its
  own for those);
- to a destination that is an absolute URL;
- under a MIDDLEWARE list the edge knows: each class is either run by the edge (security,
  common, X-Frame-Options, with Django's own code) or has nothing to do with this request
  (WhiteNoise outside STATIC_URL, sessions, CSRF on a GET, authentication, messages). With
  any other middleware configured the edge steps aside for every request and says so once.

Everything else goes to Django: crawlers and unfurl pages, HEAD, POST, 404/410/503 pages,
expired links, QR codes, a link not cached yet (Django builds and caches its snapshot), and
any error while planning. The decision itself is links/redirect.py's, the one the Django view
makes, and the response is the same Django HttpResponseRedirect with the same cookies, passed
through the same middleware's `process_response`: same status, Location, cookies and headers.
(The edge writes them without building a response object each time: the headers the
middleware adds to a 302 are taken once from those middleware's `process_response`, per
secure or plain request, and the cookies are written as Django writes them; tests compare the
two entries header by header.)
The edge never opens a database connection, so it skips Django's request_started and
request_finished signals, whose receivers close database connections.

`LINK_EDGE=false` turns it off (every request then goes to Django).
"""

import logging
import re
import time
from types import SimpleNamespace

from django.conf import settings
from django.core.handlers.wsgi import WSGIRequest
from django.core.signals import setting_changed
from django.utils.encoding import iri_to_uri
from django.utils.module_loading import import_string

from links import clicks, redirect, snapshots
from links.visitors import classify

logger = logging.getLogger(__name__)

PATH = re.compile(r"/p/([A-Za-z0-9_-]{1,50})")  # as links/urls.py, matched whole

# Middleware whose request and response hooks the edge runs itself, in MIDDLEWARE order.
RUN = {
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
}
# Middleware that does nothing to a cookie-less GET of /p/<code> answered by the redirect.
INERT = {
    "whitenoise.middleware.WhiteNoiseMiddleware",  # serves files under STATIC_URL only
    "django.contrib.sessions.middleware.SessionMiddleware",  # session neither read nor sent
    "django.middleware.csrf.CsrfViewMiddleware",  # a safe method; no token read or sent
    "django.contrib.auth.middleware.AuthenticationMiddleware",  # request.user never read
    "django.contrib.messages.middleware.MessageMiddleware",  # no message added or read
    "creators.portal.middleware.PortalCSPMiddleware",  # acts on /creators/ paths only
    "axes.middleware.AxesMiddleware",  # acts only on a login that axes locked out
}

_generation = 0  # bumped when a setting changes (tests), so the edge reloads its middleware


def _settings_changed(**kwargs) -> None:
    global _generation
    _generation += 1


setting_changed.connect(_settings_changed)


def _no_response(request):  # pragma: no cover - the edge never calls the next layer
    raise AssertionError("the link edge runs middleware hooks only")


class LinkEdge:
    def __init__(self, application):
        self.application = application
        self._loaded_at = -1
        self._setup = None  # (request checks, headers added per secure/plain), or None

    def __call__(self, environ, start_response):
        headers = self.answer(environ) if environ.get("REQUEST_METHOD") == "GET" else None
        if headers is None:
            return self.application(environ, start_response)
        start_response("302 Found", headers)
        return [b""]

    def setup(self):
        if self._loaded_at != _generation:
            self._setup = self._load()
            self._loaded_at = _generation
        return self._setup

    def _load(self):
        if not settings.LINK_EDGE:
            return None
        unknown = [path for path in settings.MIDDLEWARE if path not in RUN | INERT]
        static = settings.STATIC_URL or ""
        serves_p = (static.startswith("/") and "/p/".startswith(static)) or getattr(
            settings, "WHITENOISE_ROOT", None
        )
        if unknown or settings.CSRF_USE_SESSIONS or serves_p:
            logger.warning("link_edge.off", extra={"middleware": unknown})
            return None
        instances = [import_string(path)(_no_response) for path in settings.MIDDLEWARE
                     if path in RUN]  # fmt: skip
        checks = [m.process_request for m in instances if hasattr(m, "process_request")]
        added = {secure: _added_headers(instances, secure) for secure in (False, True)}
        return checks, added

    def answer(self, environ) -> list | None:
        """The 302's headers for a shopper's GET of a live, cached link; None to let Django
        answer. The click is recorded only when the edge answers."""
        match = PATH.fullmatch(environ.get("PATH_INFO", ""))
        if match is None:
            return None
        setup = self.setup()
        if setup is None:
            return None
        now = time.time()
        snapshot = snapshots.cached(match[1])
        if (
            snapshot is None
            or snapshot.get("missing")
            or redirect.state(snapshot, now) != redirect.LIVE
        ):
            return None
        try:
            request = WSGIRequest(dict(environ))  # Django's own request, on a copy
            checks, added = setup
            for check in checks:
                if check(request) is not None:  # a redirect to HTTPS or to www.
                    return None
            cookies = request.COOKIES
            if settings.SESSION_COOKIE_NAME in cookies or settings.CSRF_COOKIE_NAME in cookies:
                return None
            user_agent = request.META.get("HTTP_USER_AGENT", "")[:512]
            agent = classify(user_agent)
            if agent.is_bot:
                return None
            visit = redirect.plan(request, snapshot, agent=agent, user_agent=user_agent, now=now)
            location = iri_to_uri(visit.location)  # as HttpResponseRedirect does
            if visit.relative or not location.startswith(("https://", "http://")):
                return None
            if "\n" in location or "\r" in location:  # pragma: no cover - never stored
                return None
            secure = request.is_secure()
            headers = [
                ("Content-Type", _content_type()),
                ("Location", location),
                ("Cache-Control", redirect.NO_STORE),
                *added[secure],
                *redirect.set_cookie_headers(visit, secure=secure, now=now),
            ]
        except Exception:  # DisallowedHost, PermissionDenied, or a bug: Django answers it
            logger.debug("link_edge.handed_to_django", exc_info=True)
            return None
        clicks.record(visit.click)  # recorded once, here: Django never sees this request
        return headers


def _content_type() -> str:
    return f"text/html; charset={settings.DEFAULT_CHARSET}"


def _added_headers(instances, secure: bool) -> list[tuple[str, str]]:
    """The headers the middleware's `process_response` add to the redirect's 302, run once on
    a model response (they depend on the request only through `is_secure()`)."""
    response = redirect.redirect_response("https://example.com/")
    before = set(response.headers)
    request = SimpleNamespace(is_secure=lambda: secure)
    for middleware in reversed(instances):
        response = middleware.process_response(request, response)
    return [(name, value) for name, value in response.items() if name not in before]
