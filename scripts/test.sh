#!/usr/bin/env bash
# The whole test suite: installs what is missing (idempotent, seconds when done), lints, then runs
# every test, the end-to-end ones against the real stack included.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"
scripts/install.sh
.venv/bin/ruff check .
.venv/bin/ruff format --check .
exec .venv/bin/pytest "$@"
