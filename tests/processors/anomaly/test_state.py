"""StateStore: atomic saves, restore, and refusing files it must not trust."""

from __future__ import annotations

import os
import pickle

import pytest

from vigil.processors.anomaly.state import StateStore


class Part:
    def __init__(self, value=None):
        self.value = value

    def snapshot(self):
        return {"value": self.value}

    def restore(self, state):
        self.value = state["value"]


def test_round_trip(tmp_path):
    store = StateStore(tmp_path / "state")
    store.save("traces", Part([1, 2, 3]))
    restored = Part()
    assert store.load("traces", restored)
    assert restored.value == [1, 2, 3]
    assert oct((tmp_path / "state").stat().st_mode & 0o777) == "0o700"


def test_missing_state_is_not_an_error(tmp_path):
    part = Part("untouched")
    assert not StateStore(tmp_path).load("traces", part)
    assert part.value == "untouched"


def test_failed_save_keeps_the_previous_state(tmp_path):
    store = StateStore(tmp_path)
    store.save("logs", Part("good"))

    class Broken(Part):
        def snapshot(self):
            return {"value": lambda: None}  # cannot be pickled

    with pytest.raises((pickle.PicklingError, AttributeError)):
        store.save("logs", Broken())
    restored = Part()
    assert store.load("logs", restored) and restored.value == "good"
    assert [p.name for p in tmp_path.iterdir()] == ["logs.pickle"]  # no temporary file left


@pytest.mark.parametrize("garbage", [b"", b"not a pickle", b"\x80\x05K\x01."])
def test_unreadable_or_foreign_files_are_ignored(tmp_path, garbage, caplog):
    (tmp_path / "metrics.pickle").write_bytes(garbage)
    part = Part("untouched")
    assert not StateStore(tmp_path).load("metrics", part)
    assert part.value == "untouched"
    assert "ignoring" in caplog.text


def test_refuses_a_file_others_can_write(tmp_path, caplog):
    store = StateStore(tmp_path)
    store.save("traces", Part("x"))
    os.chmod(tmp_path / "traces.pickle", 0o666)
    assert not store.load("traces", Part())
    assert "writable by other users" in caplog.text
