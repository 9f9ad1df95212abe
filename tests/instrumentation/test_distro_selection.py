"""Vigil's distro and configurator are chosen even when ``opentelemetry-distro`` is installed too.

``opentelemetry-instrument`` takes the first ``opentelemetry_distro`` / ``opentelemetry_configurator``
entry point it finds, in the order installed distributions are listed on disk. These tests build
Vigil's wheel, install it with the real ``opentelemetry-distro==0.66b1`` into throw-away virtual
environments, and check which distro and configurator ran:

- with the stock package ahead on ``sys.path`` (its entry points are found first: the order that made
  the stock distro win before), and a control run without ``vigil-instrumentation.pth`` showing that
  the stock distro then does win, so the test can fail;
- with both in the same site-packages, the everyday case, in whatever order the file system lists them.

The throw-away environments hold exactly the two distributions under test; their dependencies (the
SDK, gRPC, ...) come from this environment's site-packages through a plain path line, which carries no
entry points of its own for these groups and runs no ``.pth`` files. A full install with dependencies
from the index works the same way but takes minutes and needs the network, so it is not repeated here.
Each case takes a few seconds; ``opentelemetry-distro`` comes from pip's cache or the index, and the
tests are skipped when it cannot be had.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import textwrap
import zipfile
from importlib.metadata import distribution
from pathlib import Path

import pytest

from tests.instrumentation.instrumented import INSTRUMENT, clean_env

PROJECT = Path(__file__).resolve().parents[2] / "instrumentation"
PTH = "vigil-instrumentation.pth"
STOCK = "opentelemetry-distro==0.66b1"

SELECTION_PROBE = textwrap.dedent(
    """
    import json, os
    from importlib.metadata import distribution, entry_points
    from opentelemetry import trace
    from opentelemetry.instrumentation.auto_instrumentation._load import _load_distro
    resource = dict(trace.get_tracer_provider().resource.attributes)
    print(json.dumps({
        "distros": [ep.name for ep in entry_points(group="opentelemetry_distro")],
        "configurators": [ep.name for ep in entry_points(group="opentelemetry_configurator")],
        "vigil_from": str(distribution("vigil-instrumentation")._path),
        "stock_from": str(distribution("opentelemetry-distro")._path),
        "distro": type(_load_distro()).__module__,
        "configured_by_vigil": resource.get("telemetry.distro.name") == "vigil",
        "vigil_detectors_ran": "process.command_args" in resource,
        "env": {k: os.environ.get(k) for k in ("OTEL_PYTHON_DISTRO", "OTEL_PYTHON_CONFIGURATOR")},
    }), flush=True)
    os._exit(0)
    """
)


def _pip(*args: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]


@pytest.fixture(scope="module")
def wheels(tmp_path_factory) -> Path:
    """Vigil's wheel, built from a copy of the project (the tree others work in stays untouched), and
    opentelemetry-distro's."""
    work = tmp_path_factory.mktemp("wheels")
    source = work / "project"
    shutil.copytree(
        PROJECT, source, ignore=shutil.ignore_patterns("*.egg-info", "build", "dist", "__pycache__")
    )
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", str(work), str(source))
    fetched = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "-q", "-d", str(work), STOCK],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if fetched.returncode != 0:
        pytest.skip(f"{STOCK} is neither in pip's cache nor downloadable here: {fetched.stderr[-300:]}")
    return work


def _venv(root: Path) -> tuple[Path, Path]:
    """A virtual environment without pip (fast); its python and site-packages."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True, timeout=120)
    python = root / "bin" / "python"
    site = Path(
        subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    )
    return python, site


def _add_dependencies(site: Path) -> None:
    """Append this environment's site-packages to the throw-away one's path, for the dependencies.
    Only after installing: pip must not see (let alone replace) this environment's packages there."""
    (site / "zz-vigil-test-dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")


