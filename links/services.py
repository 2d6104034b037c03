"""Every write to short links, their rules and the allowed destination domains."""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models.functions import Lower

from core.errors import ApplicationError
from links import codes, snapshots
from links.destinations import normalize_destination, normalize_host
from links.models import UTM_FIELDS, AllowedDomain, RoutingRule, ShortLink, SplitArm
from previews.services import preview_request


def allowed_domains() -> dict[str, bool]:
    """Normalised domain -> subdomains allowed too. The shop's own host is always allowed."""
    allowed = dict(AllowedDomain.objects.values_list("domain", "include_subdomains"))
    if settings.PUBLIC_BASE_URL:
        own = urlsplit(settings.PUBLIC_BASE_URL).hostname
        if own:
            allowed.setdefault(normalize_host(own), False)
    return allowed


def _is_own_page(url: str) -> bool:
    own = urlsplit(settings.PUBLIC_BASE_URL).hostname if settings.PUBLIC_BASE_URL else None
    return bool(own) and urlsplit(url).hostname == own


def clean_destination(obj, *, allowed: dict[str, bool] | None = None) -> None:
    """Validate and normalise the destination fields of a link, rule or split arm."""
    if obj.variant_id and not obj.product_id:
        obj.product_id = obj.variant.product_id
    if obj.variant_id and obj.variant.product_id != obj.product_id:
        raise ValidationError({"variant": "This variant belongs to another product."})
    if obj.product_id and obj.url:
        raise ValidationError({"url": "Choose a product or an external URL, not both."})
    if not obj.product_id and not obj.url:
        raise ValidationError({"url": "Choose a product or enter an external URL."})
    if obj.url:
        try:
            obj.url = normalize_destination(obj.url, allowed=allowed or allowed_domains())
        except ValidationError as exc:
            raise ValidationError({"url": exc.messages}) from exc


def allowed_domain_save(*, domain: AllowedDomain) -> AllowedDomain:
    try:
        domain.domain = normalize_host(domain.domain)
    except ValueError as exc:
        raise ValidationError({"domain": f"Not a valid host name: {exc}."}) from exc
    with transaction.atomic():
        domain.full_clean()
        domain.save()
        transaction.on_commit(snapshots.invalidate_all)
    return domain


def allowed_domain_delete(*, domain: AllowedDomain) -> None:
    with transaction.atomic():
        domain.delete()
        transaction.on_commit(snapshots.invalidate_all)


def _fill_from_campaign(link: ShortLink) -> None:
    if link.campaign_id:
        for field in UTM_FIELDS:
            if not getattr(link, field):
                setattr(link, field, getattr(link.campaign, field))


def _validate_link(link: ShortLink, allowed) -> None:
    errors = {}
    try:
        clean_destination(link, allowed=allowed)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if link.fallback_url:
        try:
            link.fallback_url = normalize_destination(link.fallback_url, allowed=allowed)
        except ValidationError as exc:
            errors["fallback_url"] = exc.messages
    if not isinstance(link.extra_params, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float)
        for k, v in link.extra_params.items()
    ):
        errors["extra_params"] = ['Extra parameters are an object of names to values: {"a": "1"}.']
    if errors:
        raise ValidationError(errors)


def link_validate(link: ShortLink, *, allowed: dict[str, bool] | None = None) -> None:
    """Fill campaign defaults and check what the model alone cannot (forms call this too)."""
    _fill_from_campaign(link)
    _validate_link(link, allowed if allowed is not None else allowed_domains())
    if link.code and _code_taken(link):
        raise ValidationError({"code": "This code is taken."})


def _code_taken(link: ShortLink) -> bool:
    """Codes are unique whatever their case (the unique index is on lower(code))."""
    others = ShortLink.objects.exclude(pk=link.pk).alias(code_lower=Lower("code"))
    return others.filter(code_lower=link.code.lower()).exists()


