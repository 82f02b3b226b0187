r"""Chapter 1, section 1.5: the layer Jacobian (section 3.3 of Ioffe & Szegedy).

- :func:`layer_jacobians` (and :func:`jacobian_formula_check` against ``jax.jacfwd``): per-example
  layer-to-layer Jacobians with the batch statistics held fixed;
- :func:`jacobian_spectra`, :func:`spectrum_summary`, :func:`jacobian_table`: their singular values
  with and without BN, for several nonlinearities;
- :func:`linear_covariance_identity`, :func:`batch_jacobian_zeros`: the paper's argument made exact,
  and why the whole-batch map cannot be the object of the conjecture.
"""

from __future__ import annotations

from functools import lru_cache

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import data, nets
from normlab.ch1.scale import bn_linear
from normlab.measure import rel_error



def _layer(norm: bool):
    return nets.BatchNorm() if norm else nets.Dense()


_DPHI = {  # derivative of each activation, in NumPy
    "sigmoid": lambda z: (lambda s: s * (1 - s))(1 / (1 + np.exp(-z))),
    "tanh": lambda z: 1 - np.tanh(z) ** 2,
    "relu": lambda z: (z > 0).astype(z.dtype),
    "linear": np.ones_like,
}


def _forward_layers(params, x, act: str, norm: bool, eps: float = 1e-5):
    """Training-mode forward pass (:func:`normlab.nets.apply_mlp`, float64). Returns the
    parameters as NumPy arrays and, per hidden layer, ``(v, pre, inv_std)``: the layer's normalized
    input x-hat (BN) or pre-activation (plain), the input to the nonlinearity, and
    1/sqrt(var + eps) of the batch (None without BN)."""
    with normlab.float64():
        p = [{k: jnp.asarray(np.asarray(v), jnp.float64) for k, v in layer.items()} for layer in params]
        _, aux = nets.apply_mlp(p, jnp.asarray(np.asarray(x), jnp.float64), _layer(norm), act=act)
        out = []
        for h, pre, st, layer in zip(aux["inputs"], aux["pre"], aux["stats"], p[:-1]):
            pre = np.asarray(pre)
            if norm:
                z = np.asarray(h) @ np.asarray(layer["W"])
                inv = 1 / np.sqrt(z.var(0) + eps)
                out.append(((z - z.mean(0)) * inv, pre, inv))
            else:
                out.append((pre, pre, None))
    return [{k: np.asarray(v) for k, v in layer.items()} for layer in p], out


def layer_jacobians(params, x, act: str, norm: bool, n_examples: int = 16):
    r"""Per-example layer-to-layer Jacobians, shape (layers-1, n_examples, d, d), by the formula

    .. math::
        \frac{\partial \hat x_{l+1}}{\partial \hat x_l} = \mathrm{diag}(1/\sigma_{l+1})\,
        W_{l+1}^\top\,\mathrm{diag}\big(\gamma_l\,\phi'(\gamma_l\hat x_l+\beta_l)\big)

    with the batch statistics of layer l+1 held fixed (without BN: :math:`W_{l+1}^\top
    \mathrm{diag}(\phi'(z_l))` between pre-activations). :func:`jacobian_formula_check` compares
    it with ``jax.jacfwd``. Row convention: ``J[a, b] = d out_a / d in_b``.
    """
    p, layers = _forward_layers(params, x, act, norm)
    dphi = _DPHI[act]
    Js = []
    for i in range(len(layers) - 1):
        v, pre, _ = layers[i]
        inv_next = layers[i + 1][2]
        g = p[i]["gamma"] if norm else 1.0
        D = g * dphi(pre[:n_examples])  # (n, d_in)
        J = p[i + 1]["W"].T[None] * D[:, None, :]  # (n, d_out, d_in)
        if norm:
            J = J * inv_next[None, :, None]
        Js.append(J)
    return np.stack(Js)


@lru_cache(maxsize=None)
def jacobian_formula_check(act: str = "sigmoid", seed: int = 0) -> float:
    """Max relative error of :func:`layer_jacobians` against ``jax.jacfwd`` of the per-example map
    (batch statistics frozen) of a trained-looking BN net (random gamma, beta), float64."""
    rng = np.random.default_rng(seed)
    sizes = [64, 32, 32, 10]
    with normlab.float64():
        params = nets.init_mlp(seed, sizes, _layer(True), dtype=jnp.float64)
        for layer in params[:-1]:
            layer["gamma"] = jnp.asarray(rng.normal(1, 0.3, layer["gamma"].shape))
            layer["beta"] = jnp.asarray(rng.normal(0, 0.3, layer["beta"].shape))
        x = np.asarray(data.digits()["x_train"][:128], dtype=np.float64)
        _, layers = _forward_layers(params, x, act, True)
        phi = nets.ACTIVATIONS[act]
        l0, l1 = params[0], params[1]
        h = phi(l0["gamma"] * layers[0][0] + l0["beta"]) @ l1["W"]  # the whole batch
        mu, var = jnp.mean(h, 0), jnp.var(h, 0)  # frozen batch statistics of layer 2
        F = lambda v: (phi(l0["gamma"] * v + l0["beta"]) @ l1["W"] - mu) / jnp.sqrt(var + 1e-5)
        auto = jax.jit(jax.vmap(jax.jacfwd(F)))(layers[0][0][:8])
    return rel_error(layer_jacobians(params, x, act, True, 8)[0], auto)


