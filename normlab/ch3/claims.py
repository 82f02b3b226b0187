r"""Chapter 3's claims, re-measured (``python -m normlab claims --chapter 3``, the chapter's
"Claims checked" table and the tests run these same functions; the heavy experiments are memoised
and shared with the notebook)."""

from __future__ import annotations

import numpy as np

from normlab.ch3 import (experiment, gradients, growth, initialization, mean_only, relation,
                         reparam, stabilization)
from normlab.claims import IDENTITY, NOT_REPRODUCED, PARTLY, REPRODUCED, Claim, minmax

NOISE_SEEDS = (0, 1, 2)


def _claim_invariance():
    r = reparam.invariance()
    worst = max(r["norm"].max(), r["out"].max(), r["grad_v"].max(), r["grad_g"].max())
    ok = worst < 1e-12 and r["flip"] > 0.1
    return (f"c from 1e-3 to 1e3, per column: ||w|| = |g| to {r['norm'].max():.0e}, output "
            f"{r['out'].max():.0e}, c * grad_v(cv) vs grad_v(v) {r['grad_v'].max():.0e}, grad_g "
            f"{r['grad_g'].max():.0e}; v -> -v changes the output by {r['flip']:.2f}", ok)


def _claim_gradients():
    r = gradients.backward_check()
    auto = max(a for a, _ in r.values())
    fd = max(f for _, f in r.values() if np.isfinite(f))
    net = gradients.network_check()
    ok = auto < 1e-12 and fd < 1e-7 and net < 1e-12
    return (f"every piece vs jax.grad/jax.jacobian: max rel. error {auto:.0e}, vs finite "
            f"differences {fd:.0e}; in the digits MLP, eq. 4 applied to the plain network's "
            f"gradient vs jax.grad of the WN network: {net:.0e}", ok)


def _claim_projection():
    r = gradients.projection_check()
    ok = max(r["orth"], r["idempotent"], r["kills_w"], r["forms"]) < 1e-12 and r["symmetric"] < 1e-12
    return (f"max |cos(v, grad_v)| {r['orth']:.0e}; ||M^2 - M|| {r['idempotent']:.0e}, "
            f"||M w||/||w|| {r['kills_w']:.0e}; eq. 3 vs eq. 4 {r['forms']:.0e}; the projection "
            f"removes {100 * r['removed'].min():.2g}-{100 * r['removed'].max():.2g}% of "
            f"||grad_w||^2 (its part along w)", ok)


def _claim_pythagoras():
    r = growth.pythagoras_run()
    ok = r["rel_error"] < 1e-12 and r["cum_error"] < 1e-10 and r["drop"] < 1e-14 and r["cos"] < 1e-12
    n = r["norm"]
    return (f"{r['column_steps']} column-steps of SGD (lr {r['lr']:g}, float64): ||v'|| = "
            f"sqrt(1+c^2)||v|| to {r['rel_error']:.0e}, the product over the run to "
            f"{r['cum_error']:.0e}; |cos(v, grad_v)| <= {r['cos']:.0e}; largest decrease of a norm "
            f"{r['drop']:.0e} (rounding); mean ||v|| {n[0].mean():.3f} -> {n[-1].mean():.3f}", ok)


def _claim_stabilization():
    r = stabilization.stabilization_seeds()
    nr, er = r["norm_ratio"], r["eff_ratio"]  # (noise, seed)
    grows = bool(np.all(np.diff(nr, axis=0) > 0))
    shrinks = bool(np.all(np.diff(er, axis=0) < 0))
    better = bool(np.all(r["loss"][1:] < r["plain_loss"][1:]))
    ok = grows and shrinks and better and float(er[-1].max()) < 0.3
    noises = r["noises"]
    return (f"lr {r['lr']:g}, 400 steps, {len(r['seeds'])} seeds, gradient noise "
            f"{', '.join(f'{s:g}' for s in noises)}: ||v|| x{nr[0].min():.2f}-{nr[0].max():.2f}, "
            f"x{nr[1].min():.1f}-{nr[1].max():.1f}, x{nr[2].min():.1f}-{nr[2].max():.1f}; final "
            f"eta_eff/eta {er[0].min():.2f}-{er[0].max():.2f}, {er[1].min():.2f}-{er[1].max():.2f}, "
            f"{er[2].min():.2f}-{er[2].max():.2f}; with noise the WN loss "
            f"({r['loss'][1:].min():.2f}-{r['loss'][1:].max():.2f}) is below the plain one "
            f"({r['plain_loss'][1:].min():.2f}-{r['plain_loss'][1:].max():.2f}) in every seed", ok)


