"""Objectives and train steps: the composite equals its hand-written form, every optax optimizer
kind trains through `make_train_step`, one compilation, accumulation equals the full batch."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import jaxloss

KEY = jax.random.key(0)


def model(params, x):
    hidden = jnp.tanh(x @ params["w1"] + params["b1"][None, :])
    return {"logits": hidden @ params["w2"], "value": hidden @ params["v"]}


def init(key=KEY, d=4, h=8, c=3):
    k1, k2, k3 = jax.random.split(key, 3)
    return {
        "w1": jax.random.normal(k1, (d, h)) / 2, "b1": jnp.zeros(h),
        "w2": jax.random.normal(k2, (h, c)) / 3, "v": jax.random.normal(k3, (h,)) / 3,
    }


def make_batch(key=KEY, n=16, d=4, c=3):
    k1, k2, k3 = jax.random.split(jax.random.fold_in(key, 1), 3)
    return {
        "x": jax.random.normal(k1, (n, d)),
        "actions": jax.random.randint(k2, (n,), 0, c),
        "returns": jax.random.normal(k3, (n,)),
        "mask": jnp.arange(n) % 4 != 3,
    }


def z_loss(logits):
    return jnp.mean(jax.nn.logsumexp(logits, axis=-1) ** 2)


def two_head_objective(**weights):
    decay = {"w1": True, "b1": False, "w2": True, "v": True}
    return jaxloss.Objective(model, {
        "policy": jaxloss.Term(functools.partial(jaxloss.cross_entropy, label_smoothing=0.1),
                               prediction="logits", target="actions", where="mask"),
        "value": jaxloss.Term(jaxloss.huber_loss, weight=weights.get("value", 0.5),
                              prediction="value", target="returns"),
        "z": jaxloss.Term(z_loss, weight=weights.get("z", 1e-3), prediction="logits",
                          target=None),
    }, regularizers={"l2": jaxloss.L2(1e-2, mask=decay), "l1": jaxloss.L1(1e-3)}, inputs="x")


def hand_written(params, batch):
    out = model(params, batch["x"])
    ce = jaxloss.cross_entropy(out["logits"], batch["actions"], where=batch["mask"],
                               label_smoothing=0.1)
    value = jaxloss.huber_loss(out["value"], batch["returns"])
    l2 = 0.5 * sum(jnp.sum(params[k] ** 2) for k in ("w1", "w2", "v"))
    # |w| with the subgradient 0 at w = 0 (the zero-initialised bias), as L1 documents.
    l1 = sum(jnp.sum(leaf * jnp.sign(leaf)) for leaf in jax.tree.leaves(params))
    return ce + 0.5 * value + 1e-3 * z_loss(out["logits"]) + 1e-2 * l2 + 1e-3 * l1


def test_value_and_gradient_equal_the_hand_written_composite():
    objective, params, batch = two_head_objective(), init(), make_batch()
    value, grads = jax.value_and_grad(objective.value)(params, batch)
    expected, expected_grads = jax.value_and_grad(hand_written)(params, batch)
    np.testing.assert_allclose(value, expected, rtol=1e-6)
    for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(expected_grads), strict=True):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=1e-7)


def test_aux_holds_every_term_unweighted():
    objective, params, batch = two_head_objective(), init(), make_batch()
    loss, aux = objective(params, batch)
    out = model(params, batch["x"])
    terms = aux["terms"]
    assert set(terms) == {"policy", "value", "z", "l2", "l1"}
    np.testing.assert_allclose(terms["value"], jaxloss.huber_loss(out["value"],
                                                                  batch["returns"]), rtol=1e-6)
    np.testing.assert_allclose(terms["z"], z_loss(out["logits"]), rtol=1e-6)
    weighted = sum(objective.weights[name] * value for name, value in terms.items())
    np.testing.assert_allclose(loss, weighted, rtol=1e-6)
    assert "predictions" not in aux


def test_predictions_on_request_from_the_same_forward_pass():
    calls = []

    def counting_model(params, x):
        calls.append(1)
        return model(params, x)

    objective = jaxloss.Objective(counting_model, {"value": jaxloss.Term(
        jaxloss.mse_loss, prediction="value", target="returns")}, inputs="x",
        return_predictions=True)
    _, aux = objective(init(), make_batch())
    assert len(calls) == 1
    np.testing.assert_allclose(aux["predictions"]["value"], model(init(), make_batch()["x"])
                               ["value"], rtol=1e-6)


def test_calling_forms():
    objective, params, batch = two_head_objective(), init(), make_batch()
    full = objective(params, batch)[0]
    assert float(objective.value(params, batch)) == float(full)
    assert float(objective.bind(batch)(params)) == float(full)
    halved = objective.value(params, batch, weights={"value": 0.25})
    assert float(halved) != float(full)


def test_single_loss_and_tuple_batch():
    objective = jaxloss.Objective(lambda p, x: x * p, jaxloss.mse_loss)
    loss, aux = objective(jnp.float32(2.0), (jnp.array([1.0, 2.0]), jnp.array([2.0, 5.0])))
    assert float(loss) == 0.5
    assert list(aux["terms"]) == ["mse_loss"]


def test_a_single_term():
    objective = jaxloss.Objective(model, jaxloss.Term(jaxloss.mse_loss, prediction="value",
                                                      target="returns"), inputs="x")
    loss, aux = objective(init(), make_batch())
    assert list(aux["terms"]) == ["mse_loss"]
    out = model(init(), make_batch()["x"])
    np.testing.assert_allclose(loss, jaxloss.mse_loss(out["value"], make_batch()["returns"]),
                               rtol=1e-6)


def test_penalty_masks_select_leaves():
    params = {"w": jnp.array([1.0, -2.0]), "b": jnp.array([3.0])}
    assert float(jaxloss.L2(1.0, mask={"w": True, "b": False}).value(params)) == 2.5
    assert float(jaxloss.L1(1.0).value(params)) == 6.0
    assert float(jaxloss.L1(1.0, mask=lambda p: {"w": False, "b": True}).value(params)) == 3.0


OPTIMIZERS = {
    "sgd": optax.sgd(0.1),
    "adam": optax.adam(1e-2),
    "adamw": optax.adamw(1e-2, weight_decay=1e-3),
    "clipped_schedule": optax.chain(optax.clip_by_global_norm(1.0),
                                    optax.adam(optax.cosine_decay_schedule(1e-2, 50))),
    "lbfgs": optax.lbfgs(),
    "reduce_on_plateau": optax.chain(optax.adam(1e-2),
                                     optax.contrib.reduce_on_plateau(patience=2, factor=0.5)),
    # A plain GradientTransformation (no extra arguments): gets the gradient only.
    "plain": optax.GradientTransformation(
        lambda params: optax.EmptyState(),
        lambda updates, state, params=None: (jax.tree.map(lambda g: -0.1 * g, updates), state)),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_kind_trains_compiling_once(name):
    optimizer = OPTIMIZERS[name]
    objective, params, batch = two_head_objective(), init(), make_batch()
    step = jaxloss.make_train_step(objective, optimizer)
    opt_state = optimizer.init(params)
    first = float(objective.value(params, batch))
    for _ in range(10):
        params, opt_state, metrics = step(params, opt_state, batch)
    assert step.jitted._cache_size() == 1
    assert float(metrics["loss"]) < first
    assert float(objective.value(params, batch)) < 0.95 * first
    assert set(metrics["terms"]) == {"policy", "value", "z", "l2", "l1"}


def test_sgd_step_is_params_minus_learning_rate_times_gradient():
    objective, params, batch = two_head_objective(), init(), make_batch()
    grads = jax.grad(objective.value)(params, batch)
    step = jaxloss.make_train_step(objective, optax.sgd(0.1), donate=False)
    new, _, metrics = step(params, optax.sgd(0.1).init(params), batch)
    for n, p, g in zip(jax.tree.leaves(new), jax.tree.leaves(params), jax.tree.leaves(grads),
                       strict=True):
        np.testing.assert_allclose(n, p - 0.1 * g, rtol=1e-6, atol=1e-7)
    norm = np.sqrt(sum(np.sum(np.square(g)) for g in jax.tree.leaves(grads)))
    np.testing.assert_allclose(metrics["grad_norm"], norm, rtol=1e-5)


def test_value_reaches_optimizers_that_take_it():
    objective, params, batch = two_head_objective(), init(), make_batch()
    optimizer = optax.contrib.reduce_on_plateau(accumulation_size=2)
    step = jaxloss.make_train_step(objective, optimizer, donate=False)
    _, state, metrics = step(params, optimizer.init(params), batch)
    # reduce_on_plateau averages the values it is given (over two steps before it acts).
    np.testing.assert_allclose(state.avg_value, metrics["loss"], rtol=1e-6)


def test_weights_are_traced():
    objective, params, batch = two_head_objective(), init(), make_batch()
    optimizer = optax.sgd(0.1)
    step = jaxloss.make_train_step(objective, optimizer, donate=False)
    state = optimizer.init(params)
    a = step(params, state, batch, weights={"z": jnp.float32(1e-3)})
    b = step(params, state, batch, weights={"z": jnp.float32(1.0)})
    assert step.jitted._cache_size() == 1
    assert float(a[2]["loss"]) != float(b[2]["loss"])
    expected = objective.value(params, batch, weights={"z": 1.0})
    np.testing.assert_allclose(b[2]["loss"], expected, rtol=1e-6)


def test_donation():
    objective, params, batch = two_head_objective(), init(), make_batch()
    optimizer = optax.adam(1e-2)
    state = optimizer.init(params)
    step = jaxloss.make_train_step(objective, optimizer)
    donated = step.jitted.lower(params, state, batch).args_info
    assert all(info.donated for info in jax.tree.leaves(donated[0][:2]))
    kept = jaxloss.make_train_step(objective, optimizer, donate=False)
    assert not any(i.donated for i in jax.tree.leaves(kept.jitted.lower(params, state,
                                                                        batch).args_info))


def test_fresh_states_that_share_arrays_are_donated_safely():
    # optax.lbfgs().init puts the same array in two fields; XLA cannot donate it twice.
    objective, params, batch = two_head_objective(), init(), make_batch()
    optimizer = optax.lbfgs()
    state = optimizer.init(params)
    leaves = jax.tree.leaves(state)
    assert len({id(x) for x in leaves}) < len(leaves)
    step = jaxloss.make_train_step(objective, optimizer)
    params, state, _ = step(params, state, batch)
    params, state, _ = step(params, state, batch)
    assert step.jitted._cache_size() == 1


@pytest.mark.parametrize("name", ["sgd", "adam", "lbfgs"])
def test_micro_batch_accumulation_equals_the_full_batch(name):
    # Unmasked mean terms: the mean of equal micro-batch means is the full mean.
    objective = jaxloss.Objective(model, {
        "policy": jaxloss.Term(jaxloss.cross_entropy, prediction="logits", target="actions"),
        "value": jaxloss.Term(jaxloss.mse_loss, prediction="value", target="returns"),
    }, regularizers={"l2": jaxloss.L2(1e-2)}, inputs="x")
    params, batch = init(), make_batch(n=16)
    optimizer = OPTIMIZERS[name]
    full = jaxloss.make_train_step(objective, optimizer, donate=False)
    accumulated = jaxloss.make_train_step(objective, optimizer, donate=False, micro_batches=4)
    a = full(params, optimizer.init(params), batch)
    b = accumulated(params, optimizer.init(params), batch)
    for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
        np.testing.assert_allclose(x, y, rtol=2e-5, atol=1e-6)


def test_per_example_gradients():
    objective = jaxloss.Objective(model, {
        "value": jaxloss.Term(jaxloss.mse_loss, prediction="value", target="returns")},
        inputs="x")
    params, batch = init(), make_batch(n=6)
    batch = {k: batch[k] for k in ("x", "returns")}
    values, grads = jaxloss.per_example_gradients(objective, params, batch)
    assert values.shape == (6,)
    for i in range(6):
        one = {k: v[i:i + 1] for k, v in batch.items()}
        expected = jax.grad(objective.value)(params, one)
        for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(expected), strict=True):
            np.testing.assert_allclose(g[i], e, rtol=1e-5, atol=1e-7)
    # Their mean is the full batch's gradient (a mean loss).
    full = jax.grad(objective.value)(params, batch)
    for g, e in zip(jax.tree.leaves(grads), jax.tree.leaves(full), strict=True):
        np.testing.assert_allclose(g.mean(0), e, rtol=1e-5, atol=1e-7)


def test_errors():
    params, batch = init(), make_batch()
    unreduced = jaxloss.Objective(model, {"v": jaxloss.Term(
        functools.partial(jaxloss.mse_loss, reduction="none"), prediction="value",
        target="returns")}, inputs="x")
    with pytest.raises(ValueError, match=r"term 'v' has shape \(16,\); every term must be a "
                                         r"scalar"):
        unreduced(params, batch)
    objective = two_head_objective()
    with pytest.raises(ValueError, match=r"unknown weights \['typo'\]"):
        objective(params, batch, weights={"typo": 1.0})
    with pytest.raises(ValueError, match=r"cannot select 'missing' for a term's target"):
        jaxloss.Objective(model, {"v": jaxloss.Term(jaxloss.mse_loss, prediction="value",
                                                    target="missing")}, inputs="x")(params, batch)
    with pytest.raises(ValueError, match=r"does not split into 5 equal micro-batches"):
        step = jaxloss.make_train_step(objective, optax.sgd(0.1), micro_batches=5)
        step(params, optax.sgd(0.1).init(params), batch)
    with pytest.raises(ValueError, match="names used for both a term and a regularizer"):
        jaxloss.Objective(model, {"l2": jaxloss.mse_loss}, regularizers={"l2": jaxloss.L2(1.0)})
    with pytest.raises(TypeError, match="`loss` must be a loss function, a Term or a mapping"):
        jaxloss.Objective(model, 3)
