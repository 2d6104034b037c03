"""Benchmark of link-preview extraction over saved pages, against extruct in the same run.

`bench/previews_corpus/` holds one file per page, stored as the bytes a server sent (in the
page's own charset), and `expected.json`, which gives each file its URL, the charset its
server declared in Content-Type (or null), and the title, description, image, price and
currency a careful reader of the page would put on its card. Each page is decoded with
`decode_html`, as a fetch would, and then:

- accuracy: `extract` runs once per page and each field is compared with the expected value:
  title and description after whitespace folding, the image URL, the price as a Decimal,
  the currency code. Null expected and null extracted counts as right, so every field is
  scored on every page.
- speed: `extract` and extruct's `extract(html, base_url=url, syntaxes=["json-ld",
  "microdata", "opengraph"], uniform=True)` run on the same decoded text, interleaved (and
  alternating which goes first), REPEATS times each per page; the median per page, then the
  median over pages, is reported. extruct runs with errors="ignore", as one page has a JSON-LD
  block that does not parse and strict mode would stop there.

Targets: at least 95% on title, image, description and price; `extract` no slower than
extruct (ratio <= 1). The last line printed is one JSON object; the exit code is 0 when the
targets are met, 1 otherwise.
"""

import gc
import json
import statistics
import sys
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "bench" / "previews_corpus"
REPEATS = 5
TARGETED_FIELDS = ("title", "image", "description", "price")
FIELDS = ("title", "description", "image", "price", "currency")
MIN_ACCURACY = 0.95
MAX_RATIO = 1.0
EXTRUCT_SYNTAXES = ["json-ld", "microdata", "opengraph"]

sys.path.insert(0, str(ROOT))

import extruct  # noqa: E402

from previews.extract import extract  # noqa: E402
from previews.fetch import decode_html  # noqa: E402


def load_corpus() -> list[dict]:
    expected = json.loads((CORPUS / "expected.json").read_text(encoding="utf-8"))
    pages = []
    for name, page in sorted(expected.items()):
        text, codec = decode_html((CORPUS / name).read_bytes(), page["charset"])
        pages.append({"name": name, "text": text, "codec": codec, **page})
    return pages


def fold(value):
    return " ".join(value.split()) if isinstance(value, str) else value


def extracted_fields(meta) -> dict:
    return {
        "title": fold(meta.title),
        "description": fold(meta.description),
        "image": meta.image.url if meta.image else None,
        "price": meta.price,
        "currency": meta.currency,
    }


def is_right(field: str, expected, got) -> bool:
    if expected is None or got is None:
        return expected is None and got is None
    if field == "price":
        return Decimal(expected) == got
    return fold(expected) == got


def score(pages: list[dict]) -> tuple[dict[str, float], list[tuple]]:
    right = dict.fromkeys(FIELDS, 0)
    misses = []
    for page in pages:
        got = extracted_fields(extract(page["text"], url=page["url"]))
        for field in FIELDS:
            if is_right(field, page[field], got[field]):
                right[field] += 1
            else:
                misses.append((page["name"], field, page[field], got[field]))
    accuracy = {field: right[field] / len(pages) for field in FIELDS}
    return accuracy, misses


def run_extruct(page: dict):
    return extruct.extract(
        page["text"],
        base_url=page["url"],
        syntaxes=EXTRUCT_SYNTAXES,
        uniform=True,
        errors="ignore",
    )


def run_ours(page: dict):
    return extract(page["text"], url=page["url"])


def timed_ms(fn, page: dict) -> float:
    start = time.perf_counter()
    fn(page)
    return (time.perf_counter() - start) * 1000


def time_both(pages: list[dict]) -> tuple[list[float], list[float]]:
    """Per-page medians of REPEATS runs, ours and extruct's, interleaved on each page."""
    ours, theirs = [], []
    for page in pages:  # warm-up: imports, caches and lazily built regexes on both sides
        run_ours(page)
        run_extruct(page)
    gc.disable()
    try:
        for page in pages:
            ours_runs, extruct_runs = [], []
            for repeat in range(REPEATS):
                if repeat % 2:
                    extruct_runs.append(timed_ms(run_extruct, page))
                    ours_runs.append(timed_ms(run_ours, page))
                else:
                    ours_runs.append(timed_ms(run_ours, page))
                    extruct_runs.append(timed_ms(run_extruct, page))
            ours.append(statistics.median(ours_runs))
            theirs.append(statistics.median(extruct_runs))
            gc.collect()
    finally:
        gc.enable()
    return ours, theirs


def main() -> int:
    pages = load_corpus()
    accuracy, misses = score(pages)
    ours, theirs = time_both(pages)
    median_ms = statistics.median(ours)
    extruct_median_ms = statistics.median(theirs)
    ratio = median_ms / extruct_median_ms
    accurate = all(accuracy[field] >= MIN_ACCURACY for field in TARGETED_FIELDS)
    fast = ratio <= MAX_RATIO

    codecs = sorted({page["codec"] for page in pages})
    print(f"{len(pages)} pages from {CORPUS.relative_to(ROOT)} (codecs: {', '.join(codecs)})")
    print()
    print(f"{'field':<12} {'right':>7} {'accuracy':>9}  target")
    for field in FIELDS:
        right = round(accuracy[field] * len(pages))
        target = f">= {MIN_ACCURACY:.0%}" if field in TARGETED_FIELDS else "-"
        print(f"{field:<12} {right:>3}/{len(pages):<3} {accuracy[field]:>9.1%}  {target}")
    print()
    if misses:
        print(f"misses ({len(misses)}):")
        for name, field, expected, got in misses:
            print(f"  {name} [{field}]")
            print(f"    expected: {expected!r}")
            print(f"    got:      {got!r}")
        print()
    print(f"median extraction time per page ({REPEATS} runs each, interleaved):")
    print(f"  previews.extract  {median_ms:8.3f} ms   (slowest page {max(ours):.3f} ms)")
    print(f"  extruct           {extruct_median_ms:8.3f} ms   (slowest page {max(theirs):.3f} ms)")
    print(f"  ratio             {ratio:8.3f}      target <= {MAX_RATIO}")
    print()
    ok = accurate and fast
    print(
        json.dumps(
            {
                "bench": "previews",
                "pages": len(pages),
                "accuracy": {field: round(accuracy[field], 4) for field in FIELDS},
                "misses": len(misses),
                "median_ms": round(median_ms, 3),
                "extruct_median_ms": round(extruct_median_ms, 3),
                "ratio": round(ratio, 3),
                "ok": ok,
            }
        )
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
