"""Merchants and previews (issue 10): "Preview a URL" in the console, a failed or blocked
preview's reason where the card would be, and the merchant's own title, description and
image kept apart from what was scraped (cards, unfurls and the API)."""

import io

import pytest
from bs4 import BeautifulSoup
from django.contrib.auth.models import Group, Permission, User
from django.core.cache import cache
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connections
from django.utils import timezone
from PIL import Image
from rest_framework.authtoken.models import Token

from core.errors import ApplicationError
from previews import selectors, services
from previews.models import LinkPreview
from previews.normalize import normalize_url

PAGE = """<!doctype html><html><head><title>{title}</title>
<meta property="og:description" content="Scraped description.">
<meta property="og:site_name" content="Example Shop">
{image}</head><body></body></html>"""


@pytest.fixture(autouse=True)
def _clean(settings):
    cache.clear()
    settings.PREVIEW_HOST_INTERVAL = 0
    settings.JOBS_INLINE_RETRY_MAX_DELAY = 0.01
    yield
    cache.clear()


def jpeg(size=(1600, 1000), color=(200, 40, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, format="JPEG")
    return out.getvalue()


def upload(data: bytes | None = None, name="mine.jpg") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, jpeg() if data is None else data, content_type="image/jpeg")


def serve(server, path="/shirt", title="Linen Shirt", image=True):
    tag = f'<meta property="og:image" content="{server.url(path + ".jpg")}">' if image else ""
    server.page(path, PAGE.format(title=title, image=tag))
    server.reply(path + ".jpg", body=jpeg((1400, 900), (20, 90, 160)),
                 headers={"Content-Type": "image/jpeg"})  # fmt: skip


def fetched(server, path="/shirt", **kwargs) -> LinkPreview:
    serve(server, path, **kwargs)
    preview = LinkPreview.objects.create(url=normalize_url(server.url(path)))
    return services.preview_fetch(preview_id=preview.pk, force=True)


def staff(username: str, role: str | None = None, perms=()) -> User:
    user = User.objects.create_user(username, password="pw", is_staff=True)
    if role:
        user.groups.add(Group.objects.get(name=role))
    for codename in perms:
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return user


def size_of(field) -> tuple[int, int]:
    with field.open("rb") as fh:
        return Image.open(fh).size


# --- the service -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_overrides_are_kept_apart_and_survive_a_refresh(server, allow_local):
    preview = fetched(server, title="Old name")
    user = staff("cm", "Catalog manager")
    services.preview_override(
        preview_id=preview.pk, actor=user, title="  Our linen  shirt ", description="Ours."
    )
    preview.refresh_from_db()
    assert (preview.title, preview.title_override) == ("Old name", "Our linen shirt")
    assert preview.description_override == "Ours."
    assert (preview.overridden_by, preview.overridden_at is not None) == (user, True)
    assert selectors.card_data(preview)["title"] == "Our linen shirt"
    assert selectors.card_data(preview)["description"] == "Ours."

    serve(server, title="New name")
    services.preview_fetch(preview_id=preview.pk, force=True)
    preview.refresh_from_db()
    assert (preview.title, preview.title_override) == ("New name", "Our linen shirt")
    assert selectors.cached_card_for_url(preview.url)["title"] == "Our linen shirt"

    services.preview_override(preview_id=preview.pk, actor=user, title="")
    preview.refresh_from_db()
    assert preview.description_override == "Ours."  # None leaves a field as it is
    assert selectors.card_data(preview)["title"] == "New name"


@pytest.mark.django_db
def test_an_image_override_is_made_into_cards_and_can_be_cleared(
    server, allow_local, django_capture_on_commit_callbacks
):
    preview = fetched(server)
    scraped = preview.image.name
    services.preview_override(preview_id=preview.pk, actor=None, image=upload())
    preview.refresh_from_db()
    assert size_of(preview.image_override) == (1200, 630)
    assert size_of(preview.image_override_small) == (600, 315)
    assert selectors.card_data(preview)["image"] == preview.image_override.url
    assert preview.image.name == scraped  # the scraped card is still there, apart
    first = preview.image_override.name

    with django_capture_on_commit_callbacks(execute=True):
        services.preview_override(preview_id=preview.pk, actor=None, image=upload(name="b.png"))
    preview.refresh_from_db()
    assert preview.image_override.name != first
    assert not default_storage.exists(first)  # the replaced file is gone

    services.preview_override(preview_id=preview.pk, actor=None, clear_image=True)
    preview.refresh_from_db()
    assert not preview.image_override and not preview.image_override_small
    assert selectors.card_data(preview)["image"] == preview.image.url


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"title": "x" * 301}, "title", "At most 300 characters (this has 301)."),
        ({"description": "y" * 1001}, "description", "At most 1000 characters (this has 1001)."),
        ({"title": "a\x00b"}, "title", "The text contains control characters."),
        (
            {"image": upload(b"<html>not a picture</html>", "x.jpg")},
            "image",
            "The file is not an image (JPEG, PNG, WebP or GIF expected).",
        ),
    ],
)
def test_bad_overrides_name_the_field_and_change_nothing(values, field, message):
    preview = LinkPreview.objects.create(url="https://shop.example.org/a", title="Scraped")
    with pytest.raises(ApplicationError) as exc:
        services.preview_override(preview_id=preview.pk, actor=None, **{"title": "Fine", **values})
    assert exc.value.fields == {field: [message]}
    preview.refresh_from_db()
    assert (preview.title_override, preview.overridden_at) == ("", None)


