"""normlab.fisher: the score, the Fisher information and the KL divergence against exact sums over
every label (k classes, or all 2^k label vectors of k Bernoulli units), against autodiff, and
against the closed form of logistic regression / Ba et al.'s GLM (eq. 12). All in float64."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.flatten_util import ravel_pytree

import normlab
from normlab import fisher
from normlab.checks import rel_error

FAMILIES = ["categorical", "bernoulli"]


def _mlp(k, seed, n=6, d_in=3, hidden=4):
    """A tanh MLP with k logits (nonlinear in theta, so the Hessian of the logits is not zero):
    returns (logits_fn, theta, x)."""
    rng = np.random.default_rng(seed)
    params = {"w1": rng.normal(size=(d_in, hidden)), "b1": rng.normal(size=hidden),
              "w2": rng.normal(size=(hidden, k)), "b2": rng.normal(size=k)}
    with normlab.float64():
        theta, unravel = ravel_pytree(jax.tree_util.tree_map(jnp.asarray, params))
        x = jnp.asarray(rng.normal(size=(n, d_in)))

    def logits_fn(th, x):
        p = unravel(th)
        return jnp.tanh(x @ p["w1"] + p["b1"]) @ p["w2"] + p["b2"]

    return logits_fn, theta, x


def _label_set(family, k):
    """Every label: the k classes, or the 2^k 0/1 vectors; as an array (M,) or (M, k)."""
    if family == "categorical":
        return np.arange(k)
    return np.array(list(itertools.product([0.0, 1.0], repeat=k)))


def _log_table(family, logits):
    """log p(y_m | x_i) for every row i and every label m of _label_set, shape (n, M)."""
    if family == "categorical":
        return jax.nn.log_softmax(logits, axis=-1)
    ys = jnp.asarray(_label_set(family, logits.shape[1]))
    return jax.nn.log_sigmoid(logits) @ ys.T + jax.nn.log_sigmoid(-logits) @ (1 - ys).T


def _labels_for_every_row(family, k, m, n):
    """Label m of _label_set for each of the n rows, in the format score() takes."""
    y = _label_set(family, k)[m]
    return np.full(n, y) if family == "categorical" else np.tile(y, (n, 1))


CASES = [(fam, k, seed) for fam in FAMILIES for k, seed in ((1 if fam == "bernoulli" else 2, 0), (3, 1), (4, 2))]


@pytest.mark.parametrize("family,k,seed", CASES)
def test_score_matches_autodiff_of_each_example(family, k, seed):
    f, theta, x = _mlp(k, seed)
    rng = np.random.default_rng(seed)
    y = rng.integers(0, k, len(x)) if family == "categorical" else rng.integers(0, 2, (len(x), k)) * 1.0
    with normlab.float64():
        s = fisher.score(f, theta, x, y, family)

        def loglik(th):  # log p(y_i | x_i), one per row
            logits = f(th, x)
            if family == "categorical":
                return jax.nn.log_softmax(logits, axis=-1)[jnp.arange(len(x)), y]
            return jnp.sum(y * jax.nn.log_sigmoid(logits) + (1 - y) * jax.nn.log_sigmoid(-logits), axis=-1)

        want = jax.jit(jax.jacrev(loglik))(theta)  # compiled: the same arithmetic, less CPU
    assert s.shape == (len(x), theta.size)
    assert rel_error(s, want) < 1e-13


@pytest.mark.parametrize("family,k,seed", CASES)
def test_score_has_zero_mean_under_the_model(family, k, seed):
    f, theta, x = _mlp(k, seed)
    with normlab.float64():
        prob = np.exp(np.asarray(_log_table(family, f(theta, x))))  # (n, M)
        scores = [np.asarray(fisher.score(f, theta, x, _labels_for_every_row(family, k, m, len(x)), family))
                  for m in range(prob.shape[1])]
    mean = sum(prob[:, m, None] * s for m, s in enumerate(scores))  # E_y[s] for each row
    size = max(np.max(np.abs(s)) for s in scores)
    assert size > 0.1  # the scores themselves are not small ...
    assert np.max(np.abs(mean)) < 1e-14 * size  # ... their mean under the model is zero


@pytest.mark.parametrize("family,k,seed", CASES)
def test_fisher_equals_minus_expected_hessian_and_expected_outer_score(family, k, seed):
    """F = -E[Hessian of log p] = E[s s^T], both summed exactly over every label (no sampling)."""
    f, theta, x = _mlp(k, seed)
    n = len(x)
    with normlab.float64():
        F = np.asarray(fisher.fisher(f, theta, x, family))
        prob = jnp.exp(_log_table(family, f(theta, x)))  # held at theta
        hess = jax.jit(jax.hessian(lambda th: jnp.sum(prob * _log_table(family, f(th, x)))))(theta)
        s = jax.jit(jax.jacrev(lambda th: _log_table(family, f(th, x))))(theta)  # (n, M, d)
        outer = jnp.einsum("nm,nmd,nme->de", prob, s, s)
    assert F.shape == (theta.size, theta.size)
    assert rel_error(F, -np.asarray(hess) / n) < 1e-12
    assert rel_error(F, np.asarray(outer) / n) < 1e-12
    assert rel_error(F, F.T) < 1e-15
    eig = np.linalg.eigvalsh(F)
    assert eig.min() > -1e-13 * eig.max() and eig.max() > 1e-3


@pytest.mark.parametrize("family,k,seed", CASES)
def test_fisher_differs_from_the_empirical_fisher(family, k, seed):
    """The data's labels (here: a fixed, confident labelling) give a different matrix."""
    f, theta, x = _mlp(k, seed)
    n = len(x)
    y = np.zeros(n, int) if family == "categorical" else np.ones((n, k))
    with normlab.float64():
        F = fisher.fisher(f, theta, x, family)
        emp = fisher.empirical_fisher(f, theta, x, y, family)
        s = np.asarray(fisher.score(f, theta, x, y, family))
    assert rel_error(emp, s.T @ s / n) < 1e-14
    assert rel_error(F, emp) > 0.2