def effective_lr_range():
    """Over the experiment's three largest learning rates: the final effective learning rate of
    WN's first hidden layer per (lr, seed), and the ratio of its largest to its smallest value."""
    res = experiment.experiment_grid()
    p = res["WN"]["probe"]  # (lr, seed, evals, layers, 4)
    rows = range(len(experiment.LRS) - 3, len(experiment.LRS))
    eff = np.array([experiment.LRS[i] * p[i, :, -1, 0, 1] for i in rows])
    n0 = experiment.initial_norms()  # (seed,): before the first step
    growth_ = np.array([p[i, :, -1, 0, 0] / n0 for i in rows])
    top = len(experiment.LRS) - 1
    return {"lrs": [experiment.LRS[i] for i in rows], "eff": eff, "growth": growth_,
            "spread": float(eff.max() / eff.min()),
            "dead_top": p[top, :, -1, -1, 3], "bias_top": p[top, :, -1, :, 2]}  # at the largest lr


def _claim_lr_range():
    r = effective_lr_range()
    s = experiment.summary()
    lrs = r["lrs"]
    n_plain, n_wn = len(s["plain"]["usable"]), len(s["WN"]["usable"])
    dead = r["dead_top"]
    ok = (r["spread"] < 3.0 and n_wn <= n_plain and float(r["growth"][-1].min()) > 1.5
          and float(dead.min()) >= 0.5)
    return (f"lr {lrs[0]:g} to {lrs[-1]:g} (x{lrs[-1] / lrs[0]:.0f}): WN's first-layer ||v|| grew "
            f"up to x{r['growth'].max():.1f} and its final eta g^2/||v||^2 lies in "
            f"{r['eff'].min():.2f}-{r['eff'].max():.2f} (x{r['spread']:.1f}) over 3 seeds; yet the "
            f"learning rates where every seed reaches {100 * experiment.GOOD_ACC:.0f}% are "
            f"{_range(s['WN']['usable'])} with WN, {_range(s['plain']['usable'])} without, "
            f"{_range(s['WN + data init']['usable'])} with WN + data init; at lr {lrs[-1]:g} "
            f"{pct_range(dead)} of the last hidden layer's units end dead (mean biases "
            f"{r['bias_top'].min():.1f} to {r['bias_top'].max():.1f})", ok)


def pct_range(a) -> str:
    return minmax(100 * np.asarray(a, float), ".0f") + "%"


def _range(lrs) -> str:
    return f"{min(lrs):.2g}-{max(lrs):.2g}" if lrs else "none"


def _claim_momentum():
    g = stabilization.growth_summary()["momentum 0.9"]
    beta = 0.9
    share = 2 * beta / (1 + beta)
    grows = bool(np.all(np.diff(g["growth"].mean(1)) > 0)) and bool(np.all(g["growth"] > 1))
    ok = float(g["shrink"].max()) < 1e-3 and grows and float(np.abs(g["radial"] - share).max()) < 0.03
    return (f"momentum 0.9, lr {', '.join(f'{v:g}' for v in g['lrs'])}, 3 seeds: ||v|| grew "
            f"x{g['growth'].min():.3f}-{g['growth'].max():.3f}, {100 * g['shrink'].max():.2f}% of "
            f"column-steps shrank (float32 rounding); {minmax(100 * g['radial'], '.1f')}% of the "
            f"growth is radial (2 v.dv), our prediction for "
            f"independent orthogonal gradients 2beta/(1+beta) = {100 * share:.1f}%", ok)


