"""The catalogue of public losses: one entry per loss, the single list that tests, benchmarks and
docs iterate over, so a loss registered here is covered everywhere on the day it is added.

Each `Entry` names the loss's family, the function, makers of sample inputs (named variants that
exercise its options), a reference baseline (optax, or a plain ``jax.numpy`` formula) computing the
same value as the loss's default call, and the numeric hyperparameters whose change must not
recompile.

Sample conventions, relied on by the generic tests: every positional array has a leading batch
axis (unless listed in `Sample.shared`, like the weight matrix of `linear_cross_entropy`), and so
does the unreduced (``reduction="none"``) loss; keyword arrays are unbatched unless listed in
`Sample.batched`.

Entries live with their family (``_pytorch``, ``_beyond``, ``_contrastive``, ``_rl``); this module
concatenates them and is the only place that does.

Example:
  >>> import jax
  >>> from jaxloss import catalog
  >>> entry = catalog.get("mse_loss")
  >>> sample = entry.sample(jax.random.key(0), batch=8)
  >>> bool(abs(entry.fn(*sample.args, **sample.kwargs)
  ...          - entry.baseline(*sample.args, **sample.kwargs)) < 1e-6)
  True
"""

from __future__ import annotations

from types import MappingProxyType

from . import _beyond, _contrastive, _pytorch, _rl
from ._base import Dims as Dims
from ._base import Entry as Entry
from ._base import Maker as Maker
from ._base import Sample as Sample
from ._base import dims as dims
from ._base import sample_dims as sample_dims

ENTRIES: tuple[Entry, ...] = (
    _pytorch.ENTRIES + _beyond.ENTRIES + _contrastive.ENTRIES + _rl.ENTRIES
)
_BY_NAME = MappingProxyType({entry.name: entry for entry in ENTRIES})
if len(_BY_NAME) != len(ENTRIES):
    raise ImportError("jaxloss.catalog: two entries share a name")


def get(name: str) -> Entry:
    """The entry of the public loss `name`."""
    try:
        return _BY_NAME[name]
    except KeyError:
        known = ", ".join(_BY_NAME)
        raise KeyError(f"catalog.get: no loss named {name!r}; known: {known}") from None


def names() -> tuple[str, ...]:
    return tuple(_BY_NAME)


def families() -> tuple[str, ...]:
    return tuple(dict.fromkeys(entry.family for entry in ENTRIES))
