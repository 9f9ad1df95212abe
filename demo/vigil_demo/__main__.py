"""Serve the demo app: ``python -m vigil_demo``, with ``demo/`` on ``PYTHONPATH``.

Configured by the ``VIGIL_DEMO_*`` environment variables (see ``settings``). Vigil's stack
runs it as ``opentelemetry-instrument python -m vigil_demo``. The server is werkzeug's,
threaded like a production server and without the reloader, which would run the app in a
forked child process that the instrumentation would not follow.
"""

import logging

from werkzeug.serving import run_simple

from vigil_demo.app import create_app
from vigil_demo.settings import Settings


def main() -> None:
    """Serve the app until interrupted."""
    settings = Settings.from_env()
    _configure_logging()
    run_simple(settings.host, settings.port, create_app(settings), threaded=True, use_reloader=False)


def _configure_logging() -> None:
    # Not logging.basicConfig, which does nothing when opentelemetry-instrument has already
    # given the root logger its exporting handler: the console handler goes alongside it.
    console = logging.StreamHandler()
    console.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.getLogger().addHandler(console)
    # The root logger's WARNING level would drop the INFO records of logins and of werkzeug's
    # access log before any handler, exporting ones included, saw them.
    for name in ("vigil_demo", "werkzeug"):
        logging.getLogger(name).setLevel(logging.INFO)


if __name__ == "__main__":
    main()
