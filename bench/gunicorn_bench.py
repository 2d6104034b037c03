"""gunicorn settings for `make bench-redirect`: the production ones (config/gunicorn.conf.py),
plus a count of the requests each worker answered, kept in a file the benchmark reads between
rounds (BENCH_COUNTS_FILE).

The file holds one slot a worker: its pid, then the 302s it answered for `/p/bench`, for
`/bench/floor`, every other request, and a check value. A worker writes only its own slot; a
reader that catches a slot half-written (the check does not match) reads again.
"""

import mmap
import os
import struct
import threading
from pathlib import Path

_production = Path(__file__).resolve().parent.parent / "config" / "gunicorn.conf.py"
exec(compile(_production.read_bytes(), str(_production), "exec"))  # noqa: S102 - our own file

SLOTS = 256
SLOT = struct.Struct("<qqqqq")
MASK = (1 << 62) - 1
_production_post_worker_init = globals().get("post_worker_init")
_counts = {"map": None, "offset": 0, "values": [0, 0, 0, 0], "lock": threading.Lock()}


def on_starting(server):
    with open(os.environ["BENCH_COUNTS_FILE"], "wb") as counts:
        counts.write(b"\0" * SLOTS * SLOT.size)


def post_worker_init(worker):  # noqa: F811 - the production hook, then ours
    if _production_post_worker_init:
        _production_post_worker_init(worker)
    with open(os.environ["BENCH_COUNTS_FILE"], "r+b") as counts:
        _counts["map"] = mmap.mmap(counts.fileno(), SLOTS * SLOT.size)
    _counts["offset"] = (worker.age % SLOTS) * SLOT.size
    _counts["values"] = [os.getpid(), 0, 0, 0]
    _write()


def _write():
    values = _counts["values"]
    SLOT.pack_into(_counts["map"], _counts["offset"], *values, sum(values) & MASK)


def post_request(worker, req, environ, resp):
    path, found = environ.get("PATH_INFO"), str(resp.status).startswith("302")
    index = 1 if found and path == "/p/bench" else 2 if found and path == "/bench/floor" else 3
    with _counts["lock"]:
        _counts["values"][index] += 1
        _write()


def read_counts(path) -> dict[int, tuple[int, int, int]]:
    """{pid: (redirects, floors, others)} for every worker that has started."""
    counts = {}
    for _ in range(1000):
        data = Path(path).read_bytes()
        slots = [SLOT.unpack_from(data, i * SLOT.size) for i in range(SLOTS)]
        if all(sum(slot[:4]) & MASK == slot[4] for slot in slots):
            counts = {pid: (r, f, o) for pid, r, f, o, _ in slots if pid}
            break
    else:  # pragma: no cover - a worker writing its slot a thousand times in a row
        raise RuntimeError("the per-worker counts could not be read whole")
    return counts
