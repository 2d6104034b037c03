"""Imports of UGC exports (JSON, JSON Lines or CSV from social tools), row by row.

`read_rows` parses a file into rows (refusing a bad file as a whole with `ImportFileError`);
`import_rows` maps each row and ingests it through `ugc_ingest`, then maps products through
`ugc_map_product`. Every row is independent: a bad row becomes a failed `RowResult` naming
its line (CSV, JSON Lines) or its position (JSON) and the reason, and the others go on.

Rows are idempotent by (source, external id): a row whose item exists is reported as
"already imported" and nothing about it is touched again, so running an import twice creates
nothing new. `media_url` is fetched only through the safe fetcher (`previews.fetch`), and
`media_path` must stay inside the media directory.
"""

import csv
import io
import json
import logging
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.models import Product, Variant
from core.errors import ApplicationError, error_message, full_clean
from creators.models import Creator
from previews.fetch import fetch
from ugc.models import UGCItem, UGCRights
from ugc.services import inspect_media, ugc_ingest, ugc_map_product

logger = logging.getLogger(__name__)

MAX_FILE_BYTES = 50 * 1024 * 1024
FORMATS = ("json", "jsonl", "csv")
EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv"}

# Canonical field -> the names exports use for it (after lower-casing, spaces and - to _).
ALIASES = {
    "source": ("source", "platform"),
    "external_id": ("external_id", "id", "post_id"),
    "author_handle": ("author_handle", "username", "handle", "author"),
    "caption": ("caption", "text", "description"),
    "creator": ("creator",),
    "creator_handle": ("creator_handle",),
    "creator_code": ("creator_code", "affiliate_code"),
    "creator_email": ("creator_email",),
    "media_path": ("media_path",),
    "media_url": ("media_url",),
    "consent_method": ("consent_method",),
    "proof_url": ("proof_url",),
    "proof_text": ("proof_text",),
    "licence_type": ("licence_type", "license_type"),
    "allowed_channels": ("allowed_channels",),
    "starts_at": ("starts_at",),
    "expires_at": ("expires_at",),
    "sku": ("sku", "skus"),
    "product": ("product", "product_slug"),
}
MEDIA_COLUMNS = ("media_path", "media_url")
RIGHTS_FIELDS = (
    "consent_method",
    "proof_url",
    "proof_text",
    "licence_type",
    "allowed_channels",
    "starts_at",
    "expires_at",
)
LIST_SPLIT = re.compile(r"[\s,;|]+")


def max_rows() -> int:
    return settings.UGC_IMPORT_MAX_ROWS


def max_media_bytes() -> int:
    return max(settings.IMAGE_MAX_UPLOAD_BYTES, settings.UGC_VIDEO_MAX_BYTES)


class ImportFileError(ApplicationError):
    """The file as a whole cannot be imported; nothing was read from it."""

    def __init__(self, message: str):
        super().__init__(message, code="import_file_invalid")


class RowError(ApplicationError):
    """One row cannot be imported; the message says which field and why."""

    def __init__(self, message: str):
        super().__init__(message, code="row_invalid")


@dataclass
class Row:
    where: str  # "line 3" (CSV, JSON Lines) or "item 3" (JSON)
    data: dict | None  # keys normalised; None when the record is not an object
    problem: str = ""  # why the record could not be read at all


@dataclass
class RowResult:
    where: str
    outcome: str  # created | existing | failed (a dry run's "created" means "would create")
    message: str
    item_id: int | None = None
    flags: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------
# Reading files
# ---------------------------------------------------------------------------------------


