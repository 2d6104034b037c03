"""Bulk moderation in the console: one service call per item, a report item by item.

Each item goes through its own service call (its own transaction, row lock and audit row),
so one item that cannot move never holds back the others. Every refusal is kept with the
service's reason.
"""

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.contrib import admin, messages
from django.shortcuts import render

from core.errors import ApplicationError, error_message
from ugc import services
from ugc.admin.forms import ArchiveForm, RejectForm, rejection_reasons_notice
from ugc.models import UGCItem

MAX_BULK_ITEMS = 500


@dataclass
class BulkReport:
    done_label: str  # "Published"
    failed_label: str  # "Not published"
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)

    def summary(self) -> str | None:
        if not self.done:
            return None
        return f"{self.done_label} {len(self.done)}: " + ", ".join(f"#{pk}" for pk in self.done)

    def failures(self) -> list[str]:
        return [f"{self.failed_label} #{pk}: {why}" for pk, why in self.failed]


def why(exc: ApplicationError, item_id: int) -> str:
    """The service's reason, without repeating the item's number the report already gives."""
    if exc.fields.get("publish"):  # every unmet publishing requirement
        return " ".join(exc.fields["publish"])
    message = re.sub(rf"^Item #{item_id}\b", "It", error_message(exc))
    return re.sub(rf"(?<!UGC )\bitem #{item_id}\b", "it", message)


def run_bulk(
    item_ids: Iterable[int], step: Callable[[int], object], *, done: str, failed: str
) -> BulkReport:
    report = BulkReport(done, failed)
    for item_id in sorted(item_ids):
        try:
            step(item_id)
        except ApplicationError as exc:
            report.failed.append((item_id, why(exc, item_id)))
        else:
            report.done.append(item_id)
    return report


def _claim_if_queued(item_id: int, moderator, statuses: dict[int, str]) -> None:
    # Deciding needs the claim; a queued item is claimed first (one moderator per item
    # still holds: the claim fails if someone else is reviewing it).
    if statuses.get(item_id) == UGCItem.Status.QUEUED:
        services.ugc_claim(item_id=item_id, moderator=moderator)


def _statuses(item_ids) -> dict[int, str]:
    return dict(UGCItem.objects.filter(pk__in=list(item_ids)).values_list("pk", "status"))


def bulk_claim(item_ids, *, moderator) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_claim(item_id=pk, moderator=moderator),
        done="Claimed",
        failed="Not claimed",
    )


def approvals_to_confirm(item_ids) -> list[tuple[UGCItem, list[str]]]:
    """The items among `item_ids` that approving would move and that need a confirmation
    first (flagged, or without rights for the site), each with what to confirm."""
    items = UGCItem.objects.filter(
        pk__in=list(item_ids), status__in=[UGCItem.Status.QUEUED, UGCItem.Status.REVIEWING]
    ).order_by("pk")
    found = []
    for item in items:
        warnings = [message for _, message in services.approval_warnings(item)]
        if warnings:
            found.append((item, warnings))
    return found


def bulk_approve(item_ids, *, moderator, note: str = "", confirmed_ids=()) -> BulkReport:
    """Approve each item (claiming a queued one first). An item that needs a confirmation
    is approved only when its id is in `confirmed_ids` (the moderator saw its warnings);
    otherwise it is refused before it is claimed, so it stays in the queue."""
    item_ids = list(item_ids)
    statuses = _statuses(item_ids)
    confirmed_ids = {int(pk) for pk in confirmed_ids}

    def step(pk):
        confirmed = pk in confirmed_ids
        if not confirmed:
            for _item, warnings in approvals_to_confirm([pk]):
                raise ApplicationError(
                    "It needs a confirmation before it is approved: " + " ".join(warnings),
                    code="confirmation_required",
                )
        _claim_if_queued(pk, moderator, statuses)
        services.ugc_approve(item_id=pk, moderator=moderator, note=note, confirmed=confirmed)

    return run_bulk(item_ids, step, done="Approved", failed="Not approved")


def bulk_reject(item_ids, *, moderator, reason, note: str = "") -> BulkReport:
    item_ids = list(item_ids)
    statuses = _statuses(item_ids)

    def step(pk):
        _claim_if_queued(pk, moderator, statuses)
        services.ugc_reject(item_id=pk, moderator=moderator, reason=reason, note=note)

    return run_bulk(item_ids, step, done="Rejected", failed="Not rejected")


def bulk_publish(item_ids, *, actor) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_publish(item_id=pk, actor=actor),
        done="Published",
        failed="Not published",
    )


def bulk_archive(item_ids, *, actor, reason: str) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_archive(item_id=pk, actor=actor, reason=reason),
        done="Archived",
        failed="Not archived",
    )


def bulk_requeue(item_ids, *, actor, reason: str = "") -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_requeue(item_id=pk, actor=actor, reason=reason),
        done="Sent back to the queue",
        failed="Not sent back to the queue",
    )


