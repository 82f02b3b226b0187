"""Input checks shared by the public functions of the core (batchnorm, layernorm, weightnorm,
fisher): a wrong input gets a message that names the function, the argument and what was expected,
never JAX's broadcasting error or a silent NaN.

Cheap by design: shape checks are Python on ``.shape``; the value checks (NaN, inf, a negative
``eps``) run only on concrete arrays and are skipped under tracing (``jit``, ``vmap``, ``grad``),
where a value cannot raise, so the networks, which call these functions inside ``jit``, pay
nothing for them.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

#: Dtypes whose statistics are computed in float32: float16's largest value is 65504, so the
#: variance of activations with a spread of about 200 or more overflows to inf and 1/sqrt(var)
#: to 0 (every output silently 0).
HALF = (jnp.float16, jnp.bfloat16)


def traced(x) -> bool:
    """Whether ``x`` is an abstract value under ``jit``/``vmap``/``grad`` (no value to check)."""
    return isinstance(x, jax.core.Tracer)


def array(x, name: str, fn: str):
    """``x`` as a JAX array of numbers. Arrays (and tracers) pass unchanged; a Python list or tuple
    of numbers, or a scalar, is converted; anything else is a TypeError naming ``name``."""
    if isinstance(x, (jax.Array, np.ndarray)):
        a = x
    else:
        try:
            a = jnp.asarray(x)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{fn}: {name} must be an array of numbers (a NumPy or JAX array, or a nested list "
                f"of numbers with rows of equal length); got a {type(x).__name__} that does not "
                f"convert ({e}).") from None
    if not (jnp.issubdtype(a.dtype, jnp.number) or a.dtype == bool):
        raise TypeError(f"{fn}: {name} must be an array of numbers; got dtype {a.dtype}.")
    return jnp.asarray(a)


def finite(x, name: str, fn: str) -> None:
    """Raise a ValueError when the concrete array ``x`` holds a NaN or an infinity (say how many
    and where the first is); nothing under tracing."""
    if traced(x) or not jnp.issubdtype(jnp.result_type(x), jnp.inexact):
        return
    a = np.asarray(x)
    bad = ~np.isfinite(a)
    if not bad.any():
        return
    n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
    what = " and ".join(s for s in (f"{n_nan} NaN" if n_nan else "",
                                    f"{n_inf} infinite value(s)" if n_inf else "") if s)
    first = tuple(int(i) for i in np.argwhere(bad)[0])
    raise ValueError(
        f"{fn}: {name} contains {what} (of {a.size} entries; the first at index {first}). A "
        "normalization spreads one such value over everything that shares its statistics (a NaN "
        "mean or variance), and the gradient too. Remove or impute the missing values first.")


def eps(value, fn: str) -> None:
    """``eps`` must be a finite number >= 0 (it keeps the square root away from zero)."""
    if traced(value):
        return
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{fn}: eps must be a number >= 0, e.g. 1e-5; got {value!r}.") from None
    if not np.isfinite(v) or v < 0:
        raise ValueError(
            f"{fn}: eps must be a finite number >= 0, e.g. 1e-5 (it is added to the variance "
            f"inside the square root); got {v}. A negative eps gives sqrt of a negative number "
            "(NaN) wherever the variance is smaller than -eps.")


def compute_dtype(x):
    """The dtype to compute statistics in: float32 for half precision, else ``x``'s own."""
    return jnp.float32 if x.dtype in HALF else x.dtype


def per_channel(p, name: str, x, fn: str, what: str = "channel"):
    """``p`` (gamma, beta, a running mean, ...) as an array of shape ``(C,)``, ``C = x.shape[-1]``
    the channel axis of a channels-last input; otherwise a ValueError that names ``name``, states
    the expected shape and, for an ``(N, C, H, W)`` input, says that the layout is channels-last."""
    p = array(p, name, fn)
    c = x.shape[-1]
    if p.shape == (c,):
        return p
    if x.ndim >= 3 and p.ndim == 1 and p.shape[0] == x.shape[1]:
        raise ValueError(channels_first(x, p.shape[0], name, fn))
    raise ValueError(
        f"{fn}: {name} must have shape (C,) = ({c},), one value per {what} (the last axis of x, of "
        f"shape {tuple(x.shape)}); got shape {tuple(p.shape)}.")


def channels_first(x, c: int, name: str, fn: str) -> str:
    shape = tuple(x.shape)
    return (
        f"{fn}: x of shape {shape} looks channels-first (N, C, H, W): {name} has {c} values, the "
        f"size of axis 1, while the last axis has {shape[-1]}. normlab expects channels-last "
        f"inputs, (N, C) or (N, H, W, C), as JAX and Flax do: pass jnp.moveaxis(x, 1, -1) and, "
        "to get PyTorch's layout back, jnp.moveaxis(y, -1, 1).")
