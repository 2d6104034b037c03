"""gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.

Chosen by measurement (`make bench-redirect` and the runs listed in the README, on 2 cores):
- gthread: keep-alive connections (sync workers answer one request a connection, and served
  half the redirects a second gthread did);
- reuse_port: each worker listens on its own SO_REUSEPORT socket and the kernel spreads new
  connections over them by hash. On one shared socket the worker that woke first took the
  keep-alive connections: 32 of them on 2 of 4 workers, or all on one sync worker;
- 2 workers per core, 4 threads each: as fast as 1 per core for the redirect, and a worker
  busy with a heavy console request leaves its siblings free;
- no max_requests: a worker restarted in a traffic peak cost a 399 ms p99, and every
  per-process cache is bounded (the bench reports how much workers grow).
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
reuse_port = True
keepalive = 30
timeout = 30
graceful_timeout = 30
accesslog = None
max_requests = 0  # never recycle workers: queued clicks would be flushed, but the peak pays


def post_worker_init(worker):
    """Warm what the first shopper would otherwise pay for: the user-agent regexes."""
    from links.visitors import classify

    classify(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    )
