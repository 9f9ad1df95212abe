"""The threat rule file: which rules fire, the behavioural thresholds and the allow-lists, in YAML,
reloaded while the sidecar runs.

``VIGIL_THREAT_RULES_FILE`` names it. The shipped example, :data:`EXAMPLE` (``rules.yaml`` next to
this module), lists every rule and every threshold at its default: copy it and edit the copy.

Format
------
Every key is optional; an unknown key, an unknown rule id, a duplicate key or a value of the wrong
type is an error that names the file, the line and the key::

    version: 1                   # the only version so far
    rules:                       # rule id (or a glob over ids) -> on or off; unnamed rules stay on
      privileged.off-hours: false
      ssrf.*: false              # globs must match some rule; later keys win over earlier ones
    behaviour:
      enabled: true              # false turns the behavioural detectors off
      bruteforce_levels: [3, 5, 10]
      bruteforce_window_s: 300   # any field of BehaviourConfig (behaviour.py), same name and type
    allow:                       # allow-list entries (allowlist.py says what each key does)
      - note: code search takes SQL in q
        routes: [/api/code-search]
        parameters: [q]
        rules: [sqli.*]
      - note: uptime checker
        clients: [10.20.0.0/16]

``behaviour`` keys and their types: every field of
:class:`~vigil.processors.threat.behaviour.BehaviourConfig`: ``*_route`` (a regular expression),
``*_window_s``, ``rate_factor``, ``rate_smoothing`` (numbers > 0; the smoothing at most 1),
``*_levels`` (three increasing counts from 1 to 255), ``off_hours`` ([start, end] hours, 0..23),
``*_methods`` (lists of HTTP methods), ``*_statuses`` (lists of status codes), ``max_keys``,
``buckets``, ``rate_min_requests``, ``rate_warmup_windows`` (whole numbers) and
``utc_offset_minutes`` (-1440..1440).

Precedence
----------
Built-in defaults, then the file, then the ``VIGIL_THREAT_*`` variables: a variable wins over the
file, on every load, and a warning says so when both set the same thing.
``VIGIL_THREAT_DISABLED_RULES`` adds to the rules the file turns off (a rule it names stays off
even if the file turns it on); ``VIGIL_THREAT_BEHAVIOUR`` wins over ``behaviour.enabled``.

Reloading
---------
The scorer looks at the file's modification time, size and inode at most once a second, when a
batch arrives (:class:`RuleFileWatcher`); a change is loaded before that batch is scored. A file
that does not load (bad YAML, an unknown key or rule, a bad value) is refused: an error naming the
line and key is logged and the rules in force stay, until the file changes again. A file that
disappears leaves the rules in force too. At start-up, a missing or invalid file stops the sidecar
with that error.

A reload that changes the behavioural thresholds or which behavioural rules are on starts the
behavioural counts afresh (windows of at most ten minutes are lost); anything else takes effect
on the next batch and keeps them. Write a new version next to the file and rename it over the
old one (as editors and Kubernetes ConfigMap volumes do), so that a half-written file is never
read.
"""

from __future__ import annotations

import dataclasses
import difflib
import fnmatch
import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import yaml
from yaml.constructor import SafeConstructor
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from vigil.processors.threat.allowlist import Allowance
from vigil.processors.threat.behaviour import BehaviourConfig
from vigil.processors.threat.rules import RULES

EXAMPLE = Path(__file__).with_name("rules.yaml")
"""The shipped, documented rule file: every rule on, every threshold at its default."""

VERSION = 1
RELOAD_INTERVAL_S = 1.0

_logger = logging.getLogger(__name__)
_T = TypeVar("_T")


class RuleFileError(ValueError):
    """A rule file that cannot be used; the message names the file, the line and the key."""


@dataclass(frozen=True)
class RuleFile:
    """What a rule file sets explicitly (anything it leaves out keeps its default)."""

    path: str = ""
    disabled: frozenset[str] = frozenset()
    """Rules the file turns off."""
    enabled: frozenset[str] = frozenset()
    """Rules the file turns on explicitly."""
    behaviour_enabled: bool | None = None
    behaviour: tuple[tuple[str, object], ...] = ()
    """(BehaviourConfig field, value) pairs the file sets."""
    allow: tuple[Allowance, ...] = ()


