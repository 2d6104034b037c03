"""`python -m testservers <platform> --port N`: serve one platform's test server (the demo)."""

import importlib
import sys

if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit("usage: python -m testservers <platform> --port N")
    module = importlib.import_module(f"testservers.{sys.argv[1]}")
    from testservers.base import run_standalone

    # A module may say how it runs stand-alone (the demo's credentials): `standalone(host, port)`.
    run_standalone(getattr(module, "standalone", module.Server), sys.argv[2:])
