"""The examples run and reach what they claim (examples/*.py, each through its main())."""

import importlib.util
import pathlib

import jax
import pytest

EXAMPLES = pathlib.Path(__file__).parents[1] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(autouse=True)
def user_code_broadcasting():
    """Examples are user code, free to broadcast a bias over a batch; the library is not."""
    with jax.numpy_rank_promotion("allow"):
        yield


def test_linear_regression_recovers_the_line():
    result = load("linear_regression").main(steps=200)
    assert result["w"] == pytest.approx(2.0, abs=1e-3)
    assert result["b"] == pytest.approx(1.0, abs=1e-3)


def test_lbfgs_logistic_regression_reaches_scipys_optimum():
    result = load("logistic_lbfgs").main(steps=30)
    assert result["loss"] == pytest.approx(result["scipy_loss"], abs=1e-4)
    assert result["compilations"] == 1


def test_digits_mlp_reaches_95_percent():
    pytest.importorskip("sklearn", reason="scikit-learn is the optional `examples` extra")
    result = load("digits_mlp").main()
    assert result["test_accuracy"] >= 0.95
    assert result["compilations"] == 1
