"""Counting per key over sliding windows of event time, in bounded memory.

The behavioural detectors (:mod:`vigil.processors.threat.behaviour`) ask questions like "how many
failed logins did this client have in the last 5 minutes?" or "how many distinct accounts did it
fail on in the last 10?" for every client, account and endpoint they see. The stores here answer
them with a memory bound that holds whatever the traffic: a flood of a million spoofed client
addresses costs the same as ``max_keys`` of them.

:class:`SlidingCounts`
    events per key in the last ``window`` seconds (failed logins, 404s).
:class:`SlidingDistinct`
    how many distinct values per key in the last ``window`` seconds, up to a cap (accounts per
    client, clients per account).
:class:`BoundedStore`
    the bounded map under both (and under the rate baselines of :mod:`.rates`).

Time is the *event* time of the item counted (a span's end, a log record's timestamp) in Unix
nanoseconds, never the clock of the sidecar, so that replaying recorded telemetry
(``vigil score``) counts exactly as live scoring did.

Windows
-------
A window is cut into ``buckets`` sub-buckets (10 by default): an event counts until its bucket
falls out of the window. Two events at most ``window * (buckets - 1) / buckets`` apart always
count together; two events more than ``window`` apart never do (with a 5-minute window: 4.5 and
5 minutes). An event older than the window of its key (late telemetry) is not counted; one in a
bucket still in the window is counted in its own bucket.

Memory
------
Each key's state is one Python ``int``: for counts, the number of its newest bucket in the high
bits and the buckets' counts below (16 bits each); for distinct values, their fingerprints. Keys
are kept as their 64-bit ``hash()``: strings and tuples of any length cost the same, and two keys
colliding share a state (at a million keys, a chance of about one in 30 million; Python's string
hash is seeded at random per process, so no one can aim for a collision). A counting key costs
about 140 bytes, a distinct-counting one with a value about 130 (measured with ``tracemalloc``,
see ``tests/processors/threat/test_windows.py``).

The store holds at most ``max_keys`` keys in two generations: keys touched go to the young one;
when it holds ``max_keys / 2``, the old generation (every key not touched since the previous
turn: the coldest) is dropped at once and the young one becomes old. A key touched at least once
between two turns is never evicted: a brute force in progress keeps its count through a flood of
new keys, unless the flood brings ``max_keys / 2`` of them between two of its attempts. Every
operation is O(1).

The stores take no lock: when several threads score at once, two updates of one key at the same
moment can lose one of them (a count one short), and nothing worse.
"""

from __future__ import annotations

from collections.abc import Hashable


class BoundedStore:
    """A map from key hashes to states of at most ``max_keys`` entries, dropping the coldest half
    (the keys untouched since the last turn) when full."""

    __slots__ = ("_half", "_old", "_young")

    def __init__(self, max_keys: int) -> None:
        if max_keys < 2:
            raise ValueError(f"max_keys must be at least 2, not {max_keys}")
        self._half = max_keys // 2
        self._young: dict[int, object] = {}
        self._old: dict[int, object] = {}

    def __len__(self) -> int:
        return len(self._young) + len(self._old)

    def take(self, key: int) -> object | None:
        """The state of ``key`` (None if unknown), to be given back with :meth:`put`: a key found
        in the old generation leaves it, as it is about to be touched."""
        state = self._young.get(key)
        if state is None:
            state = self._old.pop(key, None)
        return state

    def peek(self, key: int) -> object | None:
        """The state of ``key`` without touching it."""
        state = self._young.get(key)
        return self._old.get(key) if state is None else state

    def put(self, key: int, state: object) -> None:
        young = self._young
        young[key] = state
        if len(young) >= self._half:
            # A turn: the old generation holds exactly the keys untouched since the last turn.
            self._old = young
            self._young = {}


