"""The README's code runs, and its quickstart's numbers are the ones it states."""

import pathlib
import re

import jax
import numpy as np

README = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_python_blocks_run_in_order():
    assert len(BLOCKS) >= 2
    namespace = {}
    with jax.numpy_rank_promotion("allow"):  # user code, free to broadcast a bias
        for block in BLOCKS:
            exec(compile(block, "README.md", "exec"), namespace)
    params = namespace["params"]
    np.testing.assert_allclose(params["w"][:, 0], [1.0, 2.0, 3.0], atol=1e-3)
    np.testing.assert_allclose(params["b"], [0.5], atol=1e-3)
    assert float(namespace["metrics"]["loss"]) < 1e-6


def test_quickstart_numbers():
    namespace = {}
    exec(compile(BLOCKS[0], "README.md", "exec"), namespace)
    jaxloss, jax = namespace["jaxloss"], namespace["jax"]
    x, y = namespace["prediction"], namespace["target"]
    assert "0.01" in BLOCKS[0] and "0.0667" in BLOCKS[0]
    np.testing.assert_allclose(jaxloss.mse_loss(x, y), 0.01, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(jaxloss.mse_loss)(x, y), [0.0667] * 3, atol=1e-4)
