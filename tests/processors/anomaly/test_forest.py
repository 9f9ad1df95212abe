"""The multivariate span model: fitted from a reservoir, unusual combinations score higher, bounded."""

from __future__ import annotations

import numpy as np

from vigil.processors.anomaly.forest import FEATURES, SpanForest


def ordinary_rows(rng: np.random.Generator, n: int) -> np.ndarray:
    # slowness 0-2, no error, SERVER or CLIENT, 8-12 attributes, no events, no links
    return np.column_stack(
        [
            rng.integers(0, 3, n),
            np.zeros(n),
            rng.choice([2, 3], n),
            rng.integers(8, 13, n),
            np.zeros(n),
            np.zeros(n),
        ]
    ).astype(np.int64)


def test_no_score_until_enough_rows_then_a_model():
    forest = SpanForest(min_train_rows=500, background=False)
    rng = np.random.default_rng(0)
    assert forest.score(ordinary_rows(rng, 400)) is None
    assert not forest.ready
    forest.score(ordinary_rows(rng, 200))
    assert forest.ready
    assert forest.score(ordinary_rows(rng, 10)) is not None


def test_unusual_combination_scores_above_ordinary_rows():
    forest = SpanForest(min_train_rows=1000, background=False)
    rng = np.random.default_rng(1)
    forest.score(ordinary_rows(rng, 2000))
    ordinary = forest.score(ordinary_rows(rng, 500))
    # an error span with three exception events and 40 attributes, of an INTERNAL kind
    odd = np.array([[0, 1, 1, 40, 3, 0]], dtype=np.int64)
    odd_score = forest.score(odd)[0]
    assert odd_score >= 0.5
    assert np.quantile(ordinary, 0.999) < 0.5
    assert odd_score > ordinary.max()


def test_background_refit_does_not_block_and_replaces_the_model():
    forest = SpanForest(min_train_rows=200, refit_spans=1000, background=True)
    rng = np.random.default_rng(2)
    forest.score(ordinary_rows(rng, 300))
    forest.wait(10)
    first = forest.snapshot()["model"]
    forest.score(ordinary_rows(rng, 1000))
    forest.wait(10)
    assert forest.snapshot()["model"] is not first


def test_reservoir_is_bounded_and_restores():
    forest = SpanForest(reservoir_size=256, min_train_rows=100, background=False)
    rng = np.random.default_rng(3)
    for _ in range(50):
        forest.score(ordinary_rows(rng, 512))
    state = forest.snapshot()
    assert state["reservoir"].shape == (256, len(FEATURES))
    copy = SpanForest(reservoir_size=256, background=False)
    copy.restore(state)
    probe = ordinary_rows(rng, 20)
    assert np.allclose(copy.score(probe.copy()), forest.score(probe.copy()))


def test_rows_cap_features():
    shape = np.array([[70, 1, 0]])  # attributes, events, links
    rows = SpanForest().rows(shape, np.array([2]), np.array([1e6]), np.array([True]))
    assert rows.tolist() == [[15, 1, 2, 63, 1, 0]]


def test_refits_once_the_reservoir_is_full_then_every_refit_spans():
    forest = SpanForest(reservoir_size=256, min_train_rows=100, refit_spans=2000, background=False)
    rng = np.random.default_rng(4)
    models = []
    for _ in range(30):  # 100 rows at a time: 3,000 rows
        forest.score(ordinary_rows(rng, 100))
        models.append(forest.snapshot()["model"])
    fits = [i for i in range(len(models)) if i == 0 or models[i] is not models[i - 1]]
    # at 100 rows (first model), at 300 (reservoir full), at 2,300 (2,000 rows later)
    assert fits == [0, 2, 22]
