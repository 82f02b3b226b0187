"""Chapter 3 (normlab.ch3): Weight Normalization. Identities in float64 with tolerances a wrong
derivation would miss, the experiments' shapes and a safe point, the explorables, the exercise
checks (PASS on the reference, FAIL with a diagnosis on each usual mistake, never a raise), and
every claim."""

import json
import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import claims, style, weightnorm
from normlab.ch3 import (experiment, exercises, explorables, figures, gradients, growth,
                         initialization, mean_only, relation, reparam, stabilization)
from normlab.ch3 import claims as ch3_claims
from normlab.measure import diverged_at, rel_error

from conftest import ROOT

NOTEBOOK = ROOT / "notebooks" / "03_weight_norm.ipynb"


# ---- 3.1 the reparameterization ------------------------------------------------------------------
def test_length_and_scale_invariance_float64():
    r = reparam.invariance()
    assert r["c"].min() <= 1e-3 and r["c"].max() >= 1e3
    for k in ("norm", "out", "grad_v", "grad_g"):
        assert r[k].max() < 1e-13, k
    assert r["flip"] > 0.1  # c < 0 is not an invariance


def test_grad_v_really_scales_as_one_over_c():
    """Not a tautology of the bookkeeping: without the factor c the two gradients differ."""
    rng = np.random.default_rng(3)
    v, g, G = rng.normal(size=(6, 3)), rng.normal(1, 0.3, 3), rng.normal(size=(6, 3))
    with normlab.float64():
        loss = lambda v_: jnp.sum(G * jnp.tanh(weightnorm.weight(v_, g)))
        g1, g5 = np.asarray(jax.grad(loss)(v)), np.asarray(jax.grad(loss)(5.0 * v))
    assert rel_error(5.0 * g5, g1) < 1e-14
    assert rel_error(g5, g1) > 0.5


# ---- 3.2 the gradients by hand --------------------------------------------------------------------
@pytest.mark.parametrize("k,units,seed", [(5, 3, 0), (2, 1, 1), (9, 6, 2)])
def test_every_piece_of_the_derivation(k, units, seed):
    res = gradients.backward_check(k, units, seed)
    assert set(res) == {"dnorm_dv", "dw_dg", "dw_dv", "grad_g", "grad_v_eq3", "grad_v_eq4", "backward"}
    for name, (auto, fd) in res.items():
        assert auto < 1e-13, name
        if np.isfinite(fd):
            assert fd < 1e-7, name


def test_the_projection_is_not_optional():
    """eq. 4 against the naive (g/||v||) grad_w: far apart, so the checks above can fail."""
    rng = np.random.default_rng(4)
    v, g, G = rng.normal(size=(5, 4)), rng.normal(1, 0.3, 4), rng.normal(size=(5, 4))
    with normlab.float64():
        s = jax.tree_util.tree_map(np.asarray, gradients.backward_steps(G, v, g))
    naive = g / np.linalg.norm(v, axis=0) * G
    assert rel_error(s["grad_v_eq4"], naive) > 1e-2
    assert rel_error(s["grad_v_eq3"], s["grad_v_eq4"]) < 1e-14
    # M is the same matrix as I - u u^T, per unit
    u = v / np.linalg.norm(v, axis=0)
    for j in range(4):
        assert rel_error(s["M"][j], np.eye(5) - np.outer(u[:, j], u[:, j])) < 1e-14


def test_projection_properties_and_the_network_chain():
    p = gradients.projection_check()
    assert max(p["orth"], p["idempotent"], p["symmetric"], p["kills_w"], p["forms"]) < 1e-13
    assert np.all((p["removed"] >= 0) & (p["removed"] <= 1))
    assert gradients.network_check() < 1e-13


# ---- 3.3 norm growth ------------------------------------------------------------------------------
def test_pythagoras_over_a_float64_run():
    r = growth.pythagoras_run()
    assert r["rel_error"] < 1e-13 and r["cum_error"] < 1e-12
    assert r["cos"] < 1e-13 and r["drop"] < 1e-15
    assert r["norm"].shape == (growth.PY_STEPS + 1, growth.PY_SIZES[1])
    assert r["norm"][-1].mean() > 1.02 * r["norm"][0].mean()  # it did grow, visibly
    assert np.all(np.isfinite(r["loss"])) and r["loss"][-20:].mean() < 0.1


