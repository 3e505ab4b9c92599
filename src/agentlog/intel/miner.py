"""Online template mining: messages join clusters as they arrive, and clusters merge as the
miner learns which words vary.

How it works
------------
1. ``mask.normalize`` turns the message into masked tokens (``<NUM>``, ``<PATH>``, ...); their
   stateless fingerprint (``fingerprint.fingerprint``) is what every process computes alone.
2. The miner compares *shapes* (``shape``): a word stands for itself, a value is ``*`` (or
   ``key=*``: the key is structure), a list of values is one value.  So a value never
   stands in for a word: ``SOCKS<NUM>`` is not ``HTTPS``, ``tty=:<NUM>`` is not
   ``tty=NODEVssh``, an empty ``key=`` is not ``key=*``.
3. A masked template seen before is one dict lookup away (the common case).  Otherwise the
   message joins the cluster of its shape, or of its words (its shape without the values:
   an optional value such as ``(1.0 KB)``, or a value of several tokens, changes nothing),
   or a cluster whose learned positions (``<*>``) admit it, or founds a new cluster.
4. Learning.  Clusters whose shapes differ at one position only are siblings there.  When
   siblings take at least ``VARIETY`` (3) values at a position and share at least
   ``SHARED_WORDS`` (2) other words, the position is a variable whatever its characters:
   user names, service names, dotted ids.  Two values are a choice (``enabled`` /
   ``disabled``); upper-case codes (``ENOTFOUND``, ``LOOKING``) and an empty ``key=`` name
   cases, not values; one-word messages (``running``, ``blocked``) share nothing: all stay
   apart.  The siblings merge into the oldest, whose template shows ``<*>`` there.  A
   learned variable then reaches the sibling events, earlier or later, that differ from the
   template at one other word: ``Accepted password for root`` takes the ``<*>`` of ``Failed
   password for <*>``, and a second variable is learned within the first one's context.

Why these rules: ``benchmarks/loghub_grouping.py`` measures them on the eight Loghub-2k sets
in ``../shared`` with one configuration for every set, beside drain3 and Drain's published
figures.  They were chosen on four of the sets (HPC, Thunderbird, Hadoop, Zookeeper) and
checked on the other four, which the benchmark averages apart, and on agent errors
(``tests/data/agent_errors.jsonl``).  Rejected on that evidence: merging spans of words of
different lengths (it joined distinct error reasons, ``Connection timed out`` / ``reset by
peer``), ignoring trailing punctuation (it cost a held-out set), counting the values seen
once instead of the distinct ones (no better on the sets, and a brute-force log repeats
every user name).

Ids.  A cluster's id is the stateless fingerprint of its first message; a merged cluster
keeps its oldest member's id, and ``resolve`` maps any id this miner gave to the cluster
that holds it now.  The persisted state (clusters, merged ids) gives the same ids in the
next run.  Memory stays bounded: at most ``max_clusters`` clusters (the least recently
matched go first), and capped caches of seen templates and merged ids.

Concurrent writers: ``save`` reloads the persisted state and keeps what another process
added meanwhile; two processes racing on one file can still lose one's newest clusters,
whose messages then found them again.
"""

from __future__ import annotations

import threading
import warnings
from typing import Iterator, NamedTuple

import msgspec

from agentlog.intel.fingerprint import fingerprint
from agentlog.intel.mask import normalize
from agentlog.intel.shape import (
    VALUE,
    admits,
    is_fixed,
    is_learned,
    learned_slot,
    shape_of,
    shown,
    token_at,
    words_of,
)

VARIETY = 3  # distinct values at one position that make it a variable
SHARED_WORDS = 2  # words the siblings must have in common besides that position
MAX_CLUSTERS = 5_000
STATE_VERSION = 2

_CACHE_LIMIT = 100_000  # seen masked templates; cleared when full, like mask's token cache
_MERGED_LIMIT = 4 * MAX_CLUSTERS


class Match(NamedTuple):
    fingerprint: str
    template: str


class Cluster(msgspec.Struct):
    id: str
    tokens: list[str]
    size: int = 0
    seq: int = 0  # creation order: a merge keeps the oldest member

    @property
    def template(self) -> str:
        return " ".join(self.tokens)


class _Version(msgspec.Struct):
    version: int


