"""Path traversal: climbing out of a directory, and probes for sensitive files.

Looked at once the value is decoded (so ``%2e%2e%2f``, ``%252e``, ``%c0%ae`` and ``..%5c`` are
all ``../`` or ``..\\``), with both separators and the ``0x2e``/``0x2f``/``0x5c`` hex notation of
traversal fuzzers read as dots and slashes:

- ``traversal.dot-dot``: ``..`` as a whole segment, ended by a separator, the end of the value,
  ``;``, ``?``, ``#`` or a fuzzer's unfilled ``{file}`` placeholder. One ``../`` is a graded
  suspicion (relative links exist); two or more, or one inside a request path (``url.path``,
  which clients normalise), is an attack.
- ``traversal.dot-evasion``: the filter evasions ``....//``, ``..././``, ``/.../`` and ``..;/``.
- ``traversal.os-file``: sensitive files as targets (``/etc/passwd``, ``/proc/self/environ``,
  ``boot.ini``, ``win.ini``, ``WEB-INF/web.xml``, ``.git/config``, ``.env``, SSH keys, ...);
  at full strength when the value is path-shaped or climbs, weaker inside prose.
- ``traversal.file-url``: a ``file:`` URL.

Paths written in a sentence ("cd ../.. and run make again", "import x from '../../lib'") are
how people talk about files: there, climbs and evasions stay a suspicion unless a sensitive
target comes with them. Payloads are paths, or a path after a command, never prose.
"""

from __future__ import annotations

import re

from vigil.processors.threat.rules import Detection, detection

_HEX_NOTATION = re.compile(r"0x(2e|2f|5c)", re.IGNORECASE)
_HEX_CHARS = {"2e": ".", "2f": "/", "5c": "\\"}
# ".." as a whole path segment: after a separator (or at the start), before a separator, the
# end, a ;param, the query or fragment, or a "{file}" placeholder that fuzzers fill with the target.
_DOT_DOT = re.compile(r"(?:^|[/\\])\.\.(?=[/\\;?#{]|$)")
_EVASION = re.compile(
    r"(?<!\.)\.{4,}[/\\]{1,2}|\.\.\.?[/\\]\.[/\\]|[/\\]\.{3}[/\\{]|[/\\]\.{4,}|^\.{3,}[/\\]|\.\.;[/\\]"
    r"|\.\.[/\\]{2,}"
)
_OS_FILE = re.compile(
    r"""(?:^|[/\\:.])(?:
        etc[/\\]+(?:passwd|shadow|group|hosts|issue|motd|sudoers|crontab|fstab|hostname|profile|
                    ssh[/\\]+sshd_config|mysql[/\\]+my\.cnf|nginx[/\\]+nginx\.conf|apache2?[/\\]+\w+\.conf)\b
      | proc[/\\]+(?:self|\d+)[/\\]+(?:environ|cmdline|maps|mem|status|fd\b|cwd\b|root\b)
      | (?:boot|win|system)\.ini\b
      | windows[/\\]+(?:system32|win\.ini|repair)
      | winnt[/\\]
      | inetpub[/\\]+wwwroot
      | global\.asa\b
      | web-inf[/\\]+(?:web|classes|lib)
      | \.git[/\\]+(?:config|head|index)\b
      | \.svn[/\\]+entries
      | \.env(?:\.\w+)?$
      | \.ht(?:access|passwd)\b
      | \.ssh[/\\]+(?:id_\w+|authorized_keys|known_hosts)
      | \.(?:bash|zsh)_history
      | \.aws[/\\]+credentials
      | wp-config\.php\b
      | var[/\\]+log[/\\]+\w+
      | var[/\\]+run[/\\]+secrets
      | usr[/\\]+local[/\\]+(?:apache2?|etc)[/\\]
    )""",
    re.VERBOSE,  # matched against the lower-cased value
)
_FILE_URL = re.compile(r"(?:^|[\s\"'=(])file:(?://)?/*(?:[a-z]:)?[/\\]?\w")


_WORD = re.compile(r"[A-Za-z]+[,.;:!?']?")


def _is_prose(text: str) -> bool:
    """Whether ``text`` reads as a sentence: three words or more, two of them plain words."""
    words = text.split()
    return len(words) >= 3 and sum(1 for word in words if _WORD.fullmatch(word)) >= 2


def analyse(text: str, *, in_path: bool = False) -> list[Detection]:
    """Traversal detections in a value (already decoded); ``in_path`` for a request's URL path."""
    if "0x" in text or "0X" in text:
        text = _HEX_NOTATION.sub(lambda m: _HEX_CHARS[m.group(1).lower()], text)
    found: list[Detection] = []
    # A path mentioned in a sentence ("cd ../.. and run make again") is how people write about
    # files; payloads are paths, or a path after a command: their climbs count less in prose.
    prose = not in_path and text.count(" ") >= 2 and _is_prose(text)
    hops = len(_DOT_DOT.findall(text)) if ".." in text else 0
    if hops:
        # one leading "../" is how relative links look; "/../", "a/../b" or "..\\" are not
        relative_link = text.startswith("../") and hops == 1
        strength = 1.0 if hops >= 2 else 0.9 if in_path else 0.5 if relative_link else 0.8
        found.append(detection("traversal.dot-dot", min(strength, 0.55) if prose else strength))
    if "..." in text or "..;" in text or (".." in text and ("//" in text or "\\\\" in text or "/./" in text)):
        evasions = len(_EVASION.findall(text))
        if evasions:
            strength = 1.0 if evasions >= 2 or hops else 0.75
            found.append(detection("traversal.dot-evasion", min(strength, 0.55) if prose else strength))
    lower = text.lower()
    target = _OS_FILE.search(lower)
    if target:
        path_shaped = " " not in text.strip() or hops > 0
        found.append(detection("traversal.os-file", 1.0 if path_shaped else 0.4))
    if "file:" in lower and _FILE_URL.search(lower):
        found.append(detection("traversal.file-url", 1.0 if target or hops else 0.8))
    return found
