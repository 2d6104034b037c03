"""Uploads in the console: one file, or a zip whose every entry is ingested and reported, and
hostile archives (traversal, too many entries, bombs, lying headers) refused."""

import io
import os
import struct
import zipfile

import pytest
from bs4 import BeautifulSoup
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.links.factories import CreatorFactory
from tests.ugc.admin_helpers import CHANGELIST, change_url, login, messages_of
from tests.ugc.factories import media_upload, pattern_bytes
from ugc.models import ModerationEvent, UGCItem, UGCRights

pytestmark = pytest.mark.django_db
UPLOAD = f"{CHANGELIST}upload/"


@pytest.fixture
def moderator_client(client):
    client.user = login(client, "Moderator")
    return client


def make_zip(entries, compression=zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression) as archive:
        for name, data in entries:
            if data is None:
                archive.mkdir(name)
            else:
                archive.writestr(zipfile.ZipInfo(name), data, compress_type=compression)
    return out.getvalue()


def post(client, content: bytes | SimpleUploadedFile, name="batch.zip", **fields):
    upload = content if isinstance(content, SimpleUploadedFile) else (
        SimpleUploadedFile(name, content, content_type="application/zip")
    )  # fmt: skip
    data = {"file": upload, "source": "upload", "skip_duplicates": "on", **fields}
    return client.post(UPLOAD, data, follow=True)


def results(response) -> list[tuple[str, str, str]]:
    soup = BeautifulSoup(response.content, "lxml")
    return [
        tuple(td.get_text(" ", strip=True) for td in tr.select("td"))
        for tr in soup.select("#upload-results tbody tr")
    ]


def form_errors(response) -> str:
    soup = BeautifulSoup(response.content, "lxml")
    return " ".join(e.get_text(" ", strip=True) for e in soup.select(".errorlist"))


# -- one file -----------------------------------------------------------------------------


def test_the_upload_page_is_linked_from_the_queue(moderator_client):
    html = moderator_client.get(CHANGELIST).content.decode()
    assert f'href="{UPLOAD}"' in html
    assert moderator_client.get(UPLOAD).status_code == 200


def test_one_image_is_ingested_and_opens_its_page(moderator_client):
    creator = CreatorFactory(handle="maya")
    response = post(moderator_client, media_upload("me.png", seed=3), author_handle="@fan_one",
                    creator=creator.pk, caption="Cosy")  # fmt: skip
    item = UGCItem.objects.get()
    assert response.redirect_chain[-1][0] == change_url(item)
    assert (item.source, item.author_handle, item.creator, item.caption) == (
        "upload", "fan_one", creator, "Cosy"
    )  # fmt: skip
    assert messages_of(response) == [f"me.png: Created item #{item.pk}."]
    # On the page as written: the file's name keeps its case (no "Me.png").
    shown = BeautifulSoup(response.content, "lxml").select(".messagelist li")
    assert [li.get_text(strip=True) for li in shown] == [f"me.png: Created item #{item.pk}."]
    assert ModerationEvent.objects.get(item=item, action="ingest").actor == moderator_client.user


def test_a_file_that_is_not_media_is_refused_beside_the_field(moderator_client):
    response = post(moderator_client, SimpleUploadedFile("notes.txt", b"hello", "text/plain"))
    assert response.status_code == 200
    assert "neither a supported image" in form_errors(response)
    assert not UGCItem.objects.exists()


def test_rights_given_with_the_upload_are_granted(moderator_client):
    post(
        moderator_client, media_upload(seed=4), grant_rights="on",
        consent_method="signed_release", allowed_channels=["site", "ads"],
        proof_url="https://example.com/release.pdf",
    )  # fmt: skip
    rights = UGCRights.objects.get()
    assert rights.allowed_channels == ["site", "ads"]
    assert rights.granted_by == moderator_client.user


def test_rights_without_proof_are_refused_and_nothing_is_ingested(moderator_client):
    response = post(moderator_client, media_upload(seed=4), grant_rights="on",
                    consent_method="dm_approval", allowed_channels=["site"])  # fmt: skip
    assert "Give proof of consent" in form_errors(response)
    assert not UGCItem.objects.exists()


def test_the_same_file_twice_points_to_the_existing_item(moderator_client):
    post(moderator_client, media_upload("a.png", seed=5))
    first = UGCItem.objects.get()
    response = post(moderator_client, media_upload("again.png", seed=5))
    assert UGCItem.objects.count() == 1
    assert response.redirect_chain[-1][0] == change_url(first)
    assert messages_of(response) == [f"again.png: Same file as item #{first.pk}; not added again."]


# -- a zip of many ------------------------------------------------------------------------


