"""The UGC media job under the one retry policy of core/jobs.py, on the embedded default
(in-process, no broker): a failure that may pass (here the stored original is missing, as
when storage is briefly unreachable) is retried inline a few times, then the job gives up,
leaving the item flagged with the reason, without an exception reaching the caller."""

import logging

import pytest

from tests.ugc.factories import media_upload
from ugc import services, tasks
from ugc.models import UGCItem


@pytest.mark.django_db
def test_in_process_the_media_job_retries_inline_then_gives_up_flagged(settings, caplog):
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01
    caplog.set_level(logging.INFO)
    item = services.ugc_ingest(source=UGCItem.Source.UPLOAD, media_file=media_upload())
    item.original.storage.delete(item.original.name)

    tasks.process_media.delay(item.pk)  # returns: giving up is not a crash

    item.refresh_from_db()
    assert item.media_status == UGCItem.MediaStatus.FAILED
    assert [flag["code"] for flag in item.flags] == ["media_error"]
    logged = [record.getMessage() for record in caplog.records]
    assert logged.count("job.retry") == settings.JOBS_INLINE_MAX_RETRIES == 2
    assert logged.count("job.gave_up") == 1
    assert logged.count("ugc.media_failed") == 3  # each inline attempt really ran


@pytest.mark.django_db
def test_in_process_the_media_job_succeeds_when_the_file_is_there():
    item = services.ugc_ingest(source=UGCItem.Source.UPLOAD, media_file=media_upload(seed=7))
    tasks.process_media.delay(item.pk)
    item.refresh_from_db()
    assert item.media_status == UGCItem.MediaStatus.READY