def link_save(*, link: ShortLink, allowed: dict[str, bool] | None = None) -> ShortLink:
    """Validate and save a new or edited link. A new link without a code gets a random one."""
    allowed = allowed if allowed is not None else allowed_domains()
    link_validate(link, allowed=allowed)
    custom = bool(link.code)
    previous_code = None
    if link.pk:
        previous_code = ShortLink.objects.filter(pk=link.pk).values_list("code", flat=True).first()
    for _attempt in range(5):
        if not custom:
            link.code = codes.random_code()
        if _code_taken(link):
            if custom:
                raise ValidationError({"code": "This code is taken."})
            continue
        try:
            with transaction.atomic():
                link.full_clean()
                link.save()
                for code in {link.code, previous_code} - {None}:
                    transaction.on_commit(lambda code=code: snapshots.invalidate(code))
                if link.url and not _is_own_page(link.url):
                    # So that crawlers unfurl the short link with the page's own card.
                    transaction.on_commit(lambda: preview_request(url=link.url), robust=True)
            return link
        except IntegrityError:  # a concurrent save took the same code
            if custom:
                raise ValidationError({"code": "This code is taken."}) from None
        except ValidationError:
            if not custom:
                link.code = ""
            raise
    raise ApplicationError("Could not find a free code; try again.", code="code_exhausted")


def link_create(
    *, product=None, variant=None, url: str = "", code: str = "", **fields
) -> ShortLink:
    link = ShortLink(product=product, variant=variant, url=url, code=code, **fields)
    return link_save(link=link)


def link_deactivate(*, link: ShortLink) -> ShortLink:
    with transaction.atomic():
        ShortLink.objects.filter(pk=link.pk).update(active=False)
        link.active = False
        transaction.on_commit(lambda: snapshots.invalidate(link.code))
    return link


def rule_validate(rule: RoutingRule, *, allowed: dict[str, bool] | None = None) -> None:
    errors = {}
    try:
        clean_destination(rule, allowed=allowed)
    except ValidationError as exc:
        errors.update(exc.message_dict)
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
    if errors:
        raise ValidationError(errors)


def rule_save(*, rule: RoutingRule, allowed: dict[str, bool] | None = None) -> RoutingRule:
    rule_validate(rule, allowed=allowed)
    with transaction.atomic():
        rule.full_clean()
        rule.save()
        transaction.on_commit(lambda: snapshots.invalidate_link(rule.link_id))
    return rule


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


def split_arm_validate(arm: SplitArm, *, allowed: dict[str, bool] | None = None) -> None:
    clean_destination(arm, allowed=allowed)


def split_arm_save(*, arm: SplitArm, allowed: dict[str, bool] | None = None) -> SplitArm:
    split_arm_validate(arm, allowed=allowed)
    with transaction.atomic():
        arm.full_clean()
        arm.save()
        transaction.on_commit(lambda: snapshots.invalidate_link(arm.link_id))
    return arm


def link_child_delete(*, child: RoutingRule | SplitArm) -> None:
    with transaction.atomic():
        link_id = child.link_id
        child.delete()
        transaction.on_commit(lambda: snapshots.invalidate_link(link_id))


def links_create_for_creators(*, creators, product, campaign=None) -> list[ShortLink]:
    """One link per creator to `product`, tagged with the campaign. All or nothing."""
    allowed = allowed_domains()
    with transaction.atomic():
        return [
            link_save(
                link=ShortLink(
                    product=product, creator=creator, campaign=campaign, utm_content=creator.handle
                ),
                allowed=allowed,
            )  # fmt: skip
            for creator in creators
        ]


def link_replace_rules(*, link: ShortLink, rules: list[RoutingRule]) -> None:
    """Replace a link's routing rules with `rules`, in the order given."""
    allowed = allowed_domains()
    with transaction.atomic():
        link.rules.all().delete()
        for position, rule in enumerate(rules):
            rule.link = link
            rule.position = position
            try:
                rule_save(rule=rule, allowed=allowed)
            except ValidationError as exc:
                raise _nested_error("rules", position, exc) from exc


def link_replace_split_arms(*, link: ShortLink, arms: list[SplitArm]) -> None:
    labels = [arm.label for arm in arms]
    if len(labels) != len(set(labels)):
        raise ValidationError({"split_arms": "Each arm of a split needs its own label."})
    allowed = allowed_domains()
    with transaction.atomic():
        link.split_arms.all().delete()
        for position, arm in enumerate(arms):
            arm.link = link
            try:
                split_arm_save(arm=arm, allowed=allowed)
            except ValidationError as exc:
                raise _nested_error("split_arms", position, exc) from exc


def _nested_error(name: str, position: int, exc: ValidationError) -> ValidationError:
    """Name the item of a list an error is about: {"rules[1].url": [...]}."""
    return ValidationError(
        {f"{name}[{position}].{field}": messages for field, messages in exc.message_dict.items()}
    )
