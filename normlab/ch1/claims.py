r"""Chapter 1's claims: every claim the chapter makes, re-measured (``python -m normlab claims
--chapter 1``, the chapter's "Claims checked" table and the tests run these same functions)."""

from __future__ import annotations

import numpy as np

from normlab.ch1 import derivation, jacobian, scale, statistics, training
from normlab.ch1.derivation import backward_check, backward_vs_vjp
from normlab.ch1.jacobian import jacobian_spectra, spectrum_summary
from normlab.ch1.scale import scale_invariance, weight_growth
from normlab.ch1.statistics import folded_check, std_bias
from normlab.ch1.training import (DRIFT_LRS, drift_grid, drift_measure, grid_summary, usable_lrs)
from normlab.claims import IDENTITY, NOT_REPRODUCED, PARTLY, REPRODUCED, Claim

def _claim_backward():
    steps = backward_check()
    worst_auto = max(a for a, _ in steps.values())
    worst_fd = max(f for _, f in steps.values())
    vjp = backward_vs_vjp()
    ok = max(worst_auto, vjp) < 1e-10 and worst_fd < 1e-6
    return (f"every step vs jax.grad: max rel. error {worst_auto:.1e}; batchnorm.backward vs "
            f"jax.vjp on (N,C) and (N,H,W,C): {vjp:.1e}; vs finite differences: {worst_fd:.1e}",
            ok)


def _claim_scale():
    r = scale_invariance()
    i0 = list(r["eps"]).index(0.0)
    out0, grad0, u0 = r["out"][i0].max(), r["grad"][i0].max(), r["u_grad"][i0].max()
    ident = r["eps_identity"].max()
    j = int(np.argmin(np.abs(r["a"] - 1e-2)))
    k = list(r["eps"]).index(1e-5)
    ok = max(out0, grad0, u0, ident) < 1e-10 and r["out"][k, j] > 1e-3
    return (f"eps=0, a in [1e-3, 1e3]: output {out0:.0e}, a*grad_W vs grad_W {grad0:.0e}, input "
            f"gradient {u0:.0e}; with eps=1e-5 the output moves by {r['out'][k, j]:.1e} at a=0.01; "
            f"BN_eps(aWu)=BN_(eps/a^2)(Wu) to {ident:.0e}", ok)


def _claim_growth():
    r = weight_growth()
    w = np.sqrt(r["bn"]["w2"])
    mono = bool(np.all(np.diff(w) >= 0))
    g = np.sqrt(r["bn"]["g2"])
    ok = mono and r["bn"]["rel_error"] < 1e-10 and r["bn"]["cos"].max() < 1e-10
    return (f"||W|| grew monotonically {w[0]:.2f} -> {w[-1]:.2f} in {len(g)} steps, equal to "
            f"sqrt(||W0||^2 + lr^2 sum ||g||^2) to {r['bn']['rel_error']:.0e}; max |cos(w_k, g_k)| "
            f"{r['bn']['cos'].max():.0e}; gradient norm {g[:10].mean():.2f} (first 10 steps) -> "
            f"{g[-10:].mean():.2f} (last 10)", ok)


def _claim_jacobian():
    r = jacobian_spectra("sigmoid", 0.1)
    p, b = spectrum_summary(r["plain"]), spectrum_summary(r["bn"])
    closer = b["median_abs_log10"] < p["median_abs_log10"]
    spread = b["q90"] / b["q10"]
    ok = closer and spread > 3  # closer to 1, and not all equal to 1: that is what we claim
    return (f"sigmoid MLP at init, median |log10 s| {p['median_abs_log10']:.2f} without BN vs "
            f"{b['median_abs_log10']:.2f} with BN; mean s^2 {p['mean_s2']:.2f} vs {b['mean_s2']:.2f}; "
            f"with BN the 10th-90th percentiles are {b['q10']:.2f}-{b['q90']:.2f}, so not all "
            f"singular values are 1 (normalized inputs are correlated)", ok)


def _claim_folded():
    r = folded_check()
    return (f"rel. error {r['population']:.0e} (whole set) and {r['batch']:.0e} (a batch of 16 "
            f"with population statistics)", max(r["population"], r["batch"]) < 1e-12)


def _claim_variance_bias():
    r = std_bias()
    z = np.abs(r["var_biased"] - r["exact_var_biased"]) / r["var_biased_se"]
    ok = bool(np.all(z < 4))
    pairs = ", ".join(f"m={m}: {v:.3f} ({e:.3f})" for m, v, e in
                      zip(r["m"][:4], r["var_biased"][:4], r["exact_var_biased"][:4]))
    return (f"E[sigma_B^2]/sigma^2 measured (exact) {pairs}, ...; all {len(r['m'])} batch sizes "
            f"within {z.max():.1f} standard errors", ok)


def _claim_std_average():
    r = std_bias()
    z = np.abs(r["std_mean"] - r["exact_std_mean"]) / r["std_mean_se"]
    below = bool(np.all(r["std_mean"] < r["std_rms"]))
    i = list(r["m"]).index(4)
    under = 1 - r["std_mean"][i] ** 2 * 4 / 3
    return (f"E[sigma_B] < sqrt(E[sigma_B^2]) at every m; at m=4, averaging stds and then "
            f"correcting by m/(m-1) underestimates the variance by {100 * under:.0f}%; matches "
            f"sqrt(2/m)G(m/2)/G((m-1)/2) within {z.max():.1f} s.e.", below and bool(np.all(z < 4)))


