"""Tests of normlab.ch5 (Chapter 5): the theory identities in float64, the ICS and landscape
measurements against direct computations, the noise model, the exercise checks and the claims."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import dataclasses
import json
import re

import normlab
from conftest import ROOT
from normlab import checks, claims, landscape, nets
from normlab.ch5 import claims as ch5_claims
from normlab.ch5 import dln, exercises, experiments, explorables, figures, noise, numbers, theory

NOTEBOOK = ROOT / "notebooks" / "05_smoothing.ipynb"


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


@pytest.mark.parametrize("seed,k", [(0, 2.0), (1, 3.0), (2, 0.5)])
def test_thm41_prefactor_is_a_free_scale(seed, k):
    """W -> kW leaves the BN loss unchanged and divides ||grad_y L_hat||^2 by k^2; the share the
    projections keep does not move (it is the scale-free part of Theorem 4.1)."""
    with normlab.float64():
        r = theory.thm41_scale(seed, k)
        t = theory.thm41(seed)
    assert r["loss_change"] < 1e-12
    assert abs(r["ratio"] - k * k) < 1e-10 * k * k
    assert r["kept_change"] < 1e-12
    assert 0 < t["kept"] < 1  # the projections remove part of ||g||^2, never add


def test_identity_errors():
    e = theory.identity_errors()
    assert set(e) == {"thm41", "thm42", "lemma45", "invariance", "obs43", "thm44", "max", "printed",
                      "bound44"}
    assert e["max"] == max(v for k, v in e.items() if k not in ("max", "printed", "bound44")) < 1e-10
    # the printed Theorem 4.4 read as a bound: it holds (loosely) at lambda 1.5, fails at 0.5
    assert np.all(e["bound44"]["loose"] > 1) and e["bound44"]["violated_small"] >= 1
    assert min(e["printed"].values()) > 0.1  # the paper's printed Theorems 4.1 and 4.4 are not identities


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
    b = noise.bounds()                         # what the chapter states about the noise
    assert np.max(np.abs(n.shift)) <= b["shift"] + 1e-6 and np.max(np.abs(n.shift)) > b["mu"]
    assert b["sigma_lo"] - 0.01 < sig.min() and sig.max() < b["sigma_hi"] + 0.01
    assert np.max(n.scale) > b["sigma_hi"]     # s is Gaussian: not "scaled by up to n_sigma"
    np.testing.assert_allclose(sd, b["scale_sd"], rtol=0.1)


def test_noise_from_uniforms_is_sample_noise():
    key = jax.random.PRNGKey(3)
    a = noise.sample_noise(key, (2, 5, 4), 0.7)
    b = noise.noise_from_uniforms(noise.noise_uniforms(key, (2, 5, 4)), 0.7)
    np.testing.assert_array_equal(a.scale, b.scale)
    np.testing.assert_array_equal(a.shift, b.shift)


def test_noise_table_is_each_seed_s_stream():
    """The table the main runs read their noise from holds what train_mlp would draw from the
    seed's key at that step (so the live explorables, which draw, match the grid)."""
    tab = np.asarray(experiments.noise_table())
    L, C = len(experiments.SIZES) - 2, experiments.SIZES[1]
    assert tab.shape == (len(experiments.SEEDS), experiments.STEPS, L, 3 * experiments.BATCH + 2, C)
    for row, t in [(0, 0), (1, 7), (2, experiments.STEPS - 1)]:
        k = jax.random.split(experiments._train_key(experiments.SEEDS[row]), experiments.STEPS)[t]
        want = noise.noise_uniforms(jax.random.split(k)[1], (L, experiments.BATCH, C))
        np.testing.assert_array_equal(tab[row, t], np.asarray(want))
    assert not np.allclose(tab[0, 0], tab[1, 0])


