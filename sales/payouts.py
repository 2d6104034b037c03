"""Payouts: runs, approval, sending, the provider's word, failures. Every write to payouts.

**A run** (`payout_run_create`) is one currency, made by the schedule (`payout_runs_due`, a
daily job: weekly on Mondays, twice a month on the 1st and 16th, monthly on the 1st, per
`payout_schedule`: the creator's program's, else `PAYOUT_SCHEDULE`) or on demand by a
person. In one database transaction it locks the creators' available commissions (pk
order), then their `available`, `receivable` and `in_payout` accounts (id order), and for
every creator whose `available` minus `receivable` reaches the minimum (`payout_minimum`:
their group's, else the settings') with complete payout details makes one `Payout`:

- the ledger transaction `payout:<id>:start` takes the whole `available` balance (gross),
  settles what the creator owes back (`receivable`, netted) and puts the rest in `in_payout`
  (amount): debit available gross, credit in_payout amount, credit receivable netted;
- the payout covers every commission of the creator then available in that currency
  (`PayoutCommission`), which become `in_payout`.

Creators without complete details are listed on the run (`skipped`), not paid. A run made
by a person is approved by another person (Owner or Finance: `sales.approve_payoutrun`)
before anything is sent; a scheduled run by anyone who may approve. A cancelled run (before
approval) reverses each payout's transaction.

**Sending** (`payout_send`, the `sales.payout_send` job per payout once approved): the payout
is marked `sending` in its own transaction, then the provider is called outside any
transaction with the payout's `key` as its idempotency key (Stripe's `Idempotency-Key`,
PayPal's `sender_batch_id` and `PayPal-Request-Id`), so a retry after a crash or a timeout
never pays twice; the answer makes it `sent`. Manual payouts (paid by hand from the run's CSV
export) are `sent` at once.

**The provider's word** (webhooks, the status poll `payouts_poll`, or a person for manual
payouts): `payout_confirm` posts `payout:<id>:paid` (in_payout -> paid) and marks its
commissions paid; `payout_fail` posts `payout:<id>:failed`, the exact reverse of the start
(the money back in `available`, the netted clawbacks owed again), with the reason, and gives
the commissions back. Both lock the payout row and are keyed: two confirmations at once post
once, and a replay changes nothing.
"""

import hashlib
import json
import logging
import uuid
from datetime import date, timedelta
from pathlib import PurePath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from core.jobs import RetryLater, enqueue_on_commit
from core.money import is_currency
from creators import notifications, payout_terms
from creators import services as creator_services
from creators.models import Creator, CreatorFingerprint
from sales import commissions, ledger
from sales.ledger_models import Commission, LedgerAccount, LedgerTransaction
from sales.payout_models import (
    Payout,
    PayoutCommission,
    PayoutDetails,
    PayoutEvent,
    PayoutMethod,
    PayoutNotification,
    PayoutRun,
    PayoutRunEvent,
    TaxForm,
)
from sales.providers import payout_clients
from sales.providers import stripe as stripe_provider
from sales.providers.base import BodyError, ProviderRefused, ProviderUnavailable, parse_json

logger = logging.getLogger(__name__)

Kind = LedgerAccount.Kind
Txn = LedgerTransaction.Kind
S = Payout.Status
R = PayoutRun.Status
Schedule = PayoutRun.Schedule

RUN_ALLOWED = {
    (R.DRAFT, "approve"): R.SENDING,
    (R.DRAFT, "cancel"): R.CANCELLED,
    (R.SENDING, "done"): R.DONE,
}
PAYOUT_ALLOWED = {
    (S.PENDING, "approve"): S.QUEUED,
    (S.PENDING, "cancel"): S.CANCELLED,
    (S.QUEUED, "send"): S.SENDING,
    (S.SENDING, "send"): S.SENDING,  # a retry, with the same idempotency key
    (S.QUEUED, "export"): S.SENT,  # manual: paid by hand from the CSV
    (S.SENDING, "sent"): S.SENT,
    (S.SENDING, "paid"): S.PAID,  # the webhook may beat the API's answer
    (S.SENT, "paid"): S.PAID,
    (S.QUEUED, "fail"): S.FAILED,
    (S.SENDING, "fail"): S.FAILED,
    (S.SENT, "fail"): S.FAILED,
    (S.PAID, "fail"): S.FAILED,  # returned or reversed after it was paid
}
IN_FLIGHT = (S.QUEUED, S.SENDING, S.SENT)


# -- who is paid when, and how much at least: the creator's programs (creators.payout_terms)


def payout_schedule(creator_id: int) -> str:
    """The schedule a creator is paid on: their program's (the most frequent of their
    programs'), else `PAYOUT_SCHEDULE`."""
    return payout_terms.payout_terms([creator_id])[creator_id].schedule


def payout_minimum(creator_id: int, currency: str) -> int:
    """The least a payout to this creator in this currency may be, in minor units: their
    group's `minimum_payout` for the currency (the lowest of their groups'), else
    `PAYOUT_MINIMUMS` per currency, else `PAYOUT_MINIMUM` (both in major units)."""
    return payout_terms.payout_terms([creator_id])[creator_id].minimum(currency)


def schedule_due(schedule: str, day: date) -> bool:
    if schedule == Schedule.WEEKLY:
        return day.weekday() == 0
    if schedule == Schedule.TWICE_MONTHLY:
        return day.day in (1, 16)
    if schedule == Schedule.MONTHLY:
        return day.day == 1
    return False


# -- payout details ----------------------------------------------------------------------


def _details_problems(data: dict) -> list[str]:
    """What is missing for a creator to be paid (empty: complete)."""
    missing = []
    if data.get("method") not in PayoutMethod.values:
        missing.append("method")
    if not data.get("account"):
        missing.append("account")
    if not data.get("tax_form_received"):
        missing.append("tax form")
    if not data.get("country"):
        missing.append("country")
    return missing