def detect_format(path: Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise ImportFileError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
        return fmt
    found = EXTENSIONS.get(path.suffix.lower())
    if found is None:
        raise ImportFileError(
            f"Cannot tell the format of {path.name!r} from its extension; "
            f"name it .json, .jsonl or .csv, or pass --format ({', '.join(FORMATS)})."
        )
    return found


def normalize_key(key) -> str:
    return re.sub(r"[\s\-]+", "_", str(key).strip().lower())


def _normalize_record(record: dict) -> dict:
    return {normalize_key(key): value for key, value in record.items()}


def _too_many(count: int, limit: int) -> ImportFileError:
    return ImportFileError(
        f"The file has more than {limit:,} rows ({count:,} or more); split it into files of "
        f"at most {limit:,} rows. Nothing was imported."
    )


def read_rows(path, *, fmt: str | None = None, limit: int | None = None) -> list[Row]:
    """Every row of an export file. Raises ImportFileError when the file cannot be used."""
    path = Path(path)
    limit = limit or max_rows()
    fmt = detect_format(path, fmt)
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ImportFileError(
                f"The file is {size:,} bytes; at most {MAX_FILE_BYTES:,} can be imported at once."
            )
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ImportFileError(f"No such file: {path}.") from None
    except IsADirectoryError:
        raise ImportFileError(f"{path} is a directory, not an export file.") from None
    except OSError as exc:
        raise ImportFileError(f"Cannot read {path}: {exc.strerror or exc}.") from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise ImportFileError(
            f"The file is not UTF-8 text (byte {exc.start} cannot be decoded); export it as UTF-8."
        ) from None
    if fmt == "json":
        return _json_rows(text, limit)
    if fmt == "jsonl":
        return _jsonl_rows(text, limit)
    return _csv_rows(text, limit)


def _json_rows(text: str, limit: int) -> list[Row]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFileError(
            f"The file is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}."
        ) from None
    if isinstance(data, dict):
        records = next(
            (data[key] for key in ("items", "data") if isinstance(data.get(key), list)), None
        )
    else:
        records = data if isinstance(data, list) else None
    if records is None:
        raise ImportFileError(
            'The JSON must be a list of objects, or an object with an "items" or "data" list.'
        )
    if len(records) > limit:
        raise _too_many(len(records), limit)
    rows = []
    for index, record in enumerate(records, start=1):
        where = f"item {index}"
        if isinstance(record, dict):
            rows.append(Row(where, _normalize_record(record)))
        else:
            rows.append(Row(where, None, f"expected an object, found {_json_kind(record)}"))
    return rows


def _json_kind(value) -> str:
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"a {type(value).__name__}"


def _jsonl_rows(text: str, limit: int) -> list[Row]:
    rows = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(rows) >= limit:
            raise _too_many(len(rows) + 1, limit)
        where = f"line {number}"
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            rows.append(Row(where, None, f"not valid JSON ({exc.msg}, column {exc.colno})"))
            continue
        if isinstance(record, dict):
            rows.append(Row(where, _normalize_record(record)))
        else:
            rows.append(Row(where, None, f"expected an object, found {_json_kind(record)}"))
    return rows


def _csv_rows(text: str, limit: int) -> list[Row]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
        if header is None or not any(cell.strip() for cell in header):
            raise ImportFileError("The CSV file is empty: it needs a header row.")
        columns = [normalize_key(cell) for cell in header]
        repeated = sorted({c for c in columns if c and columns.count(c) > 1})
        if repeated:
            raise ImportFileError(f"The CSV header repeats the column(s) {', '.join(repeated)}.")
        if not any(c in MEDIA_COLUMNS for c in columns):
            raise ImportFileError(
                "The CSV header has no media column: add media_path (a file next to the CSV, "
                f"or under --media-dir) or media_url. Columns found: {', '.join(columns)}."
            )
        rows = []
        previous_end = reader.line_num
        for cells in reader:
            start, previous_end = previous_end + 1, reader.line_num
            if not any(cell.strip() for cell in cells):
                continue
            if len(rows) >= limit:
                raise _too_many(len(rows) + 1, limit)
            where = f"line {start}"
            if len(cells) > len(columns):
                problem = f"{len(cells)} values for {len(columns)} header columns"
                rows.append(Row(where, None, problem))
                continue
            rows.append(Row(where, {c: v for c, v in zip(columns, cells, strict=False) if c}))
    except csv.Error as exc:
        raise ImportFileError(
            f"The CSV file cannot be read at line {reader.line_num}: {exc}."
        ) from None
    return rows


# ---------------------------------------------------------------------------------------
# Mapping a row
# ---------------------------------------------------------------------------------------


@dataclass
class Mapped:
    source: str
    external_id: str
    author_handle: str
    caption: str
    creator: Creator | None
    media_path: str
    media_url: str
    rights: dict | None
    products: list[tuple[Product, Variant | None]]


def _text(data: dict, name: str) -> str:
    """The first non-empty value among the field's names, as stripped text."""
    for key in ALIASES[name]:
        value = data.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or isinstance(value, dict | list):
            raise RowError(f"{key} must be text, not {_json_kind(value)}.")
        return str(value).strip()
    return ""


def _list(data: dict, name: str) -> list[str]:
    """A list field: a JSON list of strings, or text separated by commas."""
    for key in ALIASES[name]:
        value = data.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, list):
            if not all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
                raise RowError(f"{key} must be a list of text values.")
            return [str(v).strip() for v in value if str(v).strip()]
        if isinstance(value, dict | bool):
            raise RowError(f"{key} must be text or a list, not {_json_kind(value)}.")
        return [part for part in LIST_SPLIT.split(str(value)) if part]
    return []


