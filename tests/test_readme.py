"""The README's code runs, and its quickstart's numbers are the ones it states."""

import pathlib
import re

import numpy as np

README = (pathlib.Path(__file__).parents[1] / "README.md").read_text()
BLOCKS = re.findall(r"```python\n(.*?)```", README, flags=re.S)


def test_readme_python_blocks_run():
    assert BLOCKS
    for block in BLOCKS:
        exec(compile(block, "README.md", "exec"), {})


def test_quickstart_numbers():
    namespace = {}
    exec(compile(BLOCKS[0], "README.md", "exec"), namespace)
    jaxloss, jax = namespace["jaxloss"], namespace["jax"]
    x, y = namespace["prediction"], namespace["target"]
    assert "0.01" in BLOCKS[0] and "0.0667" in BLOCKS[0]
    np.testing.assert_allclose(jaxloss.mse_loss(x, y), 0.01, rtol=1e-5)
    np.testing.assert_allclose(jax.grad(jaxloss.mse_loss)(x, y), [0.0667] * 3, atol=1e-4)