def payout_details_check(*, method: str, account: str, country: str) -> None:
    """Refuse payout details that cannot be right, naming each field and its rule."""
    method, account = (method or "").strip(), (account or "").strip()
    country = (country or "").strip().upper()
    fields = {}
    if method not in PayoutMethod.values:
        fields["method"] = f"One of {', '.join(PayoutMethod.values)}."
    if (
        account
        and method == PayoutMethod.STRIPE
        and not (account.startswith("acct_") and account[5:].isalnum())
    ):
        fields["account"] = "A Stripe connected account id: acct_ then letters and digits."
    if account and method == PayoutMethod.PAYPAL and ("@" not in account or " " in account):
        fields["account"] = "The PayPal account's email address."
    if len(account) > 500:
        fields["account"] = "At most 500 characters."
    if country and not (len(country) == 2 and country.isalpha()):
        fields["country"] = "A two-letter ISO 3166 country code, e.g. FR."
    if fields:
        raise ApplicationError(
            "Payout details: " + "; ".join(f"{k}: {v}" for k, v in fields.items()),
            fields=fields,
        )


def payout_details_set(
    *, creator_id: int, method: str, account: str, country: str,
    tax_form_received: bool | None = None, actor=None, notify: bool = True,
) -> PayoutDetails:  # fmt: skip
    """Set how a creator is paid. Stored encrypted; incomplete details are kept (the creator
    is listed, not paid, until they are complete). `tax_form_received=None` keeps what was
    known. The account is recorded as the creator's fingerprint (fraud checks look for one
    payout account shared by two creators), and a change of method, account or country
    emails the creator, whoever made it (`notify=False` only for seeded demo data)."""
    payout_details_check(method=method, account=account, country=country)
    method, account = (method or "").strip(), (account or "").strip()
    country = (country or "").strip().upper()
    with transaction.atomic():
        if not Creator.objects.filter(pk=creator_id).exists():
            raise ApplicationError(f"Creator #{creator_id} does not exist.", code="not_found")
        details, _ = PayoutDetails.objects.select_for_update().get_or_create(
            creator_id=creator_id, defaults={"details": "{}"}
        )
        before = details.data
        if tax_form_received is None:
            tax_form_received = bool(before.get("tax_form_received"))
        data = {"method": method, "account": account, "tax_form_received": bool(tax_form_received),
                "country": country}  # fmt: skip
        _save_details(details, data, actor)
        if account:
            creator_services.creator_fingerprint_record(
                creator_id=creator_id, kind=CreatorFingerprint.Kind.PAYOUT_ACCOUNT,
                value=_same_account(method, account), source="payout details",
            )  # fmt: skip
        changed = any(before.get(k) != data[k] for k in ("method", "account", "country"))
        if notify and changed:
            notifications.payout_details_changed(
                creator_id=creator_id, method=PayoutMethod(method).label,
                account=details.masked_account or "–",
                by_staff=bool(getattr(actor, "is_staff", False)),
            )  # fmt: skip
    return details


def payout_details_erase(*, creator_id: int) -> None:
    """Forget how an erased creator is paid (their account, country and method); they can no
    longer be paid, and are listed by runs as missing details."""
    with transaction.atomic():
        details = PayoutDetails.objects.select_for_update().filter(creator_id=creator_id).first()
        if details is not None:
            _save_details(details, {}, None)


def _same_account(method: str, account: str) -> str:
    """The account as fraud checks compare it: one PayPal email however it is capitalised,
    one bank account however its IBAN is spaced."""
    if method == PayoutMethod.PAYPAL:
        return f"paypal:{account.casefold()}"
    if method == PayoutMethod.MANUAL:
        return "manual:" + "".join(account.split()).upper()
    return f"{method}:{account}"


def _save_details(details: PayoutDetails, data: dict, actor) -> None:
    details.details = json.dumps(data)
    details.complete = not _details_problems(data)
    details.updated_by = actor if getattr(actor, "pk", None) else None
    details.save()


# -- tax forms ------------------------------------------------------------------------------

PDF_MAGIC = b"%PDF-"


def _is_image(head: bytes) -> bool:
    """JPEG, PNG, GIF or WebP, by their first bytes."""
    return head.startswith((b"\xff\xd8\xff", b"\x89PNG\r\n\x1a\n", b"GIF87a", b"GIF89a")) or (
        head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    )


def _read_bounded(upload, limit: int) -> bytes:
    if getattr(upload, "size", None) and upload.size > limit:
        raise _tax_form_error(f"The file is {upload.size:,} bytes; the limit is {limit:,}.")
    upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _tax_form_error(f"The file is larger than the limit of {limit:,} bytes.")
    if not data:
        raise _tax_form_error("The file is empty.")
    return data


def _tax_form_error(message: str) -> ApplicationError:
    return ApplicationError(message, code="tax_form_refused", fields={"file": [message]})


def tax_form_inspect(upload) -> tuple[bytes, str, str, str]:
    """(bytes to store, kind, content type, extension) of an uploaded tax form: a PDF (by its
    header and end-of-file marker) kept as it is, or an image (JPEG, PNG, WebP, GIF by its
    bytes) checked under the pixel limit and re-encoded, which drops anything hidden in it.
    The file's name and declared type are never trusted."""
    from django.core.exceptions import ValidationError

    from core import images

    data = _read_bounded(upload, settings.TAX_FORM_MAX_BYTES)
    if data.startswith(PDF_MAGIC):
        if b"%%EOF" not in data[-2048:]:
            raise _tax_form_error("The PDF is cut short: it has no end-of-file marker.")
        return data, TaxForm.Kind.PDF, "application/pdf", ".pdf"
    if _is_image(data[:16]):
        try:
            processed = images.process_upload(
                ContentFile(data), max_bytes=settings.TAX_FORM_MAX_BYTES
            )
        except ValidationError as exc:
            raise _tax_form_error(" ".join(exc.messages)) from None
        return (
            processed.content,
            TaxForm.Kind.IMAGE,
            processed.content_type,
            (f".{processed.extension}"),
        )
    raise _tax_form_error("A tax form is a PDF or a photo (JPEG, PNG, WebP); this file is neither.")


