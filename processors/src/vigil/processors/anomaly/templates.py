"""Log templates: the constant text of a log line, mined with Drain (drain3), in bounded memory.

``"request 1234 took 56ms from 10.0.0.7:8080"`` and ``"request 98 took 3ms from 10.0.0.9:8080"``
are one *template*, ``request <NUM> took <NUM> from <IP>``, with a stable integer id.
:class:`LogTemplates` turns a log body into its template in two steps:

1. **Masking** replaces the parts of a line that obviously vary, so that they never make templates
   of their own (checked in this order):

   ========  ===========================================================================
   ``TIME``  ISO dates and date-times (``2024-01-02T10:20:30.123Z``), clock times (``12:30:45``)
   ``UUID``  ``550e8400-e29b-41d4-a716-446655440000``
   ``IP``    IPv4 with an optional port (``10.0.0.7:8080``), IPv6 (``fe80::1ff:fe23:4567:890a``)
   ``HEX``   ``0x7ffee3b4``; runs of 8+ hex digits with a digit and a letter (trace and span ids,
             hashes), not hex-looking words such as ``deadbeef`` or ``effaced``
   ``NUM``   integers and decimals, signed, with an optional unit of up to 3 letters (``56ms``,
             ``1.5KB``, ``50%``) or thousands separators (``1,000``)
   ========  ===========================================================================

   Every mask needs a digit, so a line without one is not scanned at all, and each pattern runs
   only when its anchor character (``-``, ``:``, ``.``) is in the line.

2. **Drain** (the engine of drain3's ``TemplateMiner``) files the masked line in a prefix tree by
   token count and first token and merges it into the most similar template of that leaf when at
   least ``similarity`` of the tokens agree; differing tokens become ``<*>``
   (``user alice logged in`` + ``user bob logged in`` = ``user <*> logged in``). A template keeps
   its id when it generalises. Drain is used without drain3's ``TemplateMiner`` wrapper, whose
   masker runs every pattern on every line and whose persistence is not needed (the state is
   saved through :mod:`.state`, see :meth:`LogTemplates.snapshot`).

Bounded memory
--------------
Drain keeps at most ``max_templates`` templates (drain3's ``max_clusters``: the least recently
matched is forgotten when a new one is needed; if it comes back it gets a new id). Drain itself
never shrinks its prefix tree, so :class:`LogTemplates` prunes the forgotten templates' ids and
empty branches every ``max_templates // 4`` new templates. Only the first ``MINED_CHARS``
characters of a body are mined (a multi-kilobyte body or stack trace costs no more than its
beginning, and the tree's first level, by token count, stays bounded).

Exact bodies repeat (``"connection closed"``): a bounded dict from body to template skips masking
and Drain for them; a hit still refreshes the template's place in Drain's LRU order, so a template
matched only through the cache is not forgotten as unused.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from drain3.drain import Drain, LogCluster, Node
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

TEMPLATE = "vigil.log.template"
TEMPLATE_ID = "vigil.log.template_id"
TEMPLATE_KEYS = frozenset({TEMPLATE, TEMPLATE_ID})

MINED_CHARS = 1024
"""Only this many leading characters of a body are mined."""
SHOWN_CHARS = 200
"""Templates longer than this are cut (with an ellipsis) in ``vigil.log.template``."""

_PARAM = "<*>"  # Drain's wildcard
_H = "[0-9A-Fa-f]"
# (anchor: a substring the pattern cannot match without, or None; pattern; mask)
_MASKS: tuple[tuple[str | None, str, str], ...] = (
    (
        "-",
        r"(?<![\w.])\d{4}-\d{2}-\d{2}"
        r"(?:[T ]\d{2}:\d{2}(?::\d{2})?(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?)?(?!\w)",
        "<TIME>",
    ),
    (":", r"(?<![\w.:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?![\w:])", "<TIME>"),
    ("-", rf"(?<![\w-]){_H}{{8}}-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}(?![\w-])", "<UUID>"),
    (".", r"(?<![\w.:])(?:\d{1,3}\.){3}\d{1,3}(?::\d{1,5})?(?![\w.])", "<IP>"),
    (
        "::",
        rf"(?<![\w.:])(?=[\w:]*\d)(?:{_H}{{1,4}}(?::{_H}{{1,4}}){{0,6}})?::"
        rf"(?:{_H}{{1,4}}(?::{_H}{{1,4}}){{0,6}})?(?![\w:])",
        "<IP>",
    ),
    (
        None,
        rf"(?<!\w)(?:0[xX]{_H}+|(?=[0-9A-Fa-f]*[0-9])(?=[0-9A-Fa-f]*[A-Fa-f]){_H}{{8,}})(?!\w)",
        "<HEX>",
    ),
    (None, r"(?<![\w.])[-+]?\d+(?:[.,:]\d+)*(?:[A-Za-zµ%]{1,3})?(?!\w)", "<NUM>"),
)
_COMPILED = tuple((anchor, re.compile(pattern).sub, mask) for anchor, pattern, mask in _MASKS)
_DIGIT = re.compile(r"\d").search


def mask(text: str) -> str:
    """``text`` with its variable parts (times, ids, addresses, numbers) replaced by ``<NAME>``."""
    if _DIGIT(text) is None:
        return text
    for anchor, sub, replacement in _COMPILED:
        if anchor is None or anchor in text:
            text = sub(replacement, text)
    return text


class Template:
    """One mined template: its id, its current text, and a slot for the scorer's statistics."""

    __slots__ = ("attributes", "cluster", "id", "last_used", "stats", "text", "tokens")

    def __init__(self, cluster: LogCluster) -> None:
        self.cluster = cluster
        self.id: int = cluster.cluster_id
        self.last_used = 0
        self.stats: Any = None
        """Whatever the user of the miner keeps per template (dropped with the template)."""
        self.tokens: tuple[str, ...] = ()
        self.text = ""
        self.attributes: tuple[KeyValue, ...] = ()
        self.refresh()

    def refresh(self) -> None:
        """Take up the cluster's current template (Drain generalises it in place)."""
        self.tokens = self.cluster.log_template_tokens
        text = " ".join(self.tokens)
        if len(text) > SHOWN_CHARS:
            text = text[: SHOWN_CHARS - 1] + "…"
        self.text = text
        # Built once per template version; RepeatedField.extend() copies them onto each record.
        self.attributes = (
            KeyValue(key=TEMPLATE_ID, value=AnyValue(int_value=self.id)),
            KeyValue(key=TEMPLATE, value=AnyValue(string_value=text)),
        )

    def __repr__(self) -> str:
        return f"Template({self.id}, {self.text!r})"