def _claim_adam():
    g = stabilization.growth_summary()["Adam"]
    shrink_small = bool(np.all(g["growth"][0] < 1)) and float(g["shrink"][0]) > 0.5
    grow_large = bool(np.all(g["growth"][-1] > 1))
    ok = shrink_small and grow_large
    lrs = g["lrs"]
    return (f"Adam, 3 seeds: at lr {lrs[0]:g} ||v|| shrank to x{g['growth'][0].min():.3f}-"
            f"{g['growth'][0].max():.3f} ({100 * g['shrink'][0]:.0f}% of column-steps shrank), at "
            f"{lrs[1]:g} x{g['growth'][1].min():.3f}-{g['growth'][1].max():.3f}, at {lrs[-1]:g} it "
            f"grew x{g['growth'][-1].min():.3f}-{g['growth'][-1].max():.3f}", ok)


def _claim_whitened():
    r = relation.whitened_check()
    spread = float(np.abs(r["digits_ratio"] - 1).max())
    ok = r["white"] < 1e-12 and float(np.abs(r["sigma_ratio"] - 1).max()) < 1e-12 and spread > 0.3
    return (f"exactly whitened batch: BN(xv) vs WN xv/||v|| {r['white']:.0e}, sigma[t]/||v|| = 1 to "
            f"{np.abs(r['sigma_ratio'] - 1).max():.0e}; digits inputs: sigma[t]/||v|| "
            f"{r['digits_ratio'].min():.2f}-{r['digits_ratio'].max():.2f}, BN vs WN differ by "
            f"{r['digits']:.2f}", ok)


def noise_over_seeds(seeds=NOISE_SEEDS):
    return [relation.batch_noise(seed=s) for s in seeds]


def _claim_wn_noise():
    rs = noise_over_seeds()
    spread = max(r["wn"]["spread"] for r in rs)
    bn = np.array([r["bn"]["std"] for r in rs])
    ok = spread == 0.0 and float(bn.min()) > 0.1
    m = rs[0]["m"]
    return (f"one example's output over 1000 random batches, {len(rs)} seeds: WN's never changes "
            f"(largest change {spread:.0f}); BN's noise std {minmax(bn[:, 0], '.2f')} at m={m[0]} down "
            f"to {minmax(bn[:, -1], '.2f')} at m={m[-1]} "
            f"(units of the normalized output)", ok)


def _claim_mean_only_noise():
    rs = noise_over_seeds()
    kb = np.array([r["bn"]["kurtosis"] for r in rs])
    km = np.array([r["mean_only"]["kurtosis"] for r in rs])
    sb = np.array([r["bn"]["std"] for r in rs])
    sm = np.array([r["mean_only"]["std"] for r in rs])
    m = rs[0]["m"]
    theory = float(np.abs(sm - np.sqrt(m - 1) / m).max() / (np.sqrt(m[-1] - 1) / m[-1]))
    lighter = bool(np.all(kb > km + 0.1)) and float(np.abs(km).max()) < 0.1
    ok = lighter and bool(np.all(sm < sb)) and theory < 0.1
    return (f"excess kurtosis of the noise, m={m[0]}..{m[-1]}, {len(rs)} seeds: mean-only BN "
            f"{km.min():.2f} to {km.max():.2f} (near Gaussian), BN {kb.min():.2f} to {kb.max():.2f} "
            f"(heavier, but mildly so); mean-only noise std = sqrt(m-1)/m within "
            f"{100 * theory:.0f}% and below BN's at every m", ok)


def _claim_init():
    r = initialization.init_stats()
    worst = max(max(r["batch_mean"]), max(r["batch_std_err"]))
    tm = max(float(np.abs(m).max()) for m in r["test_mean"])
    ts = [(float(s.min()), float(s.max())) for s in r["test_std"]]
    ok = worst < 1e-12 and tm > 0.05
    lo, hi = min(a for a, _ in ts), max(b for _, b in ts)
    return (f"v ~ N(0, 0.05^2), two hidden layers, the initialization batch (64, float64): mean 0 "
            f"and std 1 to {worst:.0e}; on the held-out digits |mean| up to {tm:.2f}, std "
            f"{lo:.2f}-{hi:.2f}", ok)


