"""Every write to creators."""

import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from core.crypto import keyed_hash
from core.errors import ApplicationError, full_clean
from creators.models import Creator
from creators.program_models import (
    CommissionRule,
    CreatorFingerprint,
    CreatorGroup,
    DiscountCode,
    GroupMembership,
    ProductCollection,
    Program,
    ProgramPolicyChange,
    ProgramTerms,
    RuleSet,
)
from creators.signals import creator_changed


def creator_create(
    *, name: str, handle: str, affiliate_code: str, email: str = "", status=Creator.Status.ACTIVE
) -> Creator:
    with transaction.atomic():
        creator = Creator(
            name=name, handle=handle, affiliate_code=affiliate_code, email=email, status=status
        )
        full_clean(creator)
        creator.save()
    return creator


def creator_save(*, creator: Creator) -> Creator:
    with transaction.atomic():
        full_clean(creator)
        creator.save()
        transaction.on_commit(lambda: creator_changed.send(sender=Creator, creator_id=creator.pk))
    return creator


# --- programs, groups, rules, discount codes (issue 13) ------------------------------------
# The models are in `creators/program_models.py`; matching and amounts in
# `creators/commission_rules.py`. Every write below is one transaction; drafts are the only
# rule sets that change, and publishing one is audited by who and when.


POLICY_FIELDS = ("touch", "window_days", "lifetime_lock")
PROGRAM_FIELDS = ("name", "slug", "description", "currency", "active", "is_default",
                  *POLICY_FIELDS, "base_less_discounts", "base_less_tax", "base_less_shipping",
                  "payout_schedule")  # fmt: skip
GROUP_FIELDS = ("name", "slug", "application_mode", "hold_days", "minimum_payout", "position")
RULE_FIELDS = ("position", "name", "customer", "countries", "min_order_value",
               "max_order_value", "kind", "percent", "flat_amount", "cap")  # fmt: skip
CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,40}$")


def _save(instance, **clean_kwargs):
    full_clean(instance, **clean_kwargs)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as exc:
        raise ApplicationError(f"{exc.__cause__ or exc}".splitlines()[0], code="conflict") from None
    return instance


def _get(model, pk, what: str):
    found = model.objects.select_for_update().filter(pk=pk).order_by().first()
    if found is None:
        raise ApplicationError(f"{what} #{pk} does not exist.", code="not_found")
    return found


def _unknown(fields: dict, allowed) -> None:
    unknown = sorted(set(fields) - set(allowed))
    if unknown:
        raise ApplicationError(f"Unknown fields: {', '.join(unknown)}.", fields={
            name: "Not a field of this object." for name in unknown})  # fmt: skip


def program_create(*, name: str, slug: str, actor=None, **fields) -> Program:
    _unknown(fields, PROGRAM_FIELDS)
    with transaction.atomic():
        program = _save(Program(name=name, slug=slug, **fields))
        ProgramPolicyChange.objects.create(
            program=program, version=program.policy_version, policy=program.policy(),
            actor=actor if getattr(actor, "pk", None) else None, reason="Created.",
        )  # fmt: skip
    return program


def program_update(*, program_id: int, actor=None, reason: str = "", **fields) -> Program:
    """Change a program. A change to the attribution policy makes a new policy version
    (audited with who and why); decisions keep the version they used."""
    _unknown(fields, PROGRAM_FIELDS)
    with transaction.atomic():
        program = _get(Program, program_id, "Program")
        policy_changed = any(
            name in fields and fields[name] != getattr(program, name) for name in POLICY_FIELDS
        )
        for name, value in fields.items():
            setattr(program, name, value)
        if policy_changed:
            program.policy_version += 1
        _save(program)
        if policy_changed:
            ProgramPolicyChange.objects.create(
                program=program, version=program.policy_version, policy=program.policy(),
                actor=actor if getattr(actor, "pk", None) else None, reason=reason,
            )  # fmt: skip
    return program


def program_terms_publish(*, program_id: int, text: str) -> ProgramTerms:
    """Publish a new version of a program's terms (earlier versions stay as they were)."""
    if not (text or "").strip():
        raise ApplicationError("The terms are empty.", fields={"text": "Write the terms."})
    with transaction.atomic():
        program = _get(Program, program_id, "Program")
        last = program.terms.aggregate(v=Max("version"))["v"] or 0
        return _save(ProgramTerms(program=program, version=last + 1, text=text.strip(),
                                  published_at=timezone.now()))  # fmt: skip


