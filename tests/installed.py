"""Where tests find what scripts/install.sh installed. A missing piece fails the test that needs it
with the install command to run, rather than skipping: a skip would hide a broken install step."""

from __future__ import annotations

from pathlib import Path

import pytest

from vigil.processors.stack.components import find_binary

REPO = Path(__file__).resolve().parents[1]


def binary(name: str) -> str:
    try:
        return find_binary(name)
    except FileNotFoundError as exc:
        pytest.fail(f"{exc} (the README's first command installs it)")