def tax_form_upload(*, creator_id: int, upload, actor=None) -> TaxForm:
    """Store a creator's tax form in private storage and mark their tax form received (the
    console can take that back). A refused file stores nothing."""
    content, kind, content_type, extension = tax_form_inspect(upload)
    original = PurePath(getattr(upload, "name", "") or "").name[:200]
    with transaction.atomic():
        if not Creator.objects.filter(pk=creator_id).exists():
            raise ApplicationError(f"Creator #{creator_id} does not exist.", code="not_found")
        form = TaxForm(
            creator_id=creator_id, kind=kind, content_type=content_type, size=len(content),
            sha256=hashlib.sha256(content).hexdigest(), original_name=original,
            uploaded_by=actor if getattr(actor, "pk", None) else None,
        )  # fmt: skip
        form.file.save(f"tax-form{extension}", ContentFile(content), save=False)
        try:  # the file is on disk before the row: a failure must not leave it behind
            form.save()
            details, _ = PayoutDetails.objects.select_for_update().get_or_create(
                creator_id=creator_id, defaults={"details": "{}"}
            )
            _save_details(details, {**details.data, "tax_form_received": True}, actor)
        except Exception:
            form.file.delete(save=False)
            raise
    logger.info("payout.tax_form_uploaded", extra={"creator": creator_id, "kind": kind})
    return form


# -- runs ---------------------------------------------------------------------------------


class _NothingToPay(Exception):  # noqa: N818 - rolls an empty run back
    pass


def _run_event(run, *, action, from_status="", actor=None, reason="") -> None:
    PayoutRunEvent.objects.create(
        run=run, action=action, from_status=from_status, to_status=run.status,
        actor=actor if getattr(actor, "pk", None) else None, reason=reason,
    )  # fmt: skip


def _payout_event(payout, *, action, from_status="", actor=None, reason="", source="") -> None:
    PayoutEvent.objects.create(
        payout=payout, action=action, from_status=from_status, to_status=payout.status,
        actor=actor if getattr(actor, "pk", None) else None, reason=reason[:5000],
        source=source,
    )  # fmt: skip


def _creator_keys(creator_id: int, currency: str) -> dict[str, ledger.AccountKey]:
    return {kind: ledger.creator_account(creator_id, kind, currency)
            for kind in (Kind.AVAILABLE, Kind.RECEIVABLE, Kind.IN_PAYOUT)}  # fmt: skip


def payout_run_create(
    *, currency: str, schedule: str = Schedule.ON_DEMAND, actor=None, key: str = "",
    note: str = "",
) -> PayoutRun | None:  # fmt: skip
    """Make a run in `currency` (see the module docstring). Returns None when nobody has
    anything available; the same `key` twice makes one run."""
    if not is_currency(currency or ""):
        raise ApplicationError(f"{currency!r} is not an ISO 4217 currency.",
                               fields={"currency": "An ISO 4217 code, e.g. EUR."})  # fmt: skip
    if schedule not in Schedule.values:
        raise ApplicationError(f"schedule: one of {', '.join(Schedule.values)}.",
                               fields={"schedule": "Unknown schedule."})  # fmt: skip
    key = key or f"on_demand:{uuid.uuid4().hex}"
    existing = PayoutRun.objects.filter(key=key).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic(durable=True):
            return _make_run(currency, schedule, actor, key, note)
    except _NothingToPay:
        return None
    except IntegrityError:  # the same key, made at the same moment elsewhere
        run = PayoutRun.objects.filter(key=key).first()
        if run is None:
            raise
        return run


def _make_run(currency, schedule, actor, key, note) -> PayoutRun:
    run = PayoutRun.objects.create(
        key=key, currency=currency, schedule=schedule, note=note,
        created_by=actor if getattr(actor, "pk", None) else None,
    )  # fmt: skip
    creator_ids = list(
        LedgerAccount.objects.filter(
            owner=LedgerAccount.Owner.CREATOR, kind=Kind.AVAILABLE, currency=currency,
            balance__gt=0,
        ).order_by("creator_id").values_list("creator_id", flat=True)
    )  # fmt: skip
    terms = payout_terms.payout_terms(creator_ids)
    if schedule != Schedule.ON_DEMAND:
        creator_ids = [c for c in creator_ids if terms[c].schedule == schedule]
    # Commissions first (pk order), then accounts (id order): the order every commission
    # service locks in, so a run and a refund never wait for each other in a circle.
    available = list(
        Commission.objects.filter(
            creator_id__in=creator_ids, currency=currency, status=Commission.Status.AVAILABLE
        ).order_by("pk").select_for_update()
    )  # fmt: skip
    keys = [k for c in creator_ids for k in _creator_keys(c, currency).values()]
    balances = ledger.lock_accounts(keys)
    # A commission released between the two locks would be in `available` but not in the
    # run: with the accounts locked no more can be, so one look says whether it happened.
    stray = Commission.objects.filter(
        creator_id__in=creator_ids, currency=currency, status=Commission.Status.AVAILABLE
    ).exclude(pk__in=[c.pk for c in available])
    if stray.exists():
        raise RetryLater("Commissions were released while the run was made; try again.",
                         countdown=1, code="conflict")  # fmt: skip
    by_creator: dict[int, list[Commission]] = {}
    for commission in available:
        by_creator.setdefault(commission.creator_id, []).append(commission)
    details = {d.creator_id: d for d in PayoutDetails.objects.filter(creator_id__in=creator_ids)}
    handles = dict(Creator.objects.filter(pk__in=creator_ids).values_list("pk", "handle"))
    skipped, made = [], 0
    for creator_id in creator_ids:
        accounts = _creator_keys(creator_id, currency)
        gross = balances[accounts[Kind.AVAILABLE]]
        netted = balances[accounts[Kind.RECEIVABLE]]
        amount = gross - netted
        if amount <= 0 or amount < terms[creator_id].minimum(currency):
            continue
        detail = details.get(creator_id)
        missing = _details_problems(detail.data) if detail else ["payout details"]
        if missing:
            skipped.append({"creator_id": creator_id, "handle": handles.get(creator_id, ""),
                            "amount": amount,
                            "reason": "Missing: " + ", ".join(missing) + "."})  # fmt: skip
            continue
        _make_payout(run, creator_id, detail.data, gross, netted, by_creator.get(creator_id, []),
                     actor)  # fmt: skip
        made += 1
    if not made and not skipped:
        raise _NothingToPay
    run.skipped = skipped
    run.save(update_fields=["skipped"])
    reason = f"{made} payout(s)" + (f"; {len(skipped)} creator(s) listed, not paid" if skipped
                                    else "")  # fmt: skip
    _run_event(run, action="create", actor=actor, reason=reason)
    if not made:  # only people to tell about: nothing to approve or send
        run.status = R.DONE
        run.completed_at = timezone.now()
        run.save(update_fields=["status", "completed_at"])
        _run_event(run, action="done", from_status=R.DRAFT, reason="Nobody could be paid.")
    logger.info("payout.run_created", extra={"run": run.pk, "payouts": made,
                                             "skipped": len(skipped)})  # fmt: skip
    return run


