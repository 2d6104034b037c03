"""Every write of attribution: decisions (with their commissions and fraud signals) and the
conversions outbox.

`attribution_decide` is the one way an order is credited. It locks the order row, gathers the
touches (`touches.py`), applies the default program's precedence policy (`precedence.py`),
and, in the same transaction: writes or replaces the order's one `Attribution` (a unique
constraint) with a new `AttributionRevision`, records fraud signals (`fraud.py`), sets the
customer's lifetime lock, and posts the commissions to the ledger through
`sales.commissions.commission_post` (held for review when a signal was found). Run again
(a late click id, a fixed mapping, `attribution_recompute`), it replaces the decision only
when the credit changes: the earlier commissions are reversed and the new ones posted, and
both decisions stay in the history. Running it twice, or twice at once, changes nothing the
second time (the order's lock serialises them).
"""

import logging
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from attribution import customer as customers
from attribution import fraud, touches
from attribution.conversions import MODULES
from attribution.conversions.base import Context, LineItem, Refused, Unavailable
from attribution.models import (
    Attribution,
    AttributionRevision,
    ConversionDestination,
    ConversionEvent,
    CustomerLock,
    FraudSignal,
)
from attribution.precedence import Candidate, decide, explain
from core.absolute_urls import absolute_url
from core.errors import ApplicationError
from core.jobs import RetryLater, enqueue_on_commit, retry_delay
from core.money import to_minor
from creators import commission_rules as rules
from creators.models import Creator, GroupMembership, Program
from sales import commissions
from sales.models import Order

logger = logging.getLogger(__name__)
Rule = Attribution.Rule
EARNING_STATUSES = (
    Order.Status.PAID,
    Order.Status.FULFILLED,
    Order.Status.PARTIALLY_REFUNDED,
    Order.Status.REFUNDED,
)


# -- the proposal: what a decision would be, read-only ----------------------------------------


@dataclass
class Proposal:
    program: Program
    candidates: list[Candidate]
    winner: Candidate | None
    explanation: str
    creator_explanation: str
    returning: bool
    membership: GroupMembership | None = None
    result: rules.Result | None = None
    commission_note: str = ""
    findings: list = field(default_factory=list)

    @property
    def creator_id(self) -> int | None:
        return self.winner.creator_id if self.winner else None

    @property
    def rule(self) -> str:
        return self.winner.kind if self.winner else Rule.NONE

    def commission_total(self, currency: str) -> int:
        if self.result is None:
            return 0
        return sum(to_minor(e.amount, currency) for e in self.result.earned)


def policy_program() -> Program:
    """The program whose policy decides: the default one, else the first active one, else an
    unsaved policy with the defaults (last touch, ATTRIBUTION_WINDOW_DAYS, no lock)."""
    program = Program.objects.filter(active=True).order_by("-is_default", "pk").first() or Program(
        name="(no program)", window_days=settings.ATTRIBUTION_WINDOW_DAYS
    )
    return program


def _membership(creator_id: int, prefer_program_id: int | None) -> GroupMembership | None:
    memberships = list(
        GroupMembership.objects.filter(creator_id=creator_id, status="active", program__active=True)
        .select_related("group__program", "program", "creator")
        .order_by("pk")
    )
    memberships.sort(key=lambda m: (m.program_id != prefer_program_id, not m.program.is_default))
    return memberships[0] if memberships else None


def facts_of(order: Order, *, returning: bool) -> rules.OrderFacts:
    return rules.OrderFacts(
        currency=order.currency,
        placed_at=order.placed_at,
        country=order.country,
        returning=returning,
        subtotal=order.subtotal,
        discounts=order.discounts,
        shipping=order.shipping,
        tax=order.tax,
        total=order.total,
        lines=[
            rules.LineFacts(
                line_id=line.pk,
                product_id=line.product_id,
                title=line.title or line.sku,
                quantity=line.quantity,
                unit_price=line.unit_price,
                discount=line.discount,
                tax=line.tax,
                brand=line.product.brand if line.product_id else "",
            )
            for line in order.lines.select_related("product").order_by("pk")
        ],
    )


def _is_returning(order: Order) -> bool:
    if not order.customer_email_hash:
        return False
    return (
        Order.objects.filter(
            customer_email_hash=order.customer_email_hash,
            paid_at__isnull=False,
            placed_at__lt=order.placed_at,
        )
        .exclude(pk=order.pk)
        .exists()
    )


