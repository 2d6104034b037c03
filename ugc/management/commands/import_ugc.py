"""`python manage.py import_ugc export.json`: import UGC exports from social tools.

The parsing and mapping live in `ugc/importers.py`; this command only reads options and
reports. Exit status is 1 when any row failed (the other rows are still imported).
"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from ugc import importers
from ugc.models import UGCItem


class Command(BaseCommand):
    help = (
        "Import UGC from a JSON, JSON Lines or CSV export (idempotent by source and external "
        "id). Each row is ingested on its own; failed rows are listed with their line."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help="The export: .json, .jsonl or .csv.")
        parser.add_argument(
            "--format", choices=importers.FORMATS, help="The file's format (default: extension)."
        )
        parser.add_argument(
            "--source",
            choices=UGCItem.Source.values,
            help="The source of rows that do not name one.",
        )
        parser.add_argument(
            "--media-dir",
            help="Where media_path values are looked up (default: the file's directory).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Check every row, write nothing."
        )
        parser.add_argument(
            "--user", help="Username recorded as the actor in the audit trail and rights."
        )

    def handle(self, *args, **options):
        self.verbosity = options["verbosity"]
        path = Path(options["file"])
        media_dir = Path(options["media_dir"]) if options["media_dir"] else path.parent
        if not media_dir.is_dir():
            raise CommandError(f"The media directory {media_dir} does not exist.")
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(username=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user named {options['user']!r}.")
        try:
            rows = importers.read_rows(path, fmt=options["format"])
        except importers.ImportFileError as exc:
            raise CommandError(exc.message) from None
        dry_run = options["dry_run"]
        if dry_run:
            self.stdout.write(f"Dry run: checking {len(rows)} rows, nothing will be written.")
        results = importers.import_rows(
            rows,
            base_dir=media_dir,
            default_source=options["source"],
            dry_run=dry_run,
            actor=actor,
            on_result=self.report,
        )
        self.stdout.write(importers.summary_line(results, dry_run=dry_run))
        failed = importers.summary_counts(results)["failed"]
        if failed:
            raise CommandError(
                f"{failed} row{'s' if failed != 1 else ''} failed; see the errors above.",
                returncode=1,
            )

    def report(self, result: importers.RowResult) -> None:
        if result.outcome == "failed":
            self.stderr.write(f"{result.where}: failed: {result.message}")
        elif self.verbosity >= 1:
            self.stdout.write(f"{result.where}: {result.message}")
