"""``POST /login``: checking a user's password.

The body is JSON or a form with ``username`` and ``password``. Answers 200
``{"username": ..., "role": ...}`` when they match, 401 when they do not (unknown users
included), 400 when either is missing. Every attempt is logged to ``vigil_demo``:
``login succeeded`` at INFO or ``login failed`` at WARNING, with ``user.name`` and
``client.address`` as extra fields, which is what a brute-force detector needs.
"""

from flask import Blueprint, abort, request

from vigil_demo.context import db, logger
from vigil_demo.database import query
from vigil_demo.passwords import verify_password

bp = Blueprint("accounts", __name__)


@bp.post("/login")
def login() -> dict[str, str]:
    """Check the posted credentials."""
    credentials = request.get_json(silent=True) if request.is_json else request.form
    if not isinstance(credentials, dict):  # a JSON body that is not an object (form data is a dict)
        credentials = {}
    username, password = credentials.get("username"), credentials.get("password")
    if not isinstance(username, str) or not isinstance(password, str):
        abort(400, description="username and password are required")

    users = query(db(), "SELECT username, password_hash, role FROM users WHERE username = ?", (username,))
    log_fields = {"user.name": username, "client.address": request.remote_addr}
    if not users or not verify_password(password, users[0]["password_hash"]):
        logger.warning("login failed", extra=log_fields)
        abort(401, description="invalid username or password")
    logger.info("login succeeded", extra=log_fields)
    return {"username": username, "role": users[0]["role"]}
