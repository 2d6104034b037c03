"""The upload page: one file or a zip of many, each ingested through `ugc_ingest` by
`ugc.bulk_ingest`, reported file by file."""

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from core.errors import as_validation_error
from ugc import bulk_ingest
from ugc.admin.forms import UploadForm
from ugc.admin.permissions import can_upload


def _is_zip(upload) -> bool:
    if (upload.name or "").lower().endswith(".zip"):
        return True
    upload.seek(0)
    is_zip = upload.read(4) == b"PK\x03\x04"
    upload.seek(0)
    return is_zip


class UploadMixin:
    """The UGC item admin's upload page (`upload/`)."""

    def has_upload_permission(self, request):
        return can_upload(request)

    def upload_view(self, request):
        if not self.has_upload_permission(request):
            raise PermissionDenied
        results = None
        form = UploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            upload = form.cleaned_data["file"]
            kwargs = form.ingest_kwargs(request.user)
            skip = form.cleaned_data["skip_duplicates"]
            if _is_zip(upload):
                try:
                    results = bulk_ingest.ingest_zip(
                        upload, ingest_kwargs=kwargs, skip_duplicates=skip
                    )
                except bulk_ingest.ZipRefused as exc:
                    form.add_error(None, as_validation_error(exc))  # beside the file
                else:
                    self._report_upload(request, results)
            else:
                result = bulk_ingest.ingest_one(
                    name=upload.name, fh=upload, ingest_kwargs=kwargs, skip_duplicates=skip
                )
                if result.outcome == "refused":
                    form.add_error("file", result.message)
                else:
                    level = messages.SUCCESS if result.outcome == "created" else messages.WARNING
                    self.message_user(request, f"{upload.name}: {result.message}", level)
                    return HttpResponseRedirect(
                        reverse("admin:ugc_ugcitem_change", args=[result.item_id])
                    )
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload content",
            "opts": self.model._meta,
            "form": form,
            "results": results,
            "max_entries": settings.UGC_ZIP_MAX_ENTRIES,
            "max_total": settings.UGC_ZIP_MAX_TOTAL_BYTES,
        }
        return render(request, "admin/ugc/ugcitem/upload.html", context)

    def _report_upload(self, request, results):
        created = [r for r in results if r.outcome == "created"]
        duplicates = [r for r in results if r.outcome == "duplicate"]
        refused = [r for r in results if r.outcome == "refused"]
        if created:
            self.message_user(
                request,
                f"Created {len(created)}: " + ", ".join(f"#{r.item.pk}" for r in created),
                messages.SUCCESS,
            )
        if duplicates:
            self.message_user(
                request, f"{len(duplicates)} already in the library, not added.", messages.WARNING
            )
        if refused:
            self.message_user(request, f"{len(refused)} refused; see below.", messages.ERROR)
        if not results:
            self.message_user(request, "The zip archive holds no files.", messages.WARNING)
