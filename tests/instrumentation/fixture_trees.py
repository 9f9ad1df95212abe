"""Where the fixture trees are (see fixtures/README.md)."""

from __future__ import annotations

import shutil
from pathlib import Path

from vigil.instrumentation.cgroup import ProcessCgroup

FIXTURES = Path(__file__).parent / "fixtures"

ID_V1_DOCKER = "3f4c1b2a9e8d7c6b5a4f3e2d1c0b9a8f7e6d5c4b3a291807f6e5d4c3b2a19080"
ID_V1_KUBEPODS = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90"
ID_V2_SYSTEMD_DOCKER = "9d8c7b6a5f4e3d2c1b0a99887766554433221100ffeeddccbbaa998877665544"
ID_V2_PRIVATE_NS = "5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f"
ID_V2_KUBEPODS_CONTAINERD = "0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c4b5a69788796a5b4c3d2e1f0"
POD_UID = "6b3c5a2e-8f1d-4c7b-9a0e-2d4f6b8a1c3e"


def cgroup_root(name: str) -> Path:
    return FIXTURES / "cgroup" / name


def cgroup_dir(name: str, controller: str) -> str:
    """Where tree ``name`` keeps the process's files for ``controller``, relative to the tree."""
    directory = ProcessCgroup(cgroup_root(name)).directory(controller)
    assert directory is not None, f"{name} has no {controller} controller"
    return str(directory.relative_to(cgroup_root(name)))


def copy_tree(name: str, destination: Path) -> Path:
    """A writable copy of cgroup tree ``name`` under ``destination``, for tests that change files."""
    return Path(shutil.copytree(cgroup_root(name), destination / name, symlinks=True))


def write(root: Path, relative: str, text: str) -> None:
    """Replace (or create) the file ``relative`` under ``root``."""
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
