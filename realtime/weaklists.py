"""Objects filed under keys and held weakly: sockets by address, followers by user."""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class WeakLists(Generic[K, T]):
    """Per key, a list of weak references: an object that goes away without being discarded
    is skipped, then forgotten. (A ``WeakSet`` per key cost 0.7-2 KB of each idle socket,
    bench/RESULTS.md.)"""

    def __init__(self) -> None:
        self._refs: dict[K, list[weakref.ref[T]]] = {}

    def __bool__(self) -> bool:
        return bool(self._refs)

    def keys(self) -> list[K]:
        return list(self._refs)

    def add(self, key: K, item: T) -> None:
        self._refs.setdefault(key, []).append(weakref.ref(item))

    def discard(self, key: K, item: T | None = None) -> None:
        """Forget ``item`` under ``key``, and whatever there has gone away."""
        kept = [ref for ref in self._refs.get(key, ()) if ref() not in (None, item)]
        if kept:
            self._refs[key] = kept
        else:
            self._refs.pop(key, None)

    def get(self, key: K) -> list[T]:
        """What is alive under ``key``."""
        refs = self._refs.get(key, [])
        alive = [item for ref in refs if (item := ref()) is not None]
        if len(alive) != len(refs):
            self.discard(key)
        return alive
