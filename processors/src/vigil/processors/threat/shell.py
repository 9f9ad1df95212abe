"""OS command injection: shell separators and substitutions followed by something that runs.

A value is split at shell separators (``;``, ``|``, ``||``, ``&``, ``&&``, newlines) and the
word after each separator is judged with what follows it:

- ``cmdi.separator``: a separator, then a command (a known binary such as ``id``, ``cat``,
  ``ping``, ``curl``, ``powershell``, or an absolute path to one like ``/usr/bin/id``), then what
  a command line carries: nothing, another separator, flags (``-la``), a path, an address or a
  redirection. "cat food; dog food" stays quiet: ``food`` is not an argument shape. A short
  value that starts with a command and its arguments and ends with a separator (``id;``,
  ``dir c: |``) is a command cut off from the rest of the application's line; a pipeline that
  goes on (``curl -s https://x | jq .``) is a command line quoted, a suspicion only.
- ``cmdi.substitution``: ```cmd``` and ``$(cmd)`` around a command, and ``${IFS}``. Inline code
  in prose (a support message quoting ```ls -la```) is only a suspicion.
- ``cmdi.ssi``: server-side include directives, ``<!--#exec cmd=...-->``.
- ``cmdi.code-exec``: after a break, a call that runs a command: ``;system('id')``.
- ``cmdi.command-line``: the whole value is a command line (``/bin/cat /etc/passwd``,
  ``ls -la``): a suspicion on its own; an attack when it runs a binary by its path, when every
  argument is one and one reaches into the system's directories (``cat /etc/passwd``), or when it
  is a blind time probe (``ping -i 30 127.0.0.1``: pinging the host itself to time the answer).
"""

from __future__ import annotations

import re

from vigil.processors.threat.rules import Detection, detection

COMMANDS = frozenset(
    "id whoami uname cat ls dir ping nslookup dig host curl wget nc ncat netcat bash sh zsh ksh csh "
    "dash powershell pwsh cmd python python3 perl ruby php node sleep echo type net netstat ifconfig "
    "ipconfig ps kill rm cp mv chmod chown touch telnet ssh scp ftp tftp certutil bitsadmin wmic reg "
    "systeminfo hostname pwd env printenv head tail more less grep find xterm base64 nohup timeout "
    "mkfifo crontab useradd passwd sudo su tasklist taskkill whoami.exe ver uptime busybox awk sed "
    "xargs tee od xxd openssl socat lynx true false".split()
)
_SEPARATOR = re.compile(r"(?:\|\|?|&&?|;|\n|\r|%0a|\$\(|`)\s*")
_COMMAND = re.compile(
    r"""["'(]*\s*((?:[a-z]:)?(?:[/\\]?(?:usr[/\\])?(?:local[/\\])?s?bin[/\\]|[a-z]:[/\\][\w\\/.]*[/\\])?"""
    r"""[a-z][\w.-]*)""",
    re.IGNORECASE,
)
# What may follow a command on a real command line.
_ARGUMENT = re.compile(
    r"""\s*(?:$|[;|&`)\n'"]|>|<|\$|-{1,2}[a-z0-9]|/[\w.]|\\\\?[\w.]|[a-z]:(?:[/\\"']|\s|$)|\d+(?:\s|$|[;|&])"""
    r"""|\d{1,3}(?:\.\d{1,3}){3}|https?://|[\w-]+\.[a-z]{2,}\b|\+)""",
    re.IGNORECASE,
)
_SUBSTITUTION = re.compile(r"`\s*([^`]{1,200})`|\$\(\s*([^)]{1,200})\)")
_IFS = re.compile(r"\$\{?IFS\}?|\$\{[A-Z_]+:\d+:\d+\}")
_SSI = re.compile(r"<!--\s*#\s*(?:exec|include|echo|config|printenv)\b", re.IGNORECASE)
_CODE_EXEC = re.compile(
    r"""(?:^|[;|&'"`)])\s*(?:system|exec|shell_exec|passthru|popen|proc_open|pcntl_exec|os\.system|"""
    r"""os\.popen|subprocess\.\w+|runtime\.getruntime\(\)\.exec)\s*\(\s*["'`]?\s*([\w/\\.-]+)""",
)  # matched against the lower-cased value
_BINARY_PATH = re.compile(
    r"^(?:[/\\](?:usr[/\\])?(?:local[/\\])?s?bin[/\\]\w+|[\w.-]+\.exe)\b", re.IGNORECASE
)
_TRIGGER = frozenset(";|&`$\n\r")
MAX_SEPARATORS = 64
"""Separators judged per value: payloads need a few, hostile input may carry thousands."""
_BIN_DIR = re.compile(r"^(?:[a-z]:)?[/\\]?(?:usr[/\\])?(?:local[/\\])?s?bin[/\\]")
# A command at the start of the value, with at most a few arguments, ended by a separator:
# "id;", "ls|", "dir c: |" (what follows the separator is the rest of the application's line).
_LEADING_COMMAND = re.compile(r"^\s*([a-z][\w.-]*)((?:\s+[^\s;|&]+){0,3})\s*[;|&]", re.IGNORECASE)
# One token of a command line: a flag, a number, an address, a path, a drive, a URL, a variable.
_ARGUMENT_TOKEN = re.compile(
    r"""-{1,2}[a-z0-9][\w=.-]*|\d+|\d{1,3}(?:\.\d{1,3}){3}|[/\\~.][\w./\\-]*|[a-z]:(?:[/\\][\w./\\-]*)?"""
    r"""|https?://\S+|\$\{?\w+\}?|[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}""",
    re.IGNORECASE,
)
# An argument in the system's own directories: /etc/passwd, /proc/self/environ, c:\\windows\\win.ini
_SYSTEM_PATH = re.compile(
    r"(?:^|\s)(?:/(?:etc|proc|dev|bin|sbin|usr|tmp|root|var|sys|boot)/|[a-z]:\\(?:windows|winnt|users)\\)",
    re.IGNORECASE,
)
# A time probe: pinging this very host a number of times or at an interval, to time the answer.
_PING_DELAY = re.compile(
    r"^ping(?:\.exe)?\s+(?:-\w+\s+\d+\s+)+(?:127\.\d+\.\d+\.\d+|localhost|::1|0\.0\.0\.0)\s*$",
    re.IGNORECASE,
)