def _install(python: Path, wheels: Path, *requirements: str, target: Path | None = None) -> None:
    where = ["--target", str(target)] if target else []
    _pip(
        "--python",
        str(python),
        "install",
        "--no-deps",
        "--no-index",
        "-q",
        "--find-links",
        str(wheels),
        *where,
        *requirements,
    )


def _probe(python: Path, **env: str) -> dict:
    out = subprocess.run(
        [INSTRUMENT, str(python), "-c", SELECTION_PROBE],
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def stock_first(wheels, tmp_path_factory):
    """Vigil in site-packages; opentelemetry-distro in a directory ahead of it on PYTHONPATH."""
    root = tmp_path_factory.mktemp("stock-first")
    python, site = _venv(root / "venv")
    _install(python, wheels, "vigil-instrumentation")
    _install(python, wheels, "opentelemetry-distro", target=root / "stock")
    _add_dependencies(site)
    return python, site, {"PYTHONPATH": str(root / "stock")}


def test_the_wheel_ships_the_startup_hook(wheels):
    [wheel] = wheels.glob("vigil_instrumentation-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        assert archive.read(PTH) == (PROJECT / "src" / PTH).read_bytes()
        record = archive.read(next(n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))).decode()
    assert f"\n{PTH}," in f"\n{record}"


def test_vigil_wins_when_the_stock_distro_is_found_first(stock_first):
    python, _, env = stock_first
    probe = _probe(python, **env)
    assert probe["distros"][0] == "distro", "the stock distro was not ahead: this case proves nothing"
    assert probe["configurators"][0] == "configurator"
    assert probe["vigil_from"].startswith(str(python.parents[1]))  # the copy under test, not this env's
    assert probe["env"] == {"OTEL_PYTHON_DISTRO": "vigil", "OTEL_PYTHON_CONFIGURATOR": "vigil"}
    assert probe["distro"] == "vigil.instrumentation.distro"
    assert probe["configured_by_vigil"] and probe["vigil_detectors_ran"]


def test_control_without_the_startup_hook_the_stock_distro_wins(stock_first):
    python, site, env = stock_first
    hook = site / PTH
    parked = site / f"{PTH}.parked"
    hook.rename(parked)
    try:
        probe = _probe(python, **env)
    finally:
        parked.rename(hook)
    assert probe["env"] == {"OTEL_PYTHON_DISTRO": None, "OTEL_PYTHON_CONFIGURATOR": None}
    assert probe["distro"] == "opentelemetry.distro"
    assert not probe["configured_by_vigil"] and not probe["vigil_detectors_ran"]


def test_a_users_explicit_choice_is_respected(stock_first):
    python, _, env = stock_first
    probe = _probe(python, OTEL_PYTHON_DISTRO="distro", OTEL_PYTHON_CONFIGURATOR="configurator", **env)
    assert probe["distro"] == "opentelemetry.distro"
    assert not probe["configured_by_vigil"]


def test_vigil_wins_with_both_in_the_same_site_packages(wheels, tmp_path):
    python, site = _venv(tmp_path / "venv")
    _install(python, wheels, "vigil-instrumentation", "opentelemetry-distro")
    _add_dependencies(site)
    probe = _probe(python)
    assert sorted(probe["distros"]) == ["distro", "vigil"]
    assert Path(probe["stock_from"]).parent == site and Path(probe["vigil_from"]).parent == site
    assert probe["distro"] == "vigil.instrumentation.distro"
    assert probe["configured_by_vigil"] and probe["vigil_detectors_ran"]


def test_this_environment_has_the_startup_hook():
    # Editable installs get the hook through setup.py's editable_wheel override (setuptools-private
    # API): if a setuptools upgrade breaks it, this fails.
    site = Path(sysconfig.get_paths()["purelib"])
    if Path(distribution("vigil-instrumentation")._path).parent != site:
        pytest.skip("vigil-instrumentation is not installed in this interpreter's site-packages")
    assert (site / PTH).read_bytes() == (PROJECT / "src" / PTH).read_bytes()