def propose(order: Order, *, late_click_id: str = "", with_fraud: bool = True) -> Proposal:
    """What `attribution_decide` would decide for `order` now (reads only)."""
    program = policy_program()
    candidates = touches.gather(order, program, late_click_id=late_click_id)
    winner = decide(candidates, touch=program.touch)
    merchant, creator_text = explain(winner, candidates, order.placed_at)
    proposal = Proposal(
        program=program,
        candidates=candidates,
        winner=winner,
        explanation=merchant,
        creator_explanation=creator_text,
        returning=_is_returning(order),
    )
    if winner is None:
        return proposal
    prefer = None
    if winner.kind == "code":
        prefer = (
            touches.DiscountCode.objects.filter(code=winner.code)
            .values_list("program_id", flat=True)
            .first()
        )
    proposal.membership = _membership(winner.creator_id, prefer or program.pk)
    if proposal.membership is None:
        proposal.commission_note = (
            f"@{winner.handle} is in no group of an active program: nothing earned."
        )
    else:
        group = proposal.membership.group
        ids = rules.rulesets_in_force(
            group_id=group.pk, creator_id=winner.creator_id, at=order.placed_at
        )
        if not ids:
            proposal.commission_note = (
                f"{group} had no published rules when the order was placed: nothing earned."
            )
        else:
            result = rules.compute(
                facts_of(order, returning=proposal.returning),
                proposal.membership.program,
                ids,
                published=True,  # rulesets_in_force returns published versions only
            )
            proposal.result = result
            total = result.total
            proposal.commission_note = f"Earns {total} {order.currency} under {group}." + (
                f" No rule matched: {', '.join(result.unmatched)}." if result.unmatched else ""
            )
    if with_fraud:
        creator = (
            proposal.membership.creator  # loaded with the membership: one query fewer
            if proposal.membership is not None
            else Creator.objects.get(pk=winner.creator_id)
        )
        proposal.findings = fraud.findings(
            order=order,
            creator=creator,
            winner=winner,
            candidates=candidates,
            window_days=program.window_days,
            visitor_key=order.visitor_click_id or "",
            customer=customers.for_order(order.pk),
        )
    return proposal


# -- the decision -------------------------------------------------------------------------


def _lock_order(order_id: int) -> Order:
    order = Order.objects.select_for_update().filter(pk=order_id).first()
    if order is None:
        raise ApplicationError(f"Order #{order_id} does not exist.", code="not_found")
    return order


def _same_credit(attribution: Attribution, proposal: Proposal) -> bool:
    winner = proposal.winner
    return (
        attribution.creator_id == proposal.creator_id
        and attribution.rule == proposal.rule
        and (attribution.discount_code or "") == (winner.code if winner else "")
        and str(attribution.click_id or "") == ((winner.click_id or "") if winner else "")
    )


def attribution_decide(
    *, order_id: int, reason: str = "The order was paid.", actor=None, late_click_id: str = ""
) -> Attribution:
    """Credit an order (or confirm its credit); see the module docstring."""
    late_click_id = (late_click_id or "").strip()[:100]
    with transaction.atomic(durable=True):
        order = _lock_order(order_id)
        existing = Attribution.objects.filter(order=order).first()
        late = late_click_id or (existing.late_click_id if existing else "")
        proposal = propose(order, late_click_id=late)
        if existing is not None and _same_credit(existing, proposal):
            if late_click_id and existing.late_click_id != late_click_id:
                existing.late_click_id = late_click_id
                existing.save(update_fields=["late_click_id"])
            return existing
        attribution = _write(order, existing, proposal, late=late, reason=reason, actor=actor)
    logger.info(
        "attribution.decided",
        extra={
            "order_id": order_id,
            "rule": attribution.rule,
            "creator_id": attribution.creator_id,
            "version": attribution.version,
        },
    )
    return attribution