def _command(word: str) -> bool:
    """Whether ``word`` names a command: a known binary, or an absolute path to a bin directory."""
    low = word.lower()
    if low.endswith(".exe"):
        low = low[:-4]
    base = low[max(low.rfind("/"), low.rfind("\\")) + 1 :]  # the name after the last separator
    if base in COMMANDS:
        return True
    return bool(_BIN_DIR.match(low))


def _arguments(words: str) -> bool:
    """Whether every word of ``words`` has the shape of a command-line argument (none: True)."""
    return all(_ARGUMENT_TOKEN.fullmatch(word) for word in words.split())


def _after_separators(text: str) -> float:
    """The strongest separator-then-command found, as a strength (0 for none)."""
    best = 0.0
    for count, sep in enumerate(_SEPARATOR.finditer(text)):
        if count >= MAX_SEPARATORS:
            break
        if sep.group().startswith(("`", "$(")):
            continue  # substitutions are judged on their own
        word = _COMMAND.match(text, sep.end(), sep.end() + 256)
        if not word or not _command(word.group(1)):
            continue
        argument = _ARGUMENT.match(text, word.end(), word.end() + 64)
        before = text[: sep.start()].rstrip()
        if argument is None:
            # "; cat food": a command word followed by prose, unless the value starts with the
            # separator ("& net user"), which only an injection does
            best = max(best, 0.3 if before else 0.8)
            continue
        # ";id" right at the start, or after a word/quote/paren: the shape of an injected command
        strength = 1.0 if (not before or before[-1:] in "\"')" or " " not in before[-20:]) else 0.8
        best = max(best, strength)
    return best


def analyse(text: str) -> list[Detection]:
    """Command-injection detections in a value (already decoded), strongest per rule."""
    found: list[Detection] = []
    if _TRIGGER.intersection(text):
        strength = _after_separators(text)
        lead = _LEADING_COMMAND.match(text)
        if (
            lead
            and len(text) < 64
            and _command(lead.group(1))
            # with arguments, only as the whole value: "curl -s https://x | jq ." is a pipeline
            and (not lead.group(2) or not text[lead.end() :].strip(" ;|&"))
            and _arguments(lead.group(2))
        ):
            strength = max(strength, 0.8)  # "id;", "ls|", "dir c: |": a command ended by a separator
        if strength:
            found.append(detection("cmdi.separator", strength))
        for sub in _SUBSTITUTION.finditer(text):
            inner = (sub.group(1) or sub.group(2)).strip()
            first = inner.split(None, 1)[0] if inner else ""
            if first and _command(first.strip("\"'")):
                outside = (text[: sub.start()] + text[sub.end() :]).strip(" \"'`;|&")
                prose = outside.count(" ") >= 2
                found.append(detection("cmdi.substitution", 0.35 if prose else 1.0))
                break
        if "$" in text and _IFS.search(text):
            found.append(detection("cmdi.substitution"))
    if "<!--" in text and _SSI.search(text):
        found.append(detection("cmdi.ssi"))
    if "(" in text:
        call = _CODE_EXEC.search(text.lower())
        if call:
            found.append(detection("cmdi.code-exec", 1.0 if _command(call.group(1)) else 0.6))
    stripped = text.strip()
    if stripped and (stripped[0] in "/\\" or ".exe" in stripped.lower()) and _BINARY_PATH.match(stripped):
        found.append(detection("cmdi.command-line"))
    elif " " in stripped and len(stripped) < 200:
        first, _, rest = stripped.partition(" ")
        if _PING_DELAY.match(stripped):
            found.append(detection("cmdi.command-line"))  # ping -i 30 127.0.0.1: a blind time probe
        elif first.lower() in COMMANDS and _SYSTEM_PATH.search(rest) and _arguments(rest):
            found.append(detection("cmdi.command-line"))  # cat /etc/passwd: nothing but a command line
        elif (
            first.lower() in COMMANDS
            and _ARGUMENT.match(" " + rest)
            and re.search(r"-\w|\d+\.\d+\.\d+|[/\\]", rest)
        ):
            found.append(detection("cmdi.command-line", 0.8))
    return found
