"""The ``/admin`` endpoints, for holders of the admin token.

Every request must send ``Authorization: Bearer <VIGIL_DEMO_ADMIN_TOKEN>``; any other gets 403
and an ``admin access denied`` WARNING on the ``vigil_demo`` logger.

- ``GET /admin/users``: the users, ``[{"id", "username", "role"}, ...]`` (never their hashes).
- ``DELETE /admin/items/<id>``: delete an item; ``{"deleted": <id>}``, or 404 if there is none.
"""

import hmac
from typing import Any

from flask import Blueprint, abort, request

from vigil_demo.context import db, logger, settings
from vigil_demo.database import execute, query

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
def require_admin_token() -> None:
    """Refuse, with 403, any request without the admin bearer token."""
    expected = f"Bearer {settings().admin_token}".encode()
    # Compared as bytes because compare_digest refuses non-ASCII str, which a client can send.
    if not hmac.compare_digest(request.headers.get("Authorization", "").encode(), expected):
        logger.warning("admin access denied", extra={"client.address": request.remote_addr})
        abort(403, description="admin token required")


@bp.get("/users")
def users() -> list[dict[str, Any]]:
    """Every user's id, username and role."""
    return query(db(), "SELECT id, username, role FROM users ORDER BY id")


@bp.delete("/items/<int:item_id>")
def delete_item(item_id: int) -> dict[str, int]:
    """Delete item ``item_id``."""
    if execute(db(), "DELETE FROM items WHERE id = ?", (item_id,)) == 0:
        abort(404, description=f"no item {item_id}")
    logger.info("item %d deleted", item_id, extra={"client.address": request.remote_addr})
    return {"deleted": item_id}