@pytest.mark.django_db(transaction=True)
def test_an_override_made_while_a_fetch_runs_is_not_written_over(server, allow_local):
    """The merchant saves the card while the page is being fetched: the fetch, which loaded
    the preview before, saves only what it scraped."""
    preview = LinkPreview.objects.create(url=normalize_url(server.url("/shirt")))

    def page_while_the_merchant_edits(handler):
        try:  # in the server's thread, with its own database connection
            services.preview_override(preview_id=preview.pk, actor=None, title="Mine")
        finally:
            connections.close_all()
        body = PAGE.format(title="Scraped", image="").encode()
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    server.routes["/shirt"] = page_while_the_merchant_edits
    services.preview_fetch(preview_id=preview.pk)
    preview.refresh_from_db()
    assert (preview.status, preview.title, preview.title_override) == ("ok", "Scraped", "Mine")


# --- where the card would be -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "code", "reason"),
    [
        (
            {"status": "failed", "error": "The server answered with HTTP status 404."},
            "failed",
            "No preview: The server answered with HTTP status 404.",
        ),
        (
            {"status": "blocked", "error": "This address is not allowed."},
            "blocked",
            "No preview: This address is not allowed.",
        ),
        ({"status": "pending"}, "pending", "The preview is being made."),
    ],
)
def test_the_card_says_why_there_is_none(client, fields, code, reason):
    LinkPreview.objects.create(url="https://shop.example.org/item", **fields)
    response = client.get("/previews/card", {"url": "https://shop.example.org/item"})
    assert response.status_code == 404
    soup = BeautifulSoup(response.content, "lxml")
    assert soup.select_one(".sl-card-missing").get_text() == reason
    data = client.get("/previews/card.json", {"url": "https://shop.example.org/item"})
    assert data.status_code == 404
    assert data.json()["error"] == {"code": code, "message": reason, "fields": {}}


@pytest.mark.django_db
def test_a_failed_page_with_the_merchants_title_still_has_a_card(client):
    # A page that refuses bots can still be shared with the card the merchant wrote.
    LinkPreview.objects.create(
        url="https://shop.example.org/item", status="failed", error="HTTP 403",
        title_override="Our shirt", description_override="Linen, made in Porto.",
    )  # fmt: skip
    card = client.get("/previews/card.json", {"url": "https://shop.example.org/item"}).json()
    assert (card["title"], card["description"]) == ("Our shirt", "Linen, made in Porto.")
    blocked = LinkPreview.objects.create(
        url="http://localhost/", status="blocked", title_override="Sneaky"
    )
    assert not selectors.has_card(blocked)


@pytest.mark.django_db
def test_unfurls_use_the_merchants_card(client, server, allow_local):
    from links import services as links
    from links.models import AllowedDomain

    AllowedDomain.objects.create(domain="shop.example.org")
    LinkPreview.objects.create(
        url="https://shop.example.org/item", status="ok", title="Scraped title",
        description="Scraped.", next_refresh_at=timezone.now() + timezone.timedelta(days=1),
    )  # fmt: skip
    preview = LinkPreview.objects.get()
    services.preview_override(
        preview_id=preview.pk, actor=None, title="Our title", description="Ours.", image=upload()
    )
    links.link_create(url="https://shop.example.org/item", code="shirt")
    response = client.get("/p/shirt", HTTP_USER_AGENT="Slackbot-LinkExpanding 1.0")
    soup = BeautifulSoup(response.content, "lxml")
    assert soup.find("meta", property="og:title")["content"] == "Our title"
    assert soup.find("meta", property="og:description")["content"] == "Ours."
    preview.refresh_from_db()
    assert soup.find("meta", property="og:image")["content"].endswith(preview.image_override.url)