def _write(order, existing, proposal: Proposal, *, late, reason, actor) -> Attribution:
    winner = proposal.winner
    if existing is not None and existing.commission_total:
        # The credit moves: what the earlier decision earned is taken back.
        who = f"@{winner.handle}" if winner else "nobody"
        commissions.commissions_reverse_for_order(
            order_id=order.pk, reason=f"Re-attributed to {who}: {reason}"
        )
    attribution = existing or Attribution(order=order)
    attribution.version = (existing.version + 1) if existing else 1
    attribution.creator_id = proposal.creator_id
    attribution.rule = proposal.rule
    attribution.program = proposal.program if proposal.program.pk else None
    attribution.policy = proposal.program.policy()
    attribution.click_id = (winner.click_id or None) if winner and "click" in winner.kind else None
    attribution.discount_code = winner.code if winner and winner.kind == "code" else ""
    attribution.ugc_item_id = winner.ugc_item_id if winner else None
    attribution.content_item_id, attribution.content_placement = touches.content_touch(
        proposal.candidates
    )
    attribution.late_click_id = late
    attribution.candidates = [c.as_json() for c in proposal.candidates]
    attribution.explanation = proposal.explanation
    attribution.creator_explanation = proposal.creator_explanation
    attribution.customer_returning = proposal.returning
    attribution.customer_email_hash = order.customer_email_hash or ""
    attribution.visitor_key = order.visitor_click_id or ""
    attribution.placed_at = order.placed_at
    attribution.commission_program = proposal.membership.program if proposal.membership else None
    attribution.group = proposal.membership.group if proposal.membership else None
    attribution.commission_note = proposal.commission_note
    attribution.commission_currency = order.currency
    earnings = _earnings(order, proposal)
    # What the commissions below will post, known before they are: one write of the row.
    attribution.commission_total = sum(amount for _earned, amount in earnings)
    attribution.review_reason = " ".join(f.merchant_text for f in proposal.findings)
    attribution.decided_at = timezone.now()
    attribution.save()
    for finding in proposal.findings:
        FraudSignal.objects.create(
            attribution=attribution,
            version=attribution.version,
            order=order,
            creator_id=proposal.creator_id,
            kind=finding.kind,
            evidence=finding.evidence,
            merchant_text=finding.merchant_text,
            creator_text=finding.creator_text,
        )
    if winner is not None and proposal.program.lifetime_lock and order.customer_email_hash:
        try:
            with transaction.atomic():
                CustomerLock.objects.create(
                    customer_hash=order.customer_email_hash,
                    creator_id=winner.creator_id,
                    order=order,
                )
        except IntegrityError:
            pass  # the customer is locked already (to this creator, or it won the lock rule)
    _post_commissions(attribution, order, proposal, earnings)
    AttributionRevision.objects.create(
        attribution=attribution,
        version=attribution.version,
        creator_id=attribution.creator_id,
        rule=attribution.rule,
        policy=attribution.policy,
        candidates=attribution.candidates,
        explanation=attribution.explanation,
        commission_total=attribution.commission_total,
        reason=reason,
        actor=actor if getattr(actor, "pk", None) else None,
        decided_at=attribution.decided_at,
    )
    return attribution


def _earnings(order: Order, proposal: Proposal) -> list[tuple[rules.Earned, int]]:
    """What the decision earns, each with its amount in minor units (nothing for an unpaid or
    cancelled order, nor for a line that earns nothing)."""
    if proposal.result is None or order.paid_at is None or order.status not in EARNING_STATUSES:
        return []
    earnings = []
    for earned in proposal.result.earned:
        amount = to_minor(earned.amount, order.currency)
        if amount > 0:
            earnings.append((earned, amount))
    return earnings


def _post_commissions(attribution: Attribution, order: Order, proposal: Proposal, earnings) -> None:
    """Post what the decision earns (`_earnings`) to the ledger, as pending commissions."""
    group = proposal.membership.group if proposal.membership else None
    for earned, amount in earnings:
        where = (
            f"line:{earned.line_id}" if earned.line_id else f"order:rule:{earned.rule['rule_id']}"
        )
        commissions.commission_post(
            key=f"attribution:{attribution.pk}:v{attribution.version}:{where}",
            order_id=order.pk,
            line_id=earned.line_id,
            creator_id=attribution.creator_id,
            base=to_minor(earned.base, order.currency),
            amount=amount,
            hold_days=group.hold_days,
            rule={
                **earned.rule,
                "policy_version": attribution.policy.get("version"),
                "attribution_version": attribution.version,
                "attribution_rule": attribution.rule,
                "customer": "returning" if proposal.returning else "new",
                "base": str(earned.base),
            },
            attribution_id=attribution.pk,
            review_reason=attribution.review_reason,
            order=order,
        )


