"""Shopify's mandatory compliance webhooks: `customers/data_request`, `customers/redact` and
`shop/redact`, received at `/webhooks/shopify/compliance` and acted on by a job.

Contract:
- Verified like Shopify's other webhooks: `X-Shopify-Hmac-Sha256` is the base64 HMAC-SHA256
  of the raw body (`sales.providers.shopify.sign`), compared in constant time with each
  secret that may sign for the shop: the app's client secret (SHOPIFY_API_SECRET), the shop's
  custom app's secret, and the secrets of the shop's Shopify sales channels. A missing or
  wrong HMAC answers 401 (Shopify requires it) and stores nothing; a body that is not a
  request of the topic answers 400.
- Stored first, answered at once: the request is inserted (unique per shop and
  `X-Shopify-Webhook-Id`, so a redelivery is acknowledged and changes nothing) and the job
  is queued after the commit; the answer is 200 in milliseconds, within Shopify's 5 seconds.
  The body, which names the customer, is kept encrypted only until the job acts on it.
- The job (`integrations.compliance_process`, safe to run twice: the request's row is locked
  and only a request still `received` is acted on) does, in one transaction with an audit
  row (`ComplianceEvent`):
  - data request: what Shoploop holds about the customer (`sales.selectors.customer_data`:
    orders matched by the keyed hash of the email and by Shopify's order ids, their lines,
    refunds, attribution and history, the deliveries that carried the customer's data) is
    written as a JSON file in private storage; the request is `ready`, and `done` once the
    merchant downloads it from the console (each download is audited);
  - customer redact: `sales.services.customer_redact` (orders keep their amounts and the
    ledger is untouched; the customer's data is cleared), then `done`;
  - shop redact (Shopify sends it 48 hours after the app was uninstalled):
    `services.connections_erase_shop`, then `done`.
  When its retries run out the request is `failed` with the reason; "Process again" in the
  console queues it again.
- `compliance_sweep` (beat, hourly) queues requests a lost message left `received` and
  deletes export files older than SHOPIFY_COMPLIANCE_EXPORT_DAYS.
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.crypto import constant_time_equals, keyed_hash
from core.errors import ApplicationError
from core.jobs import enqueue_on_commit
from integrations import services
from integrations.clients import shopify as shopify_client
from integrations.models import ComplianceEvent, ComplianceRequest, Connection, Platform
from integrations.signing import shopify_webhook_hmac
from sales import selectors as sales_selectors
from sales import services as sales_services
from sales.models import Provider, SalesChannel

logger = logging.getLogger(__name__)

Status = ComplianceRequest.Status
Topic = ComplianceRequest.Topic

# The request state machine: (status, action) -> new status.
ALLOWED: dict[tuple[str, str], str] = {
    (Status.RECEIVED, "export"): Status.READY,  # a data request's file is written
    (Status.RECEIVED, "erase"): Status.DONE,  # a redaction is done
    (Status.RECEIVED, "fail"): Status.FAILED,  # the job gave up
    (Status.FAILED, "retry"): Status.RECEIVED,  # "Process again" in the console
    (Status.READY, "deliver"): Status.DONE,  # the merchant downloaded the export
}
# Shopify gives an app 30 days to act on a request.
DUE_AFTER = timedelta(days=30)
MAX_BODY_BYTES = 256 * 1024


@dataclass
class Outcome:
    status: int
    message: str
    request_id: int | None = None


# ---------------------------------------------------------------------------------------
# Receiving
# ---------------------------------------------------------------------------------------


def _secrets(shop: str) -> list[str]:
    """Every secret that may sign a compliance webhook for `shop`."""
    found = [settings.SHOPIFY_API_SECRET]
    for connection in Connection.objects.filter(platform=Platform.SHOPIFY, account_id=shop):
        found.append(connection.app_secret)
    channels = SalesChannel.objects.filter(provider=Provider.SHOPIFY, shop_domain__iexact=shop)
    for channel in channels:
        found.extend(channel.secrets())
    return [s for s in found if s]


def _signed(shop: str, body: bytes, header: str) -> bool:
    header = (header or "").strip()
    if not header:
        return False
    matched = False
    for secret in _secrets(shop):  # every secret is tried: timing says nothing of which
        matched |= constant_time_equals(shopify_webhook_hmac(secret, body), header)
    return matched


def _text(value, limit: int = 64) -> str:
    if isinstance(value, bool) or value is None:
        return ""
    return str(value).strip()[:limit] if isinstance(value, str | int) else ""


def _ids(values) -> list[str]:
    if not isinstance(values, list):
        return []
    return [_text(v) for v in values[:10000] if _text(v)]


def email_hash(email: str) -> str:
    """The keyed hash orders keep of an email (sales hashes `email.strip().lower()`)."""
    email = (email or "").strip().lower()
    return keyed_hash("customer-email", email) if email else ""


def _fields(topic: str, shop: str, payload: dict) -> dict:
    """What the request row keeps in clear, checked against the topic's documented shape."""
    if _text(payload.get("shop_domain"), 255).lower() != shop:
        raise ApplicationError("shop_domain: it is not the shop the request came from.")
    fields = {"shop_id": _text(payload.get("shop_id"))}
    if topic == Topic.SHOP_REDACT:
        return fields
    customer = payload.get("customer")
    if not isinstance(customer, dict):
        raise ApplicationError("customer: a customers/* request names its customer.")
    orders_key = "orders_requested" if topic == Topic.DATA_REQUEST else "orders_to_redact"
    fields.update(
        customer_id=_text(customer.get("id")),
        email_hash=email_hash(_text(customer.get("email"), 320)),
        order_ids=_ids(payload.get(orders_key)),
    )
    if topic == Topic.DATA_REQUEST:
        request = payload.get("data_request")
        fields["data_request_id"] = _text(request.get("id")) if isinstance(request, dict) else ""
    return fields