def parse_datetime(value: str, name: str) -> datetime | None:
    """ISO 8601 date or date and time; a time without an offset is read as UTC."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise RowError(
            f"{name} {value[:40]!r} is not an ISO 8601 date or time "
            "(e.g. 2025-06-30 or 2025-06-30T12:00:00Z)."
        ) from None
    if timezone.is_naive(parsed):
        parsed = parsed.replace(tzinfo=UTC)
    return parsed


def _source(data: dict, default_source: str | None) -> str:
    source = _text(data, "source").lower() or (default_source or "")
    if not source:
        raise RowError('No source: add a "source" column or pass --source.')
    if source not in UGCItem.Source.values:
        raise RowError(f"source {source[:40]!r} is not one of {', '.join(UGCItem.Source.values)}.")
    return source


def _one_creator(queryset, description: str) -> Creator:
    found = list(queryset.order_by("pk")[:2])
    if not found:
        raise RowError(f"No creator has {description}.")
    if len(found) > 1:
        raise RowError(f"More than one creator has {description}; use their handle instead.")
    return found[0]


def resolve_creator(data: dict) -> Creator | None:
    handle = _text(data, "creator_handle").lstrip("@")
    code = _text(data, "creator_code")
    email = _text(data, "creator_email")
    if handle:
        return _one_creator(Creator.objects.filter(handle__iexact=handle), f"the handle {handle!r}")
    if code:
        return _one_creator(
            Creator.objects.filter(affiliate_code__iexact=code), f"the affiliate code {code!r}"
        )
    if email:  # the address is not repeated in the message: it is personal data
        return _one_creator(Creator.objects.filter(email__iexact=email), "the creator_email given")
    value = _text(data, "creator")
    if not value:
        return None
    if "@" in value.lstrip("@"):
        return _one_creator(Creator.objects.filter(email__iexact=value), "the email given")
    value = value.lstrip("@")
    return _one_creator(
        Creator.objects.filter(Q(handle__iexact=value) | Q(affiliate_code__iexact=value)),
        f"the handle or affiliate code {value!r}",
    )


def resolve_products(data: dict) -> list[tuple[Product, Variant | None]]:
    """(product, variant) pairs for the row's SKUs and product slugs, in order, no repeats."""
    pairs: list[tuple[Product, Variant | None]] = []
    for sku in _list(data, "sku"):
        variant = Variant.objects.select_related("product").filter(sku=sku).first()
        if variant is None:
            raise RowError(f"No product variant has the SKU {sku[:64]!r}.")
        pairs.append((variant.product, variant))
    for slug in _list(data, "product"):
        product = Product.objects.filter(slug=slug.lower()).first()
        if product is None:
            raise RowError(f"No product has the slug {slug[:200]!r}.")
        if not any(p.pk == product.pk for p, _ in pairs):
            pairs.append((product, None))
    unique, seen = [], set()
    for product, variant in pairs:
        if product.pk not in seen:
            seen.add(product.pk)
            unique.append((product, variant))
    return unique


def build_rights(data: dict, *, granted_by=None) -> dict | None:
    """Keyword arguments for `ugc_rights_grant`, checked; None when the row gives no rights."""
    if not any(
        data.get(key) not in (None, "", []) for name in RIGHTS_FIELDS for key in ALIASES[name]
    ):
        return None
    method = normalize_key(_text(data, "consent_method"))
    if not method:
        raise RowError("consent_method is required when a row gives rights.")
    rights = {
        "consent_method": method,
        "allowed_channels": [c.lower() for c in _list(data, "allowed_channels")],
        "licence_type": _text(data, "licence_type"),
        "proof_url": _text(data, "proof_url"),
        "proof_text": _text(data, "proof_text"),
        "starts_at": parse_datetime(_text(data, "starts_at"), "starts_at"),
        "expires_at": parse_datetime(_text(data, "expires_at"), "expires_at"),
        "granted_by": granted_by,
    }
    # The same checks ugc_rights_grant makes, on an unsaved copy, so that a dry run sees them.
    check = UGCRights(**{k: v for k, v in rights.items() if k != "granted_by"})
    try:
        full_clean(check, exclude=["item", "granted_by"], validate_constraints=False)
    except ApplicationError as exc:
        raise RowError(error_message(exc)) from None
    return rights


