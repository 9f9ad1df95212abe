"""Fixtures for the demo app's tests: a seeded database per test, the app, and a live server."""

import shutil
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from vigil_demo import database
from vigil_demo.app import create_app
from vigil_demo.settings import Settings

ADMIN_TOKEN = "test-admin-token"


@pytest.fixture(scope="session")
def seeded_db_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Seeding hashes every user's password: done once per session, then copied for each test.
    path = tmp_path_factory.mktemp("seeded") / "demo.sqlite3"
    database.initialise(str(path))
    return path


@pytest.fixture
def demo_env(tmp_path: Path, seeded_db_template: Path) -> dict[str, str]:
    """Environment variables for an app on a fresh copy of the seeded database."""
    db_path = tmp_path / "demo.sqlite3"
    shutil.copyfile(seeded_db_template, db_path)
    return {"VIGIL_DEMO_DB": str(db_path), "VIGIL_DEMO_ADMIN_TOKEN": ADMIN_TOKEN}


@pytest.fixture
def client(demo_env: dict[str, str]):
    return create_app(Settings.from_env(demo_env)).test_client()


@pytest.fixture
def live_url(demo_env: dict[str, str]) -> Iterator[str]:
    """The base URL of the app served on a free loopback port, its default upstream being itself."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    app = create_app(Settings.from_env({**demo_env, "VIGIL_DEMO_PORT": str(port)}))
    # Serving from the socket already listening leaves no moment in which another process could
    # take the port that the settings, and so the default upstream, name.
    server = make_server("127.0.0.1", port, app, threaded=True, fd=listener.fileno())
    listener.close()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{port}"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture
def admin_headers() -> dict[str, str]:
    """The headers that authorise ``/admin`` requests to the apps of these fixtures."""
    return {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture
def free_port() -> int:
    """A loopback port nothing listens on, just released by the OS: to serve on, or to find closed."""
    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]