def _removal_case(level_shift=True):
    """A BN network whose layer-3 outputs are all positive (the ReLU is the identity there) and
    uniforms that make the noise one scale for every unit and a per-unit shift, no jitter."""
    p = experiments.init(jax.random.PRNGKey(0))
    p[2] = dict(p[2], beta=jnp.full_like(p[2]["beta"], 20.0))
    x = jnp.asarray(normlab.data.digits()["x_train"][:32])
    L, C, m = len(p) - 1, p[0]["W"].shape[1], 32
    u = jnp.full((L, 3 * m + 2, C), 0.5)
    u = u.at[:, 0].set(jnp.linspace(0.05, 0.95, C))     # mu_j differs from unit to unit
    u = u.at[:, 2 * m + 2:].set(0.25)                    # cos(pi / 2) = 0: no jitter in s
    if not level_shift:
        u = jax.random.uniform(jax.random.PRNGKey(1), u.shape, minval=1e-7, maxval=1.0)
    return p, x, u


def test_noise_removal_is_zero_for_a_per_unit_shift_and_scale():
    p, x, u = _removal_case()
    r = experiments.noise_removal(p, x, u, kind=1)
    assert float(r["before"]) > 1e-2 and float(r["inject"]) > 1e-2
    assert float(r["after"]) < 1e-3 * float(r["before"])  # the next BN undoes it exactly
    p, x, u = _removal_case(level_shift=False)            # a real draw: part of it stays
    r = experiments.noise_removal(p, x, u, kind=1)
    assert 0.05 * float(r["before"]) < float(r["after"]) < float(r["before"])


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


def test_normalized_ics_is_l2_over_step_times_gradient_norm():
    # measure_mlp compiled, as the chapter runs it (one XLA program, the same arithmetic): op by op
    # the probe and the ICS cost several times the CPU
    measure = jax.jit(experiments.measure_mlp, static_argnames=("kind", "with_probe"))
    d = normlab.data.digits()
    p = experiments.init(jax.random.PRNGKey(0), (64, 8, 8, 10))
    x, y = jnp.asarray(d["x_train"][:16]), jnp.asarray(d["y_train"][:16])
    for kind in (0, 1):
        m = measure(p, x, y, kind=kind, lr=0.1, with_probe=False)
        g = jax.grad(lambda q: experiments.loss_fn(q, x, y, kind))(p)
        gn = float(normlab.measure.tree_norm(g))
        np.testing.assert_allclose(m["ics_rel"], np.asarray(m["ics_l2"]) / (0.1 * gn), rtol=1e-5)
        full = measure(p, x, y, kind=kind, lr=0.1)
        np.testing.assert_allclose(full["ics_rel"], m["ics_rel"], rtol=1e-5)
    # to first order in the step, halving lr halves the raw ICS but not the normalized one
    with normlab.float64():
        p64 = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64), p)
        x64 = jnp.asarray(x, jnp.float64)
        for kind in (0, 1):
            a, b = (measure(p64, x64, y, kind=kind, lr=lr, with_probe=False)
                    for lr in (1e-4, 5e-5))
            np.testing.assert_allclose(np.asarray(b["ics_l2"])[1:], np.asarray(a["ics_l2"])[1:] / 2,
                                       rtol=1e-2)
            np.testing.assert_allclose(np.asarray(b["ics_rel"])[1:], np.asarray(a["ics_rel"])[1:],
                                       rtol=1e-2)


def test_dln_normalized_ics():
    h = dln.dln_experiment()
    for n in ("standard", "bn"):
        assert h[n]["ics_rel"].shape == h[n]["ics_l2"].shape == (dln.DLN_STEPS // dln.DLN_EVERY,
                                                                   dln.DLN_DEPTH)
        assert np.all(np.isfinite(h[n]["ics_rel"])) and np.all(h[n]["ics_rel"][:, 1:] > 0)
    p = dln.dln_init(jax.random.PRNGKey(1), depth=4, d=3)
    d = normlab.data.gaussian_teacher(jax.random.PRNGKey(0), n=8, d=3)
    out = dln.train_dln(p, d["x"], d["y"], 1.0, 1e-3, steps=2, every=2)
    l2, _ = dln.dln_ics(p, d["x"], d["y"], 1.0, 1e-3)
    gn = float(normlab.measure.tree_norm(jax.grad(dln.dln_loss)(p, d["x"], d["y"], 1.0)))
    np.testing.assert_allclose(out["ics_rel"][0], np.asarray(l2) / (1e-3 * gn), rtol=1e-5)


