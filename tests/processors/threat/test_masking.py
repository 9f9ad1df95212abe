"""Secrets quoted in threat events are masked; everything else is left as it was."""

from __future__ import annotations

import pytest

from vigil.processors.threat.masking import mask_secrets


@pytest.mark.parametrize(
    "raw,masked",
    [
        ("q=1' OR 1=1--&password=hunter2", "q=1' OR 1=1--&password=***"),
        ("user=a&api_key=AKIA1234567890&x=1", "user=a&api_key=***&x=1"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "Authorization: ***"),
        ("token=abc; session_id=s3cr3t", "token=***; session_id=***"),
        ("card 4111 1111 1111 1111 here", "card ************1111 here"),
        ("auth Basic dXNlcjpwYXNz", "auth Basic ***"),
    ],
)
def test_secrets_are_masked(raw, masked):
    assert mask_secrets(raw) == masked


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(document.cookie)</script>",
        "order 1234 5678 9012 3456 shipped",  # 16 digits, not Luhn-valid: not a card
        "the password policy page",
        "../../etc/passwd",
    ],
)
def test_other_text_is_untouched(text):
    assert mask_secrets(text) == text