def _claim_eq8():
    r = mean_only.eq8_check()
    layer = mean_only.layer_check()
    ok = max(r["vjp"], r["grad_b"], r["jacobian"], r["sums_to_zero"], layer) < 1e-12 and r["fd"] < 1e-7
    return (f"eq. 8 vs jax.vjp {r['vjp']:.0e}, vs finite differences {r['fd']:.0e}; Jacobian "
            f"I - 11^T/m to {r['jacobian']:.0e}; sum_i grad_t = 0 to {r['sums_to_zero']:.0e}; the "
            f"WN + mean-only BN layer vs the hand chain {layer:.0e}", ok)


def _claim_speed():
    sp = experiment.speed()
    init = initialization.effective_lr_at_init()
    s = experiment.summary()
    rows = [experiment.LRS.index(v) for v in experiment.LRS[:3]]
    per_seed = {n: s[n]["final"][rows].mean(0) for n in experiment.VARIANTS}
    faster = bool(np.all(per_seed["WN + data init"] < 0.6 * per_seed["plain"]))
    same = bool(np.all(np.abs(per_seed["WN"] - per_seed["plain"]) < 0.1 * per_seed["plain"]))
    ok = faster and same
    f = lambda n: f"{sp[n][0]:.2f}"
    return (f"mean training loss after 200 steps at lr 0.01-0.1 (3 seeds): plain {f('plain')}, "
            f"WN {f('WN')}, WN + data init {f('WN + data init')}, WN + mean-only BN "
            f"{f('WN + mean-only BN')}, BN {f('BN')}; data init also multiplies the first layer's "
            f"effective learning rate by g^2/||v||^2 = {init['he']:.1f}", ok)


def _claim_best():
    s = experiment.summary()
    best = {n: max(float(100 * s[n]["acc"][i].mean()) for i in range(len(experiment.LRS)))
            for n in experiment.VARIANTS}
    spread = {n: float(np.ptp(100 * s[n]["acc"][int(np.argmax(s[n]["acc"].mean(1)))]))
              for n in experiment.VARIANTS}  # over seeds, at each variant's best learning rate
    gap = max(best.values()) - min(best.values())
    ok = gap <= max(spread.values())
    order = sorted(best, key=best.get, reverse=True)
    return (f"best mean test accuracy over the learning rates (3 seeds): "
            + ", ".join(f"{n} {best[n]:.1f}%" for n in order)
            + f"; the gap ({gap:.1f} points) is within the spread over seeds (up to "
              f"{max(spread.values()):.1f} points)", ok)


def stabilization_summary() -> str:
    return _claim_stabilization()[0]


def growth_summary() -> str:
    return _claim_momentum()[0] + ". " + _claim_adam()[0]


