"""Cross-site scripting: recall on the attack corpora, false positives on benign values."""

from __future__ import annotations

import time

import pytest

from tests.processors.threat import corpora
from tests.processors.threat.measure import NONE_FLAGGED, benign_hits, false_positives, recall
from vigil.processors.threat import html
from vigil.processors.threat.decoding import decode
from vigil.processors.threat.verdict import combine


def detect(value: str):
    return html.analyse(decode(value, query=True))


def test_recall_on_libinjection_xss():
    # Missed: html5sec.org tests that run nothing by themselves ("<svg>", "<svg:mast id=foo>",
    # <math><a xlink:href="//host/">, SVG fonts and images in CSS, an XSLT root element).
    assert recall("libinjection xss-*", corpora.libinjection_xss(), detect).rate >= 0.985


def test_recall_on_httpparams_xss():
    assert recall("httpparams xss attacks", corpora.httpparams_attacks("xss"), detect).rate >= 0.99
    # All rows: values the dataset stripped of their "<" ("scriptalert(1)/script"), plain links and
    # fragments without script (see the exclusions) are missed, as they should be.
    assert recall("httpparams xss", corpora.httpparams_label("xss"), detect).rate >= 0.965


def test_excluded_rows_are_counted():
    assert list(corpora.httpparams_excluded("xss").values()) == [4, 3, 3]


def test_recall_on_our_own_xss():
    ours = [v for category, v in corpora.attack_values() if category == "xss"]
    assert recall("vigil attack_values xss", ours, detect).rate == 1.0


def test_false_positives_on_benign_values():
    assert benign_hits(detect) == NONE_FLAGGED
    assert false_positives("libinjection sqli-* as XSS", corpora.libinjection_sqli(), detect).hits == 0


@pytest.mark.parametrize(
    "value",
    [
        "<b>bold</b>",
        '<a href="https://example.com/a?b=1">x</a>',
        '<img src="cat.jpg" alt="a cat">',
        "a < b && c > d",
        "List<String>",
        "Press <Enter>",
        "javascript: the good parts",
        "onload event",
        '<div onclick-handler="none">',
        "I <3 NY",
        "x => x * 2",
        '<p style="color: red">hi</p>',
        "the <iframe> element",
        # a rich-text editor's markup: inline styles, pasted e-mail HTML, icon fonts, CJK font names
        "<p style=\"margin: 0cm; font-size: 11pt; font-family: 'Calibri', sans-serif;\">Hello</p>",
        '<span style="font-family: &quot;Helvetica Neue&quot;, Arial; font-size: 14px;">Thanks</span>',
        "<span style=\"font-family: '\\5FAE\\8F6F\\96C5\\9ED1', sans-serif;\">微软雅黑</span>",
        "<i class=\"icon\" style=\"font-family: 'Font Awesome'; content: '\\f101';\"></i>",
        '<div style="background-image: url(data:image/png;base64,iVBORw0KGgo=); width: 1px">x</div>',
        "<span style=\"background: url('https://cdn.example.com/bg.png') no-repeat\">banner</span>",
        '<p style="color: red;\n  font-weight: bold">two lines</p>',
        # stylesheets, XML and documents quoted in a support form
        '<style>.btn { color: #fff; } /* primary */ input[type="text"] { border: 1px solid #ccc; }</style>',
        "<style>@media (max-width: 600px) { .nav { display: none; } }</style>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        '<meta charset="utf-8">',
        '<?xml version="1.0" encoding="UTF-8"?>',
        '<!DOCTYPE note SYSTEM "Note.dtd">',
        '<!DOCTYPE doc [<!ENTITY company "Example Inc.">]><doc>&company;</doc>',
        '<svg width="24" height="24" viewBox="0 0 24 24"><path d="M12 2L2 7z"/></svg>',
        # quotes and words that look like injected attributes
        'She said "see you at 5" on Monday',
        'the fields "name" and "email" only=true',
        'search "shoes" size=10 onsale=true',  # no DOM event is called "sale"
        'filter "red" price=5 online=yes',  # the handler of the online event is "ononline"
        '<img src="graph.png" alt="f(x)">',
    ],
)
def test_markup_and_prose_stay_quiet(value):
    assert combine(detect(value)) < 0.5


