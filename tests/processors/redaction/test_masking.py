"""Secrets and personal data are masked in every kind of value; everything else is left as it was,
as the very same string."""

from __future__ import annotations

import pytest

from vigil.processors.redaction.masking import Masker, mask_secrets

MASKER = Masker(emails=True)


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("q=1' OR 1=1--&password=hunter2", "q=1' OR 1=1--&password=REDACTED"),
        ("user=a&api_key=AKIA1234567890&x=1", "user=a&api_key=REDACTED&x=1"),
        ("Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig", "Authorization: Bearer REDACTED"),
        ("token=abc; session_id=s3cr3t", "token=REDACTED; session_id=REDACTED"),
        ("card 4111 1111 1111 1111 here", "card ************1111 here"),
        ("paid with 5500-0000-0000-0004.", "paid with ************0004."),
        ("auth Basic dXNlcjpwYXNz", "auth Basic REDACTED"),
        ('{"user": "bob", "password": "hunter2"}', '{"user": "bob", "password": "REDACTED"}'),
        (
            "UPDATE users SET password = 'hunter2' WHERE id = ?",
            "UPDATE users SET password = 'REDACTED' WHERE id = ?",
        ),
        # a pair whose name is no secret does not hide a secret inside its value
        (
            "fetching url=https://api.example/v1?api_key=k&page=2",
            "fetching url=https://api.example/v1?api_key=REDACTED&page=2",
        ),
        ("GET https://bob:pw@db.example/x", "GET https://REDACTED:REDACTED@db.example/x"),
        ("key AKIAIOSFODNN7EXAMPLE leaked", "key REDACTED leaked"),
        ("gh token ghp_0123456789abcdefghijklmnopqrstuvwxyzAB", "gh token REDACTED"),
        ("jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM", "jwt REDACTED"),
        ("login failed for bob.smith+shop@example.co.uk", "login failed for REDACTED@example.co.uk"),
        ("DB_PASSWORD=x AWS_SECRET_ACCESS_KEY=y", "DB_PASSWORD=REDACTED AWS_SECRET_ACCESS_KEY=REDACTED"),
    ],
)
def test_secrets_in_text_are_masked(raw, masked):
    assert MASKER.text(raw) == masked


@pytest.mark.parametrize(
    "text",
    [
        "<script>alert(document.cookie)</script>",
        "order 1234 5678 9012 3456 shipped",  # 16 digits, not Luhn-valid: not a card
        "at 1700000000000000000 ns",  # a nanosecond timestamp: starts with 1
        "tracking 4111111111111111222 and id 41111111111111112",  # more digits than a card holds
        "the password policy page",
        "../../etc/passwd",
        "max_tokens=256&sort_key=name&token_type=bearer",
        "basic package, bearer authentication",
        "UPDATE users SET password = ? WHERE id = %s",
        "User O'Brien logged in from 203.0.113.9",
        "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
        "SELECT users.id, users.email FROM users WHERE users.id = %(id_1)s",
    ],
)
def test_other_text_is_the_same_string(text):
    assert MASKER.text(text) is text


def test_query_strings_lose_secret_values_up_to_the_next_parameter():
    query = "page=2&access_token=a;b&email=bob%40example.com&cc=4111111111111111&q=red+shoes"
    assert MASKER.query(query) == (
        "page=2&access_token=REDACTED&email=REDACTED%40example.com&cc=************1111&q=red+shoes"
    )
    assert MASKER.query("pass%77ord=x") == "pass%77ord=REDACTED"  # names are compared decoded
    assert MASKER.query("cc=4111%201111%201111%201111") == "cc=************1111"
    assert MASKER.query("AWSAccessKeyId=AK&Signature=zz&X-Goog-Signature=g&Expires=1") == (
        "AWSAccessKeyId=REDACTED&Signature=REDACTED&X-Goog-Signature=REDACTED&Expires=1"
    )
    benign = "q=wireless+headphones&category=electronics&utm_source=newsletter"
    assert MASKER.query(benign) is benign