def group_create(*, program_id: int, name: str, slug: str, **fields) -> CreatorGroup:
    _unknown(fields, GROUP_FIELDS)
    with transaction.atomic():
        program = _get(Program, program_id, "Program")
        return _save(CreatorGroup(program=program, name=name, slug=slug, **fields))


def group_update(*, group_id: int, **fields) -> CreatorGroup:
    _unknown(fields, GROUP_FIELDS)
    with transaction.atomic():
        group = _get(CreatorGroup, group_id, "Group")
        for name, value in fields.items():
            setattr(group, name, value)
        return _save(group)


def membership_set(*, creator_id: int, group_id: int) -> GroupMembership:
    """Put a creator in a group; a membership in another group of the program ends."""
    with transaction.atomic():
        creator = _get(Creator, creator_id, "Creator")
        group = _get(CreatorGroup, group_id, "Group")
        current = (
            GroupMembership.objects.select_for_update()
            .filter(creator=creator, program_id=group.program_id, status="active")
            .first()
        )
        if current is not None and current.group_id == group.pk:
            return current
        if current is not None:
            current.status = GroupMembership.Status.REMOVED
            current.save(update_fields=["status"])
        return _save(GroupMembership(creator=creator, group=group, program_id=group.program_id))


def membership_end(*, membership_id: int) -> GroupMembership:
    with transaction.atomic():
        membership = _get(GroupMembership, membership_id, "Membership")
        membership.status = GroupMembership.Status.REMOVED
        membership.save(update_fields=["status"])
    return membership


def collection_create(
    *, name: str, slug: str, product_ids=(), brands: str = ""
) -> ProductCollection:
    with transaction.atomic():
        collection = _save(ProductCollection(name=name, slug=slug, brands=brands))
        collection.products.set(product_ids)
    return collection


# -- rule sets ------------------------------------------------------------------------------


def _next_version(group_id: int, creator_id: int | None) -> int:
    last = RuleSet.objects.filter(group_id=group_id, creator_id=creator_id).aggregate(
        v=Max("version")
    )["v"]
    return (last or 0) + 1


def _latest_published(group_id: int, creator_id: int | None) -> RuleSet | None:
    return (
        RuleSet.objects.filter(group_id=group_id, creator_id=creator_id, status="published")
        .order_by("-version")
        .first()
    )


def ruleset_draft(*, group_id: int, creator_id: int | None = None, note: str = "") -> RuleSet:
    """A draft of the next version, starting from a copy of the latest published one (or the
    draft that already exists: there is one draft at a time)."""
    with transaction.atomic():
        group = _get(CreatorGroup, group_id, "Group")
        if creator_id is not None:
            _get(Creator, creator_id, "Creator")
        existing = RuleSet.objects.filter(group=group, creator_id=creator_id,
                                          status="draft").first()  # fmt: skip
        if existing is not None:
            return existing
        draft = _save(RuleSet(group=group, creator_id=creator_id, note=note,
                              version=_next_version(group.pk, creator_id)))  # fmt: skip
        source = _latest_published(group.pk, creator_id)
        for rule in source.rules.prefetch_related("products", "collections") if source else []:
            copy = CommissionRule.objects.create(
                ruleset=draft, **{name: getattr(rule, name) for name in RULE_FIELDS}
            )
            copy.products.set(rule.products.all())
            copy.collections.set(rule.collections.all())
    return draft


def _draft(ruleset_id: int) -> RuleSet:
    ruleset = _get(RuleSet, ruleset_id, "Rule set")
    if ruleset.status != RuleSet.Status.DRAFT:
        raise ApplicationError(
            f"Version {ruleset.version} is published and cannot change; make a new draft.",
            code="invalid_transition",
        )
    return ruleset


def rule_save(*, ruleset_id: int, rule_id: int | None = None, product_ids=None,
              collection_ids=None, **fields) -> CommissionRule:  # fmt: skip
    """Add a rule to a draft (or change one of its rules)."""
    _unknown(fields, RULE_FIELDS)
    with transaction.atomic():
        ruleset = _draft(ruleset_id)
        if rule_id is None:
            rule = CommissionRule(ruleset=ruleset)
        else:
            rule = CommissionRule.objects.filter(pk=rule_id, ruleset=ruleset).first()
            if rule is None:
                raise ApplicationError(f"Rule #{rule_id} is not in this draft.", code="not_found")
        for name, value in fields.items():
            setattr(rule, name, value)
        _save(rule)
        if product_ids is not None:
            rule.products.set(product_ids)
        if collection_ids is not None:
            rule.collections.set(collection_ids)
    return rule


