"""Redaction of secrets in command lines, before they are exported as ``process.command_args``.

The semantic conventions say command arguments SHOULD NOT be collected without sanitisation; Vigil
collects them (they tell an operator which app, which config, which mode) and replaces what looks
like a secret with ``REDACTED``. The number of arguments never changes, so ``process.args_count``
and positions stay meaningful. What is redacted:

- The value of an option or assignment whose name says "secret": ``--password x``,
  ``--password=x``, ``--db-password x``, ``--apiKey=x``, ``PASSWORD=x``, ``DB_PASSWORD=x``, and
  ``name=value`` pairs inside an argument (query strings, ``password=x host=y`` DSNs,
  ``AccountKey=x;`` connection strings), as well as ``Authorization: x`` headers. A name is secret
  when its last word is one of password, passwd, pass, passphrase, secret, token, credential(s),
  auth, authorization, cookie, signature, sig, or it ends in key with a qualifier (api key, access
  key, secret key, private key, account key, ...), or one of those words ends a compound word
  (``dbpassword``, ``accesstoken``).
- Credentials in URLs, as the semantic conventions ask for ``url.full``:
  ``postgres://user:pw@db/x`` becomes ``postgres://REDACTED:REDACTED@db/x``.
- Well-known token shapes wherever they appear: AWS access key ids, GitHub, Slack, Stripe and
  OpenAI-style keys, Google API keys, JSON Web Tokens, PEM private keys.

What is deliberately *not* redacted, because it names a secret rather than holding one, or holds a
number: options whose last word is file, path, dir, name, length, count, size and the like
(``--password-file /run/secrets/db``, ``--secret-name app``, ``--max-tokens 256``), and ``pwd``
(``PWD=/home/app`` is a directory far more often than a password). Short options are ambiguous
(``-p`` is a port as often as a password) and are left alone, so ``mysql -psecret`` is not caught:
keep secrets out of command lines, or leave ``vigil_process`` out of
``OTEL_EXPERIMENTAL_RESOURCE_DETECTORS`` (the SDK's ``process`` detector exports no arguments).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

REDACTED = "REDACTED"

# The words of secret names. The sidecar's vigil.processors.redaction.masking has a wider list for
# web parameters (neither package can depend on the other); every name here must be secret there too
# (tested).
_SECRET_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pass",
        "passphrase",
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
    }
)
# "key" alone is too common (--sort-key, --key-column); with one of these before it, it is a secret.
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
# Compound words: "dbpassword", "accesstoken", "awsaccesskeyid" ("maxtokens" does not end in one).
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
)

# Word boundaries inside camelCase and acronyms: apiKey -> api Key, AWSAccessKeyId -> AWS Access Key Id.
_CAMEL = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])")
_NON_ALNUM = re.compile(r"[^A-Za-z0-9]+")

# An option that takes its value in the next argument: --password, -password.
_OPTION = re.compile(r"-{1,2}(?P<name>[A-Za-z][\w.-]*)")
# A whole argument that is an option or assignment with its value: --token=x, DB_PASSWORD=x.
_ASSIGNMENT = re.compile(r"(?P<name>-{0,2}[A-Za-z_][\w.-]*)=(?P<value>.*)", re.DOTALL)
# name=value pairs inside a longer argument: query strings, DSNs, connection strings.
_EMBEDDED_PAIR = re.compile(r"(?<![\w.-])(?P<name>[A-Za-z_][\w.-]*)=(?P<value>[^\s&;,]+)")
# An HTTP header given as an argument: "Authorization: Bearer x".
_HEADER = re.compile(r"(?P<name>[A-Za-z][\w-]*)\s*:\s+(?P<value>.+)", re.DOTALL)
# scheme://userinfo@host: the userinfo has no "/", "@" or whitespace.
_URL_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<userinfo>[^/@\s]+)@")
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


def is_secret_name(name: str) -> bool:
    """Whether an option, variable or parameter called ``name`` holds a secret (see module docs)."""
    words = [word for word in _NON_ALNUM.split(_CAMEL.sub(" ", name).lower()) if word]
    if words[-2:] == ["secret", "id"]:  # Vault's AppRole --secret-id
        return True
    if len(words) > 2 and words[-2:] == ["key", "id"]:  # AWS_ACCESS_KEY_ID: judge "access key"
        words.pop()
    if not words:
        return False
    last = words[-1]
    if last in _SECRET_WORDS:
        return True
    if last == "key" and len(words) > 1 and words[-2] in _KEY_QUALIFIERS:
        return True
    return len(last) > 5 and last.endswith(_SECRET_SUFFIXES)


def redact_arg(arg: str) -> str:
    """One argument with the secrets it holds replaced by ``REDACTED``."""
    whole = _ASSIGNMENT.fullmatch(arg)
    if whole and is_secret_name(whole["name"]):
        return f"{whole['name']}={REDACTED}"
    header = _HEADER.fullmatch(arg)
    if header and is_secret_name(header["name"]):
        return f"{header['name']}: {REDACTED}"
    redacted = _URL_USERINFO.sub(_redact_userinfo, arg)
    redacted = _EMBEDDED_PAIR.sub(_redact_pair, redacted)
    return _TOKEN_SHAPES.sub(REDACTED, redacted)


def redact_args(args: Sequence[str]) -> list[str]:
    """The arguments of a command line (``argv[0]`` included) with secrets replaced by ``REDACTED``.

    An option whose name is secret (``--password``) hides the next argument, unless that argument is
    itself an option."""
    redacted: list[str] = []
    hide_next = False
    for arg in args:
        if hide_next and not (arg.startswith("-") and len(arg) > 1):
            redacted.append(REDACTED)
            hide_next = False
            continue
        option = _OPTION.fullmatch(arg)
        hide_next = option is not None and is_secret_name(option["name"])
        redacted.append(redact_arg(arg))
    return redacted


def _redact_userinfo(match: re.Match[str]) -> str:
    hidden = f"{REDACTED}:{REDACTED}" if ":" in match["userinfo"] else REDACTED
    return f"{match['scheme']}{hidden}@"


def _redact_pair(match: re.Match[str]) -> str:
    if match["value"] == REDACTED or not is_secret_name(match["name"]):
        return match[0]
    return f"{match['name']}={REDACTED}"
