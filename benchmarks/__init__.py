"""jaxloss benchmarks: XLA compile and execution time of every catalogue loss, against its optax or
``jax.numpy`` baseline, PyTorch (when installed) and the floor of merely reading the inputs.

Run ``python -m benchmarks --help`` from the repository root.
"""
