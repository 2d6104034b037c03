"""Benchmark of the short-link redirect under gunicorn, against a no-op 302 view (the floor).

Production settings on PostgreSQL and Redis, and the production server: gunicorn with
config/gunicorn.conf.py serving config.wsgi (the link edge in front of Django); the floor is a
Django view answering a fixed 302 through the whole middleware stack, on the same server. wrk
drives 32 keep-alive connections from 4 threads with a mobile user agent; floor and redirect
runs alternate, five rounds each, and medians are reported. Each worker counts the requests
it answers (bench/gunicorn_bench.py), so every round reports how the load spread over the
workers: `per_worker_share` is the busiest worker's share. After the runs every buffered click
is drained and counted in PostgreSQL against the redirects the workers answered. A second
measure drains 100,000 synthetic clicks to find the drain's rate.

Targets: redirect rps >= the floor's, redirect p99 <= the floor's, no click lost, drain >=
20,000 clicks/s. BENCH_WORKERS, BENCH_THREADS, BENCH_WORKER_CLASS, BENCH_GUNICORN_ARGS (extra
arguments) and LINK_EDGE=false try other server settings; BENCH_ROUNDS, BENCH_SECONDS,
BENCH_WRK_THREADS the load.
"""

import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PORT = int(os.environ.get("BENCH_PORT", "8765"))
DURATION = int(os.environ.get("BENCH_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
CONNECTIONS = 32
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "4"))
MOBILE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Mobile/15E148 musical_ly_31.5.0 JsSdk/2.0 NetType/WIFI Channel/App Store "
    "ByteLocale/en Region/US BytedanceWebview/d8a21c6"
)
ENV = {
    "DJANGO_SETTINGS_MODULE": "bench.settings",
    "DEBUG": "false",
    "SECRET_KEY": "bench-secret-key-that-is-long-enough-to-pass-the-checks-0123456789",
    "ALLOWED_HOSTS": "127.0.0.1,localhost",
    "PUBLIC_BASE_URL": f"http://127.0.0.1:{PORT}",
    "DATABASE_URL": os.environ.get(
        "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/shoploop_bench"
    ),
    "REDIS_URL": os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13"),
    "CELERY_TASK_ALWAYS_EAGER": "true",
    "SECURE_SSL_REDIRECT": "false",
    "LOG_LEVEL": "WARNING",
    "LINK_EDGE": os.environ.get("LINK_EDGE", "true"),
}


def django_setup():
    os.environ.update(ENV)
    sys.path.insert(0, str(ROOT))
    import django

    django.setup()


def create_database():
    import psycopg

    name = ENV["DATABASE_URL"].rsplit("/", 1)[1]
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def prepare():
    """A fresh database state: migrated, one link, no clicks, empty buffers."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from creators.models import Creator
    from links import clicks, services
    from links.models import AllowedDomain, ClickEvent, LinkDailyStats, ShortLink

    ClickEvent.objects.all().delete()
    LinkDailyStats.objects.all().delete()
    clicks.buffer.client().flushdb()
    AllowedDomain.objects.get_or_create(domain="shop.example.com")
    creator = Creator.objects.filter(handle="bench").first() or Creator.objects.create(
        name="Bench", handle="bench", affiliate_code="BENCH"
    )
    if not ShortLink.objects.filter(code="bench").exists():
        services.link_create(
            url="https://shop.example.com/products/hoodie?color=grey", code="bench",
            creator_id=creator.pk, utm_source="tiktok", utm_medium="creator", utm_campaign="bench",
        )  # fmt: skip
    return ShortLink.objects.get(code="bench")


COUNTS_FILE = ROOT / "bench" / "out" / f"redirect-workers-{PORT}.bin"


def start_gunicorn():
    """The production gunicorn configuration on a local port, plus per-worker request counts.

    BENCH_WORKERS / BENCH_THREADS / BENCH_WORKER_CLASS / BENCH_GUNICORN_ARGS override it.
    """
    COUNTS_FILE.parent.mkdir(exist_ok=True)
    COUNTS_FILE.unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "-c", "bench/gunicorn_bench.py",
        "config.wsgi", "--bind", f"127.0.0.1:{PORT}", "--log-level", "warning",
    ]  # fmt: skip
    for variable, option in (
        ("BENCH_WORKERS", "--workers"), ("BENCH_THREADS", "--threads"),
        ("BENCH_WORKER_CLASS", "--worker-class"),
    ):  # fmt: skip
        if os.environ.get(variable):
            command += [option, os.environ[variable]]
    command += os.environ.get("BENCH_GUNICORN_ARGS", "").split()
    env = {**os.environ, **ENV, "BENCH_COUNTS_FILE": str(COUNTS_FILE)}
    process = subprocess.Popen(command, cwd=ROOT, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)  # noqa: S310
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def worker_counts() -> dict[int, tuple[int, int, int]]:
    """{worker pid: (302s for /p/bench, 302s for /bench/floor, other requests)}."""
    from bench.gunicorn_bench import read_counts

    return read_counts(COUNTS_FILE) if COUNTS_FILE.exists() else {}


def served_redirects() -> int:
    """Redirects of the benchmark link the workers answered, including those still in flight
    when wrk stopped (wrk does not count those), so that clicks can be checked exactly."""
    return sum(redirects for redirects, _, _ in worker_counts().values())


def spread(before: dict, after: dict, index: int) -> dict:
    """Requests each worker answered between two readings, and the busiest one's share."""
    done = {pid: after[pid][index] - before.get(pid, (0, 0, 0))[index] for pid in after}
    total = sum(done.values())
    return {
        "per_worker": sorted(done.values(), reverse=True),
        "busiest_share": round(max(done.values()) / total, 3) if total else None,
    }


