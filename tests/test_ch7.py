"""Chapter 7: scale invariance and the effective learning rate. Identities in float64 on small
inputs; the exponential-learning-rate equivalence on a toy scale-invariant loss; the exercise
checks (solutions pass, the usual mistakes are named); the predict answers at the settings the
notebook's questions name."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import normlab
from normlab import scale, train
from normlab.ch7 import dynamics, exercises, invariance


@pytest.mark.parametrize("kind", ["BN", "LN", "GN", "WN", "WS"])
def test_identities_hold_at_eps_zero_for_every_normalization(kind):
    r = invariance.identities(kind, ks=(7.0,))
    assert r["orth"] < 1e-13 and r["scale"] < 1e-13
    assert r["out_orth"] > 1e-3 and r["out_scale"] > 1.0   # the output layer is not invariant


def test_identities_fail_without_normalization_and_with_eps():
    assert invariance.identities("none", ks=(7.0,))["orth"] > 1e-2
    r = invariance.identities("BN", eps=1e-4, ks=(7.0,))
    assert 1e-6 < r["orth"] < 1e-2
    with pytest.raises(ValueError, match="kind must be"):
        invariance.layer_of("RMS")


def test_groups_follow_each_normalization():
    assert list(invariance.groups("LN", 4)) == [0, 0, 0, 0]
    assert list(invariance.groups("GN", 8)) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert list(invariance.groups("BN", 3)) == [0, 1, 2]


def test_alpha_roots_and_values():
    a = dynamics.alpha(0.1, 5e-4, 0.9)
    assert a == pytest.approx(0.999497728, abs=1e-9)
    assert dynamics.alpha(0.1, 5e-4, 0.9, "-") == pytest.approx(0.900452272, abs=1e-9)
    assert dynamics.alpha(0.1, 5e-4, 0.0) == pytest.approx(1 - 0.1 * 5e-4)
    for root in "+-":
        x = dynamics.alpha(0.3, 1e-2, 0.8, root)
        assert x * x - (1 + 0.8 - 0.3 * 1e-2) * x + 0.8 == pytest.approx(0, abs=1e-14)
    with pytest.raises(ValueError, match="no real root"):
        dynamics.alpha(1.0, 0.5, 0.9)


def _toy():
    """A scale-invariant loss of each column of W (3 x 2): a smooth function of W / ||W||."""
    A = jnp.asarray(np.random.default_rng(3).normal(size=(5, 3)))
    T = 60
    inputs = jnp.zeros((T, 1))

    def loss(ws, _x, _s):
        u = ws[0] / jnp.linalg.norm(ws[0], axis=0)
        return jnp.sum(jnp.sin(A @ u) ** 2) + jnp.sum(u[0]), {}

    return loss, inputs


@pytest.mark.parametrize("mom,root", [(0.9, "+"), (0.9, "-"), (0.0, "+"), (0.5, "+")])
def test_exp_lr_equivalence_on_a_toy_with_the_matched_buffer(mom, root):
    loss, inputs = _toy()
    lr, wd = 0.1, 0.01
    with normlab.float64():
        w0 = [jnp.asarray(np.random.default_rng(4).normal(size=(3, 2)))]
        a = dynamics.alpha(lr, wd, mom, root)
        _, _, h1 = train.run(loss, w0, inputs, lr=lr, optimizer=train.momentum(mom, wd),
                             record=lambda s: {"w": s.new_params})
        out = {}
        for name, v0 in (("matched", dynamics.initial_buffer(w0, lr, a)), ("zero", [jnp.zeros_like(w0[0])])):
            opt = train.Optimizer(lambda p, v0=v0: v0, train.momentum(mom).update)
            _, _, h2 = train.run(loss, w0, inputs, lr=lambda t: lr * a ** (-2.0 * t - 1),
                                 optimizer=opt, record=lambda s: {"w": s.new_params})
            out[name] = {k: float(np.max(v)) for k, v in dynamics.discrepancy(h1["w"], h2["w"], a).items()}
    assert out["matched"]["unit"] < 1e-11 and out["matched"]["rel"] < 1e-10
    if mom > 0:
        assert out["zero"]["unit"] > 1e-4   # zero buffers: not the same run


def test_pythagoras_and_angle_are_exact_on_a_short_run():
    r = dynamics.pythagoras(steps=20)
    assert r["pyth"] < 1e-13 and r["tan"] < 1e-12 and r["cos"] < 1e-13
    assert np.all(np.diff(dynamics.pythagoras(wd=0.0, steps=20)["norm"], axis=0) > -1e-15)
    assert dynamics.pythagoras(steps=20, normalized=False)["pyth"] > 1e-6


def test_rescaling_equivalence_short():
    assert dynamics.rescaling(steps=20)["weights"] < 1e-13
    assert dynamics.rescaling(steps=20, normalized=False)["weights"] > 1e-3


def test_exercise_checks_pass_solutions_and_name_mistakes():
    def angle(a, b):
        return np.asarray(scale.angle(a, b))

    def arccos_angle(a, b):
        c = np.sum(a * b, 0) / np.linalg.norm(a, axis=0) / np.linalg.norm(b, axis=0)
        return np.arccos(np.clip(c, -1, 1))

    assert exercises.check_angle(angle).passed
    assert exercises.check_angle(angle, seed=5).passed
    bad = exercises.check_angle(arccos_angle)
    assert not bad.passed and "arctan2" in bad.message
    eq = lambda lr, wd, m: float(scale.equilibrium_angle(lr, wd, m))
    assert exercises.check_equilibrium_angle(eq).passed
    bad = exercises.check_equilibrium_angle(lambda lr, wd, m: np.sqrt(2 * lr * wd))
    assert not bad.passed and "1 + gamma" in bad.message

    def sched(lr, wd, m, steps, w0, root="+", zero=False):
        a = dynamics.alpha(lr, wd, m, root)
        v0 = np.zeros_like(w0) if zero else -(1 - a) * w0 / (a * lr)
        return lr * a ** (-2.0 * np.arange(steps) - 1), v0

    assert exercises.check_exp_lr(sched).passed
    bad = exercises.check_exp_lr(lambda *a: sched(*a, zero=True))
    assert not bad.passed and "zero initial buffer" in bad.message
    bad = exercises.check_exp_lr(lambda *a: sched(*a, root="-"))
    assert not bad.passed and "smaller root" in bad.message


def test_predict_answers_hold_where_the_questions_ask():
    from normlab.ch7 import equilibrium
    pe = equilibrium.predict_answer(0.3)
    # (a) the largest decay ends with the smallest norm, far below the undecayed one
    assert pe["smallest_norm_wd"] == max(equilibrium.WDS) and pe["norm_small"] < 0.5 * pe["norm_none"]
    # (b) by the last quarter the lambda = 1e-3 run is on the line; in the first half below it
    assert abs(pe["ratio_1e3"] - 1) < 0.1 and pe["ratio_first_half"] < 0.9
    # the eps question: about eps at 1e-6, far below the zero-buffer drift; much more at 1e-5
    g = dynamics.exp_lr_grid()
    i6, i5 = dynamics.EPS_GRID.index(1e-6), dynamics.EPS_GRID.index(1e-5)
    assert 1e-7 < g["unit"][i6, 0, -1] < 1e-5 < g["unit"][0, 1, -1] / 100
    assert g["unit"][i5, 0, -1] > 1e-4


def test_relaxation_fits_the_descent_after_the_overshoot():
    from normlab.ch7 import equilibrium
    t = np.arange(601.0)
    rows = []
    for tau in (20.0, 40.0):            # rise to a peak at step 10, then exponential descent
        n2 = np.where(t < 10, 2 + 0.6 * t, 1 + 7 * np.exp(-(t - 10) / tau))
        rows.append(np.sqrt(n2))
    norm = np.stack(rows)[None, None, :, :, None]          # (lr, wd, seed, T+1, layer)
    fit = equilibrium.relaxation(0, 0, r={"norm": norm})
    assert np.allclose(fit, [20.0, 40.0], rtol=0.02), fit
    # without an overshoot the fit starts at step 0 and still finds the time
    flat = np.sqrt(1 + 3 * np.exp(-t / 30.0))[None, None, None, :, None]
    assert abs(equilibrium.relaxation(0, 0, r={"norm": flat})[0] - 30) < 0.6


def test_ch7_checks_can_fail():
    from normlab.ch7 import claims as c7
    ok_ratio = np.array([[0.7, 0.8], [1.3, 1.4]])
    assert c7._relax_check(ok_ratio, 0.76)
    assert not c7._relax_check(ok_ratio, 0.0)                # no dependence on eta lambda
    assert not c7._relax_check(ok_ratio * 0.1, 0.76)         # wrong time unit
    assert c7._es_check(np.array([0.15, 0.16]), np.array([0.63, 0.64]))
    assert not c7._es_check(np.array([0.15]), np.array([1.5]))   # the norm speeds it up
    assert not c7._es_check(np.array([0.15]), np.array([0.2]))   # the norm explains it all
    assert c7._acc_check(np.array([0.97, 0.98]), [np.array([0.975, 0.98])], 0.35, 0.28)
    assert not c7._acc_check(np.array([0.92, 0.93]), [np.array([0.975, 0.98])])
    assert not c7._acc_check(np.array([0.97]), [np.array([0.97])], 0.25, 0.28)  # edge not the optimum


def test_h_term_matches_wan_et_al_on_hand_written_momentum_steps():
    from normlab.ch7 import equilibrium
    rng = np.random.default_rng(0)
    lr, wd, mom = 0.3, 1e-2, 0.9
    w = rng.normal(size=(5, 3))
    v_prev = rng.normal(size=(5, 3))
    g = rng.normal(size=(5, 3))
    v = mom * v_prev + g + wd * w                      # the one loop's buffer (decay inside)
    w_next = w - lr * v
    want = np.sum(g * g, 0) + 2 * mom * np.sum(v_prev * g, 0)
    with normlab.float64():
        got = np.asarray(equilibrium.h_term(w, w_next, g, lr, wd))
        assert np.allclose(got, want, rtol=1e-12)
        # plain SGD: h_t = ||g_t||^2
        got0 = np.asarray(equilibrium.h_term(w, w - lr * (g + wd * w), g, lr, wd))
        assert np.allclose(got0, np.sum(g * g, 0), rtol=1e-12)
        # the same step through train.momentum gives the same h
        opt = train.momentum(mom, wd)
        p, u = opt.update(jnp.asarray(g), jnp.asarray(v_prev), jnp.asarray(w), lr)
        assert np.allclose(np.asarray(equilibrium.h_term(jnp.asarray(w), p, jnp.asarray(g), lr, wd)),
                           want, rtol=1e-10)
    # the notebook's check (the same hand-written step) gives rounding
    assert equilibrium.h_term_check() < 1e-12


def test_wstar_formulas_by_hand_and_bad_input():
    from normlab.ch7 import equilibrium
    L, lr, wd, a = 2.0, 0.1, 1e-2, 0.9
    want = (L * lr / (wd * (1 - a) * (2 - wd * lr / (1 + a)))) ** 0.25
    assert float(equilibrium.wstar(L, lr, wd, a)) == pytest.approx(want, rel=1e-14)
    assert float(equilibrium.wstar(L, lr, wd, 0.0)) == pytest.approx((L * lr / (2 * wd)) ** 0.25, rel=1e-14)
    assert float(equilibrium.wstar(16.0, 0.5, 0.25, 0.0)) == pytest.approx(2.0, rel=1e-14)  # (16*0.5/0.5)^(1/4)
    with pytest.raises(ValueError, match="no equilibrium"):
        equilibrium.wstar(L, lr, 0.0)
    # wstar_table on a synthetic grid: a norm at exactly w* gives 1, the wrong formula does not
    L2 = np.full((1, 2, 1, 2, 4), 3.0)
    n2 = float(equilibrium.wstar(3.0, equilibrium.LRS[0], equilibrium.WDS[1])) ** 2 * np.ones_like(L2)
    r = {"L_tail": L2, "Lg_tail": L2, "n2_tail": n2}
    assert np.allclose(equilibrium.wstar_table(r, pts=[(0, 1)]), 1.0, rtol=1e-12)
    wrong = equilibrium.wstar_table(r, pts=[(0, 1)], formula="sgd")
    el = equilibrium.WDS[1] * equilibrium.LRS[0]
    assert np.allclose(wrong, (2 / (0.1 * (2 - el / 1.9))) ** 0.25, rtol=1e-12)   # about 1.78
    # the cross-term control: the same formula from E||g||^2||w||^2 (here L_g = L/2 -> 2^(1/4))
    r2 = dict(r, Lg_tail=L2 / 2)
    assert np.allclose(equilibrium.wstar_table(r2, pts=[(0, 1)], formula="cross"), 2 ** 0.25, rtol=1e-12)
    with pytest.raises(ValueError, match="formula must be"):
        equilibrium.wstar_table(r, pts=[(0, 1)], formula="thm3")
    # a window reads its own keys: the norm at the quarter's own w* gives 1
    rq = {"L_q3": 2 * L2, "n2_q3": float(equilibrium.wstar(6.0, equilibrium.LRS[0], equilibrium.WDS[1])) ** 2 * np.ones_like(L2)}
    assert np.allclose(equilibrium.wstar_table(rq, pts=[(0, 1)], window="q3"), 1.0, rtol=1e-12)


def test_wstar_and_adamw_checks_can_fail():
    from normlab.ch7 import claims as c7
    assert c7._wstar_check(np.array([[0.98, 1.03, 1.01]]))
    assert not c7._wstar_check(np.array([[0.98, 1.06, 1.01]]))          # one unit 6% off
    assert not c7._wstar_check(np.array([[1.03, 1.04, 1.03]]))          # the layer 3% off
    ok = np.array([[[0.85, 0.99], [0.9, 1.02]]])                        # (settings, seeds, 2)
    assert c7._adamw_check(ok)
    assert not c7._adamw_check(ok * 3)                                   # Adam+L2's size
    assert not c7._adamw_check(np.array([[[0.95, 0.93]]]))               # second layer 7% off
    # the mask must halve the first layer's shortfall (0.125 -> 0.035 yes, -> 0.08 no)
    assert c7._adamw_check(ok, masked=np.array([[[0.96, 1.0], [0.97, 1.0]]]))
    assert not c7._adamw_check(ok, masked=np.array([[[0.91, 1.0], [0.93, 1.0]]]))


def test_adamw_settles_near_kosson_et_al_in_the_second_layer():
    from normlab.ch7 import equilibrium
    a = equilibrium.adamw_runs(settings=((1e-2, 1.0),))
    assert a["ok"].all()
    assert a["pred"][0] == pytest.approx(np.sqrt(2 * 1e-2 * 1.0 * 0.1 / 1.9), rel=1e-12)
    assert np.all(np.abs(a["layer"][..., 1] - 1) < 0.1)
    assert np.all(a["wrong"] < 0.4)
    with pytest.raises(ValueError, match="pairs of positive"):
        equilibrium.adamw_runs(settings=((1e-2, 0.0),))
    with pytest.raises(ValueError, match="pairs of positive"):
        equilibrium.adamw_runs(settings=[1e-2, 1.0])
    with pytest.raises(ValueError, match="variant must be"):
        equilibrium.adamw_runs(variant="lion")
    # zeroing the near-blank pixels lifts the first layer; Adam+L2 has no such equilibrium
    m = equilibrium.adamw_runs(settings=((1e-2, 1.0),), variant="masked")
    assert m["ok"].all() and np.all(m["layer"][..., 0] > a["layer"][..., 0].max())
    assert 10 <= int(equilibrium.blank_pixels().sum()) <= 20
    l2 = equilibrium.adamw_runs(settings=((1e-2, 1.0),), variant="adam_l2")
    assert np.all(l2["layer"] > 2)


def test_fixed_lr_bn_trains_at_every_rate_plain_does_not():
    from normlab.ch7 import equilibrium
    o = equilibrium.fixed_lr(lrs=(1.0, 100.0), steps=60)
    assert all(s.ok for s in o["status"])
    assert o["norm"][1, -1] > 3 * o["norm"][1, 0] and o["norm"][0, -1] < 1.2 * o["norm"][0, 0]
    assert np.all(np.diff(o["G_min"], axis=1) <= 0) and np.all(o["G_min"][:, -1] < o["G"][:, 0])
    # G is the squared gradient on the sphere: sum over units of ||w||^2 ||g||^2 at step 0
    assert o["G"][0, 0] == pytest.approx(o["G"][1, 0], rel=1e-5)        # same start, both rates
    p = equilibrium.fixed_lr(lrs=(1.0, 100.0), steps=60, normalized=False)
    assert p["status"][0].ok and p["status"][1].kind == "diverged"
    with pytest.raises(ValueError, match="positive learning rates"):
        equilibrium.fixed_lr(lrs=(0.0,), steps=60)


def test_ranges_rows_of_figure_7_3():
    """Figure 7.3's rows: a min-max per row, the angle rows on top, and every row the chapter
    expects to agree (a tolerance given) inside that tolerance of 1; the controls outside 2%."""
    from normlab.ch7 import ranges
    rows = ranges.rows()
    assert [r["group"] for r in rows] == sorted((r["group"] for r in rows), key=["angle", "norm"].index)
    assert all(r["lo"] <= r["hi"] for r in rows)
    for r in rows:
        if r["tol"] is not None:
            assert 1 - r["tol"] <= r["lo"] and r["hi"] <= 1 + r["tol"], r
    ctl = {r["label"]: r for r in rows if "control" in r["label"]}
    assert len(ctl) == 3
    assert all(r["hi"] < 0.98 or r["lo"] > 1.02 for r in ctl.values()), ctl
