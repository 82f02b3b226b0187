"""Tests of normlab.ch5 (Chapter 5): the theory identities in float64, the ICS and landscape
measurements against direct computations, the noise model, the exercise checks and the claims."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
import dataclasses

from normlab import checks, claims, landscape, nets
from normlab.ch5 import claims as ch5_claims
from normlab.ch5 import dln, exercises, experiments, explorables, figures, noise, theory


# ---- theory: exact identities (eps = 0, biased variance), float64 -------------------------------
@pytest.mark.parametrize("seed,m,j", [(0, 7, 0), (1, 5, 2), (2, 16, 1), (3, 3, 0)])
def test_thm41_is_an_equality(seed, m, j):
    with normlab.float64():
        r = theory.thm41(seed, j, m)
    assert r["rel"] < 1e-10
    assert r["lhs"] > 0


@pytest.mark.parametrize("seed,m,j", [(0, 7, 0), (1, 6, 1), (2, 12, 2)])
def test_thm42_is_an_equality(seed, m, j):
    with normlab.float64():
        r = theory.thm42(seed, j, m)
    assert r["rel"] < 1e-10


def test_thm41_rhs_is_gamma_over_sigma_times_a_projection():
    rng = np.random.default_rng(0)
    with normlab.float64():
        y = jnp.asarray(rng.normal(size=(9, 1)))
        yhat, sigma = theory.standardize(y)
        g = jnp.asarray(rng.normal(size=9))
        P = jnp.eye(9) - jnp.ones((9, 9)) / 9 - jnp.outer(yhat[:, 0], yhat[:, 0]) / 9
        want = (1.7 / sigma[0]) ** 2 * jnp.sum((P @ g) ** 2)
        got = theory.thm41_rhs(g, yhat[:, 0], 1.7, sigma[0])
        assert abs(float(got - want)) / float(want) < 1e-12
        assert float(got) <= (1.7 / float(sigma[0])) ** 2 * float(jnp.sum(g * g))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_lemma45_identity_and_scale_invariance(seed):
    with normlab.float64():
        r = theory.lemma45(seed)
    assert r["rel"] < 1e-12
    assert r["invariance"] < 1e-12
    assert r["k"] > 0
    assert r["lhs"] <= r["standard"] + 1e-12


def test_observation43():
    with normlab.float64():
        assert theory.obs43(0) < 1e-14


# ---- normalizations and noise -----------------------------------------------------------------
def normalize(z, kind, eps=1e-5):
    """The hidden layer of ``kind`` on z itself (W = I, gamma = 1, beta = 0)."""
    layer = dataclasses.replace(experiments.layer(kind), eps=eps)
    c = z.shape[1]
    p = {"W": jnp.eye(c, dtype=z.dtype), "gamma": jnp.ones(c, z.dtype), "beta": jnp.zeros(c, z.dtype)}
    return layer(p, z)[0]


def test_normalizations():
    rng = np.random.default_rng(1)
    with normlab.float64():
        z = jnp.asarray(rng.normal(2.0, 3.0, size=(50, 4)))
        bn = normalize(z, 1, eps=0.0)
        np.testing.assert_allclose(np.mean(bn, 0), 0, atol=1e-12)
        np.testing.assert_allclose(np.std(bn, 0), 1, rtol=1e-12)
        l2 = normalize(z, 3, eps=0.0)
        np.testing.assert_allclose(l2, (z - z.mean(0)) / np.sqrt(np.mean(z**2, 0)), rtol=1e-12)
        l1 = normalize(z, 2, eps=0.0)
        np.testing.assert_allclose(l1, (z - z.mean(0)) / np.mean(np.abs(z), 0), rtol=1e-12)
        linf = normalize(z, 4, eps=0.0)
        assert np.max(np.abs(linf)) <= 2.0 + 1e-12
        for k in range(5):  # the traced, branch-free form equals the static branch
            np.testing.assert_allclose(jax.jit(lambda kk: normalize(z, kk))(k),
                                       normalize(z, k), rtol=1e-12)


def test_noise_model():
    key = jax.random.PRNGKey(0)
    off = noise.sample_noise(key, (2, 8, 3), 0.0)
    np.testing.assert_array_equal(off.scale, 1.0)
    np.testing.assert_array_equal(off.shift, 0.0)
    n = noise.sample_noise(key, (3, 4000, 16), 1.0)
    mu = np.asarray(n.shift).mean(1)          # per layer and unit: ~ mu_j in [-0.5, 0.5]
    assert np.all(np.abs(mu) <= 0.5 + 0.01) and np.ptp(mu) > 0.3
    sig = np.asarray(n.scale).mean(1)         # ~ sigma_j in [1, 1.25]
    assert np.all(sig > 1 - 0.01) and np.all(sig < 1.25 + 0.01)
    resid = np.asarray(n.shift) - np.asarray(n.shift).mean(1, keepdims=True)
    assert np.max(np.abs(resid)) <= 0.1 + 0.01  # U(mu_j - r_mu, mu_j + r_mu), mu_j estimated
    sd = np.asarray(n.scale).std(1)           # N(sigma_j, r_sigma^2): r_sigma = 0.1 is a std
    np.testing.assert_allclose(sd, 0.1, rtol=0.1)
    n2 = noise.sample_noise(jax.random.PRNGKey(1), (3, 4000, 16), 1.0)
    assert not np.allclose(n.shift, n2.shift)  # redrawn with every key (every step)


# ---- ICS (Definition 2.1) against a direct computation ------------------------------------------
def _tiny(Ws, x, y):
    h = x
    for W in Ws[:-1]:
        h = jnp.tanh(h @ W)
    return jnp.mean((h @ Ws[-1] - y) ** 2)


def test_ics_matches_direct_computation():
    rng = np.random.default_rng(2)
    with normlab.float64():
        Ws = [jnp.asarray(rng.normal(size=s)) for s in [(3, 4), (4, 4), (4, 2)]]
        x, y = jnp.asarray(rng.normal(size=(6, 3))), jnp.asarray(rng.normal(size=(6, 2)))
        lr = 0.2
        l2, cos = landscape.ics(_tiny, Ws, lr, x, y)
        G = jax.grad(_tiny)(Ws, x, y)
        for i in range(3):
            mixed = [Ws[j] - lr * G[j] if j < i else Ws[j] for j in range(3)]
            Gp = jax.grad(_tiny)(mixed, x, y)[i]
            assert abs(float(l2[i] - jnp.linalg.norm(G[i] - Gp))) < 1e-12
            c = jnp.sum(G[i] * Gp) / (jnp.linalg.norm(G[i]) * jnp.linalg.norm(Gp))
            assert abs(float(cos[i] - c)) < 1e-12
        assert float(l2[0]) < 1e-12 and abs(float(cos[0]) - 1) < 1e-12  # nothing precedes layer 1


@pytest.mark.parametrize("bn", [0.0, 1.0])
def test_dln_ics_matches_generic_ics(bn):
    with normlab.float64():
        p = dln.dln_init(jax.random.PRNGKey(0), depth=5, d=3)
        p = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p)
        d = normlab.data.gaussian_teacher(jax.random.PRNGKey(1), n=16, d=3, dtype=jnp.float64)
        l2, cos = dln.dln_ics(p, d["x"], d["y"], bn, 0.01)
        layers = [{"W": p["W"][i], **({"g": p["gamma"][i], "b": p["beta"][i]} if i < 4 else {})}
                  for i in range(5)]

        def loss(ls, x, y):
            q = {"W": jnp.stack([l["W"] for l in ls]), "gamma": jnp.stack([l["g"] for l in ls[:4]]),
                 "beta": jnp.stack([l["b"] for l in ls[:4]])}
            return dln.dln_loss(q, x, y, bn)

        l2r, cosr = landscape.ics(loss, layers, 0.01, d["x"], d["y"], key="W")
        np.testing.assert_allclose(l2, l2r, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(cos, cosr, rtol=1e-9)


# ---- the landscape probe on a quadratic, where everything is known -----------------------------
def test_probe_on_a_quadratic():
    rng = np.random.default_rng(3)
    with normlab.float64():
        B = rng.normal(size=(5, 5))
        A = jnp.asarray(B @ B.T + np.eye(5))
        th = jnp.asarray(rng.normal(size=5))
        loss = lambda t: 0.5 * t @ A @ t
        etas = jnp.array([0.01, 0.02, 0.05])
        r = landscape.probe(loss, th, etas)
        g = A @ th
        np.testing.assert_allclose(r["loss"], [loss(th - e * g) for e in etas], rtol=1e-12)
        np.testing.assert_allclose(r["grad_change"], etas * jnp.linalg.norm(A @ g), rtol=1e-12)
        # on a quadratic the gradient change over the distance is ||A g|| / ||g||, for every eta
        assert abs(float(r["beta"]) - float(jnp.linalg.norm(A @ g) / jnp.linalg.norm(g))) < 1e-10
        assert float(r["beta"]) <= float(jnp.linalg.eigvalsh(A)[-1]) + 1e-10


def test_standard_network_keeps_gamma_fixed():
    d = normlab.data.digits()
    p0 = experiments.init(jax.random.PRNGKey(0), (64, 8, 8, 10))
    h = experiments.train_mlp(p0, d["x_train"], d["y_train"], jax.random.PRNGKey(1), 0, 0.1, 0.0,
                     steps=4, every=2, batch=16, act_layer=1)
    last = jax.tree_util.tree_map(lambda a: a[-1], h["ckpt"])
    np.testing.assert_array_equal(last[0]["gamma"], 1.0)
    assert np.all(np.isfinite(h["loss"])) and h["loss"].shape == (4,)


# ---- exercise checks: PASS on correct code, FAIL (never raise) on wrong code --------------------
def _ics_ok(loss, Ws, lr, x, y):
    G = jax.grad(loss)(Ws, x, y)
    new = [W - lr * g for W, g in zip(Ws, G)]
    out = []
    for i in range(len(Ws)):
        Gp = jax.grad(loss)(new[:i] + list(Ws[i:]), x, y)[i]
        out.append((jnp.linalg.norm(G[i] - Gp),
                    jnp.sum(G[i] * Gp) / (jnp.linalg.norm(G[i]) * jnp.linalg.norm(Gp))))
    return jnp.array([o[0] for o in out]), jnp.array([o[1] for o in out])


def _probe_ok(loss, theta, etas, x, y):
    r = landscape.probe(loss, theta, etas, x, y)
    return r["loss"], r["grad_change"], r["beta"]


def _thm41_ok(g, yhat, gamma, sigma):
    return theory.thm41_rhs(jnp.asarray(g), jnp.asarray(yhat), gamma, sigma)


def _raise(*a):
    raise RuntimeError("boom")


def test_checks_pass_on_correct_code():
    assert exercises.check_ics(_ics_ok).passed
    assert exercises.check_probe(_probe_ok).passed
    assert exercises.check_thm41(_thm41_ok).passed


@pytest.mark.parametrize("check,wrong", [
    (exercises.check_ics, lambda loss, Ws, lr, x, y: (np.zeros(len(Ws)), np.ones(len(Ws)))),
    (exercises.check_ics, lambda *a: (np.zeros(2),)),
    (exercises.check_ics, lambda *a: (np.full(3, np.nan), np.full(3, np.nan))),
    (exercises.check_ics, _raise),
    (exercises.check_probe, lambda loss, th, etas, x, y: _probe_ok(loss, th, etas, x, y)[:2] + (0.0,)),
    (exercises.check_probe, lambda *a: "not a tuple"),
    (exercises.check_probe, _raise),
    (exercises.check_thm41, lambda g, yh, ga, s: ga**2 / s**2 * np.sum(np.asarray(g) ** 2)),
    (exercises.check_thm41, lambda g, yh, ga, s: np.ones(3)),
    (exercises.check_thm41, lambda g, yh, ga, s: np.nan),
    (exercises.check_thm41, _raise),
])
def test_checks_fail_without_raising(check, wrong):
    r = check(wrong)
    assert not r.passed
    assert isinstance(r.message, str) and r.message and "\n" not in r.message


def test_check_diagnoses_common_mistakes():
    r = exercises.check_thm41(lambda g, yh, ga, s: ga**2 / s**2 * np.sum(np.asarray(g) ** 2))
    assert "projections" in r.message
    r = exercises.check_ics(lambda loss, Ws, lr, x, y: (np.zeros(len(Ws)), np.ones(len(Ws))))
    assert "same parameters" in r.message


def test_not_implemented_is_reported():
    def stub(*a):
        raise NotImplementedError

    for check in (exercises.check_ics, exercises.check_probe, exercises.check_thm41):
        r = check(stub)
        assert not r.passed and "not implemented" in r.message


# ---- claims (these train the chapter's networks once, memoised) ---------------------------------
def test_chapter5_claims_pass():
    rows = claims.run(chapter=5)
    assert len(rows) == len(ch5_claims.CLAIMS) >= 10
    bad = [(r.claim, r.measured) for r in rows if not r.passed]
    assert not bad, bad


def test_grid_explorable_serves_grid_points_from_the_shared_runs():
    x = explorables.landscape_explorable()
    g = x.grid_results()
    assert g["beta"].shape[0] == len(experiments.EXPLORE_LRS)
    r = x(lr=experiments.MAIN_LR)  # a grid point: no recompilation, the same numbers as the main run
    np.testing.assert_allclose(r["beta"][0], experiments.mlp_experiment()["standard"]["beta"])
    n = explorables.noisy_explorable()
    r = n(lr=experiments.MAIN_LR, noise=1.0)
    np.testing.assert_allclose(r["loss"][1], experiments.mlp_experiment()["bn"]["loss"])
    np.testing.assert_allclose(r["loss"][3], experiments.mlp_experiment()["bn+noise"]["loss"])


def test_live_compute_is_the_grid_s_producer():
    """Off the grid the live view trains with the same functions: at a grid point, computing
    afresh gives the grid's numbers. Only the first steps can be compared: the two are
    different compiled programs (a vmap over 2 or 4 runs, or over all of the chapter's), their
    float32 rounding differs in the last bit, and SGD at these learning rates amplifies that
    into different trajectories later on. The gradient change along the gradient is a small
    difference of two gradients, so it carries a larger rounding error."""
    for ex, point in ((explorables.landscape_explorable(), {"lr": 0.3}),
                      (explorables.noisy_explorable(), {"lr": 0.3, "noise": 2.0})):
        idx = ex._grid_index(point)
        grid = jax.tree_util.tree_map(lambda a: a[idx], ex.grid_results())
        fresh = jax.jit(ex.compute)(**point)
        assert set(fresh) == set(grid)
        for k in grid:
            early = (slice(None), slice(0, 1 if k in ("beta", "probe_loss", "probe_dgrad") else 20))
            tol = 1e-2 if k in ("beta", "probe_dgrad") else 1e-4
            np.testing.assert_allclose(np.asarray(fresh[k])[early], grid[k][early], rtol=tol, atol=1e-5)
