"""gunicorn settings: `gunicorn -c config/gunicorn.conf.py config.wsgi`.

Every value can be overridden on the command line or with GUNICORN_CMD_ARGS.
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
worker_class = "gthread"
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2))
threads = int(os.environ.get("GUNICORN_THREADS", 4))
keepalive = 30
timeout = 30
graceful_timeout = 30
accesslog = None
max_requests = 100_000  # recycle workers now and then; queued clicks are flushed on exit
max_requests_jitter = 10_000


def post_worker_init(worker):
    """Warm what the first shopper would otherwise pay for: the user-agent regexes."""
    from links.visitors import classify

    classify(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1"
    )
