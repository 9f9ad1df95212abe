"""SQL injection: recall on the attack corpora, false positives on benign values, and db.statement."""

from __future__ import annotations

import pytest

from tests.processors.threat import corpora
from tests.processors.threat.measure import NONE_FLAGGED, benign_hits, recall
from vigil.processors.threat import sql
from vigil.processors.threat.decoding import decode
from vigil.processors.threat.verdict import combine


def detect(value: str):
    return sql.analyse(decode(value, query=True))


# Thresholds are what the detector measurably reaches (printed with -s), a little below, so that
# a regression fails and noise does not.
def test_recall_on_libinjection_sqli():
    assert recall("libinjection sqli-*", corpora.libinjection_sqli(), detect).rate >= 0.99


def test_recall_on_httpparams_sqli():
    assert recall("httpparams sqli", corpora.httpparams_label("sqli"), detect).rate >= 0.998


def test_recall_on_payloadbox():
    # payloadbox also holds fuzzing probes that are no injection on their own ("|", "?", "update",
    # "asc", "0"), NoSQL and LDAP payloads: recall there is far from 100% for any SQL detector.
    assert recall("payloadbox", corpora.payloadbox_sqli(), detect).rate >= 0.81


def test_recall_on_our_own_sqli():
    ours = [v for category, v in corpora.attack_values() if category == "sqli"]
    assert recall("vigil attack_values sqli", ours, detect).rate == 1.0


def test_false_positives_on_benign_values():
    # "select x from y where": a statement left dangling to be spliced in; we call it an attack.
    hits = benign_hits(detect)
    assert hits["libinjection false_positives"] <= 1
    assert hits | {"libinjection false_positives": 0} == NONE_FLAGGED


@pytest.mark.parametrize(
    "value",
    [
        "O'Brien",
        "Rock 'n' roll",
        '27" monitor',
        "it's 5 o'clock",
        "don't -- please",
        "1 or 2 bedrooms",
        "select the best option",
        "drop me a line",
        "Union Square, San Francisco",
        "order by phone",
        "black and white",
        "a=1 and b=2",
        '"machine learning" OR "deep learning"',
        "5' = 60 inches",
    ],
)
def test_prose_with_quotes_and_keywords_is_not_an_attack(value):
    assert combine(detect(value)) < 0.5


@pytest.mark.parametrize(
    "value,rule",
    [
        ("1' OR '1'='1", "sqli.tautology"),
        ("1 OR 1=1", "sqli.tautology"),
        ("' OR ''='", "sqli.tautology"),
        ("1; DROP TABLE users--", "sqli.stacked"),
        ("admin'--", "sqli.comment-truncation"),
        ("admin' #", "sqli.comment-truncation"),
        ("-1 UNION SELECT 1,2,3", "sqli.union"),
        ("1' AND SLEEP(5)--", "sqli.time-delay"),
        ("1'; WAITFOR DELAY '0:0:5'--", "sqli.time-delay"),
        ("1 AND BENCHMARK(5000000,MD5(1))", "sqli.time-delay"),
        ("'||pg_sleep(10)--", "sqli.time-delay"),
        ("x' AND 1=CONVERT(int,@@version)--", "sqli.boolean-blind"),
        ("1' ORDER BY 5--", "sqli.clause"),
        ("1/**/UNION/**/SELECT/**/1", "sqli.comment-evasion"),
    ],
)
def test_injected_structure_is_named(value, rule):
    found = {d.rule: d.score for d in detect(value)}
    assert rule in found and combine(detect(value)) >= 0.5, found


def test_tokens_and_contexts():
    assert sql.tokenize("1 UNION ALL SELECT a, b FROM t-- x").types == "nUEb,bkbc"
    assert sql.tokenize("SLEEP (5)").types == "f(n)"
    assert sql.tokenize("ORDER BY 1").types == "Bn"
    contexts = dict(sql.contexts("x' OR 'a'='a"))
    assert contexts["raw"].types == "bsbsb"  # as is: x, the string ' OR ', a, '=', a
    assert contexts["'"].types == "s&soz"  # the quote closes the app's literal, the last one reopens it
    assert contexts["'"].texts[0] == "x"
    # '' is a quote inside the literal: the break is the third quote
    assert dict(sql.contexts("O''Brien' OR 1=1--"))["'"].texts[0] == "O''Brien"


# db.statement: SQL by nature, flagged only for injected structure ------------------------------

