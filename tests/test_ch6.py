"""Chapter 6: Weight Standardization and Group Normalization. Identities in float64 on small
inputs; the chapter's switch layer against the library's layers; the exercise checks; the answers
of the predict questions (read from the chapter's sweep, which the claims tests share)."""

import re
from pathlib import Path

import jax
import jax.numpy as jnp
import nbformat
import numpy as np
import pytest

import normlab
from normlab import nets
from normlab.ch6 import claims as claims6
from normlab.ch6 import answers, derivation, exercises, explorables, figures, smallbatch, smoothing, trajectory
from normlab.measure import rel_error

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "06_weight_standardization.ipynb"


@pytest.mark.parametrize("seed,fan_in,units", [(0, 9, 2), (2, 20, 1)])
def test_ws_backward_and_the_identities_hold_exactly(seed, fan_in, units):
    with normlab.float64():
        assert derivation.check_backward(seed, fan_in, units) < 1e-12
        assert derivation.check_backward(seed, fan_in, units, eps=1e-2) < 1e-12
        r = derivation.check_identities(seed, fan_in, units)
        assert r["norm"] < 1e-12 and r["hessian"] < 1e-12
        assert np.all(r["raw_over_proj"] >= 1 - 1e-12) and r["orthogonal"] < 1e-12
        assert derivation.official_variant_error(seed, fan_in, units) < 1e-12


def test_identity_is_santurkar_thm41_with_m_replaced_by_the_fan_in():
    """The same function (chapter 5's Theorem 4.1 right-hand side) with gamma = 1 gives ||Pg||^2/sigma^2."""
    rng = np.random.default_rng(3)
    with normlab.float64():
        w = jnp.asarray(rng.normal(size=(7, 2)))
        g = jnp.asarray(rng.normal(size=(7, 2)))
        wh, s = (w - w.mean(0)) / w.std(0), w.std(0)
        P = jnp.eye(7) - 1 / 7 - jnp.outer(wh[:, 0], wh[:, 0]) / 7
        want = jnp.sum((P @ g[:, 0]) ** 2) / s[0] ** 2
        assert rel_error(derivation.norm_identity_rhs(g, wh, s)[0], want) < 1e-12


@pytest.mark.parametrize("kind", [0, 1, 2, 3, 4, 7])
def test_switch_equals_the_library_layer(kind):
    rng = np.random.default_rng(kind)
    with normlab.float64():
        h = jnp.asarray(rng.normal(size=(3, 5, 5, 2)))
        W = jnp.asarray(rng.normal(size=(3, 3, 2, 4)))
        ref = smallbatch.reference_layer(kind)
        p_ref, sw = ref.init(W), smallbatch.Switch(kind=kind)
        p = sw.init(W)
        p = dict(p, gamma=jnp.asarray(rng.uniform(0.5, 2, 4)), beta=jnp.asarray(rng.normal(size=4)))
        p_ref = dict(p_ref, **({"b": p["beta"]} if kind == 0 else
                               {"gain": p["gamma"], "bias": p["beta"]} if kind == 2 else
                               {"gamma": p["gamma"], "beta": p["beta"]}))
        want = ref(p_ref, h)[0]
        assert rel_error(sw(p, h)[0], want) < 1e-12
        traced = jax.jit(lambda k: smallbatch.Switch(kind=k)(p, h)[0])(jnp.asarray(kind))
        assert rel_error(traced, want) < 1e-12
        if kind in (1, 7):  # inference mode: the running statistics
            run = (jnp.asarray(rng.normal(size=4)), jnp.asarray(rng.uniform(0.5, 2, 4)))
            ctx = nets.Ctx(running=run)
            assert rel_error(sw(p, h, ctx)[0], ref(p_ref, h, ctx)[0]) < 1e-12


