"""Stripe's Checkout Sessions API, as documented, and Stripe sending signed events.

- `POST /v1/checkout/sessions` (form-encoded, `Authorization: Bearer sk_test_...`,
  `Idempotency-Key`: the same key with the same parameters answers the first response again;
  with other parameters, Stripe's `idempotency_error`), `GET /v1/checkout/sessions/{id}`,
  `POST /v1/checkout/sessions/{id}/expire`.
- Errors in Stripe's shape: `{"error": {"type", "code", "message", "param"}}`, 401 for a
  missing or wrong key, 400 for a missing parameter, 404 for an unknown session.
- The hosted page: `GET /c/pay/{id}` shows a Pay button; paying (`POST`, or `complete()` from a
  test) marks the session paid and sends `checkout.session.completed` and
  `payment_intent.succeeded`, signed with `webhook_secret`, to `webhook_url`, as Stripe does.
- Connect transfers (the ledger's payouts): `POST /v1/transfers` (form-encoded: `amount` a
  positive integer of minor units, lowercase `currency`, `destination` a connected account,
  `transfer_group`, `description`, `metadata[...]`) with the same `Idempotency-Key` rules,
  `GET /v1/transfers/{id}`, `POST /v1/transfers/{id}/reversals`; errors as Stripe documents
  them (`resource_missing` for an unknown destination, `balance_insufficient` when the
  platform's balance in that currency is short, `parameter_invalid_integer`, `rate_limit` with
  429 when `transfer_rate` is exceeded). Each transfer sends `transfer.created` (and a reversal
  `transfer.reversed`), signed with `payouts_webhook_secret`, to `payouts_webhook_url`.
- Balance transactions (reconciliation): `GET /v1/balance_transactions` with `limit`,
  `created[gte]`/`created[lt]`, `starting_after` and `expand[]=data.source`, newest first,
  paged with `has_more` as Stripe pages lists; transfers add theirs, tests add others with
  `add_balance_transaction`.
"""

import secrets
import threading
import time
from urllib.parse import parse_qsl

from testservers import webhooks
from testservers.base import HTTPError, PlatformServer, RateLimiter, Response, route