def _make_payout(run, creator_id, data, gross, netted, covered, actor) -> Payout:
    amount = gross - netted
    payout = Payout.objects.create(
        run=run, creator_id=creator_id, currency=run.currency, method=data["method"],
        destination=json.dumps(data), gross=gross, netted=netted, amount=amount,
        key=f"shoploop-payout-{run.pk}-{creator_id}",
    )  # fmt: skip
    accounts = _creator_keys(creator_id, run.currency)
    legs = [ledger.debit(accounts[Kind.AVAILABLE], gross),
            ledger.credit(accounts[Kind.IN_PAYOUT], amount)]  # fmt: skip
    if netted:
        legs.append(ledger.credit(accounts[Kind.RECEIVABLE], netted))
    memo = f"Payout #{payout.pk} in run #{run.pk}" + (
        f": {netted} minor units of clawbacks netted" if netted else ""
    )
    ledger.post(idempotency_key=f"payout:{payout.pk}:start", kind=Txn.PAYOUT, legs=legs,
                memo=memo, payout_id=payout.pk, actor=actor)  # fmt: skip
    PayoutCommission.objects.bulk_create(
        PayoutCommission(payout=payout, commission=c, amount=c.net) for c in covered
    )
    commissions.commissions_enter_payout(covered, payout_id=payout.pk, actor=actor)
    _payout_event(payout, action="create", actor=actor, source="run",
                  reason=f"{len(covered)} commission(s)")  # fmt: skip
    return payout


def payout_runs_due(*, now=None) -> list[int]:
    """Make today's scheduled runs, one per schedule due and currency (the daily job).
    Safe to run twice a day: each run's key names its schedule, currency and day."""
    day = (now or timezone.now()).date()
    currencies = sorted(set(
        LedgerAccount.objects.filter(owner=LedgerAccount.Owner.CREATOR, kind=Kind.AVAILABLE,
                                     balance__gt=0).values_list("currency", flat=True)
    ))  # fmt: skip
    keys = []
    for schedule in (Schedule.WEEKLY, Schedule.TWICE_MONTHLY, Schedule.MONTHLY):
        if not schedule_due(schedule, day):
            continue
        for currency in currencies:
            key = f"{schedule}:{currency}:{day.isoformat()}"
            payout_run_create(currency=currency, schedule=schedule, key=key)
        keys.append(f"{schedule}:")
    today = PayoutRun.objects.filter(key__endswith=f":{day.isoformat()}").order_by("pk")
    return [run.pk for run in today if any(run.key.startswith(k) for k in keys)]


def _lock_run(run_id: int) -> PayoutRun:
    run = PayoutRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None:
        raise ApplicationError(f"Payout run #{run_id} does not exist.", code="not_found")
    return run