# --- values ---------------------------------------------------------------------------------------


def check_levels(levels: tuple[int, ...]) -> tuple[int, int, int]:
    """Three increasing counts from 1 to 255 (the behavioural detector's levels)."""
    if len(levels) != 3 or not 0 < levels[0] < levels[1] < levels[2] <= 255:
        raise ValueError("expected three increasing counts from 1 to 255, e.g. 3,5,10")
    return levels  # type: ignore[return-value]


def check_hours(hours: tuple[int, ...]) -> tuple[int, int]:
    """A [start, end) pair of hours of the day, 0..23 (wrapping midnight when start > end)."""
    if len(hours) != 2 or not all(0 <= h <= 23 for h in hours):
        raise ValueError("expected START-END hours of 0..23, e.g. 22-6")
    return hours  # type: ignore[return-value]


def check_regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"not a regular expression: {exc}") from None
    return value


def rule_ids(pattern: str) -> frozenset[str]:
    """The rule ids ``pattern`` names: an id, or a glob (``sqli.*``) that matches some."""
    if any(ch in pattern for ch in "*?["):
        ids = frozenset(fnmatch.filter(RULES, pattern))
        if not ids:
            raise ValueError(f"{pattern!r} matches no rule id")
        return ids
    if pattern not in RULES:
        close = difflib.get_close_matches(pattern, RULES, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ValueError(f"unknown rule id {pattern!r}{hint}")
    return frozenset({pattern})


# --- reading ---------------------------------------------------------------------------------------


class _Reader:
    """Turns the YAML node tree into checked values, naming file, line and key in every error."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._constructor = SafeConstructor()

    def error(self, node: Node, key: str, message: str) -> RuleFileError:
        where = f" {key}:" if key else ""
        return RuleFileError(f"{self.name}:{node.start_mark.line + 1}:{where} {message}")

    def scalar(self, node: Node, key: str) -> object:
        if not isinstance(node, ScalarNode):
            raise self.error(node, key, "expected a single value, not a list or mapping")
        try:
            return self._constructor.construct_object(node)
        except yaml.YAMLError as exc:
            raise self.error(node, key, f"unreadable value: {exc}") from None

    def typed(self, node: Node, key: str, kind: type[_T], what: str) -> _T:
        value = self.scalar(node, key)
        # bool is an int in Python, and 1 is no "true" here.
        if not isinstance(value, kind) or (kind is not bool and isinstance(value, bool)):
            raise self.error(node, key, f"expected {what}, not {_shown(value)}")
        return value

    def number(self, node: Node, key: str) -> float:
        value = self.scalar(node, key)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.error(node, key, f"expected a number, not {_shown(value)}")
        return float(value)

    def mapping(self, node: Node, key: str) -> Iterator[tuple[str, Node, Node]]:
        """(key, key node, value node) of a mapping, refusing duplicate and non-string keys."""
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return
        if not isinstance(node, MappingNode):
            raise self.error(node, key, "expected a mapping (key: value lines)")
        seen: set[str] = set()
        for key_node, value_node in node.value:
            name = self.scalar(key_node, key)
            if not isinstance(name, str):
                raise self.error(key_node, key, f"keys are names, not {_shown(name)}")
            path = f"{key}.{name}" if key else name
            if name in seen:
                raise self.error(key_node, path, "duplicate key")
            seen.add(name)
            yield name, key_node, value_node

    def sequence(self, node: Node, key: str) -> list[Node]:
        if isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null":
            return []
        if not isinstance(node, SequenceNode):
            raise self.error(node, key, "expected a list ([a, b] or '- a' lines)")
        return list(node.value)

    def strings(self, node: Node, key: str) -> tuple[str, ...]:
        values = []
        for item in self.sequence(node, key):
            value = self.typed(item, key, str, "a string")
            if not value.strip():
                raise self.error(item, key, "empty string")
            values.append(value)
        return tuple(values)

    def ints(self, node: Node, key: str) -> tuple[int, ...]:
        return tuple(self.typed(item, key, int, "a whole number") for item in self.sequence(node, key))

    def checked(self, node: Node, key: str, check: Callable[[_T], _T], value: _T) -> _T:
        try:
            return check(value)
        except ValueError as exc:
            raise self.error(node, key, str(exc)) from None


def _shown(value: object) -> str:
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"


# BehaviourConfig fields: how each type is read, and the fields with narrower bounds.
_INT_BOUNDS = {
    "utc_offset_minutes": (-1440, 1440),
    "rate_warmup_windows": (0, 1000),
    "buckets": (1, 1000),
}


def _behaviour_value(reader: _Reader, name: str, kind: str, node: Node, key: str) -> object:
    if kind == "str":
        return reader.checked(node, key, check_regex, reader.typed(node, key, str, "a regular expression"))
    if kind == "float":
        value = reader.number(node, key)
        top = 1.0 if name == "rate_smoothing" else float("inf")
        if not 0 < value <= top:
            bound = "above 0 and at most 1" if name == "rate_smoothing" else "above 0"
            raise reader.error(node, key, f"expected a number {bound}, not {value:g}")
        return value
    if kind == "int":
        value = reader.typed(node, key, int, "a whole number")
        low, high = _INT_BOUNDS.get(name, (1, 10**9))
        if not low <= value <= high:
            raise reader.error(node, key, f"expected a whole number from {low} to {high}, not {value}")
        return value
    if kind == "frozenset[str]":
        return frozenset(reader.strings(node, key))
    if kind == "frozenset[int]":
        codes = reader.ints(node, key)
        if not all(100 <= code <= 599 for code in codes):
            raise reader.error(node, key, "expected HTTP status codes (100..599)")
        return frozenset(codes)
    if kind == "tuple[int, int, int]":
        return reader.checked(node, key, check_levels, reader.ints(node, key))
    if kind == "tuple[int, int]":
        return reader.checked(node, key, check_hours, reader.ints(node, key))
    raise reader.error(node, key, f"no reader for settings of type {kind}")


BEHAVIOUR_KEYS: dict[str, str] = {f.name: str(f.type) for f in dataclasses.fields(BehaviourConfig)}
"""The ``behaviour`` keys besides ``enabled``: BehaviourConfig's fields and their types."""

_ALLOW_KEYS = ("note", "routes", "clients", "parameters", "rules")
_TOP_KEYS = ("version", "rules", "behaviour", "allow")


def _unknown(reader: _Reader, node: Node, key: str, known: tuple[str, ...] | list[str]) -> RuleFileError:
    name = key.rpartition(".")[2]
    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return reader.error(node, key, f"unknown key ({hint}known: {', '.join(known)})")


def parse_rule_file(text: str, name: str = "<rule file>") -> RuleFile:
    """A :class:`RuleFile` from YAML ``text`` (``name`` is the file, for messages); raises
    :class:`RuleFileError` naming the line and key of the first problem."""
    reader = _Reader(name)
    loader = yaml.SafeLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        line = exc.problem_mark.line + 1 if exc.problem_mark else 0
        raise RuleFileError(f"{name}:{line}: not valid YAML: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise RuleFileError(f"{name}: not valid YAML: {exc}") from None
    finally:
        loader.dispose()
    if root is None:  # an empty file: every default
        return RuleFile(path=name)
    states: dict[str, bool] = {}
    behaviour_enabled: bool | None = None
    behaviour: list[tuple[str, object]] = []
    allow: list[Allowance] = []
    for key, key_node, value in reader.mapping(root, ""):
        if key == "version":
            if reader.typed(value, key, int, "a whole number") != VERSION:
                raise reader.error(value, key, f"only version {VERSION} is known")
        elif key == "rules":
            for pattern, pattern_node, on in reader.mapping(value, key):
                path = f"rules.{pattern}"
                ids = reader.checked(pattern_node, path, rule_ids, pattern)
                enabled = reader.typed(on, path, bool, "true or false")
                states.update(dict.fromkeys(sorted(ids), enabled))
        elif key == "behaviour":
            for field, field_node, setting in reader.mapping(value, key):
                path = f"behaviour.{field}"
                if field == "enabled":
                    behaviour_enabled = reader.typed(setting, path, bool, "true or false")
                elif field in BEHAVIOUR_KEYS:
                    behaviour.append(
                        (field, _behaviour_value(reader, field, BEHAVIOUR_KEYS[field], setting, path))
                    )
                else:
                    raise _unknown(reader, field_node, path, ["enabled", *BEHAVIOUR_KEYS])
        elif key == "allow":
            for index, entry in enumerate(reader.sequence(value, key)):
                allow.append(_allowance(reader, entry, f"allow[{index}]"))
        else:
            raise _unknown(reader, key_node, key, _TOP_KEYS)
    return RuleFile(
        path=name,
        disabled=frozenset(rule for rule, on in states.items() if not on),
        enabled=frozenset(rule for rule, on in states.items() if on),
        behaviour_enabled=behaviour_enabled,
        behaviour=tuple(behaviour),
        allow=tuple(allow),
    )


def _allowance(reader: _Reader, node: Node, key: str) -> Allowance:
    values: dict[str, object] = {}
    for name, name_node, value in reader.mapping(node, key):
        path = f"{key}.{name}"
        if name == "note":
            values["note"] = reader.typed(value, path, str, "a string")
        elif name == "rules":
            patterns = reader.strings(value, path)
            values["rules"] = frozenset().union(*(reader.checked(value, path, rule_ids, p) for p in patterns))
        elif name in _ALLOW_KEYS:
            values[name] = reader.strings(value, path)
        else:
            raise _unknown(reader, name_node, path, _ALLOW_KEYS)
    try:
        return Allowance(**values)  # type: ignore[arg-type]
    except ValueError as exc:
        raise reader.error(node, key, str(exc)) from None


def load_rule_file(path: str | os.PathLike[str]) -> RuleFile:
    """Read and check the rule file at ``path`` (see :func:`parse_rule_file`)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(f"cannot read the threat rule file {path}: {exc}") from None
    return parse_rule_file(text, str(path))


# --- watching ---------------------------------------------------------------------------------------


def _signature(path: str) -> tuple[int, int, int] | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return stat.st_mtime_ns, stat.st_size, stat.st_ino


class RuleFileWatcher:
    """Reloads a rule file when it changes, at most every ``interval`` seconds.

    ``build`` turns a loaded file into whatever the caller uses (a ThreatConfig, with the
    environment applied); it may raise ValueError to refuse the file too. :meth:`poll` is cheap
    between checks (a clock read), so it can be called for every batch.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        build: Callable[[RuleFile], _T],
        interval: float = RELOAD_INTERVAL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.path = str(path)
        self._build = build
        self._interval = interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = _signature(self.path)
        self._next = clock() + interval
        self.current = build(load_rule_file(self.path))
        """What ``build`` made of the file in force (raises at start if the file is bad)."""

    def poll(self) -> object | None:
        """What ``build`` makes of the file if it changed since the last look and loads; None
        otherwise (unchanged, not yet time to look, or refused: the error is logged)."""
        now = self._clock()
        if now < self._next or not self._lock.acquire(blocking=False):
            return None
        try:
            self._next = now + self._interval
            signature = _signature(self.path)
            if signature == self._signature:
                return None
            self._signature = signature
            if signature is None:
                _logger.warning("threat rule file %s is gone; the rules in force stay", self.path)
                return None
            try:
                built = self._build(load_rule_file(self.path))
            except ValueError as exc:
                _logger.error("threat rule file refused, the rules in force stay: %s", exc)
                return None
            self.current = built
            _logger.info("threat rules reloaded from %s", self.path)
            return built
        finally:
            self._lock.release()