def get_status(path: str) -> int:
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=5)
    conn.request("GET", path, headers={"User-Agent": MOBILE_UA})
    status = conn.getresponse().status
    conn.close()
    return status


LATENCY_RE = re.compile(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", re.M)


def wrk(path: str, seconds: int = DURATION) -> dict:
    result = subprocess.run(
        ["wrk", "-t", str(WRK_THREADS), "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency",
         "-H", f"User-Agent: {MOBILE_UA}", f"http://127.0.0.1:{PORT}{path}"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    out = result.stdout
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    latency = {p: float(v) * scale[u] for p, v, u in LATENCY_RE.findall(out)}
    sent = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency["50"],
        "p99_ms": latency["99"],
        "sent": sent,
        "bad": int(bad.group(1)) if bad else 0,
        "socket_errors": sum(map(int, errors.groups())) if errors else 0,
    }


def drain_everything() -> tuple[int, float]:
    from links import clicks

    started = time.perf_counter()
    total = 0
    while clicks.buffer_depth():
        total += clicks.drain(time_budget=60)
    return total, time.perf_counter() - started


def synthetic_drain_rate(link, count: int = 100_000) -> float:
    """Push `count` clicks straight into the buffer and time their drain."""
    from core.event_buffer import Event
    from links import clicks

    template = {
        "link_id": link.pk, "creator_id": link.creator_id, "product_id": None, "ts": time.time(),
        "route": "default", "country": "US", "device_type": "mobile", "os": "iOS",
        "browser": "TikTok", "in_app": "tiktok", "referrer_host": "www.tiktok.com",
        "utm_source": "tiktok", "utm_medium": "creator", "utm_campaign": "bench",
        "utm_content": "", "utm_term": "", "is_qr": False, "is_bot": False,
        "network": "203.0.113.0/24", "visitor_hash": "0" * 32,
    }  # fmt: skip
    for start in range(0, count, 2000):
        clicks.buffer.push(
            [
                Event(json.dumps({**template, "click_id": clicks.new_click_id()}))
                for _ in range(min(2000, count - start))
            ]
        )
    drained, seconds = drain_everything()
    assert drained == count, (drained, count)
    return count / seconds


def measured(path: str) -> dict:
    """One wrk run, with the requests each worker answered during it."""
    before = worker_counts()
    run = wrk(path)
    run.update(spread(before, worker_counts(), 0 if path == "/p/bench" else 1))
    return run


def worker_rss_kib() -> dict[int, int]:
    """Resident memory of each live worker (VmRSS), to see whether workers grow under load."""
    sizes = {}
    for pid in worker_counts():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        sizes[pid] = int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1))
    return sizes


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    django_setup()
    create_database()
    link = prepare()
    load_before = load_average()
    server = start_gunicorn()
    from links.models import ClickEvent

    floors, redirects = [], []
    try:
        for path in ("/bench/floor", "/p/bench"):  # warm every worker up, not measured
            assert get_status(path) == 302, path
            wrk(path, seconds=2)
        time.sleep(1)
        drain_everything()
        warm_clicks = ClickEvent.objects.filter(link=link).count()
        warm_served = served_redirects()
        workers = len(worker_counts())
        rss_before = worker_rss_kib()
        for _ in range(ROUNDS):
            floors.append(measured("/bench/floor"))
            redirects.append(measured("/p/bench"))
        rss_after = worker_rss_kib()
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    # Read after the workers stopped: a request in flight when wrk stopped is counted too.
    served = served_redirects() - warm_served
    restarted = len(worker_counts()) - workers
    load_after = load_average()

    sent = sum(r["sent"] for r in redirects)
    time.sleep(1)  # the server's flusher threads hand their last clicks to Redis
    drained, drain_seconds = drain_everything()
    recorded = ClickEvent.objects.filter(link=link).count() - warm_clicks
    drain_per_s = synthetic_drain_rate(link)

    def median(runs, key):
        return round(statistics.median(r[key] for r in runs), 2)

    figures = {
        "bench": "redirect",
        "rps": median(redirects, "rps"),
        "floor_rps": median(floors, "rps"),
        "p50_ms": median(redirects, "p50_ms"),
        "p99_ms": median(redirects, "p99_ms"),
        "floor_p50_ms": median(floors, "p50_ms"),
        "floor_p99_ms": median(floors, "p99_ms"),
        # The busiest worker's share of the requests of a round, median of the rounds (and
        # the worst round): 1/workers is a perfect spread.
        "per_worker_share": median(redirects, "busiest_share"),
        "per_worker_share_max": max(r["busiest_share"] for r in redirects),
        "floor_per_worker_share": median(floors, "busiest_share"),
        "sent": sent,
        "recorded": recorded,
        # wrk counts the responses it read; the workers also count those still in flight
        # when wrk stopped. Every one of them must be a click in PostgreSQL.
        "served": served,
        "lost": served - recorded,
        "errors": sum(r["bad"] + r["socket_errors"] for r in redirects),
        "drain_per_s": round(drain_per_s),
        "drain_after_run_per_s": round(drained / drain_seconds) if drain_seconds else None,
        "workers": workers,
        "workers_restarted": restarted,
        # Resident memory of the workers after the warm-up and after every round: the most
        # any one grew, and the largest at the end (no max_requests recycling).
        "rss_growth_kib": max(rss_after.get(pid, size) - size for pid, size in rss_before.items()),
        "rss_max_kib": max(rss_after.values()),
        "worker_class": os.environ.get("BENCH_WORKER_CLASS") or "config",
        "edge": ENV["LINK_EDGE"],
        "connections": CONNECTIONS,
        "wrk_threads": WRK_THREADS,
        "seconds": DURATION,
        "rounds": ROUNDS,
        "rounds_rps": [r["rps"] for r in redirects],
        "rounds_floor_rps": [r["rps"] for r in floors],
        "load_before": load_before,
        "load_after": load_after,
    }
    figures["ratio"] = round(figures["rps"] / figures["floor_rps"], 3)
    figures["p99_ratio"] = round(figures["p99_ms"] / figures["floor_p99_ms"], 3)
    for name, runs in (("floor", floors), ("redirect", redirects)):
        for n, run in enumerate(runs, 1):
            print(
                f"{name:8s} round {n}: {run['rps']:>9} req/s  p50 {run['p50_ms']} ms  "
                f"p99 {run['p99_ms']} ms  per worker {run['per_worker']}"
            )
    print(
        f"floor   : {figures['floor_rps']:>9} req/s  p50 {figures['floor_p50_ms']} ms  "
        f"p99 {figures['floor_p99_ms']} ms  (medians of {ROUNDS})"
    )
    print(
        f"redirect: {figures['rps']:>9} req/s  "
        f"p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms"
    )
    print(
        f"ratio   : {figures['ratio']:.0%} of the floor's req/s (target >= 100%), p99 "
        f"{figures['p99_ratio']:.0%} of the floor's (target <= 100%); busiest worker "
        f"{figures['per_worker_share']:.0%} of the requests ({workers} workers)"
    )
    print(
        f"clicks  : wrk read {sent} redirects, the workers answered {served}, "
        f"PostgreSQL holds {recorded}: lost {figures['lost']}"
    )
    print(f"drain   : {figures['drain_per_s']} clicks/s (target >= 20000)")
    print(
        f"memory  : workers grew at most {figures['rss_growth_kib']} KiB over the rounds "
        f"(largest {figures['rss_max_kib']} KiB)"
    )
    print(f"load    : {load_before} before, {load_after} after (1, 5, 15 min)")
    ok = (
        figures["ratio"] >= 1.0 and figures["p99_ratio"] <= 1.0 and figures["lost"] == 0
        and served >= sent and figures["errors"] == 0
        and figures["drain_per_s"] >= 20_000
    )  # fmt: skip
    figures["ok"] = ok
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
