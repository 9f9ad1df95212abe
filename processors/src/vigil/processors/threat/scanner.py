"""Known attack tools, recognised by the user agent they send (``user_agent.original``).

Only tools whose user agent names them and whose use against a service is an attack or a
reconnaissance probe: SQL-injection and exploitation tools (sqlmap, Havij, commix), vulnerability
scanners (Nikto, Nuclei, Acunetix, Netsparker, OpenVAS, Nessus, w3af, Arachni, Skipfish, WPScan,
ZAP), content brute-forcers (DirBuster, gobuster, ffuf, wfuzz, feroxbuster) and internet-wide
port scanners (masscan, Nmap's scripting engine, zgrab). Ordinary clients (curl, python-requests,
Go, browsers, search-engine crawlers) are not scanners. Results are cached: a service sees a few
distinct user agents many times (the scorer caches what it finds per user agent).
"""

from __future__ import annotations

import re

from vigil.processors.threat.rules import Detection, detection

# Tool names as words of the lower-cased user agent, and the few that are phrases.
_TOOLS = frozenset(
    "sqlmap havij commix nikto nuclei acunetix netsparker openvas nessus w3af arachni skipfish wpscan zaproxy"
    " dirbuster gobuster ffuf wfuzz feroxbuster masscan zgrab jaeles xsstrike sqlninja bsqlbf pangolin zmeu"
    " morfeus dirb wapiti whatweb appscan webinspect brutus".split()
)
_PHRASES = (
    "owasp zap",
    "owasp_zap",
    "fuzz faster u fool",
    "nmap scripting engine",
    "burp collaborator",
    "qualys was",
    "hydra/",
    "medusa/",
)
_EXPLOIT_TOOLS = frozenset({"sqlmap", "havij", "commix", "sqlninja", "bsqlbf", "pangolin", "xsstrike"})
_WORD = re.compile(r"[a-z0-9]+")


def analyse(user_agent: str) -> tuple[Detection, ...]:
    """A scanner detection for ``user_agent``, if it names an attack tool."""
    lower = user_agent[:512].lower()
    tools = _TOOLS.intersection(_WORD.findall(lower))
    if not tools and not any(phrase in lower for phrase in _PHRASES):
        return ()
    return (detection("scanner.user-agent", 1.1 if tools & _EXPLOIT_TOOLS else 1.0),)
