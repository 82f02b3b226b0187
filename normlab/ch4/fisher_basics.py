r"""Chapter 4, section 4.3 (and two Going further sections): the Fisher information, measured.

Two models, each small enough to compute everything exactly (no sampling):

- :func:`softmax_logits`: softmax regression with ``K = 3`` classes on 2-D inputs (9 parameters);
- :func:`logistic_logits`: logistic regression on 2-D inputs with a bias (3 parameters), whose
  Fisher is invertible (used for the natural gradient).

The measurements, all in float64:

- :func:`score_means`: the score has mean zero when labels are drawn from the model, not when
  they come from the data;
- :func:`fisher_three_ways`: :math:`F = \mathbb E[s s^\top] = -\mathbb E[\nabla^2\log p] =
  \nabla^2_\delta D_{\rm KL}(p_\theta\|p_{\theta+\delta})|_0`, against :func:`normlab.fisher.fisher`;
- :func:`empirical_gap`: the empirical Fisher (the data's labels) against the Fisher, as the
  number of examples grows, at the parameters that generated the labels and elsewhere;
- :func:`kl_expansion`: :math:`D_{\rm KL} = \frac12\delta^\top F\delta + O(\|\delta\|^3)`, the
  error's slope on a log-log plot;
- :func:`kl_slice`: the KL divergence and its quadratic model on a 2-D slice of parameter space;
- :func:`natural_vs_plain`: a natural-gradient step does not depend on the parameterization, a
  plain gradient step does.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

import normlab
from normlab import fisher
from normlab.measure import rel_error
from normlab import cache

D_IN, K = 2, 3
EPS = tuple(float(e) for e in np.logspace(-3, 0, 13))  # step lengths of the KL expansion
SLOPE_UP_TO = 0.1  # the slope is fitted on the steps up to this length


def softmax_logits(theta, x):
    r"""Softmax regression: logits :math:`xW + b`, ``theta = [vec(W), b]`` with ``W`` of shape
    ``(d, k)`` (row-major) and ``b`` of shape ``(k,)``, so ``theta`` has ``(d + 1) k`` entries."""
    d = x.shape[1]
    k = theta.shape[0] // (d + 1)
    return x @ theta[: d * k].reshape(d, k) + theta[d * k:]


def logistic_logits(theta, x):
    r"""Logistic regression: the logit :math:`x\cdot w + b` as shape ``(n, 1)``,
    ``theta = [w, b]``."""
    return (x @ theta[:-1] + theta[-1])[:, None]


def _softmax_np(z):
    z = z - z.max(-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(-1, keepdims=True)


@functools.lru_cache(maxsize=None)
def problem(seed: int = 0, n: int = 200) -> dict:
    r"""A softmax-regression problem (NumPy, float64): inputs ``x`` (n, 2) from an anisotropic
    Gaussian, a teacher ``theta_true`` and labels ``y`` drawn from the teacher's model; ``theta0``
    is another (random) parameter vector, where we evaluate things "during training"."""
    rng = np.random.default_rng(seed)
    theta_true = rng.normal(size=(D_IN + 1) * K)
    theta0 = 0.7 * rng.normal(size=(D_IN + 1) * K)
    # the inputs use their own stream, so a larger n extends the same data set
    rx = np.random.default_rng(10_000 + seed)
    x = rx.normal(size=(n, D_IN)) * [1.5, 0.7] + [0.3, -0.2]
    p = _softmax_np(x @ theta_true[: D_IN * K].reshape(D_IN, K) + theta_true[D_IN * K:])
    y = (rx.uniform(size=(n, 1)) > np.cumsum(p, -1)).sum(-1).astype(np.int32)
    return {"x": x, "y": y, "theta_true": theta_true, "theta0": theta0}


def _arrays(P, theta="theta0"):
    return jnp.asarray(P["x"]), jnp.asarray(P["y"]), jnp.asarray(P[theta])


def _scores_all_labels(theta, x):
    """The score for every possible label: (K, n, d)."""
    n = x.shape[0]
    return jnp.stack([fisher.score(softmax_logits, theta, x, jnp.full(n, c, jnp.int32))
                      for c in range(K)])


@jax.jit
def _basics(th, x, y):
    """Everything :func:`score_means` and :func:`fisher_three_ways` report, in one compiled call."""
    n = x.shape[0]
    F = fisher.fisher(softmax_logits, th, x)
    p = jax.nn.softmax(softmax_logits(th, x))
    S = _scores_all_labels(th, x)
    s_data = fisher.score(softmax_logits, th, x, y)

    def expected_loglik(t):  # E_{y ~ p_theta} log p_t(y|x), theta's probabilities held fixed
        return jnp.sum(jax.lax.stop_gradient(p) * jax.nn.log_softmax(softmax_logits(t, x))) / n

    return {"F": F,
            "model_mean": jnp.einsum("nc,cnd->d", p, S) / n,
            "data_mean": s_data.mean(0),
            "size": jnp.mean(jnp.linalg.norm(s_data, axis=1)),
            "outer": jnp.einsum("nc,cnd,cne->de", p, S, S) / n,
            "hessian": -jax.hessian(expected_loglik)(th),
            "kl": jax.hessian(lambda d: fisher.kl(softmax_logits, th, d, x))(jnp.zeros_like(th))}


@functools.lru_cache(maxsize=None)
def _basics_np(seed: int):
    with normlab.float64():
        x, y, th = _arrays(problem(seed))
        return jax.tree_util.tree_map(np.asarray, _basics(th, x, y))


def score_means(seed: int = 0) -> dict:
    r"""The mean score at ``theta0`` (not the teacher, not an optimum), two ways:

    ``model``: :math:`\|\mathbb E_x\mathbb E_{y\sim p_\theta}[s]\|`, labels from the model,
    enumerated exactly (zero up to rounding); ``data``: :math:`\|\frac1n\sum_i s(x_i, y_i)\|`
    with the data's labels, which is the gradient of the mean log-likelihood (zero only at its
    maximum). ``size``: the mean norm of one score, for scale.
    """
    r = _basics_np(seed)
    return {"model": float(np.linalg.norm(r["model_mean"])),
            "data": float(np.linalg.norm(r["data_mean"])), "size": float(r["size"])}


def fisher_three_ways(seed: int = 0) -> dict:
    r""":func:`normlab.fisher.fisher` against three definitions of the Fisher at ``theta0``:
    ``outer`` :math:`\mathbb E[s s^\top]` (labels enumerated, weighted by the model's
    probabilities), ``hessian`` :math:`-\mathbb E[\nabla^2_\theta\log p]` (``jax.hessian``) and
    ``kl`` :math:`\nabla^2_\delta D_{\rm KL}(p_\theta\|p_{\theta+\delta})` at :math:`\delta = 0`.
    Returns the relative errors and the matrix ``F``."""
    r = _basics_np(seed)
    eig = np.linalg.eigvalsh(r["F"])
    return {k: rel_error(r["F"], r[k]) for k in ("outer", "hessian", "kl")} | {
        "F": r["F"], "eig_min": float(eig[0]), "eig_max": float(eig[-1])}


@functools.partial(jax.jit, static_argnums=3)
def _prefix_fishers(th, x, y, ns):
    r"""The Fisher and the empirical Fisher of the first ``n`` examples, for each ``n`` in
    ``ns``: (len(ns), d, d) each. Computed per example and summed, so one compilation serves
    every ``n``."""
    one = lambda xi, yi: (fisher.fisher(softmax_logits, th, xi[None]),
                          fisher.empirical_fisher(softmax_logits, th, xi[None], yi[None]))
    F, E = jax.vmap(one)(x, y)
    mean = lambda A: jnp.stack([A[:n].mean(0) for n in ns])
    return mean(F), mean(E)


@cache.cached
@functools.lru_cache(maxsize=None)
def empirical_gap(seeds=(0, 1, 2), ns=(100, 1000, 10_000, 100_000)) -> dict:
    r"""Relative difference :math:`\|\hat F - F\|_F / \|F\|_F` between the empirical Fisher
    :math:`\hat F` (the data's labels) and the Fisher :math:`F`, on the first ``n`` examples, at
    the teacher's parameters (``at_teacher``: the labels really come from this model, so
    :math:`\hat F \to F` as ``n`` grows, like :math:`1/\sqrt n`) and at ``theta0``
    (``elsewhere``: the gap does not close). Arrays (seeds, ns); ``mean_*``: over the seeds."""
    out = {"n": np.asarray(ns), "at_teacher": [], "elsewhere": []}
    with normlab.float64():
        for seed in seeds:
            P = problem(seed, max(ns))
            for key, theta in (("at_teacher", "theta_true"), ("elsewhere", "theta0")):
                x, y, th = _arrays(P, theta)
                F, E = (np.asarray(a) for a in _prefix_fishers(th, x, y, tuple(ns)))
                out[key].append([float(np.linalg.norm(e - f) / np.linalg.norm(f)) for f, e in zip(F, E)])
    out = {k: np.asarray(v) for k, v in out.items()}
    out["mean_at_teacher"], out["mean_elsewhere"] = out["at_teacher"].mean(0), out["elsewhere"].mean(0)
    return out


@jax.jit
def _kl_line(th, x, u, e):
    F = fisher.fisher(softmax_logits, th, x)
    kl = jax.vmap(lambda t: fisher.kl(softmax_logits, th, t * u, x))(e)
    return kl, 0.5 * e**2 * (u @ F @ u)


@functools.lru_cache(maxsize=None)
def kl_expansion(seed: int = 0, eps=EPS) -> dict:
    r""":math:`D_{\rm KL}(p_\theta\|p_{\theta+\epsilon u})` against :math:`\frac12\epsilon^2
    u^\top F u` for a random unit direction ``u`` and the step lengths ``eps`` (float64).

    ``err`` is the absolute error of the quadratic model; ``slope`` the slope of
    :math:`\log\,` err against :math:`\log\epsilon` (least squares over
    :math:`\epsilon \le` ``SLOPE_UP_TO``), 3 for an error of order :math:`\epsilon^3`.
    """
    with normlab.float64():
        x, _, th = _arrays(problem(seed))
        u = np.random.default_rng(100 + seed).normal(size=th.shape[0])
        u = jnp.asarray(u / np.linalg.norm(u))
        kl, quad = _kl_line(th, x, u, jnp.asarray(eps))
        err = np.abs(np.asarray(kl - quad))
    e = np.asarray(eps)
    small = e <= SLOPE_UP_TO * (1 + 1e-9)
    slope = float(np.polyfit(np.log(e[small]), np.log(err[small]), 1)[0])
    return {"eps": e, "kl": np.asarray(kl), "quad": np.asarray(quad), "err": err, "slope": slope,
            "rel": err / np.asarray(kl)}


@jax.jit
def _kl_plane(th, x, deltas):
    F = fisher.fisher(logistic_logits, th, x, family="bernoulli")
    kl = jax.vmap(lambda d: fisher.kl(logistic_logits, th, d, x, family="bernoulli"))(deltas)
    return F, kl, 0.5 * jnp.einsum("nd,de,ne->n", deltas, F, deltas)


@functools.lru_cache(maxsize=None)
def kl_slice(seed: int = 0, radius: float = 3.0, n_grid: int = 61) -> dict:
    r"""The KL divergence of the logistic regression of :func:`logistic_problem` from
    :math:`\theta_0` to :math:`\theta_0 + \delta`, with :math:`\delta` in the plane of the two
    input weights (a ``n_grid`` x ``n_grid`` grid of half-width ``radius``), and its quadratic
    model :math:`\frac12\delta^\top F\delta` there."""
    with normlab.float64():
        x, _, th = (jnp.asarray(v) for v in logistic_problem(seed))
        t = np.linspace(-radius, radius, n_grid)
        d1, d2 = np.meshgrid(t, t, indexing="xy")
        deltas = jnp.asarray(np.stack([d1.ravel(), d2.ravel(), np.zeros(d1.size)], 1))
        F, kl, quad = _kl_plane(th, x, deltas)
        return {"t": np.asarray(t), "kl": np.asarray(kl).reshape(d1.shape),
                "quad": np.asarray(quad).reshape(d1.shape), "F": np.asarray(F)}


@functools.lru_cache(maxsize=None)
def logistic_problem(seed: int = 0, n: int = 200):
    r"""A logistic-regression problem (NumPy, float64): ``(x, y, theta0)``, inputs (n, 2), 0/1
    labels (n, 1) from a teacher, and a starting point ``theta0 = [w, b]``."""
    rng = np.random.default_rng(50 + seed)
    x = rng.normal(size=(n, 2)) * [1.0, 0.5]
    teacher = np.array([1.5, -2.0, 0.3])
    p = 1 / (1 + np.exp(-(x @ teacher[:2] + teacher[2])))
    y = (rng.uniform(size=n) < p).astype(np.float64)[:, None]
    return x, y, np.array([0.2, 0.4, -0.1])


def bce(theta, x, y):
    r"""Mean binary cross-entropy of :func:`logistic_logits` (nats)."""
    z = logistic_logits(theta, x)
    return -jnp.mean(y * jax.nn.log_sigmoid(z) + (1 - y) * jax.nn.log_sigmoid(-z))


@cache.cached
@functools.lru_cache(maxsize=None)
def natural_vs_plain(seed: int = 0, c: float = 10.0, lr: float = 0.5) -> dict:
    r"""One gradient step and one natural-gradient step on the logistic regression, taken in two
    parameterizations of the same model: :math:`\theta` and :math:`\varphi` with
    :math:`\theta = A\varphi`, :math:`A = \mathrm{diag}(1/c, 1, 1)`, i.e. :math:`\varphi_1 = c\,\theta_1`
    (as if the first input were recorded in a unit ``c`` times larger).

    In :math:`\varphi` the gradient is :math:`A^\top\nabla_\theta L` and the Fisher
    :math:`A^\top F A`. The plain step maps back to :math:`\Delta\theta = -\eta AA^\top\nabla L`,
    the natural one to :math:`-\eta F^{-1}\nabla L`, the same as in :math:`\theta`. Returns, for
    each, the relative difference of the two steps in :math:`\theta` and the KL divergence between
    the two models they lead to.
    """
    with normlab.float64():
        x, y, th = (jnp.asarray(v) for v in logistic_problem(seed))
        r = jax.tree_util.tree_map(float, _two_steps(th, x, y, c, lr))
    r["loss0"] = r["plain"].pop("loss0")
    r["natural"].pop("loss0")
    return r


@jax.jit
def _two_steps(th, x, y, c, lr):
    A = jnp.diag(jnp.array([1.0 / c, 1.0, 1.0]))
    g = jax.grad(bce)(th, x, y)
    F = fisher.fisher(logistic_logits, th, x, family="bernoulli")
    steps = {"plain": (-lr * g, A @ (-lr * (A.T @ g))),
             "natural": (-lr * jnp.linalg.solve(F, g),
                         A @ (-lr * jnp.linalg.solve(A.T @ F @ A, A.T @ g)))}
    out = {}
    for name, (d_theta, d_phi) in steps.items():
        out[name] = {
            "step_diff": jnp.linalg.norm(d_phi - d_theta) / jnp.linalg.norm(d_theta),
            "kl": fisher.kl(logistic_logits, th + d_theta, d_phi - d_theta, x, family="bernoulli"),
            "loss_theta": bce(th + d_theta, x, y), "loss_phi": bce(th + d_phi, x, y),
            "loss0": bce(th, x, y)}
    return out
