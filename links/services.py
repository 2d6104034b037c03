"""Every write to short links, their rules and split arms, and the allowed destination domains.

Services take ids and fields and raise only `ApplicationError` (with `fields` naming what is
wrong). `link_validate`, `rule_validate` and `split_arm_validate` check an unsaved instance
for forms that show errors beside their fields; the writes run the same checks again.
Saved changes invalidate the redirect's cached link snapshots after commit.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower
from django.utils import timezone

from core.errors import ApplicationError, full_clean
from creators.models import Creator
from links import codes, snapshots
from links.destinations import AllowedHost, normalize_destination, normalize_host, parse_ports
from links.models import (
    UTM_FIELDS,
    AllowedDomain,
    AllowedDomainChange,
    RoutingRule,
    ShortLink,
    SplitArm,
)
from links.selectors import allowed_domains
from previews.services import preview_request

DESTINATION_FIELDS = {"product_id", "variant_id", "url"}
LINK_FIELDS = {
    "code", "title", "creator_id", "campaign_id", *UTM_FIELDS, "extra_params", "active",
    "starts_at", "expires_at", "fallback_url", "notes", *DESTINATION_FIELDS,
}  # fmt: skip
RULE_FIELDS = {
    "position", "countries", "languages", "device_os", "in_app", "query_param", "query_value",
    "active_from", "active_until", *DESTINATION_FIELDS,
}  # fmt: skip
ARM_FIELDS = {"label", "weight", *DESTINATION_FIELDS}
DOMAIN_FIELDS = {"domain", "include_subdomains", "ports", "note"}


def _check_names(fields: dict, known: set[str], what: str) -> None:
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"{what} has no field(s) {', '.join(unknown)}")


def _is_own_page(url: str) -> bool:
    own = urlsplit(settings.PUBLIC_BASE_URL).hostname if settings.PUBLIC_BASE_URL else None
    return bool(own) and urlsplit(url).hostname == own


# -- validation (shared by forms and writes) ------------------------------------------------


def clean_destination(obj, *, allowed: dict[str, AllowedHost] | None = None) -> None:
    """Validate and normalise the destination fields of a link, rule or split arm."""
    if obj.variant_id and not obj.product_id:
        obj.product_id = obj.variant.product_id
    if obj.variant_id and obj.variant.product_id != obj.product_id:
        raise ApplicationError(
            "This variant belongs to another product.",
            fields={"variant": "This variant belongs to another product."},
        )
    if obj.product_id and obj.url:
        message = "Choose a product or an external URL, not both."
        raise ApplicationError(message, fields={"url": message})
    if not obj.product_id and not obj.url:
        message = "Choose a product or enter an external URL."
        raise ApplicationError(message, fields={"url": message})
    if obj.url:
        try:
            obj.url = normalize_destination(obj.url, allowed=allowed or allowed_domains())
        except ApplicationError as exc:
            raise ApplicationError(exc.message, code=exc.code, fields={"url": exc.message}) from exc


def _fill_from_campaign(link: ShortLink) -> None:
    if link.campaign_id:
        for field in UTM_FIELDS:
            if not getattr(link, field):
                setattr(link, field, getattr(link.campaign, field))


def _collect(errors: dict, check) -> str | None:
    """Run `check`, adding its field errors to `errors`; returns the error's code if any."""
    try:
        check()
    except ApplicationError as exc:
        errors.update(exc.fields or {"__all__": [exc.message]})
        return exc.code
    return None


def _raise(errors: dict, codes: list) -> None:
    """One error for all of `errors`, keeping the rule's code when only one rule broke."""
    if errors:
        codes = [code for code in codes if code]
        code = codes[0] if len(errors) == 1 and len(codes) == 1 else "invalid"
        raise ApplicationError(_summary(errors), code=code, fields=errors)


def _code_taken(link: ShortLink) -> bool:
    """Codes are unique whatever their case (the unique index is on lower(code))."""
    others = ShortLink.objects.exclude(pk=link.pk).alias(code_lower=Lower("code"))
    return others.filter(code_lower=link.code.lower()).exists()


