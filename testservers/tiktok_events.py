"""TikTok Events API 2.0 for web events, as documented: `POST /open_api/v1.3/event/track/`.

Checks what TikTok checks and what its docs require: the `Access-Token` header; a JSON body
with `event_source` "web", `event_source_id` (the pixel code) and `data`, a list of events
with `event`, an integer `event_time` and an `event_id`; `user.email`, `user.phone` and
`user.external_id` must be SHA-256 hex (64 lower-case hex digits: an `@` or a `+` means it was
sent unhashed); no raw `ip`/`user_agent` from Shoploop. Answers `{"code": 0, "message": "OK",
"request_id", "data": {}}`; a bad token `{"code": 40105}` (HTTP 200, as TikTok does), a bad
payload `{"code": 40002}`; `RateLimiter` or `fail_next` give HTTP 429 with `Retry-After`.
Accepted events are kept in `events`.
"""

import re
import uuid

from testservers.base import PlatformServer, RateLimiter, Response, route

HEX64 = re.compile(r"^[0-9a-f]{64}$")


class Server(PlatformServer):
    name = "tiktok_events"

    def __init__(self, *, access_token: str = "tt-test-token", rate: float = 0, **kwargs):  # noqa: S107
        super().__init__(**kwargs)
        self.access_token = access_token
        self.limiter = RateLimiter(rate) if rate else None
        self.events: list[dict] = []

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"code": 40000, "message": message, "data": {}})

    def _answer(self, code: int, message: str) -> Response:
        return Response(200, {"code": code, "message": message,
                              "request_id": uuid.uuid4().hex, "data": {}})  # fmt: skip

    @route("POST", r"/open_api/v1\.3/event/track/")
    def track(self, request):
        if self.limiter is not None:
            wait = self.limiter.take(request.headers.get("access-token", ""))
            if wait:
                return Response(429, {"code": 40100, "message": "Too many requests"},
                                {"Retry-After": str(max(1, round(wait)))})  # fmt: skip
        if request.headers.get("access-token") != self.access_token:
            return self._answer(40105, "Access token is incorrect or has been revoked.")
        try:
            body = request.json()
        except ValueError:
            return self._answer(40002, "Request body is not JSON.")
        problems = self.check(body)
        if problems:
            return self._answer(40002, "; ".join(problems))
        self.events.extend(body["data"])
        return self._answer(0, "OK")

    @staticmethod
    def check(body) -> list[str]:
        if not isinstance(body, dict):
            return ["body must be an object"]
        problems = []
        if body.get("event_source") != "web":
            problems.append("event_source must be web")
        if not body.get("event_source_id"):
            problems.append("event_source_id (the pixel code) is required")
        data = body.get("data")
        if not isinstance(data, list) or not data:
            return [*problems, "data must be a non-empty list"]
        for event in data:
            if not event.get("event") or not isinstance(event.get("event_time"), int):
                problems.append("event and an integer event_time are required")
            if not event.get("event_id"):
                problems.append("event_id is required to deduplicate")
            user = event.get("user") or {}
            for name in ("email", "phone", "external_id"):
                if name in user and not HEX64.match(str(user[name])):
                    problems.append(f"user.{name} must be SHA-256 hex")
            for name in ("ip", "user_agent"):
                if name in user:
                    problems.append(f"user.{name} was sent raw")
            value = (event.get("properties") or {}).get("value")
            if value is not None and not isinstance(value, int | float):
                problems.append("properties.value must be a number")
        return problems


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
