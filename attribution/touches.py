"""The touches an order carries, as precedence candidates (`attribution/precedence.py`).

Reads only: the order's discount codes (against `creators.DiscountCode`, ignoring case), the
click it carried (`click_id`, or a late click id given since) and the attribution cookie's
click (`visitor_click_id`), both looked up by their unique `click_id`, the content those clicks
or the landing URL name (`utm_content=ugc-<id>`), and the customer's lifetime lock. A handful
of indexed lookups per order, whatever the number of clicks.
"""

import re
import uuid
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from django.db.models.functions import Lower

from attribution.models import CustomerLock
from attribution.precedence import Candidate
from creators.models import Creator, DiscountCode, Program
from links.models import ClickEvent
from sales.models import Order
from ugc.models import Placement, UGCItem

UGC_CONTENT = re.compile(r"^ugc-(\d{1,18})$")
# The feed, gallery and widget add `ugc_placement=<placement>` to the card links they show;
# the short link forwards it to the product page, whose URL becomes the order's landing URL.
PLACEMENT_PARAM = "ugc_placement"
ACTIVE = Creator.Status.ACTIVE


def _days(delta: timedelta) -> str:
    days = delta.total_seconds() / 86400
    return f"{days:.0f} days" if days >= 2 else f"{delta.total_seconds() / 3600:.0f} hours"


def _click_uuid(value: str):
    try:
        return uuid.UUID(str(value).strip())
    except (ValueError, AttributeError):
        return None


def _creator_problem(creator: Creator | None) -> str:
    if creator is None:
        return "its link has no creator"
    if creator.status != ACTIVE:
        return f"@{creator.handle} is {creator.get_status_display().lower()}"
    return ""


def _click_candidate(kind, raw_id, clicks, placed_at, window, what) -> Candidate:
    parsed = _click_uuid(raw_id)
    click = clicks.get(parsed) if parsed else None
    candidate = Candidate(kind=kind, click_id=str(parsed or raw_id)[:100])
    if click is None:
        candidate.detail = f"{what} {str(raw_id)[:40]}"
        candidate.reason = "no such click" if parsed else "not a Shoploop click id"
        return candidate
    creator = click.creator
    candidate.creator_id = creator.pk if creator else None
    candidate.handle = creator.handle if creator else ""
    candidate.at = click.clicked_at
    candidate.detail = f"{what} on /p/{click.link.code}" + (
        f" by @{creator.handle}" if creator else ""
    )
    candidate.extra = {
        "link_id": click.link_id,
        "utm_content": click.utm_content,
        "visitor_hash": click.visitor_hash,
    }
    if click.is_bot:
        candidate.reason = "a bot's visit"
    elif click.clicked_at > placed_at:
        candidate.reason = "it came after the order"
    elif click.clicked_at < placed_at - window:
        candidate.reason = (
            f"{_days(placed_at - click.clicked_at)} before the order, outside "
            f"the {window.days}-day window"
        )
    else:
        candidate.reason = _creator_problem(creator)
    candidate.eligible = not candidate.reason
    return candidate


def _content_candidate(
    item_id: int, source: str, at, reason: str, placement: str = ""
) -> Candidate:
    item = UGCItem.objects.select_related("creator").filter(pk=item_id).first()
    where = f", shown in {Placement(placement).label.lower()}" if placement else ""
    candidate = Candidate(
        kind="content",
        ugc_item_id=item_id,
        at=at,
        detail=f"UGC item #{item_id} ({source}{where})",
        extra={"placement": placement, "item_exists": item is not None},
    )
    if item is None:
        candidate.reason = "no such UGC item"
        return candidate
    creator = item.creator
    candidate.creator_id = creator.pk if creator else None
    candidate.handle = creator.handle if creator else ""
    candidate.reason = reason or (
        "the item has no creator" if creator is None else _creator_problem(creator)
    )
    candidate.eligible = not candidate.reason
    return candidate


def _query_value(url: str, name: str) -> str:
    try:
        return (parse_qs(urlsplit(url).query).get(name) or [""])[0]
    except ValueError:
        return ""


def _utm_content(url: str) -> str:
    return _query_value(url, "utm_content")


def landing_placement(url: str) -> str:
    """The placement a landing URL names (`ugc_placement`), if it is a known one."""
    value = _query_value(url, PLACEMENT_PARAM)
    return value if value in Placement.values else ""


