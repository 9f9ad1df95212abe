"""Server-side request forgery: internal targets in values the server may fetch.

Looked for in URL-shaped values (``scheme://host...``) and bare hosts, once decoded:

- ``ssrf.cloud-metadata``: the instance-metadata endpoints of cloud providers
  (``169.254.169.254``, ``fd00:ec2::254``, ``metadata.google.internal``, ``100.100.100.200``,
  ``169.254.170.2``), in any notation;
- ``ssrf.obfuscated-ip``: a host written as a single decimal, hex or octal number, or with
  octal/hex parts (``2130706433``, ``0x7f000001``, ``0177.0.0.1``): only evasions look like this;
- ``ssrf.loopback``: ``localhost``, ``127.0.0.0/8``, ``0.0.0.0``, ``[::1]``: a suspicion, since
  development setups pass such URLs legitimately (OAuth ``redirect_uri=http://localhost:3000``);
- ``ssrf.private-host``: RFC 1918 and link-local addresses: a weaker suspicion;
- ``ssrf.scheme``: ``gopher:``, ``dict:``, ``ldap:``, ``tftp:``, ``jar:``, ``netdoc:`` URLs,
  used to talk to internal services through a fetcher.
"""

from __future__ import annotations

import ipaddress
import re

from vigil.processors.threat.rules import Detection, detection

_URL = re.compile(
    r"""(?:^|[\s"'=(,;])([a-z][a-z0-9+.-]{1,15}):/{1,3}(?:[^\s/@?#]*@)?(\[[0-9a-f:.]+\]|[^\s/:?#\\"'<>]+)""",
    re.IGNORECASE,
)
_BARE_HOST = re.compile(r"^\s*(\[[0-9a-f:.]+\]|[\w.-]+)(?::\d+)?(?:/\S*)?\s*$", re.IGNORECASE)
_METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata", "instance-data", "metadata.azure.com"})
_METADATA_IPS = frozenset(
    ipaddress.ip_address(a) for a in ("169.254.169.254", "fd00:ec2::254", "100.100.100.200", "169.254.170.2")
)
_LOOPBACK_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
_INTERNAL_SCHEMES = frozenset({"gopher", "dict", "ldap", "tftp", "jar", "netdoc", "sftp", "expect", "phar"})
_NUMERIC_PART = re.compile(r"^(?:0x[0-9a-f]+|0[0-7]*|[1-9]\d*)$", re.IGNORECASE)


def _parse_ip(host: str) -> tuple[ipaddress.IPv4Address | ipaddress.IPv6Address | None, bool]:
    """The address ``host`` denotes, and whether it was written in an evasive notation."""
    host = host.strip("[]").rstrip(".")
    try:
        return ipaddress.ip_address(host), False
    except ValueError:
        pass
    parts = host.split(".")
    if not 1 <= len(parts) <= 4 or not all(_NUMERIC_PART.match(p) for p in parts):
        return None, False
    try:
        values = [
            int(p, 16) if p.lower().startswith("0x") else int(p, 8) if len(p) > 1 and p[0] == "0" else int(p)
            for p in parts
        ]
    except ValueError:
        return None, False
    # inet_aton: the last part fills the remaining bytes
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (5 - len(values)):
        return None, False
    number = 0
    for v in head:
        number = number << 8 | v
    number = number << 8 * (5 - len(values)) | last
    return ipaddress.IPv4Address(number), True


def _judge_host(host: str, found: list[Detection], url: bool) -> None:
    lower = host.lower().strip("[]")
    if lower in _METADATA_HOSTS:
        if url or "." in lower:
            found.append(detection("ssrf.cloud-metadata"))
        return
    if lower in _LOOPBACK_NAMES or lower.endswith(".localhost"):
        found.append(detection("ssrf.loopback", 1.0 if url else 0.6))
        return
    ip, evasive = _parse_ip(lower)
    if ip is None:
        return
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    if evasive and not url:
        return  # a bare "3.14159" is a number, not an address
    if ip in _METADATA_IPS:
        found.append(detection("ssrf.cloud-metadata"))
    elif evasive:
        found.append(detection("ssrf.obfuscated-ip"))
    elif ip.is_loopback or ip.is_unspecified:
        found.append(detection("ssrf.loopback", 1.0 if url else 0.6))
    elif ip.is_link_local or ip.is_private:
        found.append(detection("ssrf.private-host", 1.0 if url else 0.6))


def analyse(text: str) -> list[Detection]:
    """SSRF detections in a value (already decoded)."""
    found: list[Detection] = []
    if "://" in text or ":/" in text:
        for match in _URL.finditer(text):
            scheme, host = match.group(1).lower(), match.group(2)
            if scheme in _INTERNAL_SCHEMES:
                found.append(detection("ssrf.scheme"))
            _judge_host(host, found, url=True)
    elif len(text) < 256 and ("." in text or text.startswith("[")):
        bare = _BARE_HOST.match(text)
        if bare:
            _judge_host(bare.group(1), found, url=False)
    return found