def test_effective_learning_rate_is_right_to_first_order():
    r = growth.effective_lr_check()
    slope = np.polyfit(np.log10(r["etas"]), np.log10(r["error"]), 1)[0]
    assert abs(slope - 1) < 0.02 and r["error"][-1] < 1e-3
    # the same comparison with the factor g/||v|| (not squared) across w does not vanish with eta
    rng = np.random.default_rng(0)
    v, g, G = rng.normal(size=(6, 3)) * 3.0, rng.normal(1.0, 0.5, 3), rng.normal(size=(6, 3))
    eta = 1e-5
    with normlab.float64():
        gv, gg = weightnorm.backward(G, v, g)
        dw = np.asarray(weightnorm.weight(v - eta * gv, g - eta * gg) - weightnorm.weight(v, g))
    n = np.linalg.norm(v, axis=0)
    along = v / n * np.sum(v / n * G, 0)
    good = -eta * (g / n) ** 2 * (G - along) - eta * along
    wrong = -eta * (g / n) * (G - along) - eta * along
    assert rel_error(dw, good) < 1e-4 < 1e-1 < rel_error(dw, wrong)


def test_momentum_breaks_orthogonality_but_sgd_does_not():
    """The Pythagorean identity is a property of the plain step: with momentum most of the growth
    is radial (2 beta/(1+beta) for independent orthogonal gradients), with SGD none is."""
    g = stabilization.growth_summary()
    assert np.abs(g["SGD"]["radial"]).max() < 1e-3
    assert np.abs(g["momentum 0.9"]["radial"] - 1.8 / 1.9).max() < 0.03
    assert g["SGD"]["shrink"].max() < 1e-3  # float32 rounding only (0 in float64)
    assert np.all(g["Adam"]["growth"][0] < 1.0)  # Adam shrinks ||v|| at lr 0.001


def test_geometry_first_step_matches_the_closed_form():
    res = growth.geometry_grid()
    lrs = np.asarray(growth.GEO_LRS)
    # c_0 = lr * ||grad_v|| / ||v_0|| = lr * sin(100 deg) for g = 1, ||v_0|| = 1
    assert np.allclose(res["c"][:, 0], lrs * np.sin(np.deg2rad(growth.GEO_TARGET)), rtol=1e-5)
    assert np.allclose(res["norm"], res["predicted"], rtol=1e-5)
    assert np.all(np.diff(res["norm"], axis=1) >= -1e-6)
    # the direction never overshoots the target (up to float32 arccos near 0: about 0.02 degrees)
    a = np.deg2rad(growth.GEO_TARGET)
    cos = (res["v"] @ np.array([np.cos(a), np.sin(a)])) / res["norm"]
    angle = np.rad2deg(np.arccos(np.clip(cos, -1, 1)))
    assert np.all(np.diff(angle, axis=1) <= 0.05) and np.all(angle[:, -1] < angle[:, 0])
    # the plain steps on w: w_k - w* = (1 - lr)^k (w_0 - w*), diverging for lr > 2
    for i, lr in enumerate(lrs):
        want = 0.5 * np.sum((np.asarray(growth.V0) - [np.cos(np.deg2rad(100)), np.sin(np.deg2rad(100))]) ** 2)
        expect = want * (1 - lr) ** (2 * np.arange(growth.GEO_STEPS + 1))
        ok = expect < 1e6
        assert np.allclose(res["loss_plain"][i][ok], expect[ok], rtol=1e-3, atol=1e-6)


# ---- 3.3 self-stabilization -----------------------------------------------------------------------
def test_stabilization_grid_shapes_and_a_safe_point():
    g = stabilization.stabilization_grid()
    shape = (len(stabilization.LRS), len(stabilization.NOISES), stabilization.STEPS)
    for name in ("wn", "plain"):
        for k in ("loss", "norm", "eff"):
            assert g[name][k].shape == shape
    i, j = stabilization.LRS.index(0.1), stabilization.NOISES.index(0.0)
    for name in ("wn", "plain"):
        assert np.all(np.isfinite(g[name]["loss"][i, j]))
        assert g[name]["loss"][i, j, -40:].mean() < 0.2
    assert np.allclose(g["plain"]["eff"][i, j], 0.1)
    # at the start WN is the same function with the same effective learning rate
    assert abs(g["wn"]["eff"][i, j, 0] - 0.1) < 0.01


