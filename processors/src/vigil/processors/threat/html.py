"""Cross-site scripting, judged by tokenising a value as HTML the way a browser would.

The value is scanned for tags (``<`` followed by a letter, as browsers require) and each tag's
attributes are parsed: names, ``=``, quoted or bare values, separated by whitespace or ``/``.
What runs script is judged, not words:

- ``<script>`` elements (``xss.script-tag``);
- ``on*`` event-handler attributes on any element, known or invented (``<x onclick=...>``), and
  quote breaks that start a new handler attribute inside an existing tag: ``" onmouseover="...``
  (``xss.event-handler``);
- ``javascript:``, ``vbscript:`` and ``data:text/html`` (or SVG/XML) URLs, with the control
  characters and entities browsers ignore removed (``java&Tab;script:``) (``xss.js-url``);
- elements that load active content (``iframe``, ``object``, ``embed``, ``base``, ``meta``
  refresh, ...) (``xss.dangerous-tag``) and script in CSS (``expression()``, ``-moz-binding``,
  ``behavior:``) (``xss.css-injection``);
- a quote or ``</script>`` break followed by a call of a script sink: ``';alert(1)//``
  (``xss.js-break``).

Plain markup (``<b>``, ``<a href="https://...">``, ``<div class="x">``), comparisons
(``a < b``), generics (``List<String>``) and prose mentioning JavaScript stay quiet.
NUL bytes are removed first, as old browsers did (``<scr\\x00ipt>``).
"""

from __future__ import annotations

import base64
import re

from vigil.processors.threat.rules import Detection, detection

_TAG = re.compile(r"<(/?)([A-Za-z][^\s/><\x00]*)")
_ATTRIBUTE = re.compile(
    r"""[\s/]*([^\s/>=]+)(?:\s*=\s*("[^"]*"?|'[^']*'?|`[^`]*`?|[^\s>]*))?""",
)
_TAG_END = re.compile(r"[\s/]*>")
_CONTROL = re.compile(r"[\x00-\x20\ufffd]+")
# Markup that splits a word inside a value without changing what the browser or parser sees.
_SPLITTERS = re.compile(r"<!--.*?(?:-->|\Z)|\]\]>\s*<!\[cdata\[|/\*.*?(?:\*/|\Z)", re.IGNORECASE | re.DOTALL)
_SCHEME = re.compile(
    r"(?:java|vb|live|ecma)script:|data:(?:text/html|image/svg|application/(?:x-)?(?:xhtml|xml|javascript|ecmascript))"
    r"|mocha:",
    re.IGNORECASE,
)
# A script URL as a whole value, or anywhere after stripping what browsers strip: it must be
# followed by something script-like (a call, an assignment, a property), not by prose.
_JS_URL = re.compile(r"(?:java|vb|live|ecma)script:\s*(?:/|[\w$.\[\]'\"`]*\s*[(=`.\[])", re.IGNORECASE)
_DATA_URL = re.compile(r"data:[\w/+.-]*(?:;[\w=.+-]*)*;base64,([A-Za-z0-9+/=\s]{8,})", re.IGNORECASE)
# These are matched against lower-cased text.
_HANDLER_BREAK = re.compile(r"""["'`][\s/]*on[a-z]{3,}\s*=""")
_CSS_SCRIPT = re.compile(r"expression\s*\(|binding\s*:|behaviou?r\s*:|@import|javascript:")
_CSS_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{1,6})\s?")
_SINKS = (
    r"alert|confirm|prompt|eval|settimeout|setinterval|function|document\.(?:cookie|write|location|domain)"
    r"|window\.(?:location|open)|location\s*=|fetch|atob|string\.fromcharcode|top\[|self\[|this\["
)
_JS_BREAK = re.compile(
    rf"""(?:["'`]\s*[;,)+\-*|&]+|</script\s*>|^\s*[;)]+|&\{{)\s*(?:{_SINKS})\s*[(`=\[]?"""
    rf"""|\b(?:alert|confirm|prompt|eval|write)\s*\([^()]*\)[\s;]*["'`]?[\s/]*>"""
    r"""|&\{[^}]{0,200}\}""",
)
# An event handler assigned a script sink outside a parsed tag: x onerror=alert(1)
_HANDLER_SINK = re.compile(rf"""(?:^|[\s/"'`;.])on[a-z]{{3,}}[^=>\s]{{0,40}}?=[\s"'`]*(?:{_SINKS})""")
_HANDLER_NAME = re.compile(r"on[a-z]{3,}(?![\w-])")
_SCRIPT_TYPE = re.compile(r"(?:java|vb|ecma|live)script", re.IGNORECASE)

_DANGEROUS_TAGS = frozenset(
    "iframe frame frameset object embed applet base meta import bgsound layer ilayer isindex portal "
    "xml handler listener".split()
)
_ACTIVE_CONTAINERS = frozenset(
    {"svg", "math", "style", "link", "form", "template", "noscript", "animate", "set"}
)
_URL_ATTRIBUTES = frozenset(
    "href src action formaction data background lowsrc dynsrc poster xlink:href from to values by "
    "content code codebase srcdoc style url folder datasrc xmlns ping icon manifest cite longdesc "
    "profile usemap classid".split()
)


