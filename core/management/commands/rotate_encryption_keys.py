"""Re-encrypt every stored secret under the first of ENCRYPTION_KEYS.

Put the new key first in ENCRYPTION_KEYS (keep the old ones after it), deploy, run this,
then drop the old keys. Safe to run twice; rows are rewritten in batches, one transaction
each, and a secret no key can read is reported, not lost.
"""

import json

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from core.crypto import DecryptionError, EncryptedTextField, rotate

BATCH = 500


class Command(BaseCommand):
    help = "Re-encrypt every EncryptedTextField value under the first key of ENCRYPTION_KEYS."

    def handle(self, *args, **options):
        report = {"columns": 0, "rotated": 0, "unreadable": []}
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if isinstance(field, EncryptedTextField):
                    report["columns"] += 1
                    self._rotate_column(model, field, report)
        self.stdout.write(json.dumps(report))
        if report["unreadable"]:
            raise CommandError(f"{len(report['unreadable'])} secret(s) could not be decrypted")

    def _rotate_column(self, model, field, report) -> None:
        table = connection.ops.quote_name(model._meta.db_table)
        column = connection.ops.quote_name(field.column)
        pk = connection.ops.quote_name(model._meta.pk.column)
        last = None
        while True:
            with transaction.atomic(), connection.cursor() as cursor:
                after = "" if last is None else f"AND {pk} > %s"
                cursor.execute(
                    f"SELECT {pk}, {column} FROM {table} "  # noqa: S608 - quoted names
                    f"WHERE {column} <> '' {after} ORDER BY {pk} LIMIT {BATCH} FOR UPDATE",
                    [] if last is None else [last],
                )
                rows = cursor.fetchall()
                if not rows:
                    return
                for row_pk, token in rows:
                    last = row_pk
                    try:
                        fresh = rotate(token)
                    except DecryptionError:
                        report["unreadable"].append(f"{model._meta.label}.{field.name}#{row_pk}")
                        continue
                    cursor.execute(
                        f"UPDATE {table} SET {column} = %s WHERE {pk} = %s",  # noqa: S608
                        [fresh, row_pk],
                    )
                    report["rotated"] += 1