def test_noise_growth_estimate():
    assert stabilization.noise_growth_estimate(1.3, 0.0) == pytest.approx(1.3)
    n = stabilization.noise_growth_estimate(1.0, 0.1, lr=2.0, steps=50, fan_in=11)
    assert n == pytest.approx((1 + 2 * 4 * 1 * 0.01 * 10 * 50) ** 0.25)
    s = stabilization.stabilization_seeds()
    end = s["norm_ratio"] * s["norm0"]
    for i, noise in enumerate(s["noises"]):
        est = stabilization.noise_growth_estimate(s["norm0"][i], noise)
        assert np.all(np.abs(end[i] / est - 1) < 0.3)  # a back-of-the-envelope estimate


# ---- 3.4 WN and BN -------------------------------------------------------------------------------
def test_whitened_inputs_make_bn_equal_wn():
    r = relation.whitened_check()
    assert r["whiteness"] < 1e-13 and r["white"] < 1e-13
    assert np.abs(r["sigma_ratio"] - 1).max() < 1e-13
    assert r["digits"] > 0.1
    # covariance s^2 I: sigma[a]/||v|| is s for every v, BN = WN/s (the common factor g absorbs)
    assert r["scaled"] < 1e-13 and np.abs(r["scaled_ratio"] / relation.SCALE - 1).max() < 1e-13
    # the digits: the ratio varies across directions, which no single g can undo (row 3.9's test)
    assert r["digits_ratio"].max() / r["digits_ratio"].min() > 1.3
    assert ch3_claims._direction_spread(r["scaled_ratio"]) < 1e-12


def test_batch_noise_of_bn_mean_only_and_wn():
    r = relation.batch_noise()
    m = r["m"]
    assert r["wn"]["spread"] == 0.0
    assert np.all(np.abs(r["mean_only"]["std"] / (np.sqrt(m - 1) / m) - 1) < 0.05)
    assert np.all(r["bn"]["std"] > r["mean_only"]["std"])
    assert np.all(np.diff(r["bn"]["std"]) < 0)


def test_bn_output_is_bounded_so_its_tails_cannot_show():
    """Samuelson: |a_i - mu_B| / sigma_B <= sqrt(m-1) for every batch (the referee's point: the
    normalized output cannot be heavy-tailed at small m, so the tails are measured on sigma/sigma_B)."""
    rng = np.random.default_rng(0)
    for m in (2, 4, 8):
        a = rng.standard_cauchy((5000, m))  # as heavy-tailed as inputs get
        z = (a - a.mean(1, keepdims=True)) / a.std(1, keepdims=True)
        assert np.abs(z).max() <= np.sqrt(m - 1) + 1e-9


def test_variance_noise_is_kurtotic_and_mean_noise_gaussian():
    t = relation.noise_tails(n_batches=20000)
    m, kb, km = t["m"], t["bn"]["median"], t["mean_only"]["median"]
    assert kb.shape == km.shape == (len(m),) and t["bn"]["kurtosis"].shape == (len(m), 16)
    assert np.all(kb[(m > 5) & (m <= 16)] > 1.0)
    assert np.all(np.diff(kb) < 0)  # lighter with every doubling of the batch
    assert np.abs(km).max() < 0.2
    # at m <= 5 the kurtosis does not converge (infinite 4th moment for Gaussian a): the tail
    # probability does; BN's variance noise triples the unit's scale in far more batches than a
    # Gaussian's 3-sd excursion, and the mean noise has a Gaussian's tail
    pb, pm = t["bn"]["tail_median"], t["mean_only"]["tail_median"]
    assert pb[0] > 10 * ch3_claims.GAUSS_TAIL and np.all(np.diff(pb[m <= 16]) < 0)
    assert np.all(np.abs(np.log(pm / ch3_claims.GAUSS_TAIL)) < np.log(2))
    # the estimator: a Gaussian sample has excess kurtosis near 0, a Laplace one near 3
    rng = np.random.default_rng(1)
    assert abs(relation.excess_kurtosis(rng.normal(size=200000))) < 0.05
    assert abs(relation.excess_kurtosis(rng.laplace(size=200000)) - 3) < 0.3


