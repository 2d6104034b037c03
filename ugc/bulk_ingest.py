"""Ingesting uploaded files: one file, or a zip of many, each through `ugc_ingest`.

Domain code, not console: the upload page (`ugc.admin.uploads`) calls it, and so can any
other way files arrive in bulk.
A zip is checked as a whole before anything is read from it (it is a zip, not too many
entries, no absolute or `..` names, declared sizes and compression ratios within limits) and
refused with one message if it fails. Then each entry is read on its own, in chunks and under
a size cap that does not trust the size the archive declares, and ingested separately; the
result is reported entry by entry: created, duplicate of an existing item, skipped or
refused with the reason. Nothing is ever extracted to disk under the entry's name.
"""

import hashlib
import logging
import stat
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File

from core.errors import ApplicationError, error_message
from ugc.models import UGCItem
from ugc.services import ugc_ingest

logger = logging.getLogger(__name__)

CHUNK = 1024 * 1024
SPOOL_IN_MEMORY = 5 * 1024 * 1024
# Images and videos are already compressed: a ratio this high is a bomb, not a photo.
MAX_COMPRESSION_RATIO = 100


class ZipRefused(ApplicationError):
    """The archive as a whole is refused; nothing in it was ingested."""

    def __init__(self, message: str):
        super().__init__(message, code="zip_refused", fields={"file": [message]})


class EntryRefused(ApplicationError):
    """One entry of the archive is refused; the others go on."""

    def __init__(self, message: str):
        super().__init__(message, code="entry_refused")


@dataclass
class EntryResult:
    name: str
    outcome: str  # created | duplicate | skipped | refused
    message: str = ""
    item: UGCItem | None = None
    duplicate_of: int | None = None
    flags: list[str] = field(default_factory=list)

    @property
    def item_id(self):
        return self.item.pk if self.item else self.duplicate_of


def existing_duplicate(sha256: str) -> int | None:
    """The oldest item holding exactly these bytes, if any."""
    return (
        UGCItem.objects.filter(file_sha256=sha256).order_by("pk").values_list("pk", flat=True)
    ).first()


def _sha256(fh) -> str:
    digest = hashlib.sha256()
    fh.seek(0)
    while chunk := fh.read(CHUNK):
        digest.update(chunk)
    fh.seek(0)
    return digest.hexdigest()


def ingest_one(*, name: str, fh, ingest_kwargs: dict, skip_duplicates: bool = True) -> EntryResult:
    """Ingest one file; every refusal becomes a result, never an exception."""
    if skip_duplicates:
        same = existing_duplicate(_sha256(fh))
        if same is not None:
            return EntryResult(
                name, "duplicate", f"Same file as item #{same}; not added again.", duplicate_of=same
            )
    try:
        item = ugc_ingest(media_file=File(fh, name=PurePosixPath(name).name), **ingest_kwargs)
    except ApplicationError as exc:
        return EntryResult(name, "refused", error_message(exc))
    flags = [f"{flag.get('code')}: {flag.get('detail', '')}" for flag in item.flags or []]
    message = f"Created item #{item.pk}"
    if item.status == UGCItem.Status.REJECTED:
        message += f" (rejected automatically: {item.rejection_note})"
    elif flags:
        message += " (flagged: " + "; ".join(flags) + ")"
    return EntryResult(name, "created", message + ".", item=item, flags=flags)


def _is_hidden(path: PurePosixPath) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in path.parts)


def _unsafe_name(name: str) -> bool:
    if not name or "\x00" in name:
        return True
    normalized = name.replace("\\", "/")
    if normalized.startswith("/") or (len(normalized) > 1 and normalized[1] == ":"):
        return True  # absolute, or a Windows drive
    return ".." in PurePosixPath(normalized).parts


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)


