"""Set-up as a newcomer meets it: `make run`'s embedded default runs jobs in-process without
broker warnings or a log line per job, `rundemo` prints the welcome after the server's own
banner, and the README's token command works as written."""

import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def embedded_env(tmp_path, **extra) -> dict:
    """What `make run` runs with: no DATABASE_URL, REDIS_URL or broker; a SQLite file (here a
    temporary one, never the checkout's db.sqlite3)."""
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", PYTHONUNBUFFERED="1",
               DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
               MEDIA_ROOT=str(tmp_path / "media"), **extra)  # fmt: skip
    return env


RUN_A_JOB = """
from core.jobs import enqueue_on_commit, shoploop_task

@shoploop_task(name="tests.make_run.noop")
def noop(value):
    print("job ran with", value)

enqueue_on_commit(noop, 7)
"""


def test_in_process_jobs_run_without_broker_warnings_or_a_log_line_each(tmp_path):
    result = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", RUN_A_JOB],
        cwd=ROOT, env=embedded_env(tmp_path, DEBUG="true"),
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "job ran with 7" in result.stdout  # in-process, at once
    # kombu's "No hostname was supplied" (Celery takes a producer from its pool even for
    # in-process jobs) and Celery's "Task ... succeeded" line per job are gone.
    assert "No hostname was supplied" not in result.stderr
    assert "succeeded in" not in result.stderr
    assert result.stderr.strip() == ""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_rundemo_prints_the_welcome_after_the_servers_banner(tmp_path):
    port = _free_port()
    server = subprocess.Popen(  # noqa: S603
        [sys.executable, "manage.py", "rundemo", f"127.0.0.1:{port}", "--noreload"],
        cwd=ROOT, env=embedded_env(tmp_path, DEBUG="true"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    lines = []
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            line = server.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if "make demo-orders" in line:  # the welcome's last line
                break
        # The server answers while its welcome is on screen.
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = "\n".join(lines)
    assert "make demo-orders" in text, text

    def at(pattern):
        return next(n for n, line in enumerate(lines) if re.search(pattern, line))

    banner = at(r"Starting development server at")
    warning = at(r"This is a development server")
    welcome = at(r"Merchant console")
    assert banner < warning < welcome
    assert lines[welcome] == (
        f"  Merchant console http://127.0.0.1:{port}/admin/  (login: admin / shoploop-demo)"
    )
    assert f"http://127.0.0.1:{port}/shop/feed" in text
    assert f"http://127.0.0.1:{port}/admin/authtoken/tokenproxy/" in text
    assert lines[-1].strip().startswith("'make demo-orders'")


def test_the_readmes_token_command_works_as_written_in_the_make_run_set_up(tmp_path):
    commands = [
        line.strip() for line in README.splitlines()
        if "drf_create_token" in line and line.strip().startswith("DEBUG=true .venv/bin/")
    ]  # fmt: skip
    assert commands == ["DEBUG=true .venv/bin/python manage.py drf_create_token admin"]
    command = commands[0]
    if not (ROOT / ".venv/bin/python").exists():  # a checkout tested from another venv
        command = command.replace(".venv/bin/python", sys.executable)
    env = embedded_env(tmp_path)  # as `make run` leaves the shell: no DEBUG, no SECRET_KEY
    # The tables the command needs, and the demo admin (seed_demo would make the whole shop).
    setup = subprocess.run(
        [sys.executable, "manage.py", "shell", "-c",
         "from django.core.management import call_command\n"
         "for app in ('contenttypes', 'auth', 'authtoken'):\n"
         "    call_command('migrate', app, verbosity=0)\n"
         "from django.contrib.auth.models import User\n"
         "User.objects.create_superuser('admin', '', 'shoploop-demo')\n"],
        cwd=ROOT, env={**env, "DEBUG": "true"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert setup.returncode == 0, setup.stderr

    result = subprocess.run(
        ["bash", "-c", command], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )  # noqa: S603
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"Generated token [0-9a-f]{40} for user admin", result.stdout.strip())
    # And the console's route for tokens, named beside it.
    assert "/admin/authtoken/tokenproxy/" in README