# --- the API exposes both ----------------------------------------------------------------------


def token_for(user) -> dict:
    return {"HTTP_AUTHORIZATION": f"Token {Token.objects.create(user=user).key}"}


@pytest.mark.django_db
def test_the_api_shows_scraped_and_merchant_values_and_patches_them(client):
    preview = LinkPreview.objects.create(
        url="https://shop.example.org/item", status="ok", title="Scraped", description="S."
    )
    auth = token_for(staff("cm", "Catalog manager"))
    path = f"/api/previews/{preview.pk}"
    response = client.patch(
        path, {"title_override": "Ours"}, content_type="application/json", **auth
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["title"], body["title_override"], body["card_title"]) == (
        "Scraped",
        "Ours",
        "Ours",
    )
    assert (body["description_override"], body["card_description"]) == ("", "S.")

    from django.test.client import encode_multipart

    multipart = encode_multipart("BOUNDARY", {"image_override": upload()})
    response = client.patch(
        path, multipart, content_type="multipart/form-data; boundary=BOUNDARY", **auth
    )
    assert response.status_code == 200
    body = response.json()
    assert body["image_override"].endswith(".jpg") and body["card_image"] == body["image_override"]
    assert body["image"] is None  # nothing scraped: the scraped field stays empty
    assert body["title_override"] == "Ours"

    too_long = client.patch(
        path, {"title_override": "x" * 301}, content_type="application/json", **auth
    )
    assert too_long.status_code == 400
    assert "title_override" in too_long.json()["error"]["fields"]
    not_image = client.patch(
        path,
        encode_multipart("B", {"image_override": upload(b"nope", "x.jpg")}),
        content_type="multipart/form-data; boundary=B",
        **auth,
    )
    assert not_image.status_code == 400
    assert not_image.json()["error"]["fields"] == {
        "image": ["The file is not an image (JPEG, PNG, WebP or GIF expected)."]
    }


@pytest.mark.django_db
def test_only_roles_that_may_change_previews_patch_them(client):
    preview = LinkPreview.objects.create(url="https://shop.example.org/item", status="ok")
    viewer = staff("viewer", perms=["view_linkpreview"])
    response = client.patch(
        f"/api/previews/{preview.pk}",
        {"title_override": "x"},
        content_type="application/json",
        **token_for(viewer),
    )
    assert response.status_code == 403
    assert (
        client.get(f"/api/previews/{preview.pk}", **token_for(staff("fin", "Finance"))).status_code
        == 403
    )


# --- the console ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_preview_a_url_is_offered_to_roles_that_may_add_previews(client):
    LinkPreview.objects.create(url="https://shop.example.org/item", status="ok")
    client.force_login(staff("cm", "Catalog manager"))
    listing = client.get("/admin/previews/linkpreview/").content.decode()
    assert 'href="/admin/previews/linkpreview/add/"' in listing and "Preview a URL" in listing
    assert client.get("/admin/previews/linkpreview/add/").status_code == 200

    client.force_login(staff("viewer", perms=["view_linkpreview"]))
    assert "Preview a URL" not in client.get("/admin/previews/linkpreview/").content.decode()
    assert client.get("/admin/previews/linkpreview/add/").status_code == 403
    client.force_login(staff("mod", "Moderator"))
    assert client.get("/admin/previews/linkpreview/add/").status_code == 403


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://LOCALHOST./", "This address is not allowed."),
        ("http://169.254.169.254./latest", "This address is not allowed."),
        ("https://shop.example.org:0/", "The port must be a number from 1 to 65535."),
        (
            "https://shop.example.org:22/",
            "Port 22 is not allowed: only ports 80, 443, 8080 and 8443 are fetched.",
        ),
        ("ftp://shop.example.org/", "Only http and https URLs can be fetched."),
    ],
)
def test_preview_a_url_refuses_what_the_api_refuses(client, url, error):
    client.force_login(staff("cm", "Catalog manager"))
    response = client.post("/admin/previews/linkpreview/add/", {"url": url})
    assert response.status_code == 200
    soup = BeautifulSoup(response.content, "lxml")
    assert soup.select_one(".errorlist").get_text(strip=True) == error
    assert not LinkPreview.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_preview_a_url_fetches_and_opens_the_preview(client, server, allow_local, merchant_roles):
    serve(server, title="Linen Shirt")
    client.force_login(staff("cm", "Catalog manager"))
    response = client.post(
        "/admin/previews/linkpreview/add/", {"url": server.url("/shirt")}, follow=True
    )
    preview = LinkPreview.objects.get()
    assert response.redirect_chain[-1][0] == f"/admin/previews/linkpreview/{preview.pk}/change/"
    html = response.content.decode()
    assert f"Preview of {preview.url} made: Linen Shirt." in html
    assert preview.status == "ok" and preview.image