def compliance_request_receive(
    *, shop: str, topic: str, webhook_id: str, body: bytes, hmac_header: str
) -> Outcome:
    """Verify a compliance webhook, store it once and queue the job (see the docstring)."""
    from integrations import tasks

    domain = shopify_client.normalize_shop(shop)
    if not domain:
        return Outcome(401, "unknown shop")
    if len(body) > MAX_BODY_BYTES:
        return Outcome(413, "too large")
    if not _signed(domain, body, hmac_header):
        logger.warning("integrations.compliance.bad_hmac", extra={"topic": topic[:40]})
        return Outcome(401, "invalid hmac")
    if topic not in Topic.values:
        return Outcome(400, f"not a compliance topic: {topic[:40]}")
    if not webhook_id:
        return Outcome(400, "missing X-Shopify-Webhook-Id")
    try:
        payload = json.loads(body)
        if not isinstance(payload, dict):
            raise ValueError
        fields = _fields(topic, domain, payload)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return Outcome(400, "body is not a JSON object")
    except ApplicationError as exc:
        return Outcome(400, exc.message)
    connection = (
        Connection.objects.filter(platform=Platform.SHOPIFY, account_id=domain)
        .order_by("-pk")
        .first()
    )
    try:
        with transaction.atomic(durable=True):
            request = ComplianceRequest.objects.create(
                topic=topic,
                shop_domain=domain,
                connection=connection,
                webhook_id=webhook_id[:100],
                payload=body.decode(),
                due_at=timezone.now() + DUE_AFTER,
                **fields,
            )
            _event(request, action="receive", actor=None, from_status="",
                   reason=f"Shopify sent {topic}.")  # fmt: skip
            enqueue_on_commit(tasks.compliance_process, request.pk)
    except IntegrityError:
        return Outcome(200, "already received")
    logger.info("integrations.compliance.received", extra={"request_id": request.pk})
    return Outcome(200, "received", request.pk)


# ---------------------------------------------------------------------------------------
# The state machine
# ---------------------------------------------------------------------------------------


