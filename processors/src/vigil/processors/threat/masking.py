"""Masking secrets in the values that threat events quote.

A ``vigil.threat`` event shows the offending value, so that an analyst sees what was sent; the
value came from a request and may carry the sender's secrets next to the payload. Before it is
quoted, this masks:

- ``key=value`` and ``key: value`` pairs whose key names a secret (password, passwd, pwd, secret,
  token, api key, access/refresh token, session id, authorization): the value becomes ``***``;
- ``Bearer`` and ``Basic`` credentials;
- card numbers (13-19 digits, spaces or dashes allowed, Luhn-valid): all but the last four digits.

The configurable redaction of attribute values themselves (issue 4, redaction) is a separate piece.
"""

from __future__ import annotations

import re

_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?token|refresh[_-]?token"
    r"|session[_-]?id|authorization)(\s*[=:]\s*)"
    # The value, with its scheme word if it has one: "Authorization: Bearer <token>" is one secret.
    r"((?:(?:bearer|basic|digest)\s+)?[^&\s;,]+)"
)
_CREDENTIALS = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _mask_card(match: re.Match[str]) -> str:
    digits = re.sub(r"\D", "", match.group())
    return "*" * (len(digits) - 4) + digits[-4:] if _luhn(digits) else match.group()


def mask_secrets(text: str) -> str:
    """``text`` with secrets replaced (see the module docstring)."""
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)
    text = _CREDENTIALS.sub(lambda m: f"{m.group(1)} ***", text)
    return _CARD.sub(_mask_card, text)
