"""Optax-compatible objectives and compiled training steps.

An `Objective` turns a model (``apply_fn(params, inputs) -> predictions``), one loss or several
weighted loss terms, and optional penalties on the parameters into the scalar function optax
optimizers minimise. `make_train_step` compiles one optimisation step for any optax optimizer,
passing the loss value and a value function to those that take them (``optax.lbfgs`` and its line
search, ``optax.contrib.reduce_on_plateau``).

Example:
  >>> import jax, jax.numpy as jnp, optax, jaxloss
  >>> x = jnp.linspace(-1.0, 1.0, 32)[:, None]
  >>> objective = jaxloss.Objective(lambda p, x: x @ p["w"] + p["b"], jaxloss.mse_loss)
  >>> params = {"w": jnp.zeros((1, 1)), "b": jnp.zeros(())}
  >>> optimizer = optax.sgd(0.5)
  >>> step = jaxloss.make_train_step(objective, optimizer)
  >>> opt_state = optimizer.init(params)
  >>> for _ in range(100):
  ...     params, opt_state, metrics = step(params, opt_state, (x, 2 * x + 1))
  >>> print(f"{float(params['w'][0, 0]):.3f} {float(params['b']):.3f}")
  2.000 1.000
  >>> step.jitted._cache_size()  # one compilation for all 100 steps
  1
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Hashable, Mapping
from typing import Any

import jax
import jax.numpy as jnp
import optax

from . import _ops

Selector = Hashable | Callable[[Any], Any] | None


def _pick(tree, selector: Selector, what: str):
    """The part of `tree` that `selector` names: a key or index, a function of the tree, or the
    whole tree (None)."""
    if selector is None:
        return tree
    if callable(selector):
        return selector(tree)
    try:
        return tree[selector]
    except (KeyError, IndexError, TypeError) as error:
        raise ValueError(
            f"Objective: cannot select {selector!r} for {what} from a "
            f"{type(tree).__name__}: {error}"
        ) from None


class _Default:
    """The default selector: ``batch[0]``/``batch[1]``, or ``batch["inputs"]``/``["targets"]``."""

    def __repr__(self):
        return "default"


_DEFAULT = _Default()


def _default_part(batch, index: int, key: str, what: str):
    if isinstance(batch, Mapping):
        return _pick(batch, key, what)
    if isinstance(batch, tuple | list):
        return _pick(batch, index, what)
    raise ValueError(
        f"Objective: the batch is a {type(batch).__name__}; pass (inputs, targets), a mapping "
        f"with {key!r}, or say where the {what} are with a selector"
    )


@dataclasses.dataclass(frozen=True)
class Term:
    """One weighted term of an `Objective`: ``weight * loss(prediction, target, where=mask)``.

    Attributes:
      loss: a function of the selected prediction and target returning a scalar, e.g.
        ``jaxloss.cross_entropy`` or ``functools.partial(jaxloss.huber_loss, delta=0.5)``.
      weight: the term's weight (traced inside `make_train_step`: changing it through the
        step's ``weights`` argument does not recompile).
      prediction: which part of the model's output the term reads: a key or index, a function
        of the output, or None for all of it.
      target: which part of the batch is the target: a key or index, a function of the batch,
        or by default the batch's targets (``batch[1]``, or ``batch["targets"]`` for a mapping).
        None passes no target (a term on the prediction alone, such as a z-loss).
      where: which part of the batch is the term's ``where=`` mask, or None for no mask.
    """

    loss: Callable[..., jax.Array]
    weight: float = 1.0
    prediction: Selector = None
    target: Selector = _DEFAULT
    where: Selector = None

    def value(self, predictions, batch):
        args = [_pick(predictions, self.prediction, "a term's prediction")]
        if self.target is not None:
            if self.target is _DEFAULT:
                args.append(_default_part(batch, 1, "targets", "targets"))
            else:
                args.append(_pick(batch, self.target, "a term's target"))
        if self.where is None:
            return self.loss(*args)
        return self.loss(*args, where=_pick(batch, self.where, "a term's mask"))


def _leaves_selected(params, mask):
    """The leaves of `params` that `mask` (a pytree of bools matching params, a function of the
    params returning one, or None for all) selects. Masks are static: unselected leaves cost
    nothing."""
    if mask is None:
        return jax.tree.leaves(params)
    if callable(mask):
        mask = mask(params)
    selected = jax.tree.map(lambda keep, leaf: leaf if keep else None, mask, params)
    return jax.tree.leaves(selected)


@dataclasses.dataclass(frozen=True)
class L2:
    r"""Weight decay as a penalty: $\tfrac{\lambda}{2} \sum w^2$ over the selected leaves.

    Its gradient is $\lambda w$, the update ``optax.add_decayed_weights(strength)`` applies.
    `strength` is the penalty's weight in the `Objective` (traced in `make_train_step`).
    """

    strength: float
    mask: Any = None

    def value(self, params):
        return 0.5 * sum((jnp.sum(jnp.square(leaf)) for leaf in
                          _leaves_selected(params, self.mask)), jnp.float32(0))


@dataclasses.dataclass(frozen=True)
class L1:
    r"""Lasso penalty: $\lambda \sum \lvert w\rvert$ over the selected leaves.

    Its gradient is $\lambda\, \mathrm{sign}(w)$, 0 at $w = 0$. `strength` is the penalty's
    weight in the `Objective` (traced in `make_train_step`).
    """

    strength: float
    mask: Any = None

    def value(self, params):
        return sum((jnp.sum(_ops.abs_(leaf)) for leaf in _leaves_selected(params, self.mask)),
                   jnp.float32(0))


def _name_of(fn) -> str:
    while isinstance(fn, functools.partial):
        fn = fn.func
    return getattr(fn, "__name__", "loss")


class Objective:
    r"""The scalar training objective of a model: weighted loss terms plus penalties.

    $$L(\theta; b) = \sum_k w_k\, \ell_k\bigl(f_\theta(x_b), b\bigr)
      + \sum_r \lambda_r\, R_r(\theta)$$

    Args:
      apply_fn: the model, ``apply_fn(params, inputs) -> predictions`` (any pytree).
      loss: a loss of ``(prediction, target)``, e.g. ``jaxloss.mse_loss`` (with its options
        bound by ``functools.partial``); or a mapping of names to `Term` (or to such losses),
        for several weighted terms on the same or different outputs.
      regularizers: optional mapping of names to penalties on the parameters (`L2`, `L1`).
      inputs: which part of the batch the model reads: a key or index, a function of the
        batch, or by default ``batch[0]`` (``batch["inputs"]`` for a mapping).
      return_predictions: whether the aux output includes the model's predictions.

    Calling ``objective(params, batch)`` runs the model once and returns ``(loss, aux)``, with
    ``aux["terms"]`` holding each term's and penalty's unweighted value (and
    ``aux["predictions"]`` if asked). ``objective.value(params, batch)`` is the scalar alone and
    ``objective.bind(batch)`` the function of the parameters for a fixed batch, the forms
    ``jax.grad``, ``optax.value_and_grad_from_state`` and line searches take. Every method takes
    an optional ``weights`` mapping (term and penalty names to values) that overrides the
    constructor's; inside ``jit`` those are traced, so changing them does not recompile.

    Example:
      >>> import functools, jax.numpy as jnp, jaxloss
      >>> def model(params, x):
      ...     return {"logits": x @ params["w"], "value": x @ params["v"]}
      >>> objective = jaxloss.Objective(model, {
      ...     "policy": jaxloss.Term(jaxloss.cross_entropy, prediction="logits",
      ...                            target="actions"),
      ...     "value": jaxloss.Term(jaxloss.mse_loss, weight=0.5, prediction="value",
      ...                           target="returns"),
      ... }, regularizers={"l2": jaxloss.L2(1e-3)}, inputs="x")
      >>> params = {"w": jnp.ones((3, 4)), "v": jnp.ones((3,))}
      >>> batch = {"x": jnp.ones((2, 3)), "actions": jnp.array([0, 1]),
      ...          "returns": jnp.array([1.0, 2.0])}
      >>> loss, aux = objective(params, batch)
      >>> sorted(aux["terms"])
      ['l2', 'policy', 'value']
    """

    def __init__(
        self,
        apply_fn: Callable,
        loss: Callable | Mapping[str, Term | Callable],
        *,
        regularizers: Mapping[str, L2 | L1] | None = None,
        inputs: Selector = _DEFAULT,
        return_predictions: bool = False,
    ):
        if isinstance(loss, Mapping):
            terms = {name: t if isinstance(t, Term) else Term(t) for name, t in loss.items()}
        elif isinstance(loss, Term):
            terms = {_name_of(loss.loss): loss}
        elif callable(loss):
            terms = {_name_of(loss): Term(loss)}
        else:
            raise TypeError(
                "Objective: `loss` must be a loss function, a Term or a mapping of names to "
                f"Terms, got {type(loss).__name__}"
            )
        regularizers = dict(regularizers or {})
        clash = set(terms) & set(regularizers)
        if clash:
            raise ValueError(f"Objective: names used for both a term and a regularizer: {clash}")
        if not terms:
            raise ValueError("Objective: at least one loss term is needed")
        self.apply_fn = apply_fn
        self.terms = terms
        self.regularizers = regularizers
        self.inputs = inputs
        self.return_predictions = return_predictions
        self.weights = {
            **{name: term.weight for name, term in terms.items()},
            **{name: reg.strength for name, reg in regularizers.items()},
        }

    def _weights(self, weights):
        if weights is None:
            return self.weights
        unknown = set(weights) - set(self.weights)
        if unknown:
            raise ValueError(
                f"Objective: unknown weights {sorted(unknown)}; the terms and regularizers are "
                f"{sorted(self.weights)}"
            )
        return {**self.weights, **weights}

    def __call__(self, params, batch, weights=None):
        weights = self._weights(weights)
        if self.inputs is _DEFAULT:
            inputs = _default_part(batch, 0, "inputs", "inputs")
        else:
            inputs = _pick(batch, self.inputs, "the model inputs")
        predictions = self.apply_fn(params, inputs)
        values = {name: term.value(predictions, batch) for name, term in self.terms.items()}
        values.update({name: reg.value(params) for name, reg in self.regularizers.items()})
        for name, value in values.items():
            if jnp.shape(value) != ():
                raise ValueError(
                    f"Objective: term {name!r} has shape {jnp.shape(value)}; every term must "
                    "be a scalar (use reduction='mean' or 'sum')"
                )
        total = sum(weights[name] * value for name, value in values.items())
        aux = {"terms": values}
        if self.return_predictions:
            aux["predictions"] = predictions
        return total, aux

    def value(self, params, batch, weights=None):
        """The scalar objective, ``(params, batch) -> loss``."""
        return self(params, batch, weights)[0]

    def bind(self, batch, weights=None):
        """The objective for a fixed batch, ``params -> loss``."""
        return functools.partial(self.value, batch=batch, weights=weights)


def _split(batch, micro_batches: int):
    """Each leaf's leading axis as (micro_batches, size // micro_batches)."""

    def split(leaf):
        size = jnp.shape(leaf)[0] if jnp.ndim(leaf) else None
        if size is None or size % micro_batches:
            raise ValueError(
                f"make_train_step: a batch leaf of shape {jnp.shape(leaf)} does not split into "
                f"{micro_batches} equal micro-batches along its first axis"
            )
        return jnp.reshape(leaf, (micro_batches, size // micro_batches) + jnp.shape(leaf)[1:])

    return jax.tree.map(split, batch)


def _mean_over_micro_batches(fn, params, batch, micro_batches):
    """The mean of ``fn(params, micro_batch)`` (a pytree) over equal micro-batches, one at a
    time in a ``lax.scan`` so that only one micro-batch's activations are alive."""
    parts = _split(batch, micro_batches)

    def accumulate(total, part):
        return jax.tree.map(jnp.add, total, fn(params, part)), None

    first = jax.tree.map(lambda leaf: leaf[0], parts)
    zeros = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), jax.eval_shape(fn, params, first))
    total, _ = jax.lax.scan(accumulate, zeros, parts)
    return jax.tree.map(lambda leaf: leaf / micro_batches, total)