def test_conv_and_the_ablation_weights():
    """Switch's patches-times-matrix convolution equals nets.linear; kinds 5 and 6 convolve with
    the centred-only and the scaled-only weight (static and traced kind), then apply GN."""
    rng = np.random.default_rng(7)
    with normlab.float64():
        h = jnp.asarray(rng.normal(size=(2, 6, 6, 3)))
        W = jnp.asarray(rng.normal(loc=0.5, size=(3, 3, 3, 4)))
        assert rel_error(smallbatch.conv(h, W), nets.linear(h, W)) < 1e-12
        mu, sd = W.mean((0, 1, 2)), W.std((0, 1, 2))
        gn = nets.GroupNorm(groups=smallbatch.GROUPS)
        p = smallbatch.Switch().init(W)
        for kind, Wk in ((5, W - mu), (6, W / sd), (4, (W - mu) / sd)):
            assert rel_error(smallbatch.weight(W, kind), Wk) < 1e-12
            assert rel_error(jax.jit(lambda k: smallbatch.weight(W, k))(jnp.asarray(kind)), Wk) < 1e-12
            want = gn(dict(gn.init(Wk), **{"gamma": p["gamma"], "beta": p["beta"]}), h)[0]
            assert rel_error(smallbatch.Switch(kind=kind)(p, h)[0], want) < 1e-12
        assert smallbatch.KINDS[:5] == smallbatch.METHODS
        assert set(smallbatch.ABLATION_METHODS) <= set(smallbatch.KINDS)


def test_group_stats_and_kinds():
    """The switch's per-example statistics equal GroupNorm's (G = 2) and LayerNorm's (G = 1); each
    batch size trains the kinds its sections read."""
    rng = np.random.default_rng(11)
    with normlab.float64():
        a = jnp.asarray(rng.normal(size=(2, 3, 3, 4)))
        mu, var = smallbatch._pool(*smallbatch._cell_stats(a), 2)
        assert mu.shape == (2, 4)
        want = a.reshape(2, 3, 3, 2, 2)
        assert rel_error(mu[:, :2], jnp.broadcast_to(want[..., 0, :].mean((1, 2, 3))[:, None], (2, 2))) < 1e-12
        assert rel_error(var[:, 3], want[..., 1, :].var((1, 2, 3))) < 1e-12
        mu1, var1 = smallbatch._pool(*smallbatch._cell_stats(a), 1)
        assert rel_error(mu1[:, 0], a.reshape(2, -1).mean(1)) < 1e-12
        assert rel_error(var1[:, 0], a.reshape(2, -1).var(1)) < 1e-12
    assert smallbatch.kinds_for(1) == smallbatch.KINDS_SMALL and smallbatch.kinds_for(16) == smallbatch.KINDS_16
    assert smallbatch.BNWS in smallbatch.KINDS_16 and smallbatch.BNWS not in smallbatch.KINDS_SMALL
    assert set(smoothing.PROBED) <= set(smallbatch.KINDS_16)


def _fake_probes(loss_range, grad_change, ok=None):
    """A probes() record of 2 specs x 2 seeds x 1 checkpoint x 3 step sizes with the given loss
    ranges and gradient changes (specs, seeds), and which runs trained (``ok``, all by default)."""
    lr_, gc = np.asarray(loss_range, float), np.asarray(grad_change, float)
    loss = np.stack([np.zeros_like(lr_), lr_, 0.5 * lr_], -1)[:, :, None, :]
    dgrad = np.stack([0.1 * gc, gc, 0.5 * gc], -1)[:, :, None, :]
    return {"loss": loss, "dgrad": dgrad, "beta": 2 * gc[..., None], "grad_norm": np.ones(lr_.shape + (1,)),
            "ok": np.ones(lr_.shape, bool) if ok is None else np.asarray(ok, bool),
            "specs": (("GN+WS", 0.1), ("GN", 0.3)), "seeds": (0, 1), "steps": (150,), "etas": (0.05, 0.1, 0.4)}


