"""JNDI lookups (Log4Shell and its obfuscations) and other Log4j-style lookups.

Log4j 2 expands ``${...}`` lookups in logged strings, recursively, so attackers write
``${jndi:ldap://host/a}`` and hide the word ``jndi`` behind nested lookups that evaluate to
single letters: ``${${lower:j}ndi:...}``, ``${${::-j}${::-n}di:...}``, ``${${env:X:-j}ndi:...}``.
:func:`resolve` evaluates those letter-producing lookups (bounded), then:

- ``jndi.lookup``: ``${jndi:`` followed by a naming protocol (ldap, ldaps, rmi, dns, iiop,
  corba, nds, nis, http);
- ``jndi.env-lookup``: ``${env:...}``, ``${sys:...}``, ``${java:...}`` and similar lookups that
  leak configuration when logged (a suspicion on its own, an attack inside a JNDI URL).
"""

from __future__ import annotations

import re

from vigil.processors.threat.rules import Detection, detection

_INNER = re.compile(
    r"\$\{(?:(?:lower|upper)\s*:\s*([^${}]*)|[^${}:]*:[^${}]*?:-([^${}]*)|::-([^${}]*))\}", re.IGNORECASE
)
_JNDI = re.compile(r"\$\{\s*jndi\s*:\s*(?:ldaps?|rmi|dns|iiop|corba|nds|nis|https?)\s*:", re.IGNORECASE)
_LOOKUP = re.compile(
    r"\$\{\s*(?:env|sys|java|main|bundle|ctx|date|docker|k8s|log4j|spring|web|jvmrunargs)\s*:", re.IGNORECASE
)
MAX_ROUNDS = 8


def resolve(text: str) -> str:
    """``text`` with letter-producing lookups (``${lower:j}``, ``${::-n}``, ``${env:X:-d}``) evaluated."""
    for _ in range(MAX_ROUNDS):
        resolved = _INNER.sub(lambda m: next(g for g in m.groups() if g is not None), text)
        if resolved == text:
            break
        text = resolved
    return text


def analyse(text: str) -> list[Detection]:
    """JNDI and lookup detections in a value (already decoded)."""
    if "${" not in text:
        return []
    resolved = resolve(text) if text.count("${") > 1 or ":-" in text else text
    found: list[Detection] = []
    if _JNDI.search(resolved):
        found.append(detection("jndi.lookup"))
    elif "jndi" in resolved.lower() and "${" in resolved:
        found.append(detection("jndi.lookup", 0.6))  # a jndi lookup with an unusual protocol or spelling
    if _LOOKUP.search(text):
        found.append(detection("jndi.env-lookup"))
    return found