def _lock(request_id: int) -> ComplianceRequest:
    found = ComplianceRequest.objects.select_for_update().filter(pk=request_id).first()
    if found is None:
        raise ApplicationError(
            f"Compliance request #{request_id} does not exist.", code="not_found"
        )
    return found


def _target(request: ComplianceRequest, action: str) -> str:
    to_status = ALLOWED.get((request.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} compliance request #{request.pk}: it is "
            f"{request.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def _event(request, *, action: str, actor, from_status: str, reason: str = ""):
    return ComplianceEvent.objects.create(
        request=request,
        actor=actor,
        at=timezone.now(),
        action=action,
        from_status=from_status,
        to_status=request.status,
        reason=reason[:2000],
    )


def _apply(request: ComplianceRequest, action: str, *, actor=None, reason: str = ""):
    from_status = request.status
    request.status = _target(request, action)
    request.save()
    _event(request, action=action, actor=actor, from_status=from_status, reason=reason)
    logger.info(
        "integrations.compliance.transition",
        extra={"request_id": request.pk, "action": action, "to": request.status},
    )
    return request


# ---------------------------------------------------------------------------------------
# Acting on a request (the job)
# ---------------------------------------------------------------------------------------


def _email(request: ComplianceRequest) -> str:
    try:
        customer = json.loads(request.payload or "{}").get("customer") or {}
    except ValueError:
        return ""
    return _text(customer.get("email"), 320) if isinstance(customer, dict) else ""


def _export(request: ComplianceRequest, email: str) -> tuple[bytes, dict]:
    orders = sales_selectors.customer_orders(
        email_hash=request.email_hash,
        shop_domain=request.shop_domain,
        shopify_order_ids=request.order_ids,
    )
    order_ids = list(orders.values_list("pk", flat=True))
    held = sales_selectors.customer_data(
        order_ids=order_ids, delivery_ids=sales_selectors.deliveries_mentioning(email)
    )
    document = {
        "request": {
            "topic": request.topic,
            "shop_domain": request.shop_domain,
            "shopify_customer_id": request.customer_id,
            "shopify_data_request_id": request.data_request_id,
            "orders_requested": request.order_ids,
            "received_at": request.received_at.isoformat(),
            "generated_at": timezone.now().isoformat(),
        },
        "how_customers_are_kept": (
            "Shoploop stores no plain email, name, address or phone number of a customer. "
            "Orders keep a keyed hash of the email, the landing page, referring site and "
            "country, and the webhook deliveries that made them are kept as the platforms "
            "sent them; all of it is listed below."
        ),
        **held,
    }
    content = json.dumps(document, indent=2, ensure_ascii=False).encode()
    summary = {"orders": len(held["orders"]), "deliveries": len(held["deliveries"])}
    return content, summary


def compliance_request_process(*, request_id: int) -> ComplianceRequest | None:
    """Act on a received request, once (see the module docstring)."""
    request = ComplianceRequest.objects.filter(pk=request_id).first()
    if request is None or request.status != Status.RECEIVED:
        return request
    ComplianceRequest.objects.filter(pk=request_id).update(attempts=request.attempts + 1)
    email = _email(request)
    file_name = content = None
    if request.topic == Topic.DATA_REQUEST:
        # Read before the transaction; the file is written in it (a retry overwrites it).
        content, summary = _export(request, email)
        file_name = f"compliance/data-request-{request.pk}.json"
    with transaction.atomic(durable=True):
        request = _lock(request_id)
        if request.status != Status.RECEIVED:
            return request  # another run got there first
        if request.topic == Topic.DATA_REQUEST:
            storage = request.export.storage
            if storage.exists(file_name):
                storage.delete(file_name)
            request.export.save(file_name.rsplit("/", 1)[1], ContentFile(content), save=False)
            action, reason = (
                "export",
                (
                    f"Export written: {summary['orders']} order(s), {summary['deliveries']} "
                    "stored delivery(ies). Download it and send it to the shop owner."
                ),
            )
        elif request.topic == Topic.CUSTOMER_REDACT:
            summary = sales_services.customer_redact(
                email=email,
                shop_domain=request.shop_domain,
                shopify_order_ids=request.order_ids,
                reason=f"Shopify customers/redact (compliance request #{request.pk}).",
            ).as_dict()
            action, reason = (
                "erase",
                (
                    f"Customer data erased: {summary['orders']} order(s) pseudonymised, "
                    f"{summary['deliveries_erased']} delivery body(ies) erased."
                ),
            )
        else:
            summary = services.connections_erase_shop(
                shop_domain=request.shop_domain,
                reason=f"Shopify shop/redact (compliance request #{request.pk}).",
            )
            action, reason = (
                "erase",
                (
                    f"Shop data erased: {summary['connections']} connection(s), "
                    f"{summary['mappings']} product mapping(s), {summary['webhooks']} webhook(s)."
                ),
            )
        request.summary = summary
        request.payload = ""  # the customer's email and phone are no longer needed
        request.error = ""
        request.processed_at = timezone.now()
        _apply(request, action, reason=reason)
    return request


def compliance_request_fail(*, request_id: int, error: str) -> None:
    """The job gave up: say why on the request (the console can queue it again)."""
    with transaction.atomic(durable=True):
        request = _lock(request_id)
        if request.status != Status.RECEIVED:
            return
        request.error = error[:2000]
        _apply(request, "fail", reason=error)


def compliance_request_retry(*, request_id: int, actor=None) -> ComplianceRequest:
    """ "Process again" from the console: a failed request goes back to the job."""
    from integrations import tasks

    with transaction.atomic(durable=True):
        request = _lock(request_id)
        _apply(request, "retry", actor=actor, reason="Queued again from the console.")
        enqueue_on_commit(tasks.compliance_process, request.pk)
    return request


def compliance_export_downloaded(*, request_id: int, actor) -> ComplianceRequest:
    """The merchant downloaded a data request's export: audited; the first download makes
    the request done (the shop owner now has the data to give the customer)."""
    with transaction.atomic(durable=True):
        request = _lock(request_id)
        if not request.export:
            raise ApplicationError(
                "This request has no export to download"
                + (" any more: it was deleted after its retention." if request.export_deleted_at
                   else "."),
                code="not_found",
            )  # fmt: skip
        if request.status == Status.READY:
            _apply(request, "deliver", actor=actor, reason="The export was downloaded.")
        else:
            _event(request, action="download", actor=actor, from_status=request.status,
                   reason="The export was downloaded again.")  # fmt: skip
    return request


# ---------------------------------------------------------------------------------------
# The sweep
# ---------------------------------------------------------------------------------------


def compliance_requests_stalled(*, older_than=timedelta(minutes=10)) -> list[int]:
    """Requests a lost message left `received`."""
    return list(
        ComplianceRequest.objects.filter(
            status=Status.RECEIVED, received_at__lt=timezone.now() - older_than
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:500]
    )


def compliance_exports_expire(*, now=None) -> int:
    """Delete export files older than SHOPIFY_COMPLIANCE_EXPORT_DAYS (audited)."""
    now = now or timezone.now()
    cutoff = now - timedelta(days=settings.SHOPIFY_COMPLIANCE_EXPORT_DAYS)
    expired = (
        ComplianceRequest.objects.filter(processed_at__lt=cutoff, export_deleted_at__isnull=True)
        .exclude(export="")
        .values_list("pk", flat=True)
    )
    count = 0
    for request_id in list(expired):
        with transaction.atomic(durable=True):
            request = _lock(request_id)
            if not request.export:
                continue
            request.export.delete(save=False)
            request.export_deleted_at = now
            request.save()
            _event(request, action="delete_export", actor=None, from_status=request.status,
                   reason=f"Export deleted after {settings.SHOPIFY_COMPLIANCE_EXPORT_DAYS} "
                   "days.")  # fmt: skip
            count += 1
    return count