def test_urls_lose_user_info_and_secrets_in_query_fragment_and_matrix_parameters():
    url = "https://u:p@h.example/cb;jsessionid=ABC?x=1&sig=zz#access_token=t&token_type=bearer"
    assert MASKER.url(url) == (
        "https://REDACTED:REDACTED@h.example/cb;jsessionid=REDACTED?x=1&sig=REDACTED"
        "#access_token=REDACTED&token_type=bearer"
    )
    assert MASKER.url("/reset?token=abc") == "/reset?token=REDACTED"  # http.target
    benign = "https://payments.example.net/v2/charges/ch_3f2a91bc?expand=customer"
    assert MASKER.url(benign) is benign


@pytest.mark.parametrize(
    ("name", "value", "masked"),
    [
        ("authorization", "Bearer abc.def", "Bearer REDACTED"),
        ("proxy_authorization", "Basic dXNlcjpwYXNz", "Basic REDACTED"),
        ("authorization", "abcdef", "REDACTED"),
        ("cookie", "sid=1; theme=dark", "sid=REDACTED; theme=REDACTED"),
        ("set-cookie", "sid=1; Path=/; HttpOnly", "sid=REDACTED; Path=/; HttpOnly"),
        ("x_api_key", "k-123", "REDACTED"),
        ("x-auth-token", "t", "REDACTED"),
        ("referer", "https://shop.example/reset?token=abc", "https://shop.example/reset?token=REDACTED"),
        ("user-agent", "Mozilla/5.0", "Mozilla/5.0"),
        ("x-forwarded-for", "203.0.113.9, 10.0.0.1", "203.0.113.9, 10.0.0.1"),
    ],
)
def test_headers_are_masked_by_name(name, value, masked):
    assert MASKER.header(name, value) == masked


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("accessToken", True),
        ("X-Goog-Signature", True),
        ("sig", True),
        ("pwd", True),
        ("SharedAccessKey", True),
        ("AWSAccessKeyId", True),
        ("session_id", True),
        ("JSESSIONID", True),
        ("x-api-key", True),
        ("max_tokens", False),
        ("token_type", False),
        ("sort_key", False),
        ("key", False),
        ("passwordless", False),
        ("password_reset", False),
        ("author", False),
        ("code", False),
        ("", False),
    ],
)
def test_which_names_are_secret(name, secret):
    assert MASKER.is_secret_name(name) is secret


def test_more_secret_names_can_be_given():
    masker = Masker(secret_names=["pin", "X-Shop-Auth"])
    assert masker.query("pin=1234&page=2") == "pin=REDACTED&page=2"
    assert masker.header("x_shop_auth", "abc") == "REDACTED"
    assert Masker().query("pin=1234") == "pin=1234"


def test_cards_and_emails_are_switches():
    assert Masker(cards=False).text("card 4111 1111 1111 1111") == "card 4111 1111 1111 1111"
    # e-mail addresses are kept by default (they are often the account an operator looks for)
    assert mask_secrets("login failed for bob@example.com") == "login failed for bob@example.com"


def test_masking_twice_changes_nothing_more():
    once = MASKER.text("password=x&card=4111111111111111 Authorization: Bearer abcdefgh1 bob@example.com")
    assert MASKER.text(once) == once


def test_names_the_instrumentation_redacts_in_command_lines_are_secret_here_too():
    # Two vocabularies (the app's distro cannot depend on the sidecar, nor the sidecar on the
    # distro): the sidecar's reads web parameters too (sid, otp, jwt...), so it must be the wider.
    from vigil.instrumentation import redaction as command_lines

    names = ["password", "DB_PASSWORD", "apiKey", "api-key", "AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID",
             "access_token", "client-secret", "privateKey", "signing_key", "signature", "passphrase",
             "vault_secret_id", "license-key", "dbpasswd"]  # fmt: skip
    masker = Masker()
    for name in names:
        assert command_lines.is_secret_name(name), name
        assert masker.is_secret_name(name), name
    for word in command_lines._SECRET_WORDS | set(command_lines._SECRET_SUFFIXES):
        assert masker.is_secret_name(word), word
