"""`import_ugc` and `ugc.importers`: formats, idempotency, bad rows, media paths and URLs."""

import csv
import hashlib
import io
import json
import os
from datetime import UTC, datetime

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from tests.catalog.factories import ProductFactory, VariantFactory
from tests.links.factories import CreatorFactory
from tests.previews.conftest import LocalServer, start_server
from tests.ugc.factories import BlocklistEntryFactory, UserFactory, pattern_bytes, video_bytes
from ugc import importers
from ugc.models import ModerationEvent, UGCItem, UGCProductMap, UGCRights

pytestmark = pytest.mark.django_db


class Run:
    def __init__(self, code, out, err):
        self.code, self.out, self.err = code, out, err


def run(*args) -> Run:
    """Run the command; a CommandError (failed rows, bad file) becomes exit code 1."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("import_ugc", *[str(a) for a in args], stdout=out, stderr=err)
    except CommandError as exc:
        err.write(str(exc))
        return Run(exc.returncode, out.getvalue(), err.getvalue())
    return Run(0, out.getvalue(), err.getvalue())


def write_media(directory, name, seed=1, **kwargs):
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pattern_bytes(seed, **kwargs))
    return path


def write_csv(path, rows, header=None):
    header = header or list(dict.fromkeys(k for row in rows for k in row))
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def snapshot():
    return (
        sorted(UGCItem.objects.values_list("pk", "source", "external_id", "status")),
        UGCRights.objects.count(),
        UGCProductMap.objects.count(),
        ModerationEvent.objects.count(),
    )


# --- formats ----------------------------------------------------------------------------


def test_a_json_export_with_an_items_list_is_imported(tmp_path):
    write_media(tmp_path, "media/a.png", seed=1)
    write_media(tmp_path, "media/b.png", seed=2)
    creator = CreatorFactory(handle="maya-makes", affiliate_code="MAYA10")
    export = {
        "items": [
            {
                "id": 7301,  # a number, as exports often have
                "username": "@fan.one",
                "text": "Love this hoodie",
                "media_path": "media/a.png",
                "creator": "MAYA10",
            },
            {
                "post_id": "7302",
                "handle": "fan2",
                "description": "Cosy",
                "media_path": "media/b.png",
            },
        ]
    }
    (tmp_path / "export.json").write_text(json.dumps(export))

    result = run(tmp_path / "export.json", "--source", "tiktok")

    assert result.code == 0, result.err
    assert "Import finished: created 2, already imported 0, failed 0" in result.out
    first = UGCItem.objects.get(source="tiktok", external_id="7301")
    assert (first.author_handle, first.caption, first.creator) == (
        "fan.one",
        "Love this hoodie",
        creator,
    )
    assert first.status == UGCItem.Status.QUEUED
    assert first.file_sha256 == hashlib.sha256((tmp_path / "media/a.png").read_bytes()).hexdigest()
    second = UGCItem.objects.get(source="tiktok", external_id="7302")
    assert (second.author_handle, second.caption, second.creator) == ("fan2", "Cosy", None)
    assert "item 1: created item #" in result.out


def test_a_csv_export_is_imported_and_each_row_keeps_its_own_source(tmp_path):
    write_media(tmp_path, "a.png", seed=3)
    write_media(tmp_path, "b.png", seed=4)
    write_csv(
        tmp_path / "export.csv",
        [
            {"Source": "instagram", "External ID": "ig-1", "Caption": "One", "Media Path": "a.png"},
            {"Source": "", "External ID": "up-1", "Caption": "Two", "Media Path": "b.png"},
        ],
    )

    result = run(tmp_path / "export.csv", "--source", "upload")

    assert result.code == 0, result.err
    assert "created 2, already imported 0, failed 0" in result.out
    assert set(UGCItem.objects.values_list("source", "external_id", "caption")) == {
        ("instagram", "ig-1", "One"),
        ("upload", "up-1", "Two"),
    }


def test_json_lines_and_data_lists_are_read(tmp_path):
    (tmp_path / "a.jsonl").write_text('{"id": "1", "media_url": "http://x/"}\n\n[1]\n{bad\n')
    rows = importers.read_rows(tmp_path / "a.jsonl")
    assert [(r.where, r.problem[:22]) for r in rows] == [
        ("line 1", ""),
        ("line 3", "expected an object, fo"),
        ("line 4", "not valid JSON (Expect"),
    ]
    (tmp_path / "b.json").write_text(json.dumps({"data": [{"ID": "9", "Media URL": "u"}]}))
    assert importers.read_rows(tmp_path / "b.json")[0].data == {"id": "9", "media_url": "u"}


def test_a_video_file_is_imported(tmp_path):
    (tmp_path / "clip.mp4").write_bytes(video_bytes())
    write_csv(tmp_path / "v.csv", [{"id": "v1", "media_path": "clip.mp4"}])

    result = run(tmp_path / "v.csv", "--source", "tiktok")

    assert result.code == 0, result.err
    assert UGCItem.objects.get(external_id="v1").media_type == UGCItem.MediaType.VIDEO


# --- idempotency and dry runs -----------------------------------------------------------


def test_importing_twice_creates_nothing_new(tmp_path):
    write_media(tmp_path, "a.png", seed=5)
    product = ProductFactory(slug="cloud-knit-hoodie")
    write_csv(
        tmp_path / "export.csv",
        [
            {
                "source": "tiktok",
                "id": "t-1",
                "media_path": "a.png",
                "product": "cloud-knit-hoodie",
                "consent_method": "dm_approval",
                "proof_text": "Sure, use it!",
                "allowed_channels": "site",
            }
        ],
    )
    assert run(tmp_path / "export.csv").code == 0
    before = snapshot()
    assert UGCProductMap.objects.get().product == product

    again = run(tmp_path / "export.csv")

    assert again.code == 0, again.err
    assert "created 0, already imported 1, failed 0" in again.out
    assert f"line 2: already imported as item #{UGCItem.objects.get().pk}" in again.out
    assert snapshot() == before


def test_a_repeated_post_in_one_file_is_imported_once(tmp_path):
    write_media(tmp_path, "a.png", seed=6)
    write_csv(tmp_path / "e.csv", [{"id": "same", "media_path": "a.png"}] * 2)

    result = run(tmp_path / "e.csv", "--source", "tiktok")

    assert result.code == 0, result.err
    assert "created 1, already imported 1, failed 0" in result.out
    assert UGCItem.objects.count() == 1


def test_a_dry_run_checks_every_row_and_writes_nothing(tmp_path):
    write_media(tmp_path, "a.png", seed=7)
    (tmp_path / "text.png").write_text("not an image")
    write_csv(
        tmp_path / "e.csv",
        [
            {"id": "1", "media_path": "a.png", "sku": ""},
            {"id": "1", "media_path": "a.png", "sku": ""},  # repeated in the file
            {"id": "2", "media_path": "text.png", "sku": ""},
            {"id": "3", "media_path": "a.png", "sku": "NOPE-1"},
        ],
    )

    result = run(tmp_path / "e.csv", "--source", "upload", "--dry-run")

    assert result.code == 1
    assert "Dry run, nothing written: would create 1, already imported 1, failed 2" in result.out
    assert "line 4: failed: The file is neither a supported image" in result.err
    assert "line 5: failed: No product variant has the SKU 'NOPE-1'." in result.err
    assert UGCItem.objects.count() == 0
    assert ModerationEvent.objects.count() == 0


# --- bad rows and bad files -------------------------------------------------------------


def test_bad_rows_are_reported_with_their_line_and_do_not_stop_the_others(tmp_path):
    write_media(tmp_path, "ok.png", seed=8)
    write_media(tmp_path, "tiny.png", seed=9, size=(50, 50))
    (tmp_path / "e.csv").write_text(
        "source,id,caption,media_path,starts_at\n"
        "tiktok,1,fine,ok.png,\n"
        "myspace,2,,ok.png,\n"  # unknown source
        'tiktok,3,"a caption\nover two lines",tiny.png,\n'  # too small; starts on line 4
        "tiktok,,no id,ok.png,\n"  # line 6
        "tiktok,5,,missing.png,\n"
        "tiktok,6,,ok.png,2025-13-45\n"
        "tiktok,7,,ok.png,,extra\n"
        "tiktok,8,,,\n"
    )

    result = run(tmp_path / "e.csv")

    assert result.code == 1
    assert "Import finished: created 1, already imported 0, failed 7" in result.out
    assert "7 rows failed" in result.err
    errors = [line for line in result.err.splitlines() if ": failed: " in line]
    assert [line.split(": failed: ")[0] for line in errors] == [
        "line 3",
        "line 4",
        "line 6",
        "line 7",
        "line 8",
        "line 9",
        "line 10",
    ]
    assert "source 'myspace' is not one of" in errors[0]
    assert "each side must be at least" in errors[1]
    assert "external_id is required" in errors[2]
    assert "'missing.png': no such file" in errors[3]
    assert "consent_method is required when a row gives rights." in errors[4]
    assert "6 values for 5 header columns" in errors[5]
    assert "No media: give media_path or media_url." in errors[6]
    assert list(UGCItem.objects.values_list("external_id", flat=True)) == ["1"]


def test_a_row_whose_creator_is_unknown_fails(tmp_path):
    write_media(tmp_path, "a.png", seed=10)
    write_csv(
        tmp_path / "e.csv",
        [
            {"id": "1", "media_path": "a.png", "creator": "nobody"},
            {"id": "2", "media_path": "a.png", "creator": "maya@example.com"},
        ],
    )
    creator = CreatorFactory(email="Maya@Example.com")

    result = run(tmp_path / "e.csv", "--source", "upload")

    assert "line 2: failed: No creator has the handle or affiliate code 'nobody'." in result.err
    assert UGCItem.objects.get(external_id="2").creator == creator


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("e.json", "{not json", "The file is not valid JSON: Expecting property name"),
        ("e.json", '{"posts": []}', 'an object with an "items" or "data" list'),
        ("e.csv", "id,caption\n1,hello\n", "The CSV header has no media column"),
        ("e.csv", "", "The CSV file is empty"),
        ("e.csv", "id,media_path,ID\n", "repeats the column(s) id"),
        ("e.txt", "whatever", "Cannot tell the format of 'e.txt'"),
    ],
)
def test_a_bad_file_is_refused_whole(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    with pytest.raises(CommandError) as raised:
        call_command("import_ugc", str(tmp_path / name), stdout=io.StringIO())
    assert message in str(raised.value)


def test_a_file_that_is_not_utf8_is_refused(tmp_path):
    (tmp_path / "e.csv").write_bytes("id,media_path\n1,caf\xe9.png\n".encode("latin-1"))
    with pytest.raises(CommandError, match="not UTF-8"):
        call_command("import_ugc", str(tmp_path / "e.csv"), stdout=io.StringIO())


def test_too_many_rows_are_refused_up_front(tmp_path, settings):
    settings.UGC_IMPORT_MAX_ROWS = 3
    write_media(tmp_path, "a.png")
    write_csv(tmp_path / "e.csv", [{"id": str(n), "media_path": "a.png"} for n in range(4)])
    (tmp_path / "e.json").write_text(json.dumps([{"id": str(n)} for n in range(4)]))

    for name in ("e.csv", "e.json"):
        with pytest.raises(CommandError, match="more than 3 rows"):
            call_command("import_ugc", str(tmp_path / name), "--source", "upload")
    assert UGCItem.objects.count() == 0


# --- media paths ------------------------------------------------------------------------


def test_media_paths_cannot_leave_the_media_directory(tmp_path):
    export_dir = tmp_path / "export"
    write_media(tmp_path, "secret.png", seed=11)  # outside the export directory
    write_media(export_dir, "ok.png", seed=12)
    os.symlink(tmp_path / "secret.png", export_dir / "link.png")
    write_csv(
        export_dir / "e.csv",
        [
            {"id": "1", "media_path": "../secret.png"},
            {"id": "2", "media_path": str(tmp_path / "secret.png")},
            {"id": "3", "media_path": "sub/../../secret.png"},
            {"id": "4", "media_path": "link.png"},
            {"id": "5", "media_path": "C:\\secret.png"},
            {"id": "6", "media_path": "ok.png"},
        ],
    )

    result = run(export_dir / "e.csv", "--source", "upload")

    assert "created 1, already imported 0, failed 5" in result.out
    assert "line 2: failed: media_path '../secret.png' leaves the media directory" in result.err
    assert "line 3: failed: media_path" in result.err and "is absolute" in result.err
    assert "line 4: failed: media_path 'sub/../../secret.png' leaves" in result.err
    assert "line 5: failed: media_path 'link.png' leads outside the media" in result.err
    assert "line 6: failed: media_path 'C:\\\\secret.png' is absolute" in result.err
    assert list(UGCItem.objects.values_list("external_id", flat=True)) == ["6"]


def test_media_dir_option_is_where_paths_are_looked_up(tmp_path):
    media_dir = tmp_path / "elsewhere"
    write_media(media_dir, "photos/a.png", seed=13)
    write_csv(tmp_path / "e.csv", [{"id": "1", "media_path": "photos/a.png"}])

    result = run(tmp_path / "e.csv", "--source", "upload", "--media-dir", media_dir)

    assert result.code == 0, result.err
    assert UGCItem.objects.count() == 1


# --- media URLs, through the safe fetcher -----------------------------------------------


@pytest.fixture
def server():
    local = LocalServer()
    httpd = start_server(local)
    yield local
    httpd.shutdown()
    httpd.server_close()


def test_media_urls_are_fetched_through_the_safe_fetcher(tmp_path, server, settings):
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = ["127.0.0.1"]  # as only tests do
    server.reply("/p/1.png", body=pattern_bytes(14), headers={"Content-Type": "image/png"})
    server.redirect("/short", "/p/1.png")
    server.page("/page", "<html></html>")
    server.reply("/big.png", body=b"\x89PNG" + b"0" * 5000, headers={"Content-Type": "image/png"})
    settings.IMAGE_MAX_UPLOAD_BYTES = 4000
    write_csv(
        tmp_path / "e.csv",
        [
            {"id": "1", "media_url": server.url("/short")},
            {"id": "2", "media_url": server.url("/missing.png")},
            {"id": "3", "media_url": server.url("/page")},
            {"id": "4", "media_url": server.url("/big.png")},
            {"id": "5", "media_url": "file:///etc/passwd"},
        ],
    )

    result = run(tmp_path / "e.csv", "--source", "instagram")

    assert "created 1, already imported 0, failed 4" in result.out, result.err
    assert "line 3: failed: The server answered with HTTP status 404." in result.err
    assert "line 4: failed: Content type 'text/html' is not accepted." in result.err
    assert "line 5: failed: The body is larger than 4000 bytes." in result.err
    assert "line 6: failed: Only http and https URLs can be fetched." in result.err
    item = UGCItem.objects.get(external_id="1")
    assert item.original.name.endswith(".png")
    assert [seen.path for seen in server.seen[:2]] == ["/short", "/p/1.png"]


def test_a_loopback_media_url_is_refused_without_the_test_allowlist(tmp_path, server, settings):
    settings.PREVIEW_FETCH_ALLOWED_HOSTS = []
    settings.PREVIEW_FETCH_ALLOWED_PORTS = (server.port,)
    server.reply("/p.png", body=pattern_bytes(15), headers={"Content-Type": "image/png"})
    write_csv(tmp_path / "e.csv", [{"id": "1", "media_url": server.url("/p.png")}])

    result = run(tmp_path / "e.csv", "--source", "instagram")

    assert result.code == 1
    assert "line 2: failed: The URL points to an address that is not public." in result.err
    assert server.seen == []
    assert UGCItem.objects.count() == 0


# --- products and rights ----------------------------------------------------------------


def test_skus_and_product_slugs_map_the_item(tmp_path):
    write_media(tmp_path, "a.png", seed=16)
    hoodie_m = VariantFactory(sku="NOR-001-M")
    tote = ProductFactory(slug="everyday-tote")
    moderator = UserFactory(username="importer")
    write_csv(
        tmp_path / "e.csv",
        [{"id": "1", "media_path": "a.png", "sku": "NOR-001-M", "product": "everyday-tote"}],
    )

    result = run(tmp_path / "e.csv", "--source", "upload", "--user", "importer")

    assert result.code == 0, result.err
    item = UGCItem.objects.get()
    maps = list(item.product_maps.order_by("position").values_list("product", "variant"))
    assert maps == [(hoodie_m.product_id, hoodie_m.pk), (tote.pk, None)]
    actions = list(item.events.values_list("action", "actor"))
    assert actions == [
        ("ingest", moderator.pk),
        ("map_product", moderator.pk),
        ("map_product", moderator.pk),
    ]


def test_rights_columns_are_recorded(tmp_path):
    write_media(tmp_path, "a.png", seed=17)
    write_media(tmp_path, "b.png", seed=18)
    write_csv(
        tmp_path / "e.csv",
        [
            {
                "id": "1",
                "media_path": "a.png",
                "consent_method": "comment_reply",
                "proof_url": "https://www.instagram.com/p/abc/",
                "proof_text": "Yes! #yesbrand",
                "licence_type": "perpetual non-exclusive",
                "allowed_channels": "site,email",
                "starts_at": "2025-01-01",
                "expires_at": "2030-06-30T12:00:00+02:00",
            },
            {  # no proof, an unknown channel: refused with the fields named
                "id": "2",
                "media_path": "b.png",
                "consent_method": "comment_reply",
                "allowed_channels": "site,billboard",
            },
        ],
    )

    result = run(tmp_path / "e.csv", "--source", "instagram")

    rights = UGCRights.objects.get(item__external_id="1")
    assert rights.consent_method == "comment_reply"
    assert rights.allowed_channels == ["site", "email"]
    assert rights.proof_url == "https://www.instagram.com/p/abc/"
    assert rights.licence_type == "perpetual non-exclusive"
    assert rights.starts_at == datetime(2025, 1, 1, tzinfo=UTC)
    assert rights.expires_at == datetime(2030, 6, 30, 10, 0, tzinfo=UTC)
    assert "line 3: failed: allowed_channels: Unknown channel(s) billboard" in result.err
    assert "proof_text: Give proof of consent" in result.err
    assert not UGCItem.objects.filter(external_id="2").exists()


def test_dates_are_iso_8601_and_read_as_utc_without_an_offset():
    assert importers.parse_datetime("2025-06-30T08:00", "starts_at") == datetime(
        2025, 6, 30, 8, tzinfo=UTC
    )
    assert importers.parse_datetime("2025-06-30T08:00:00Z", "x").tzinfo == UTC
    assert importers.parse_datetime("", "x") is None
    with pytest.raises(importers.RowError, match="starts_at '2025-13-45' is not an ISO 8601"):
        importers.parse_datetime("2025-13-45", "starts_at")


def test_rights_from_json_accept_a_channel_list(tmp_path):
    write_media(tmp_path, "a.png", seed=19)
    export = [
        {
            "id": "1",
            "media_path": "a.png",
            "consent_method": "Creator agreement",
            "proof_text": "Signed contract #12",
            "allowed_channels": ["social", "site"],
        }
    ]
    (tmp_path / "e.json").write_text(json.dumps(export))

    assert run(tmp_path / "e.json", "--source", "portal").code == 0
    rights = UGCRights.objects.get()
    assert rights.consent_method == "creator_agreement"
    assert rights.allowed_channels == ["site", "social"]


def test_a_blocklisted_caption_is_imported_and_flagged(tmp_path):
    BlocklistEntryFactory(term="scam")
    write_media(tmp_path, "a.png", seed=20)
    write_csv(tmp_path / "e.csv", [{"id": "1", "media_path": "a.png", "caption": "a scam"}])

    result = run(tmp_path / "e.csv", "--source", "upload")

    assert result.code == 0
    assert "flagged: blocklist: blocked word “scam”" in result.out
    assert UGCItem.objects.get().flag_codes == ["blocklist"]