@pytest.mark.parametrize("bn", [0.0, 1.0])
def test_dln_ics_matches_generic_ics(bn):
    with normlab.float64():
        p = dln.dln_init(jax.random.PRNGKey(0), depth=5, d=3)
        p = jax.tree_util.tree_map(lambda a: a.astype(jnp.float64), p)
        d = normlab.data.gaussian_teacher(jax.random.PRNGKey(1), n=16, d=3, dtype=jnp.float64)
        # both compiled (one XLA program each, the same arithmetic): op by op costs 2-3x
        l2, cos = jax.jit(dln.dln_ics)(p, d["x"], d["y"], bn, 0.01)
        layers = [{"W": p["W"][i], **({"g": p["gamma"][i], "b": p["beta"][i]} if i < 4 else {})}
                  for i in range(5)]

        def loss(ls, x, y):
            q = {"W": jnp.stack([l["W"] for l in ls]), "gamma": jnp.stack([l["g"] for l in ls[:4]]),
                 "beta": jnp.stack([l["b"] for l in ls[:4]])}
            return dln.dln_loss(q, x, y, bn)

        l2r, cosr = jax.jit(lambda ls, x, y: landscape.ics(loss, ls, 0.01, x, y, key="W"))(layers, d["x"], d["y"])
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


def test_the_chapter_uses_glorot_initialization():
    key = jax.random.PRNGKey(4)
    p = experiments.init(key)
    q = nets.init_mlp(key, list(experiments.SIZES), experiments.layer(1), init="glorot")
    for a, b in zip(p, q):
        np.testing.assert_array_equal(a["W"], b["W"])
    W = np.asarray(experiments.init(jax.random.PRNGKey(5), (64, 400, 10))[0]["W"])
    assert abs(W.std() / np.sqrt(2 / (64 + 400)) - 1) < 0.05  # Glorot, not He (sqrt(2/64))


def test_seeds_have_their_own_initialization_and_batches():
    Es = experiments.mlp_seeds()
    assert [E["seed"] for E in Es] == list(experiments.SEEDS) and len(Es) >= 3
    first = [float(E["standard"]["loss"][0]) for E in Es]
    assert len(set(first)) == len(first)
    # within a seed every run starts from the same weights on the same first batch
    lr = experiments.EXPLORE_LRS[0]
    assert (experiments.get_run(0, lr, 0.0, 0)["loss"][0]
            == experiments.get_run(0, experiments.MAIN_LR, 0.0, 0)["loss"][0])
    Ds = dln.dln_seeds()
    assert len(Ds) == len(dln.DLN_SEEDS) >= 3
    assert len({float(D["standard"]["loss"][0]) for D in Ds}) == len(Ds)
    np.testing.assert_allclose(Ds[0]["bn"]["loss"], dln.dln_experiment()["bn"]["loss"])


def test_summaries_on_known_histories():
    T, C = 50, 4
    t = np.arange(T)[:, None]
    h = {"act_mean": np.tile(0.1 * t, (1, C)), "act_std": np.full((T, C), 2.0),
         "loss": np.r_[np.full(20, 2.0), np.full(30, 0.5)]}
    assert abs(experiments.instability(h) - 0.1) < 1e-12
    assert abs(experiments.instability(h, relative=True) - 0.05) < 1e-12
    # the running mean over SMOOTH steps first drops below 90% of 2.0 a step or two after 20
    w = experiments.SMOOTH
    want = next(i for i in range(T) if np.mean(h["loss"][max(0, i - w + 1):i + 1]) < 1.8)
    assert experiments.plateau(h) == want and 20 <= want < 20 + w
    assert experiments.plateau({"loss": np.full(30, 2.0)}) == 30
    r = {"probe_loss": np.array([[1.0, 2.0], [0.0, 4.0]]), "probe_dgrad": np.array([[1.0, 3.0], [2.0, 2.0]]),
         "beta": np.array([1.0, 5.0]), "grad_norm": np.array([2.0, 4.0])}
    assert experiments.landscape_summary(r) == {"loss_var": 2.5, "grad_change": 2.5, "beta": 3.0,
                                                "grad_norm": 3.0}
    assert experiments.landscape_summary(r, np.array([False, True]))["loss_var"] == 4.0


