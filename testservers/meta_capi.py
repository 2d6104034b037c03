"""Meta's Conversions API, as documented: `POST /{version}/{pixel_id}/events`.

Checks the access token (in the body or the query), `data` (a list of events with
`event_name`, integer `event_time`, `event_id`, `action_source`, and for `website` events
`event_source_url`), `user_data` hashing (`em`, `ph`, `external_id`, `country`: arrays of
SHA-256 hex; `ph` hashed from digits only, so it cannot be told apart, but an `@`, `+` or
space means it was sent raw) and that `client_ip_address`/`client_user_agent` are the only raw
fields. Answers `{"events_received": n, "messages": [], "fbtrace_id"}`; errors in Meta's
shape `{"error": {"message", "type": "OAuthException", "code", "fbtrace_id"}}` (190 for a bad
token, 100 for a bad parameter); `fail_next(status=429, headers={"Retry-After": ...})` or the
`RateLimiter` (code 17 over HTTP 429) give rate limits. Accepted events are kept in `events`.
"""

import re
import uuid

from testservers.base import PlatformServer, RateLimiter, Response, route

HEX64 = re.compile(r"^[0-9a-f]{64}$")
HASHED = ("em", "ph", "external_id", "country", "fn", "ln", "ct", "st", "zp")


class Server(PlatformServer):
    name = "meta_capi"

    def __init__(self, *, access_token: str = "meta-test-token", rate: float = 0, **kwargs):  # noqa: S107
        super().__init__(**kwargs)
        self.access_token = access_token
        self.limiter = RateLimiter(rate) if rate else None
        self.events: list[dict] = []

    def error(self, status: int, message: str, code: int = 100) -> Response:
        return Response(
            status,
            {
                "error": {
                    "message": message,
                    "type": "OAuthException",
                    "code": code,
                    "fbtrace_id": uuid.uuid4().hex[:11],
                }
            },
        )

    @route("POST", r"/(?P<version>v\d+\.\d+)/(?P<pixel>\d+)/events")
    def events_endpoint(self, request):
        try:
            body = request.json()
        except ValueError:
            return self.error(400, "Invalid JSON")
        if not isinstance(body, dict):
            return self.error(400, "Invalid parameter")
        token = body.get("access_token") or request.arg("access_token")
        if self.limiter is not None and self.limiter.take(str(token)):
            return Response(429, {"error": {"message": "User request limit reached",
                                            "type": "OAuthException", "code": 17}},
                            {"Retry-After": "1"})  # fmt: skip
        if token != self.access_token:
            return self.error(400, "Invalid OAuth access token.", code=190)
        problems = self.check(body)
        if problems:
            return self.error(400, "Invalid parameter: " + "; ".join(problems))
        self.events.extend(body["data"])
        return Response(200, {"events_received": len(body["data"]), "messages": [],
                              "fbtrace_id": uuid.uuid4().hex[:11]})  # fmt: skip

    @staticmethod
    def check(body: dict) -> list[str]:
        data = body.get("data")
        if not isinstance(data, list) or not data:
            return ["data must be a non-empty list"]
        problems = []
        for event in data:
            if not event.get("event_name") or not isinstance(event.get("event_time"), int):
                problems.append("event_name and an integer event_time are required")
            if not event.get("event_id"):
                problems.append("event_id is required to deduplicate with the pixel")
            if event.get("action_source") == "website" and not event.get("event_source_url"):
                problems.append("website events need event_source_url")
            user = event.get("user_data")
            if not isinstance(user, dict) or not user:
                problems.append("user_data needs at least one customer parameter")
                continue
            for name in HASHED:
                values = user.get(name)
                if values is None:
                    continue
                values = values if isinstance(values, list) else [values]
                if not all(HEX64.match(str(v)) for v in values):
                    problems.append(f"user_data.{name} must be SHA-256 hex")
            for name in user:
                if name not in HASHED and name not in (
                    "client_ip_address",
                    "client_user_agent",
                    "fbc",
                    "fbp",
                ):
                    problems.append(f"user_data.{name} is not a parameter")
            value = (event.get("custom_data") or {}).get("value")
            if value is not None and not isinstance(value, int | float):
                problems.append("custom_data.value must be a number")
        return problems


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
