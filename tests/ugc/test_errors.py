"""UGC's refusals are ApplicationErrors, shown through core.errors' one set of helpers."""

import io
import zipfile

import pytest

from core.errors import ApplicationError, error_message
from tests.ugc.factories import media_upload
from ugc import bulk_ingest, importers


def test_zip_entry_file_and_row_refusals_are_application_errors_with_codes(tmp_path):
    with pytest.raises(ApplicationError) as zip_refused:
        bulk_ingest.open_zip(io.BytesIO(b"not a zip"))
    assert (zip_refused.value.code, zip_refused.value.fields) == (
        "zip_refused",
        {"file": ["The file is not a zip archive."]},
    )
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        archive.writestr("big.png", b"x" * 100)
    archive = zipfile.ZipFile(data)
    with pytest.raises(ApplicationError) as entry_refused:
        bulk_ingest.read_entry(archive, archive.infolist()[0], limit=10)
    assert entry_refused.value.code == "entry_refused"

    (tmp_path / "export.txt").write_text("id\n1\n")
    with pytest.raises(ApplicationError) as file_refused:
        importers.read_rows(tmp_path / "export.txt")
    assert file_refused.value.code == "import_file_invalid"
    with pytest.raises(ApplicationError) as row_refused:
        importers.parse_datetime("yesterday", "starts_at")
    assert row_refused.value.code == "row_invalid"
    assert error_message(row_refused.value).startswith("starts_at 'yesterday' is not an ISO 8601")


@pytest.mark.django_db
def test_an_upload_refused_by_the_services_is_reported_with_their_message():
    result = bulk_ingest.ingest_one(
        name="notes.png",
        fh=media_upload(content=b"<html>not a picture</html>"),
        ingest_kwargs={"source": "upload"},
    )
    assert (result.outcome, result.message) == (
        "refused",
        "The file is neither a supported image (JPEG, PNG, WebP, GIF) "
        "nor a supported video (MP4, MOV, WebM, MKV).",
    )
