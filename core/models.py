"""What core keeps in the database: the event buffers' watermarks (see core/event_buffer.py)."""

from datetime import timedelta

from django.db import models
from django.utils import timezone

EPOCHS_KEPT = timedelta(days=7)


class BufferWatermark(models.Model):
    """The last sequence number of an event buffer applied to PostgreSQL, per counter epoch.

    Moved in the same transaction as the events it covers, so a drain that is run again after
    dying before it trimmed Redis skips what it already applied.
    """

    buffer = models.CharField(max_length=60)
    epoch = models.CharField(max_length=16)
    last_seq = models.BigIntegerField(default=0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["buffer", "epoch"], name="core_watermark_unique"),
        ]

    def __str__(self):
        return f"{self.buffer}@{self.epoch}: {self.last_seq}"

    @classmethod
    def lock(cls, buffer: str, epochs: set[str]) -> dict[str, int]:
        """{epoch: last applied seq} for `epochs`, their rows locked until the transaction ends."""
        if not epochs:
            return {}
        existing = set(
            cls.objects.filter(buffer=buffer, epoch__in=epochs).values_list("epoch", flat=True)
        )
        new = epochs - existing
        if new:
            cls.objects.bulk_create(
                [cls(buffer=buffer, epoch=epoch) for epoch in sorted(new)], ignore_conflicts=True
            )
            # A new epoch means Redis started its counter again: forget the old ones.
            cls.objects.filter(buffer=buffer, updated_at__lt=timezone.now() - EPOCHS_KEPT).exclude(
                epoch__in=epochs
            ).delete()
        rows = cls.objects.filter(buffer=buffer, epoch__in=epochs).order_by("pk")
        return dict(rows.select_for_update().values_list("epoch", "last_seq"))

    @classmethod
    def advance(cls, buffer: str, events) -> None:
        """Move each epoch's watermark to the highest sequence number among `events`."""
        highest: dict[str, int] = {}
        for event in events:
            highest[event.epoch] = max(highest.get(event.epoch, 0), event.seq)
        for epoch, seq in sorted(highest.items()):
            cls.objects.filter(buffer=buffer, epoch=epoch, last_seq__lt=seq).update(
                last_seq=seq, updated_at=timezone.now()
            )
