"""Server-side template and expression-language injection.

Two shapes, inside the delimiters of template languages (``{{ }}``, ``{% %}``, ``${ }``,
``#{ }``, ``*{ }``, ``<%= %>``, ``@( )``):

- ``ssti.arithmetic-probe``: arithmetic on literals only, the probe every scanner sends to see
  whether a template evaluates input: ``{{7*7}}``, ``${7*'7'}``, ``<%= 7*7 %>``. Ordinary
  templates quoted in a support message (``{{ user.name }}``, ``${price}``) stay quiet;
- ``ssti.object-traversal``: reaching interpreter internals from a template: ``__class__``,
  ``__mro__``, ``__subclasses__``, ``__globals__``, ``__builtins__``, ``__import__``,
  ``getClass()``, ``T(java.lang.Runtime)``, ``Runtime.getRuntime()``, ``ProcessBuilder``,
  ``freemarker.template.utility.Execute``, ``request.application``.
"""

from __future__ import annotations

import re

from vigil.processors.threat.rules import Detection, detection

_ARITHMETIC = re.compile(
    r"""(?:\{\{|\{%|[$#*@]\{|<%=?|\$\{\{)\s*[-+(]*\s*['"]?\d+['"]?\s*[-+*/%]\s*['"]?\d+['"]?\s*\)*\s*(?:\}\}|%\}|\}|%>)"""
)
_INTERNALS = re.compile(
    r"__(?:class|mro|subclasses|globals|builtins|import|init|base|dict|getattribute)__"
    r"|\.getClass\s*\(|\bT\s*\(\s*java\.|Runtime\s*\)?\s*\.\s*getRuntime|ProcessBuilder|"
    r"freemarker\.template\.utility|request\.application|self\._TemplateReference__context|"
    r"\bforName\s*\(|\.exec\s*\(\s*['\"]|\bnew\s+java\.",
)
_DELIMITERS = ("{{", "{%", "${", "#{", "*{", "<%", "@{")


def analyse(text: str) -> list[Detection]:
    """Template-injection detections in a value (already decoded)."""
    if not any(d in text for d in _DELIMITERS):
        return []
    found: list[Detection] = []
    if _ARITHMETIC.search(text):
        found.append(detection("ssti.arithmetic-probe"))
    if _INTERNALS.search(text):
        found.append(detection("ssti.object-traversal"))
    return found