def _run_target(run: PayoutRun, action: str) -> str:
    to_status = RUN_ALLOWED.get((run.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} payout run #{run.pk}: it is {run.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def may_approve(run: PayoutRun, user) -> str:
    """Why `user` may not approve `run` ("" if they may)."""
    if not getattr(user, "pk", None):
        return "A run is approved by a person."
    if not user.has_perm("sales.approve_payoutrun"):
        return "Only Owner or Finance may approve payout runs."
    if run.created_by_id and run.created_by_id == user.pk:
        return "A run is approved by someone other than the person who made it."
    return ""


def payout_run_approve(*, run_id: int, actor, note: str = "") -> PayoutRun:
    """Approve a run (four eyes); its payouts are sent by the `sales.payout_send` job."""
    with transaction.atomic(durable=True):
        run = _lock_run(run_id)
        from_status = run.status
        run.status = _run_target(run, "approve")
        refusal = may_approve(run, actor)
        if refusal:
            raise ApplicationError(refusal, code="forbidden")
        run.approved_by, run.approved_at = actor, timezone.now()
        run.save(update_fields=["status", "approved_by", "approved_at"])
        _run_event(run, action="approve", from_status=from_status, actor=actor,
                   reason=note or "Approved.")  # fmt: skip
        for payout in run.payouts.select_for_update().order_by("pk"):
            _move(payout, "approve", actor=actor, source="console", reason="Run approved.")
            enqueue_on_commit(_send_task(), payout.pk)
        if not run.payouts.exists():
            _run_done(run)
    return run


def _send_task():
    from sales.tasks import payout_send  # the job sends; the service only queues it

    return payout_send


def payout_run_cancel(*, run_id: int, actor, reason: str) -> PayoutRun:
    """Cancel a run before approval: each payout's transaction is reversed exactly."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the run is cancelled.", code="reason_required",
                               fields={"reason": "Required."})  # fmt: skip
    with transaction.atomic(durable=True):
        run = _lock_run(run_id)
        from_status = run.status
        run.status = _run_target(run, "cancel")
        run.save(update_fields=["status"])
        _run_event(run, action="cancel", from_status=from_status, actor=actor, reason=reason)
        for payout in run.payouts.select_for_update().order_by("pk"):
            _reverse(payout, "cancel", reason=f"Run cancelled: {reason}", actor=actor,
                     source="console")  # fmt: skip
    return run


def _run_done(run: PayoutRun) -> None:
    if run.status != R.SENDING:
        return
    if run.payouts.filter(status__in=[S.PENDING, *IN_FLIGHT]).exists():
        return
    run.status = _run_target(run, "done")
    run.completed_at = timezone.now()
    run.save(update_fields=["status", "completed_at"])
    counts = {s: run.payouts.filter(status=s).count() for s in (S.PAID, S.FAILED)}
    _run_event(run, action="done", from_status=R.SENDING,
               reason=f"{counts[S.PAID]} paid, {counts[S.FAILED]} failed.")  # fmt: skip


def _run_maybe_done(run_id: int) -> None:
    run = PayoutRun.objects.select_for_update().get(pk=run_id)
    _run_done(run)


# -- one payout's moves ---------------------------------------------------------------------


def _lock_payout(payout_id: int) -> Payout:
    payout = Payout.objects.select_for_update().filter(pk=payout_id).first()
    if payout is None:
        raise ApplicationError(f"Payout #{payout_id} does not exist.", code="not_found")
    return payout


def _target(payout: Payout, action: str) -> str:
    to_status = PAYOUT_ALLOWED.get((payout.status, action))
    if to_status is None:
        raise ApplicationError(
            f"Cannot {action} payout #{payout.pk}: it is {payout.get_status_display().lower()}.",
            code="invalid_transition",
        )
    return to_status


def _move(payout: Payout, action: str, *, actor=None, source="", reason="") -> None:
    from_status = payout.status
    payout.status = _target(payout, action)
    payout.save(update_fields=["status"])
    _payout_event(payout, action=action, from_status=from_status, actor=actor, source=source,
                  reason=reason)  # fmt: skip


def _covered(payout: Payout) -> list[int]:
    return list(payout.items.values_list("commission_id", flat=True))


def _reverse(payout: Payout, action: str, *, reason: str, actor=None, source="") -> None:
    """The exact reverse of the payout's start: its amount out of `in_payout` (or `paid`, for
    a payout returned after it was paid), its gross back in `available`, what it netted owed
    again in `receivable`. Then the payout's commissions are available again."""
    from_status = payout.status
    payout.status = _target(payout, action)
    accounts = _creator_keys(payout.creator_id, payout.currency)
    source_account = (
        ledger.creator_account(payout.creator_id, Kind.PAID, payout.currency)
        if from_status == S.PAID
        else accounts[Kind.IN_PAYOUT]
    )
    legs = [ledger.debit(source_account, payout.amount),
            ledger.credit(accounts[Kind.AVAILABLE], payout.gross)]  # fmt: skip
    if payout.netted:
        legs.append(ledger.debit(accounts[Kind.RECEIVABLE], payout.netted))
    start = LedgerTransaction.objects.filter(idempotency_key=f"payout:{payout.pk}:start").first()
    kind = Txn.PAYOUT_FAILED
    ledger.post(
        idempotency_key=f"payout:{payout.pk}:{'cancelled' if action == 'cancel' else 'failed'}",
        kind=kind, legs=legs, memo=reason[:2000], payout_id=payout.pk,
        reverses_id=start.pk if start else None, actor=actor,
    )  # fmt: skip
    payout.failure_reason = reason[:5000]
    if action == "fail":
        payout.failed_at = timezone.now()
    payout.save(update_fields=["status", "failure_reason", "failed_at"])
    commissions.commissions_leave_payout(_covered(payout), payout_id=payout.pk, paid=False,
                                         reason=reason, actor=actor)  # fmt: skip
    _payout_event(payout, action=action, from_status=from_status, actor=actor, source=source,
                  reason=reason)  # fmt: skip


def payout_confirm(
    *, payout_id: int, source: str, provider_ref: str = "", actor=None, reference: str = ""
) -> tuple[Payout, bool]:
    """The provider says the payout was paid (a webhook, the poll, or a person who paid a
    manual payout by hand, with the bank's reference). Returns (payout, changed): the same
    word twice, or two at once, pays once."""
    if source == "manual" and not (reference or "").strip():
        raise ApplicationError(
            "Give the payment's reference (bank or transfer id).",
            code="reason_required",
            fields={"reference": "Required."},
        )
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.status == S.PAID:
            return payout, False
        if source == "manual" and payout.method != PayoutMethod.MANUAL:
            raise ApplicationError(
                f"Payout #{payout.pk} is paid through {payout.get_method_display()}: only the "
                "provider confirms it.", code="invalid_transition",
            )  # fmt: skip
        from_status = payout.status
        payout.status = _target(payout, "paid")
        ledger.post(
            idempotency_key=f"payout:{payout.pk}:paid", kind=Txn.PAYOUT_PAID,
            legs=ledger.move(
                payout.amount,
                source=ledger.creator_account(payout.creator_id, Kind.IN_PAYOUT, payout.currency),
                target=ledger.creator_account(payout.creator_id, Kind.PAID, payout.currency),
            ),
            memo=f"Payout #{payout.pk} confirmed ({source})"
            + (f": {reference}" if reference else ""),
            payout_id=payout.pk, actor=actor,
        )  # fmt: skip
        if provider_ref and not payout.provider_ref:
            payout.provider_ref = provider_ref[:120]
        payout.paid_at = timezone.now()
        payout.save(update_fields=["status", "provider_ref", "paid_at"])
        commissions.commissions_leave_payout(_covered(payout), payout_id=payout.pk, paid=True,
                                             actor=actor)  # fmt: skip
        _payout_event(payout, action="paid", from_status=from_status, actor=actor, source=source,
                      reason=reference or "Confirmed by the provider.")  # fmt: skip
        _run_maybe_done(payout.run_id)
    return payout, True


