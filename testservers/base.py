"""A local HTTP server that speaks one outside platform's protocol, for tests, benches and demo.

Each platform module (`testservers/stripe.py`, ...) subclasses `PlatformServer` and declares
its endpoints with `@route(method, path_regex)`. A handler receives a `Request` and returns
a `Response` (or raises `HTTPError` with the platform's own error shape). The server:

- runs in a daemon thread on 127.0.0.1 and an ephemeral port (`server.url`), or stand-alone
  for the demo (`python -m testservers <platform> --port N`);
- records every request (`server.requests`) so tests can check what Shoploop sent;
- can fail on purpose: `fail_next(n, status, body, headers)` answers the next n matching
  requests with an error, `fail_rate` fails a seeded random fraction;
- enforces rate limits with a token bucket per key (`RateLimiter`), answering 429 with
  `Retry-After` as the platforms do.

It is not a mock of Shoploop's code: Shoploop reaches it over real HTTP through the same
configurable base URL it uses for the real platform.
"""

from __future__ import annotations

import json
import random
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # named groups of the route
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode()).items()}

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else default


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict | list | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        body = self.body
        if isinstance(body, dict | list):
            body = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        return body or b"", headers


class HTTPError(Exception):
    """Raised by a handler to answer with an error in the platform's shape."""

    def __init__(self, status: int, body=None, headers: dict[str, str] | None = None):
        super().__init__(status)
        self.response = Response(status, body, headers or {})


def route(method: str, pattern: str):
    """Declare a handler for `method` and a path regex (named groups become `request.params`)."""

    def decorate(handler):
        handler._route = (method.upper(), re.compile(f"^{pattern}$"))
        return handler

    return decorate


class RateLimiter:
    """A token bucket per key: `rate` requests a second with bursts up to `burst`."""

    def __init__(self, rate: float, burst: int | None = None):
        self.rate = rate
        self.burst = burst if burst is not None else max(1, int(rate))
        self._buckets: dict[str, tuple[float, float]] = {}
        self._lock = threading.Lock()
        self.throttled = 0

    def take(self, key: str) -> float:
        """0 if the request may go ahead, else the seconds until a token is free."""
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - last) * self.rate)
            if tokens >= 1:
                self._buckets[key] = (tokens - 1, now)
                return 0.0
            self._buckets[key] = (tokens, now)
            self.throttled += 1
            return (1 - tokens) / self.rate


@dataclass
class _Failure:
    count: int
    status: int
    body: object
    headers: dict[str, str]
    path: re.Pattern | None


class PlatformServer:
    """Base of every platform's test server. Subclasses add `@route` handlers."""

    name = "platform"

    def __init__(self, *, host: str = "127.0.0.1", port: int = 0, seed: int = 0):
        self.host, self.port = host, port
        self.requests: list[Request] = []
        self.fail_rate = 0.0
        self._random = random.Random(seed)  # noqa: S311 - failure injection, not security
        self._failures: list[_Failure] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._routes = [
            (getattr(self, name)._route, getattr(self, name))
            for name in dir(type(self))
            if hasattr(getattr(type(self), name), "_route")
        ]

    # -- lifecycle ----------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._httpd is None:
            raise RuntimeError(f"{self.name} test server is not running")
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    def start(self) -> PlatformServer:
        self._httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, name=f"{self.name}-test-server", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def serve_forever(self) -> None:
        """Run in the foreground (the demo's stand-alone servers)."""
        self._httpd = ThreadingHTTPServer((self.host, self.port), self._handler_class())
        self._httpd.daemon_threads = True
        self._httpd.serve_forever()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- failure injection ----------------------------------------------------------------
    def fail_next(
        self, count: int = 1, *, status: int = 500, body=None, headers=None, path: str = ""
    ) -> None:
        """Answer the next `count` requests (whose path matches `path`, if given) with an error."""
        with self._lock:
            self._failures.append(
                _Failure(count, status, body, headers or {}, re.compile(path) if path else None)
            )

    def _injected_failure(self, request: Request) -> Response | None:
        with self._lock:
            for failure in self._failures:
                if failure.path is None or failure.path.search(request.path):
                    failure.count -= 1
                    if failure.count <= 0:
                        self._failures.remove(failure)
                    return Response(failure.status, failure.body, dict(failure.headers))
            if self.fail_rate and self._random.random() < self.fail_rate:
                return self.random_failure(request)
        return None

    def random_failure(self, request: Request) -> Response:
        """What a request failed by `fail_rate` gets; platforms override with their shape."""
        return Response(503, {"error": "service unavailable (injected)"})

    # -- helpers for tests ------------------------------------------------------------------
    def requests_to(self, pattern: str, method: str | None = None) -> list[Request]:
        regex = re.compile(pattern)
        return [
            r for r in list(self.requests)
            if regex.search(r.path) and (method is None or r.method == method)
        ]  # fmt: skip

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._failures.clear()
            self.fail_rate = 0.0

    # -- dispatch ---------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        self.requests.append(request)
        failure = self._injected_failure(request)
        if failure is not None:
            return failure
        allowed = []
        for (method, regex), handler in self._routes:
            match = regex.match(request.path)
            if not match:
                continue
            if method != request.method:
                allowed.append(method)
                continue
            request.params = match.groupdict()
            try:
                result = handler(request)
            except HTTPError as exc:
                return exc.response
            return result if isinstance(result, Response) else Response(200, result)
        if allowed:
            return self.error(405, "method not allowed")
        return self.error(404, f"no such endpoint: {request.method} {request.path}")

    def error(self, status: int, message: str) -> Response:
        """An error in the platform's shape; platforms override it."""
        return Response(status, {"error": message})

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    response = server.dispatch(request)
                except Exception as exc:  # a bug in the test server: say so loudly
                    response = Response(500, {"error": f"test server bug: {exc!r}"})
                payload, headers = response.encoded()
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve  # noqa: N815

            def log_message(self, format, *args):  # quiet: tests read server.requests
                pass

        return Handler


class FileCDN:
    """A platform's CDN for the files its answers link (media, covers): `GET /cdn/<name>`
    answers what the server keeps in `self.files` (name -> (content type, bytes))."""

    files: dict[str, tuple[str, bytes]]

    @route("GET", r"/cdn/(?P<name>[\w.-]+)")
    def cdn(self, request):
        found = self.files.get(request.params["name"])
        if found is None:
            return Response(404, "Not found")
        return Response(200, found[1], {"Content-Type": found[0]})


def run_standalone(factory: Callable[..., PlatformServer], argv: list[str] | None = None):
    """`python -m testservers.<platform> --port N`: serve until interrupted (the demo)."""
    import argparse

    parser = argparse.ArgumentParser(description=f"Serve the {factory.name} test server.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    server = factory(host=args.host, port=args.port)
    print(f"{factory.name} test server on http://{args.host}:{args.port}", flush=True)  # noqa: T201
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