def _unflatten(pairs: list[tuple[str, str]]) -> dict:
    """`line_items[0][price_data][currency]=usd` -> nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = key.replace("]", "").split("[")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    return _lists(root)


def _lists(node):
    if isinstance(node, dict):
        if node and all(k.isdigit() for k in node):
            return [_lists(node[k]) for k in sorted(node, key=int)]
        return {k: _lists(v) for k, v in node.items()}
    return node


class Server(PlatformServer):
    name = "stripe"

    def __init__(self, *, api_key: str = "sk_test_shoploop", webhook_url: str = "",
                 webhook_secret: str = "", payouts_webhook_url: str = "",
                 payouts_webhook_secret: str = "", accounts=(), balances: dict | None = None,
                 transfer_rate: float = 0, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.api_key = api_key
        self.webhook_url = webhook_url
        self.webhook_secret = webhook_secret
        self.payouts_webhook_url = payouts_webhook_url
        self.payouts_webhook_secret = payouts_webhook_secret
        self.sessions: dict[str, dict] = {}
        self.idempotency: dict[str, tuple[list, Response]] = {}
        self.sent: list[tuple[str, int]] = []  # (event type, status the endpoint answered)
        self._sessions_lock = threading.Lock()
        # Connect: the connected accounts, the platform's balance per currency (None: plenty).
        self.accounts: set[str] = set(accounts)
        self.balances: dict[str, int] | None = balances
        self.transfers: dict[str, dict] = {}
        self.transfer_limiter = RateLimiter(rate=transfer_rate) if transfer_rate else None
        self.payout_events: list[tuple[bytes, dict]] = []  # Connect events: (body, headers)
        self.balance_transactions: list[dict] = []  # oldest first; each with its source object

    # -- errors in Stripe's shape ---------------------------------------------------------
    def error(self, status: int, message: str) -> Response:
        return Response(status, {"error": {"type": "invalid_request_error", "message": message}})

    def _fail(self, status, message, *, code=None, param=None, kind="invalid_request_error"):
        error = {"type": kind, "message": message}
        if code:
            error["code"] = code
        if param:
            error["param"] = param
        raise HTTPError(status, {"error": error})

    def _authorise(self, request) -> None:
        header = request.headers.get("authorization", "")
        if not header:
            self._fail(401, "You did not provide an API key. You need to provide your API key "
                            "in the Authorization header, using Bearer auth.")  # fmt: skip
        if header != f"Bearer {self.api_key}":
            given = header.removeprefix("Bearer ")
            self._fail(401, f"Invalid API Key provided: {given[:8]}****{given[-4:]}")

    # -- Checkout Sessions ----------------------------------------------------------------
    @route("POST", r"/v1/checkout/sessions")
    def create_session(self, request):
        self._authorise(request)
        pairs = parse_qsl(request.body.decode(), keep_blank_values=True)
        key = request.headers.get("idempotency-key")
        if key:
            with self._sessions_lock:
                seen = self.idempotency.get(key)
            if seen is not None:
                if seen[0] != sorted(pairs):
                    self._fail(400, "Keys for idempotent requests can only be used with the same "
                                    "parameters they were first used with.",
                               kind="idempotency_error")  # fmt: skip
                return seen[1]
        params = _unflatten(pairs)
        for required in ("mode", "success_url"):
            if not params.get(required):
                self._fail(400, f"Missing required param: {required}.",
                           code="parameter_missing", param=required)  # fmt: skip
        items = params.get("line_items") or []
        if not items:
            self._fail(400, "Missing required param: line_items.", code="parameter_missing",
                       param="line_items")  # fmt: skip
        subtotal, currency = 0, None
        for index, item in enumerate(items):
            price = item.get("price_data") or {}
            try:
                amount = int(price["unit_amount"]) * int(item["quantity"])
            except (KeyError, ValueError):
                self._fail(400, "Invalid line item.", code="parameter_invalid_integer",
                           param=f"line_items[{index}]")  # fmt: skip
            subtotal += amount
            currency = price.get("currency", currency)
        session_id = "cs_test_" + secrets.token_hex(12)
        now = int(time.time())
        session = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params["mode"],
            "status": "open",
            "payment_status": "unpaid",
            "currency": currency,
            "amount_subtotal": subtotal,
            "amount_total": subtotal,
            "total_details": {"amount_discount": 0, "amount_shipping": 0, "amount_tax": 0},
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "payment_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "created": now,
            "expires_at": int(params.get("expires_at") or now + 86400),
            "livemode": False,
            "customer_details": None,
            "url": f"{self.url}/c/pay/{session_id}",
            "_line_items": items,
            "_intent_metadata": (params.get("payment_intent_data") or {}).get("metadata") or {},
        }
        with self._sessions_lock:
            self.sessions[session_id] = session
        response = Response(200, self._public(session))
        if key:
            with self._sessions_lock:
                self.idempotency[key] = (sorted(pairs), response)
        return response

    def _public(self, session: dict) -> dict:
        return {k: v for k, v in session.items() if not k.startswith("_")}

    def _session(self, session_id: str) -> dict:
        session = self.sessions.get(session_id)
        if session is None:
            self._fail(404, f"No such checkout.session: '{session_id}'", code="resource_missing",
                       param="session")  # fmt: skip
        return session

    @route("GET", r"/v1/checkout/sessions/(?P<session_id>[\w]+)")
    def get_session(self, request):
        self._authorise(request)
        return self._public(self._session(request.params["session_id"]))

    @route("POST", r"/v1/checkout/sessions/(?P<session_id>[\w]+)/expire")
    def expire_session(self, request):
        self._authorise(request)
        session = self._session(request.params["session_id"])
        if session["status"] != "open":
            self._fail(400, 'Only Checkout Sessions with a status in ["open"] can be expired.')
        session["status"] = "expired"
        self._send("checkout.session.expired", self._public(session))
        return self._public(session)

    # -- the hosted payment page ------------------------------------------------------------
    @route("GET", r"/c/pay/(?P<session_id>[\w]+)")
    def pay_page(self, request):
        session = self._session(request.params["session_id"])
        html = (
            "<!doctype html><title>Stripe test checkout</title>"
            f"<h1>Pay {session['amount_total']} {session['currency']}</h1>"
            f'<form method="post"><button type="submit">Pay</button></form>'
        )
        return Response(200, html, {"Content-Type": "text/html; charset=utf-8"})

    @route("POST", r"/c/pay/(?P<session_id>[\w]+)")
    def pay(self, request):
        session = self.complete(request.params["session_id"])
        location = session["success_url"].replace("{CHECKOUT_SESSION_ID}", session["id"])
        return Response(303, b"", {"Location": location})

    def complete(self, session_id: str, *, email: str = "shopper@example.com",
                 country: str = "US", send_intent_first: bool = False) -> dict:  # fmt: skip
        """Pay the session and send its events to the webhook endpoint, signed."""
        session = self._session(session_id)
        if session["status"] != "open":
            raise HTTPError(400, {"error": {"message": "This session is not open."}})
        intent_id = "pi_" + secrets.token_hex(12)
        session.update(
            status="complete",
            payment_status="paid",
            payment_intent=intent_id,
            customer_details={"email": email, "address": {"country": country}},
        )
        intent = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": session["amount_total"],
            "amount_received": session["amount_total"],
            "currency": session["currency"],
            "status": "succeeded",
            "metadata": session["_intent_metadata"],
            "created": int(time.time()),
        }
        events = [("checkout.session.completed", self._public(session)),
                  ("payment_intent.succeeded", intent)]  # fmt: skip
        if send_intent_first:
            events.reverse()
        for event_type, obj in events:
            self._send(event_type, obj)
        return session

    def _send(self, event_type: str, obj: dict) -> None:
        if not self.webhook_url:
            return
        body = webhooks.body_of(webhooks.stripe_event(event_type, obj))
        headers = webhooks.stripe_headers(secrets=self.webhook_secret, body=body)
        answer = webhooks.send(self.webhook_url, body, headers)
        self.sent.append((event_type, answer.status_code))

    # -- Connect transfers -------------------------------------------------------------------
    def _idempotent(self, request, pairs):
        """Stripe's idempotency: the same key and parameters answer the first response again;
        other parameters under a used key are an `idempotency_error`."""
        key = request.headers.get("idempotency-key")
        if not key:
            return None, None
        with self._sessions_lock:
            seen = self.idempotency.get(key)
        if seen is not None:
            if seen[0] != sorted(pairs):
                self._fail(400, "Keys for idempotent requests can only be used with the same "
                                "parameters they were first used with.",
                           kind="idempotency_error")  # fmt: skip
            return key, seen[1]
        return key, None

    @route("POST", r"/v1/transfers")
    def create_transfer(self, request):
        self._authorise(request)
        if self.transfer_limiter is not None:
            wait = self.transfer_limiter.take(self.api_key)
            if wait:
                raise HTTPError(429, {"error": {
                    "type": "invalid_request_error", "code": "rate_limit",
                    "message": "Too many requests hit the API too quickly. We recommend an "
                               "exponential backoff of your requests."}},
                    {"Retry-After": str(max(1, round(wait)))})  # fmt: skip
        pairs = parse_qsl(request.body.decode(), keep_blank_values=True)
        key, seen = self._idempotent(request, pairs)
        if seen is not None:
            return seen
        params = _unflatten(pairs)
        for required in ("amount", "currency", "destination"):
            if not params.get(required):
                self._fail(400, f"Missing required param: {required}.",
                           code="parameter_missing", param=required)  # fmt: skip
        amount = params["amount"]
        if not amount.isdigit() or int(amount) <= 0:
            self._fail(400, "Invalid positive integer", code="parameter_invalid_integer",
                       param="amount")  # fmt: skip
        currency = params["currency"]
        if currency != currency.lower() or len(currency) != 3:
            self._fail(400, f"Invalid currency: {currency}.", code="parameter_invalid_string",
                       param="currency")  # fmt: skip
        destination = params["destination"]
        if destination not in self.accounts:
            self._fail(400, f"No such destination: '{destination}'", code="resource_missing",
                       param="destination")  # fmt: skip
        amount = int(amount)
        with self._sessions_lock:
            if self.balances is not None:
                available = self.balances.get(currency, 0)
                if available < amount:
                    self._fail(400, "You have insufficient available funds in your Stripe "
                                    "account.", code="balance_insufficient")  # fmt: skip
                self.balances[currency] = available - amount
            transfer_id = "tr_" + secrets.token_hex(12)
            transfer = {
                "id": transfer_id, "object": "transfer", "amount": amount,
                "amount_reversed": 0, "balance_transaction": "txn_" + secrets.token_hex(12),
                "created": int(time.time()), "currency": currency,
                "description": params.get("description"), "destination": destination,
                "destination_payment": "py_" + secrets.token_hex(12), "livemode": False,
                "metadata": params.get("metadata") or {},
                "reversals": {"object": "list", "data": [], "has_more": False, "total_count": 0,
                              "url": f"/v1/transfers/{transfer_id}/reversals"},
                "reversed": False, "source_transaction": None, "source_type": "card",
                "transfer_group": params.get("transfer_group"),
            }  # fmt: skip
            self.transfers[transfer_id] = transfer
        self.add_balance_transaction("transfer", -amount, currency, transfer,
                                     description=params.get("description") or "")  # fmt: skip
        response = Response(200, dict(transfer))
        if key:
            with self._sessions_lock:
                self.idempotency[key] = (sorted(pairs), response)
        self._send_payout_event("transfer.created", transfer)
        return response

    def _transfer(self, transfer_id: str) -> dict:
        transfer = self.transfers.get(transfer_id)
        if transfer is None:
            self._fail(404, f"No such transfer: '{transfer_id}'", code="resource_missing",
                       param="id")  # fmt: skip
        return transfer

    @route("GET", r"/v1/transfers/(?P<transfer_id>\w+)")
    def get_transfer(self, request):
        self._authorise(request)
        return dict(self._transfer(request.params["transfer_id"]))

    @route("POST", r"/v1/transfers/(?P<transfer_id>\w+)/reversals")
    def reverse_transfer(self, request):
        self._authorise(request)
        return self.reverse(request.params["transfer_id"])

    def reverse(self, transfer_id: str) -> dict:
        """Reverse a whole transfer (what the platform or Stripe does); sends the event."""
        transfer = self._transfer(transfer_id)
        reversal = {"id": "trr_" + secrets.token_hex(12), "object": "transfer_reversal",
                    "amount": transfer["amount"], "currency": transfer["currency"],
                    "transfer": transfer_id, "created": int(time.time())}  # fmt: skip
        transfer.update(reversed=True, amount_reversed=transfer["amount"])
        transfer["reversals"]["data"].append(reversal)
        transfer["reversals"]["total_count"] += 1
        self._send_payout_event("transfer.reversed", transfer)
        return reversal

    def _send_payout_event(self, event_type: str, obj: dict, *, event_id: str = "") -> bytes:
        """Send a Connect event to the payouts webhook; returns the body (tests replay it)."""
        body = webhooks.body_of(webhooks.stripe_event(event_type, dict(obj), event_id=event_id))
        headers = webhooks.stripe_headers(secrets=self.payouts_webhook_secret, body=body)
        self.payout_events.append((body, headers))
        if self.payouts_webhook_url:
            answer = webhooks.send(self.payouts_webhook_url, body, headers)
            self.sent.append((event_type, answer.status_code))
        return body

    # -- balance transactions ----------------------------------------------------------------
    def add_balance_transaction(self, kind: str, amount: int, currency: str, source: dict, *,
                                fee: int = 0, created: int | None = None,
                                description: str = "") -> dict:  # fmt: skip
        """Record a balance transaction (`kind` is its type and reporting category)."""
        txn = {"id": "txn_" + secrets.token_hex(12), "object": "balance_transaction",
               "amount": amount, "available_on": int(time.time()),
               "created": int(time.time()) if created is None else created,
               "currency": currency.lower(), "description": description or None,
               "exchange_rate": None, "fee": fee, "fee_details": [], "net": amount - fee,
               "reporting_category": kind, "source": source, "status": "available",
               "type": kind}  # fmt: skip
        with self._sessions_lock:
            self.balance_transactions.append(txn)
        return txn

    @route("GET", r"/v1/balance_transactions")
    def list_balance_transactions(self, request):
        self._authorise(request)
        try:
            limit = int(request.arg("limit", "10"))
            gte = int(request.arg("created[gte]", "0"))
            lt = int(request.arg("created[lt]", str(2**62)))
        except ValueError:
            self._fail(400, "Invalid integer", code="parameter_invalid_integer")
        if not 1 <= limit <= 100:
            self._fail(400, "Invalid limit: must be between 1 and 100", param="limit")
        expand = "data.source" in request.query.get("expand[]", [])
        with self._sessions_lock:
            rows = [t for t in reversed(self.balance_transactions) if gte <= t["created"] < lt]
        after = request.arg("starting_after")
        if after:
            ids = [t["id"] for t in rows]
            if after not in ids:
                self._fail(400, f"No such balance transaction: '{after}'",
                           code="resource_missing", param="starting_after")  # fmt: skip
            rows = rows[ids.index(after) + 1 :]
        page = [dict(t, source=t["source"] if expand else t["source"]["id"]) for t in rows[:limit]]
        return {"object": "list", "data": page, "has_more": len(rows) > limit,
                "url": "/v1/balance_transactions"}  # fmt: skip
