"""The moderation queue: the changelist with its filters, per-status counts and columns."""

from django.contrib import admin
from django.contrib.admin.views.main import ChangeList
from django.db.models import Case, Count, IntegerField, Prefetch, Q, TextChoices, Value, When
from django.urls import reverse
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html
from django.utils.text import Truncator

from ugc.admin.display import flags_html, thumbnail_html
from ugc.models import UGCItem, UGCProductMap
from ugc.selectors import RightsState, items_with_rights_state

Status = UGCItem.Status

# The queue's default order: the work waiting for a moderator first, oldest first, so that
# nothing starves at the bottom of the queue; then items under review, then approved items
# waiting to be published; decided items last.
QUEUE_RANK = {Status.QUEUED: 0, Status.REVIEWING: 1, Status.APPROVED: 2}
FLAG_CODES = [
    ("duplicate", "Duplicate"),
    ("near_duplicate", "Near duplicate"),
    ("blocklist", "Blocklist"),
    ("media_error", "Media error"),
]


class ChoicesFilter(admin.SimpleListFilter):
    """A filter on `field`, one of `options` (TextChoices); anything else filters nothing."""

    options: type[TextChoices]
    field: str

    def lookups(self, request, model_admin):
        return self.options.choices

    def queryset(self, request, queryset):
        if self.value() in self.options.values:
            return queryset.filter(**{self.field: self.value()})
        return queryset


class StatusFilter(ChoicesFilter):
    title = parameter_name = field = "status"
    options = Status


class RightsStateFilter(ChoicesFilter):
    """Filters on the `rights_state` annotation of `items_with_rights_state`."""

    title = parameter_name = "rights"
    field = "rights_state"
    options = RightsState


class FlaggedFilter(admin.SimpleListFilter):
    title = "flagged"
    parameter_name = "flagged"

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No"), *FLAG_CODES]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "yes":
            return queryset.exclude(flags=[])
        if value == "no":
            return queryset.filter(flags=[])
        if value in dict(FLAG_CODES):
            return queryset.filter(flags__contains=[{"code": value}])
        return queryset


class ModerationChangeList(ChangeList):
    """The changelist, plus per-status counts under the other active filters and search."""

    def __init__(self, request, *args, **kwargs):
        self._request = request
        super().__init__(request, *args, **kwargs)

    @cached_property
    def status_counts(self):
        request = self._request
        queryset = self.root_queryset
        for spec in self.filter_specs:
            if getattr(spec, "parameter_name", None) == StatusFilter.parameter_name:
                continue
            filtered = spec.queryset(request, queryset)
            if filtered is not None:
                queryset = filtered
        queryset, _ = self.model_admin.get_search_results(request, queryset, self.query)
        counts = queryset.order_by().aggregate(  # one query for every status
            **{value: Count("pk", filter=Q(status=value)) for value in Status.values}
        )
        current = self.params.get(StatusFilter.parameter_name)
        rows = [
            {
                "label": "All",
                "count": sum(counts.values()),
                "url": self.get_query_string(remove=[StatusFilter.parameter_name, "p"]),
                "selected": current is None,
                "value": "",
            }
        ]
        for value, label in Status.choices:
            rows.append(
                {
                    "label": label,
                    "count": counts[value],
                    "url": self.get_query_string({StatusFilter.parameter_name: value}, ["p"]),
                    "selected": current == value,
                    "value": value,
                }
            )
        return rows


class QueueMixin:
    """The UGC item admin's changelist: the queue, waiting work first."""

    # Flags are read under the status and the source under the author, so that every column,
    # "Claimed by" and "Created" included, stays on a laptop's screen (1440 px wide, the
    # console's navigation open).
    list_display = [
        "thumb", "number", "status_badge", "author", "caption_excerpt", "rights_state_label",
        "products", "claimed_by", "created",
    ]  # fmt: skip
    list_display_links = ["thumb", "number"]
    list_filter = [
        StatusFilter,
        "source",
        ("creator", admin.RelatedOnlyFieldListFilter),
        RightsStateFilter,
        FlaggedFilter,
    ]
    search_fields = ["caption", "author_handle", "external_id", "creator__handle"]
    search_help_text = "Caption, author handle, creator handle or external id."
    list_select_related = ["creator", "claimed_by"]
    list_per_page = 50
    show_full_result_count = False
    change_list_template = "admin/ugc/ugcitem/change_list.html"

    def get_queryset(self, request):
        rank = Case(
            *(When(status=status, then=Value(n)) for status, n in QUEUE_RANK.items()),
            default=Value(len(QUEUE_RANK)),
            output_field=IntegerField(),
        )
        maps = UGCProductMap.objects.select_related("product").order_by("-pinned", "position")
        # Not super(): it orders by `get_ordering`, which needs the annotation first.
        return (
            items_with_rights_state(self.model._default_manager.get_queryset())
            .annotate(_queue_rank=rank)
            .prefetch_related(Prefetch("product_maps", queryset=maps))
            .order_by(*self.get_ordering(request))
        )

    def get_ordering(self, request):
        return ["_queue_rank", "created_at", "pk"]

    def get_changelist(self, request, **kwargs):
        return ModerationChangeList

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "can_upload": self.has_upload_permission(request),
            "upload_url": reverse("admin:ugc_ugcitem_upload"),
        }
        return super().changelist_view(request, extra_context)

    # -- columns ----------------------------------------------------------------------------

    @admin.display(description="")
    def thumb(self, obj):
        return thumbnail_html(obj)

    @admin.display(description="Item", ordering="pk")
    def number(self, obj):
        return f"#{obj.pk}"

    @admin.display(description="Status · flags", ordering="status")
    def status_badge(self, obj):
        flags = ""
        if obj.flags:
            flags = format_html('<span class="cell-sub">{}</span>', flags_html(obj))
        return format_html(
            '<span class="ugc-status ugc-status-{}">{}</span>{}',
            obj.status, obj.get_status_display(), flags,
        )  # fmt: skip

    @admin.display(description="Author · source", ordering="author_handle")
    def author(self, obj):
        handle = f"@{obj.author_handle}" if obj.author_handle else "–"
        creator = format_html("<br><small>{}</small>", obj.creator) if obj.creator_id else ""
        return format_html(
            '<span style="overflow-wrap:anywhere">{}</span>{}<span class="cell-sub">{}</span>',
            handle, creator, obj.get_source_display(),
        )  # fmt: skip

    @admin.display(description="Caption")
    def caption_excerpt(self, obj):
        # A column wide enough to read a caption as lines, not a word a line.
        return format_html(
            '<span class="ugc-caption">{}</span>', Truncator(obj.caption).chars(80) or "–"
        )

    @admin.display(description="Created", ordering="created_at")
    def created(self, obj):
        local = timezone.localtime(obj.created_at)
        return format_html(
            '<span class="no-break">{}</span> <span class="no-break">{}</span>',
            f"{local:%Y-%m-%d}", f"{local:%H:%M}",
        )  # fmt: skip

    @admin.display(description="Rights", ordering="rights_state")
    def rights_state_label(self, obj):
        state = getattr(obj, "rights_state", None)
        if state is None:
            return "–"
        return format_html(
            '<span class="ugc-rights ugc-rights-{}">{}</span>', state, RightsState(state).label
        )

    @admin.display(description="Products")
    def products(self, obj):
        maps = list(obj.product_maps.all())
        if not maps:
            return "–"
        names = [str(mapping.product) for mapping in maps[:3]]
        more = f" +{len(maps) - 3}" if len(maps) > 3 else ""
        return ", ".join(names) + more