def gather(order: Order, program: Program, *, late_click_id: str = "") -> list[Candidate]:
    """Every touch of `order` under `program`'s policy, eligible or not, in precedence order."""
    placed_at = order.placed_at
    window = timedelta(days=program.window_days)
    candidates: list[Candidate] = []

    if program.lifetime_lock and order.customer_email_hash:
        lock = (
            CustomerLock.objects.select_related("creator")
            .filter(customer_hash=order.customer_email_hash)
            .exclude(order=order)
            .first()
        )
        if lock is not None:
            candidates.append(
                Candidate(
                    kind="lifetime_lock",
                    creator_id=lock.creator_id,
                    handle=lock.creator.handle,
                    detail=f"the customer's lock to @{lock.creator.handle}",
                    reason=_creator_problem(lock.creator),
                    at=lock.created_at,
                )
            )
            candidates[-1].eligible = not candidates[-1].reason

    used = [c.strip() for c in (order.discount_codes or []) if isinstance(c, str) and c.strip()]
    if used:
        known = {
            code.lower_code: code
            for code in DiscountCode.objects.annotate(lower_code=Lower("code"))
            .filter(lower_code__in=[c.lower() for c in used])
            .select_related("creator")
        }
        for text in used:
            code = known.pop(text.lower(), None)
            if code is None:
                continue  # a shop discount that belongs to no creator
            candidate = Candidate(
                kind="code",
                creator_id=code.creator_id,
                handle=code.creator.handle,
                code=code.code,
                detail=f"code {code.code} of @{code.creator.handle}",
            )
            if not code.valid_at(placed_at):
                candidate.reason = (
                    "the code is not approved"
                    if code.status != code.Status.APPROVED
                    else "the code was not active then"
                )
            else:
                candidate.reason = _creator_problem(code.creator)
            candidate.eligible = not candidate.reason
            candidates.append(candidate)

    order_click = order.click_id or late_click_id
    wanted = [_click_uuid(x) for x in (order_click, order.visitor_click_id) if x]
    clicks = {
        click.click_id: click
        for click in ClickEvent.objects.filter(click_id__in=[w for w in wanted if w])
        .select_related("creator", "link")
        .only(
            "click_id",
            "clicked_at",
            "is_bot",
            "utm_content",
            "visitor_hash",
            "link_id",
            "link__code",
            "creator__handle",
            "creator__status",
            "creator_id",
        )
    }
    click_candidates = []
    if order_click:
        click_candidates.append(
            _click_candidate(
                "order_click",
                order_click,
                clicks,
                placed_at,
                window,
                "the order's click" if order.click_id else "the late click",
            )
        )
    if order.visitor_click_id and order.visitor_click_id != order_click:
        click_candidates.append(
            _click_candidate(
                "cookie_click",
                order.visitor_click_id,
                clicks,
                placed_at,
                window,
                "the cookie's click",
            )
        )
    candidates.extend(click_candidates)

    # The landing page names the item and the placement it was shown in; a click's item
    # takes that placement when it is the same item.
    landing = order.landing_url or ""
    landing_match = UGC_CONTENT.match(_utm_content(landing))
    landing_item = int(landing_match.group(1)) if landing_match else None
    placement = landing_placement(landing) if landing_item else ""
    seen_items = set()
    for click in click_candidates:
        match = UGC_CONTENT.match(click.extra.get("utm_content") or "")
        if match and int(match.group(1)) not in seen_items:
            item_id = int(match.group(1))
            seen_items.add(item_id)
            timing = "" if click.reason in ("", "its link has no creator") else click.reason
            candidates.append(
                _content_candidate(
                    item_id,
                    "from the click",
                    click.at,
                    timing,
                    placement if item_id == landing_item else "",
                )
            )
    if landing_item is not None and landing_item not in seen_items:
        candidates.append(
            _content_candidate(landing_item, "from the landing page", None, "", placement)
        )
    return candidates


def content_touch(candidates: list[Candidate]) -> tuple[int | None, str]:
    """(UGC item, placement) the order came through: its first content touch on an item that
    exists, whoever won the credit; (None, "") without one."""
    for candidate in candidates:
        if candidate.kind == "content" and candidate.extra.get("item_exists"):
            return candidate.ugc_item_id, candidate.extra.get("placement", "")
    return None, ""
