"""Secrets in command lines are redacted; arguments that only name a secret, or hold numbers, are not."""

from __future__ import annotations

import pytest

from vigil.instrumentation.redaction import REDACTED, is_secret_name, redact_arg, redact_args


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--password", "hunter2"], ["--password", REDACTED]),
        (["-password", "hunter2"], ["-password", REDACTED]),
        (["--db-password", "x"], ["--db-password", REDACTED]),
        (["--api-key", "k"], ["--api-key", REDACTED]),
        (["--apiKey", "k"], ["--apiKey", REDACTED]),
        (["--client-secret", "s"], ["--client-secret", REDACTED]),
        (["--auth-token", "t"], ["--auth-token", REDACTED]),
        (["--secret-id", "vault-approle-secret"], ["--secret-id", REDACTED]),
        (["--token=abc.def"], [f"--token={REDACTED}"]),
        (["--password=with=equals"], [f"--password={REDACTED}"]),
        (["PASSWORD=hunter2"], [f"PASSWORD={REDACTED}"]),
        (["DB_PASSWORD=hunter2"], [f"DB_PASSWORD={REDACTED}"]),
        (["AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI"], [f"AWS_SECRET_ACCESS_KEY={REDACTED}"]),
        (["AWS_ACCESS_KEY_ID=anything"], [f"AWS_ACCESS_KEY_ID={REDACTED}"]),
        (["postgres://app:s3cret@db:5432/shop"], [f"postgres://{REDACTED}:{REDACTED}@db:5432/shop"]),
        (["--db=redis://:pw@cache:6379/0"], [f"--db=redis://{REDACTED}:{REDACTED}@cache:6379/0"]),
        (["https://ghp_x@github.com/o/r.git"], [f"https://{REDACTED}@github.com/o/r.git"]),
        (
            ["https://api.example.com/v1?page=2&access_token=abc"],
            [f"https://api.example.com/v1?page=2&access_token={REDACTED}"],
        ),
        (
            ["https://b.s3.amazonaws.com/k?AWSAccessKeyId=AK&Signature=zz&Expires=1"],
            [f"https://b.s3.amazonaws.com/k?AWSAccessKeyId={REDACTED}&Signature={REDACTED}&Expires=1"],
        ),
        (["host=db user=app password=pw dbname=shop"], [f"host=db user=app password={REDACTED} dbname=shop"]),
        (
            ["DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=abc==;EndpointSuffix=x"],
            [f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={REDACTED};EndpointSuffix=x"],
        ),
        (["Authorization: Bearer abc"], [f"Authorization: {REDACTED}"]),
        (["--header", "X-Api-Key: k"], ["--header", f"X-Api-Key: {REDACTED}"]),
        (["AKIAIOSFODNN7EXAMPLE"], [REDACTED]),
        (["--note=ghp_0123456789abcdefghijklmnopqrstuvwxyzAB"], [f"--note={REDACTED}"]),
        (["eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpM"], [REDACTED]),
        (["xoxb-1234567890-abcdefghij"], [REDACTED]),
    ],
)
def test_secrets_are_redacted(args, expected):
    assert redact_args(args) == expected


@pytest.mark.parametrize(
    "args",
    [
        ["python", "app.py", "--port", "8000", "--workers=4"],
        ["--max-tokens", "256"],  # a number, named after tokens
        ["--token-file", "/run/secrets/token"],  # names where the secret is, does not hold it
        ["--password-file=/run/secrets/db"],
        ["--keyfile", "server.key", "--certfile", "server.crt"],
        ["--secret-name", "app-credentials"],
        ["--sort-key", "name"],
        ["PWD=/home/app", "HOME=/root", "PATH=/usr/bin"],
        ["https://example.com/search?q=password&page=2"],  # "password" as a value is fine
        ["git@github.com:org/repo.git"],  # scp-style, no scheme: no credentials in it
        ["--passwordless", "--bypass", "compass"],
        ["--image", "sha256:" + "ab" * 32],  # digests and container ids are not secrets
        ["--verbose", "-p", "5432"],  # short options are ambiguous: left alone
    ],
)
def test_benign_arguments_are_kept(args):
    assert redact_args(args) == args


def test_a_secret_option_followed_by_another_option_hides_nothing():
    # "--no-token" is a flag; what follows is the next option, not its value.
    assert redact_args(["--token", "--verbose"]) == ["--token", "--verbose"]


def test_the_number_of_arguments_never_changes():
    args = ["app", "--password", "x", "--token=y", "Z=1", "--api-key"]
    assert len(redact_args(args)) == len(args)


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("password", True),
        ("DB_PASSWORD", True),
        ("dbpassword", True),
        ("accessToken", True),
        ("X-Goog-Signature", True),
        ("sig", True),
        ("SharedAccessKey", True),
        ("max_tokens", False),
        ("token_file", False),
        ("sort_key", False),
        ("key", False),
        ("pwd", False),
        ("passwordless", False),
        ("", False),
    ],
)
def test_which_names_are_secret(name, secret):
    assert is_secret_name(name) is secret


def test_a_pem_private_key_is_hidden_whole():
    key = "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    assert redact_arg(key) == REDACTED
