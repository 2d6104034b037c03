"""The base of the platforms' test servers: routing, recorded requests, failures, rate limits."""

import requests as _requests

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route


class _Client:
    """requests with a timeout on every call."""

    def get(self, url, **kwargs):
        return _requests.get(url, timeout=5, **kwargs)

    def post(self, url, **kwargs):
        return _requests.post(url, timeout=5, **kwargs)


requests = _Client()


class Echo(PlatformServer):
    name = "echo"

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.limiter = RateLimiter(rate=0.2, burst=2)  # a new token every 5 s

    @route("POST", r"/v1/things/(?P<thing_id>\w+)")
    def update(self, request):
        if request.headers.get("authorization") != "Bearer good":
            raise HTTPError(401, {"error": "bad token"})
        return {"id": request.params["thing_id"], "got": request.json()}

    @route("GET", r"/v1/limited")
    def limited(self, request):
        wait = self.limiter.take("account-1")
        if wait:
            return Response(429, {"error": "slow down"}, {"Retry-After": str(int(wait) + 1)})
        return {"ok": True}


def test_routes_params_errors_and_recorded_requests():
    with Echo() as server:
        ok = requests.post(
            f"{server.url}/v1/things/abc", json={"a": 1}, headers={"Authorization": "Bearer good"}
        )
        assert ok.json() == {"id": "abc", "got": {"a": 1}}
        assert requests.post(f"{server.url}/v1/things/abc", json={}).status_code == 401
        assert requests.get(f"{server.url}/v1/things/abc").status_code == 405
        assert requests.get(f"{server.url}/nope").status_code == 404
        assert len(server.requests_to(r"^/v1/things/", "POST")) == 2


def test_injected_failures_and_rate_limits():
    with Echo() as server:
        server.fail_next(2, status=503, body={"error": "down"}, path="/v1/limited")
        codes = [requests.get(f"{server.url}/v1/limited").status_code for _ in range(5)]
        assert codes[:2] == [503, 503]
        assert codes[2:4] == [200, 200]
        assert codes[4] == 429
        limited = requests.get(f"{server.url}/v1/limited")
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        assert server.limiter.throttled >= 2