def link_validate(link: ShortLink, *, allowed: dict[str, AllowedHost] | None = None) -> None:
    """Fill campaign defaults and check what the model alone cannot (forms call this too)."""
    allowed = allowed if allowed is not None else allowed_domains()
    _fill_from_campaign(link)
    errors: dict = {}
    codes = [_collect(errors, lambda: clean_destination(link, allowed=allowed))]
    if link.fallback_url:
        try:
            link.fallback_url = normalize_destination(link.fallback_url, allowed=allowed)
        except ApplicationError as exc:
            errors["fallback_url"] = [exc.message]
            codes.append(exc.code)
    if not isinstance(link.extra_params, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float)
        for k, v in link.extra_params.items()
    ):
        errors["extra_params"] = ['Extra parameters are an object of names to values: {"a": "1"}.']
    if link.code and _code_taken(link):
        errors["code"] = ["This code is taken."]
        codes.append("code_taken")
    _raise(errors, codes)


def rule_validate(rule: RoutingRule, *, allowed: dict[str, AllowedHost] | None = None) -> None:
    errors: dict = {}
    codes = [_collect(errors, lambda: clean_destination(rule, allowed=allowed))]
    conditions = [
        rule.countries, rule.languages, rule.device_os, rule.in_app, rule.query_param,
        rule.active_from, rule.active_until,
    ]  # fmt: skip
    if not any(conditions):
        errors["__all__"] = ["A rule needs at least one condition."]
    rule.countries = _normalise_list(rule.countries, upper=True, field="countries", errors=errors)
    rule.languages = _normalise_list(rule.languages, upper=False, field="languages", errors=errors)
    if rule.query_value and not rule.query_param:
        errors["query_param"] = ["Name the query parameter the value is for."]
    if rule.active_from and rule.active_until and rule.active_until <= rule.active_from:
        errors["active_until"] = ["The window must end after it starts."]
    _raise(errors, codes)


def split_arm_validate(arm: SplitArm, *, allowed: dict[str, AllowedHost] | None = None) -> None:
    clean_destination(arm, allowed=allowed)


def _summary(errors: dict) -> str:
    return "; ".join(
        (f"{name}: " if name != "__all__" else "")
        + " ".join(msgs if isinstance(msgs, list) else [msgs])
        for name, msgs in errors.items()
    )


def _normalise_list(value: str, *, upper: bool, field: str, errors: dict) -> str:
    items = [item.strip() for item in value.replace(";", ",").split(",") if item.strip()]
    if field == "countries":
        bad = [i for i in items if not (len(i) == 2 and i.isalpha() and i.isascii())]
        if bad:
            errors[field] = [f"Not a two-letter country code: {', '.join(bad)}."]
    else:
        bad = [i for i in items if not all(p.isalnum() and p.isascii() for p in i.split("-"))]
        if bad:
            errors[field] = [f"Not a language tag: {', '.join(bad)}."]
    return ", ".join(i.upper() if upper else i.lower() for i in items)


# -- links -------------------------------------------------------------------------------


def link_create(
    *,
    rules: list[dict] | None = None,
    split_arms: list[dict] | None = None,
    allowed: dict[str, AllowedHost] | None = None,
    **fields,
) -> ShortLink:
    """Make a link from `fields` (ids for relations). Without a code it gets a random one.

    `rules` and `split_arms` (lists of field dicts) are saved with it, all or nothing.
    """
    _check_names(fields, LINK_FIELDS, "A link")
    link = ShortLink(**fields)
    return _save_link(link, previous_code=None, rules=rules, arms=split_arms, allowed=allowed)


def link_update(
    *, link_id: int, rules: list[dict] | None = None, split_arms: list[dict] | None = None, **fields
) -> ShortLink:
    """Change the given fields of a link; `rules` / `split_arms`, when given, replace them."""
    _check_names(fields, LINK_FIELDS, "A link")
    with transaction.atomic():
        link = _lock_link(link_id)
        previous_code = link.code
        for name, value in fields.items():
            setattr(link, name, value)
        return _save_link(link, previous_code=previous_code, rules=rules, arms=split_arms)


