"""Local HTTP(S) servers for the fetcher tests. Nothing here reaches beyond 127.0.0.1."""

import http.server
import re
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import pytest


@dataclass
class Seen:
    """One request as the server saw it."""

    path: str
    headers: dict[str, str]


@dataclass
class LocalServer:
    """An http.server on 127.0.0.1 in a thread, answering from a table of routes.

    A route is a function taking the request handler; `page`, `redirect` and `reply` build
    the common ones.
    """

    routes: dict[str, Callable] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)
    port: int = 0
    scheme: str = "http"

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"{self.scheme}://{host}:{self.port}{path}"

    def reply(self, path, *, status=200, body=b"", headers=None, length=True):
        def route(handler):
            handler.send_response(status)
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            if length:
                handler.send_header("Content-Length", str(len(body)))
            else:
                handler.send_header("Connection", "close")
                handler.close_connection = True
            handler.end_headers()
            handler.wfile.write(body)

        self.routes[path] = route

    def page(self, path, body, content_type="text/html; charset=utf-8", **kwargs):
        body = body.encode() if isinstance(body, str) else body
        self.reply(path, body=body, headers={"Content-Type": content_type}, **kwargs)

    def redirect(self, path, location, status=302):
        self.reply(path, status=status, headers={"Location": location})


def _handler_class(server: LocalServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # the name http.server calls
            server.seen.append(Seen(self.path, {k.lower(): v for k, v in self.headers.items()}))
            route = server.routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            try:
                route(self)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the fetcher hung up on purpose (size or time limit)

        def log_message(self, *args):
            pass

    return Handler


class _QuietServer(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients hang up mid-request on purpose (limits, refused certificates)


def start_server(server: LocalServer, wrap: Callable | None = None):
    httpd = _QuietServer(("127.0.0.1", 0), _handler_class(server))
    if wrap is not None:
        httpd.socket = wrap(httpd.socket)
    server.port = httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    return httpd


@pytest.fixture
def server():
    local = LocalServer()
    httpd = start_server(local)
    yield local
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allow_local(settings):
    """Let the fetcher reach 127.0.0.1, as only tests do."""
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


_LOCAL_HOST = re.compile(r"localhost|[0-9a-fA-FxX.:]+")


@pytest.fixture(autouse=True)
def _no_internet_dns(monkeypatch):
    """Fail any test that would resolve a real name: tests never reach the internet.

    Numeric spellings and localhost resolve locally, without DNS; test names go through
    `fake_dns`.
    """
    real = socket.getaddrinfo

    def guarded(host, *args, **kwargs):
        if host is None or _LOCAL_HOST.fullmatch(str(host)):
            return real(host, *args, **kwargs)
        raise AssertionError(f"a test tried to resolve {host!r}")

    monkeypatch.setattr(socket, "getaddrinfo", guarded)


@pytest.fixture
def fake_dns(monkeypatch):
    """Map test host names to addresses; everything else goes to the real resolver.

    `fake_dns["shop.test"] = ["127.0.0.1"]`; a list of lists answers successive lookups in
    turn. `fake_dns.lookups` counts lookups per name.
    """
    real = socket.getaddrinfo

    class FakeDNS(dict):
        lookups: dict[str, int] = {}

        def getaddrinfo(self, host, port, *args, **kwargs):
            if host not in self:
                return real(host, port, *args, **kwargs)
            count = self.lookups.get(host, 0)
            self.lookups[host] = count + 1
            answers = self[host]
            if answers and isinstance(answers[0], list):
                answers = answers[min(count, len(answers) - 1)]
            return [_addrinfo(address, port) for address in answers]

    dns = FakeDNS()
    dns.lookups = {}
    monkeypatch.setattr(socket, "getaddrinfo", dns.getaddrinfo)
    return dns


def _addrinfo(address: str, port):
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (address, port or 0, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port or 0))