def test_verdict_rules():
    assert ch5_claims.by_seeds([True, True, True]) == claims.REPRODUCED
    assert ch5_claims.by_seeds([True, False, True]) == claims.PARTLY
    assert ch5_claims.by_seeds([False, False, False]) == claims.NOT_REPRODUCED


def test_lp_units_at_initialization():
    """Section 5.6's remark: at initialization BN's units have std 1 over the batch, the l_p
    normalizations' units do not, and they differ from each other."""
    E = experiments.mlp_experiment()
    np.testing.assert_allclose(E["bn"]["act_std"][0], 1.0, atol=1e-3)
    for n in ("l1", "l2", "linf"):
        sd = E[n]["act_std"][0]
        assert abs(sd.mean() - 1) > 0.05 and sd.std() > 0.01, n


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
        assert not r.passed and r.pending and "your turn" in r.message


# ---- claims (these train the chapter's networks once, memoised) ---------------------------------
def test_chapter5_claims_pass():
    rows = claims.run(chapter=5)
    assert len(rows) == len(ch5_claims.CLAIMS) >= 10
    bad = [(r.claim, r.measured) for r in rows if not r.passed]
    assert not bad, bad


def test_empirical_rows_report_seeds():
    for r in claims.run(chapter=5):
        if r.verdict not in claims.NO_CONTROL:
            assert "seeds" in r.measured, (r.id, r.measured)
            assert re.search(r"\d-\d", r.measured), (r.id, r.measured)  # a min-max range


def _markdown():
    nb = json.loads(NOTEBOOK.read_text())
    return [("".join(c["source"]), i) for i, c in enumerate(nb["cells"]) if c["cell_type"] == "markdown"]


def _verdict_lists(text):
    """The bullets '- *Reproduced*: a; b.' etc. of a cell, whitespace collapsed."""
    out, cur = {}, None
    for line in text.splitlines():
        m = re.match(r"- \*(Reproduced|Partly reproduced|Not reproduced at our scale)\*:(.*)", line)
        if m:
            cur = m.group(1)
            out[cur] = m.group(2)
        elif cur and line.startswith("  "):
            out[cur] += " " + line.strip()
        else:
            cur = None
    return {k: " ".join(v.split()) for k, v in out.items()}


def test_summary_lists_the_measured_verdicts():
    """The summary says what reproduced and what did not: each empirical row's short name sits
    under the paper verdict measured now (and under no other). The chapter opens with its key
    ideas, before any verdict or undefined term."""
    rows = claims.run(chapter=5)
    name = {claims.REPRODUCED: "Reproduced", claims.PARTLY: "Partly reproduced",
            claims.NOT_REPRODUCED: "Not reproduced at our scale"}
    md = dict((i, t) for t, i in _markdown())
    first = md[0].splitlines()
    assert first[0].startswith("# Chapter 5") and first[2] == "```{admonition} Key ideas"
    key = md[0].split("```{admonition} Key ideas", 1)[1].split("```", 1)[0]
    assert not re.search(r"\d", key) and 3 <= key.count(". ") + 1 <= 6
    summary = next(t for i, t in md.items() if t.startswith("## Summary"))
    lists = _verdict_lists(summary)
    assert set(lists) == set(name.values()), lists
    for i, short in ch5_claims.SHORT.items():
        want = name[rows[i].verdict]
        assert short in lists[want], (rows[i].id, short, want, rows[i].measured)
        for other, body in lists.items():
            assert other == want or short not in body, (short, other)
    assert set(ch5_claims.SHORT) == {i for i, r in enumerate(rows) if r.verdict not in claims.NO_CONTROL}


def test_controls_fail_their_checks():
    rows = claims.run(chapter=5, controls=True)
    for r in rows:
        if r.verdict in claims.NO_CONTROL:
            assert r.control_passed is None, r.id
        else:
            assert r.control_passed is False, (r.id, r.control)
            if r.verdict in claims.NEEDS_DIFFERS:
                assert r.differs.strip(), r.id


