"""Every VIGIL_* setting is declared once, documented, and read somewhere; nothing reads an
undeclared one."""

from __future__ import annotations

import ast
import itertools
import re
from pathlib import Path

import vigil.instrumentation
from vigil.instrumentation import environment_variables

PACKAGE = Path(vigil.instrumentation.__file__).parent
MODULE = Path(environment_variables.__file__)


def declared() -> dict[str, str]:
    """name -> its docstring, from the module's ``NAME = "NAME"`` + string pairs."""
    body = ast.parse(MODULE.read_text()).body
    found = {}
    for statement, following in itertools.pairwise(body):
        if isinstance(statement, ast.Assign) and isinstance(following, ast.Expr):
            found[statement.targets[0].id] = following.value.value
    return found


def test_each_setting_is_documented_and_named_after_itself():
    settings = declared()
    assert settings, "no settings found"
    for name, doc in settings.items():
        assert getattr(environment_variables, name) == name
        assert f".. envvar:: {name}" in doc
        assert "Default" in doc, f"{name} does not say its default"


def test_each_setting_is_read_and_nothing_undeclared_is():
    sources = {path: path.read_text() for path in PACKAGE.rglob("*.py") if path != MODULE}
    used = {name for text in sources.values() for name in re.findall(r"\bVIGIL_[A-Z0-9_]+\b", text)}
    assert used == set(declared())