@lru_cache(maxsize=None)
def jacobian_spectra(act: str = "sigmoid", init=0.1, depth: int = 6, width: int = 64,
                     n_batch: int = 256, n_examples: int = 16, seed: int = 0) -> dict:
    r"""Singular values of the layer-to-layer Jacobians of a deep MLP on the digits, at init.

    Our choice (the paper's :math:`\hat z = F(\hat x)`): per example, the Jacobian of the next
    layer's normalized input :math:`\hat x_{l+1}` with respect to this layer's :math:`\hat x_l`,
    with the batch statistics (of ``n_batch`` training images) held fixed
    (:func:`layer_jacobians`). Without BN, the same map between consecutive pre-activations.
    Returns ``{"plain"|"bn": s}`` with ``s`` of shape (depth-1, n_examples, width), and
    ``corr_eig``: the eigenvalues of the correlation matrix of each BN layer's normalized input.
    """
    x = np.asarray(data.digits()["x_train"][:n_batch])
    sizes = [64] + [width] * depth + [10]
    out = {}
    for name, norm in (("plain", False), ("bn", True)):
        params = nets.init_mlp(seed, sizes, _layer(norm), init=init)
        out[name] = np.linalg.svd(layer_jacobians(params, x, act, norm, n_examples),
                                  compute_uv=False)
        if norm:
            _, layers = _forward_layers(params, x, act, norm)
            out["corr_eig"] = np.stack([np.linalg.eigvalsh(np.corrcoef(v.T)) for v, _, _ in layers])
    return out


def spectrum_summary(s) -> dict:
    """How close singular values ``s`` are to 1: the fraction that are exactly zero (a ReLU's
    inactive units), and over the others the median of |log10 s|, the mean of s^2, the fraction in
    [1/2, 2] and the 10th and 90th percentiles."""
    s = np.asarray(s).ravel()
    zero = s <= 1e-10 * s.max()
    nz = s[~zero]
    return {"frac_zero": float(np.mean(zero)),
            "median_abs_log10": float(np.median(np.abs(np.log10(nz)))),
            "mean_s2": float(np.mean(nz**2)),
            "frac_half_to_two": float(np.mean((nz >= 0.5) & (nz <= 2.0))),
            "q10": float(np.quantile(nz, 0.1)), "q90": float(np.quantile(nz, 0.9))}


JACOBIAN_INITS = (("sigmoid", 0.1), ("tanh", "glorot"), ("relu", "he"), ("linear", "glorot"))


def jacobian_table(configs=JACOBIAN_INITS) -> str:
    """Text table of :func:`spectrum_summary` with and without BN, for several nonlinearities
    (narrow: under 72 characters, so that it fits a page's code box)."""
    lines = [f"{'units':<8}{'init':<11}{'BN':<4}{'zero':>5}{'med|lg s|':>10}{'mean s2':>8}"
             f"{'[1/2,2]':>8}{'p10':>7}{'p90':>7}"]
    for act, init in configs:
        r = jacobian_spectra(act, init)
        for name in ("plain", "bn"):
            q = spectrum_summary(r[name])
            init_s = f"N(0,{init}^2)" if not isinstance(init, str) else init
            lines.append(f"{act:<8}{init_s:<11}{'yes' if name == 'bn' else 'no':<4}"
                         f"{100 * q['frac_zero']:>4.0f}%{q['median_abs_log10']:>10.2f}"
                         f"{q['mean_s2']:>8.2f}{100 * q['frac_half_to_two']:>7.0f}%"
                         f"{q['q10']:>7.3f}{q['q90']:>7.2f}")
    lines.append("zero: share of singular values that are exactly 0; the other columns are\n"
                 "over the nonzero ones (median |log10 s|, mean s^2, share in [1/2, 2],\n"
                 "10th and 90th percentiles)")
    return "\n".join(lines)


@lru_cache(maxsize=None)
def linear_covariance_identity(m: int = 512, d: int = 16, seed: int = 0) -> dict:
    r"""The paper's argument, made exact: for a linear layer between two BN layers (batch
    statistics fixed, :math:`\epsilon=0`), :math:`\hat z = J\hat x + c`, so over the batch
    :math:`\mathrm{Cov}[\hat z] = J\,\mathrm{Cov}[\hat x]\,J^\top` (checked, float64). If both
    covariances were the identity, :math:`JJ^\top=I`. Inputs here are correlated, as a real
    layer's are; returns the identity's relative error, the singular values of ``J`` and the
    eigenvalues of both correlation matrices."""
    rng = np.random.default_rng(seed)
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    x = rng.normal(size=(m, d)) @ mix
    xhat = (x - x.mean(0)) / x.std(0)
    W = rng.normal(size=(d, d)) / np.sqrt(d)
    z = xhat @ W
    J = (W / z.std(0)).T  # d zhat / d xhat, rows: outputs
    zhat = (z - z.mean(0)) / z.std(0)
    cov = lambda a: (a - a.mean(0)).T @ (a - a.mean(0)) / a.shape[0]
    return {"rel_error": rel_error(cov(zhat), J @ cov(xhat) @ J.T),
            "s": np.linalg.svd(J, compute_uv=False),
            "eig_x": np.linalg.eigvalsh(cov(xhat)), "eig_z": np.linalg.eigvalsh(cov(zhat))}


@lru_cache(maxsize=None)
def batch_jacobian_zeros(m: int = 16, d: int = 8, seed: int = 0) -> dict:
    """The Jacobian of the whole batch map X -> BN(X W) (an m*d by m*d matrix, jax.jacfwd) has
    2 zero singular values per channel: BN fixes each channel's mean and scale over the batch."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(m, d))
    W = rng.normal(size=(d, d)) / np.sqrt(d)
    with normlab.float64():
        J = jax.jit(jax.jacfwd(lambda a, W: bn_linear(W, a, 0.0)))(x, W)
    s = np.linalg.svd(np.asarray(J).reshape(m * d, m * d), compute_uv=False)
    return {"s": s, "n_zero": int(np.sum(s < 1e-10 * s.max())), "m": m, "d": d}