def test_markdown_renders():
    """No TeX norm bars '\\|' (they do not render in the book's inline math), display math on
    lines of its own with blank lines around it (inside prf blocks too)."""
    for text, i in _markdown():
        assert "\\|" not in text, i
        lines = text.splitlines()
        for k, line in enumerate(lines):
            if "$$" in line:
                assert line.strip() == "$$", (i, line)
        opens = [k for k, line in enumerate(lines) if line.strip() == "$$"]
        for a, b in zip(opens[::2], opens[1::2]):
            assert a == 0 or lines[a - 1].strip() == "", (i, lines[a - 1])
            assert b + 1 == len(lines) or lines[b + 1].strip() == "", (i, lines[b + 1])


def test_every_glued_name_is_computed():
    """Every {glue:text} name in the chapter's prose comes from normlab.ch5.numbers."""
    d = numbers.every()
    glued = set(d)
    for label, value in d.values():
        assert isinstance(value, (int, float, str)) and not isinstance(value, np.generic)
    used = {m.split(":")[0] for text, _ in _markdown() for m in re.findall(r"\{glue:text\}`([^`]+)`", text)}
    assert used and used <= glued, used - glued


def test_explorable_captions_are_computed():
    c = explorables.landscape_explorable().caption
    assert f"every {experiments.EVERY}th training step" in c and "5th" not in c
    assert f"[{min(experiments.PROBE_MULTIPLES):g}, {max(experiments.PROBE_MULTIPLES):g}]" in c
    assert f"{len(experiments.SIZES) - 2} hidden layers" in explorables.noisy_explorable().caption


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
    for ex, point, compute in ((explorables.landscape_explorable(), {"lr": 0.3},
                                explorables.landscape_compute),  # what fills the live table
                               (explorables.noisy_explorable(), {"lr": 0.3, "noise": 2.0}, None)):
        idx = ex._grid_index(point)
        grid = jax.tree_util.tree_map(lambda a: a[idx], ex.grid_results())
        grid.pop("lr_shown", None)
        extra = ex.consts() if ex.consts is not None else {}  # the live view's arguments
        compute = compute or (jax.jit(ex.compute) if ex.jit else ex.compute)
        fresh = compute(**point, **extra)  # the live path
        assert set(fresh) == set(grid)
        for k in grid:
            early = (slice(None), slice(0, 1 if k in ("beta", "probe_loss", "probe_dgrad") else 20))
            tol = 1e-2 if k in ("beta", "probe_dgrad") else 1e-4
            np.testing.assert_allclose(np.asarray(fresh[k])[early], grid[k][early], rtol=tol, atol=1e-5)


def test_landscape_live_view_shows_the_nearest_precomputed_rate(monkeypatch):
    """The live landscape view looks up the runs at the nearest of its rates (the website's,
    exactly, and LANDSCAPE_STEPS - 1 more between each two, evenly on a log scale) and its title
    says which rate it shows."""
    lrs = explorables.landscape_lrs()
    n = explorables.LANDSCAPE_STEPS
    assert len(lrs) == n * (len(experiments.EXPLORE_LRS) - 1) + 1
    assert list(lrs[::n]) == list(experiments.EXPLORE_LRS)
    steps = np.diff(np.log(lrs)).reshape(-1, n)
    np.testing.assert_allclose(steps, steps[:, :1] * np.ones(n), rtol=1e-9)
    grid = explorables.landscape_grid()
    fake = {k: np.stack([v[i % len(v)] for i in range(len(lrs))]) for k, v in grid.items()}
    fake["lr_shown"] = lrs
    monkeypatch.setattr(explorables, "landscape_table", lambda: fake)
    j = 7
    lr = float(np.sqrt(lrs[j] * lrs[j + 1]) * 0.99)  # just below the log midpoint: rate j
    r = explorables.landscape_nearest(lr)
    assert r["lr_shown"] == lrs[j]
    np.testing.assert_array_equal(r["beta"], fake["beta"][j])
    assert explorables.landscape_nearest(lrs[j + 1] * 1.0001)["lr_shown"] == lrs[j + 1]
    fig = explorables.plot_landscape(r, lr)
    assert f"showing the run at {lrs[j]:.3g}, the nearest precomputed" in fig._suptitle.get_text()
    fig = explorables.plot_landscape(explorables.landscape_nearest(lrs[j]), lrs[j])
    assert "showing" not in fig._suptitle.get_text()
    near = lrs[j] * 1.0001  # the same rate to 3 digits: the title tells them apart
    assert f"{near:.3g}" == f"{lrs[j]:.3g}"
    head = explorables.plot_landscape(explorables.landscape_nearest(near), near)._suptitle.get_text()
    asked, shown = re.match(r"learning rate (\S+) \(showing the run at ([^,]+),", head).groups()
    assert asked != shown and float(shown) == pytest.approx(lrs[j], rel=1e-3)
    x = explorables.landscape_explorable()
    assert not x.recomputes and f"{len(lrs)} rates" in x.caption


