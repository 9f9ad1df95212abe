"""The fault soak at full size: a million spans through the real pipeline while the sidecar is
killed ten times and the collector restarted once; prints the counts.

It runs ``tests/e2e/test_fault_soak.py`` (whose docstring has the method, the ports and what each
count means) with ``VIGIL_SOAK_SPANS`` set to ``--spans``, the size that CI runs smaller. The
test's own checks apply: every span sent reaches Jaeger, scored or marked unscored. The last line
printed is the counts as one JSON object; the exit status is pytest's (0: the soak passed).

Usage (from the checkout; about two minutes for a million spans on 2 cores)::

    .venv/bin/python bench/soak/run.py [--spans 1000000] [--timeout 3600]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

HOME = Path(__file__).resolve().parents[2]
TEST = HOME / "tests" / "e2e" / "test_fault_soak.py"
MARKER = "fault soak: "


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--spans", type=int, default=1_000_000, help="spans to send (default 1000000)")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds allowed in all (default 3600)")
    args = parser.parse_args(argv)
    if args.spans < 1000:
        parser.error("--spans must be at least 1000")
    argv_ = [sys.executable, "-m", "pytest", str(TEST), "-q", "-s", "-p", "no:cacheprovider",
             "-o", f"timeout={args.timeout}"]  # fmt: skip
    env = os.environ | {"VIGIL_SOAK_SPANS": str(args.spans)}
    result = subprocess.run(argv_, cwd=HOME, env=env, stdout=subprocess.PIPE, text=True, check=False)
    counts = None
    for line in result.stdout.splitlines():
        print(line, file=sys.stderr)
        if line.startswith(MARKER):
            counts = line.removeprefix(MARKER)
    if counts is None:
        print("bench/soak: the soak printed no counts (see its output above)", file=sys.stderr)
        return result.returncode or 1
    print(counts)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