def _unquote(value: str) -> str:
    if value[:1] in "\"'`":
        value = value[1:]
        if value[-1:] in "\"'`":
            value = value[:-1]
    return value


def _script_url(value: str) -> bool:
    squeezed = _CONTROL.sub("", _SPLITTERS.sub("", value))
    if _SCHEME.search(squeezed):
        return True
    data = _DATA_URL.search(squeezed)
    if data:
        try:
            inner = base64.b64decode(data.group(1)[:4096] + "==", validate=False).decode("latin-1")
        except ValueError:
            return False
        return "<" in inner and bool(analyse(inner))
    return False


def _css_unescape(value: str) -> str:
    if "\\" in value:
        value = _CSS_ESCAPE.sub(lambda m: chr(min(int(m.group(1), 16), 0x10FFFF)), value)
        value = value.replace("\\", "")
    return value


def _css_script(value: str) -> bool:
    return bool(_CSS_SCRIPT.search(_CONTROL.sub("", _SPLITTERS.sub("", _css_unescape(value))).lower()))


MAX_TAGS = 100
"""Tags judged per value: payloads need a handful, hostile input may carry thousands."""


def _judge_tags(text: str, found: list[Detection], depth: int = 0) -> None:
    for count, tag in enumerate(_TAG.finditer(text)):
        if count >= MAX_TAGS:
            break
        name = tag.group(2).lower()
        if name.startswith("script") and not tag.group(1):
            found.append(detection("xss.script-tag"))
        elif name == "script":
            found.append(detection("xss.script-tag", 0.7))  # </script>: breaking out of a script block
        elif name == "style":
            end = text.find("</", tag.end())
            if _css_script(text[tag.end() : end if end >= 0 else len(text)]):
                found.append(detection("xss.css-injection"))
        pos = tag.end()
        dangerous = name in _DANGEROUS_TAGS
        active = False
        for _ in range(64):
            end = _TAG_END.match(text, pos)
            if end or pos >= len(text):
                break
            attr = _ATTRIBUTE.match(text, pos)
            if attr is None or attr.end() == pos:
                pos += 1
                continue
            pos = attr.end()
            attr_name = attr.group(1).lower().lstrip("\"'`")
            value = attr.group(2)
            if value is not None and _HANDLER_NAME.match(attr_name):
                found.append(detection("xss.event-handler"))
                continue
            if value is None:
                continue
            value = _unquote(value)
            if attr_name == "style":
                css = _css_unescape(value)
                if _css_script(css):
                    found.append(detection("xss.css-injection"))
                if "<" in css and depth < 2:
                    _judge_tags(css, found, depth + 1)
            elif attr_name in _URL_ATTRIBUTES or attr_name.endswith("href"):
                if _script_url(value):
                    found.append(detection("xss.js-url"))
                elif "//" in value and (dangerous or name in ("link", "style")):
                    active = True
                elif dangerous and attr_name in (
                    "src",
                    "data",
                    "href",
                    "code",
                    "content",
                    "classid",
                    "srcdoc",
                ):
                    active = True
            elif attr_name in ("type", "language") and _SCRIPT_TYPE.search(value):
                found.append(detection("xss.script-tag", 0.9))
            elif attr_name == "attributename" and value.lower().startswith("on"):
                found.append(detection("xss.event-handler"))  # SVG <set attributeName="onload" to="...">
            elif attr_name == "http-equiv" and value.lower() in ("refresh", "set-cookie", "content-type"):
                active = True
            elif attr_name == "dataformatas" and value.lower() == "html":
                dangerous = active = True  # IE data binding renders a data source as HTML
        tag_text = text[tag.start() : pos]
        if "=" in tag_text and _SCHEME.search(_CONTROL.sub("", _SPLITTERS.sub("", tag_text))):
            found.append(detection("xss.js-url"))
        if dangerous:
            found.append(detection("xss.dangerous-tag", 1.0 if active else 0.75))
        elif name in _ACTIVE_CONTAINERS:
            found.append(detection("xss.dangerous-tag", 1.0 if active else 0.4))


def analyse(text: str) -> list[Detection]:
    """XSS detections in a value (already decoded), strongest per rule."""
    if "\x00" in text:
        text = text.replace("\x00", "")
    found: list[Detection] = []
    lower = text.lower()
    if "<" in text:
        _judge_tags(text, found)
    if "script" in lower or "data:" in lower:
        squeezed = _CONTROL.sub("", _SPLITTERS.sub("", lower))
        if _JS_URL.search(squeezed) or ("data:" in squeezed and _script_url(squeezed)):
            found.append(detection("xss.js-url"))
    if "on" in lower and "=" in text and (_HANDLER_BREAK.search(lower) or _HANDLER_SINK.search(lower)):
        found.append(detection("xss.event-handler", 0.9))
    if ("(" in text or "`" in text or "&{" in text) and _JS_BREAK.search(lower):
        found.append(detection("xss.js-break"))
    if "expression" in lower and _css_script(text) and ":" in text:
        found.append(detection("xss.css-injection", 0.8))
    best: dict[str, Detection] = {}
    for item in found:
        if item.rule not in best or item.score > best[item.rule].score:
            best[item.rule] = item
    return list(best.values())
