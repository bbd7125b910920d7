"""Catalogue entries of the losses beyond torch.nn: robust regression, focal and hinge
classification, segmentation and boxes."""

from __future__ import annotations

from ._base import Entry

ENTRIES: tuple[Entry, ...] = ()