@pytest.mark.parametrize("family,k,seed", CASES)
def test_kl_is_half_the_fisher_quadratic_form_to_third_order(family, k, seed):
    f, theta, x = _mlp(k, seed)
    u = np.random.default_rng(100 + seed).normal(size=theta.size)
    u /= np.linalg.norm(u)
    ts = np.logspace(-1, -3, 9)
    with normlab.float64():
        F = np.asarray(fisher.fisher(f, theta, x, family))
        kls = np.array([float(fisher.kl(f, theta, t * u, x, family)) for t in ts])
    quad = 0.5 * ts**2 * (u @ F @ u)
    ratio = kls / quad
    assert abs(ratio[-1] - 1) < 1e-2 and abs(ratio[-1] - 1) < abs(ratio[0] - 1)
    slope = np.polyfit(np.log(ts), np.log(np.abs(kls - quad)), 1)[0]
    assert abs(slope - 3) < 0.3, slope


@pytest.mark.parametrize("family,k,seed", CASES)
def test_kl_matches_explicit_sum_over_labels(family, k, seed):
    f, theta, x = _mlp(k, seed)
    delta = 0.3 * np.random.default_rng(seed).normal(size=theta.size)
    with normlab.float64():
        got = float(fisher.kl(f, theta, delta, x, family))
        l0, l1 = np.asarray(f(theta, x)), np.asarray(f(theta + delta, x))
    if family == "categorical":  # p, q written out: softmax by hand
        p = np.exp(l0) / np.exp(l0).sum(-1, keepdims=True)
        q = np.exp(l1) / np.exp(l1).sum(-1, keepdims=True)
    else:  # the joint probability of each of the 2^k label vectors, a product over the units
        ys = _label_set(family, k)
        s0, s1 = 1 / (1 + np.exp(-l0)), 1 / (1 + np.exp(-l1))
        p = np.prod(np.where(ys[None] == 1, s0[:, None], 1 - s0[:, None]), axis=-1)
        q = np.prod(np.where(ys[None] == 1, s1[:, None], 1 - s1[:, None]), axis=-1)
    want = np.mean(np.sum(p * np.log(p / q), axis=-1))
    assert want > 1e-3
    assert rel_error(got, want) < 1e-12