def _claim_training():
    s = grid_summary()
    n = s["plain"]["diverged"].size
    div_p = int((s["plain"]["diverged"] >= 0).sum())
    div_b = int((s["bn"]["diverged"] >= 0).sum())
    where = s["plain"]["diverged"] >= 0
    bn_there = 100 * float(np.max(np.where(s["bn"]["diverged"][where] < 0, s["bn"]["acc"][where], 0)))
    u = usable_lrs()
    lo = {k: min(v) if v else float("nan") for k, v in u.items()}
    hi = {k: max(v) if v else float("nan") for k, v in u.items()}
    ok = div_b < div_p and lo["bn"] < lo["plain"] and hi["bn"] <= hi["plain"]
    return (f"diverged: {div_p}/{n} runs without BN, {div_b}/{n} with; learning rates reaching "
            f">= 90% test accuracy (some batch size): {lo['plain']:.2g}..{hi['plain']:.2g} without, "
            f"{lo['bn']:.2g}..{hi['bn']:.2g} with BN; where the plain net diverged, BN's best "
            f"accuracy was {bn_there:.0f}%", ok)


def _claim_drift():
    g = drift_grid()
    i = DRIFT_LRS.index(1.0)
    d = {k: [drift_measure(q) for q in g[k]["q"]] for k in ("plain", "bn")}
    less = sum(b < p for p, b in zip(d["plain"], d["bn"]))
    ap, ab = 100 * g["plain"]["acc"][i, -1], 100 * g["bn"]["acc"][i, -1]
    return (f"drift of the 15/50/85th percentiles after the first 10% of training, relative to "
            f"their final 15-85 spread, at lr 1: {d['plain'][i]:.2f} without BN vs {d['bn'][i]:.2f} "
            f"with; smaller with BN at {less}/{len(DRIFT_LRS)} learning rates; test accuracy at "
            f"lr 1: {ap:.0f}% vs {ab:.0f}%", less == len(DRIFT_LRS) and ab > ap)


def weight_growth_summary() -> str:
    """One line on :func:`weight_growth` (the text of the corresponding claim)."""
    return _claim_growth()[0]


def training_summary() -> str:
    """One line on the training grid (the text of the corresponding claim)."""
    return _claim_training()[0]


CLAIMS = [
    Claim(1, "The hand-derived backward pass (each step and the compact form) equals autodiff",
          "Section 3: the chain-rule expressions for dl/dx_i, dl/dgamma, dl/dbeta",
          _claim_backward, verdict=IDENTITY),
    Claim(1, "Scale invariance is exact with eps = 0, and the weight gradient scales as 1/a",
          "Section 3.3: BN((aW)u) = BN(Wu), d BN((aW)u)/d(aW) = (1/a) d BN(Wu)/dW",
          _claim_scale, verdict=IDENTITY),
    Claim(1, "Under SGD a weight vector feeding BN can only grow, by exactly lr^2 ||g||^2 per step, "
             "while its gradient shrinks",
          "Section 3.3: larger weights lead to smaller gradients, and BN will stabilize the "
          "parameter growth", _claim_growth, verdict=REPRODUCED),
    Claim(1, "Sigmoid MLP: BN moves the layer Jacobian's singular values towards 1, but does not "
             "make them all 1",
          "Section 3.3 (conjecture): under Gaussian, uncorrelated, linear assumptions, J J^T = I, "
          "all singular values 1", _claim_jacobian, verdict=PARTLY),
    Claim(1, "The folded affine map equals BN with population statistics",
          "Algorithm 2, step 4: y = gamma/sqrt(Var[x]+eps) x + (beta - gamma E[x]/sqrt(Var[x]+eps))",
          _claim_folded, verdict=IDENTITY),
    Claim(1, "The uncorrected batch variance underestimates by (m-1)/m",
          "Algorithm 2: Var[x] = m/(m-1) E_B[sigma_B^2], the unbiased estimate",
          _claim_variance_bias, verdict=IDENTITY),
    Claim(1, "Averaging per-batch standard deviations underestimates the population std",
          "Algorithm 2 averages variances, not standard deviations", _claim_std_average, verdict=IDENTITY),
    Claim(1, "Digits MLP: BN prevents most divergences and trains at smaller learning rates, but "
             "does not raise the largest usable learning rate",
          "Section 4.2: BN-Inception trained at 5x and 30x the learning rate; 5x drove the "
          "original Inception's parameters to machine infinity",
          _claim_training, verdict=NOT_REPRODUCED),
    Claim(1, "A sigmoid unit's input distribution drifts less during training with BN",
          "Figure 1(b, c): the 15th, 50th and 85th percentiles of a last-layer sigmoid input "
          "over training, without and with BN (shown as a picture of internal covariate shift)",
          _claim_drift, verdict=REPRODUCED),
]