def test_each_entry_is_ingested_and_reported(moderator_client):
    archive = make_zip([
        ("shoot/", None),
        ("shoot/one.png", pattern_bytes(11)),
        ("shoot/day2/two.jpg", pattern_bytes(12, fmt="JPEG")),
        ("shoot/readme.txt", b"photos from the shoot"),
        ("__MACOSX/shoot/._one.png", b"\x00\x05\x16\x07"),
        ("shoot/.DS_Store", b"\x00\x00\x00\x01Bud1"),
    ])  # fmt: skip
    response = post(moderator_client, archive, caption="Spring shoot")

    created = list(UGCItem.objects.order_by("pk"))
    assert len(created) == 2
    assert {item.caption for item in created} == {"Spring shoot"}
    got = results(response)
    assert got[0] == ("shoot/one.png", f"Created #{created[0].pk}",
                      f"Created item #{created[0].pk}.")  # fmt: skip
    assert got[1][:2] == ("shoot/day2/two.jpg", f"Created #{created[1].pk}")
    assert got[2][0:2] == ("shoot/readme.txt", "Refused")
    assert "neither a supported image" in got[2][2]
    assert [row[1] for row in got[3:]] == ["Skipped", "Skipped"]
    assert len(got) == 5  # the directory entry is not listed
    assert messages_of(response)[0] == f"Created 2: #{created[0].pk}, #{created[1].pk}"


def test_a_file_twice_in_a_zip_is_added_once(moderator_client):
    data = pattern_bytes(21)
    response = post(moderator_client, make_zip([("a.png", data), ("copy/a.png", data)]))
    item = UGCItem.objects.get()
    assert [row[1] for row in results(response)] == [f"Created #{item.pk}", f"Duplicate #{item.pk}"]


@pytest.mark.parametrize("name", ["../escape.png", "photos/../../escape.png", "/etc/escape.png",
                                  "C:/Windows/escape.png", "..\\escape.png"])  # fmt: skip
def test_a_zip_with_path_traversal_is_refused_whole(moderator_client, name):
    archive = make_zip([("fine.png", pattern_bytes(31)), (name, pattern_bytes(32))])
    response = post(moderator_client, archive)
    assert "absolute paths or '..'" in form_errors(response)
    assert not UGCItem.objects.exists()


def test_a_zip_with_too_many_entries_is_refused(moderator_client, settings):
    settings.UGC_ZIP_MAX_ENTRIES = 3
    archive = make_zip([(f"{n}.png", pattern_bytes(40 + n)) for n in range(4)])
    response = post(moderator_client, archive)
    assert "has 4 entries; at most 3 are allowed" in form_errors(response)
    assert not UGCItem.objects.exists()


def test_a_zip_bomb_is_refused_before_anything_is_unpacked(moderator_client):
    archive = make_zip([("photo.png", pattern_bytes(50)), ("bomb.png", b"\0" * 50_000_000)])
    assert len(archive) < 200_000
    response = post(moderator_client, archive)
    assert "zip bomb" in form_errors(response)
    assert not UGCItem.objects.exists()


def test_a_zip_declaring_more_than_the_total_cap_is_refused(moderator_client, settings):
    settings.UGC_ZIP_MAX_TOTAL_BYTES = 300_000
    archive = make_zip([(f"{n}.png", os.urandom(200_000)) for n in range(2)], zipfile.ZIP_STORED)
    response = post(moderator_client, archive)
    assert "would unpack to 400,000 bytes; at most 300,000" in form_errors(response)


def test_an_entry_over_the_size_cap_is_refused_and_the_others_are_ingested(
    moderator_client, settings
):
    settings.UGC_ZIP_MAX_ENTRY_BYTES = 500_000
    archive = make_zip([("big.png", os.urandom(600_000)), ("ok.png", pattern_bytes(60))])
    response = post(moderator_client, archive)
    item = UGCItem.objects.get()
    got = results(response)
    assert got[0] == ("big.png", "Refused", "The entry is larger than 500,000 bytes.")
    assert got[1][:2] == ("ok.png", f"Created #{item.pk}")


def lying_zip(real: bytes, declared: int) -> bytes:
    """A zip whose headers declare `declared` bytes for an entry that unpacks to `real`."""
    archive = make_zip([("liar.png", real), ("ok.png", pattern_bytes(70))])
    size = struct.pack("<I", len(real))
    assert archive.count(size) == 2  # the local header and the central directory
    return archive.replace(size, struct.pack("<I", declared))


def test_an_entry_unpacking_beyond_its_declared_size_is_refused(moderator_client, settings):
    settings.UGC_ZIP_MAX_ENTRY_BYTES = 1_000_000
    archive = lying_zip(b"\0" * 5_000_000, declared=60_000)  # ratio looks sane, the data is not
    response = post(moderator_client, archive)
    got = results(response)
    assert got[0][:2] == ("liar.png", "Refused")
    assert "cannot be read" in got[0][2]
    assert [row[0] for row in got] == ["liar.png", "ok.png"]
    assert UGCItem.objects.count() == 1


def test_a_file_named_zip_that_is_not_one_is_refused(moderator_client):
    response = post(moderator_client, b"not a zip at all", name="photos.zip")
    assert "The file is not a zip archive." in form_errors(response)


def test_an_empty_zip_says_so(moderator_client):
    response = post(moderator_client, make_zip([]))
    assert "The zip archive holds no files." in messages_of(response)
    assert not UGCItem.objects.exists()


def test_upload_needs_the_add_permission(client):
    login(client, "Catalog manager")
    response = post(client, make_zip([("a.png", pattern_bytes(80))]))
    assert response.status_code == 403
    assert not UGCItem.objects.exists()
