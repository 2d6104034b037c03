"""Production settings plus the floor view, for benchmarks only."""

from config.settings import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