def make_train_step(
    objective: Objective,
    optimizer: optax.GradientTransformation,
    *,
    donate: bool = True,
    micro_batches: int | None = None,
):
    """A compiled optimisation step: ``step(params, opt_state, batch, weights=None)``.

    Computes the objective and its gradient, applies ``optimizer`` and returns
    ``(params, opt_state, metrics)``, where ``metrics`` holds ``"loss"``, ``"terms"`` (each term's
    unweighted value) and ``"grad_norm"``. Optimizers of type
    ``optax.GradientTransformationExtraArgs`` (all of optax's own) also receive ``value``,
    ``grad`` and ``value_fn`` (the objective on this batch), which ``optax.lbfgs`` and its line
    search, ``optax.contrib.reduce_on_plateau`` and ``optax.polyak_sgd`` need; plain
    ``GradientTransformation`` objects receive the gradient only. The value and gradient are
    computed at each step rather than reused from a line search's state, which is stale when
    the batch changes.

    The step compiles once: ``weights`` (a mapping overriding the objective's term weights and
    penalty strengths) is traced, and ``params`` and ``opt_state`` are donated when `donate`
    is True (pass the returned ones to the next call; an array that appears twice among them,
    as in fresh optimizer states, is copied first). ``step.jitted`` is the underlying
    ``jax.jit`` function, for ``.lower()`` and cache inspection.

    Args:
      objective: the `Objective` to minimise.
      optimizer: any optax gradient transformation.
      donate: whether to donate the parameter and optimizer-state buffers.
      micro_batches: split each batch into this many equal micro-batches along its first
        axis and average their values and gradients with a ``lax.scan`` (gradient
        accumulation): one update, a fraction of the activation memory. For terms that are
        means over examples this equals the full-batch update; with masks or ignored labels it
        is the mean of the micro-batches' means, which weights micro-batches equally.
    """
    extra_args = isinstance(optimizer, optax.GradientTransformationExtraArgs)
    value_and_grad = jax.value_and_grad(objective, has_aux=True)

    def evaluate(params, batch, weights):
        if micro_batches is None:
            return value_and_grad(params, batch, weights)

        def terms_only(params, batch):  # predictions are not averaged over micro-batches
            (value, aux), grads = value_and_grad(params, batch, weights)
            return (value, {"terms": aux["terms"]}), grads

        return _mean_over_micro_batches(terms_only, params, batch, micro_batches)

    def value_fn(params, batch, weights):
        if micro_batches is None:
            return objective.value(params, batch, weights)
        return _mean_over_micro_batches(
            lambda p, b: objective.value(p, b, weights), params, batch, micro_batches)

    def step(params, opt_state, batch, weights=None):
        weights = objective._weights(weights)
        (value, aux), grads = evaluate(params, batch, weights)
        if extra_args:
            updates, opt_state = optimizer.update(
                grads, opt_state, params, value=value, grad=grads,
                value_fn=functools.partial(value_fn, batch=batch, weights=weights),
            )
        else:
            updates, opt_state = optimizer.update(grads, opt_state, params)
        params = optax.apply_updates(params, updates)
        grad_norm = jnp.sqrt(sum(jnp.sum(jnp.square(g)) for g in jax.tree.leaves(grads)))
        metrics = {"loss": value, "terms": aux["terms"], "grad_norm": grad_norm}
        return params, opt_state, metrics

    compiled = jax.jit(step, donate_argnames=("params", "opt_state") if donate else ())

    @functools.wraps(step)
    def train_step(params, opt_state, batch, weights=None):
        params, opt_state = _canonical((params, opt_state), copy_repeated=donate)
        return compiled(params, opt_state, batch, weights)

    train_step.jitted = compiled
    return train_step


