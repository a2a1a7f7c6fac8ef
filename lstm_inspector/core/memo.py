"""Values made once per object and kept while the object lives (weights read, weights prepared)."""
from __future__ import annotations

import weakref


class PerObject:
    """``table.get(owner, key, make)``: ``make()`` for ``(owner, key)``, made on the first ask
    and kept while ``owner`` lives (held in a ``WeakKeyDictionary``: owners hash by identity,
    e.g. ``eq=False`` dataclasses). What is kept is shared: nothing may write into it."""

    def __init__(self):
        self._made: "weakref.WeakKeyDictionary" = weakref.WeakKeyDictionary()

    def get(self, owner, key, make):
        made = self._made.setdefault(owner, {})
        if key not in made:
            made[key] = make()
        return made[key]
