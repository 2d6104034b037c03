"""The publishing calendar in the console: schedule approved items per placement, see what
goes live when (a month grid), cancel pending entries. Writes go through
`ugc.services.schedule`; the `ugc.publish_scheduled` beat job does the publishing."""

import calendar
from datetime import date, datetime, time, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from core import admin_base as console
from core.errors import ApplicationError
from ugc import services
from ugc.admin.permissions import can_moderate
from ugc.models import Placement, UGCCollection, UGCItem, UGCSchedule


class ScheduleForm(forms.Form):
    item = forms.ModelChoiceField(
        queryset=UGCItem.objects.filter(status=UGCItem.Status.APPROVED).order_by("-pk"),
        help_text="Approved items only.",
    )
    placement = forms.ChoiceField(choices=Placement.choices)
    collection = forms.ModelChoiceField(
        queryset=UGCCollection.objects.order_by("name", "pk"),
        required=False,
        help_text="The collection placement: the collection the item goes into when published.",
    )
    publish_at = forms.DateTimeField(
        label="Publish at",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        help_text="In the console's time zone.",
    )


def month_of(value: str | None) -> date:
    """The first day of `?month=YYYY-MM`, or of this month when absent or malformed."""
    try:
        year, month = (int(part) for part in (value or "").split("-"))
        return date(year, month, 1)
    except ValueError:
        today = timezone.localdate()
        return today.replace(day=1)


def month_weeks(first: date, schedules) -> list[list[dict]]:
    """Weeks (Monday first) of day cells: {"day", "in_month", "entries"}."""
    by_day: dict[date, list] = {}
    for schedule in schedules:
        by_day.setdefault(timezone.localtime(schedule.publish_at).date(), []).append(schedule)
    weeks = []
    for week in calendar.Calendar(firstweekday=0).monthdatescalendar(first.year, first.month):
        weeks.append(
            [
                {"day": day, "in_month": day.month == first.month, "entries": by_day.get(day, [])}
                for day in week
            ]
        )
    return weeks


class UGCScheduleAdmin(console.ModelAdmin):
    list_display = [
        "publish_at", "item", "placement", "collection", "status", "outcome", "created_by",
    ]  # fmt: skip
    list_filter = ["status", "placement"]
    list_select_related = ["item", "created_by", "collection"]
    date_hierarchy = "publish_at"
    search_fields = ["item__id", "outcome"]
    actions = ["cancel_selected"]
    change_list_template = "admin/ugc/ugcschedule/change_list.html"

    def has_add_permission(self, request):
        return False  # the schedule page (add_view below) goes through the service

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False  # cancel instead: the entry stays for the record

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path("calendar/", wrap(self.calendar_view), name="ugc_ugcschedule_calendar"),
            path("schedule/", wrap(self.schedule_view), name="ugc_ugcschedule_schedule"),
            *super().get_urls(),
        ]

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "calendar_url": reverse("admin:ugc_ugcschedule_calendar"),
            "schedule_url": reverse("admin:ugc_ugcschedule_schedule")
            if can_moderate(request)
            else "",
        }
        return super().changelist_view(request, extra_context)

    @admin.action(description="Cancel the selected pending entries")
    def cancel_selected(self, request, queryset):
        if not can_moderate(request):
            raise PermissionDenied
        done = 0
        for schedule_id in queryset.values_list("pk", flat=True):
            try:
                services.ugc_schedule_cancel(schedule_id=schedule_id, actor=request.user)
                done += 1
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.WARNING)
        if done:
            self.message_user(request, f"Cancelled {done} entr{'y' if done == 1 else 'ies'}.")

    def schedule_view(self, request):
        if not can_moderate(request):
            raise PermissionDenied
        initial = {"placement": Placement.HOME_FEED}
        if request.GET.get("item", "").isdigit():
            initial["item"] = int(request.GET["item"])
        form = ScheduleForm(request.POST or None, initial=initial)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                schedule = services.ugc_schedule_create(
                    item_id=data["item"].pk,
                    placement=data["placement"],
                    publish_at=data["publish_at"],
                    collection_id=data["collection"].pk if data["collection"] else None,
                    actor=request.user,
                )
            except ApplicationError as exc:
                for field, errors in (exc.fields or {}).items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
                if not exc.fields:
                    form.add_error(None, exc.message)
            else:
                self.message_user(request, f"Scheduled: {schedule}.")
                local = timezone.localtime(schedule.publish_at)
                return redirect(reverse("admin:ugc_ugcschedule_calendar") + f"?month={local:%Y-%m}")
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Schedule publishing",
            "form": form,
        }
        return TemplateResponse(request, "admin/ugc/ugcschedule/schedule.html", context)

    def calendar_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        first = month_of(request.GET.get("month"))
        placement = request.GET.get("placement", "")
        if placement not in Placement.values:
            placement = ""
        last = (first + timedelta(days=32)).replace(day=1)
        zone = timezone.get_current_timezone()
        start = datetime.combine(first - timedelta(days=7), time.min, tzinfo=zone)
        end = datetime.combine(last + timedelta(days=7), time.min, tzinfo=zone)
        schedules = (
            UGCSchedule.objects.select_related("item", "collection")
            .filter(publish_at__gte=start, publish_at__lt=end)
            .exclude(status=UGCSchedule.Status.CANCELLED)
            .order_by("publish_at", "pk")
        )
        if placement:
            schedules = schedules.filter(placement=placement)
        previous = (first - timedelta(days=1)).replace(day=1)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Publishing calendar: {first:%B %Y}",
            "weeks": month_weeks(first, schedules),
            "weekdays": ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"],
            "previous_month": f"{previous:%Y-%m}",
            "next_month": f"{last:%Y-%m}",
            "placements": Placement.choices,
            "placement": placement,
            "schedule_url": reverse("admin:ugc_ugcschedule_schedule")
            if can_moderate(request)
            else "",
        }
        return TemplateResponse(request, "admin/ugc/ugcschedule/calendar.html", context)