def bulk_media_retry(item_ids, *, actor) -> BulkReport:
    return run_bulk(
        item_ids,
        lambda pk: services.ugc_media_retry(item_id=pk, actor=actor),
        done="Media queued again",
        failed="Media not queued again",
    )


class BulkActionsMixin:
    """The UGC item admin's bulk actions, each through `run_bulk` and reported item by item."""

    actions = [
        "claim_items", "approve_items", "reject_items", "publish_items", "archive_items",
        "requeue_items", "retry_media",
    ]  # fmt: skip

    def _report(self, request, report: BulkReport):
        summary = report.summary()
        if summary:
            self.message_user(request, summary, messages.SUCCESS)
        for line in report.failures():
            self.message_user(request, line, messages.ERROR)

    def _selected_ids(self, request, queryset) -> list[int] | None:
        limit = MAX_BULK_ITEMS
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: limit + 1])
        if len(ids) > limit:
            self.message_user(
                request,
                f"Select at most {MAX_BULK_ITEMS} items for one action.",
                messages.ERROR,
            )
            return None
        return ids

    def _intermediate(self, request, ids, *, action, title, form, button, intro, extra=None):
        context = {
            **(extra or {}),
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.model._meta,
            "items": UGCItem.objects.filter(pk__in=ids).order_by("pk"),
            "form": form,
            "action": action,
            "button": button,
            "intro": intro,
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
        }
        return render(request, "admin/ugc/ugcitem/action_confirm.html", context)

    def _run(self, request, queryset, bulk, **kwargs) -> None:
        """One operation on each selected item, reported item by item."""
        ids = self._selected_ids(request, queryset)
        if ids is not None:
            self._report(request, bulk(ids, **kwargs))

    def _run_confirmed(self, request, queryset, form_class, run, **page):
        """An operation that needs input (a reason) from a confirmation page first;
        `run(ids, cleaned_data)` does it once the form is valid."""
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        form = form_class(request.POST if "apply" in request.POST else None)
        if form.is_bound and form.is_valid():
            self._report(request, run(ids, form.cleaned_data))
            return None
        return self._intermediate(request, ids, form=form, **page)

    @admin.action(description="Claim selected items for review", permissions=["moderate"])
    def claim_items(self, request, queryset):
        self._run(request, queryset, bulk_claim, moderator=request.user)

    @admin.action(description="Approve selected items", permissions=["moderate"])
    def approve_items(self, request, queryset):
        """Approve at once, unless an item is flagged or has no rights for the site: then a
        confirmation page lists those items and what to confirm for each first."""
        ids = self._selected_ids(request, queryset)
        if ids is None:
            return None
        if "apply" in request.POST:
            confirmed = request.POST.getlist("confirmed")
            confirmed_ids = [int(pk) for pk in confirmed if pk.isdigit()]
            self._report(
                request, bulk_approve(ids, moderator=request.user, confirmed_ids=confirmed_ids)
            )
            return None
        to_confirm = approvals_to_confirm(ids)
        if not to_confirm:
            self._report(request, bulk_approve(ids, moderator=request.user))
            return None
        warned = {item.pk for item, _ in to_confirm}
        context = {
            **self.admin_site.each_context(request),
            "title": "Approve items",
            "opts": self.model._meta,
            "to_confirm": to_confirm,
            "others": UGCItem.objects.filter(pk__in=ids).exclude(pk__in=warned).order_by("pk"),
            "selected_ids": ids,
            "action": "approve_items",
            "action_checkbox_name": admin.helpers.ACTION_CHECKBOX_NAME,
            "cancel_url": request.get_full_path(),
        }
        return render(request, "admin/ugc/ugcitem/approve_confirm.html", context)

    @admin.action(description="Reject selected items…", permissions=["moderate"])
    def reject_items(self, request, queryset):
        def run(ids, data):
            return bulk_reject(
                ids, moderator=request.user, reason=data["reason"], note=data["note"]
            )

        return self._run_confirmed(
            request, queryset, RejectForm, run, action="reject_items", title="Reject items",
            button="Reject", intro="Reject these items with a reason from your list:",
            extra=rejection_reasons_notice(request),
        )  # fmt: skip

    @admin.action(description="Publish selected items", permissions=["moderate"])
    def publish_items(self, request, queryset):
        self._run(request, queryset, bulk_publish, actor=request.user)

    @admin.action(description="Archive selected items…", permissions=["moderate"])
    def archive_items(self, request, queryset):
        def run(ids, data):
            return bulk_archive(ids, actor=request.user, reason=data["reason"])

        return self._run_confirmed(
            request, queryset, ArchiveForm, run, action="archive_items", title="Archive items",
            button="Archive", intro="Take these published items down, and say why:",
        )  # fmt: skip

    @admin.action(description="Send selected items back to the queue", permissions=["moderate"])
    def requeue_items(self, request, queryset):
        self._run(request, queryset, bulk_requeue, actor=request.user)

    @admin.action(description="Process media again (failed or stuck)", permissions=["moderate"])
    def retry_media(self, request, queryset):
        self._run(request, queryset, bulk_media_retry, actor=request.user)
