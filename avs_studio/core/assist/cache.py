"""A bounded, thread-safe least-recently-used cache for image embeddings.

A SAM image embedding takes a second or more on a CPU and holds 4 MB (SAM 2: 16 MB), so
the annotator computes those of a clip's sampled frames in the background when the clip
opens and keeps the most recent ones here; a click then only runs the small decoder. Two
threads asking for the same key at once compute it once: the second waits for the first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

__all__ = ["EmbeddingCache", "nbytes"]


def nbytes(value: Any) -> int:
    """Memory held by an embedding (arrays, or a dict / tuple / object of them)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, dict):
        return sum(nbytes(v) for v in value.values())
    if isinstance(value, (list, tuple)):
        return sum(nbytes(v) for v in value)
    arrays = getattr(value, "arrays", None)
    return nbytes(arrays) if arrays is not None else 0


class EmbeddingCache:
    """At most ``max_items`` values and ``max_bytes`` bytes; the least recently used go first."""

    def __init__(self, max_items: int = 24, max_bytes: int = 512 << 20) -> None:
        self.max_items = int(max_items)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._items: OrderedDict[Hashable, tuple[Any, int]] = OrderedDict()
        self._pending: dict[Hashable, threading.Event] = {}
        self._bytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items

    @property
    def bytes(self) -> int:
        """Memory held now."""
        with self._lock:
            return self._bytes

    def keys(self) -> list[Hashable]:
        """Keys, least recently used first."""
        with self._lock:
            return list(self._items)

    def peek(self, key: Hashable) -> Any | None:
        """The value of ``key`` if cached (marks it used), else None; never computes."""
        with self._lock:
            found = self._items.get(key)
            if found is None:
                return None
            self._items.move_to_end(key)
            return found[0]

    def get(self, key: Hashable, compute: Callable[[], Any]) -> Any:
        """The value of ``key``, computed with ``compute()`` (once, whoever asks) if missing."""
        while True:
            with self._lock:
                found = self._items.get(key)
                if found is not None:
                    self._items.move_to_end(key)
                    self.hits += 1
                    return found[0]
                waiting = self._pending.get(key)
                if waiting is None:
                    event = threading.Event()
                    self._pending[key] = event
                    self.misses += 1
                    break
            waiting.wait()  # another thread computes it; then look again
        try:
            value = compute()
        finally:
            with self._lock:
                self._pending.pop(key, None)
            event.set()
        self.put(key, value)
        return value

    def put(self, key: Hashable, value: Any) -> None:
        """Store ``value`` (dropping the least recently used beyond the bounds)."""
        size = nbytes(value)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (value, size)
            self._bytes += size
            while len(self._items) > 1 and (len(self._items) > self.max_items or self._bytes > self.max_bytes):
                _, (_, dropped) = self._items.popitem(last=False)
                self._bytes -= dropped

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._items.clear()
            self._bytes = 0
