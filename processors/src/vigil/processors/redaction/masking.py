"""Masking secrets and personal data in values: what counts as a secret, and what is left of it.

One :class:`Masker` serves the redaction scorer (:mod:`vigil.processors.redaction.scorer`), which
masks the spans and log records leaving the sidecar, and the threat events
(:mod:`vigil.processors.threat.reporting`), which quote offending values (:func:`mask_secrets`).
What is masked becomes ``REDACTED``, the word the semantic conventions use for ``url.full`` and
``url.query``; the rest of the value stays, so that what a request did is still readable.

What is masked
--------------
Secrets found by their name:
    the value of a query parameter, a ``name=value``, ``name: value`` or ``"name": "value"`` pair
    in text (log bodies, statements, headers), a cookie, a header or an attribute whose name says
    "secret" (:meth:`Masker.is_secret_name`): its last word is ``password``, ``passwd``,
    ``pass``, ``passphrase``, ``pwd``, ``pw``, ``secret``, ``token``, ``credential(s)``, ``auth``,
    ``authorization``, ``cookie``, ``signature``, ``sig``, ``apikey``, ``jwt``, ``otp``, ``ssn``,
    ``session``, ``sessionid``, ``sid``; or ``key`` after a qualifier (``api key``,
    ``access key``, ``secret key``, ``private key``, ``account key``, ...); or a compound word
    ends in one (``dbpassword``, ``accesstoken``, ``AWSAccessKeyId``); plus the names given as
    ``secret_names``. Quotes stay (``password = 'REDACTED'``), and so does an authorization scheme
    (``Authorization: Bearer REDACTED``).
Secrets found by their shape, wherever they are:
    ``Bearer`` and ``Basic`` credentials; user info in URLs (``https://REDACTED:REDACTED@host/``);
    JSON Web Tokens, AWS access key ids, GitHub, Slack, Stripe, OpenAI-style and Google API keys,
    PEM private keys (replaced whole).
Personal data:
    payment card numbers (``cards``, on by default): 13 to 19 digits starting with 2 to 6, spaces,
    dashes or ``+`` allowed between them, Luhn-valid; all but the last four digits become ``*``.
    E-mail addresses (``emails``, off by default: they are often the account an operator looks
    for): the local part becomes ``REDACTED`` (``REDACTED@example.com``), also when URL-encoded.

What is not
-----------
Names that only mention a secret: ``max_tokens``, ``token_type``, ``password_reset``,
``passwordless``, ``author``; ``key`` alone (``sort_key=name``); OAuth's ``code`` and ``state``.
SQL placeholders in a pair (``password = ?``, ``%s``, ``$1``, ``:pw``) are not secrets. Encoded
URLs nested in a parameter (``next=%2Fcb%3Ftoken%3Dx``) are not decoded. A card number must be
Luhn-valid and not run into other digits or letters, so order numbers and nanosecond timestamps
(which start with 1) stay.

Cost
----
Most values hold nothing to mask, so every method first looks for the few substrings any secret
needs (a secret word, a token prefix, ``@``, a run of digits) with plain ``in`` tests, which are
several times faster than a regular expression alternation; only values that pass are parsed. A
value with nothing to mask is returned as the very same string object.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from urllib.parse import unquote_plus

REDACTED = "REDACTED"

# The words of secret names. The distro's vigil.instrumentation.redaction has its own list for command
# lines (neither package can depend on the other); this one must stay the wider (tested).
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "passphrase",
        "pwd",
        "pw",
        "secret",
        "token",
        "credential",
        "credentials",
        "auth",
        "authorization",
        "cookie",
        "signature",
        "sig",
        "apikey",
        "jwt",
        "otp",
        "ssn",
        "session",
        "sessionid",
        "sid",
    }
)
# "key" alone is too common (sort_key, cache key): with one of these before it, it is a secret.
_KEY_QUALIFIERS = frozenset(
    {
        "api",
        "access",
        "secret",
        "private",
        "account",
        "master",
        "signing",
        "encryption",
        "auth",
        "client",
        "subscription",
        "shared",
        "license",
    }
)
# Compound words: "dbpassword", "accesstoken", "awsaccesskeyid", "jsessionid".
_SECRET_SUFFIXES = (
    "password",
    "passwd",
    "passphrase",
    "token",
    "secret",
    "apikey",
    "accesskey",
    "secretkey",
    "privatekey",
    "accesskeyid",
    "signature",
    "sessionid",
    "sessid",
)
# Lower-cased substrings one of which any secret-named pair contains ("sig" for signature, ...).
_NAME_HINTS = (
    "pass",
    "pw",
    "secret",
    "token",
    "auth",
    "cookie",
    "sig",
    "key",
    "cred",
    "jwt",
    "sess",
    "sid",
    "otp",
    "ssn",
)
# Case-sensitive prefixes of the token shapes below, by the character they need besides letters
# and digits (most values have neither "_" nor "-").
_SHAPE_HINTS = ("eyJ", "AKIA", "ASIA", "AIza")
_UNDERSCORE_SHAPE_HINTS = ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_", "k_live_", "k_test_")
_DASH_SHAPE_HINTS = ("xox", "sk-", "-----BEGIN")

_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")

# name=value, name: value, "name": "value" (a JSON key's closing quote before the colon). The value
# is only looked at (a lookahead): a pair whose name is no secret does not hide the pairs inside
# its value ("url=https://x/?token=abc").
_PAIR = re.compile(
    r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)(?P<sep>[\"']?[ \t]*[=:][ \t]*)"
    r"(?=(?P<value>\"[^\"\n]*\"|'[^'\n]*'|(?:(?i:bearer|basic|digest|negotiate|token)[ \t]+)?"
    r"[^\s&;,\"'<>(){}\[\]]+))"
)
_SCHEME = re.compile(r"(?i)(bearer|basic|digest|negotiate|token)([ \t]+)")
# A Bearer or Basic credential; _credential() decides whether the word after the scheme is one.
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)([ \t]+)([A-Za-z0-9._~+/=-]{8,})")
_HAS_DIGIT_OR_SYMBOL = re.compile(r"[0-9+/=._~-]")
_PLACEHOLDER = re.compile(r"\?|%s|%\(\w+\)s|\$\d+|:\w+|@\w+|REDACTED|[\"']REDACTED[\"']")
_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/?#@\s]+)@")
_TOKEN_SHAPES = re.compile(
    "|".join(
        (
            r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b",  # AWS access key id
            r"\bgh[pousr]_[A-Za-z0-9]{36,}",  # GitHub tokens
            r"\bgithub_pat_[A-Za-z0-9_]{22,}",
            r"\bxox[abprs]-[A-Za-z0-9-]{10,}",  # Slack
            r"\b[sr]k_(?:live|test)_[A-Za-z0-9]{16,}",  # Stripe
            r"\bsk-[A-Za-z0-9_-]{20,}",  # OpenAI-style secret keys
            r"\bAIza[0-9A-Za-z_-]{35}",  # Google API key
            r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}",  # JSON Web Token
            r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)",
        )
    ),
    re.DOTALL,
)
_CARD_HINT = re.compile(r"[2-6](?:[0-9 +-]|%20){11}")
_CARD = re.compile(r"(?<![\w.])[2-6](?:(?:[ +-]|%20)?\d){12,18}(?!\w|\.\d)")
_NOT_DIGIT = re.compile(r"\D")
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+-]+(@|%40)([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})(?![\w-])")
_CACHE_SIZE = 4096


def _has_shape_hint(value: str) -> bool:
    for hint in _SHAPE_HINTS:
        if hint in value:
            return True
    if "_" in value:
        for hint in _UNDERSCORE_SHAPE_HINTS:
            if hint in value:
                return True
    if "-" in value:
        for hint in _DASH_SHAPE_HINTS:
            if hint in value:
                return True
    return False


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = _NOT_DIGIT.sub("", match.group().replace("%20", " "))
    if not 13 <= len(digits) <= 19 or not _luhn(digits):
        return match.group()
    return "*" * (len(digits) - 4) + digits[-4:]


def _words(name: str) -> list[str]:
    """``apiKey`` -> [api, key]; ``X-Amz-Security-Token`` -> [x, amz, security, token]."""
    return [word for word in _NON_ALNUM.split(_CAMEL.sub(" ", name).lower()) if word]


def _is_secret(words: list[str], extra: frozenset[str]) -> bool:
    if not words:
        return False
    if extra and ("".join(words) in extra or words[-1] in extra):
        return True
    if len(words) > 1 and words[-1] == "id" and words[-2] in ("session", "secret"):
        return True
    if len(words) > 2 and words[-2:] == ["key", "id"]:  # AWS_ACCESS_KEY_ID: judge "access key"
        words = words[:-1]
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    if last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS:
        return True
    return len(last) > 5 and last.endswith(_SECRET_SUFFIXES)


class Masker:
    """Masks secrets (and card numbers, e-mail addresses) in values; see the module docstring.

    Each method takes a value of one kind and returns it masked, or the same object when there is
    nothing to mask. Thread-safe: its only state is a cache of name verdicts.
    """

    def __init__(self, *, cards: bool = True, emails: bool = False, secret_names: Iterable[str] = ()) -> None:
        self.cards = cards
        self.emails = emails
        self.secret_names = frozenset(secret_names)
        self._extra = frozenset("".join(_words(name)) for name in self.secret_names)
        extra_hints = tuple(sorted({_words(name)[-1] for name in self.secret_names if _words(name)}))
        self._hints = _NAME_HINTS + extra_hints
        self._names: dict[str, bool] = {}

    # --- names ----------------------------------------------------------------------------------

    def is_secret_name(self, name: str) -> bool:
        """Whether a parameter, pair, header or attribute called ``name`` holds a secret."""
        known = self._names.get(name)
        if known is None:
            if len(self._names) >= _CACHE_SIZE:
                self._names.clear()
            known = self._names[name] = _is_secret(_words(name), self._extra)
        return known

    # --- values ---------------------------------------------------------------------------------

    def worth_a_look(self, value: str) -> bool:
        """Whether ``value`` could hold anything to mask (false for nearly every benign value)."""
        low = value.lower()
        if "=" in value or ":" in value:  # a pair needs a separator
            for hint in self._hints:
                if hint in low:
                    return True
        if "bearer" in low or "basic" in low or _has_shape_hint(value):
            return True
        if "@" in value or "%40" in value:
            if self.emails or "://" in value:
                return True
        return self.cards and _CARD_HINT.search(value) is not None

    def text(self, value: str) -> str:
        """Free text (a log body, a statement, a header): pairs, credentials, shapes, cards."""
        if not self.worth_a_look(value):
            return value
        out = value
        if "://" in out:
            out = _USERINFO.sub(_redact_userinfo, out)
        out = self._pairs(out)
        out = _CREDENTIALS.sub(_credential, out)
        out = self._shapes(out)
        return value if out == value else out

    def query(self, query: str) -> str:
        """A raw query string (``url.query``; also a URL's fragment): secret-named parameters
        lose their value whole, up to the next ``&``."""
        if not self.worth_a_look(query):
            return query
        return self._query(query)

    def url(self, url: str) -> str:
        """A URL or request target (``url.full``, ``http.target``, ``Referer``): user info, the
        query and the fragment as query strings, and shapes anywhere."""
        if not self.worth_a_look(url):
            return url
        out = _USERINFO.sub(_redact_userinfo, url) if "@" in url else url
        base, hash_mark, fragment = out.partition("#")
        path, question_mark, query = base.partition("?")
        # Matrix parameters (";jsessionid=...") are pairs in the path.
        path = self._shapes(self._pairs(path) if ";" in path else path)
        if query:
            query = self._query(query)
        if fragment:
            fragment = self._query(fragment)
        out = f"{path}{question_mark}{query}{hash_mark}{fragment}"
        return url if out == url else out

    def header(self, name: str, value: str) -> str:
        """The value of HTTP header ``name`` (lower case; ``_`` or ``-`` between words)."""
        name = name.replace("_", "-")
        if name in ("authorization", "proxy-authorization"):
            scheme = _SCHEME.match(value)
            masked = f"{scheme[1]}{scheme[2]}{REDACTED}" if scheme else REDACTED
            return value if masked == value else masked
        if name == "cookie":
            return self._cookies(value, every=True)
        if name == "set-cookie":
            return self._cookies(value, every=False)
        if self.is_secret_name(name):
            return value if value == REDACTED else REDACTED
        if name in ("referer", "location", "content-location", "origin"):
            return self.url(value)
        return self.text(value)

    # --- parts ----------------------------------------------------------------------------------

    def _query(self, query: str) -> str:
        parts = query.split("&")
        changed = False
        for i, part in enumerate(parts):
            name, equals, value = part.partition("=")
            if not equals or not value or value == REDACTED:
                continue
            if "%" in name or "+" in name:
                name = unquote_plus(name)
            if self.is_secret_name(name):
                parts[i] = f"{part.partition('=')[0]}={REDACTED}"
                changed = True
        out = self._shapes("&".join(parts) if changed else query)
        return query if out == query else out

    def _cookies(self, value: str, every: bool) -> str:
        """``a=1; b=2`` -> ``a=REDACTED; b=REDACTED`` (Cookie); only the first pair of a
        Set-Cookie, whose others are attributes (``Path=/``)."""
        parts = value.split(";")
        for i, part in enumerate(parts if every else parts[:1]):
            name, equals, cookie = part.partition("=")
            if equals and cookie.strip() and cookie != REDACTED:
                parts[i] = f"{name}={REDACTED}"
        out = ";".join(parts)
        return value if out == value else out

    def _shapes(self, text: str) -> str:
        """Token shapes, card numbers and (if asked) e-mail addresses anywhere in ``text``."""
        if _has_shape_hint(text):
            text = _TOKEN_SHAPES.sub(REDACTED, text)
        if self.cards and _CARD_HINT.search(text):
            text = _CARD.sub(_mask_card, text)
        if self.emails and ("@" in text or "%40" in text):
            text = _EMAIL.sub(rf"{REDACTED}\1\2", text)
        return text

    def _pairs(self, text: str) -> str:
        """Secret-named pairs in ``text`` with their value masked."""
        out: list[str] = []
        pos = 0
        for match in _PAIR.finditer(text):
            if match.start() < pos:  # inside a value masked already
                continue
            value = match["value"]
            if _PLACEHOLDER.fullmatch(value) or not self.is_secret_name(match["name"]):
                continue
            if value[0] in "\"'":
                masked = f"{value[0]}{REDACTED}{value[0]}"
            else:
                scheme = _SCHEME.match(value)
                masked = f"{scheme[1]}{scheme[2]}{REDACTED}" if scheme else REDACTED
            out += (text[pos : match.start("value")], masked)
            pos = match.end("value")
        if not out:
            return text
        out.append(text[pos:])
        return "".join(out)


def _credential(match: re.Match[str]) -> str:
    """``Bearer x`` / ``Basic x`` with x masked if it is a credential, not a word ("basic settings"):
    a Basic credential is base64 of ``user:password``; a bearer token has digits or symbols, or is
    long."""
    scheme, space, word = match.groups()
    if scheme.lower() == "basic":
        try:
            secret = b":" in base64.b64decode(word + "=" * (-len(word) % 4), validate=True)
        except (binascii.Error, ValueError):
            secret = False
    else:
        secret = len(word) >= 16 or _HAS_DIGIT_OR_SYMBOL.search(word) is not None
    return f"{scheme}{space}{REDACTED}" if secret and word != REDACTED else match[0]


def _redact_userinfo(match: re.Match[str]) -> str:
    hidden = f"{REDACTED}:{REDACTED}" if ":" in match["userinfo"] else REDACTED
    return f"{match['scheme']}{hidden}@"


_DEFAULT = Masker()


def mask_secrets(text: str) -> str:
    """``text`` with secrets and card numbers masked, as the default :class:`Masker` does
    (e-mail addresses are kept)."""
    return _DEFAULT.text(text)
