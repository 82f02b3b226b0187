"""Chapter 2 (normlab.ch2): the naive-normalization trap. Identities in float64, checks that can fail, claims."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import batchnorm, checks, claims, nets, style, train
from normlab.ch2 import claims as ch2_claims
from normlab.ch2 import exercises, explorables, figures, fix, network, toy
from normlab.measure import diverged_at


# ---- the paper's toy: x = u + b, mean held outside the gradient --------------------------------
@pytest.mark.parametrize("target_mean,lr", [(1.0, 0.01), (-2.5, 0.1), (0.3, 1.0)])
def test_drift_rate_matches_derivation_float64(target_mean, lr):
    with normlab.float64():
        p = toy.toy_problem(n=50, target_mean=target_mean, seed=3)
        r = toy.toy_run(p["u"], p["t"], 0.7, lr, 25)
        db = np.abs(np.diff(np.asarray(r["b"])))
        rate = float(toy.drift_rate(p["u"], p["t"], lr))
        assert r["b"].dtype == jnp.float64
        t = np.asarray(p["t"])
        b = np.asarray(r["b"])
    # derived: eta * |sum_i dl/dxhat_i| = eta * |sum_i t_i| for the squared loss
    assert rate == pytest.approx(lr * abs(float(np.sum(t))), rel=1e-12)
    assert np.max(np.abs(db - rate)) / rate < 1e-6
    # linear: the same step every time, in the direction of the target's mean
    assert np.sign(b[-1] - b[0]) == np.sign(target_mean)


def test_loss_constant_under_naive_update():
    with normlab.float64():
        p = toy.toy_problem(target_mean=1.0)
        r = toy.toy_run(p["u"], p["t"], 0.0, 0.05, 40)
    loss = np.asarray(r["loss"])
    b = np.asarray(r["b"])
    assert abs(b[-1] - b[0]) > 50  # b moved a lot ...
    assert (loss.max() - loss.min()) <= 1e-12 * loss[0]  # ... the loss did not move


def test_no_drift_when_target_mean_matches():
    with normlab.float64():
        p = toy.toy_problem(target_mean=0.0, seed=5)
        r = toy.toy_run(p["u"], p["t"], 0.3, 0.5, 30)
        assert float(toy.drift_rate(p["u"], p["t"], 0.5)) < 1e-12
    assert np.max(np.abs(np.asarray(r["b"]) - 0.3)) < 1e-12


def test_naive_gradient_is_sum_of_upstream_and_true_gradient_is_zero():
    with normlab.float64():
        p = toy.toy_problem(target_mean=1.3, seed=2)
        g_naive = jax.grad(toy.toy_loss)(0.4, p["u"], p["t"], False)
        g_true = jax.grad(toy.toy_loss)(0.4, p["u"], p["t"], True)
        s = jnp.sum(toy.dloss_dxhat(p["u"], p["t"], 0.4))
    assert float(g_naive) == pytest.approx(float(s), rel=1e-12)
    assert abs(float(g_true)) < 1e-12


# ---- the fix -------------------------------------------------------------------------------------
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zero_bias_gradient_with_true_bn(seed):
    with normlab.float64():
        gb, gW = fix.bias_grad_through_bn(seed, n=12, d_in=4, c=3)
    gb, gW = np.asarray(gb), np.asarray(gW)  # measured in float64, outside JAX's x64 mode
    assert gb.dtype == np.float64
    assert float(np.max(np.abs(gW))) > 1e-2  # the layer does get gradient ...
    assert float(np.max(np.abs(gb))) < 1e-12 * float(np.max(np.abs(gW)))  # ... b gets none


def test_zero_bias_gradient_in_the_digits_network():
    """Through BN's differentiated statistics the hidden biases get exactly nothing (float64)."""
    with normlab.float64():
        rng = np.random.default_rng(0)
        params = jax.tree_util.tree_map(lambda a: jnp.asarray(a, jnp.float64),
                                        network.init_params(0, (6, 5, 4, 3)))
        for l in params[:-1]:
            l["b"] = jnp.asarray(rng.normal(size=l["b"].shape))
        x = jnp.asarray(rng.normal(size=(20, 6)))
        y = jnp.asarray(rng.integers(0, 3, size=20))

        def loss(p, hold):
            logits, _ = nets.apply_mlp(p, x, network.layer(hold, 1.0, 1.0))
            return train.cross_entropy(logits, y)

        g_true = jax.grad(loss)(params, 0.0)
        g_naive = jax.grad(loss)(params, 1.0)
    for lt, ln in zip(g_true[:-1], g_naive[:-1]):
        bt, bn = np.asarray(lt["b"]), np.asarray(ln["b"])
        assert bt.dtype == np.float64
        assert float(np.max(np.abs(bt))) < 1e-12
        assert float(np.max(np.abs(bn))) > 1e-4  # the naive layer hands b a gradient