CLAIMS = [
    Claim(3, "||w|| = g whatever v, and the network is unchanged when v is scaled by c > 0; "
             "grad_v then scales as 1/c",
          "Eq. 2: 'we now have ||w|| = g, independent of the parameters v'",
          _claim_invariance, verdict=IDENTITY),
    Claim(3, "The hand-derived gradients (eqs. 3-4) equal autodiff and finite differences, and in "
             "a network they are eq. 4 applied to the ordinary weight gradient",
          "Eqs. 3-4, 'where grad_w L is the gradient with respect to the weights w as used normally'",
          _claim_gradients, verdict=IDENTITY),
    Claim(3, "grad_v is orthogonal to v: M_w is a symmetric projection that removes the gradient's "
             "component along w",
          "Eq. 4: 'M_w is a projection matrix that projects onto the complement of the w vector'",
          _claim_projection, verdict=IDENTITY),
    Claim(3, "Under plain SGD, ||v'|| = sqrt(1 + c^2) ||v|| at every step of a training run, so "
             "||v|| never decreases",
          "Sec. 2.1: ||v'|| = sqrt(||v||^2 + c^2 ||v||^2) = sqrt(1 + c^2) ||v|| >= ||v||",
          _claim_pythagoras, verdict=IDENTITY),
    Claim(3, "Noisier gradients grow ||v|| faster and shrink the effective learning rate; with noise "
             "the WN network trains better than the plain one",
          "Sec. 2.1: 'If our gradients are noisy, c will be high and the norm of v will quickly "
          "increase, which in turn will decrease the scaling factor g/||v||'",
          _claim_stabilization, verdict=REPRODUCED),
    Claim(3, "At large learning rates ||v|| grows until the effective learning rate settles, but "
             "the digits MLP's usable learning-rate range is no wider with WN",
          "Sec. 2.1: 'very robust to the value of the learning rate: If the learning rate is too "
          "large, the norm of the unnormalized weights grows quickly until an appropriate "
          "effective learning rate is reached'", _claim_lr_range, verdict=PARTLY),
    Claim(3, "With momentum the update is no longer orthogonal, but ||v|| still only grows, mostly "
             "through the radial term",
          "Sec. 2.1: the property 'does not strictly hold ... when using momentum. However, "
          "qualitatively we still find the same effect to hold'", _claim_momentum,
          verdict=REPRODUCED),
    Claim(3, "With Adam, ||v|| shrinks at small learning rates and grows only at larger ones",
          "Sec. 2.1: 'does not strictly hold for optimizers ... like Adam ... However, "
          "qualitatively we still find the same effect to hold'", _claim_adam, verdict=PARTLY),
    Claim(3, "For exactly whitened inputs, sigma[t] = ||v|| and BN of the pre-activation equals WN; "
             "for the digits it does not",
          "Sec. 2.2: for whitened inputs 'mu[t] = 0 and sigma[t] = ||v||', and BN 'is equivalent "
          "to' WN", _claim_whitened, verdict=IDENTITY),
    Claim(3, "WN adds no batch noise to a unit's output; BN adds noise that shrinks with the batch "
             "size",
          "Sec. 2.2: 'Weight normalization can thus be viewed as a cheaper and less noisy "
          "approximation to batch normalization'", _claim_wn_noise, verdict=REPRODUCED),
    Claim(3, "Mean-only BN's noise is close to Gaussian and smaller than BN's; BN's is heavier-tailed, "
             "but only mildly at these batch sizes",
          "Sec. 4: mean-only noise 'has much lighter tails than the highly kurtotic noise caused by "
          "the minibatch estimate of the variance'", _claim_mean_only_noise, verdict=PARTLY),
    Claim(3, "After the data-dependent initialization every unit's pre-activation has mean 0 and "
             "std 1 on that batch, and only approximately on other data",
          "Sec. 3 (eqs. 5-6); 'this only holds for the minibatch we use for initialization, and "
          "subsequent minibatches may have slightly different statistics'", _claim_init,
          verdict=IDENTITY),
    Claim(3, "The mean-only BN gradient (eq. 8) equals autodiff, alone and inside the WN layer",
          "Eq. 8: grad_t L = grad_t~ L - mu[grad_t~ L]", _claim_eq8, verdict=IDENTITY),
    Claim(3, "Digits MLP, SGD: WN alone trains like the plain network; with the data-dependent "
             "initialization it trains faster than plain and than BN at small learning rates",
          "Sec. 2.2: 'our weight normalization method provides much of the speed-up of full batch "
          "normalization'", _claim_speed, verdict=PARTLY),
    Claim(3, "Digits MLP: at their best learning rates all five variants reach about the same test "
             "accuracy; WN + mean-only BN is not measurably the best",
          "Fig. 2 (CIFAR-10 test error): WN + mean-only BN 7.31%, BN 8.05%, normal param. 8.43%, "
          "WN 8.46%, mean-only BN 8.52%", _claim_best, verdict=NOT_REPRODUCED),
]
