"""The demo app's endpoints, as a client sees them."""

import logging

import pytest
import requests

from vigil_demo.app import create_app
from vigil_demo.seed import SEED_ITEMS, SEED_USERS
from vigil_demo.settings import Settings

ALICE = next(user for user in SEED_USERS if user.username == "alice")


def test_healthz(client):
    response = client.get("/healthz")
    assert (response.status_code, response.text) == (200, "ok")


def test_login_with_json_and_with_a_form(client):
    credentials = {"username": "alice", "password": ALICE.password}
    for response in (client.post("/login", json=credentials), client.post("/login", data=credentials)):
        assert response.status_code == 200
        assert response.json == {"username": "alice", "role": "customer"}


@pytest.mark.parametrize(
    ("username", "password"), [("alice", "wonderland"), ("alice", ""), ("mallory", ALICE.password)]
)
def test_login_with_bad_credentials_is_401(client, username, password):
    response = client.post("/login", json={"username": username, "password": password})
    assert response.status_code == 401
    assert "error" in response.json


@pytest.mark.parametrize("body", [{"json": {"username": "alice"}}, {"json": ["alice"]}, {"data": {}}])
def test_login_without_credentials_is_400(client, body):
    assert client.post("/login", **body).status_code == 400


def test_login_attempts_are_logged_with_user_and_client_address(client, caplog):
    caplog.set_level(logging.INFO, logger="vigil_demo")
    client.post("/login", json={"username": "alice", "password": ALICE.password})
    client.post("/login", json={"username": "alice", "password": "guess"})
    records = [record for record in caplog.records if record.name == "vigil_demo"]
    assert [(record.levelno, record.getMessage()) for record in records] == [
        (logging.INFO, "login succeeded"),
        (logging.WARNING, "login failed"),
    ]
    for record in records:
        assert (getattr(record, "user.name"), getattr(record, "client.address")) == ("alice", "127.0.0.1")


def test_search_finds_items_by_name_or_description(client):
    names = [item["name"] for item in client.get("/search", query_string={"q": "coffee"}).json]
    expected = [item.name for item in SEED_ITEMS if "coffee" in f"{item.name} {item.description}".lower()]
    assert sorted(names) == sorted(expected) and len(names) >= 3
    assert client.get("/search", query_string={"q": "submarine"}).json == []


def test_search_results_are_whole_items(client):
    (kettle,) = client.get("/search", query_string={"q": "electric kettle"}).json
    assert kettle == client.get(f"/items/{kettle['id']}").json
    assert set(kettle) == {"id", "name", "description", "price", "stock"}


@pytest.mark.parametrize("term", ["kettle", "Cast Iron", "usb", "coffee", "", "no such thing"])
def test_legacy_search_matches_search_for_ordinary_terms(client, term):
    legacy = client.get("/search/legacy", query_string={"q": term})
    assert legacy.status_code == 200
    assert legacy.json == client.get("/search", query_string={"q": term}).json


def test_legacy_search_answers_400_when_a_quote_breaks_the_sql(client):
    for term in ("chef's", "'; DROP TABLE items; --"):
        response = client.get("/search/legacy", query_string={"q": term})
        assert response.status_code == 400
        assert "error" in response.json
    knives = client.get("/search", query_string={"q": "chef's"}).json
    assert [item["name"] for item in knives] == ["Chef's Knife"]


def test_legacy_search_is_injectable_and_search_is_not(client):
    injection = {"q": "zz' OR 1=1 --"}
    assert len(client.get("/search/legacy", query_string=injection).json) == min(50, len(SEED_ITEMS))
    assert client.get("/search", query_string=injection).json == []


def test_item_and_unknown_item(client):
    item = client.get("/items/1").json
    assert (item["id"], item["name"], item["stock"]) == (1, SEED_ITEMS[0].name, SEED_ITEMS[0].stock)
    response = client.get("/items/9999")
    assert response.status_code == 404
    assert "error" in response.json


def test_internal_stock(client):
    assert client.get("/internal/stock/2").json == {"item_id": 2, "stock": SEED_ITEMS[1].stock}
    assert client.get("/internal/stock/9999").status_code == 404


def test_admin_needs_the_token(client, admin_headers):
    bare_token = admin_headers["Authorization"].removeprefix("Bearer ")
    for headers in ({}, {"Authorization": "Bearer wrong-token"}, {"Authorization": bare_token}):
        assert client.get("/admin/users", headers=headers).status_code == 403
        response = client.delete("/admin/items/1", headers=headers)
        assert response.status_code == 403
        assert "error" in response.json
    assert client.get("/items/1").status_code == 200


def test_admin_lists_users_without_their_password_hashes(client, admin_headers):
    response = client.get("/admin/users", headers=admin_headers)
    assert response.status_code == 200
    assert [(user["username"], user["role"]) for user in response.json] == [
        (user.username, user.role) for user in SEED_USERS
    ]
    assert all(set(user) == {"id", "username", "role"} for user in response.json)


def test_admin_deletes_an_item(client, admin_headers):
    assert client.delete("/admin/items/5", headers=admin_headers).json == {"deleted": 5}
    assert client.get("/items/5").status_code == 404
    assert client.delete("/admin/items/5", headers=admin_headers).status_code == 404


def test_recommendations_combine_the_item_its_upstream_stock_and_similar_items(live_url):
    response = requests.get(f"{live_url}/recommendations/3", timeout=5)
    assert response.status_code == 200
    body = response.json()
    assert body["item"] == requests.get(f"{live_url}/items/3", timeout=5).json()
    assert body["stock"] == requests.get(f"{live_url}/internal/stock/3", timeout=5).json()["stock"]
    assert 1 <= len(body["recommended"]) <= 3
    assert all(item["id"] != 3 and item["stock"] > 0 for item in body["recommended"])


def test_recommendations_are_502_when_the_upstream_is_down(demo_env, free_port):
    closed_upstream = f"http://127.0.0.1:{free_port}"
    client = create_app(Settings.from_env({**demo_env, "VIGIL_DEMO_UPSTREAM": closed_upstream})).test_client()
    response = client.get("/recommendations/3")
    assert response.status_code == 502
    assert "error" in response.json


def test_recommendations_for_an_unknown_item_are_404(client):
    assert client.get("/recommendations/9999").status_code == 404


def test_unknown_routes_answer_json(client):
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "error" in response.json
