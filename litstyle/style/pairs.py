"""Pairs for authorship: same author from different books (or items) against different authors, drawn in O(1)
each.  Used by the judge's pair sets and benchmark and by the cross-book verifier's pair model."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Callable, Sequence


class PairSampler:
    """Draws pairs of items by the same author from different books, or by different authors.

    ``anchor`` (optional) says which items may come first in a pair (e.g. the chunks of unseen
    books); the second item comes from the whole pool.  ``same_book``: an author with one book gives
    same-author pairs of two different items of that book.  The items are grouped once (by author,
    and per author and book the items that can complete a same-author pair), so each draw is O(1)
    however large the pool."""

    def __init__(self, items: Sequence, author: Callable, book: Callable, *, anchor: Callable | None = None,
                 same_book: bool = False) -> None:
        self.by_author: dict[str, list] = defaultdict(list)
        for item in items:
            self.by_author[author(item)].append(item)
        self.book = book
        self.authors = sorted(self.by_author)
        self.anchors = {a: [i for i in self.by_author[a] if anchor is None or anchor(i)] for a in self.authors}
        self.first_authors = [a for a in self.authors if self.anchors[a]]
        self._partners: dict[tuple[str, object], list] = {}
        for a in self.first_authors:
            for b in {book(i) for i in self.anchors[a]}:
                others = [i for i in self.by_author[a] if book(i) != b]
                if not others and same_book and len(self.by_author[a]) >= 2:
                    others = self.by_author[a]
                if others:
                    self._partners[(a, b)] = others
        self.multi = sorted({a for a, _ in self._partners})
        self._firsts = {a: [i for i in self.anchors[a] if (a, book(i)) in self._partners] for a in self.multi}
        self._others = {a: [o for o in self.authors if o != a] for a in self.first_authors}

    def same(self, rng: random.Random):
        """Same author, different books (or items, with ``same_book``); None when no author can."""
        if not self.multi:
            return None
        author = rng.choice(self.multi)
        first = rng.choice(self._firsts[author])
        partners = self._partners[(author, self.book(first))]
        second = rng.choice(partners)
        while second is first:
            second = rng.choice(partners)
        return first, second

    def cross(self, rng: random.Random):
        """Two different authors; None with fewer than two authors."""
        if len(self.authors) < 2 or not self.first_authors:
            return None
        a1 = rng.choice(self.first_authors)
        a2 = rng.choice(self._others[a1])
        return rng.choice(self.anchors[a1]), rng.choice(self.by_author[a2])