def _lock_link(link_id: int) -> ShortLink:
    try:
        return ShortLink.objects.select_for_update().get(pk=link_id)
    except ShortLink.DoesNotExist:
        raise ApplicationError(f"Link #{link_id} does not exist.", code="not_found") from None


def _save_link(link, *, previous_code, rules, arms, allowed=None) -> ShortLink:
    allowed = allowed if allowed is not None else allowed_domains()
    custom = bool(link.code)
    link_validate(link, allowed=allowed)
    for _attempt in range(5):
        if not custom:
            link.code = codes.random_code()
            if _code_taken(link):
                continue
        try:
            with transaction.atomic():
                full_clean(link)
                link.save()
                if rules is not None:
                    _replace_rules(link, rules, allowed)
                if arms is not None:
                    _replace_split_arms(link, arms, allowed)
                for code in {link.code, previous_code} - {None}:
                    transaction.on_commit(lambda code=code: snapshots.invalidate(code))
                if link.url and not _is_own_page(link.url):
                    # So that crawlers unfurl the short link with the page's own card.
                    transaction.on_commit(
                        lambda url=link.url: preview_request(url=url), robust=True
                    )
            return link
        except IntegrityError:  # a concurrent save took the same code
            if custom:
                raise ApplicationError(
                    "This code is taken.", code="code_taken", fields={"code": "This code is taken."}
                ) from None
        except ApplicationError:
            if not custom:
                link.code = ""
            raise
    raise ApplicationError("Could not find a free code; try again.", code="code_exhausted")


def link_deactivate(*, link_id: int) -> ShortLink:
    with transaction.atomic():
        link = _lock_link(link_id)
        link.active = False
        link.save(update_fields=["active", "updated_at"])
        code = link.code
        transaction.on_commit(lambda: snapshots.invalidate(code))
    return link


def link_replace_rules(*, link_id: int, rules: list[dict]) -> None:
    """Replace a link's routing rules with `rules` (field dicts), in the order given."""
    with transaction.atomic():
        link = _lock_link(link_id)
        _replace_rules(link, rules, allowed_domains())
        transaction.on_commit(lambda: snapshots.invalidate_link(link_id))


def link_replace_split_arms(*, link_id: int, split_arms: list[dict]) -> None:
    with transaction.atomic():
        link = _lock_link(link_id)
        _replace_split_arms(link, split_arms, allowed_domains())
        transaction.on_commit(lambda: snapshots.invalidate_link(link_id))


def _replace_rules(link: ShortLink, rules: list[dict], allowed) -> None:
    link.rules.all().delete()
    for position, fields in enumerate(rules):
        _check_names(fields, RULE_FIELDS, "A routing rule")
        rule = RoutingRule(**{**fields, "position": position}, link=link)
        _save_child(rule, rule_validate, allowed, prefix=f"rules[{position}].")


def _replace_split_arms(link: ShortLink, arms: list[dict], allowed) -> None:
    labels = [arm.get("label") for arm in arms]
    if len(labels) != len(set(labels)):
        message = "Each arm of a split needs its own label."
        raise ApplicationError(message, fields={"split_arms": message})
    link.split_arms.all().delete()
    for position, fields in enumerate(arms):
        _check_names(fields, ARM_FIELDS, "A split arm")
        arm = SplitArm(**fields, link=link)
        _save_child(arm, split_arm_validate, allowed, prefix=f"split_arms[{position}].")


def _save_child(child, validate, allowed, *, prefix: str) -> None:
    """Validate and save a rule or arm; errors name the item: {"rules[1].url": [...]}."""
    try:
        validate(child, allowed=allowed)
        full_clean(child, exclude=["link"])
    except ApplicationError as exc:
        fields = {f"{prefix}{name}": msgs for name, msgs in exc.fields.items()}
        raise ApplicationError(
            _summary(fields) or exc.message, code=exc.code, fields=fields
        ) from exc
    child.save()


