"""Offline data sets: scikit-learn's bundled 8x8 digits and synthetic Gaussian data.

Nothing here downloads anything. Every function takes an explicit seed or PRNG key.
"""

from __future__ import annotations

from functools import lru_cache, wraps

import jax
import jax.numpy as jnp
import numpy as np
from sklearn.datasets import load_digits


def cached(fn):
    """``functools.lru_cache`` whose results are concrete arrays even when first asked for inside
    a ``jit``/``vmap`` trace (a cached tracer would leak into later calls)."""
    memo = lru_cache(maxsize=None)(fn)

    @wraps(fn)
    def wrapper(*args, **kw):
        with jax.ensure_compile_time_eval():
            return memo(*args, **kw)

    wrapper.cache_clear = memo.cache_clear
    return wrapper


def digits(test_fraction: float = 0.2, seed: int = 0, dtype=jnp.float32, images: bool = False) -> dict:
    """The 1797 8x8 digit images bundled with scikit-learn, split into train and test.

    Pixels (0..16) are divided by 16 and each feature is centred with the training mean, so inputs
    lie roughly in [-1, 1]. Returns a dict with ``x_train (n, 64)``, ``y_train (n,)`` (int labels),
    ``x_test``, ``y_test``; the split is a fixed permutation given by ``seed``. Made once per
    process (the arrays are concrete even when first asked for inside a ``jit`` trace).
    ``images=True``: ``x_train`` and ``x_test`` as images (n, 8, 8, 1), for a conv net.
    """
    x64 = bool(jax.config.jax_enable_x64)  # float64 exists only in x64 mode: part of the key
    d = dict(_digits(float(test_fraction), int(seed), jnp.dtype(dtype), x64))
    if images:
        d["x_train"], d["x_test"] = (d[k].reshape(-1, 8, 8, 1) for k in ("x_train", "x_test"))
    return d


@cached
def _digits(test_fraction, seed, dtype, x64):
    d = load_digits()
    x = d.data.astype(np.float64) / 16.0
    y = d.target.astype(np.int32)
    perm = np.random.RandomState(seed).permutation(len(x))
    n_test = int(round(test_fraction * len(x)))
    test, train = perm[:n_test], perm[n_test:]
    mean = x[train].mean(axis=0)
    x = x - mean
    return {
        "x_train": jnp.asarray(x[train], dtype),
        "y_train": jnp.asarray(y[train]),
        "x_test": jnp.asarray(x[test], dtype),
        "y_test": jnp.asarray(y[test]),
    }


def gaussian_teacher(key, n: int = 1000, d: int = 10, dtype=jnp.float32) -> dict:
    """Synthetic regression data for the deep linear network: ``x ~ N(0, I_d)``, ``y = A x``.

    ``A`` (d x d) has i.i.d. standard Gaussian entries. Returns ``x (n, d)``, ``y (n, d)``, ``A``.
    """
    ka, kx = jax.random.split(key)
    a = jax.random.normal(ka, (d, d), dtype)
    x = jax.random.normal(kx, (n, d), dtype)
    return {"x": x, "y": x @ a.T, "A": a}