# ---- 3.5 data-dependent initialization -------------------------------------------------------------
def test_data_init_standardizes_the_batch_exactly():
    r = initialization.init_stats()
    assert max(r["batch_mean"]) < 1e-13 and max(r["batch_std_err"]) < 1e-13
    assert max(float(np.abs(m).max()) for m in r["test_mean"]) > 0.05  # other data: approximately
    assert all(s.mean() < 0.5 for s in r["before_std"])  # the small v needed it


def test_scale_of_v_sets_only_the_effective_learning_rate():
    r = initialization.effective_lr_at_init()
    assert r["same_function"] < 1e-5
    # the same directions at two scales: g^2/||v||^2 differs by the squared ratio of the scales
    assert r["paper"] / r["he"] == pytest.approx((2 / 64) / 0.05**2, rel=1e-4)


# ---- 3.6 mean-only BN -----------------------------------------------------------------------------
def test_eq8_and_the_whole_layer():
    r = mean_only.eq8_check()
    assert max(r["vjp"], r["grad_b"], r["jacobian"], r["sums_to_zero"]) < 1e-13
    assert r["fd"] < 1e-7
    assert mean_only.layer_check() < 1e-13
    # eq. 8 is not the identity: dropping the mean would be caught
    d = np.random.default_rng(0).normal(size=(6, 2)) + 1.0
    assert rel_error(np.asarray(weightnorm.mean_only_bn_backward(d)), d) > 0.1


# ---- 3.7 the experiment ---------------------------------------------------------------------------
def test_experiment_grid_shapes_and_a_safe_point():
    res = experiment.experiment_grid()
    shape = (len(experiment.LRS), len(experiment.SEEDS))
    evals = experiment.STEPS // experiment.EVAL_EVERY
    for name in experiment.VARIANTS:
        assert res[name]["loss"].shape == shape + (experiment.STEPS,)
        assert res[name]["acc"].shape == shape + (evals,)
        assert res[name]["dead"].shape == shape + (evals,)
    for name in experiment.WN_VARIANTS:
        assert res[name]["probe"].shape == shape + (evals, len(experiment.SIZES) - 2, 4)
    i = experiment.LRS.index(min(experiment.LRS, key=lambda v: abs(v - 0.316)))
    for name in experiment.VARIANTS:
        assert np.all(np.isfinite(res[name]["loss"][i]))
        assert res[name]["acc"][i, :, -1].min() > 0.9
    # WN from the same function starts with g = ||v||: effective learning rate = lr
    assert np.allclose(res["WN"]["probe"][0, :, 0, 0, 1], 1.0, atol=0.01)
    s = experiment.summary(res)
    assert set(s) == set(experiment.VARIANTS)
    table = experiment.table(res)
    assert len(table.splitlines()) == 1 + len(experiment.LRS)
    assert ("div" in table) == any((s[n]["diverged"] >= 0).any() for n in experiment.VARIANTS)


def test_runs_that_did_not_train_are_set_aside():
    """At lr 10 every WN run dies (its last hidden layer off for every test image): excluded from
    the comparison and from the effective-learning-rate claim, never counted as 'settled'."""
    top = len(experiment.LRS) - 1
    kinds = experiment.kinds("WN")
    assert kinds.shape == (len(experiment.LRS), len(experiment.SEEDS))
    assert np.all(kinds[top] == "died") and np.all(kinds[:top] == "ok")
    assert np.all(experiment.kinds("plain")[top] == "diverged")
    cmp = experiment.comparison()
    assert all(cmp.best_lr[n] is not None and cmp.best_lr[n] < experiment.LRS[top]
               for n in experiment.VARIANTS)
    assert "died" in cmp.excluded_text() and "diverged" in cmp.excluded_text()
    r = ch3_claims.effective_lr_range()
    assert np.all(r["dead_top"] >= 0.9)


def test_steps_to_a_threshold():
    loss = np.concatenate([np.ones(30), np.zeros(170)])
    # the 10-step trailing mean falls below 0.3 once 8 of the last 10 losses are 0: step 38
    assert experiment.steps_to(loss, 0.3) == 38
    assert experiment.steps_to(np.ones(200), 0.3) == 201  # never: STEPS + 1
    assert experiment.steps_to(np.stack([loss, np.ones(200)])).tolist() == [38, 201]