@pytest.mark.parametrize("shape", [(16, 3), (5, 2), (4, 3, 3, 2)])
def test_gamma_sigma_beta_mu_is_identity(shape):
    with normlab.float64():
        x = jnp.asarray(np.random.default_rng(4).normal(3.0, 2.0, size=shape))
        assert fix.identity_error(x, eps=1e-5) < 1e-12
        mean, var, _ = batchnorm.batch_stats(x)
        y, _ = batchnorm.forward(x, jnp.sqrt(var), mean, 0.0)  # the paper's eps-free statement
        assert checks.rel_error(y, x) < 1e-12


# ---- scaling makes it worse ------------------------------------------------------------------------
def test_scaled_toy_collapse_step_and_b_jump():
    with normlab.float64():
        p = toy.scaled_problem()
        A, B = toy.scaled_constants(p["a"], p["t"])
        r = toy.scaled_run(p["a"], p["t"], 3.0, 0.0, 0.001, 200)
        # the naive gradients are A/w and B/w (w > 0)
        g = jax.grad(toy.scaled_loss)({"w": 2.0, "b": 0.5}, p["a"], p["t"], False)
        k_pred = toy.collapse_step(p["a"], p["t"], 3.0, 0.001)
    assert float(g["w"]) == pytest.approx(float(A) / 2.0, rel=1e-10)
    assert float(g["b"]) == pytest.approx(float(B) / 2.0, rel=1e-10)
    w = np.asarray(r["w"])
    k_obs = int(np.argmax(w <= 0))
    assert w[0] == 3.0 and k_obs > 0
    assert abs(k_obs - k_pred) <= 0.05 * k_pred + 3
    # w^2 falls by ~2*lr*A per step at first
    assert (w[0] ** 2 - w[10] ** 2) / 10 == pytest.approx(2 * 0.001 * float(A), rel=0.05)
    assert np.max(np.abs(np.diff(np.asarray(r["b"])))) > 100 * 0.001 * abs(float(B))


def test_true_standardization_leaves_w_and_b_alone():
    with normlab.float64():
        p = toy.scaled_problem()
        r = toy.scaled_run(p["a"], p["t"], 3.0, 0.2, 0.001, 50, differentiate=True)
    assert np.max(np.abs(np.asarray(r["w"]) - 3.0)) < 1e-12
    assert np.max(np.abs(np.asarray(r["b"]) - 0.2)) < 1e-12


# ---- the explorable ---------------------------------------------------------------------------------
def test_explorable_marks_divergence_without_crashing():
    e = explorables.naive_explorable()
    r = e(lr=2.7, noise=0.5)
    assert r["loss"].shape == (3, network.EXPLORE_STEPS)
    assert diverged_at(r["loss"][0], 1e3) is not None  # naive centring blows up
    assert np.all(np.isfinite(r["loss"][2]))  # batch norm does not
    assert np.max(r["b_norm"][2]) < 1e-3  # BN's biases never move
    fig = e.plot(r, lr=2.7, noise=0.5)
    texts = [t.get_text() for ax in fig.axes for t in ax.texts]
    assert any("diverged at step" in t for t in texts)
    style.png(fig)


# ---- the exercise checks: PASS on right code, FAIL (never raise) on wrong code ---------------------
def _raise(*a):
    raise RuntimeError("boom")


def test_check_drift():
    assert exercises.check_drift(lambda u, t, lr: lr * np.sum(t)).passed
    wrong = [lambda u, t, lr: -lr * np.sum(t), lambda u, t, lr: abs(lr * np.sum(t)),
             lambda u, t, lr: lr * np.mean(t), lambda u, t, lr: np.sum(t),
             lambda u, t, lr: np.zeros(3), lambda u, t, lr: np.nan, _raise,
             lambda u, t, lr: "x"]
    for fn in wrong:
        r = exercises.check_drift(fn)
        assert not r.passed and r.message and "\n" not in r.message


