"""The demo app: a small shop's web service, as a Flask app factory.

``create_app(settings)`` creates and seeds the database if needed, and returns the app with
every endpoint registered. Errors, including unknown routes and crashes, answer JSON
``{"error": "<description>"}`` with the matching status code. The faults of
``VIGIL_DEMO_FAULTS`` are active from the start, and ``/_faults`` changes them (see ``faults``).
Serve it with ``python -m vigil_demo`` (see ``__main__``); tests use
``create_app(...).test_client()``.
"""

import json

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

from vigil_demo import accounts, admin, catalog, context, database, faults, inventory, recommendations
from vigil_demo.settings import Settings


def create_app(settings: Settings) -> Flask:
    """The demo app, configured by ``settings``, its database ready."""
    database.initialise(settings.db_path)
    app = Flask("vigil_demo")
    app.config[context.SETTINGS_KEY] = settings
    app.teardown_appcontext(context.close_db)
    app.register_error_handler(HTTPException, _json_error)
    app.add_url_rule("/healthz", view_func=_healthz)
    for blueprint in (accounts.bp, catalog.bp, recommendations.bp, inventory.bp, admin.bp):
        app.register_blueprint(blueprint)
    # Last: the faults' routes are checked against the routes registered above.
    faults.install(app, settings.faults)
    return app


def _healthz() -> Response:
    return Response("ok", mimetype="text/plain")


def _json_error(error: HTTPException) -> Response:
    # Starts from the exception's own response to keep its headers (Allow on a 405, for one).
    response = error.get_response()
    response.set_data(json.dumps({"error": error.description}))
    response.content_type = "application/json"
    return response
