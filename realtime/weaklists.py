"""Objects filed under keys and held weakly: sockets by address, followers by stream."""

from __future__ import annotations

import weakref
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class WeakLists(Generic[K, T]):
    """Per key, weak references by object id: an object that goes away without being
    discarded is skipped, then forgotten. Adding and discarding cost the same whatever the
    number under a key: 10,000 sockets on one broadcast channel leave in 10,000 steps, not
    50 million. (A ``WeakSet`` per key cost 0.7-2 KB of each idle socket, bench/RESULTS.md;
    a dict of one weakref costs about 0.2 KB.)"""

    def __init__(self) -> None:
        self._refs: dict[K, dict[int, weakref.ref[T]]] = {}

    def __bool__(self) -> bool:
        return bool(self._refs)

    def keys(self) -> list[K]:
        return list(self._refs)

    def add(self, key: K, item: T) -> None:
        self._refs.setdefault(key, {})[id(item)] = weakref.ref(item)

    def discard(self, key: K, item: T | None = None) -> None:
        """Forget ``item`` under ``key`` (and, without an item, whatever there has gone away)."""
        refs = self._refs.get(key)
        if refs is None:
            return
        if item is not None:
            ref = refs.get(id(item))
            if ref is not None and ref() in (None, item):
                del refs[id(item)]
        else:
            for ident in [ident for ident, ref in refs.items() if ref() is None]:
                del refs[ident]
        if not refs:
            del self._refs[key]

    def get(self, key: K) -> list[T]:
        """What is alive under ``key``."""
        refs = self._refs.get(key, {})
        alive = [item for ref in refs.values() if (item := ref()) is not None]
        if len(alive) != len(refs):
            self.discard(key)
        return alive
