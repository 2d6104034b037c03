"""The benchmark corpus (bench/previews_corpus/) and the extractor agree on every title.

Each page is stored as the bytes its server sent; `expected.json` gives its URL, the charset
of its Content-Type header (or null) and what its card should show. The benchmark scores
every field; this keeps the corpus and the extractor consistent in the ordinary test run.
"""

import json
from pathlib import Path

import pytest

from previews.extract import extract
from previews.fetch import decode_html

CORPUS = Path(__file__).resolve().parents[2] / "bench" / "previews_corpus"
EXPECTED = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))


def test_the_corpus_is_complete():
    pages = {path.name for path in CORPUS.glob("*.html")}
    assert pages == set(EXPECTED)
    assert len(pages) >= 56


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_the_expected_title_is_extracted(name):
    page = EXPECTED[name]
    text, _ = decode_html((CORPUS / name).read_bytes(), page["charset"])
    meta = extract(text, url=page["url"])
    assert meta.title is not None
    assert " ".join(meta.title.split()) == " ".join(page["title"].split())


# Pages written for the classes of misreading fixed in issue 10 (entities decoded twice, a
# video as the image, no meta tags, a product behind a generic share image): every field.
ISSUE_10_CLASSES = ("entities_", "video_og_image_", "article_no_meta_", "product_")


@pytest.mark.parametrize("name", sorted(n for n in EXPECTED if n.startswith(ISSUE_10_CLASSES)))
def test_pages_of_the_fixed_classes_are_read_right_in_every_field(name):
    page = EXPECTED[name]
    text, _ = decode_html((CORPUS / name).read_bytes(), page["charset"])
    meta = extract(text, url=page["url"])
    assert meta.title == page["title"]
    assert meta.description == page["description"]
    assert (meta.image.url if meta.image else None) == page["image"]
    assert (str(meta.price) if meta.price is not None else None) == page["price"]
    assert meta.currency == page["currency"]