def links_create_for_creators(
    *, creator_ids: list[int], product_id: int, campaign_id: int | None = None
) -> list[ShortLink]:
    """One link per creator to a product, tagged with the campaign. All or nothing."""
    allowed = allowed_domains()
    handles = dict(Creator.objects.filter(pk__in=creator_ids).values_list("pk", "handle"))
    missing = sorted(set(creator_ids) - set(handles))
    if missing:
        raise ApplicationError(f"No creator #{missing[0]}.", code="not_found")
    with transaction.atomic():
        return [
            link_create(
                product_id=product_id,
                creator_id=creator_id,
                campaign_id=campaign_id,
                utm_content=handles[creator_id],
                allowed=allowed,
            )  # fmt: skip
            for creator_id in creator_ids
        ]


# -- the allowed destination domains (the open-redirect allowlist), audited ---------------


def _domain_state(domain: AllowedDomain) -> dict:
    return {
        "domain": domain.domain,
        "include_subdomains": domain.include_subdomains,
        "ports": domain.ports,
        "note": domain.note,
    }


def allowed_domain_validate(domain: AllowedDomain) -> None:
    """Normalise the host and ports and check them (forms call this too)."""
    errors = {}
    try:
        domain.domain = normalize_host(domain.domain or "")
    except ValueError as exc:
        errors["domain"] = [f"Not a valid host name: {exc}."]
    try:
        domain.ports = ", ".join(str(p) for p in sorted(parse_ports(domain.ports or "")))
    except ValueError as exc:
        errors["ports"] = [f"{str(exc).capitalize()}."]
    if not errors and (
        AllowedDomain.objects.exclude(pk=domain.pk).filter(domain=domain.domain).exists()
    ):
        errors["domain"] = ["This domain is already allowed."]
    if errors:
        raise ApplicationError(_summary(errors), fields=errors)
    full_clean(domain)


def _audit_domain(domain_name, action, *, before, after, actor, reason="") -> None:
    AllowedDomainChange.objects.create(
        domain=domain_name, action=action, before=before, after=after,
        actor=actor if getattr(actor, "pk", None) else None, at=timezone.now(), reason=reason,
    )  # fmt: skip


def allowed_domain_create(
    *, domain: str, include_subdomains: bool = False, ports: str = "", note: str = "", actor=None
) -> AllowedDomain:
    entry = AllowedDomain(
        domain=domain, include_subdomains=include_subdomains, ports=ports, note=note
    )
    with transaction.atomic():
        allowed_domain_validate(entry)
        entry.save()
        _audit_domain(entry.domain, AllowedDomainChange.Action.ADDED, before=None,
                      after=_domain_state(entry), actor=actor)  # fmt: skip
        transaction.on_commit(snapshots.invalidate_all)
    return entry


def allowed_domain_update(*, domain_id: int, actor=None, **fields) -> AllowedDomain:
    _check_names(fields, DOMAIN_FIELDS, "An allowed domain")
    with transaction.atomic():
        entry = _lock_domain(domain_id)
        before = _domain_state(entry)
        for name, value in fields.items():
            setattr(entry, name, value)
        allowed_domain_validate(entry)
        if _domain_state(entry) == before:
            return entry
        entry.save()
        _audit_domain(entry.domain, AllowedDomainChange.Action.CHANGED, before=before,
                      after=_domain_state(entry), actor=actor)  # fmt: skip
        transaction.on_commit(snapshots.invalidate_all)
    return entry


def allowed_domain_delete(*, domain_id: int, actor=None, reason: str = "") -> None:
    with transaction.atomic():
        entry = _lock_domain(domain_id)
        before = _domain_state(entry)
        entry.delete()
        _audit_domain(before["domain"], AllowedDomainChange.Action.REMOVED, before=before,
                      after=None, actor=actor, reason=reason)  # fmt: skip
        transaction.on_commit(snapshots.invalidate_all)


def _lock_domain(domain_id: int) -> AllowedDomain:
    try:
        return AllowedDomain.objects.select_for_update().get(pk=domain_id)
    except AllowedDomain.DoesNotExist:
        raise ApplicationError(
            f"Allowed domain #{domain_id} does not exist.", code="not_found"
        ) from None