def test_fair_comparison_of_the_five_variants():
    """The numbers section 3.7 states. Speed (steps to a loss of 0.3, each variant at its best
    rate, per seed): BN faster than plain in every seed, WN + data init too and saving at least
    half of BN's steps, WN alone saving none; the 17%-accuracy run is excluded as stalled; the
    final test accuracies' gap within the spread over seeds."""
    st = experiment.statuses()
    j = experiment.LRS.index(min(experiment.LRS, key=lambda v: abs(v - 3.16)))
    assert [s.kind for s in st["WN + data init"][j]].count("stalled") == 1
    cmp = experiment.comparison(metric="speed")
    assert "1 stalled" in cmp.excluded_text()
    assert cmp.wins("BN", "plain") == 3 and cmp.wins("WN + data init", "plain") == 3
    ok, share = ch3_claims._speed_check(cmp, "WN + data init")
    assert ok and share >= ch3_claims.SPEED_SHARE
    ok_wn, share_wn = ch3_claims._speed_check(cmp, "WN")
    assert not ok_wn and share_wn < ch3_claims.SPEED_SHARE and np.all(cmp.ratio("WN", "plain") >= 0.95)
    # Going further: at the best rates data init's final loss stays below 0.8 of plain's
    assert np.all(experiment.comparison().ratio("WN + data init", "plain") < 0.8)
    acc = experiment.comparison(metric="acc")
    best = [acc.at_best[n].mean() for n in experiment.VARIANTS]
    assert max(best) - min(best) <= max(np.ptp(acc.at_best[n]) for n in experiment.VARIANTS)


# ---- the predict questions' answers, at the settings they name -----------------------------------
def test_geometry_question_answer():
    """ex-predict-geometry: at eta = 1, v' is sqrt(1 + sin^2 100deg) longer; the plain steps on w
    reach w* in one step at eta = 1 (WN needs more), overshoot above 1 and diverge only above 2;
    WN reaches the target at no slider value in fewer steps than plain does at eta = 1."""
    g = growth.geometry_grid()
    s = growth.steps_to_target(g)
    i1 = int(np.argmin(np.abs(s["lrs"] - 1.0)))
    assert g["norm"][i1, 1] / g["norm"][i1, 0] == pytest.approx(np.sqrt(1 + np.sin(np.deg2rad(100)) ** 2), rel=1e-5)
    assert s["plain"][i1] == 1 and s["wn"][i1] > 1
    ok = s["wn"] >= 0
    assert ok.any() and s["wn"][ok].min() > 1
    assert set(s["lrs"][s["wn"] == s["wn"][ok].min()]) <= {v for v in s["lrs"] if 0.9 < v < 1.6}
    assert np.all(s["lrs"][s["plain_diverges"]] > 2) and s["plain_diverges"][-1]
    # overshoot: for 1 < eta < 2 the plain w passes w* (the error flips sign)
    assert not s["plain_diverges"][(s["lrs"] > 1) & (s["lrs"] < 2)].any()


def test_noise_question_answer():
    """ex-predict-noise: at lr 1, noise 0 -> 0.1 lengthens v, lowers eta_eff, and raises the plain
    network's loss far more than WN's."""
    a = stabilization.predict_answer(1.0, (0.0, 0.1))
    assert a["norm"][1] > 3 * a["norm"][0]
    assert a["eff"][1] < 0.2 * a["eff"][0]
    assert a["hurt_plain"] > 5 * a["hurt_wn"] > 5


def test_the_run_of_section_33_is_not_the_feedback():
    """Finding 8: in the float64 run c falls far more than ||v|| grows: the gradients shrank."""
    p = growth.run_phases()
    assert p["norm_growth"] < 1.2 and p["c_fall"] > 10 and p["grad_fall"] > 8


# ---- explorables ----------------------------------------------------------------------------------
def test_explorables_are_listed_with_small_grids():
    assert set(explorables.EXPLORABLES) == {"geometry", "stabilization"}
    for factory in explorables.EXPLORABLES.values():
        ex = factory()
        n = int(np.prod([len(s.values) for s in ex.sliders]))
        assert n <= 40


