"""Salted password hashes with PBKDF2-HMAC-SHA256.

A stored hash reads ``pbkdf2_sha256$<iterations>$<salt hex>$<hash hex>``, so the iteration
count can change without invalidating the hashes already in a database.
"""

import hashlib
import hmac
import secrets

# Below OWASP's 600,000 on purpose: the traffic generator logs in several times a second and
# start-up seeds every user, and this demo guards no real accounts.
ITERATIONS = 100_000


def hash_password(password: str) -> str:
    """A new salted hash of ``password``, in the stored format."""
    salt = secrets.token_bytes(16)
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt, ITERATIONS)
    return f"pbkdf2_sha256${ITERATIONS}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    """Whether ``password`` matches the ``stored`` hash."""
    algorithm, iterations, salt, expected = stored.split("$")
    if algorithm != "pbkdf2_sha256":
        raise ValueError(f"unsupported password hash {algorithm!r}")
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), bytes.fromhex(salt), int(iterations))
    return hmac.compare_digest(digest.hex(), expected)