class SlidingCounts(BoundedStore):
    """How many events each key had in the last ``window_s`` seconds of event time.

    A key's state is a ring of ``buckets`` 16-bit counts, the newest bucket lowest, with the
    newest bucket's number above them. A bucket's count saturates at ``65535 // buckets`` (6,553
    with 10 buckets): far past any threshold, and it lets the window's total be summed in one
    multiplication.
    """

    __slots__ = ("_bucket_cap", "_bucket_ns", "_buckets", "_ones", "_ring_bits", "_ring_mask", "_total_shift")

    FIELD_BITS = 16
    _FIELD_MASK = (1 << FIELD_BITS) - 1

    def __init__(self, window_s: float, max_keys: int, buckets: int = 10) -> None:
        if window_s <= 0 or not 1 <= buckets <= 100:
            raise ValueError("a window needs a positive length and 1 to 100 buckets")
        super().__init__(max_keys)
        self._bucket_ns = max(1, int(window_s * 1e9) // buckets)
        self._buckets = buckets
        self._ring_bits = buckets * self.FIELD_BITS
        self._ring_mask = (1 << self._ring_bits) - 1
        self._bucket_cap = self._FIELD_MASK // buckets
        # Multiplying the ring by 1 in every field adds all fields into the top one (no carry
        # can spill, as the total stays under 2**16): the sum of the window in one operation.
        self._ones = sum(1 << (i * self.FIELD_BITS) for i in range(buckets))
        self._total_shift = (buckets - 1) * self.FIELD_BITS

    @property
    def window_s(self) -> float:
        return self._bucket_ns * self._buckets / 1e9

    def _ring_at(self, state: int | None, bucket: int) -> tuple[int, int]:
        """(newest bucket, ring) of ``state`` aged to ``bucket`` if that is newer."""
        if state is None:
            return bucket, 0
        newest, ring = state >> self._ring_bits, state & self._ring_mask
        if bucket > newest:
            gap = bucket - newest
            ring = (ring << (gap * self.FIELD_BITS)) & self._ring_mask if gap < self._buckets else 0
            newest = bucket
        return newest, ring

    def _total(self, ring: int) -> int:
        return (ring * self._ones >> self._total_shift) & self._FIELD_MASK

    def add(self, key: Hashable, time_ns: int) -> tuple[int, int]:
        """Count one event of ``key`` at ``time_ns``; return its count in the window before and
        after (equal when the event was too late to count, or its bucket is saturated)."""
        hashed = hash(key)
        young = self._young
        state = young.get(hashed)
        if state is None:
            state = self._old.pop(hashed, None)
        bucket = time_ns // self._bucket_ns
        newest, ring = self._ring_at(state, bucket)
        before = after = self._total(ring)
        age = newest - bucket
        if age < self._buckets:
            shift = age * self.FIELD_BITS
            if (ring >> shift) & self._FIELD_MASK < self._bucket_cap:
                ring += 1 << shift
                after += 1
        young[hashed] = (newest << self._ring_bits) | ring
        if len(young) >= self._half:
            self._old, self._young = young, {}
        return before, after

    def count(self, key: Hashable, time_ns: int) -> int:
        """The count of ``key`` in the window ending at ``time_ns`` (or at its latest event, if
        later), without touching it."""
        state = self.peek(hash(key))
        if state is None:
            return 0
        return self._total(self._ring_at(state, time_ns // self._bucket_ns)[1])


class SlidingDistinct(BoundedStore):
    """How many distinct values each key had in the last ``window_s`` seconds, up to ``cap``.

    Each key keeps up to ``cap`` (32) entries: a value's 32-bit fingerprint (its ``hash()``) and
    the bucket it was last seen in. The count is exact (two of 20 values share a fingerprint about
    once in 20 million) up to ``cap``; past it, the oldest entry gives way to the newest, so the
    count stays at ``cap`` for as long as new values keep coming. Windows are cut in ``buckets``
    sub-buckets as for :class:`SlidingCounts`.
    """

    __slots__ = ("_bucket_ns", "_buckets", "cap")

    # One int per key: the number of its newest bucket in the low 48 bits, the number of entries in
    # the next 8, then the entries, 48 bits each: the bucket seen (mod 2**16) above the fingerprint.
    _HEADER_BITS, _COUNT_BITS, _ENTRY_BITS, _FINGERPRINT_BITS = 48, 8, 48, 32
    _HEADER_MASK = (1 << 48) - 1
    _ENTRY_MASK = (1 << 48) - 1
    _FINGERPRINT_MASK = (1 << 32) - 1
    _BUCKET_MASK = (1 << 16) - 1

    def __init__(self, window_s: float, max_keys: int, buckets: int = 5, cap: int = 32) -> None:
        if window_s <= 0 or not 1 <= buckets < 1 << 15 or not 1 <= cap < 256:
            raise ValueError("a window needs a positive length, 1 to 32767 buckets and a cap of 1 to 255")
        super().__init__(max_keys)
        self._bucket_ns = max(1, int(window_s * 1e9) // buckets)
        self._buckets = buckets
        self.cap = cap

    @property
    def window_s(self) -> float:
        return self._bucket_ns * self._buckets / 1e9

    def add(self, key: Hashable, value: Hashable, time_ns: int) -> tuple[int, int]:
        """Note ``value`` for ``key`` at ``time_ns``; return the number of distinct values in the
        window before and after."""
        hashed = hash(key)
        bucket = time_ns // self._bucket_ns
        newest, entries = self._entries(self.take(hashed), bucket)
        before = len(entries)
        age = newest - bucket
        if age < self._buckets:
            fingerprint = hash(value) & self._FINGERPRINT_MASK
            seen = bucket & self._BUCKET_MASK
            for i, (entry_bucket, entry_fingerprint) in enumerate(entries):
                if entry_fingerprint == fingerprint:
                    if age < (newest - entry_bucket) & self._BUCKET_MASK:
                        entries[i] = (seen, fingerprint)
                    break
            else:
                if len(entries) >= self.cap:
                    oldest = max(entries, key=lambda entry: (newest - entry[0]) & self._BUCKET_MASK)
                    entries.remove(oldest)
                entries.append((seen, fingerprint))
        self.put(hashed, self._pack(newest, entries))
        return before, len(entries)

    def count(self, key: Hashable, time_ns: int) -> int:
        """The count of ``key`` in the window ending at ``time_ns``, without touching it."""
        state = self.peek(hash(key))
        if state is None:
            return 0
        return len(self._entries(state, time_ns // self._bucket_ns)[1])

    def _entries(self, state: int | None, bucket: int) -> tuple[int, list[tuple[int, int]]]:
        """(newest bucket, the entries still in the window) of ``state`` at ``bucket``."""
        if state is None:
            return bucket, []
        newest = state & self._HEADER_MASK
        if bucket - newest >= self._buckets:
            return bucket, []  # all expired (and none left to alias with a bucket 2**16 later)
        newest = max(newest, bucket)
        count = (state >> self._HEADER_BITS) & 0xFF
        rest = state >> (self._HEADER_BITS + self._COUNT_BITS)
        entries = []
        for _ in range(count):
            entry = rest & self._ENTRY_MASK
            rest >>= self._ENTRY_BITS
            entry_bucket = entry >> self._FINGERPRINT_BITS
            if (newest - entry_bucket) & self._BUCKET_MASK < self._buckets:
                entries.append((entry_bucket, entry & self._FINGERPRINT_MASK))
        return newest, entries

    def _pack(self, newest: int, entries: list[tuple[int, int]]) -> int:
        packed = 0
        for entry_bucket, fingerprint in reversed(entries):
            packed = (packed << self._ENTRY_BITS) | (entry_bucket << self._FINGERPRINT_BITS) | fingerprint
        return (((packed << self._COUNT_BITS) | len(entries)) << self._HEADER_BITS) | newest