class LogTemplates:
    """Maps log bodies to :class:`Template` objects (see the module docstring)."""

    def __init__(self, *, max_templates: int = 2000, similarity: float = 0.5, cache_size: int = 4096) -> None:
        if max_templates < 1:
            raise ValueError("max_templates must be at least 1")
        self.max_templates = max_templates
        self.similarity = similarity
        self.cache_size = cache_size
        self._prune_at = max_templates + max(16, max_templates // 4)
        self._reset()

    def _reset(self) -> None:
        self._drain = Drain(
            depth=4,
            sim_th=self.similarity,
            max_children=100,
            max_clusters=self.max_templates,
            profiler=None,  # Drain skips its profiling calls when this is falsy
            param_str=_PARAM,
        )
        # Drain's LRU map of id -> cluster: indexing it refreshes the id (and yields None once
        # the cluster is forgotten), .get() does not.
        self._lru = self._drain.id_to_cluster
        self._templates: dict[int, Template] = {}
        self._cache: dict[str, Template] = {}
        self._cache_get = self._cache.get
        self._uses = 0

    def match(self, body: str) -> tuple[Template, bool]:
        """The template of ``body`` (learning from it), and whether it was created just now."""
        text = body if len(body) <= MINED_CHARS else body[:MINED_CHARS]
        self._uses += 1
        template = self._cache_get(text)
        if template is not None and self._lru[template.id] is template.cluster:
            template.cluster.size += 1
            template.last_used = self._uses
            return template, False
        cluster, change = self._drain.add_log_message(mask(text))
        template = self._templates.get(cluster.cluster_id)
        if template is None:
            template = Template(cluster)
            self._templates[template.id] = template
            if len(self._templates) > self._prune_at:
                self._prune()
        elif cluster.log_template_tokens is not template.tokens:
            template.refresh()
        template.last_used = self._uses
        cache = self._cache
        if len(cache) >= self.cache_size:
            cache.clear()  # hot bodies come back at once; cheaper than an LRU per hit
        cache[text] = template
        return template, change == "cluster_created"

    def get(self, template_id: int) -> Template | None:
        """The live template of that id, if any (without refreshing it)."""
        template = self._templates.get(template_id)
        return template if template is not None and template_id in self._lru else None

    def __len__(self) -> int:
        """Live templates (at most ``max_templates``)."""
        return len(self._lru)

    def __iter__(self) -> Iterator[Template]:
        """The live templates."""
        lru = self._lru
        return iter([t for t in self._templates.values() if t.id in lru])

    def tree_size(self) -> int:
        """Nodes in Drain's prefix tree (for checking that memory stays bounded)."""
        stack, count = [self._drain.root_node], 0
        while stack:
            node = stack.pop()
            count += 1
            stack.extend(node.key_to_child_node.values())
        return count

    def _prune(self) -> None:
        """Forget the statistics and tree entries of templates Drain has evicted."""
        lru = self._lru
        self._templates = {tid: t for tid, t in self._templates.items() if tid in lru}

        def prune(node: Node) -> bool:  # whether the node is still needed
            if node.cluster_ids:
                node.cluster_ids = [cid for cid in node.cluster_ids if cid in lru]
            children = node.key_to_child_node
            for key in [key for key, child in children.items() if not prune(child)]:
                del children[key]
            return bool(node.cluster_ids or children)

        prune(self._drain.root_node)

    def snapshot(self) -> dict[str, Any]:
        """The live templates, least recently used first, as plain data."""
        live = sorted(self, key=lambda t: t.last_used)
        return {
            "templates": [(t.id, t.cluster.log_template_tokens, t.cluster.size) for t in live],
            "next_id": self._drain.clusters_counter,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Take back a :meth:`snapshot` (the prefix tree is rebuilt from the templates)."""
        self._reset()
        drain = self._drain
        for template_id, tokens, size in state["templates"]:
            cluster = LogCluster(list(tokens), int(template_id))
            cluster.size = int(size)
            drain.id_to_cluster[cluster.cluster_id] = cluster  # beyond max_templates: LRU evicts
        drain.clusters_counter = int(state["next_id"])
        for uses, cluster in enumerate(list(drain.id_to_cluster.values()), start=1):
            drain.add_seq_to_prefix_tree(drain.root_node, cluster)
            template = Template(cluster)
            template.last_used = uses
            self._templates[template.id] = template
        self._uses = len(self._templates)
