"""Catalogue entries of the reinforcement-learning losses (jaxloss.rl)."""

from __future__ import annotations

from ._base import Entry

ENTRIES: tuple[Entry, ...] = ()