@pytest.mark.parametrize("family,k,seed", CASES[::2])
def test_hessian_of_kl_at_zero_is_the_fisher(family, k, seed):
    f, theta, x = _mlp(k, seed)
    with normlab.float64():
        F = fisher.fisher(f, theta, x, family)
        hess = jax.hessian(lambda d: fisher.kl(f, theta, d, x, family))(jnp.zeros_like(theta))
    assert rel_error(F, hess) < 1e-12


def test_kl_is_stable_for_large_logits():
    """log_softmax / log_sigmoid: logits of 800 would overflow exp() in a naive formula."""
    f = lambda th, x: x * th  # noqa: E731
    x, theta, delta = jnp.array([[800.0, -800.0, 1.0]]), jnp.ones(3), jnp.array([0.0, 0.0, 0.5])
    with normlab.float64():
        for family in FAMILIES:
            assert np.isfinite(float(fisher.kl(f, theta, delta, x, family)))
        # categorical: p puts all mass on class 0, whose log-probability does not move
        assert abs(float(fisher.kl(f, theta, delta, x, "categorical"))) < 1e-300


@pytest.mark.parametrize("units", [1, 3])
def test_glm_fisher_closed_form(units):
    """Logistic regression (units = 1): F = mean p(1-p) [x;1][x;1]^T. For `units` independent
    Bernoulli GLMs with theta = vec([W, b]^T), Ba et al.'s eq. 12: F = E[diag(p(1-p)) (x) a a^T]."""
    rng = np.random.default_rng(units)
    n, d_in = 20, 3
    x = rng.normal(size=(n, d_in))
    theta = rng.normal(size=units * (d_in + 1))
    a = np.hstack([x, np.ones((n, 1))])  # [x; 1] per row

    def logits_fn(th, x):
        return jnp.hstack([x, jnp.ones((x.shape[0], 1))]) @ th.reshape(units, d_in + 1).T

    with normlab.float64():
        F = np.asarray(fisher.fisher(logits_fn, theta, x, "bernoulli"))
    p = 1 / (1 + np.exp(-(a @ theta.reshape(units, d_in + 1).T)))  # (n, units)
    want = np.mean([np.kron(np.diag(p[i] * (1 - p[i])), np.outer(a[i], a[i])) for i in range(n)], axis=0)
    assert rel_error(F, want) < 1e-13


# ---- error messages -----------------------------------------------------------------------------
def test_errors():
    f, theta, x = _mlp(3, 0)
    with normlab.float64():
        with pytest.raises(ValueError, match=r"family must be 'categorical' .* or 'bernoulli' .*got 'gaussian'"):
            fisher.fisher(f, theta, x, "gaussian")
        with pytest.raises(ValueError, match=r"theta must be a 1-D vector.*shape \(1, 31\).*ravel_pytree"):
            fisher.fisher(f, theta[None, :], x)
        with pytest.raises(ValueError, match=r"must return logits of shape \(n, k\) = \(6, k\).*got shape \(6,\)"):
            fisher.fisher(lambda th, x: f(th, x)[:, 0], theta, x)
        with pytest.raises(ValueError, match=r"integers in \[0, 3\) of shape \(n,\) = \(6,\).*argmax"):
            fisher.score(f, theta, x, np.eye(3)[np.zeros(6, int)])
        with pytest.raises(ValueError, match=r"must lie in \[0, 3\).*from 0 to 3"):
            fisher.empirical_fisher(f, theta, x, np.array([0, 1, 2, 3, 0, 1]))
        with pytest.raises(ValueError, match=r"bernoulli labels y must have the shape of the logits, \(n, k\) = \(6, 3\)"):
            fisher.score(f, theta, x, np.ones(6), "bernoulli")
        with pytest.raises(ValueError, match=r"delta must have the shape of theta, \(31,\)"):
            fisher.kl(f, theta, np.zeros(30), x)
        with pytest.raises(ValueError, match=r"family must be"):
            fisher.kl(f, theta, np.zeros(31), x, family="Categorical")