def test_smoothing_summaries_ratios_and_verdict(monkeypatch):
    """Chapter 5's summaries of the probes (loss range = max - min, gradient change = max, beta),
    the per-seed ratios, the 'smoother / rougher in every seed' tests, and a seed whose run did not
    train dropped and counted, on a probes record whose values are known."""
    fake = _fake_probes([[1.0, 4.0], [2.0, 2.0]], [[3.0, 1.0], [6.0, 2.0]])
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake)
    assert smoothing.best_lr("GN") == 0.3
    s = smoothing.summaries("GN+WS")
    np.testing.assert_allclose(s["loss_var"], [1.0, 4.0])
    np.testing.assert_allclose(s["grad_change"], [3.0, 1.0])
    np.testing.assert_allclose(s["beta"], [6.0, 2.0])
    r = smoothing.ratios("GN+WS", "GN")
    np.testing.assert_allclose(r["loss_var"], [0.5, 2.0])
    np.testing.assert_allclose(r["grad_change"], [0.5, 0.5])
    assert r["dropped"] == 0
    assert not smoothing.smoother_everywhere(r) and not smoothing.rougher_everywhere(r)
    assert smoothing.count(r) == 1 and smoothing.count(r, smoother=False) == 0
    assert smoothing.smoother_everywhere({"loss_var": np.array([0.5, 0.9]), "grad_change": np.array([0.1, 0.99])})
    assert smoothing.rougher_everywhere({"loss_var": np.array([1.5, 1.1]), "grad_change": np.array([2.0, 1.01])})
    assert not smoothing.rougher_everywhere({"loss_var": np.array([]), "grad_change": np.array([])})
    gm, lo, hi = smoothing.log_ci([2.0, 8.0])
    assert abs(gm - 4.0) < 1e-12 and lo < gm < hi and abs(lo * hi - 16.0) < 1e-9
    # GN's run in seed 1 did not train: that seed is dropped from every ratio with GN, and counted
    fake2 = _fake_probes([[1.0, 4.0], [2.0, 2.0]], [[3.0, 1.0], [6.0, 2.0]], ok=[[True, True], [True, False]])
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake2)
    assert np.isnan(smoothing.summaries("GN")["loss_var"][1])
    r2 = smoothing.ratios("GN+WS", "GN")
    assert r2["dropped"] == 1 and len(r2["loss_var"]) == 1 and smoothing.smoother_everywhere(r2)
    with pytest.raises(ValueError, match="no seed"):
        smoothing.count({"loss_var": np.array([]), "grad_change": np.array([])})
    with pytest.raises(ValueError, match="at least 2"):
        smoothing.log_ci([2.0])


def _fake_cells(a, b, ok=None):
    """A probes record of two runs, (seeds, checkpoints) arrays ``a`` and ``b`` for every
    statistic: the loss line (v, 2v), the gradient change (v/2, v), beta and gradient norm v."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    v = np.stack([a, b])
    return {"loss": np.stack([v, 2 * v], -1), "dgrad": np.stack([v / 2, v], -1), "beta": v,
            "grad_norm": v, "ok": np.ones((2, a.shape[0]), bool) if ok is None else np.asarray(ok, bool),
            "specs": (("GN+WS", 0.1), ("GN", 0.3)), "seeds": tuple(range(a.shape[0])),
            "steps": tuple(50 * (t + 1) for t in range(a.shape[1])), "etas": (0.05, 0.4)}


def test_smoothing_rule_geometric_means_and_detection(monkeypatch):
    """The rule of section 6.6: per-(seed, checkpoint) ratios, each seed's geometric mean over the
    checkpoints, the pair's geometric mean with a t interval over the seeds; detected only when the
    interval lies wholly on one side of 1; one outlier checkpoint does not decide; fewer than 2
    seeds detect nothing and fail the claim's check."""
    # ratios per cell: seed 0 (0.5, 0.5, 8.0) (one outlier), seed 1 (0.5, 0.5, 0.5), seed 2 (0.25, 0.5, 1)
    a = [[0.5, 0.5, 8.0], [0.5, 0.5, 0.5], [0.25, 0.5, 1.0]]
    fake = _fake_cells(a, np.ones((3, 3)))
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake)
    r = smoothing.cell_ratios("GN+WS", "GN")
    for k in smoothing.STATS:
        np.testing.assert_allclose(r[k], a)
    g = smoothing.aggregate(r)
    np.testing.assert_allclose(g["beta"]["seeds"], [2 ** (1 / 3), 0.5, 0.5])
    assert abs(g["beta"]["gm"] - 2 ** (-5 / 9)) < 1e-12           # the geometric mean of all 9 cells
    np.testing.assert_array_equal(g["beta"]["ck_below"], [3, 3, 1])
    assert g["beta"]["lo"] < 1 < g["beta"]["hi"] and smoothing.detected(g) == ()
    assert smoothing.verdict_word(g["beta"]) == "no difference detected"
    # every cell below 1 in every seed: smoothing detected by every statistic
    fake_s = _fake_cells([[0.5, 0.6], [0.4, 0.5], [0.6, 0.55]], np.ones((3, 2)))
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake_s)
    gs = smoothing.aggregate(smoothing.cell_ratios("GN+WS", "GN"))
    assert smoothing.detected(gs) == smoothing.STATS and smoothing.detected(gs, smoother=False) == ()
    assert smoothing.verdict_word(gs["loss_var"]) == "smoother" and gs["loss_var"]["hi"] < 1
    monkeypatch.setattr(claims6.sb, "edges", lambda *a, **k: [])
    assert claims6._no_smoothing(("GN+WS", "GN"))[1] is False       # detected: the claim's check fails
    # GN's run did not train in two of three seeds: one seed left, no interval, the check fails
    fake1 = _fake_cells(a, np.ones((3, 3)), ok=[[True] * 3, [True, False, False]])
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake1)
    g1 = smoothing.aggregate(smoothing.cell_ratios("GN+WS", "GN"))
    assert g1["beta"]["n"] == 1 and np.isnan(g1["beta"]["hi"]) and smoothing.detected(g1) == ()
    assert smoothing.verdict_word(g1["beta"]) == "too few seeds"
    assert claims6._no_smoothing(("GN+WS", "GN"))[1] is False
    monkeypatch.setattr(smoothing, "probes", lambda batch=16, shared=False: fake)
    assert claims6._no_smoothing(("GN+WS", "GN"))[1] is True          # no interval below 1: passes


