"""The precedence policy: which touch wins. Pure: candidates in, a decision out.

First match wins, the same for every channel:

0. the lifetime lock (when the program has it): the creator who first brought the customer;
1. a valid discount code of a creator used on the order (the first such code it lists);
2. the click the order carried (`slclid`), if a human click inside the window;
3. the visitor's last click (the attribution cookie's), if a human click inside the window;
4. a content touch: a UGC card's link (`utm_content=ugc-<id>`) credits the content's creator.

With first touch, steps 2 and 3 are one step: the earlier of the two eligible clicks wins.
A candidate that is not eligible (a bot, outside the window, after the order, an unknown or
inactive code, a link with no creator) is kept with its reason, and so is each eligible one
that lost, with what beat it: the explanation names them.
"""

from dataclasses import asdict, dataclass, field
from datetime import datetime


@dataclass
class Candidate:
    kind: str  # Attribution.Rule values except "none"
    creator_id: int | None = None
    handle: str = ""
    eligible: bool = False
    reason: str = ""  # why not eligible
    detail: str = ""  # "code MAYA10", "a click on /p/abc 3 days before the order"
    creator_detail: str = ""  # the same, worded for the creator ("your code MAYA10")
    at: datetime | None = None
    click_id: str = ""
    code: str = ""
    ugc_item_id: int | None = None
    beaten_by: str = ""
    extra: dict = field(default_factory=dict)

    def as_json(self) -> dict:
        data = asdict(self)
        data["at"] = self.at.isoformat() if self.at else None
        return data


RANK = {"lifetime_lock": 0, "code": 1, "order_click": 2, "cookie_click": 3, "content": 4}
LABEL = {
    "lifetime_lock": "the customer is locked to them",
    "code": "code",
    "order_click": "click carried by the order",
    "cookie_click": "visitor's last click",
    "content": "content touch",
}


def decide(candidates: list[Candidate], *, touch: str = "last") -> Candidate | None:
    """The winning candidate (or None); every other eligible one gets `beaten_by`."""
    eligible = [c for c in candidates if c.eligible and c.creator_id]
    if not eligible:
        return None

    def key(candidate: Candidate) -> tuple:
        rank = RANK[candidate.kind]
        if touch == "first" and candidate.kind in ("order_click", "cookie_click"):
            # One step for both clicks: the earlier wins (a tie goes to the order's click).
            at = candidate.at.timestamp() if candidate.at else float("inf")
            return (2, at, rank)
        return (rank, 0.0, 0)

    ordered = sorted(eligible, key=key)
    winner = ordered[0]
    for loser in ordered[1:]:
        loser.beaten_by = winner.kind
    return winner


def _ago(at: datetime | None, placed_at: datetime) -> str:
    if at is None:
        return ""
    seconds = (placed_at - at).total_seconds()
    if seconds < 0:
        return "after the order"
    if seconds < 3600:
        return f"{max(1, int(seconds // 60))} minutes earlier"
    if seconds < 86400 * 2:
        return f"{int(seconds // 3600)} hours earlier"
    return f"{int(seconds // 86400)} days earlier"


def explain(winner: Candidate | None, candidates: list[Candidate], placed_at: datetime):
    """(for the merchant, for the creator): "credited to @maya because her code MAYA10 was
    used; her click 3 days earlier was also eligible"."""
    if winner is None:
        reasons = [f"{c.detail}: {c.reason}" for c in candidates if c.reason]
        merchant = "Not credited: no eligible code, click or content touch."
        if reasons:
            merchant += " Considered: " + "; ".join(reasons) + "."
        return merchant, ""
    because = {
        "lifetime_lock": f"the customer is locked to @{winner.handle} since their first order",
        "code": f"the code {winner.code} was used",
        "order_click": f"the order carried @{winner.handle}'s click ({_ago(winner.at, placed_at)})",
        "cookie_click": f"the shopper's last click was @{winner.handle}'s "
        f"({_ago(winner.at, placed_at)})",
        "content": f"the shopper came through @{winner.handle}'s content (UGC item "
        f"#{winner.ugc_item_id})",
    }[winner.kind]
    merchant = f"Credited to @{winner.handle} because {because}"
    creator = {
        "lifetime_lock": "The customer first came to the shop through you.",
        "code": f"Your code {winner.code} was used.",
        "order_click": f"The order came through your link ({_ago(winner.at, placed_at)}).",
        "cookie_click": f"The shopper's last click was on your link "
        f"({_ago(winner.at, placed_at)}).",
        "content": f"The shopper came through your content (#{winner.ugc_item_id}).",
    }[winner.kind]
    also = []
    for c in candidates:
        if c is winner or not c.eligible or not c.creator_id:
            continue
        same = c.creator_id == winner.creator_id
        whose = "their" if same else f"@{c.handle}'s"
        what = {
            "code": f"code {c.code}",
            "lifetime_lock": "customer lock",
            "content": f"content #{c.ugc_item_id}",
        }.get(c.kind) or (f"click {_ago(c.at, placed_at)}")
        also.append(f"{whose} {what} was also eligible")
    if also:
        merchant += "; " + "; ".join(also)
    skipped = [
        f"{c.detail} was not eligible ({c.reason})"
        for c in candidates
        if not c.eligible and c.reason
    ]
    if skipped:
        merchant += ". " + "; ".join(skipped)[0].upper() + "; ".join(skipped)[1:]
    return merchant + ".", creator
