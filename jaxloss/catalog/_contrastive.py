"""Catalogue entries of the contrastive, ranking and preference (DPO family) losses."""

from __future__ import annotations

from ._base import Entry

ENTRIES: tuple[Entry, ...] = ()
