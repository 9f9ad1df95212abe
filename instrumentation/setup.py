"""Build glue for what pyproject.toml cannot say: ship ``vigil-instrumentation.pth`` at the top of
site-packages, in wheels and in editable installs alike.

The file makes ``opentelemetry-instrument`` choose Vigil's distro and configurator deterministically
(see ``vigil.instrumentation.distro``, "Which distro runs"). Python runs the ``import`` line of every
``.pth`` file in site-packages at start-up, before the auto-instrumentation's ``sitecustomize``.
"""

from __future__ import annotations

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel

PTH = Path(__file__).parent / "src" / "vigil-instrumentation.pth"


class BuildPyWithPth(build_py):
    """A regular wheel holds what build_py leaves in build_lib: put the .pth at its top."""

    def run(self) -> None:
        super().run()
        if not self.editable_mode:
            self.copy_file(str(PTH), str(Path(self.build_lib, PTH.name)), preserve_mode=False)

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        return [*super().get_outputs(include_bytecode), str(Path(self.build_lib, PTH.name))]


class _StrategyWithPth:
    """Wraps setuptools' editable strategy (which writes only its own .pth or finder) so that the
    editable wheel also carries ours."""

    def __init__(self, strategy: object) -> None:
        self._strategy = strategy

    def __call__(self, wheel, files, mapping) -> None:  # noqa: ANN001 - setuptools' private protocol
        self._strategy(wheel, files, mapping)
        wheel.writestr(PTH.name, PTH.read_bytes())

    def __enter__(self) -> _StrategyWithPth:
        self._strategy.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._strategy.__exit__(*exc_info)


class EditableWheelWithPth(editable_wheel):
    # _select_strategy is setuptools-private (stable since setuptools 64). If it is ever renamed, the
    # editable install silently lacks the .pth: tests/instrumentation/test_distro_selection.py checks
    # that the running environment has it.
    def _select_strategy(self, name: str, tag: str, build_lib: str) -> _StrategyWithPth:
        return _StrategyWithPth(super()._select_strategy(name, tag, build_lib))


setup(cmdclass={"build_py": BuildPyWithPth, "editable_wheel": EditableWheelWithPth})