@pytest.mark.django_db
def test_the_change_page_edits_the_merchants_card(client, server, allow_local):
    preview = fetched(server, title="Scraped")
    client.force_login(staff("cm", "Catalog manager"))
    path = f"/admin/previews/linkpreview/{preview.pk}/change/"
    page = client.get(path).content.decode()
    assert 'name="title_override"' in page and 'name="image_upload"' in page
    response = client.post(
        path,
        {"title_override": "Ours", "description_override": "", "image_upload": upload()},
        follow=True,
    )
    assert response.status_code == 200
    preview.refresh_from_db()
    assert (preview.title, preview.title_override) == ("Scraped", "Ours")
    assert size_of(preview.image_override) == (1200, 630)
    bad = client.post(path, {"title_override": "x", "image_upload": upload(b"no", "a.jpg")})
    assert "The file is not an image" in bad.content.decode()
    preview.refresh_from_db()
    assert preview.title_override == "Ours"

    client.force_login(staff("viewer", perms=["view_linkpreview"]))
    page = client.get(path)
    assert page.status_code == 200 and 'name="image_upload"' not in page.content.decode()


@pytest.mark.django_db
def test_the_list_shows_why_previews_failed(client):
    LinkPreview.objects.create(url="https://a.example/", status="failed", error="HTTP 404 here.")
    LinkPreview.objects.create(url="http://localhost/", status="blocked", error="x")
    client.force_login(staff("cm", "Catalog manager"))
    soup = BeautifulSoup(client.get("/admin/previews/linkpreview/").content, "lxml")
    reasons = {td.get_text(strip=True) for td in soup.select("td.field-problem")}
    assert reasons == {"HTTP 404 here.", "This address is not allowed."}


@pytest.mark.django_db
def test_the_list_takes_the_same_queries_however_many_previews(
    client, django_assert_max_num_queries, django_assert_num_queries
):
    client.force_login(staff("cm", "Catalog manager"))

    def make(n):
        LinkPreview.objects.bulk_create(
            LinkPreview(url=f"https://s{n}-{i}.example/", status="ok", title_override="t")
            for i in range(n)
        )

    make(3)
    client.get("/admin/previews/linkpreview/")  # warm: content types
    with django_assert_max_num_queries(9) as few:
        client.get("/admin/previews/linkpreview/")
    make(40)
    with django_assert_num_queries(len(few.captured_queries)):
        client.get("/admin/previews/linkpreview/")


# --- the short link's page ---------------------------------------------------------------------


@pytest.fixture
def link(db):
    from links.models import AllowedDomain, ShortLink

    AllowedDomain.objects.create(domain="shop.example.org")
    return ShortLink.objects.create(code="shirt", url="https://shop.example.org/item")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        (None, "No preview yet: it is made when the link is saved."),
        ({"status": "ok", "title": "Linen Shirt"}, "The destination's card: Linen Shirt"),
        (
            {"status": "failed", "error": "The connection failed. Gave up after 3 attempts."},
            "No preview: The connection failed. Gave up after 3 attempts. Crawlers see the "
            "link's title instead",
        ),
        ({"status": "blocked"}, "No preview: This address is not allowed."),
    ],
)
def test_the_link_page_says_what_crawlers_see(client, link, fields, shown):
    if fields is not None:
        LinkPreview.objects.create(url="https://shop.example.org/item", **fields)
    client.force_login(staff("cm", "Catalog manager"))
    html = client.get(f"/admin/links/shortlink/{link.pk}/change/").content.decode()
    text = BeautifulSoup(html, "lxml").select_one(".field-destination_preview").get_text(" ")
    assert shown in " ".join(text.split())


@pytest.mark.django_db(transaction=True)
def test_saving_a_link_to_a_local_host_says_its_preview_is_blocked(client, merchant_roles):
    from links import services as links
    from links.models import AllowedDomain

    AllowedDomain.objects.create(domain="nas.lan")
    link = links.link_create(url="http://NAS.lan./files", code="nas")  # commits: on_commit runs
    assert LinkPreview.objects.get().status == "blocked"
    client.force_login(staff("cm", "Catalog manager"))
    html = client.get(f"/admin/links/shortlink/{link.pk}/change/").content.decode()
    text = BeautifulSoup(html, "lxml").select_one(".field-destination_preview").get_text(" ")
    assert "No preview: This address is not allowed." in text
