import io
import struct
import zlib

import pytest
from django.core.exceptions import ValidationError
from PIL import Image

from catalog import services
from core import images
from core.errors import ApplicationError
from tests.catalog.factories import ProductFactory, image_bytes, upload


def png_declaring(width: int, height: int) -> bytes:
    """A tiny PNG whose header declares huge dimensions (a decompression bomb)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = zlib.compress(b"\x00" * 16)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )


def jpeg_with_exif() -> bytes:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS info
    return image_bytes("JPEG", size=(80, 60), exif=exif.tobytes())


@pytest.mark.parametrize("size", [(100_000, 100_000), (20_000, 20_000), (40_000, 1_001)])
def test_an_image_declaring_huge_dimensions_is_refused_before_decoding(size):
    bomb = png_declaring(*size)
    assert len(bomb) < 200
    with pytest.raises(ValidationError) as exc:
        images.process_upload(upload("bomb.png", bomb))
    assert exc.value.code == "image_too_many_pixels"
    assert "pixels" in exc.value.messages[0]


def test_a_file_whose_extension_lies_is_stored_as_its_real_type():
    processed = images.process_upload(upload("photo.jpg", image_bytes("PNG", alpha=True)))
    assert processed.extension == "png"
    assert processed.content_type == "image/png"
    assert Image.open(io.BytesIO(processed.content)).format == "PNG"


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("photo.jpg", b"<html><script>alert(1)</script></html>"),
        ("photo.png", b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'),
        ("photo.gif", b"%PDF-1.4 not an image"),
    ],
)
def test_a_non_image_with_an_image_extension_is_refused(name, content):
    with pytest.raises(ValidationError) as exc:
        images.process_upload(upload(name, content))
    assert exc.value.code == "image_unreadable"


def test_a_truncated_image_is_refused():
    data = image_bytes("JPEG", size=(400, 300))
    with pytest.raises(ValidationError) as exc:
        images.process_upload(upload("cut.jpg", data[: len(data) // 2]))
    assert exc.value.code == "image_corrupt"


def test_unsupported_formats_are_refused():
    with pytest.raises(ValidationError) as exc:
        images.process_upload(upload("photo.bmp", image_bytes("BMP")))
    assert exc.value.code == "image_format"


def test_exif_and_gps_are_stripped():
    original = Image.open(io.BytesIO(jpeg_with_exif()))
    assert original.getexif()  # the fixture really carries EXIF
    processed = images.process_upload(upload("cam.jpg", jpeg_with_exif()))
    reencoded = Image.open(io.BytesIO(processed.content))
    assert not reencoded.getexif()
    assert b"SpyCam" not in processed.content


def test_too_large_a_file_is_refused(settings):
    settings.IMAGE_MAX_UPLOAD_BYTES = 100
    with pytest.raises(ValidationError) as exc:
        images.process_upload(upload("big.png", image_bytes(size=(300, 300))))
    assert exc.value.code == "image_too_large"


def test_large_images_are_scaled_to_fit_the_stored_box():
    processed = images.process_upload(upload("wide.jpg", image_bytes("JPEG", size=(4096, 1024))))
    assert (processed.width, processed.height) == (2048, 512)


@pytest.mark.django_db
def test_adding_an_image_stores_it_and_makes_a_thumbnail_after_commit(
    django_capture_on_commit_callbacks,
):
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True):
        image = services.product_image_add(
            product=product, upload=upload("shot.jpg", image_bytes("JPEG", size=(900, 600)))
        )
    image.refresh_from_db()
    assert image.image.name.endswith(".jpg")
    assert (image.width, image.height) == (900, 600)
    assert image.thumbnail
    with image.thumbnail.open("rb") as fh:
        assert Image.open(fh).size == (400, 267)


@pytest.mark.django_db
def test_making_a_thumbnail_twice_is_harmless(django_capture_on_commit_callbacks):
    product = ProductFactory()
    with django_capture_on_commit_callbacks(execute=True):
        image = services.product_image_add(product=product, upload=upload())
    first = image.__class__.objects.get(pk=image.pk).thumbnail.name
    services.product_image_make_thumbnail(image_id=image.pk)
    assert image.__class__.objects.get(pk=image.pk).thumbnail.name == first
    assert services.product_image_make_thumbnail(image_id=999_999) is None


@pytest.mark.django_db
def test_a_refused_upload_changes_nothing():
    product = ProductFactory()
    with pytest.raises(ApplicationError) as exc:
        services.product_image_add(
            product=product, upload=upload("bomb.png", png_declaring(90_000, 90_000))
        )
    assert exc.value.code == "image_too_many_pixels"
    assert "pixels" in exc.value.fields["image"][0]
    assert product.images.count() == 0


def sideways_jpeg(size=(1600, 1200)) -> bytes:
    """A landscape JPEG whose EXIF says: turn me 90° clockwise to show (portrait)."""
    exif = Image.Exif()
    exif[images.ORIENTATION_TAG] = 6
    exif[0x8825] = {1: "N", 2: (51.0, 30.0, 0.0)}  # GPS
    return image_bytes("JPEG", size=size, exif=exif.tobytes())


def test_renditions_decode_once_and_fit_each_box():
    data = image_bytes("JPEG", size=(4000, 3000))
    display, thumb = images.renditions(data, [(1080, 2160), (400, 400)])
    assert (display.width, display.height) == (1080, 810)
    assert (thumb.width, thumb.height) == (400, 300)
    for made in (display, thumb):
        with Image.open(io.BytesIO(made.content)) as opened:
            assert opened.size == (made.width, made.height)
            assert not opened.getexif()


def test_renditions_are_upright_and_stripped_when_exif_turns_the_picture():
    display, thumb = images.renditions(sideways_jpeg(), [(1080, 2160), (400, 400)])
    assert (display.width, display.height) == (1080, 1440)  # shown portrait
    assert (thumb.width, thumb.height) == (300, 400)
    with Image.open(io.BytesIO(display.content)) as opened:
        assert not opened.getexif()  # orientation and GPS gone


def test_reduced_scale_decoding_still_refuses_a_truncated_jpeg():
    data = image_bytes("JPEG", size=(2000, 1500))
    for call in (
        lambda cut: images.renditions(cut, [(400, 400)]),
        lambda cut: images.decoded_preview(cut, (64, 64)),
    ):
        with pytest.raises(ValidationError) as exc:
            call(data[: len(data) // 2])
        assert exc.value.code == "image_corrupt"


def test_decoded_preview_reports_the_size_the_picture_is_shown_at():
    preview, width, height = images.decoded_preview(sideways_jpeg(), (256, 256))
    assert (width, height) == (1200, 1600)
    assert preview.width <= 256 and preview.height <= 256
    assert preview.height > preview.width  # upright


def test_reduced_scale_decoding_keeps_the_pixel_limit():
    with pytest.raises(ValidationError) as exc:
        images.decoded_preview(png_declaring(20_000, 20_000), (64, 64))
    assert exc.value.code == "image_too_many_pixels"