# ---- the answers to the predict questions, at the settings they name -------------------------------
def test_predict_noisy_answer():
    """ex-predict-noisy's solution: at lr 0.1 and noise 2, by the median of the last steps the
    standard network without noise ends lower than BN + noise; only a late spike (a peak several
    times its median) lifts its mean there above BN + noise's; over the run BN + noise is well
    below it; at lr 0.3 the standard network ends far lower and BN + noise wins only on the mean
    over the run."""
    from normlab.ch5 import answers

    a = answers.noisy_point(0.1, 2.0)
    assert a["standard"]["median"] < a["bn+noise"]["median"]
    assert a["standard"]["peak"] > 3 * a["standard"]["median"]
    assert a["standard"]["final"] > a["bn+noise"]["final"]
    assert a["bn+noise"]["mean"] < 0.8 * a["standard"]["mean"]
    b = answers.noisy_point(0.3, 2.0)
    assert b["standard"]["final"] < 0.5 * b["bn+noise"]["final"]
    assert b["bn+noise"]["mean"] < b["standard"]["mean"]


def test_predict_landscape_answer():
    """ex-predict-landscape's solution: from lr 0.1 to 1, BN's band widens (several times, and by
    most of a decade on the log axis) while the standard network's does not; the standard
    network barely trains at lr 1 (the comparison excludes it as stalled); the effective
    smoothness ends about equal."""
    from normlab.ch5 import answers, evidence

    w = answers.landscape_widening(0.1, 1.0)
    assert w["bn"]["band"] > 3 and w["bn"]["decades"] > 0.5
    assert w["standard"]["band"] < 1 and w["standard"]["decades"] < 0.2
    assert 0.67 < w["standard"]["beta_hi"] / w["bn"]["beta_hi"] < 1.5
    c = evidence.comparison("final")
    assert ("standard", 1.0) in {(m, lr) for m, lr, _, _ in c.excluded()}


def test_thm44_corrected_is_the_maximum_and_printed_is_not():
    with normlab.float64():
        for s in range(3):
            r = theory.thm44(s)
            assert r["rel"] < 1e-10 and r["random"] <= r["max"] * (1 + 1e-12)
            assert r["rel_printed"] > 0.1


def test_fixed_batch_stats_without_noise_are_the_plain_forward_pass():
    p = experiments.init_params(0)
    x = jnp.asarray(experiments._setup()[0][:32])
    for kind in (0, 1):
        f = experiments.fixed_stats(p, x, jax.random.PRNGKey(3), kind, 0.0)
        _, aux = nets.apply_mlp(p, x, experiments.layer(kind))
        a = aux["pre"][experiments.ACT_LAYER]
        np.testing.assert_allclose(f["fx_act_std"], jnp.std(a, 0), rtol=1e-5)
        b = jax.nn.relu(a) @ p[experiments.ACT_LAYER + 1]["W"]
        np.testing.assert_allclose(f["fx_next_mean"], jnp.mean(b, 0), rtol=1e-5, atol=1e-6)


def test_live_noise_base_is_the_noise_of_the_table():
    """The live explorable's precomputed noise at level 1, scaled by the level, is the noise the
    grid runs draw (noise_from_uniforms of the same uniforms) up to float rounding."""
    shift, scale = experiments.live_base()
    u = experiments.noise_table((experiments.SEEDS[0],))[0]
    for t in (0, 57):
        for level in (0.5, 2.0):
            n = noise.noise_from_uniforms(u[t], level)
            np.testing.assert_allclose(level * shift[t], n.shift, rtol=1e-5, atol=1e-6)
            np.testing.assert_allclose(1 + level * scale[t], n.scale, rtol=1e-5, atol=1e-6)