class _State(msgspec.Struct):
    version: int
    clusters: list[Cluster]
    merged: dict[str, str] = {}


class _Node:
    """A cluster with what the miner derives from it."""

    __slots__ = ("cluster", "match", "shape", "words", "wild", "last", "owned")

    def __init__(self, cluster: Cluster, shape: list[str]) -> None:
        self.cluster = cluster
        self.match = Match(cluster.id, cluster.template)
        self.shape = shape
        self.words = words_of(shape)
        self.wild = sum(1 for s in shape if is_learned(s))
        self.last = 0
        self.owned: list[tuple[str, ...]] = []  # shapes and words indexed to this node


class TemplateMiner:
    """Streaming clusterer of error messages (see the module docstring)."""

    def __init__(self, persistence=None, *, max_clusters: int = MAX_CLUSTERS) -> None:
        self.persistence = persistence
        self.max_clusters = max_clusters
        self._nodes: dict[str, _Node] = {}
        self._merged: dict[str, str] = {}  # id -> id of the cluster it was merged into
        self._seen: dict[str, str] = {}  # masked template -> cluster id (a cache)
        self._by_shape: dict[tuple[str, ...], str] = {}
        self._by_words: dict[tuple[str, ...], str] = {}
        self._by_length: dict[int, list[_Node]] = {}  # every node, by the length of its shape
        self._wild: dict[int, list[_Node]] = {}  # nodes with learned positions, by word count
        self._siblings: dict[int, list[str]] = {}  # hash of (shape before, shape after) -> ids
        self._seq = 0
        self._clock = 0
        self._lock = threading.Lock()
        if persistence is not None:
            self._absorb(persistence.load())

    # -- public ---------------------------------------------------------------------

    def add(self, message: str) -> Match:
        """Assign ``message`` to a cluster, learning from it; returns (fingerprint, template)."""
        tokens = normalize(message)
        key = " ".join(tokens)
        with self._lock:
            self._clock += 1
            node = self._nodes.get(self._seen.get(key))  # type: ignore[arg-type]
            if node is None:
                node = self._node(self._seen.get(key)) or self._place(tokens)
                if len(self._seen) >= _CACHE_LIMIT:
                    self._seen.clear()
                self._seen[key] = node.cluster.id
            node.cluster.size += 1
            node.last = self._clock
            return node.match

    def resolve(self, fingerprint: str) -> Match | None:
        """The cluster that holds an id this miner gave (clusters merge as it learns)."""
        with self._lock:
            node = self._node(fingerprint)
            return None if node is None else node.match

    def clusters(self) -> Iterator[Cluster]:
        """The clusters, largest first."""
        with self._lock:
            return iter(sorted((n.cluster for n in self._nodes.values()), key=lambda c: -c.size))

    def variants(self, cluster_id: str) -> list[str]:
        """The masked templates seen lately that map to ``cluster_id``."""
        with self._lock:
            return [key for key, cid in self._seen.items() if self._resolved_id(cid) == cluster_id]

    def save(self) -> None:
        """Persist the clusters, keeping what other processes saved meanwhile."""
        if self.persistence is None:
            return
        with self._lock:
            self._absorb(self.persistence.load(), report=False)  # reported when first read
            clusters = sorted((n.cluster for n in self._nodes.values()), key=lambda c: c.seq)
            state = _State(STATE_VERSION, clusters, self._merged)
            self.persistence.save(msgspec.json.encode(state))

    # -- lookup -----------------------------------------------------------------------

    def _resolved_id(self, cluster_id: str) -> str:
        merged = self._merged
        while cluster_id in merged:
            cluster_id = merged[cluster_id]
        return cluster_id

    def _node(self, cluster_id: str | None) -> _Node | None:
        if cluster_id is None:
            return None
        node = self._nodes.get(cluster_id)
        if node is None and cluster_id in self._merged:
            node = self._nodes.get(self._resolved_id(cluster_id))
        return node

    def _place(self, tokens: list[str]) -> _Node:
        shape = shape_of(tokens)
        words = words_of(shape)
        node = self._node(self._by_shape.get(shape)) or self._node(self._by_words.get(words))
        if node is not None:
            return node
        match, sibling = self._nearest_learned(words)
        if match is not None:
            return match
        cluster = Cluster(fingerprint(tokens), list(tokens), seq=self._seq)
        known = self._node(cluster.id)
        if known is not None:  # the same id from another shape: a merged or persisted cluster
            return known
        self._seq += 1
        slots = list(shape)
        if sibling is not None:  # learned positions carry over to a sibling's new cluster
            at = [i for i, s in enumerate(slots) if s != VALUE]
            for j, word in enumerate(sibling.words):
                if is_learned(word) and admits(word, slots[at[j]]):
                    slots[at[j]] = word
                    index = token_at(tokens, at[j])
                    cluster.tokens[index] = shown(word, cluster.tokens[index])
        node = self._index(cluster, slots, shape)
        self._evict()
        return self._learn(node)

    def _nearest_learned(self, words: tuple[str, ...]) -> tuple[_Node | None, _Node | None]:
        """The most specific cluster with learned positions that admits ``words``, and one
        that differs from them at one word only."""
        match = sibling = None
        for node in self._wild.get(len(words), ()):
            differ = 0
            for ours, theirs in zip(node.words, words):
                if ours != theirs and not admits(ours, theirs):
                    differ += 1
                    if differ > 1:
                        break
            if differ == 0 and (match is None or node.wild < match.wild):
                match = node
            elif differ == 1 and sibling is None:
                sibling = node
        return match, sibling

    # -- index --------------------------------------------------------------------------

    def _index(self, cluster: Cluster, slots: list[str], shape: tuple[str, ...] | None = None) -> _Node:
        node = _Node(cluster, slots)
        node.last = self._clock
        shape = shape or tuple(slots)
        words = words_of(shape)
        self._by_shape.setdefault(shape, cluster.id)
        self._by_words.setdefault(words, cluster.id)
        node.owned += [shape, words]
        self._register(node)
        return node

    def _register(self, node: _Node) -> None:
        self._nodes[node.cluster.id] = node
        self._by_length.setdefault(len(node.shape), []).append(node)
        if node.wild:
            self._wild.setdefault(len(node.words), []).append(node)
        for key in self._sibling_keys(node.shape):
            self._siblings.setdefault(key, []).append(node.cluster.id)

    def _unindex(self, node: _Node) -> None:
        cid = node.cluster.id
        del self._nodes[cid]
        self._by_length[len(node.shape)].remove(node)
        if node.wild:
            self._wild[len(node.words)].remove(node)
        for key in self._sibling_keys(node.shape):
            ids = self._siblings.get(key)
            if ids is not None and cid in ids:
                ids.remove(cid)
                if not ids:
                    del self._siblings[key]

    @staticmethod
    def _sibling_keys(shape: list[str]) -> Iterator[int]:
        """One key per word position: the shape with a hole there (values are words here)."""
        whole = tuple(shape)
        for i, s in enumerate(whole):
            if not is_learned(s):
                yield hash((i, whole[:i], whole[i + 1 :]))

    # -- learning -----------------------------------------------------------------------

    def _learn(self, node: _Node) -> _Node:
        """Merge the siblings of ``node`` at positions that take ``VARIETY`` values."""
        todo = [node]
        while todo:
            current = todo.pop()
            if self._nodes.get(current.cluster.id) is not current:
                continue
            for position, key in zip(self._word_positions(current.shape), self._sibling_keys(current.shape)):
                members = self._sibling_group(current, position, key)
                if members:
                    learned = self._merge(members, position, learned_slot([m.shape[position] for m in members]))
                    todo += [learned, *self._spread(learned, position)]
                    break
        return self._node(node.cluster.id) or node

    @staticmethod
    def _word_positions(shape: list[str]) -> list[int]:
        return [i for i, s in enumerate(shape) if not is_learned(s)]

    def _sibling_group(self, node: _Node, position: int, key: int) -> list[_Node]:
        ids = self._siblings.get(key, ())
        if len(ids) < VARIETY:
            return []
        shared = sum(1 for i, s in enumerate(node.shape) if i != position and s != VALUE and not is_learned(s))
        if shared < SHARED_WORDS:
            return []
        hole = node.shape[:position], node.shape[position + 1 :]
        members = [self._nodes[i] for i in ids if i in self._nodes]
        # a hash key could collide: keep the true siblings only
        members = [
            m
            for m in members
            if (m.shape[:position], m.shape[position + 1 :]) == hole and not is_fixed(m.shape[position])
        ]
        if len({m.shape[position] for m in members}) < VARIETY:
            return []
        return members

    def _spread(self, learned: _Node, position: int) -> list[_Node]:
        """Clusters that differ from a learned template at one other word take its ``<*>``:
        ``Accepted password for root`` learns from ``Failed password for <*>``, whichever
        came first.  Those that become alike merge."""
        slot_ = learned.shape[position]
        alike: dict[tuple[str, ...], list[_Node]] = {}
        for node in self._by_length.get(len(learned.shape), ()):
            if node is learned or is_learned(node.shape[position]) or not admits(slot_, node.shape[position]):
                continue
            differ = 0
            for i, (ours, theirs) in enumerate(zip(learned.shape, node.shape)):
                if i != position and ours != theirs and not admits(ours, theirs):
                    differ += 1
                    if differ > 1:
                        break
            if differ == 1:
                opened = list(node.shape)
                opened[position] = slot_
                alike.setdefault(tuple(opened), []).append(node)
        return [self._merge(members, position, slot_) for members in alike.values()]

    def _merge(self, members: list[_Node], position: int, learned: str) -> _Node:
        """One cluster, the oldest member's, with the ``learned`` slot at ``position``."""
        members.sort(key=lambda m: m.cluster.seq)
        keep = members[0]
        for member in members:
            self._unindex(member)
        keep.shape[position] = learned
        token = token_at(keep.cluster.tokens, position)
        if token is not None:
            keep.cluster.tokens[token] = shown(learned, keep.cluster.tokens[token])
        merged = _Node(keep.cluster, keep.shape)
        merged.last = max(m.last for m in members)
        merged.owned = keep.owned
        self._register(merged)
        for member in members[1:]:
            self._merged[member.cluster.id] = keep.cluster.id
            keep.cluster.size += member.cluster.size
            for owned in member.owned:
                if self._by_shape.get(owned) == member.cluster.id:
                    self._by_shape[owned] = keep.cluster.id
                if self._by_words.get(owned) == member.cluster.id:
                    self._by_words[owned] = keep.cluster.id
            merged.owned += member.owned
        self._trim_merged()
        return merged

    # -- bounds -------------------------------------------------------------------------

    def _evict(self) -> None:
        """Forget the least recently matched tenth once there are too many clusters."""
        if len(self._nodes) <= self.max_clusters:
            return
        stale = sorted(self._nodes.values(), key=lambda n: n.last)[: max(1, len(self._nodes) // 10)]
        for node in stale:
            self._unindex(node)
            for owned in node.owned:
                if self._by_shape.get(owned) == node.cluster.id:
                    del self._by_shape[owned]
                if self._by_words.get(owned) == node.cluster.id:
                    del self._by_words[owned]
        self._merged = {k: v for k, v in self._merged.items() if self._resolved_id(v) in self._nodes}

    def _trim_merged(self) -> None:
        if len(self._merged) > _MERGED_LIMIT:  # the oldest merges are forgotten first
            self._merged = dict(list(self._merged.items())[len(self._merged) // 2 :])

    # -- persistence ----------------------------------------------------------------------

    def _absorb(self, raw: bytes | None, report: bool = True) -> None:
        """Add persisted clusters and merged ids that this miner does not know yet."""
        if not raw:
            return
        try:
            version = msgspec.json.decode(raw, type=_Version).version
            state = msgspec.json.decode(raw, type=_State) if version == STATE_VERSION else None
        except msgspec.MsgspecError as error:
            if report:
                where = getattr(self.persistence, "path", "miner state")
                warnings.warn(f"{where}: unreadable ({error}); the clusters are learned again", stacklevel=3)
            return
        if state is None:
            return  # another version's state is rebuilt from new messages, not misread
        for cid, into in state.merged.items():
            if cid not in self._nodes:
                self._merged.setdefault(cid, into)
        for cluster in state.clusters:
            if cluster.id in self._nodes or cluster.id in self._merged:
                continue
            self._seq = max(self._seq, cluster.seq + 1)
            self._learn(self._index(cluster, list(shape_of(cluster.tokens))))
        self._evict()
