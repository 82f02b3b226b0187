r"""Fisher information of a model :math:`p(y \mid x; \theta)`, computed exactly (no sampling).

The model is given by its logits, ``logits_fn(theta, x) -> (n, k)``, one row per row of ``x``, with
``theta`` a flat vector of ``d`` parameters, and one of two families:

- ``"categorical"``: one label out of ``k`` classes, :math:`p = \mathrm{softmax}(\text{logits})`;
- ``"bernoulli"``: ``k`` independent binary labels, :math:`p_j = \mathrm{sigmoid}(\text{logits}_j)`
  (the independent GLMs of Ba et al., section 5.2).

With the score :math:`s = \nabla_\theta \log p(y \mid x;\theta)`, labels drawn **from the model**,

.. math::
    F(\theta) = \mathop{\mathbb E}_{x}\,\mathop{\mathbb E}_{y\sim p(\cdot\mid x;\theta)}
    \big[s\,s^\top\big] = -\mathop{\mathbb E}\big[\nabla^2_\theta \log p(y\mid x;\theta)\big],
    \qquad D_{\rm KL}(p_\theta \,\|\, p_{\theta+\delta}) = \tfrac12\,\delta^\top F\,\delta + O(\|\delta\|^3),

the expectation over ``x`` being the mean over its rows. The same average with the data's own
labels is the *empirical* Fisher, a different matrix.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from normlab import validate

FAMILIES = ("categorical", "bernoulli")


def _setup(logits_fn, theta, x, family, fn: str = "fisher"):
    """Validate the arguments; return ``(theta, x, logits)``."""
    if family not in FAMILIES:
        raise ValueError(
            f"family must be 'categorical' (softmax over the k classes) or 'bernoulli' (k "
            f"independent binary units, sigmoid of each logit); got {family!r}.")
    if not callable(logits_fn):
        raise TypeError(f"{fn}: logits_fn must be a function logits_fn(theta, x) -> logits of "
                        f"shape (n, k); got {type(logits_fn).__name__}.")
    theta, x = validate.array(theta, "theta", fn), validate.array(x, "x", fn)
    validate.finite(theta, "theta", fn)
    validate.finite(x, "x", fn)
    if theta.ndim != 1:
        raise ValueError(
            f"theta must be a 1-D vector of the d parameters; got shape {theta.shape}. Ravel "
            "the parameters, e.g. theta, unravel = jax.flatten_util.ravel_pytree(params), and "
            "let logits_fn call unravel(theta).")
    if jnp.ndim(x) < 1:
        raise ValueError(
            f"x must hold one example per row, shape (n, ...); got shape {jnp.shape(x)}.")
    n = jnp.shape(x)[0]
    logits = jnp.asarray(logits_fn(theta, x))
    if logits.shape[:1] != (n,) or logits.ndim != 2:
        raise ValueError(
            f"logits_fn(theta, x) must return logits of shape (n, k) = ({n}, k), one row per row "
            f"of x; got shape {logits.shape}. For a single output unit return shape (n, 1).")
    validate.finite(logits, "logits_fn(theta, x)", fn)
    return theta, x, logits


def _jacobian(logits_fn, theta, x, logits):
    r""":math:`J = \partial\,\text{logits} / \partial\theta`, shape ``(n, k, d)`` (autodiff is
    the definition here); forward mode when there are fewer parameters than logits."""
    jac = jax.jacfwd if theta.size <= logits.size else jax.jacrev
    return jac(logits_fn)(theta, x)


def fisher(logits_fn, theta, x, family: str = "categorical"):
    r"""The exact Fisher information, labels from the model, averaged over the rows of ``x``:

    .. math::
        \text{categorical: } F = \frac1n\sum_i J_i^\top\big(\mathrm{diag}(p_i) - p_i p_i^\top\big) J_i,
        \qquad \text{bernoulli: } F = \frac1n\sum_i J_i^\top \mathrm{diag}\big(p_i(1-p_i)\big) J_i,

    with :math:`J_i = \partial\,\text{logits}_i/\partial\theta` of shape ``(k, d)``. The categorical
    form is summed as :math:`\sum_c p_c\, \bar J_c \bar J_c^\top`, :math:`\bar J_c = J_c - \sum_{c'}
    p_{c'} J_{c'}`, which is symmetric positive semi-definite by construction. Returns ``(d, d)``.
    """
    theta, x, logits = _setup(logits_fn, theta, x, family, "fisher.fisher")
    jac = _jacobian(logits_fn, theta, x, logits)
    if family == "categorical":
        p = jax.nn.softmax(logits, axis=-1)
        jac = jac - jnp.einsum("nk,nkd->nd", p, jac)[:, None, :]
        weight = p
    else:
        weight = jax.nn.sigmoid(logits) * jax.nn.sigmoid(-logits)
    return jnp.einsum("nkd,nk,nke->de", jac, weight, jac) / logits.shape[0]


def score(logits_fn, theta, x, y, family: str = "categorical"):
    r"""The per-example score, shape ``(n, d)``:
    :math:`s_i = \nabla_\theta \log p(y_i \mid x_i;\theta) = J_i^\top (y_i - p_i)`.

    ``y``: integer class labels of shape ``(n,)`` (categorical, :math:`y_i` one-hot in the formula)
    or 0/1 labels of shape ``(n, k)`` (bernoulli).
    """
    theta, x, logits = _setup(logits_fn, theta, x, family, "fisher.score")
    n, k = logits.shape
    y = jnp.asarray(y)
    if family == "categorical":
        if y.shape != (n,) or not jnp.issubdtype(y.dtype, jnp.integer):
            raise ValueError(
                f"categorical labels y must be integers in [0, {k}) of shape (n,) = ({n},); got "
                f"shape {y.shape}, dtype {y.dtype}. One-hot labels: pass y.argmax(-1).")
        try:
            outside = bool(jnp.any((y < 0) | (y >= k)))
        except jax.errors.ConcretizationTypeError:  # traced (jit, vmap): no value to check
            outside = False
        if outside:
            raise ValueError(f"categorical labels y must lie in [0, {k}), k = {k} classes; got "
                             f"values from {int(y.min())} to {int(y.max())}.")
        residual = jax.nn.one_hot(y, k, dtype=logits.dtype) - jax.nn.softmax(logits, axis=-1)
    else:
        if y.shape != (n, k):
            raise ValueError(f"bernoulli labels y must have the shape of the logits, (n, k) = "
                             f"({n}, {k}), one 0/1 label per unit; got shape {y.shape}.")
        residual = y - jax.nn.sigmoid(logits)
    return jnp.einsum("nkd,nk->nd", _jacobian(logits_fn, theta, x, logits), residual)


def empirical_fisher(logits_fn, theta, x, y, family: str = "categorical"):
    r"""The empirical Fisher, with the data's labels ``y``: :math:`\frac1n \sum_i s_i s_i^\top`.

    Not the Fisher information: that one averages over labels drawn from the model.
    """
    s = score(logits_fn, theta, x, y, family)
    return s.T @ s / s.shape[0]


def kl(logits_fn, theta, delta, x, family: str = "categorical"):
    r"""Mean over the rows of ``x`` of :math:`D_{\rm KL}(p_\theta \,\|\, p_{\theta+\delta})`, exactly:

    .. math::
        \text{categorical: } \sum_c p_c\,(\log p_c - \log q_c),\qquad
        \text{bernoulli: } \sum_j p_j \log\frac{p_j}{q_j} + (1-p_j)\log\frac{1-p_j}{1-q_j},

    with :math:`p` at :math:`\theta`, :math:`q` at :math:`\theta+\delta`, the logarithms from
    ``log_softmax`` / ``log_sigmoid`` (stable for large logits). Returns a 0-d array (so it can be
    differentiated: its Hessian in ``delta`` at 0 is :func:`fisher`).
    """
    theta, x, l0 = _setup(logits_fn, theta, x, family, "fisher.kl")
    delta = validate.array(delta, "delta", "fisher.kl")
    if jnp.shape(delta) != theta.shape:
        raise ValueError(
            f"fisher.kl: delta must have the shape of theta, {theta.shape}; got {jnp.shape(delta)}.")
    validate.finite(delta, "delta", "fisher.kl")
    l1 = logits_fn(theta + delta, x)
    if family == "categorical":
        lp, lq = jax.nn.log_softmax(l0, axis=-1), jax.nn.log_softmax(l1, axis=-1)
        per_unit = jnp.exp(lp) * (lp - lq)
    else:
        ls = jax.nn.log_sigmoid
        per_unit = (jax.nn.sigmoid(l0) * (ls(l0) - ls(l1))
                    + jax.nn.sigmoid(-l0) * (ls(-l0) - ls(-l1)))
    return jnp.mean(jnp.sum(per_unit, axis=-1))