def map_row(data: dict, *, default_source: str | None = None, actor=None) -> Mapped:
    source = _source(data, default_source)
    external_id = _text(data, "external_id")
    if not external_id:
        raise RowError(
            "external_id is required (also read from id or post_id): it is what makes "
            "importing the same export again safe."
        )
    if len(external_id) > 200:
        raise RowError("external_id is longer than 200 characters.")
    media_path, media_url = _text(data, "media_path"), _text(data, "media_url")
    if not media_path and not media_url:
        raise RowError("No media: give media_path or media_url.")
    if media_path and media_url:
        raise RowError("Give media_path or media_url, not both.")
    return Mapped(
        source=source,
        external_id=external_id,
        author_handle=_text(data, "author_handle")[:100],
        caption=_text(data, "caption"),
        creator=resolve_creator(data),
        media_path=media_path,
        media_url=media_url,
        rights=build_rights(data, granted_by=actor),
        products=resolve_products(data),
    )


# ---------------------------------------------------------------------------------------
# Media
# ---------------------------------------------------------------------------------------


def safe_media_path(base_dir: Path, relative: str) -> Path:
    """`relative` inside `base_dir`: no absolute paths, no `..`, no symlink leading out."""
    normalized = relative.replace("\\", "/")
    if "\x00" in normalized:
        raise RowError("media_path contains a NUL character.")
    if normalized.startswith("/") or re.match(r"^[A-Za-z]:", normalized):
        raise RowError(
            f"media_path {relative[:100]!r} is absolute; give a path relative to the media "
            "directory."
        )
    if ".." in PurePosixPath(normalized).parts:
        raise RowError(f"media_path {relative[:100]!r} leaves the media directory ('..').")
    base = base_dir.resolve()
    target = (base / normalized).resolve()
    if not target.is_relative_to(base):
        raise RowError(f"media_path {relative[:100]!r} leads outside the media directory.")
    if not target.is_file():
        raise RowError(f"media_path {relative[:100]!r}: no such file in {base_dir}.")
    return target


def open_media(mapped: Mapped, *, base_dir: Path):
    """The row's media as a file object with a name. The caller closes it."""
    limit = max_media_bytes()
    if mapped.media_path:
        path = safe_media_path(base_dir, mapped.media_path)
        size = path.stat().st_size
        if size > limit:
            raise RowError(
                f"media_path {mapped.media_path[:100]!r} is larger than {limit:,} bytes."
            )
        return File(path.open("rb"), name=path.name)
    # Only the safe fetcher: public addresses only, every redirect re-checked, size and
    # time bounded. Its "image" kind accepts image content types only.
    result = fetch(mapped.media_url, kind="image", max_bytes=settings.IMAGE_MAX_UPLOAD_BYTES)
    name = PurePosixPath(unquote(urlsplit(result.final_url).path)).name or "media"
    return ContentFile(result.content, name=name[:100])


# ---------------------------------------------------------------------------------------
# Importing
# ---------------------------------------------------------------------------------------


def _existing(source: str, external_id: str) -> UGCItem | None:
    return UGCItem.objects.filter(source=source, external_id=external_id).first()


def _created_message(item: UGCItem, mapped: Mapped) -> tuple[str, list[str]]:
    flags = [f"{flag.get('code')}: {flag.get('detail', '')}" for flag in item.flags or []]
    message = f"created item #{item.pk}"
    extras = []
    if mapped.rights:
        extras.append("rights recorded")
    if mapped.products:
        extras.append(f"mapped to {', '.join(p.slug for p, _ in mapped.products)}")
    if extras:
        message += f" ({'; '.join(extras)})"
    if item.status == UGCItem.Status.REJECTED:
        message += f", rejected automatically: {item.rejection_note}"
    elif flags:
        message += f", flagged: {'; '.join(flags)}"
    return message, flags


