"""Where the fixture trees are (see fixtures/README.md)."""

from __future__ import annotations

from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"

ID_V1_DOCKER = "3f4c1b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080"
ID_V1_KUBEPODS = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
ID_V2_SYSTEMD_DOCKER = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544"
ID_V2_PRIVATE_NS = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
ID_V2_KUBEPODS_CONTAINERD = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
POD_UID = "6b3c5a2e-8f1d-4c7b-9a0e-2d4f6b8a1c3e"


def cgroup_root(name: str) -> Path:
    return FIXTURES / "cgroup" / name