@pytest.mark.parametrize("name,idx", [("geometry", (6,)), ("stabilization", (1, 1))])
def test_live_compute_equals_the_grid(name, idx):
    """The jitted live computation against the vmapped grid at a grid point. (At large learning
    rates with noise, 400 float32 SGD steps amplify the rounding differences between the two
    compiled programs, so the point is one where training is stable.)"""
    ex = explorables.EXPLORABLES[name]()
    grid = ex.grid_results()
    point = {s.name: s.values[i] for s, i in zip(ex.sliders, idx)}
    at_grid = ex(**point)  # what the live view shows at a grid point: the grid itself
    for a, b in zip(jax.tree_util.tree_leaves(at_grid), jax.tree_util.tree_leaves(grid)):
        assert np.array_equal(a, b[idx], equal_nan=True)
    live = jax.tree_util.tree_map(np.asarray, jax.jit(ex.compute)(**point))
    for a, b in zip(jax.tree_util.tree_leaves(live), jax.tree_util.tree_leaves(grid)):
        b = b[idx]
        assert a.shape == b.shape
        ok = np.isfinite(b)
        assert np.array_equal(ok, np.isfinite(a))
        assert np.allclose(a[ok], b[ok], rtol=1e-4, atol=1e-6)


def _texts(fig):
    return [t.get_text() for ax in fig.axes for t in ax.texts]