ORM_STATEMENTS = [
    # SQLAlchemy
    "SELECT users.id AS users_id, users.email AS users_email FROM users WHERE users.id = %(pk_1)s",
    "SELECT orders.id, orders.total FROM orders JOIN users ON users.id = orders.user_id "
    "WHERE users.email = %(email_1)s AND orders.status IN (__[POSTCOMPILE_status_1]) ORDER BY orders.id DESC",
    "SELECT count(*) AS count_1 FROM (SELECT items.id AS items_id FROM items WHERE items.cart_id = ?) AS "
    "anon_1",
    "SELECT users.id FROM users WHERE users.id IN (NULL) AND (1 != 1)",
    "INSERT INTO audit_log (user_id, action, created_at) VALUES (?, ?, CURRENT_TIMESTAMP) RETURNING id",
    "UPDATE carts SET total=%(total)s, updated_at=now() WHERE carts.id = %(carts_id)s",
    # Django
    'SELECT "auth_user"."id", "auth_user"."username" FROM "auth_user" WHERE "auth_user"."username" = %s '
    "LIMIT 21",
    'SELECT "shop_product"."id" FROM "shop_product" WHERE ("shop_product"."name"::text LIKE %s OR '
    '"shop_product"."sku" = %s) ORDER BY "shop_product"."name" ASC',
    'SELECT DISTINCT "shop_tag"."name" FROM "shop_tag" INNER JOIN "shop_product_tags" ON ("shop_tag"."id" = '
    '"shop_product_tags"."tag_id") WHERE "shop_product_tags"."product_id" IN (1, 2, 3, 4, 5)',
    # inline literals, as some apps and ORMs' debug output have them
    "SELECT * FROM products WHERE name LIKE '%lamp%' OR description LIKE '%lamp%' /* "
    "app:shop,route:search */",
    "SELECT id FROM users WHERE email = 'o''brien@example.com' AND deleted_at IS NULL",
    "SELECT p.id, p.name FROM products p WHERE p.price BETWEEN 10 AND 100 AND p.category_id IN "
    "(SELECT c.id FROM categories c WHERE c.slug = 'garden') ORDER BY p.price LIMIT 20 OFFSET 40",
    "SELECT a.id FROM accounts a LEFT OUTER JOIN plans pl ON pl.id = a.plan_id WHERE a.status = 'active' "
    "OR a.trial_ends_at > '2024-03-15'",
    "WITH recent AS (SELECT * FROM orders WHERE created_at > now() - interval '7 days') SELECT count(*) "
    "FROM recent",
    "SELECT name FROM customers UNION SELECT name FROM suppliers ORDER BY name",
    "SELECT * FROM events WHERE 1=1 AND type = 'click' AND ts >= 1710498600",
    "SELECT * FROM t WHERE (a = 1 OR b = 2) AND c <> 'x' -- report query\nORDER BY a",
    "SELECT id FROM jobs WHERE run_at < now() FOR UPDATE SKIP LOCKED",
    "DELETE FROM sessions WHERE expires_at < now()",
    "SELECT pg_advisory_lock(42)",
    "SELECT 1",
    "BEGIN",
    "COMMIT",
    "SET search_path TO shop, public",
    "SELECT * FROM products WHERE name = 'Rock ''n'' Roll' "
    "/*traceparent='00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'*/",
    "SELECT 'a' || name || 'b' FROM t WHERE x = 'it''s'",
    "INSERT INTO notes (body) VALUES ('see -- the docs; then run it')",
]


@pytest.mark.parametrize("statement", ORM_STATEMENTS)
def test_orm_generated_statements_stay_quiet(statement):
    assert sql.analyse_statement(statement) == []


INJECTED_STATEMENTS = [
    ("SELECT * FROM users WHERE name = 'x' OR '1'='1'", "sqli.tautology"),
    ("SELECT * FROM users WHERE id = 1 OR 1=1", "sqli.tautology"),
    ("SELECT * FROM products WHERE id = -1 UNION SELECT 1,2,3,4", "sqli.union"),
    ("SELECT * FROM products WHERE id = -1 UNION SELECT username, password, null FROM users--", "sqli.union"),
    ("SELECT * FROM items WHERE id = 1; SELECT pg_sleep(10)", "sqli.stacked"),
    ("SELECT * FROM items WHERE id = 1; WAITFOR DELAY '0:0:5'", "sqli.stacked"),
    ("SELECT * FROM users WHERE name = 'x'; DROP TABLE users; --'", "sqli.stacked"),
    ("SELECT * FROM users WHERE name = 'admin'-- ' AND password = 'x'", "sqli.comment-truncation"),
    ("SELECT * FROM users WHERE name = 'admin'#' AND password = 'x'", "sqli.comment-truncation"),
    ("SELECT * FROM users WHERE id = 1 AND SLEEP(5)", "sqli.time-delay"),
]


@pytest.mark.parametrize("statement,rule", INJECTED_STATEMENTS)
def test_injected_statements_are_flagged(statement, rule):
    found = sql.analyse_statement(statement)
    assert rule in {d.rule for d in found} and combine(found) >= 0.5, found