@pytest.mark.parametrize(
    "value,rule",
    [
        ("<ScRiPt>alert(1)</ScRiPt>", "xss.script-tag"),
        ("<scr\x00ipt>alert(1)</script>", "xss.script-tag"),
        # libinjection's tbd-xss-github-issue-68.txt: a NUL that ends the tag name for old browsers
        ("%3Cobject%00IRSDL%20allowScriptAccess%3Dalways%20data%3D%2F%2F0me.me%2Fx.swf", "xss.dangerous-tag"),
        ("<svg/onload=alert(1)>", "xss.event-handler"),
        ('" autofocus onfocus="alert(1)', "xss.event-handler"),
        ('<a href="jav&#x09;ascript:alert(1)">', "xss.js-url"),
        ('<a href="java\nscript:alert(1)">', "xss.js-url"),
        ("%253Cimg%2520src%253Dx%2520onerror%253Dalert(1)%253E", "xss.event-handler"),
        ("+ADw-script+AD4-alert(1)+ADw-/script+AD4-", "xss.script-tag"),
        ('<embed src="data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+">', "xss.js-url"),
        ('<p style="x:\\65 xpression(alert(1))">', "xss.css-injection"),
        ("</script><svg onload=alert(1)>", "xss.event-handler"),
        # namespaces: the local name decides
        ('<x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>', "xss.script-tag"),
        # handlers injected after other attributes, and handlers old parsers cut at punctuation
        ('" type=image src=null onerror=alert(1) "', "xss.event-handler"),
        ("<body onload!#$%&()*~-_.,:;?@[/|]^`=document.cookie=true;>", "xss.event-handler"),
        (
            '<x xmlns:ev="http://www.w3.org/2001/xml-events" ev:event="load" ev:handler="#x"/>',
            "xss.event-handler",
        ),
        ('<handler ev:event="load">alert(1)</handler>', "xss.event-handler"),
        # a sink call that closes the tag it was injected into
        ('alt=alert(1)//">', "xss.js-break"),
        ("write(1) autofocus>", "xss.js-break"),
        ("x(0);'>", "xss.js-break"),
        # CSS: comments inside words with a "/*" in a string before them; declarations breaking out
        ("<a style='no\\x:no(\"*//*\");x:ex/*x*//*/*/pression(alert(1))'>", "xss.css-injection"),
        ('<div style="font-family:foo}color=red;">x</div>', "xss.css-break"),
        (
            '<div style="font-family:foo{bar;background:url(http://x.example/a};color:red/*/b.jpg);">',
            "xss.css-break",
        ),
        ("<div style=\"font-family:'foo[a];color:red;';\">x</div>", "xss.css-break"),
        ('<div style="\\63&#9\\06f&#10\\0006c:red">x</div>', "xss.css-break"),
        ('<div style="background:url(http://x.example/f oo/;color:red/*/foo.jpg);">x</div>', "xss.css-break"),
        ("<style>#x{font-family:foo[bar;color:green;}</style>", "xss.css-break"),
        ("<style>*{color:gre/**/en}</style>", "xss.css-break"),
        # XML pulling code or content in: external entities, XSLT, IE behaviours, a UTF-7 page
        ('<!DOCTYPE x [<!ENTITY x SYSTEM "http://evil.example/x">]><y>&x;</y>', "xss.external-entity"),
        ('<?xml-stylesheet type="text/xsl" href="#"?><x/>', "xss.dangerous-tag"),
        ('<?import namespace="t" implementation="#default#time2">', "xss.dangerous-tag"),
        ('<import namespace="t" implementation="#default#time2">', "xss.dangerous-tag"),
        ('<meta charset="x-imap4-modified-utf7">&ADz&AGn', "xss.dangerous-tag"),
        (
            '<meta http-equiv="Link" content="<https://evil.example/x.css>; rel=stylesheet">',
            "xss.dangerous-tag",
        ),
    ],
)
def test_evasions_are_seen_through(value, rule):
    found = html.analyse(decode(value))
    assert rule in {d.rule for d in found} and combine(found) >= 0.5, found


@pytest.mark.parametrize(
    "piece", ["<style>a{b:c}", "<style>{a/*", '<a style="x', '" a=b ', "<?import ", "\\6"]
)
def test_stylesheets_and_attributes_cost_bounded_time(piece):
    # Undecoded and unclipped: html.analyse alone bounds its work (tags, sheet length).
    value = piece * (50_000 // len(piece))
    started = time.perf_counter()
    html.analyse(value)
    assert time.perf_counter() - started < 0.25
