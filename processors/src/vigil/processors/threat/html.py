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
  (``xss.js-break``);
- inline CSS that does not parse as declarations: braces or brackets breaking out of the
  ``style`` attribute, escapes spelling letters (``\\63olor``), comments or control characters
  inside words and strings (``xss.css-break``);
- XML that pulls code or content into the page: external entities
  (``<!ENTITY x SYSTEM "http://...">``, ``xss.external-entity``), XSLT stylesheets, IE behaviour
  imports (``<?import implementation=...>``) and XML Events handlers (``ev:event="load"``).

Tag and attribute names are read without their namespace prefix (``<x:script>`` is a script).

Plain markup (``<b>``, ``<a href="https://...">``, ``<div class="x">``), comparisons
(``a < b``), generics (``List<String>``) and prose mentioning JavaScript stay quiet.
A NUL byte is read both ways old browsers read it: removed (``<scr\\x00ipt>``) and as the end of
a name (``<object\\x00x data=...>``).
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
# A quote that ends an attribute value, then a handler: " onmouseover=...; or, after a few
# injected name=value pairs, a handler of a real DOM event: " type=image src=x onerror=...
_HANDLER_BREAK = re.compile(
    r"""["'`][\s/]*on[a-z]{3,}\s*="""
    r"""|["'`][\s/]*(?:[\w:-]+\s*=\s*(?:"[^"]*"|'[^']*'|[^\s"'`>]+)[\s/]+){1,4}on(?:abort|after|animation|"""
    r"""auxclick|before|begin|blur|bounce|can|change|click|close|context|copy|cue|cut|dblclick|drag|drop|"""
    r"""duration|emptied|end|error|filter|finish|focus|form|fullscreen|hash|input|invalid|key|load|lose|"""
    r"""message|mouse|move|offline|online|page|paste|pause|play|pointer|popstate|progress|property|rate|"""
    r"""ready|repeat|reset|resize|scroll|search|seek|select|show|stalled|start|storage|submit|suspend|time|"""
    r"""toggle|touch|transition|unload|volume|waiting|wheel)[a-z]*\s*="""
)
_CSS_SCRIPT = re.compile(r"expression\s*\(|binding\s*:|behaviou?r\s*:|@import|javascript:")
_CSS_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{1,6})\s?")
# CSS strings are kept whole when comments are removed (a "/*" inside a string starts none).
_CSS_COMMENT = re.compile(r"""("[^"\n]*"?|'[^'\n]*'?)|/\*.*?(?:\*/|\Z)""", re.DOTALL)
# What no declaration carries: brackets and control characters.
_CSS_JUNK = re.compile(r"[\[\]\x00-\x08\x0b\x0e-\x1f\x7f]")
_CSS_STRING = re.compile(r""""[^"]*"?|'[^']*'?""")
_CSS_DECLARATION = re.compile(r";\s*[-\w]+\s*:")
# An escape spelling an ASCII letter or digit (\63olor is color, \k is k); escapes of other
# characters (font names in CJK, icon-font code points) are ordinary.
_CSS_LETTER_ESCAPE = re.compile(r"\\(?:0{0,4}(?:3[0-9]|[46][1-9a-fA-F]|[57][0-9aA])(?![0-9a-fA-F])|[g-zG-Z])")
_CSS_GLUED_COMMENT = re.compile(r"\w/\*.*?\*/\w", re.DOTALL)
# An unquoted url( holding what ends a declaration or starts a comment: url(x/;color:red/*/y)
_CSS_BAD_URL = re.compile(r"""url\(\s*[^\s"')][^)]*?(?:\s+[^\s)]|;\s*[-\w]+\s*:|/\*)""", re.IGNORECASE)