@dataclass
class Change:
    order_id: int
    before: str
    after: str
    changed: bool
    commission_before: int = 0
    commission_after: int = 0


def attribution_preview(*, order_id: int, late_click_id: str = "") -> Change:
    """What re-running the decision would change (reads only: `--dry-run`)."""
    order = Order.objects.filter(pk=order_id).first()
    if order is None:
        raise ApplicationError(f"Order #{order_id} does not exist.", code="not_found")
    existing = Attribution.objects.filter(order=order).select_related("creator").first()
    proposal = propose(
        order,
        late_click_id=late_click_id or (existing.late_click_id if existing else ""),
        with_fraud=False,
    )

    def summary(rule, handle):
        return f"{rule} → @{handle}" if handle else str(rule)

    before = (
        summary(existing.rule, existing.creator.handle if existing.creator_id else "")
        if existing
        else "(not decided)"
    )
    after = summary(proposal.rule, proposal.winner.handle if proposal.winner else "")
    changed = existing is None or not _same_credit(existing, proposal)
    paid = order.paid_at is not None and order.status in EARNING_STATUSES
    return Change(
        order_id=order.pk,
        before=before,
        after=after,
        changed=changed,
        commission_before=existing.commission_total if existing else 0,
        commission_after=proposal.commission_total(order.currency)
        if paid and changed
        else (existing.commission_total if existing else 0),
    )


# -- the conversions outbox ---------------------------------------------------------------


def _context(order: Order) -> Context:
    customer = customers.for_order(order.pk)
    customer.country = customer.country or order.country
    lines = [
        LineItem(
            sku=line.sku or str(line.pk),
            title=line.title,
            quantity=line.quantity,
            unit_price=line.unit_price,
        )
        for line in order.lines.order_by("pk")
    ]
    return Context(
        event_id=str(order.pk),
        order_number=order.name or order.external_id,
        occurred_at=order.paid_at or order.placed_at,
        currency=order.currency,
        value=order.total,
        lines=lines,
        url=order.landing_url or absolute_url("/"),
        customer=customer,
        external_id=order.customer_email_hash,
    )


def conversions_enqueue(*, order_id: int) -> list[ConversionEvent]:
    """One purchase event per active destination for a paid order (once each: the event's
    key is unique), each sent by `attribution.send_conversion` after commit."""
    from attribution.tasks import send_conversion

    made = []
    with transaction.atomic():
        order = Order.objects.filter(pk=order_id).first()
        if order is None or order.paid_at is None:
            return []
        destinations = list(ConversionDestination.objects.filter(active=True).order_by("pk"))
        if not destinations:
            return []
        context = _context(order)
        for destination in destinations:
            module = MODULES[destination.kind]
            payload = module.build(
                context, pixel_id=destination.pixel_id, test_event_code=destination.test_event_code
            )
            status, reason = ConversionEvent.Status.PENDING, ""
            if destination.consent_required and not context.customer.consent:
                status = ConversionEvent.Status.SKIPPED
                reason = "Skipped: the shopper's consent to ad measurement is not recorded."
                payload = module.scrub(payload)
            elif not module.has_identifiers(payload):
                status = ConversionEvent.Status.SKIPPED
                reason = "Skipped: nothing identifies the shopper (no email, phone or id)."
            try:
                with transaction.atomic():
                    event = ConversionEvent.objects.create(
                        destination=destination,
                        order=order,
                        key="purchase",
                        event_id=context.event_id,
                        payload=payload,
                        status=status,
                        reason=reason,
                    )
            except IntegrityError:
                continue  # already in the outbox
            made.append(event)
            if status == ConversionEvent.Status.PENDING:
                enqueue_on_commit(send_conversion, event.pk)
    return made


def _lock_event(event_id: int) -> ConversionEvent:
    event = (
        ConversionEvent.objects.select_for_update()
        .select_related("destination")
        .filter(pk=event_id)
        .first()
    )
    if event is None:
        raise ApplicationError(f"Conversion event #{event_id} does not exist.", code="not_found")
    return event


