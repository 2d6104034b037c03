"""PayPal's Payouts API, as documented, and PayPal sending signed webhooks.

- OAuth 2.0 client credentials: `POST /v1/oauth2/token` (`Authorization: Basic
  base64(client_id:secret)`, form `grant_type=client_credentials`) answers
  `{"scope", "access_token", "token_type": "Bearer", "app_id", "expires_in", "nonce"}`; wrong
  credentials answer 401 `{"error": "invalid_client", "error_description": "Client
  Authentication failed"}`. Tokens expire after `token_lifetime` seconds (`expire_tokens()`
  ends them now); an API call without a valid token answers 401 `AUTHENTICATION_FAILURE`.
- `POST /v1/payments/payouts` (JSON): `sender_batch_header` (`sender_batch_id`,
  `email_subject`, `recipient_type`) and 1 to 15,000 `items` (`recipient_type` EMAIL,
  PHONE or PAYPAL_ID, `amount.value` a string with the currency's own decimals,
  `amount.currency`, `receiver`, `note`, `sender_item_id` unique in the batch). Answers 201
  with the `batch_header` (`payout_batch_id`, `batch_status` PENDING) and HATEOAS `links`.
  A `PayPal-Request-Id` seen before answers the first response again; a `sender_batch_id`
  used before under another request id is refused, 400 `USER_BUSINESS_ERROR`, with a link to
  the original batch. Bad input is 400 `VALIDATION_ERROR` with `details` naming each field.
  Errors carry `name`, `message`, `debug_id`, `information_link`, as PayPal's do.
- `GET /v1/payments/payouts/{batch_id}` (the batch with its items) and
  `GET /v1/payments/payouts-item/{item_id}`.
- Items are processed by `process()` (or at once with `auto_process`): SUCCESS, or FAILED for
  a receiver in `failing_receivers` (errors RECEIVER_UNREGISTERED), each sending
  `PAYMENT.PAYOUTS-ITEM.SUCCEEDED` / `.FAILED` to `webhook_url`, signed as PayPal signs: the
  `PAYPAL-TRANSMISSION-SIG` header is a SHA256withRSA signature of
  `<transmission id>|<transmission time>|<webhook id>|<CRC32 of the body>` under this
  server's key, with `PAYPAL-CERT-URL`, `PAYPAL-AUTH-ALGO`, `PAYPAL-TRANSMISSION-ID`,
  `PAYPAL-TRANSMISSION-TIME`.
- `POST /v1/notifications/verify-webhook-signature` checks those headers and the event for
  the configured `webhook_id`: `{"verification_status": "SUCCESS"}` or `"FAILURE"`.
- A rate limit per client (`rate`) answers 429 `RATE_LIMIT_REACHED` with `Retry-After`.
"""

import base64
import datetime as dt
import json
import secrets
import threading
import time
import uuid
import zlib
from decimal import Decimal, InvalidOperation

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from testservers import webhooks
from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route

DECIMALS = {"JPY": 0, "HUF": 0, "TWD": 0}  # PayPal's currencies without decimals (of those used)
INFO = "https://developer.paypal.com/docs/api/payments.payouts-batch/v1/#error-"