_SINKS = (
    r"alert|confirm|prompt|eval|settimeout|setinterval|function|document\.(?:cookie|write|location|domain)"
    r"|window\.(?:location|open)|location\s*=|fetch|atob|string\.fromcharcode|top\[|self\[|this\["
)
_JS_BREAK = re.compile(
    rf"""(?:["'`]\s*[;,)+\-*|&]+|</script\s*>|^\s*[;)]+|&\{{)\s*(?:{_SINKS})\s*[(`=\[]?"""
    # a sink call that then closes the tag it was injected into: alert(1)//">, write(1) autofocus>
    rf"""|\b(?:alert|confirm|prompt|eval|write)\s*\([^()]*\)[\s;]*(?://)?["'`]?(?:\s+[a-z-]+)*[\s/]*>"""
    # any call ended as a statement, then a quote and a tag end: x(0);'>
    r"""|[\w$.]\s*\([^()]{0,40}\);\s*["'`]\s*>"""
    r"""|&\{[^}]{0,200}\}""",
)
# An event handler assigned a script sink outside a parsed tag: x onerror=alert(1)
# (old parsers cut a handler's name at punctuation: <body onload!#$%&()*~+-_.,:;?@[/|]^`=...>)
_HANDLER_SINK = re.compile(
    rf"""(?:^|[\s/"'`;.])on[a-z]{{3,}}(?:[^=>\s]{{0,40}}?|[^a-z0-9=>]{{0,40}}?)=[\s"'`]*(?:{_SINKS})"""
)
_HANDLER_NAME = re.compile(r"on[a-z]{3,}(?![\w-])")
_SCRIPT_TYPE = re.compile(r"(?:java|vb|ecma|live)script", re.IGNORECASE)
_UTF7 = re.compile(r"utf-?7", re.IGNORECASE)
_CALL = re.compile(r"[\w$.\]]\s*\(")
_CSS_BLOCK = re.compile(r"\{([^{}]*)\}")
# Matched against lower-cased text: <?import implementation=...>, <?xml-stylesheet type="text/xsl"?>
_INSTRUCTION = re.compile(r"<\?\s*(import|xml-stylesheet|xml:namespace)\b([^>]{0,200})")
_EXTERNAL_ENTITY = re.compile(r"<!entity\s+(?:%\s*)?[^\s>]+\s+(?:system|public)\b")

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


def _css_uncomment(value: str) -> str:
    return _CSS_COMMENT.sub(lambda m: m.group(1) or "", value)


def _css_script(value: str) -> bool:
    css = _css_unescape(value)
    if _CSS_SCRIPT.search(_CONTROL.sub("", _SPLITTERS.sub("", css)).lower()):
        return True
    # the same with quoted strings kept whole: no\k("*//*");ex/*x*/pression( is expression(
    return "/*" in css and bool(_CSS_SCRIPT.search(_CONTROL.sub("", _css_uncomment(css)).lower()))


def _css_break(css: str, *, block: bool = False) -> bool:
    """Whether CSS declarations (a ``style`` attribute, or the inside of one ``{...}`` block of a
    stylesheet when ``block``) break out of their structure or hide words, as CSS injection does."""
    if _CSS_JUNK.search(css) or ("\\" in css and _CSS_LETTER_ESCAPE.search(css)):
        return True
    if block:
        if "/*" in css and _CSS_GLUED_COMMENT.search(css):
            return True  # gre/**/en
    elif "{" in css or "}" in css or "/*" in css:
        return True  # out of the attribute's declarations, or a comment hiding a word
    if "url(" in css.lower() and _CSS_BAD_URL.search(css):
        return True
    if "'" in css or '"' in css:
        for string in _CSS_STRING.finditer(css):
            if "\n" in string.group() or _CSS_DECLARATION.search(string.group()):
                return True  # a line break ends a string early; font-family:'x;color:red'
    return False


MAX_TAGS = 100
"""Tags judged per value: payloads need a handful, hostile input may carry thousands."""
MAX_SHEET = 4096
"""Characters of a ``<style>`` element's stylesheet that are judged."""


