"""Build glue for what pyproject.toml cannot say in a stable form: the C extension.

``vigil.processors._span_columns`` is the wire reader behind ``vigil.processors.span_columns``
(the scorers' per-batch hot path). Building it needs a C compiler and the Python headers.
"""

from __future__ import annotations

from setuptools import Extension, setup

WARNINGS = ["-Wall", "-Wextra", "-Wno-unused-parameter", "-Wno-missing-field-initializers"]

setup(
    ext_modules=[
        Extension(
            "vigil.processors._span_columns",
            sources=["src/vigil/processors/_span_columns.c"],
            extra_compile_args=[*WARNINGS, "-O2"],
        )
    ]
)