def import_row(
    row: Row,
    *,
    base_dir: Path,
    default_source: str | None = None,
    dry_run: bool = False,
    actor=None,
    seen: dict | None = None,
) -> RowResult:
    """Import one row; every problem becomes a failed result, never an exception."""
    if row.data is None:
        return RowResult(row.where, "failed", row.problem)
    try:
        mapped = map_row(row.data, default_source=default_source, actor=actor)
    except ApplicationError as exc:
        return RowResult(row.where, "failed", error_message(exc))
    key = (mapped.source, mapped.external_id)
    existing = _existing(*key)
    if existing is not None:
        return RowResult(
            row.where, "existing", f"already imported as item #{existing.pk}", existing.pk
        )
    if seen is not None and key in seen:  # only a dry run gets here: nothing was written
        return RowResult(
            row.where, "existing", f"already imported: same source and external_id as {seen[key]}"
        )
    try:
        media_file = open_media(mapped, base_dir=base_dir)
    except ApplicationError as exc:
        return RowResult(row.where, "failed", error_message(exc))
    except OSError as exc:
        return RowResult(row.where, "failed", f"media cannot be read: {exc.strerror or exc}")
    with media_file:
        try:
            if dry_run:
                inspect_media(media_file)
                if seen is not None:
                    seen[key] = row.where
                return RowResult(row.where, "created", "valid: would be created")
            return _ingest(row, mapped, media_file, actor=actor)
        except ApplicationError as exc:
            return RowResult(row.where, "failed", error_message(exc))


def _ingest(row: Row, mapped: Mapped, media_file, *, actor) -> RowResult:
    """Ingest and map products in one transaction: a row is imported whole or not at all."""
    started = timezone.now()
    item = None
    try:
        with transaction.atomic():
            item = ugc_ingest(
                source=mapped.source,
                media_file=media_file,
                caption=mapped.caption,
                author_handle=mapped.author_handle,
                creator=mapped.creator,
                external_id=mapped.external_id,
                rights=mapped.rights,
                actor=actor,
            )
            if item.created_at < started:  # a concurrent import of the same post won
                return RowResult(
                    row.where, "existing", f"already imported as item #{item.pk}", item.pk
                )
            for position, (product, variant) in enumerate(mapped.products):
                ugc_map_product(
                    item_id=item.pk,
                    product=product,
                    variant=variant,
                    position=position,
                    actor=actor,
                )
    except Exception:
        # ugc_ingest stored the original before the mapping failed: do not leave it behind.
        if item is not None and item.original.name and item.created_at >= started:
            item.original.delete(save=False)
        raise
    message, flags = _created_message(item, mapped)
    return RowResult(row.where, "created", message, item.pk, flags)


def import_rows(
    rows: list[Row],
    *,
    base_dir,
    default_source: str | None = None,
    dry_run: bool = False,
    actor=None,
    on_result=None,
) -> list[RowResult]:
    """Import every row independently; `on_result(result)` is called as each one finishes."""
    base_dir = Path(base_dir)
    seen: dict = {}
    results = []
    for row in rows:
        try:
            result = import_row(
                row,
                base_dir=base_dir,
                default_source=default_source,
                dry_run=dry_run,
                actor=actor,
                seen=seen,
            )
        except Exception as exc:  # one broken row never stops the others
            logger.exception("ugc.import_row_failed", extra={"row": row.where})
            result = RowResult(row.where, "failed", f"unexpected error: {type(exc).__name__}")
        results.append(result)
        if on_result is not None:
            on_result(result)
    counts = summary_counts(results)
    logger.info(
        "ugc.imported",
        extra={
            "rows": len(rows),
            "dry_run": dry_run,
            "rows_created": counts["created"],
            "rows_existing": counts["existing"],
            "rows_failed": counts["failed"],
        },
    )
    return results


def summary_counts(results: list[RowResult]) -> dict[str, int]:
    return {
        "created": sum(r.outcome == "created" for r in results),
        "existing": sum(r.outcome == "existing" for r in results),
        "failed": sum(r.outcome == "failed" for r in results),
    }


def summary_line(results: list[RowResult], *, dry_run: bool = False) -> str:
    counts = summary_counts(results)
    created = f"would create {counts['created']}" if dry_run else f"created {counts['created']}"
    line = f"{created}, already imported {counts['existing']}, failed {counts['failed']}"
    return f"Dry run, nothing written: {line}" if dry_run else f"Import finished: {line}"