def _judge_tags(text: str, found: list[Detection], depth: int = 0) -> None:
    sheets_until = 0  # the end of the last <style> sheet judged: a sheet is read once
    for count, tag in enumerate(_TAG.finditer(text)):
        if count >= MAX_TAGS:
            break
        name = tag.group(2).lower()
        if ":" in name:
            name = name.rpartition(":")[2]  # <x:script xmlns:x="http://www.w3.org/1999/xhtml">
        if name.startswith("script") and not tag.group(1):
            found.append(detection("xss.script-tag"))
        elif name == "script":
            found.append(detection("xss.script-tag", 0.7))  # </script>: breaking out of a script block
        elif name == "style" and not tag.group(1) and tag.start() >= sheets_until:
            close = text.find(">", tag.end(), tag.end() + 1024)
            start = close + 1 if close >= 0 else tag.end()
            end = text.find("</", start, start + MAX_SHEET)
            sheets_until = end if end >= 0 else min(len(text), start + MAX_SHEET)
            sheet = text[start:sheets_until]
            if _css_script(sheet):
                found.append(detection("xss.css-injection"))
            elif "{" in sheet and any(_css_break(b.group(1), block=True) for b in _CSS_BLOCK.finditer(sheet)):
                found.append(detection("xss.css-break"))
        elif name == "handler" and not tag.group(1) and _CALL.search(text, tag.end(), tag.end() + 512):
            found.append(detection("xss.event-handler"))  # an XML Events handler holds script
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
            if ":" in attr_name and attr_name.endswith(":event") and value.isalpha():
                found.append(detection("xss.event-handler"))  # XML Events: ev:event="load"
            elif attr_name == "style":
                css = _css_unescape(value)
                if _css_script(css):
                    found.append(detection("xss.css-injection"))
                elif _css_break(value):
                    found.append(detection("xss.css-break"))
                if "<" in css and depth < 2:
                    _judge_tags(css, found, depth + 1)
            elif attr_name in _URL_ATTRIBUTES or attr_name.endswith("href"):
                if _script_url(value):
                    found.append(detection("xss.js-url"))
                elif "//" in value and (dangerous or name in ("link", "style")):
                    active = True
                elif dangerous and attr_name in ("src", "data", "href", "code", "classid", "srcdoc"):
                    active = True
                elif dangerous and attr_name == "content" and (name != "meta" or "url" in value.lower()):
                    active = True  # <meta name="viewport" content="width=device-width"> loads nothing
            elif attr_name in ("type", "language") and _SCRIPT_TYPE.search(value):
                found.append(detection("xss.script-tag", 0.9))
            elif attr_name == "attributename" and value.lower().startswith("on"):
                found.append(detection("xss.event-handler"))  # SVG <set attributeName="onload" to="...">
            elif attr_name == "http-equiv" and value.lower() in (
                "refresh",
                "set-cookie",
                "content-type",
                "link",
            ):
                active = True
            elif attr_name == "dataformatas" and value.lower() == "html":
                dangerous = active = True  # IE data binding renders a data source as HTML
            elif attr_name == "implementation":
                dangerous = active = True  # IE binds a behaviour (script) to markup: <import implementation=>
            elif attr_name == "charset" and name == "meta" and _UTF7.search(value):
                active = True  # the page re-read as UTF-7, where +ADw- is <
        tag_text = text[tag.start() : pos]
        if "=" in tag_text and _SCHEME.search(_CONTROL.sub("", _SPLITTERS.sub("", tag_text))):
            found.append(detection("xss.js-url"))
        if dangerous:
            found.append(detection("xss.dangerous-tag", 1.0 if active else 0.75))
        elif name in _ACTIVE_CONTAINERS:
            found.append(detection("xss.dangerous-tag", 1.0 if active else 0.4))


def _judge_xml(lower: str, found: list[Detection]) -> None:
    """Processing instructions and entity declarations that pull code or content into a page."""
    if "<?" in lower:
        for instruction in _INSTRUCTION.finditer(lower):
            target, rest = instruction.groups()
            if target == "xml-stylesheet":  # XSLT runs script; a CSS sheet only restyles
                found.append(detection("xss.dangerous-tag", 1.0 if "xsl" in rest else 0.75))
            else:  # IE behaviours and namespaces: import, xml:namespace
                found.append(detection("xss.dangerous-tag"))
    if "<!" in lower and _EXTERNAL_ENTITY.search(lower):
        found.append(detection("xss.external-entity"))


def analyse(text: str) -> list[Detection]:
    """XSS detections in a value (already decoded), strongest per rule."""
    found: list[Detection] = []
    if "\x00" in text:
        # Old browsers either dropped a NUL (<scr\0ipt>) or ended a name at it (<object\0x data=>)
        found += _analyse(text.replace("\x00", " "))
        text = text.replace("\x00", "")
    found += _analyse(text)
    best: dict[str, Detection] = {}
    for item in found:
        if item.rule not in best or item.score > best[item.rule].score:
            best[item.rule] = item
    return list(best.values())


def _analyse(text: str) -> list[Detection]:
    found: list[Detection] = []
    lower = text.lower()
    if "<" in text:
        _judge_tags(text, found)
        _judge_xml(lower, found)
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
    return found
