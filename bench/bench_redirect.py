"""Benchmark of the short-link redirect under gunicorn, against a no-op 302 view (the floor).

Production settings on PostgreSQL and Redis. wrk drives 32 connections with a mobile user
agent; floor and redirect runs alternate, three rounds each, and medians are reported. After
the runs every buffered click is drained and counted in PostgreSQL. A second measure drains
100,000 synthetic clicks to find the drain's rate.

Targets: rps >= 50% of the floor, p99 <= 30 ms, no click lost, drain >= 20,000 clicks/s.
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
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
CONNECTIONS = 32
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


ACCESS_LOG = ROOT / "bench" / "out" / "redirect-access.log"


def start_gunicorn(workers: int, threads: int):
    """The production gunicorn configuration (config/gunicorn.conf.py) on a local port.

    Its access log counts the redirects the server really answered, including those still
    in flight when wrk stopped, so that clicks can be checked exactly.
    """
    ACCESS_LOG.parent.mkdir(exist_ok=True)
    ACCESS_LOG.unlink(missing_ok=True)
    command = [
        str(Path(sys.executable).parent / "gunicorn"), "-c", "config/gunicorn.conf.py",
        "config.wsgi", "--bind", f"127.0.0.1:{PORT}",
        "--workers", str(workers), "--threads", str(threads), "--log-level", "warning",
        "--access-logfile", str(ACCESS_LOG), "--access-logformat", "%(r)s %(s)s",
        "--worker-class", os.environ.get("BENCH_WORKER_CLASS", "gthread"),
    ]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, **ENV})
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{PORT}/healthz", timeout=1)  # noqa: S310
            return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise SystemExit("gunicorn did not start")


def served_redirects() -> int:
    """Redirects of the benchmark link the server answered, from its access log."""
    if not ACCESS_LOG.exists():
        return 0
    with ACCESS_LOG.open() as log:
        return sum(1 for line in log if line.startswith("GET /p/bench ") and " 302" in line)


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
        ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{seconds}s", "--latency",
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


def main():
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install wrk")
    django_setup()
    create_database()
    link = prepare()
    workers = int(os.environ.get("BENCH_WORKERS", (os.cpu_count() or 2) * 2))
    threads = int(os.environ.get("BENCH_THREADS", 4))
    server = start_gunicorn(workers, threads)
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
        for _ in range(ROUNDS):
            floors.append(wrk("/bench/floor"))
            redirects.append(wrk("/p/bench"))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)

    sent = sum(r["sent"] for r in redirects)
    served = served_redirects() - warm_served
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
        "floor_p99_ms": median(floors, "p99_ms"),
        "sent": sent,
        "recorded": recorded,
        # wrk counts the responses it read; the server's access log also counts those still
        # in flight when wrk stopped. Every one of them must be a click in PostgreSQL.
        "served": served,
        "lost": served - recorded,
        "errors": sum(r["bad"] + r["socket_errors"] for r in redirects),
        "drain_per_s": round(drain_per_s),
        "drain_after_run_per_s": round(drained / drain_seconds) if drain_seconds else None,
        "workers": workers,
        "threads": threads,
        "connections": CONNECTIONS,
        "seconds": DURATION,
        "rounds": ROUNDS,
    }
    figures["ratio"] = round(figures["rps"] / figures["floor_rps"], 3)
    print(f"floor   : {figures['floor_rps']:>9} req/s  p99 {figures['floor_p99_ms']} ms")
    print(
        f"redirect: {figures['rps']:>9} req/s  "
        f"p50 {figures['p50_ms']} ms  p99 {figures['p99_ms']} ms"
    )
    print(f"ratio   : {figures['ratio']:.0%} of the floor (target >= 50%), p99 target <= 30 ms")
    print(
        f"clicks  : wrk read {sent} redirects, the server answered {served}, "
        f"PostgreSQL holds {recorded}: lost {figures['lost']}"
    )
    print(f"drain   : {figures['drain_per_s']} clicks/s (target >= 20000)")
    ok = (
        figures["ratio"] >= 0.5 and figures["p99_ms"] <= 30 and figures["lost"] == 0
        and served >= sent
        and figures["drain_per_s"] >= 20_000
    )  # fmt: skip
    figures["ok"] = ok
    print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