def rule_delete(*, ruleset_id: int, rule_id: int) -> None:
    with transaction.atomic():
        ruleset = _draft(ruleset_id)
        CommissionRule.objects.filter(pk=rule_id, ruleset=ruleset).delete()


def _rule_key(rule) -> tuple:
    return (
        tuple(sorted(p.pk for p in rule.products.all())),
        tuple(sorted(c.pk for c in rule.collections.all())),
        rule.customer, tuple(sorted(rule.country_list())), rule.min_order_value,
        rule.max_order_value,
    )  # fmt: skip


def _value(rule) -> Decimal:
    return rule.percent if rule.kind == CommissionRule.Kind.PERCENT else rule.flat_amount


def ruleset_lowers(old: RuleSet | None, new: RuleSet) -> list[str]:
    """What in `new` pays less than `old` (a lowered, removed or re-ordered rule; a cap added
    or lowered). Empty: the new version only raises or adds, and applies at once."""
    if old is None:
        return []
    old_rules = list(old.rules.prefetch_related("products", "collections"))
    new_rules = {_rule_key(r): r for r in new.rules.prefetch_related("products", "collections")}
    reasons = []
    order_old = [_rule_key(r) for r in old_rules]
    order_new = [k for k in (_rule_key(r) for r in new.rules.all()) if k in order_old]
    if order_new != [k for k in order_old if k in order_new]:
        reasons.append("rules were re-ordered")
    for rule in old_rules:
        match = new_rules.get(_rule_key(rule))
        if match is None:
            reasons.append(f"rule {rule.position} was removed or its conditions changed")
        elif match.kind != rule.kind:
            reasons.append(f"rule {rule.position} changed kind")
        elif _value(match) < _value(rule):
            reasons.append(f"rule {rule.position} went from {_value(rule)} to {_value(match)}")
        elif match.cap is not None and (rule.cap is None or match.cap < rule.cap):
            reasons.append(f"rule {rule.position} got a lower cap")
    return reasons


def ruleset_publish(*, ruleset_id: int, actor=None, now=None) -> RuleSet:
    """Freeze a draft. It applies at once when it only raises or adds; when it lowers or
    removes anything, after `COMMISSION_DECREASE_NOTICE_DAYS` (orders placed before then
    earn the old rates)."""
    now = now or timezone.now()
    with transaction.atomic():
        ruleset = _draft(ruleset_id)
        if not ruleset.rules.exists():
            raise ApplicationError("A version needs at least one rule.", code="invalid",
                                   fields={"rules": "Add a rule."})  # fmt: skip
        reasons = ruleset_lowers(_latest_published(ruleset.group_id, ruleset.creator_id), ruleset)
        ruleset.lowers = bool(reasons)
        notice = timedelta(days=settings.COMMISSION_DECREASE_NOTICE_DAYS)
        ruleset.effective_at = now + notice if reasons else now
        ruleset.status = RuleSet.Status.PUBLISHED
        ruleset.published_at = now
        ruleset.published_by = actor if getattr(actor, "pk", None) else None
        if reasons:
            ruleset.note = (ruleset.note + " " if ruleset.note else "") + (
                "Lowers: " + "; ".join(reasons) + "."
            )[: 300 - len(ruleset.note) - 1]
        ruleset.save()
    return ruleset


# -- discount codes -------------------------------------------------------------------------


def _check_code(code: str) -> str:
    code = (code or "").strip()
    if not CODE_PATTERN.match(code):
        raise ApplicationError(
            "A discount code is 3 to 40 letters, digits, - or _.",
            code="invalid", fields={"code": "3–40 of A–Z, 0–9, - and _."},
        )  # fmt: skip
    return code


def discount_code_create(*, code: str, creator_id: int, program_id: int, requested=False,
                         starts_at=None, ends_at=None) -> DiscountCode:  # fmt: skip
    """A creator's code in a program: approved at once, or `requested` (a custom code the
    creator asked for, which the merchant approves or rejects)."""
    code = _check_code(code)
    with transaction.atomic():
        status = DiscountCode.Status.REQUESTED if requested else DiscountCode.Status.APPROVED
        found = DiscountCode.objects.filter(code__iexact=code).first()
        if found is not None:
            raise ApplicationError(f"The code {found.code} is taken (codes ignore case).",
                                   code="conflict", fields={"code": "Taken."})  # fmt: skip
        return _save(DiscountCode(code=code, creator_id=creator_id, program_id=program_id,
                                  status=status, starts_at=starts_at, ends_at=ends_at),
                     validate_constraints=False)  # fmt: skip


