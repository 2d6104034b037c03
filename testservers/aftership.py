"""A local carrier tracking API in AfterShip's shape (Tracking API, version 2024-10), for the
tracking poll of parcels (issue 19).

What it follows from AfterShip's documents:
- every request carries the `as-api-key` header (401, meta code 401 otherwise);
- `POST /tracking/2024-10/trackings` with `tracking_number` and `slug` (the courier) creates
  a tracking (201); the same number and slug again is 400 with meta code 4003 ("Tracking
  already exists."); an unknown slug is 400 with meta code 4005;
- `GET /tracking/2024-10/trackings?tracking_numbers=...&slug=...` lists the trackings
  found, each with `tag` (`InfoReceived`, `InTransit`, `OutForDelivery`, `Delivered`,
  `Exception`, ...) and `shipment_delivery_date` once delivered;
- answers are `{"meta": {"code": n, "message": "...", "type": "..."}, "data": {...}}`;
- 10 requests a second per key: 429 with `Retry-After` and meta code 429.

Tests move a parcel along with `set_tag(number, "Delivered", at=...)`.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

VERSION = "2024-10"
SLUGS = {"ups", "usps", "fedex", "dhl", "royal-mail", "dpd-uk"}


def _meta(code: int, message: str, kind: str) -> dict:
    return {"code": code, "message": message, "type": kind}


class Server(PlatformServer):
    name = "aftership"

    def __init__(self, *, api_key: str = "as-test-key", rate: float = 10.0, **kwargs):
        super().__init__(**kwargs)
        self.api_key = api_key
        self.limiter = RateLimiter(rate=rate, burst=int(rate))
        self.trackings: dict[tuple[str, str], dict] = {}
        self._state = threading.RLock()

    def error(self, status: int, message: str) -> Response:
        return Response(status, {"meta": _meta(status, message, "Error"), "data": {}})

    def _check(self, request) -> None:
        if request.headers.get("as-api-key") != self.api_key:
            raise HTTPError(401, {"meta": _meta(401, "Invalid API key.", "Unauthorized"),
                                  "data": {}})  # fmt: skip
        wait = self.limiter.take(self.api_key)
        if wait:
            raise HTTPError(
                429,
                {"meta": _meta(429, "You have exceeded the API call rate limit.",
                               "TooManyRequests"), "data": {}},
                {"Retry-After": str(int(wait) + 1)},
            )  # fmt: skip

    @route("POST", rf"/tracking/{VERSION}/trackings")
    def create(self, request):
        self._check(request)
        try:
            body = request.json() or {}
        except ValueError:
            raise HTTPError(400, {"meta": _meta(4001, "Invalid JSON data.", "BadRequest"),
                                  "data": {}}) from None  # fmt: skip
        number, slug = str(body.get("tracking_number") or ""), str(body.get("slug") or "")
        if not number:
            raise HTTPError(400, {"meta": _meta(4007, "tracking_number is required.",
                                                "BadRequest"), "data": {}})  # fmt: skip
        if slug not in SLUGS:
            raise HTTPError(400, {"meta": _meta(4005, f"The value of slug {slug!r} is "
                                                "invalid.", "BadRequest"), "data": {}})  # fmt: skip
        with self._state:
            if (slug, number) in self.trackings:
                existing = self.trackings[(slug, number)]
                meta = _meta(4003, "Tracking already exists.", "BadRequest")
                raise HTTPError(400, {"meta": meta, "data": {"tracking": existing}})
            tracking = {
                "id": f"trk{len(self.trackings) + 1:08d}",
                "tracking_number": number,
                "slug": slug,
                "order_id": body.get("order_id"),
                "tag": "InfoReceived",
                "subtag": "InfoReceived_001",
                "shipment_delivery_date": None,
                "created_at": datetime.now(UTC).isoformat(),
            }
            self.trackings[(slug, number)] = tracking
        return Response(201, {"meta": _meta(201, "", "Created"), "data": dict(tracking)})

    @route("GET", rf"/tracking/{VERSION}/trackings")
    def list(self, request):
        self._check(request)
        numbers = {n for n in (request.arg("tracking_numbers") or "").split(",") if n}
        slug = request.arg("slug") or ""
        with self._state:
            found = [
                dict(t) for (s, n), t in self.trackings.items()
                if (not numbers or n in numbers) and (not slug or s == slug)
            ]  # fmt: skip
        return {"meta": _meta(200, "", "OK"), "data": {"trackings": found}}

    def set_tag(self, number: str, tag: str, *, at: datetime | None = None) -> dict:
        """The carrier scanned the parcel: move its tracking to `tag`."""
        with self._state:
            tracking = next(t for (_, n), t in self.trackings.items() if n == number)
            tracking["tag"] = tag
            tracking["subtag"] = f"{tag}_001"
            if tag == "Delivered":
                tracking["shipment_delivery_date"] = (at or datetime.now(UTC)).isoformat()
            return tracking


if __name__ == "__main__":
    from testservers.base import run_standalone

    run_standalone(Server)