def _canonical(tree, *, copy_repeated: bool):
    """`tree` as the step returns it, so that the first call compiles what every later one runs.

    Weakly typed arrays (optax's ``lbfgs().init`` has three, and ``jnp.asarray(0.0)`` is one)
    become strongly typed: the step's outputs are, and a changed type would recompile. With
    donation, an array that appears twice is copied the second time: XLA refuses to donate one
    buffer twice, and fresh optimizer states share arrays (``lbfgs().init`` puts the same zeros
    in two fields; states that start as a copy of the parameters often hold the parameter
    arrays themselves). From the second step on the inputs are the step's own distinct,
    strongly typed outputs, and nothing is copied.
    """
    seen = set()

    def canonical(leaf):
        if not isinstance(leaf, jax.Array):
            return leaf
        if leaf.weak_type:
            return jnp.array(leaf, dtype=leaf.dtype)
        if copy_repeated and id(leaf) in seen:
            return jnp.copy(leaf)
        seen.add(id(leaf))
        return leaf

    return jax.tree.map(canonical, tree)


def per_example_gradients(objective: Objective, params, batch, weights=None):
    """The objective's value and gradient for each example of `batch` on its own.

    Each example is a batch of one (a leading axis of size 1 on every batch leaf), evaluated
    with ``vmap(value_and_grad)``: the results carry a leading axis of the batch size. Useful
    for per-example clipping (DP-SGD), influence estimates and gradient-noise statistics.
    """
    def one(example):
        single = jax.tree.map(lambda leaf: leaf[None], example)
        return jax.value_and_grad(objective.value)(params, single, weights)

    return jax.vmap(one)(batch)