def conversion_send(*, event_id: int) -> ConversionEvent:
    """Send one pending event. Sent: marked with the answer (raw IP and user agent dropped
    from the stored copy). Refused: failed for good with the reason. A timeout, 5xx or rate
    limit: the attempt is recorded and `RetryLater` asks the job to try again after the
    backoff, never sooner than `Retry-After`; after CONVERSIONS_MAX_ATTEMPTS it fails for
    good with the reason."""
    retry = None
    with transaction.atomic():
        event = _lock_event(event_id)
        if event.status != ConversionEvent.Status.PENDING:
            return event  # sent, failed or skipped already (a duplicate message)
        module = MODULES[event.destination.kind]
        event.attempts += 1
        now = timezone.now()
        try:
            answer = module.send(event.destination, event.payload)
        except Unavailable as exc:
            event.last_status_code = exc.status or None
            if event.attempts >= settings.CONVERSIONS_MAX_ATTEMPTS:
                event.status = ConversionEvent.Status.FAILED
                event.reason = f"{exc} Gave up after {event.attempts} attempts."
            else:
                wait = retry_delay(event.attempts - 1, minimum=exc.retry_after)
                event.next_attempt_at = now + timedelta(seconds=wait)
                event.reason = f"{exc} Attempt {event.attempts}; next in {wait:.0f} s."
                retry = RetryLater(str(exc), countdown=wait, code="conversion_unavailable")
        except Refused as exc:
            event.status = ConversionEvent.Status.FAILED
            event.last_status_code = exc.status or None
            event.reason = str(exc)
        else:
            event.status = ConversionEvent.Status.SENT
            event.sent_at = now
            event.last_status_code = 200
            event.reason = answer
            event.payload = module.scrub(event.payload)
        event.save()
    logger.info(
        "conversion.attempt",
        extra={"event_id": event.pk, "status": event.status, "attempt": event.attempts},
    )
    if retry is not None:
        raise retry
    return event


def conversion_give_up(*, event_id: int, reason: str) -> None:
    """The job's retries ran out: the event fails for good with the reason."""
    with transaction.atomic():
        event = _lock_event(event_id)
        if event.status == ConversionEvent.Status.PENDING:
            event.status = ConversionEvent.Status.FAILED
            event.reason = f"{reason} Gave up after {event.attempts} attempts."
            event.save(update_fields=["status", "reason", "updated_at"])


def conversion_retry(*, event_id: int, actor=None) -> ConversionEvent:
    """Send a failed (or skipped) event again, from the console."""
    from attribution.tasks import send_conversion

    with transaction.atomic():
        event = _lock_event(event_id)
        if event.status not in (ConversionEvent.Status.FAILED, ConversionEvent.Status.SKIPPED):
            raise ApplicationError(
                f"Event #{event.pk} is {event.status}; only failed or skipped events are retried.",
                code="invalid_transition",
            )
        event.status = ConversionEvent.Status.PENDING
        event.attempts = 0
        event.next_attempt_at = timezone.now()
        event.reason = f"Retried by {actor}." if actor else "Retried."
        event.save()
        enqueue_on_commit(send_conversion, event.pk)
    return event


def conversions_due(*, limit: int = 500) -> list[int]:
    """Pending events whose next attempt is over a minute late (a lost message)."""
    late = timezone.now() - timedelta(minutes=1)
    return list(
        ConversionEvent.objects.filter(
            status=ConversionEvent.Status.PENDING, next_attempt_at__lte=late
        )
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )


def destination_save(
    *, destination_id: int | None = None, access_token: str = "", **fields
) -> ConversionDestination:
    """Create or change a destination; the token is kept when none is given."""
    from core.errors import full_clean

    allowed = {"kind", "name", "active", "pixel_id", "test_event_code", "consent_required"}
    unknown = set(fields) - allowed
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(sorted(unknown))}.")
    with transaction.atomic():
        if destination_id is None:
            if not access_token:
                raise ApplicationError(
                    "A destination needs its access token.", fields={"access_token": "Required."}
                )
            destination = ConversionDestination()
        else:
            destination = (
                ConversionDestination.objects.select_for_update().filter(pk=destination_id).first()
            )
            if destination is None:
                raise ApplicationError(
                    f"Destination #{destination_id} does not exist.", code="not_found"
                )
        for name, value in fields.items():
            setattr(destination, name, value)
        if access_token:
            destination.access_token = access_token
        full_clean(destination)
        destination.save()
    return destination