def open_zip(upload) -> tuple[zipfile.ZipFile, list[zipfile.ZipInfo]]:
    """Open and check an uploaded archive as a whole. Raises ZipRefused with the reason."""
    upload.seek(0)
    if not zipfile.is_zipfile(upload):
        raise ZipRefused("The file is not a zip archive.")
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)
        infos = archive.infolist()
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, ValueError) as exc:
        raise ZipRefused(f"The zip archive cannot be read ({exc}).") from exc
    limit = settings.UGC_ZIP_MAX_ENTRIES
    if len(infos) > limit:
        archive.close()
        raise ZipRefused(
            f"The zip archive has {len(infos)} entries; at most {limit} are allowed. "
            "Split it into smaller archives."
        )
    unsafe = [info.filename for info in infos if _unsafe_name(info.filename)]
    if unsafe:
        archive.close()
        raise ZipRefused(
            "The zip archive was refused: entries with absolute paths or '..' "
            f"({', '.join(repr(name) for name in unsafe[:5])}). Nothing was added."
        )
    declared = sum(info.file_size for info in infos if not info.is_dir())
    total_limit = settings.UGC_ZIP_MAX_TOTAL_BYTES
    if declared > total_limit:
        archive.close()
        raise ZipRefused(
            f"The zip archive would unpack to {declared:,} bytes; at most {total_limit:,} "
            "are allowed. Nothing was added."
        )
    for info in infos:
        if info.is_dir() or info.compress_size == 0:
            continue
        if info.file_size / info.compress_size > MAX_COMPRESSION_RATIO:
            archive.close()
            raise ZipRefused(
                f"The zip archive was refused: {info.filename!r} is compressed "
                f"{info.file_size // info.compress_size}:1, which only a zip bomb does. "
                "Nothing was added."
            )
    return archive, infos


def read_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, limit: int):
    """The entry's bytes in a temporary file, read in chunks and never more than `limit`.

    The size in the archive's header is not trusted: the read stops as soon as it passes the
    limit, whatever the header said.
    """
    if info.flag_bits & 0x1:
        raise EntryRefused("The entry is encrypted.")
    if info.file_size > limit:
        raise EntryRefused(f"The entry is larger than {limit:,} bytes.")
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115
    size = 0
    try:
        with archive.open(info) as source:
            while chunk := source.read(CHUNK):
                size += len(chunk)
                if size > limit:
                    raise EntryRefused(f"The entry unpacks to more than {limit:,} bytes.")
                spool.write(chunk)
    except EntryRefused:
        spool.close()
        raise
    except (zipfile.BadZipFile, EOFError, OSError, NotImplementedError, RuntimeError) as exc:
        spool.close()
        raise EntryRefused(f"The entry cannot be read ({exc}).") from exc
    spool.seek(0)
    return spool, size


def ingest_zip(upload, *, ingest_kwargs: dict, skip_duplicates: bool = True) -> list[EntryResult]:
    """Ingest every file in an uploaded zip separately; one EntryResult per entry.

    Raises ZipRefused when the archive as a whole is refused (then nothing is ingested).
    """
    archive, infos = open_zip(upload)
    results = []
    entry_limit = settings.UGC_ZIP_MAX_ENTRY_BYTES
    budget = settings.UGC_ZIP_MAX_TOTAL_BYTES
    total_spent = f"Not read: the archive unpacks to more than {budget:,} bytes in all."
    with archive:
        for info in infos:
            path = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir():
                continue
            if _is_hidden(path):
                results.append(EntryResult(info.filename, "skipped", "Hidden or system file."))
                continue
            if _is_symlink(info):
                results.append(EntryResult(info.filename, "refused", "Symbolic links are refused."))
                continue
            if budget <= 0:
                results.append(EntryResult(info.filename, "refused", total_spent))
                continue
            try:
                fh, size = read_entry(archive, info, limit=min(entry_limit, budget))
            except EntryRefused as exc:
                spent = budget < entry_limit and "unpacks to more than" in exc.message
                results.append(EntryResult(info.filename, "refused", exc.message))
                if spent:  # the archive unpacks to more than it declared: read no more
                    budget = 0
                continue
            budget -= size
            with fh:
                results.append(
                    ingest_one(
                        name=info.filename,
                        fh=fh,
                        ingest_kwargs=ingest_kwargs,
                        skip_duplicates=skip_duplicates,
                    )
                )
    logger.info(
        "ugc.zip_ingested",
        extra={
            "entries": len(infos),
            "items_created": sum(r.outcome == "created" for r in results),
            "entries_refused": sum(r.outcome == "refused" for r in results),
        },
    )
    return results
