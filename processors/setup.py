"""Build glue for what pyproject.toml cannot say in a stable form: the C extension.

Two extensions, each the hot path behind a Python module that documents it:
``vigil.processors._span_columns``, the wire reader behind ``vigil.processors.span_columns`` (the
scorers' per-batch reading), and ``vigil.processors.threat._sql_lexer``, the SQL tokeniser behind
``vigil.processors.threat.sql``. Building them needs a C compiler and the Python headers.
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
        ),
        Extension(
            "vigil.processors.threat._sql_lexer",
            sources=["src/vigil/processors/threat/_sql_lexer.c"],
            extra_compile_args=[*WARNINGS, "-O2"],
        ),
    ]
)