CODE_MOVES = {
    (DiscountCode.Status.REQUESTED, "approve"): DiscountCode.Status.APPROVED,
    (DiscountCode.Status.REQUESTED, "reject"): DiscountCode.Status.REJECTED,
}


def discount_code_decide(
    *, code_id: int, approve: bool, actor=None, reason: str = ""
) -> DiscountCode:
    """Approve or reject a requested code (a rejection says why: the creator sees it)."""
    action = "approve" if approve else "reject"
    if not approve and not (reason or "").strip():
        raise ApplicationError("Say why the code is rejected.", code="reason_required",
                               fields={"reason": "Required."})  # fmt: skip
    with transaction.atomic():
        code = _get(DiscountCode, code_id, "Discount code")
        to_status = CODE_MOVES.get((code.status, action))
        if to_status is None:
            raise ApplicationError(f"Cannot {action} code {code.code}: it is {code.status}.",
                                   code="invalid_transition")  # fmt: skip
        code.status = to_status
        code.decided_by = actor if getattr(actor, "pk", None) else None
        code.decision_reason = (reason or "").strip()[:300]
        code.save(update_fields=["status", "decided_by", "decision_reason"])
    return code


def discount_code_set_active(*, code_id: int, active: bool) -> DiscountCode:
    with transaction.atomic():
        code = _get(DiscountCode, code_id, "Discount code")
        code.active = active
        code.save(update_fields=["active"])
    return code


# -- fingerprints ---------------------------------------------------------------------------

FINGERPRINT_PURPOSE = {
    CreatorFingerprint.Kind.EMAIL: "customer-email",
    CreatorFingerprint.Kind.PAYMENT: "payment-fingerprint",
    CreatorFingerprint.Kind.PAYOUT_ACCOUNT: "payout-account",
}


def fingerprint_hash(kind: str, value: str) -> str:
    """The keyed hash stored for `value` (emails lower-cased, as orders hash them). Visitor
    hashes are keyed hashes already and are kept as they are."""
    value = (value or "").strip()
    if kind == CreatorFingerprint.Kind.EMAIL:
        value = value.lower()
    if kind == CreatorFingerprint.Kind.VISITOR:
        return value
    return keyed_hash(FINGERPRINT_PURPOSE[kind], value)


def creator_fingerprint_record(*, creator_id: int, kind: str, value: str,
                               source: str = "") -> CreatorFingerprint:  # fmt: skip
    """Remember what identifies a creator (their own email, card, visitor hash, payout
    account: the portal and payouts call this), keyed-hashed, once."""
    if kind not in CreatorFingerprint.Kind.values:
        raise ApplicationError(f"kind: one of {', '.join(CreatorFingerprint.Kind.values)}.",
                               fields={"kind": "Unknown kind."})  # fmt: skip
    if not (value or "").strip():
        raise ApplicationError("Nothing to record.", fields={"value": "Required."})
    value_hash = fingerprint_hash(kind, value)
    with transaction.atomic():
        found, _ = CreatorFingerprint.objects.get_or_create(
            creator_id=creator_id, kind=kind, value_hash=value_hash,
            defaults={"source": source[:120]},
        )  # fmt: skip
    return found


# --- end programs ---


# --- creator portal (issue 15): applications, invitations, accounts ------------------------
# The writes live in their own modules (`creators/applications.py`, `creators/accounts.py`);
# they are re-exported here so that every write of creators is found in one place.
from creators.accounts import (  # noqa: E402,F401
    account_erase,
    account_set_password,
    account_update,
    login_link_redeem,
    login_link_request,
    login_links_prune,
)
from creators.applications import (  # noqa: E402,F401
    application_answer,
    application_approve,
    application_ask,
    application_reject,
    application_submit,
    code_request,
    content_licence_publish,
    invitation_accept,
    invitation_create,
    invitation_revoke,
    program_options_save,
)

# --- end creator portal ---
from creators.samples import product_request_create, product_request_decide  # noqa: E402,F401