def test_bn_mode_gap_only_at_batch_1():
    """Only batch 1 records BN's batch-statistics accuracy: another batch size is refused."""
    with pytest.raises(ValueError, match="only batch 1"):
        smallbatch.bn_mode_gap(2)


def test_fan_ins_and_rows():
    assert trajectory.fan_ins() == [9, 9 * smallbatch.CHANNELS[1]]
    r = smallbatch.rows_for(0, 4, steps=5, n=10)
    assert r.shape == (5, 4) and r.min() >= 0 and r.max() < 10
    assert not np.array_equal(r, smallbatch.rows_for(1, 4, steps=5, n=10))


# ------------------------------------------------------------------------------------------------
# Exercises
# ------------------------------------------------------------------------------------------------
def _ws(g, W):
    ax = tuple(range(W.ndim - 1))
    s = W.std(ax, keepdims=True)
    wh = (W - W.mean(ax, keepdims=True)) / s
    return (g - g.mean(ax, keepdims=True) - wh * (g * wh).mean(ax, keepdims=True)) / s


def _gn(x, G, gain, bias):
    c = x.shape[-1]
    xg = x.reshape(x.shape[:-1] + (G, c // G))
    ax = tuple(range(1, x.ndim - 1)) + (x.ndim,)
    return ((xg - xg.mean(ax, keepdims=True)) / np.sqrt(xg.var(ax, keepdims=True) + 1e-5)).reshape(x.shape) * gain + bias


def test_checks_pass_on_correct_code_for_other_seeds():
    for seed in (0, 3):
        assert exercises.check_ws_backward(_ws, seed=seed).passed
        assert exercises.check_group_norm(_gn, seed=seed).passed
        assert exercises.check_effective_lr(lambda lr, k, c: lr * k * k * c / 2, seed=seed).passed


def test_checks_diagnose_common_mistakes():
    r = exercises.check_ws_backward(lambda g, W: _ws(g, W) * W.std(tuple(range(W.ndim - 1)), keepdims=True))
    assert not r.passed and "1/sigma" in r.message
    r = exercises.check_ws_backward(lambda g, W: g / W.std(tuple(range(W.ndim - 1)), keepdims=True))
    assert not r.passed and "removed nothing" in r.message

    def bn(x, G, gain, bias):
        ax = tuple(range(x.ndim - 1))
        return (x - x.mean(ax, keepdims=True)) / np.sqrt(x.var(ax, keepdims=True) + 1e-5) * gain + bias
    r = exercises.check_group_norm(bn)
    assert not r.passed and "batch axis" in r.message
    r = exercises.check_effective_lr(lambda lr, k, c: lr * k * k * c)
    assert not r.passed and "2/I" in r.message


def test_stub_is_pending_and_errors_do_not_raise():
    def stub(*a):
        raise NotImplementedError
    r = exercises.check_group_norm(stub)
    assert not r.passed and r.pending
    r = exercises.check_ws_backward(lambda g, W: 1 / 0)
    assert not r.passed and "ZeroDivisionError" in r.message


def test_exercises_are_in_the_notebook():
    nb = nbformat.read(str(NOTEBOOK), 4)
    text = "\n".join(c.source for c in nb.cells)
    for ex in exercises.EXERCISES:
        assert f":label: {ex.label}" in text and f"def {ex.function}(" in text
        assert f"def {ex.function}_solution(" in text


def test_markdown_renders():
    """No TeX norm bars '\\|' (they do not render in the book's inline math); display math on
    lines of its own."""
    nb = nbformat.read(str(NOTEBOOK), 4)
    for i, c in enumerate(nb.cells):
        if c.cell_type != "markdown":
            continue
        assert "\\|" not in c.source, i
        for line in c.source.splitlines():
            if "$$" in line:
                assert line.strip() == "$$", (i, line)
        assert not re.search(r"\{glue:text\}`[^`]*\}`", c.source), i


# ------------------------------------------------------------------------------------------------
# The predict questions' answers
# ------------------------------------------------------------------------------------------------
def test_projection_answer():
    """ex-predict-projection: the W-gradient only changes length, and equals ||g|| below sigma_W = 1."""
    a = answers.projection_crossing()
    assert a["cos"] > 1 - 1e-9
    assert 0 < a["sigma"] < 1
    r = explorables.projection_compute(1.0)
    assert float(np.asarray(r["grad_norm"])) < float(np.asarray(r["g_norm"]))


def test_microbatch_answer():
    """ex-predict-microbatch: at batch 2 and the middle rate BN is not far above GN (less than the
    5 points of claim 6.9's test, the paper's collapse being 10.6), and GN's error varies more
    across the three rates than the three methods do at the middle rate."""
    a = answers.microbatch_point(2, 1)
    assert a["BN"] - a["GN"] < claims6.PAPER_GAP / 100
    gn = [answers.microbatch_point(2, k)["GN"] for k in range(3)]
    assert max(gn) - min(gn) > max(a.values()) - min(a.values())


def test_probes_step_along_the_gradient_of_the_batch_just_trained_on(monkeypatch):
    """smoothing.probes on a stand-in sweep whose checkpoints are the initial parameters: the
    probed loss at each step size equals the loss, recomputed here, after that step along the
    gradient on the batch of the checkpoint's last step; every method's run at its best rate, every
    probe at the same steps (the grid's middle rate x PROBE_MULTIPLES), whatever the method's rate."""
    from types import SimpleNamespace

    from normlab import data, train
    b, seeds = 16, smallbatch.SEEDS_16
    kinds = smallbatch.KINDS_16
    n_ck = 3
    P = [smallbatch.params_for(s) for s in seeds]
    ck = jax.tree_util.tree_map(
        lambda *a: np.broadcast_to(np.stack([np.asarray(x) for x in a])[None, None, :, None],
                                   (len(kinds), 3, len(seeds), n_ck) + np.shape(a[0])), *P)
    best = {m: smallbatch.LRS[b][k % 3] for k, m in enumerate(smoothing.PROBED)}   # different rates
    ok = SimpleNamespace(ok=True)
    monkeypatch.setattr(smallbatch, "sweep", lambda batch: {"ckpt": ck, "kinds": kinds})
    monkeypatch.setattr(smallbatch, "statuses", lambda res: np.full((len(kinds), 3, len(seeds)), ok, object))
    monkeypatch.setattr(smallbatch, "comparison", lambda batch, methods=None: SimpleNamespace(best_lr=best))
    own = smoothing.specs(b)
    same = smoothing.specs(b, shared=True)
    assert own == [(m, best[m]) for m in smoothing.PROBED]
    assert same == [(m, smallbatch.LRS[b][1]) for m in smoothing.PROBED]   # one rate for all
    todo = tuple(dict.fromkeys(own + same))
    pr = smoothing._probes.__wrapped__.uncached(b, todo)   # past both memos
    assert pr["specs"] == todo
    monkeypatch.setattr(smoothing, "_probes", lambda batch, t: pr if t == todo else None)
    for shared, want_specs in ((False, own), (True, same)):   # each view slices its own runs
        v = smoothing.probes(b, shared=shared)
        assert list(v["specs"]) == want_specs
        for k, spec in enumerate(want_specs):
            np.testing.assert_array_equal(v["loss"][k], pr["loss"][todo.index(spec)])
    pr = smoothing.probes(b)
    assert pr["loss"].shape == (len(smoothing.PROBED), len(seeds), n_ck, len(smoothing.PROBE_MULTIPLES))
    assert pr["steps"] == (50, 100, 150) and pr["ok"].all()
    assert smoothing.step_lr(b) == smallbatch.LRS[b][1]
    d = data.digits(images=True)
    s, t = 1, 2
    for m in ("GN+WS", "GN"):
        i = smoothing.PROBED.index(m)
        row = smallbatch.rows_for(seeds[s], b)[pr["steps"][t] - 1]
        layer = smallbatch.Switch(kind=smallbatch.KINDS.index(m))
        loss = lambda q: train.cross_entropy(nets.apply_mlp(q, jnp.asarray(d["x_train"][row]), layer)[0],
                                             jnp.asarray(d["y_train"][row]))
        g = jax.grad(loss)(P[s])
        eta = smoothing.step_lr(b) * smoothing.PROBE_MULTIPLES[-1]    # the same for every method
        want = loss(jax.tree_util.tree_map(lambda p, q: p - eta * q, P[s], g))
        np.testing.assert_allclose(pr["loss"][i, s, t, -1], want, rtol=1e-4)
    assert np.all(pr["dgrad"] > 0)


def test_trend_is_welchs_interval_on_the_paired_gaps(monkeypatch):
    """smallbatch.trend: the change in a paired gap between two batch sizes, with Welch's interval
    (t at the Welch degrees of freedom rounded down); the trend row's check."""
    small, large = np.arange(1.0, 10.0), np.array([0.0, 1.0, 2.0])
    fake = {1: small, 128: large}
    monkeypatch.setattr(smallbatch, "paired", lambda b, a, r, methods=None: {
        "d": fake[b], "mean": float(fake[b].mean()), "n": len(fake[b])})
    t = smallbatch.trend("BN", "GN", 1, 128)
    vs, vl = small.var(ddof=1) / 9, large.var(ddof=1) / 3
    df = (vs + vl) ** 2 / (vs ** 2 / 8 + vl ** 2 / 2)
    assert 9 < df < 10 and t["df"] == 9
    assert t["diff"] == 4.0
    assert abs(t["lo"] - (4 - 2.262 * np.sqrt(vs + vl))) < 1e-12 and abs(t["hi"] - (4 + 2.262 * np.sqrt(vs + vl))) < 1e-12
    assert not claims6.no_trend([t])                       # the interval lies above 0: a trend
    assert claims6.no_trend([{"lo": -1.0, "hi": 2.0}])
    assert not claims6.no_trend([{"lo": -1.0, "hi": claims6.PAPER_GAP + 1}])   # too wide to rule out the paper's


def test_every_batch_size_has_its_grid_and_seeds():
    """Six batch sizes from 1 to 128; batches 16 and up have three seeds, their own compiled call,
    and a grid of three rates; the sweep's five methods are trained at every batch size."""
    assert smallbatch.BATCHES[0] == 1 and smallbatch.BATCHES[-1] == 128
    for b in smallbatch.BATCHES:
        assert len(smallbatch.LRS[b]) == 3 and list(smallbatch.LRS[b]) == sorted(smallbatch.LRS[b])
        assert set(smallbatch.METHODS) <= set(smallbatch.kinds_for(b))
        assert len(smallbatch.seeds_for(b)) >= 3
    assert smallbatch._group(64) == (64,) and smallbatch._group(2) == smallbatch.SMALL


def test_ratio_text_shows_which_side_of_one_a_bound_lies():
    """Table 6.1's cells: two decimals, three where a bound would print as 1.00 (0.995 and 1.004
    would both read 1.00 and the rule's verdict could not be checked from the table)."""
    assert smoothing.gm_text({"gm": 0.5, "lo": 0.25, "hi": 0.9}) == "×0.50 [0.25, 0.90]"
    assert smoothing.gm_text({"gm": 0.37, "lo": 0.14, "hi": 0.9984}) == "×0.370 [0.140, 0.998]"
    assert smoothing.gm_text({"gm": 0.43, "lo": 0.19, "hi": 1.0032}) == "×0.430 [0.190, 1.003]"


def test_microbatch_curves_of_runs_that_trained_are_drawn_whole():
    """Figure 6.4: every curve of a method whose seeds all trained is finite where it is drawn (from
    step SMOOTH on), so no such run is marked "diverged"; the legend says "did not train" otherwise."""
    from normlab import style
    g = explorables.microbatch_grid()
    drawn = g["loss"][..., figures.SMOOTH - 1:]
    ok = np.isfinite(g["error"])
    assert ok.sum() > 0
    for idx in zip(*np.nonzero(ok)):
        assert style.diverged_at(drawn[idx]) is None, idx
    fig = figures.plot_microbatch({k: v[5, 1] for k, v in g.items()})   # batch 128, the middle rate
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert labels and not any("diverged" in s for s in labels), labels