class Server(PlatformServer):
    name = "paypal"

    def __init__(self, *, client_id: str = "paypal-client-id",
                 client_secret: str = "paypal-client-secret",  # noqa: S107 - a test server
                 webhook_id: str = "WH-SHOPLOOP-1",
                 webhook_url: str = "", auto_process: bool = False, rate: float = 50.0,
                 token_lifetime: int = 32400, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.client_id, self.client_secret = client_id, client_secret
        self.webhook_id, self.webhook_url = webhook_id, webhook_url
        self.auto_process = auto_process
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}
        self.limiter = RateLimiter(rate=rate, burst=max(1, int(rate)))
        self.batches: dict[str, dict] = {}
        self.items: dict[str, dict] = {}
        self.by_sender_batch: dict[str, str] = {}
        self.by_request_id: dict[str, Response] = {}
        self.failing_receivers: set[str] = set()
        self.events: list[tuple[bytes, dict]] = []  # (body, headers) of every webhook made
        self.sent: list[tuple[str, int]] = []
        self._lock = threading.RLock()
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)

    # -- errors in PayPal's shape -------------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        name = {404: "RESOURCE_NOT_FOUND", 405: "METHOD_NOT_SUPPORTED"}.get(status, "INTERNAL")
        return Response(status, self._error_body(name, message))

    def _error_body(self, name: str, message: str, details=None, links=None) -> dict:
        body = {"name": name, "message": message, "debug_id": secrets.token_hex(7),
                "information_link": INFO + name}  # fmt: skip
        if details:
            body["details"] = details
        if links:
            body["links"] = links
        return body

    def _fail(self, status: int, name: str, message: str, details=None, links=None):
        raise HTTPError(status, self._error_body(name, message, details, links))

    def random_failure(self, request) -> Response:
        return Response(503, self._error_body("SERVICE_UNAVAILABLE", "Service Unavailable."))

    # -- OAuth ------------------------------------------------------------------------------
    @route("POST", r"/v1/oauth2/token")
    def token(self, request):
        expected = (
            "Basic " + base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        )
        if request.headers.get("authorization") != expected:
            raise HTTPError(
                401,
                {"error": "invalid_client", "error_description": "Client Authentication failed"},
            )
        if request.form().get("grant_type") != "client_credentials":
            raise HTTPError(
                400, {"error": "unsupported_grant_type", "error_description": "Grant Type is NULL"}
            )
        token = "A21AA" + secrets.token_urlsafe(24)
        with self._lock:
            self.tokens[token] = time.time() + self.token_lifetime
        return {"scope": "https://uri.paypal.com/services/payments/payouts", "access_token": token,
                "token_type": "Bearer", "app_id": "APP-80W284485P519543T",
                "expires_in": self.token_lifetime, "nonce": secrets.token_hex(8)}  # fmt: skip

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def _authorise(self, request) -> None:
        header = request.headers.get("authorization", "")
        token = header.removeprefix("Bearer ")
        with self._lock:
            valid = header.startswith("Bearer ") and self.tokens.get(token, 0) > time.time()
        if not valid:
            self._fail(
                401,
                "AUTHENTICATION_FAILURE",
                "Authentication failed due to invalid "
                "authentication credentials or a missing Authorization header.",
            )
        wait = self.limiter.take(token)
        if wait:
            raise HTTPError(429, self._error_body(
                "RATE_LIMIT_REACHED", "Too many requests. Blocked due to rate limiting."),
                {"Retry-After": str(max(1, round(wait)))})  # fmt: skip

    # -- payouts ----------------------------------------------------------------------------
    @route("POST", r"/v1/payments/payouts")
    def create_payout(self, request):
        self._authorise(request)
        request_id = request.headers.get("paypal-request-id", "")
        with self._lock:
            if request_id and request_id in self.by_request_id:
                return self.by_request_id[request_id]
        try:
            body = request.json()
        except ValueError:
            self._fail(400, "MALFORMED_REQUEST", "Incoming JSON request does not map to API "
                       "request")  # fmt: skip
        header = body.get("sender_batch_header") if isinstance(body, dict) else None
        items = body.get("items") if isinstance(body, dict) else None
        details = []
        if not isinstance(header, dict):
            details.append(self._detail("sender_batch_header", "Required field missing"))
            header = {}
        if not isinstance(items, list) or not items:
            details.append(self._detail("items", "Required field missing"))
            items = []
        elif len(items) > 15000:
            details.append(self._detail("items", "Too many items: at most 15000"))
        seen_ids = set()
        for index, item in enumerate(items):
            details.extend(self._check_item(index, item, header, seen_ids))
        if details:
            self._fail(400, "VALIDATION_ERROR", "Invalid request - see details", details)
        sender_batch_id = str(header.get("sender_batch_id") or uuid.uuid4().hex)
        with self._lock:
            original = self.by_sender_batch.get(sender_batch_id)
            if original is not None:
                self._fail(
                    400,
                    "USER_BUSINESS_ERROR",
                    f"Batch with given sender_batch_id ({sender_batch_id}) already exists",
                    links=[self._link(f"/v1/payments/payouts/{original}", "self")],
                )
            batch_id = secrets.token_hex(6).upper()
            batch = {"payout_batch_id": batch_id, "batch_status": "PENDING",
                     "time_created": self._now(), "sender_batch_header": dict(header),
                     "items": []}  # fmt: skip
            for item in items:
                item_id = secrets.token_hex(6).upper()
                stored = {
                    "payout_item_id": item_id,
                    "transaction_status": "PENDING",
                    "payout_batch_id": batch_id,
                    "sender_batch_id": sender_batch_id,
                    "payout_item": {
                        "recipient_type": item.get("recipient_type")
                        or header.get("recipient_type"),
                        "amount": dict(item["amount"]),
                        "note": item.get("note", ""),
                        "receiver": item["receiver"],
                        "sender_item_id": item.get("sender_item_id", ""),
                    },
                }
                self.items[item_id] = stored
                batch["items"].append(item_id)
            self.batches[batch_id] = batch
            self.by_sender_batch[sender_batch_id] = batch_id
            response = Response(201, {
                "batch_header": {"payout_batch_id": batch_id, "batch_status": "PENDING",
                                 "sender_batch_header": dict(header)},
                "links": [self._link(f"/v1/payments/payouts/{batch_id}", "self")],
            })  # fmt: skip
            if request_id:
                self.by_request_id[request_id] = response
        if self.auto_process:
            self.process(batch_id)
        return response

    def _detail(self, field_name: str, issue: str) -> dict:
        return {"field": field_name, "location": "body", "issue": issue}

    def _check_item(self, index: int, item, header: dict, seen_ids: set) -> list[dict]:
        where = f"items[{index}]"
        if not isinstance(item, dict):
            return [self._detail(where, "Expected an object")]
        problems = []
        kind = item.get("recipient_type") or header.get("recipient_type")
        if kind not in ("EMAIL", "PHONE", "PAYPAL_ID"):
            problems.append(
                self._detail(
                    f"{where}.recipient_type", "Value is invalid: EMAIL, PHONE or PAYPAL_ID"
                )
            )
        if not item.get("receiver"):
            problems.append(self._detail(f"{where}.receiver", "Required field missing"))
        elif kind == "EMAIL" and "@" not in str(item["receiver"]):
            problems.append(self._detail(f"{where}.receiver", "Receiver is invalid or does "
                                         "not match with type"))  # fmt: skip
        amount = item.get("amount")
        if not isinstance(amount, dict) or "value" not in amount or "currency" not in amount:
            problems.append(self._detail(f"{where}.amount", "Required field missing"))
        else:
            value, currency = amount["value"], amount["currency"]
            if not isinstance(value, str):
                problems.append(self._detail(f"{where}.amount.value", "Must be a string"))
            else:
                try:
                    parsed = Decimal(value)
                except InvalidOperation:
                    parsed = None
                digits = DECIMALS.get(currency, 3 if currency in ("KWD", "BHD") else 2)
                exponent = -parsed.as_tuple().exponent if parsed is not None else 0
                if parsed is None or parsed <= 0 or exponent > digits:
                    problems.append(
                        self._detail(
                            f"{where}.amount.value",
                            f"Currency {currency} does not support more than {digits} decimals"
                            if parsed is not None and parsed > 0
                            else "Value is invalid",
                        )
                    )
        item_id = item.get("sender_item_id")
        if item_id:
            if item_id in seen_ids:
                problems.append(
                    self._detail(
                        f"{where}.sender_item_id",
                        "DUPLICATE_ITEM: This transaction is duplicated in this batch.",
                    )
                )
            seen_ids.add(item_id)
        return problems

    def _link(self, path: str, rel: str) -> dict:
        return {"href": f"{self.url}{path}", "rel": rel, "method": "GET",
                "encType": "application/json"}  # fmt: skip

    @staticmethod
    def _now() -> str:
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    @route("GET", r"/v1/payments/payouts/(?P<batch_id>[A-Z0-9]+)")
    def get_batch(self, request):
        self._authorise(request)
        with self._lock:
            batch = self.batches.get(request.params["batch_id"])
            if batch is None:
                self._fail(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
            items = [dict(self.items[i]) for i in batch["items"]]
        header = {k: v for k, v in batch.items() if k != "items"}
        return {"batch_header": header, "items": items,
                "links": [self._link(f"/v1/payments/payouts/{batch['payout_batch_id']}",
                                     "self")]}  # fmt: skip

    @route("GET", r"/v1/payments/payouts-item/(?P<item_id>[A-Z0-9]+)")
    def get_item(self, request):
        self._authorise(request)
        with self._lock:
            item = self.items.get(request.params["item_id"])
            if item is None:
                self._fail(404, "INVALID_RESOURCE_ID", "Requested resource ID was not found.")
            return dict(item)

    def process(self, batch_id: str) -> list[bytes]:
        """Settle every pending item of a batch (SUCCESS, or FAILED for a failing receiver)
        and send its webhook. Returns the webhook bodies."""
        bodies = []
        with self._lock:
            batch = self.batches[batch_id]
            for item_id in batch["items"]:
                item = self.items[item_id]
                if item["transaction_status"] != "PENDING":
                    continue
                if item["payout_item"]["receiver"] in self.failing_receivers:
                    item["transaction_status"] = "FAILED"
                    item["errors"] = {
                        "name": "RECEIVER_UNREGISTERED",
                        "message": "Receiver is unregistered",
                    }
                else:
                    item["transaction_status"] = "SUCCESS"
                    item["transaction_id"] = secrets.token_hex(8).upper()
                item["time_processed"] = self._now()
            batch["batch_status"] = "SUCCESS"
            batch["time_completed"] = self._now()
            settled = [dict(self.items[i]) for i in batch["items"]]
        for item in settled:
            kind = "SUCCEEDED" if item["transaction_status"] == "SUCCESS" else "FAILED"
            bodies.append(self.send_item_event(f"PAYMENT.PAYOUTS-ITEM.{kind}", item))
        return bodies

    def set_item_status(self, item_id: str, status: str) -> bytes:
        """Move an item (RETURNED, REFUNDED, BLOCKED...) and send the matching webhook."""
        with self._lock:
            item = self.items[item_id]
            item["transaction_status"] = status
            item = dict(item)
        name = {"SUCCESS": "SUCCEEDED", "CANCELED": "CANCELED"}.get(status, status)
        return self.send_item_event(f"PAYMENT.PAYOUTS-ITEM.{name}", item)

    # -- webhooks ---------------------------------------------------------------------------
    def send_item_event(self, event_type: str, item: dict, *, event_id: str = "") -> bytes:
        event = {
            "id": event_id or "WH-" + secrets.token_hex(10).upper(),
            "create_time": self._now(), "resource_type": "payouts_item",
            "event_version": "1.0", "event_type": event_type,
            "summary": f"A payout item is {event_type.rsplit('.', 1)[-1].lower()}.",
            "resource": item,
            "links": [self._link(f"/v1/notifications/webhooks-events/{event_id}", "self")],
        }  # fmt: skip
        body = json.dumps(event).encode()
        headers = self.sign(body)
        with self._lock:
            self.events.append((body, headers))
        if self.webhook_url:
            answer = webhooks.send(self.webhook_url, body, headers)
            self.sent.append((event_type, answer.status_code))
        return body

    def sign(self, body: bytes, *, transmission_id: str = "", when: str = "") -> dict:
        transmission_id = transmission_id or str(uuid.uuid4())
        when = when or self._now()
        message = f"{transmission_id}|{when}|{self.webhook_id}|{zlib.crc32(body)}".encode()
        signature = self._key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        return {
            "Content-Type": "application/json",
            "PAYPAL-TRANSMISSION-ID": transmission_id,
            "PAYPAL-TRANSMISSION-TIME": when,
            "PAYPAL-TRANSMISSION-SIG": base64.b64encode(signature).decode(),
            "PAYPAL-CERT-URL": f"{self.url}/v1/notifications/certs/CERT-SHOPLOOP",
            "PAYPAL-AUTH-ALGO": "SHA256withRSA",
        }

    @route("GET", r"/v1/notifications/certs/(?P<cert>[\w-]+)")
    def certificate(self, request):
        pem = self._key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return Response(200, pem, {"Content-Type": "application/x-pem-file"})

    @route("POST", r"/v1/notifications/verify-webhook-signature")
    def verify_webhook_signature(self, request):
        self._authorise(request)
        try:
            body = request.json()
        except ValueError:
            self._fail(400, "MALFORMED_REQUEST", "Incoming JSON request does not map to API "
                       "request")  # fmt: skip
        required = ("auth_algo", "cert_url", "transmission_id", "transmission_sig",
                    "transmission_time", "webhook_id", "webhook_event")  # fmt: skip
        missing = [self._detail(name, "MISSING_REQUIRED_PARAMETER") for name in required
                   if not body.get(name)]  # fmt: skip
        if missing:
            self._fail(400, "VALIDATION_ERROR", "Invalid request - see details", missing)
        # The event as it was sent: PayPal signs the CRC32 of the bytes it sent.
        with self._lock:
            sent = [b for b, _ in self.events if json.loads(b) == body["webhook_event"]]
        status = "FAILURE"
        if sent and body["webhook_id"] == self.webhook_id and body["auth_algo"] == "SHA256withRSA":
            message = (f"{body['transmission_id']}|{body['transmission_time']}|"
                       f"{body['webhook_id']}|{zlib.crc32(sent[0])}").encode()  # fmt: skip
            try:
                self._key.public_key().verify(
                    base64.b64decode(body["transmission_sig"]),
                    message,
                    padding.PKCS1v15(),
                    hashes.SHA256(),
                )
                status = "SUCCESS"
            except (InvalidSignature, ValueError):
                status = "FAILURE"
        return {"verification_status": status}