def test_a_diverging_setting_is_drawn_not_raised():
    ex = explorables.geometry_explorable()
    res = ex(lr=growth.GEO_LRS[-1])
    assert diverged_at(res["loss_plain"]) is not None
    fig = ex.plot(res, lr=growth.GEO_LRS[-1])
    assert any(t.startswith("diverged at step") for t in _texts(fig))
    style.png(fig)
    ex = explorables.stabilization_explorable()
    res = ex(lr=10.0, noise=0.1)
    assert diverged_at(res["plain"]["loss"]) is not None
    fig = ex.plot(res, lr=10.0, noise=0.1)
    assert any(t.startswith("diverged at step") for t in _texts(fig))
    style.png(fig)
    frame = ex.live_frame(lr=7.3, noise=0.07)  # off the grid, diverging: a frame, not a traceback
    assert frame[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("name", ["geometry", "stabilization"])
def test_a_redrawn_figure_equals_a_fresh_one(name):
    ex = explorables.EXPLORABLES[name]()
    names = [s.name for s in ex.sliders]
    first = {s.name: s.values[0] for s in ex.sliders}
    second = {s.name: s.values[-1] for s in ex.sliders}
    with style.offscreen():
        fig = ex.plot(ex(**first), **first)
        style.render(fig)
        fig = ex.plot(ex(**second), fig=fig, **second)
        redrawn = style.render(fig)
        fresh = style.render(ex.plot(ex(**second), **second))
    assert names and redrawn.shape == fresh.shape
    assert np.mean(np.any(redrawn != fresh, axis=-1)) < 1e-3


def test_static_figures_label_their_axes():
    kinds = {n: experiment.kinds(n) for n in experiment.VARIANTS}
    figs = [figures.plot_pythagoras(growth.pythagoras_run()),
            figures.plot_optimizers(stabilization.optimizer_growth()),
            figures.plot_batch_noise(relation.batch_noise()),
            figures.plot_experiment(experiment.experiment_grid(), kinds),
            figures.plot_noise_tails(relation.noise_tails()),
            figures.plot_experiment_norms(experiment.experiment_grid(), experiment.initial_norms(), kinds)]
    import matplotlib.pyplot as plt

    for fig in figs:
        assert all(ax.get_xlabel() for ax in fig.axes)
        assert any(ax.get_ylabel() for ax in fig.axes)
        style.png(fig)  # renders, and closes
    assert len(figs[1].axes) == len(stabilization.OPTIMIZERS)
    plt.close("all")


# ---- exercises ------------------------------------------------------------------------------------
def _raise(*a):
    raise RuntimeError("boom")


def _wn_ok(G, v, g):
    n = np.linalg.norm(v, axis=0)
    u = v / n
    gg = np.sum(G * u, 0)
    return g / n * (G - u * gg), gg


def test_check_wn_backward():
    assert exercises.check_wn_backward(_wn_ok).passed
    n = lambda v: np.linalg.norm(v, axis=0)
    proj = lambda G, v: G - v / n(v) * np.sum(G * v, 0) / n(v)
    mistakes = {
        "forgot the projection": lambda G, v, g: (g / n(v) * G, _wn_ok(G, v, g)[1]),
        "(g/||v||)^2": lambda G, v, g: ((g / n(v)) ** 2 * proj(G, v), _wn_ok(G, v, g)[1]),
        "not divided by ||v||": lambda G, v, g: (_wn_ok(G, v, g)[0], np.sum(G * v, 0)),
        "instead of the unit vector": lambda G, v, g: (g / n(v) * (G - v * np.sum(G * v, 0)),
                                                       _wn_ok(G, v, g)[1]),
        "norm of the whole matrix": lambda G, v, g: (
            g / np.linalg.norm(v) * (G - v * np.sum(G * v, 0) / np.linalg.norm(v) ** 2),
            np.sum(G * v, 0) / np.linalg.norm(v)),
        "(grad_g, grad_v)": lambda G, v, g: _wn_ok(G, v, g)[::-1],
        "sign": lambda G, v, g: tuple(-a for a in _wn_ok(G, v, g)),
    }
    for words, fn in mistakes.items():
        r = exercises.check_wn_backward(fn)
        assert not r.passed and words in r.message, (words, r.message)
    for fn in [lambda G, v, g: (G * np.nan, g), _raise, lambda G, v, g: (G[0], g),
               lambda G, v, g: "x", lambda G, v, g: G, lambda G, v, g: None]:
        r = exercises.check_wn_backward(fn)
        assert not r.passed and r.message and "\n" not in r.message


def _init_ok(v, x):
    t = x @ (v / np.linalg.norm(v, axis=0))
    return 1 / t.std(0), -t.mean(0) / t.std(0)


def test_check_data_init():
    assert exercises.check_data_init(_init_ok).passed
    t = lambda v, x: x @ (v / np.linalg.norm(v, axis=0))
    mistakes = {
        "unbiased": lambda v, x: (1 / t(v, x).std(0, ddof=1), -t(v, x).mean(0) / t(v, x).std(0, ddof=1)),
        "forgot to divide mu by sigma": lambda v, x: (_init_ok(v, x)[0], -t(v, x).mean(0)),
        "you normalized x": lambda v, x: (1 / x.std(0), -x.mean(0) / x.std(0)),
        "t = x v/||v||": lambda v, x: (1 / (x @ v).std(0), -(x @ v).mean(0) / (x @ v).std(0)),
        "wrong sign": lambda v, x: (_init_ok(v, x)[0], -_init_ok(v, x)[1]),
        "should be 1/sigma": lambda v, x: (1 / _init_ok(v, x)[0], _init_ok(v, x)[1]),
    }
    for words, fn in mistakes.items():
        r = exercises.check_data_init(fn)
        assert not r.passed and words in r.message, (words, r.message)
    for fn in [_raise, lambda v, x: (np.nan, np.nan), lambda v, x: (v, x), lambda v, x: 3]:
        r = exercises.check_data_init(fn)
        assert not r.passed and r.message and "\n" not in r.message


def _pred_ok(n0, gn, lr):
    return np.sqrt(n0**2 + lr**2 * np.concatenate([[0.0], np.cumsum(np.asarray(gn) ** 2)]))


def test_check_norm_prediction():
    r = exercises.check_norm_prediction(_pred_ok)
    assert r.passed and "training run of section 3.3" in r.message
    c = lambda a: np.concatenate([[0.0], np.cumsum(a)])
    mistakes = {
        "added the step lengths": lambda n0, gn, lr: n0 + lr * c(gn),
        "not squared": lambda n0, gn, lr: np.sqrt(n0**2 + lr * c(gn**2)),
        "forgot the learning rate": lambda n0, gn, lr: np.sqrt(n0**2 + c(gn**2)),
        "CURRENT norm": lambda n0, gn, lr: n0 * np.concatenate(
            [[1.0], np.cumprod(np.sqrt(1 + (lr * gn / n0) ** 2))]),
        "starting with ||v_0||": lambda n0, gn, lr: _pred_ok(n0, gn, lr)[1:],
        "one number": lambda n0, gn, lr: _pred_ok(n0, gn, lr)[-1],
    }
    for words, fn in mistakes.items():
        r = exercises.check_norm_prediction(fn)
        assert not r.passed and words in r.message, (words, r.message)
    for fn in [_raise, lambda n0, gn, lr: _pred_ok(n0, gn, lr) * np.nan, lambda n0, gn, lr: "x"]:
        r = exercises.check_norm_prediction(fn)
        assert not r.passed and r.message and "\n" not in r.message


def test_checks_draw_fresh_seeded_cases():
    """Every check takes a seed and draws its cases from it: a lookup table of the seed-0 cases
    passes at seed 0 and fails at any other seed; an honest answer passes at every seed."""
    seen = {}

    def memorize(fn):
        def wrapped(*args):
            out = fn(*args)
            seen[repr([np.asarray(a).round(12).tolist() for a in args])] = out
            return out
        return wrapped

    def lookup(*args):
        return seen[repr([np.asarray(a).round(12).tolist() for a in args])]

    for check, ok in [(exercises.check_wn_backward, _wn_ok), (exercises.check_data_init, _init_ok),
                      (exercises.check_norm_prediction, _pred_ok)]:
        seen.clear()
        assert check(memorize(ok), seed=0).passed and check(lookup, seed=0).passed
        assert not check(lookup, seed=1).passed
        assert all(check(ok, seed=s).passed for s in (1, 2))


def test_exercises_match_the_notebook():
    nb = json.loads(NOTEBOOK.read_text())
    md = "\n".join("".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "markdown")
    labels = re.findall(r"```\{exercise\}[^\n]*\n:label:\s*(\S+)", md)
    assert [x for x in labels if not x.startswith("ex-predict-")] == [e.label for e in exercises.EXERCISES]
    # every explorable has its predict question, as a numbered exercise ABOVE the widget
    assert "nonumber" not in md
    src = [("".join(c["source"]), c["cell_type"]) for c in nb["cells"]]
    for name in explorables.EXPLORABLES:
        widget = next(i for i, (s, t) in enumerate(src) if t == "code" and f"{name}_explorable()" in s)
        assert any("Predict, run, explain" in s for s, t in src[max(0, widget - 3):widget] if t == "markdown")
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    for e in exercises.EXERCISES:
        stub = [s for s in code if f"def {e.function}(" in s]
        assert stub and "raise NotImplementedError" in stub[0]
        sol = [s for s in code if f"def {e.function}_solution(" in s]
        assert sol and f"{e.check.__name__}({e.function}_solution)" in sol[0]
        assert e.check(eval(f"_ref_{e.function}")).passed


_ref_wn_backward, _ref_wn_data_init, _ref_predict_norms = _wn_ok, _init_ok, _pred_ok


def test_notebook_is_clean_and_needs_no_torch():
    nb = json.loads(NOTEBOOK.read_text())
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            assert not c["outputs"] and c["execution_count"] is None
            assert "import torch" not in "".join(c["source"])
    assert "claims.table(chapter=3, controls=True)" in "\n".join("".join(c["source"]) for c in nb["cells"])
    for p in (ROOT / "normlab" / "ch3").glob("*.py"):
        assert not re.search(r"^\s*(import|from)\s+torch", p.read_text(), re.M), p.name


# ---- claims ---------------------------------------------------------------------------------------
def test_claims_have_valid_verdicts():
    assert len(ch3_claims.CLAIMS) >= 8
    assert all(c.chapter == 3 for c in ch3_claims.CLAIMS)
    verdicts = {c.verdict for c in ch3_claims.CLAIMS}
    assert verdicts <= set(claims.VERDICTS)
    assert claims.NOT_REPRODUCED in verdicts and claims.PARTLY in verdicts  # honest about misses


@pytest.mark.parametrize("claim", ch3_claims.CLAIMS, ids=lambda c: c.claim[:40])
def test_chapter3_claims_pass(claim):
    row = claims.check(claim, controls=True)
    assert row.passed, f"{row.claim}: {row.measured}"
    assert row.verdict in claims.VERDICTS and row.measured
    if row.verdict in claims.NO_CONTROL:
        assert claim.control is None
    else:  # the control is the same check where the claim should not hold: it must fail
        assert row.control_passed is False, f"{row.claim}: control {row.control}"
