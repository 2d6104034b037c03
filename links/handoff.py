"""Hands clicks from the redirect to the Redis buffer without making the redirect wait.

A Redis round trip costs more than the rest of the redirect put together, so the request
only appends the click to an in-process queue and wakes a flusher thread, which sends
whatever is queued to Redis in one pipelined round trip and goes back to sleep. Under load
the batches grow by themselves; when idle a click reaches Redis within
CLICK_HANDOFF_LINGER (5 ms) and a round trip of the response.

What keeps clicks safe:
- A batch that fails (Redis down, connection cut) stays queued and is retried with backoff;
  a click sent twice is stored once, because the drain inserts by click id.
- The queue is bounded (CLICK_HANDOFF_MAX_QUEUE); past that, and at interpreter exit when
  Redis cannot take them, clicks are written straight to the database instead.
- At process exit (gunicorn restarting a worker, a deploy) the queue is flushed.
Only a hard kill of the process (SIGKILL, out of memory) can lose the clicks of the last
round trip, a few milliseconds' worth.
"""

import atexit
import collections
import logging
import os
import threading
import time

import redis
from django.conf import settings

logger = logging.getLogger(__name__)
MAX_BATCH = 2000


class Handoff:
    def __init__(self, send_batch, spill):
        self._send_batch = send_batch  # sends a list of items to Redis, or raises RedisError
        self._spill = spill  # stores a list of items some other way (the database)
        self._queue: collections.deque = collections.deque()
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._pending = 0  # queued or being sent
        self._drained = threading.Condition(self._lock)
        self._inflight: list = []  # the batch being sent
        self._pid = None

    def put(self, item) -> None:
        self._ensure_thread()
        with self._lock:
            if self._pending >= settings.CLICK_HANDOFF_MAX_QUEUE:
                overflow = True
            else:
                overflow = False
                self._pending += 1
                self._queue.append(item)
        if overflow:
            logger.warning("click.handoff.overflow")
            self._spill([item])
            return
        self._wake.set()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued so far has reached Redis. True if it did."""
        deadline = time.monotonic() + timeout
        self._wake.set()
        with self._lock:
            while self._pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._drained.wait(remaining)
        return True

    def _ensure_thread(self) -> None:
        if self._pid == os.getpid():
            return
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child starts with a copy of the parent's queue; the parent sends it.
            self._queue.clear()
            self._pending = 0
            self._pid = os.getpid()
            thread = threading.Thread(target=self._run, name="click-handoff", daemon=True)
            thread.start()

    def _take_batch(self) -> list:
        with self._lock:
            batch = [self._queue.popleft() for _ in range(min(len(self._queue), MAX_BATCH))]
            self._inflight = batch
            return batch

    def _run(self) -> None:
        backoff = 0.05
        while True:
            self._wake.wait()
            self._wake.clear()
            # Let a few more clicks join: one round trip for many is what makes this cheap.
            time.sleep(settings.CLICK_HANDOFF_LINGER)
            while batch := self._take_batch():
                try:
                    self._send_batch(batch)
                except redis.RedisError:
                    logger.warning("click.handoff.redis_unavailable", extra={"queued": len(batch)})
                    with self._lock:
                        self._queue.extendleft(reversed(batch))
                        self._inflight = []
                    time.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                except Exception:
                    # Not a Redis outage (a bug, bad data): keep the clicks by another road.
                    logger.exception("click.handoff.failed", extra={"count": len(batch)})
                    self._spill_safely(batch)
                backoff = 0.05
                self._done(len(batch))

    def _spill_safely(self, batch: list) -> None:
        try:
            self._spill(batch)
        except Exception:
            logger.exception("click.lost", extra={"count": len(batch)})

    def _done(self, count: int) -> None:
        with self._lock:
            self._inflight = []
            self._pending = max(0, self._pending - count)
            if not self._pending:
                self._drained.notify_all()

    def close(self) -> None:
        """At exit: flush to Redis; what cannot go there (queued or being sent) goes to the
        database. A batch that reaches Redis as well is stored once: the drain inserts by
        click id."""
        if self._pid != os.getpid() or not self._pending:
            return
        if self.flush(timeout=3.0):
            return
        with self._lock:
            leftover = list(self._inflight) + list(self._queue)
            self._queue.clear()
        if leftover:
            logger.warning("click.handoff.spilled_at_exit", extra={"count": len(leftover)})
            self._spill_safely(leftover)
            with self._lock:
                self._pending = 0
                self._drained.notify_all()


def register_exit_flush(handoff: Handoff) -> None:
    atexit.register(handoff.close)