def payout_fail(*, payout_id: int, reason: str, source: str, actor=None) -> tuple[Payout, bool]:
    """The payout failed (the provider refused or returned it, or a person says so for a
    manual one): the money goes back to `available` by a reversing transaction, with the
    reason. Returns (payout, changed); a second word changes nothing."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError("Say why the payout failed.", code="reason_required",
                               fields={"reason": "Required."})  # fmt: skip
    with transaction.atomic():
        payout = _lock_payout(payout_id)
        if payout.status in (S.FAILED, S.CANCELLED):
            return payout, False
        _reverse(payout, "fail", reason=reason, actor=actor, source=source)
        _run_maybe_done(payout.run_id)
    logger.info("payout.failed", extra={"payout": payout.pk, "source": source})
    return payout, True


# -- sending ---------------------------------------------------------------------------------


def payout_send(*, payout_id: int) -> Payout:
    """Send one approved payout to its provider (the `sales.payout_send` job). Safe to run
    twice: the provider sees the payout's key each time. Raises RetryLater when the provider
    is busy or down."""
    with transaction.atomic(durable=True):
        payout = _lock_payout(payout_id)
        if payout.status not in (S.QUEUED, S.SENDING):
            return payout  # sent, paid, failed or cancelled: nothing to send
        if payout.method == PayoutMethod.MANUAL:
            payout.sent_at = timezone.now()
            payout.save(update_fields=["sent_at"])
            _move(payout, "export", source="job",
                  reason="To pay by hand: see the run's CSV export; mark it paid with the "
                  "payment's reference.")  # fmt: skip
            return payout
        first = payout.status == S.QUEUED
        payout.attempts += 1
        payout.sending_at = payout.sending_at or timezone.now()
        payout.save(update_fields=["attempts", "sending_at"])
        if first:
            _move(payout, "send", source="job")
        destination = payout.destination_data
    try:
        answer = _call_provider(payout, destination)
    except ProviderUnavailable as exc:
        raise RetryLater(str(exc), countdown=exc.retry_after) from exc
    except ProviderRefused as exc:
        payout_fail(payout_id=payout.pk, reason=str(exc), source="provider")
        return Payout.objects.get(pk=payout.pk)
    with transaction.atomic(durable=True):
        payout = _lock_payout(payout_id)
        payout.provider_ref = payout.provider_ref or answer.get("ref", "")
        payout.provider_batch = payout.provider_batch or answer.get("batch", "")
        payout.save(update_fields=["provider_ref", "provider_batch"])
        if payout.status == S.SENDING:
            payout.sent_at = timezone.now()
            payout.save(update_fields=["sent_at"])
            _move(payout, "sent", source="provider", reason=answer.get("note", ""))
    return payout


def _call_provider(payout: Payout, destination: dict) -> dict:
    if payout.method == PayoutMethod.STRIPE:
        transfer = payout_clients.stripe_transfer_create(
            amount=payout.amount, currency=payout.currency, destination=destination["account"],
            transfer_group=f"shoploop-run-{payout.run_id}",
            metadata={"shoploop_payout": payout.key, "shoploop_run": str(payout.run_id)},
            idempotency_key=payout.key, description=f"Shoploop commissions, run #{payout.run_id}",
        )  # fmt: skip
        return {"ref": transfer["id"], "note": f"Stripe transfer {transfer['id']}."}
    if payout.method == PayoutMethod.PAYPAL:
        header = payout_clients.paypal_payout_create(
            sender_batch_id=payout.key, receiver=destination["account"], recipient_type="EMAIL",
            amount=payout.amount, currency=payout.currency,
            note=f"Shoploop commissions, run #{payout.run_id}",
        )  # fmt: skip
        return {"batch": header["payout_batch_id"],
                "note": f"PayPal batch {header['payout_batch_id']} "
                        f"({header.get('batch_status', '').lower()})."}  # fmt: skip
    raise ProviderRefused(f"Payout #{payout.pk} has no provider to send it ({payout.method}).")


# -- asking the provider (the poll) ------------------------------------------------------------


def payout_poll(*, payout_id: int) -> str:
    """Ask the provider about a payout that is sent (or stuck sending). Returns what happened:
    "paid", "failed", "pending", "resent" or "nothing"."""
    payout = Payout.objects.get(pk=payout_id)
    if payout.status == S.SENDING:
        payout_send(payout_id=payout.pk)  # the same key: the provider answers the first send
        return "resent"
    if payout.status != S.SENT or payout.method == PayoutMethod.MANUAL:
        return "nothing"
    try:
        word, detail = _provider_status(payout)
    except ProviderUnavailable as exc:
        raise RetryLater(str(exc), countdown=exc.retry_after) from exc
    if word == "paid":
        payout_confirm(payout_id=payout.pk, source="poll", provider_ref=detail)
    elif word == "failed":
        payout_fail(payout_id=payout.pk, reason=detail, source="poll")
    return word


PAYPAL_FAILED = {"FAILED", "RETURNED", "BLOCKED", "REFUNDED", "REVERSED", "CANCELED", "DENIED"}


def _provider_status(payout: Payout) -> tuple[str, str]:
    if payout.method == PayoutMethod.STRIPE:
        transfer = payout_clients.stripe_transfer_get(payout.provider_ref)
        if transfer.get("reversed"):
            return "failed", f"Stripe reversed transfer {payout.provider_ref}."
        return "paid", payout.provider_ref
    batch = payout_clients.paypal_payout_batch(payout.provider_batch)
    items = [i for i in batch.get("items") or [] if isinstance(i, dict)]
    item = next((i for i in items if (i.get("payout_item") or {}).get("sender_item_id")
                 == payout.key), items[0] if items else None)  # fmt: skip
    if item is None:
        status = (batch.get("batch_header") or {}).get("batch_status", "")
        if status in PAYPAL_FAILED:
            return "failed", f"PayPal {status.lower()} the payout batch."
        return "pending", ""
    return _paypal_item_word(item)


def _paypal_item_word(item: dict) -> tuple[str, str]:
    status = str(item.get("transaction_status", "")).upper()
    if status == "SUCCESS":
        return "paid", str(item.get("payout_item_id", ""))
    if status in PAYPAL_FAILED:
        errors = item.get("errors") if isinstance(item.get("errors"), dict) else {}
        why = errors.get("message") or errors.get("name") or status.lower()
        return "failed", f"PayPal: {status.lower()}: {why}"
    return "pending", ""


def payouts_poll(*, now=None, limit: int = 200) -> int:
    """Ask the providers about payouts sent (or stuck sending) longer than PAYOUT_POLL_AFTER
    (the periodic job). Returns how many were asked about."""
    now = now or timezone.now()
    due = now - timedelta(seconds=settings.PAYOUT_POLL_AFTER)
    ids = list(
        Payout.objects.filter(status__in=[S.SENT, S.SENDING], sent_at__lte=due)
        .exclude(method=PayoutMethod.MANUAL).values_list("pk", flat=True)[:limit]
    ) + list(
        Payout.objects.filter(status=S.SENDING, sent_at__isnull=True, sending_at__lte=due)
        .values_list("pk", flat=True)[:limit]
    )  # fmt: skip
    asked = 0
    for payout_id in sorted(set(ids)):
        try:
            payout_poll(payout_id=payout_id)
        except (RetryLater, ProviderRefused) as exc:
            logger.warning("payout.poll_failed", extra={"payout": payout_id, "reason": str(exc)})
        asked += 1
    return asked


# -- webhooks ------------------------------------------------------------------------------


def _find_payout(*, key: str = "", ref: str = "", batch: str = "") -> Payout | None:
    if key:
        found = Payout.objects.filter(key=key).first()
        if found:
            return found
    if ref:
        found = Payout.objects.filter(provider_ref=ref).first()
        if found:
            return found
    if batch:
        return Payout.objects.filter(provider_batch=batch).first()
    return None


def payout_notification_receive(*, provider: str, body: bytes, headers: dict) -> tuple[int, str]:
    """A payout webhook from Stripe or PayPal: verify, store once, apply. Returns (HTTP status,
    what happened). A replay (same event id) answers 200 and changes nothing."""
    if provider not in PayoutNotification.Provider.values:
        return 404, "Unknown provider."
    try:
        event = parse_json(body)
    except BodyError as exc:
        return 400, str(exc)
    if not isinstance(event, dict) or not event.get("id"):
        return 400, "An event is a JSON object with an id."
    if provider == PayoutNotification.Provider.STRIPE:
        secret = settings.STRIPE_PAYOUTS_WEBHOOK_SECRET
        lowered = {str(k).lower(): str(v) for k, v in headers.items()}
        verdict = stripe_provider.verify([secret] if secret else [], body, lowered)
        if not verdict.ok:
            return 401, verdict.reason or "STRIPE_PAYOUTS_WEBHOOK_SECRET is not set."
    else:
        try:
            verified = payout_clients.paypal_verify_webhook(headers, body)
        except (ProviderUnavailable, ProviderRefused) as exc:
            return 503, f"PayPal could not verify the webhook: {exc}"
        if not verified:
            return 401, "PayPal did not verify the webhook's signature."
    event_type = str(event.get("type") or event.get("event_type") or "")[:80]
    try:
        with transaction.atomic(durable=True):
            notification = PayoutNotification.objects.create(
                provider=provider, event_id=str(event["id"])[:120], event_type=event_type,
                payload=event,
            )  # fmt: skip
            outcome = _apply_notification(notification, event)
            notification.outcome = outcome
            notification.save(update_fields=["outcome", "payout"])
    except IntegrityError:
        return 200, "Already received."
    logger.info("payout.notification", extra={"provider": provider, "type": event_type,
                                               "outcome": outcome})  # fmt: skip
    return 200, outcome


def _apply_notification(notification: PayoutNotification, event: dict) -> str:
    resource = (event.get("data") or {}).get("object") if notification.provider == "stripe" \
        else event.get("resource")  # fmt: skip
    if not isinstance(resource, dict):
        return "No object in the event."
    if notification.provider == "stripe":
        metadata = resource.get("metadata") if isinstance(resource.get("metadata"), dict) else {}
        payout = _find_payout(key=str(metadata.get("shoploop_payout", "")),
                              ref=str(resource.get("id", "")))  # fmt: skip
        if payout is None:
            return "Not one of Shoploop's payouts."
        notification.payout = payout
        reversed_ = resource.get("reversed") or notification.event_type == "transfer.reversed"
        if notification.event_type in ("transfer.reversed", "transfer.updated") and reversed_:
            _, changed = payout_fail(
                payout_id=payout.pk,
                source="webhook",
                reason=f"Stripe reversed transfer {resource.get('id')}.",
            )
            return "Failed: the transfer was reversed." if changed else "Already failed."
        if notification.event_type in ("transfer.created", "transfer.updated"):
            if payout.status in (S.FAILED, S.CANCELLED):
                return f"Ignored: the payout is {payout.status}."
            _, changed = payout_confirm(payout_id=payout.pk, source="webhook",
                                        provider_ref=str(resource.get("id", "")))  # fmt: skip
            return "Paid." if changed else "Already paid."
        return f"Nothing to do for {notification.event_type}."
    item = resource.get("payout_item") if isinstance(resource.get("payout_item"), dict) else {}
    payout = _find_payout(key=str(item.get("sender_item_id", "")),
                          batch=str(resource.get("payout_batch_id", "")))  # fmt: skip
    if payout is None:
        return "Not one of Shoploop's payouts."
    notification.payout = payout
    word, detail = _paypal_item_word(resource)
    if word == "paid":
        if payout.status in (S.FAILED, S.CANCELLED):
            return f"Ignored: the payout is {payout.status}."
        _, changed = payout_confirm(payout_id=payout.pk, source="webhook", provider_ref=detail)
        return "Paid." if changed else "Already paid."
    if word == "failed":
        _, changed = payout_fail(payout_id=payout.pk, source="webhook", reason=detail)
        return "Failed." if changed else "Already failed."
    return f"Noted: {resource.get('transaction_status', 'pending')}."


# -- manual adjustments ------------------------------------------------------------------


def ledger_adjust(
    *, creator_id: int, currency: str, amount: int, reason: str, actor, key: str = ""
) -> LedgerTransaction:
    """A manual adjustment of what a creator is owed, audited with who and why: a bonus
    (amount > 0) is commission expense credited to `available`; a deduction (amount < 0) is
    owed back (`receivable`) and netted from the next payouts. Amounts in minor units."""
    reason = (reason or "").strip()
    if not reason:
        raise ApplicationError(
            "Say why: the creator sees it on their statement.",
            code="reason_required",
            fields={"reason": "Required."},
        )
    if not getattr(actor, "pk", None):
        raise ApplicationError("A manual adjustment is made by a person.", code="forbidden")
    if not is_currency(currency or ""):
        raise ApplicationError(f"{currency!r} is not an ISO 4217 currency.",
                               fields={"currency": "An ISO 4217 code."})  # fmt: skip
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0:
        raise ApplicationError(
            "The amount is a whole number of minor units, not zero.",
            fields={"amount": "Minor units, above or below zero."},
        )
    if not Creator.objects.filter(pk=creator_id).exists():
        raise ApplicationError(f"Creator #{creator_id} does not exist.", code="not_found")
    expense = ledger.merchant_account(Kind.COMMISSION_EXPENSE, currency)
    if amount > 0:
        legs = [ledger.debit(expense, amount),
                ledger.credit(ledger.creator_account(creator_id, Kind.AVAILABLE, currency),
                              amount)]  # fmt: skip
    else:
        legs = [ledger.debit(ledger.creator_account(creator_id, Kind.RECEIVABLE, currency),
                             -amount),
                ledger.credit(expense, -amount)]  # fmt: skip
    with transaction.atomic(durable=True):
        txn, _ = ledger.post(
            idempotency_key=key or f"adjustment:{uuid.uuid4().hex}", kind=Txn.ADJUSTMENT,
            legs=legs, memo=reason[:2000], actor=actor,
        )  # fmt: skip
    logger.info("ledger.adjusted", extra={"creator": creator_id, "currency": currency,
                                          "transaction": txn.pk})  # fmt: skip
    return txn


# -- ledger_verify: every payout equals its entries ----------------------------------------


_PAYOUT_SQL = """
SELECT p.id, p.status, p.gross, p.netted, p.amount, t.kind, a.kind, e.side, SUM(e.amount)
FROM sales_payout p
JOIN sales_ledgertransaction t ON t.payout_id = p.id
JOIN sales_ledgerentry e ON e.transaction_id = t.id
JOIN sales_ledgeraccount a ON a.id = e.account_id
GROUP BY p.id, p.status, p.gross, p.netted, p.amount, t.kind, a.kind, e.side
ORDER BY p.id
"""


def verify_payouts() -> list[str]:
    """Every payout equals its entries: started with its gross out of available, its amount into
    in_payout and its netted clawbacks settled; paid with its amount; failed or cancelled
    with exactly the reverse. Registered with `sales.ledger.verify`."""
    from django.db import connection

    moved: dict[int, dict] = {}
    with connection.cursor() as cursor:
        cursor.execute(_PAYOUT_SQL)
        for pid, status, gross, netted, amount, tkind, akind, side, total in cursor.fetchall():
            row = moved.setdefault(pid, {"status": status, "gross": gross, "netted": netted,
                                         "amount": amount, "legs": {}})  # fmt: skip
            row["legs"][(tkind, akind, side)] = total
        cursor.execute("SELECT id FROM sales_payout")
        all_ids = [pk for (pk,) in cursor.fetchall()]
    problems = []
    for pid in all_ids:
        row = moved.get(pid)
        if row is None:
            problems.append(f"payout {pid} has no ledger transaction")
            continue
        legs, gross, netted, amount = row["legs"], row["gross"], row["netted"], row["amount"]
        expected = {(Txn.PAYOUT, Kind.AVAILABLE, "debit"): gross,
                    (Txn.PAYOUT, Kind.IN_PAYOUT, "credit"): amount}  # fmt: skip
        if netted:
            expected[(Txn.PAYOUT, Kind.RECEIVABLE, "credit")] = netted
        if row["status"] == S.PAID:
            expected[(Txn.PAYOUT_PAID, Kind.IN_PAYOUT, "debit")] = amount
            expected[(Txn.PAYOUT_PAID, Kind.PAID, "credit")] = amount
        if row["status"] in (S.FAILED, S.CANCELLED):
            paid_first = (Txn.PAYOUT_PAID, Kind.PAID, "credit") in legs
            if paid_first:
                expected[(Txn.PAYOUT_PAID, Kind.IN_PAYOUT, "debit")] = amount
                expected[(Txn.PAYOUT_PAID, Kind.PAID, "credit")] = amount
            back_from = Kind.PAID if paid_first else Kind.IN_PAYOUT
            expected[(Txn.PAYOUT_FAILED, back_from, "debit")] = amount
            expected[(Txn.PAYOUT_FAILED, Kind.AVAILABLE, "credit")] = gross
            if netted:
                expected[(Txn.PAYOUT_FAILED, Kind.RECEIVABLE, "debit")] = netted
        if legs != expected:
            problems.append(f"payout {pid} ({row['status']}) is {amount} (gross {gross}, netted "
                            f"{netted}); its entries say {sorted(legs.items())}")  # fmt: skip
    return problems
