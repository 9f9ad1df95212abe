"""The demo app's settings and its loopback-only rule."""

import os
import tempfile

import pytest

from vigil_demo.loopback import is_loopback
from vigil_demo.settings import Settings


def test_defaults():
    settings = Settings.from_env({})
    assert (settings.host, settings.port, settings.admin_token) == ("127.0.0.1", 8000, "demo-admin-token")
    assert os.path.dirname(settings.db_path) == tempfile.gettempdir()
    assert settings.base_url == settings.upstream_url == "http://127.0.0.1:8000"


def test_every_variable_is_read():
    settings = Settings.from_env(
        {
            "VIGIL_DEMO_HOST": "::1",
            "VIGIL_DEMO_PORT": "9001",
            "VIGIL_DEMO_DB": "/srv/demo.sqlite3",
            "VIGIL_DEMO_ADMIN_TOKEN": "s3cret",
            "VIGIL_DEMO_UPSTREAM": "http://127.0.0.1:9002/",
        }
    )
    assert (settings.host, settings.port, settings.db_path, settings.admin_token) == (
        "::1",
        9001,
        "/srv/demo.sqlite3",
        "s3cret",
    )
    assert settings.base_url == "http://[::1]:9001"
    assert settings.upstream_url == "http://127.0.0.1:9002"


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_the_app_refuses_to_listen_beyond_loopback(host):
    with pytest.raises(ValueError, match="VIGIL_DEMO_HOST"):
        Settings.from_env({"VIGIL_DEMO_HOST": host})


def test_a_malformed_port_is_refused():
    with pytest.raises(ValueError, match="VIGIL_DEMO_PORT"):
        Settings.from_env({"VIGIL_DEMO_PORT": "eighty"})


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("localhost", True),
        ("LOCALHOST", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("128.0.0.1", False),
        ("0.0.0.0", False),
        ("localhost.example.com", False),
        ("", False),
    ],
)
def test_is_loopback(host, loopback):
    assert is_loopback(host) is loopback
