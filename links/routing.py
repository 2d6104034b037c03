"""Choosing where a click goes: rules in order, first match wins, else the A/B split or the
link's own destination. Works on snapshots (plain dicts), never on the database."""

import random
import secrets
from functools import lru_cache
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.conf import settings


@lru_cache(maxsize=1024)
def preferred_language(accept_language: str) -> str:
    """The most preferred language tag of an Accept-Language header, lower-cased."""
    best, best_q = "", -1.0
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        if not tag or tag == "*":
            continue
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if q > best_q:
            best, best_q = tag, q
    return best if best_q > 0 else ""


def language_matches(wanted: list[str], language: str) -> bool:
    """`fr` matches fr and fr-CA; `fr-ca` matches only fr-CA."""
    if not language:
        return False
    primary = language.split("-")[0]
    return any(w == language or w == primary for w in wanted)


def rule_matches(rule: dict, *, country, language, agent, query, now: float) -> bool:
    if rule["destination"] is None:
        return False
    if rule["countries"] and country not in rule["countries"]:
        return False
    if rule["languages"] and not language_matches(rule["languages"], language):
        return False
    if rule["os"] and agent.os_group != rule["os"]:
        return False
    if rule["in_app"] and agent.in_app != rule["in_app"]:
        return False
    if rule["param"]:
        if rule["param"] not in query:
            return False
        if rule["value"] and query.get(rule["param"]) != rule["value"]:
            return False
    if rule["from"] is not None and now < rule["from"]:
        return False
    if rule["until"] is not None and now >= rule["until"]:
        return False
    return True


def pick_arm(arms: list[dict], sticky_label: str | None) -> dict | None:
    """The arm a cookie names (by label, which survives edits) if it still exists, else a
    weighted random draw."""
    live = [arm for arm in arms if arm["destination"] is not None]
    if not live:
        return None
    for arm in live:
        if arm["label"] == sticky_label:
            return arm
    return random.choices(live, weights=[arm["weight"] for arm in live])[0]  # noqa: S311


def choose(snapshot: dict, *, country, language, agent, query, now, sticky_arm) -> tuple:
    """(destination, product id, route label, arm or None) for one click."""
    for rule in snapshot["rules"]:
        if rule_matches(
            rule, country=country, language=language, agent=agent, query=query, now=now
        ):
            return (
                rule["destination"],
                rule["product_id"] or snapshot["product_id"],
                f"rule:{rule['id']}",
                None,
            )
    arm = pick_arm(snapshot["arms"], sticky_arm)
    if arm is not None:
        return (
            arm["destination"],
            arm["product_id"] or snapshot["product_id"],
            f"ab:{arm['label']}",
            arm,
        )
    return snapshot["destination"], snapshot["product_id"], "default", None


def with_params(destination: str, forwarded: list[tuple[str, str]], tracking) -> str:
    """`destination` with the shopper's parameters and the link's tracking merged in.

    Later sources replace a name's values from earlier ones: the shopper's parameters, then
    the destination's own query (a partner's `?tag=` stays), then the link's tracking. Only
    the query changes: scheme, host and path are the stored, validated ones.
    """
    parts = urlsplit(destination)
    merged: dict[str, list[str]] = {}
    for group in (forwarded, parse_qsl(parts.query, keep_blank_values=True), tracking):
        values: dict[str, list[str]] = {}
        for name, value in group:
            values.setdefault(name, []).append(value)
        merged.update(values)
    query = urlencode([(n, v) for n, values in merged.items() for v in values])
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def tracking_params(snapshot: dict, click_id: str) -> list[tuple[str, str]]:
    """The parameters a link adds: extras, UTM, the affiliate code and the click id."""
    return [*_link_params(snapshot), (settings.CLICK_ID_PARAM, click_id)]


def _link_params(snapshot: dict) -> tuple[tuple[str, str], ...]:
    params = (*snapshot["extra"].items(), *snapshot["utm"].items())
    if snapshot["affiliate_code"]:
        params += ((settings.AFFILIATE_PARAM, snapshot["affiliate_code"]),)
    return params


# A value urlencode leaves as it is, and that no request can know: it stands for the click id
# in a cached location, which is then cut around it.
_CLICK_MARK = secrets.token_hex(16)
_CACHED_QUERY_MAX = 512  # shoppers' queries longer than this are not cached


def location(
    destination: str, forwarded: list[tuple[str, str]], snapshot: dict, click_id: str
) -> str:
    """`with_params(destination, forwarded, tracking_params(snapshot, click_id))`, with the
    work that does not depend on the click id done once per link and query."""
    key = tuple(forwarded)
    if sum(len(k) + len(v) for k, v in key) > _CACHED_QUERY_MAX:
        return with_params(destination, forwarded, tracking_params(snapshot, click_id))
    before, after = _location_around_click(
        destination, key, _link_params(snapshot), settings.CLICK_ID_PARAM
    )
    if before is None:
        return with_params(destination, forwarded, tracking_params(snapshot, click_id))
    return before + click_id + after


@lru_cache(maxsize=4096)
def _location_around_click(destination, forwarded, link_params, click_param):
    url = with_params(destination, forwarded, [*link_params, (click_param, _CLICK_MARK)])
    if url.count(_CLICK_MARK) != 1:  # pragma: no cover - a request cannot know the mark
        return None, None
    before, _, after = url.partition(_CLICK_MARK)
    return before, after