def test_check_centring_backward():
    r = exercises.check_centring_backward(lambda dy, x: dy - dy.mean(axis=0))
    assert r.passed and "bias gradient" in r.message
    wrong = [lambda dy, x: dy, lambda dy, x: dy - dy.mean(), lambda dy, x: dy.sum(0),
             lambda dy, x: dy * np.nan, _raise, lambda dy, x: (dy, dy)]
    for fn in wrong:
        r = exercises.check_centring_backward(fn)
        assert not r.passed and r.message
    assert "naive" in exercises.check_centring_backward(lambda dy, x: dy).message


# ---- claims --------------------------------------------------------------------------------------
def test_module_registered():
    assert "normlab.ch2.claims" in claims.MODULES
    assert len([c for c in claims.all_claims(2)]) == len(ch2_claims.CLAIMS) >= 3


@pytest.mark.parametrize("claim", ch2_claims.CLAIMS, ids=lambda c: c.claim[:40])
def test_chapter2_claims_pass(claim):
    row = claims.check(claim)
    assert row.passed, f"{row.claim}: {row.measured}"


# ---- answers backed by functions ---------------------------------------------------------------
def test_predict_naive_answer_holds():
    """ex-predict-naive: at lr 0.3 more input noise makes both naive layers' final ||b|| smaller;
    at 0.9 naive centring blows up at the two larger noise levels and with scaling the noisiest
    run ends highest; BN's biases never move."""
    r3, r9 = network.noise_effect(0.3), network.noise_effect(0.9)
    for n in ("naive centring", "naive centring + scaling"):
        assert np.all(np.diff(r3[n]) < 0)
    assert np.all(np.isnan(r9["naive centring"][-2:]))
    assert np.argmax(r9["naive centring + scaling"]) == len(network.EXPLORE_NOISES) - 1
    assert max(r3["bn_max"], r9["bn_max"]) < 1e-5
    # "at noise 1 and this learning rate the networks barely learn, batch norm included"
    g = network.explore_grid()
    late = np.asarray(g["loss"])[network.EXPLORE_LRS.index(0.3), -1][:, -20:].mean(-1)
    clean = np.asarray(g["loss"])[network.EXPLORE_LRS.index(0.3), 0][:, -20:].mean(-1)
    assert np.all(late > 1.5) and np.all(clean < late)


def test_naive_weight_gradient_carries_the_extra_term():
    with normlab.float64():
        r = fix.naive_weight_gradient(0)
    assert r["identity"] < 1e-12
    assert r["ratio"] > 0.3 and abs(r["cos"]) < 0.2


def test_variants_have_distinct_colours():
    assert len(set(figures.VARIANT_COLORS.values())) == len(figures.VARIANT_COLORS)
    assert figures.VARIANT_COLORS["naive centring"] != figures.VARIANT_COLORS["naive centring + scaling"]


def test_scaled_toy_ratio_depends_on_the_start():
    rows = ch2_claims.scaled_summary()
    ratios = [r["ratio"] for r in rows]
    assert max(ratios) > 5 * min(ratios)
    assert any(r["b_end"] < r["centring_b"] for r in rows)  # not reliably worse than centring


def test_a_blow_up_is_labelled_with_one_step_in_every_panel():
    r = network.compare(network.DIGITS_LR, network.DIGITS_STEPS, 32, 0)
    fig = figures.plot_compare(r, lr=network.DIGITS_LR)
    notes = {t.get_text() for ax in fig.axes for t in ax.texts if "diverged" in t.get_text()}
    from normlab.ch2 import claims as ch2_claims
    k = ch2_claims._digits_summary()["naive centring"]["diverged"][0]  # the 3-seed run the text prints
    assert k is not None and notes == {f"diverged at step {k}"}
    e = explorables.naive_explorable()
    f = e.plot(e(lr=2.7, noise=0.5), lr=2.7, noise=0.5)
    assert len({t.get_text() for ax in f.axes for t in ax.texts if "diverged" in t.get_text()}) == 1
