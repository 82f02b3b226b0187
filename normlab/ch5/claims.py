r"""Chapter 5's claims, re-measured (``python -m normlab claims --chapter 5``).

Every empirical row runs on each seed of :data:`normlab.ch5.experiments.SEEDS` (the MLP) or
:data:`normlab.ch5.dln.DLN_SEEDS` (the deep linear network), reports the min-max over the seeds,
and checks the book's sentence in every seed. Where the paper verdict depends on the measurement
it is computed from it (the rule is in each function). The theory rows are identities.

The "same" tolerances are the chapter's own, used for every row: two positive quantities are "of
the same order" when their ratio lies within a factor 2, two cosines "about the same" when they
differ by less than 0.2; "about an order of magnitude" is a ratio of at least :math:`10^{1/2}`.
"""

from __future__ import annotations

import numpy as np

from normlab.ch5.dln import DLN_SEEDS, dln_experiment
from normlab.ch5.experiments import (ACT_LAYER, FINAL_LAST, MAIN_LR, PLATEAU_FRAC, STEPS, final_loss,
                                     instability, landscape_summary, mean_loss, mlp_seeds,
                                     plateau, removal)
from normlab.ch5.theory import identity_errors
from normlab.claims import IDENTITY, NOT_REPRODUCED, PARTLY, REPRODUCED, Claim, minmax

SAME_RATIO = 2.0         # "of the same order": a ratio within [1/2, 2]
SAME_COS = 0.2           # "about the same" cosine: |difference| < 0.2
DECADE = 10 ** 0.5       # "about an order of magnitude": a ratio >= 10^(1/2)
NEAR = 1.5               # "nearly as well": a mean loss at most 1.5 x the reference's
ABOUT = (0.8, 1.25)      # "about as much": a ratio within 25 %
PART = (0.25, 0.75)      # "removes part of it": a share between a quarter and three quarters
IDENTITY_TOL = 1e-10     # an identity holds in float64 when its relative error is below this
L3, L4 = ACT_LAYER + 1, ACT_LAYER + 2  # the recorded layer and the next one, counted from 1


def by_seeds(holds) -> str:
    """A paper verdict from whether the paper's statement holds in each seed: in all of them
    reproduced, in some partly, in none not reproduced."""
    holds = np.asarray(holds, bool)
    return REPRODUCED if holds.all() else PARTLY if holds.any() else NOT_REPRODUCED




def _seeds(fn):
    """``fn(E)`` for each seed's MLP experiment, as an array."""
    return np.array([fn(E) for E in mlp_seeds()])


def _dln(fn):
    return np.array([fn(dln_experiment(seed=s)) for s in DLN_SEEDS])


def _n():
    return f"over {len(mlp_seeds())} seeds"


# ---- theory (identities, float64) ---------------------------------------------------------------
def _claim_thm41():
    r = identity_errors()["thm41"]
    return (f"max rel. error {r:.1e} on 3 random instances (float64, eps = 0, biased variance)",
            r < IDENTITY_TOL)


def _claim_thm42():
    r = identity_errors()["thm42"]
    return f"max rel. error {r:.1e} on 3 random instances (float64)", r < IDENTITY_TOL


def _claim_lemma45():
    e = identity_errors()
    return (f"last step: max rel. error {e['lemma45']:.1e} on 3 instances; BN output at k*W* vs "
            f"W*: rel. change {e['invariance']:.0e}",
            e["lemma45"] < IDENTITY_TOL and e["invariance"] < IDENTITY_TOL)


# ---- 5.2 noisy BatchNorm ----------------------------------------------------------------------
def noisy_summary() -> dict:
    """Per seed: mean losses of the four runs of section 5.2, the per-step distribution change of
    the next layer's input (absolute and relative to its spread), the noise removal of the next
    BN layer and the spread of layer ``ACT_LAYER + 1``'s output."""
    names = ("standard", "bn", "bn+noise", "standard+noise")
    out = {f"mean_{n}": _seeds(lambda E, n=n: mean_loss(E[n])) for n in names}
    out.update({f"final_{n}": _seeds(lambda E, n=n: final_loss(E[n])) for n in names})
    out["first_standard+noise"] = _seeds(lambda E: float(E["standard+noise"]["loss"][0]))
    for rel in (False, True):
        key = "rel" if rel else "abs"
        out[f"next_{key}"] = _seeds(lambda E: instability(E["bn+noise"], "next", rel)
                                    / instability(E["standard"], "next", rel))
        out[f"act_{key}"] = _seeds(lambda E: instability(E["bn+noise"], "act", rel)
                                   / instability(E["standard"], "act", rel))
    out["removed"] = _seeds(lambda E: 1 - removal(E["bn+noise"])["kept"])
    out["std_standard"] = _seeds(lambda E: float(np.mean(E["standard"]["act_std"])))
    out["std_bn"] = _seeds(lambda E: float(np.mean(E["bn"]["act_std"])))
    return out


def _claim_noisy_bn():
    s = noisy_summary()
    bn_n, b, st = s["mean_bn+noise"], s["mean_bn"], s["mean_standard"]
    holds = (bn_n < st) & (bn_n < NEAR * b)
    return (f"mean training loss over {STEPS} steps, {_n()}: BN + noise {minmax(bn_n, '.3f')}, BN "
            f"{minmax(b, '.3f')}, standard {minmax(st, '.3f')}; BN + noise / BN x{minmax(bn_n / b)}",
            bool(holds.all()), by_seeds(holds))


def _claim_noisy_unstable():
    """Verdict: reproduced if the next layer's input changes more than ABOUT[1] x the standard
    network's relative to its spread, not reproduced if not even in absolute terms, else partly."""
    s = noisy_summary()
    a, r, rm = s["next_abs"], s["next_rel"], s["removed"]
    ok = bool(np.all(a > 1) and np.all((r >= ABOUT[0]) & (r <= ABOUT[1]))
              and np.all((rm >= PART[0]) & (rm <= PART[1])))
    verdict = (REPRODUCED if np.all(r > ABOUT[1]) else NOT_REPRODUCED if not np.all(a > 1)
               else PARTLY)
    return (f"{_n()}: per-step change of layer {L4}'s input, BN + noise / standard: x{minmax(a)} "
            f"absolute, x{minmax(r)} relative to its spread; BN at layer {L4} removes "
            f"{minmax(100 * rm, '.0f')}% of one noise draw's change of its input", ok, verdict)


def _claim_standard_noise():
    s = noisy_summary()
    sn, st, first = s["final_standard+noise"], s["final_standard"], s["first_standard+noise"]
    ratio = s["std_bn"] / s["std_standard"]
    trains = sn < PLATEAU_FRAC * first
    ok = bool(np.all(sn > 2 * st) and np.all(trains) and np.all(ratio > 1))
    return (f"final training loss (last {FINAL_LAST} steps), {_n()}: standard + noise "
            f"{minmax(sn, '.2f')} vs standard {minmax(st, '.2f')} (its first step: {minmax(first, '.2f')}); "
            f"layer-{L3} spread BN / standard x{minmax(ratio, '.1f')}, so the same noise is larger for "
            f"the standard network", ok, by_seeds(~trains))


# ---- 5.3 ICS -----------------------------------------------------------------------------------
def ics_summary(R) -> dict:
    """Means over layers and probed steps of one experiment's standard and BN runs: raw l2,
    normalized l2 (per unit of distance moved) and cosine."""
    return {n: {k: float(np.nanmean(R[n][f"ics_{k}"])) for k in ("l2", "rel", "cos")}
            for n in ("standard", "bn")}


def _ics(get):
    m = [ics_summary(R) for R in get()]
    ratio = lambda k: np.array([x["bn"][k] / x["standard"][k] for x in m])
    return (ratio("l2"), ratio("rel"), np.array([x["standard"]["cos"] for x in m]),
            np.array([x["bn"]["cos"] for x in m]))


def _claim_ics_mlp():
    """Verdict: reproduced if BN has more ICS (normalized l2 larger and cosine lower) in every
    seed, not reproduced if in none, else partly."""
    l2, rel, sc, bc = _ics(mlp_seeds)
    same = lambda r: np.all((r >= 1 / SAME_RATIO) & (r <= SAME_RATIO))
    ok = bool(same(l2) and same(rel) and np.all(np.abs(bc - sc) < SAME_COS))
    more = (rel > 1) & (bc < sc)
    verdict = by_seeds(more)
    return (f"MLP, mean over layers and steps, {_n()}: BN / standard l2 x{minmax(l2)}, per unit "
            f"step x{minmax(rel)}; cosine standard {minmax(sc)} vs BN {minmax(bc)}; BN has more ICS "
            f"(both) in {int(np.sum(more))} of {len(more)} seeds", ok, verdict)


def _claim_ics_dln():
    """Verdict: reproduced if, besides BN's lower cosine, the standard network's cosine is close
    to 1 ("almost no ICS": above 1 - SAME_COS), else partly."""
    l2, rel, sc, bc = _ics(lambda: [dln_experiment(seed=s) for s in DLN_SEEDS])
    more = (bc < sc - SAME_COS) & (rel > 1)
    ok = bool(np.all(more) and np.all(sc < 1 - SAME_COS))
    verdict = ((REPRODUCED if np.all(sc > 1 - SAME_COS) else PARTLY) if np.all(more)
               else by_seeds(more) if np.any(more) else NOT_REPRODUCED)
    return (f"DLN, mean over layers and steps, over {len(DLN_SEEDS)} seeds: cosine standard "
            f"{minmax(sc)} vs BN {minmax(bc)}; BN / standard per unit step x{minmax(rel)}, raw l2 "
            f"x{minmax(l2)}", ok, verdict)


def _claim_dln_training():
    """Verdict: reproduced if BN's final loss is at most half the standard network's in every
    seed, partly if lower in every seed."""
    r = _dln(lambda D: float(D["bn"]["loss"][-1] / D["standard"]["loss"][-1]))
    ok = bool(np.all(r < 1))
    return (f"final loss BN / standard over {len(DLN_SEEDS)} seeds: x{minmax(r)}", ok,
            REPRODUCED if np.all(r <= 0.5) else PARTLY if np.any(r < 1) else NOT_REPRODUCED)


# ---- 5.4 the landscape -------------------------------------------------------------------------
def landscape_ratios(phase: str = "all") -> dict:
    """standard / BN ratios of the landscape summaries per seed, over ``phase``: ``"all"`` probed
    steps, ``"plateau"`` those before the standard network's plateau ends, ``"after"`` the rest."""
    def one(E):
        t = E["probe_steps"]
        P = plateau(E["standard"])
        steps = {"all": slice(None), "plateau": t < P, "after": t >= P}[phase]
        s, b = landscape_summary(E["standard"], steps), landscape_summary(E["bn"], steps)
        return [s[k] / b[k] for k in KEYS]

    KEYS = ("loss_var", "grad_change", "beta", "grad_norm")
    v = _seeds(one)
    return {k: v[:, i] for i, k in enumerate(KEYS)}


def _claim_landscape():
    """Verdict: reproduced if the gradient change is also about two orders of magnitude smaller
    (a ratio >= 10^1.5 in every seed), as the paper reports; else partly."""
    r = landscape_ratios()
    ok = bool(np.all(r["loss_var"] >= DECADE) and np.all(r["grad_change"] >= 2))
    return (f"averaged over the run, {_n()}: standard / BN loss variation x{minmax(r['loss_var'], '.1f')}, "
            f"gradient change x{minmax(r['grad_change'], '.1f')}", ok,
            (REPRODUCED if np.all(r["grad_change"] >= 10 ** 1.5) else PARTLY) if ok else NOT_REPRODUCED)


def _claim_two_phases():
    e, a = landscape_ratios("plateau"), landscape_ratios("after")
    """Verdict (the paper: the gap in gradient predictiveness is largest early): by seeds, whether
    the gradient-change ratio is larger on the plateau than after it."""
    e, a = landscape_ratios("plateau"), landscape_ratios("after")
    ok = bool(np.all(e["loss_var"] < 1) and np.all(e["grad_change"] < 1)
              and np.all(a["loss_var"] >= 10) and np.all(a["grad_change"] >= 2))
    return (f"{_n()}: standard / BN on the standard network's plateau: loss variation "
            f"x{minmax(e['loss_var'])}, gradient change x{minmax(e['grad_change'])}; after it "
            f"x{minmax(a['loss_var'], '.0f')} and x{minmax(a['grad_change'], '.1f')}", ok,
            by_seeds(e["grad_change"] > a["grad_change"]))


def _claim_beta():
    """Verdict: reproduced if BN's effective beta is at least 2x lower after the plateau in every
    seed, partly if lower in every seed, else not reproduced."""
    after = landscape_ratios("after")
    r, a, gn = landscape_ratios()["beta"], after["beta"], after["grad_norm"]
    ok = bool(np.all((r >= 1 / SAME_RATIO) & (r <= SAME_RATIO))
              and np.all((a > 1) & (a < SAME_RATIO)) and np.all(gn > 1))
    verdict = REPRODUCED if np.all(a >= 2) else PARTLY if np.all(a > 1) else NOT_REPRODUCED
    return (f"effective beta, standard / BN, {_n()}: x{minmax(r)} over the run, x{minmax(a)} after the "
            f"standard network's plateau (gradient norm there x{minmax(gn)})", ok, verdict)


def _claim_plateau():
    p = _seeds(lambda E: plateau(E["standard"]))
    pb = _seeds(lambda E: plateau(E["bn"]))
    fs = _seeds(lambda E: final_loss(E["standard"]))
    fb = _seeds(lambda E: final_loss(E["bn"]))
    holds = (p > 10 * pb) & (fs > fb)
    return (f"{_n()}: steps until the running-mean loss is below {PLATEAU_FRAC:.0%} of the first "
            f"step's: standard {minmax(p, 'd')}, BN {minmax(pb, 'd')}; last {FINAL_LAST} steps: "
            f"standard {minmax(fs)} vs BN {minmax(fb)}", bool(holds.all()), by_seeds(fs > fb))


# ---- 5.6 l_p normalizations --------------------------------------------------------------------
LP = ("l1", "l2", "linf")


def _claim_lp():
    """Verdict: reproduced if every l_p network's mean loss is within NEAR x BN's ("comparable
    performance") in every seed, else partly (they smooth and beat the standard network)."""
    parts, ok, near = [], True, True
    for n in LP:
        v = _seeds(lambda E, n=n: landscape_summary(E[n])["loss_var"] / landscape_summary(E["bn"])["loss_var"])
        m = _seeds(lambda E, n=n: mean_loss(E[n]))
        mb, ms = _seeds(lambda E: mean_loss(E["bn"])), _seeds(lambda E: mean_loss(E["standard"]))
        parts.append(f"{n}: loss var. / BN's x{minmax(v)}, mean loss {minmax(m)}")
        ok &= bool(np.all((v >= 1 / SAME_RATIO) & (v <= SAME_RATIO)) and np.all(m < ms))
        near &= bool(np.all(m <= NEAR * mb))
    return ("; ".join(parts) + f" (BN {minmax(mb)}, standard {minmax(ms)}; {_n()})", ok,
            (REPRODUCED if near else PARTLY) if ok else NOT_REPRODUCED)


def _claim_lp_shift():
    parts, ok = [], True
    for n in LP:
        a = _seeds(lambda E, n=n: instability(E[n], "act", True) / instability(E["standard"], "act", True))
        x = _seeds(lambda E, n=n: instability(E[n], "next", True) / instability(E["standard"], "next", True))
        parts.append(f"{n} x{minmax(a)} and x{minmax(x)}")
        ok &= bool(np.all(a < 1) and np.all(x < 1))
    return (f"per-step change relative to the spread, l_p / standard, at layer {L3}'s output and "
            f"layer {L4}'s input: " + "; ".join(parts) + f" ({_n()})", ok,
            NOT_REPRODUCED if ok else PARTLY)


CLAIMS = [
    Claim(5, "Thm 4.1: through BN, ||grad_y L||^2 = (gamma/sigma)^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m) "
             "(an equality with eps = 0)",
          "Thm 4.1: the BN gradient norm is at most this bound (printed with 1/sqrt(m) on the last "
          "term, a typo)", _claim_thm41, verdict=IDENTITY),
    Claim(5, "Thm 4.2, first form: the Hessian quadratic form along the gradient equals "
             "(gamma/sigma)^2 v'Hv - gamma/(m sigma^2) <g,yhat> ||v||^2",
          "Thm 4.2: the quadratic form is at most this bound", _claim_thm42, verdict=IDENTITY),
    Claim(5, "Lemma 4.5, the proof's last step: min_k ||W0 - k W*||^2 = ||W0 - W*||^2 - "
             "(||W*||^2 - <W*,W0>)^2 / ||W*||^2, and BN(k W* x) = BN(W* x)",
          "Lemma 4.5: ||W0 - W*_BN||^2 <= ||W0 - W*||^2 - (||W*||^2 - <W*,W0>)^2/||W*||^2",
          _claim_lemma45, verdict=IDENTITY),
    Claim(5, f"MLP, lr {MAIN_LR}: in every seed BN + noise trains nearly as well as BN (mean loss "
             f"<= {NEAR}x) and better than standard",
          "noisy BN nearly matches BN and beats the standard network", _claim_noisy_bn),
    Claim(5, f"MLP: with the noise, layer {L4}'s input changes more per step than the standard "
             f"network's in absolute terms, about as much relative to its spread "
             f"(x{ABOUT[0]}-{ABOUT[1]}); layer {L4}'s BN removes {PART[0]:.0%}-{PART[1]:.0%} of one "
             f"noise draw's change",
          "noisy BN's distributions are less stable than the standard network's",
          _claim_noisy_unstable),
    Claim(5, f"MLP: the same noise leaves the standard network's final loss > 2x higher, though "
             f"below {PLATEAU_FRAC:.0%} of its start (it trains badly, not 'not at all'); its "
             f"activations are smaller, so the noise is relatively larger",
          "the same noise prevents the standard network from training entirely",
          _claim_standard_noise),
    Claim(5, f"MLP: BN and standard have ICS of the same order in every seed (raw and per unit "
             f"step within {SAME_RATIO:g}x, cosine within {SAME_COS})",
          "BN does not reduce ICS; with BN, VGG often shows more", _claim_ics_mlp),
    Claim(5, f"DLN: BN lowers the cosine between G and G' by more than {SAME_COS} and raises ICS "
             f"per unit step, in every seed; the standard network's cosine is below {1 - SAME_COS:g}",
          "in the DLN, BN increases ICS; the standard network has almost none", _claim_ics_dln),
    Claim(5, "MLP, averaged over the run: BN shrinks the loss variation along the gradient by "
             f">= 10^0.5 = {DECADE:.2f}x and the gradient change by >= 2x, in every seed",
          "BN: loss and gradient change far less along the gradient (gradient: close to two "
          "orders of magnitude)", _claim_landscape),
    Claim(5, f"MLP: effective beta-smoothness of the same order with and without BN (within "
             f"{SAME_RATIO:g}x); after the plateau BN's is lower, by less than {SAME_RATIO:g}x, "
             f"while the standard network's gradients are larger",
          "BN improves the effective beta-smoothness", _claim_beta),
    Claim(5, f"MLP: l1, l2, l-inf normalization flatten the loss as much as BN (loss variation "
             f"within {SAME_RATIO:g}x of BN's) and train better than standard, in every seed",
          "all l_p normalizations smooth the landscape like BN and perform comparably to BN",
          _claim_lp),
    Claim(5, "MLP: relative to their spread, the l_p networks' distributions change less per "
             "step than the standard network's, in every seed",
          "l_p normalizations lead to larger distributional shift than the standard network",
          _claim_lp_shift),
    Claim(5, "MLP: the standard network first sits on a plateau > 10x longer than BN's, and ends "
             "with a higher loss, in every seed",
          "BN networks train faster (Figure 1)", _claim_plateau),
    Claim(5, "MLP: on the standard network's plateau its loss and gradient change less along the "
             "gradient than BN's; after it, >= 10x and >= 2x more",
          "BN's advantage in gradient predictiveness is largest early in training",
          _claim_two_phases),
    Claim(5, "DLN: BN ends with a lower loss than standard in every seed",
          "BN trains the DLN faster (Figure 3)", _claim_dln_training),
]

# Short names of the empirical rows (by index in CLAIMS), as the chapter's subtitle and summary
# list them under their paper verdicts; the tests check that those lists match the verdicts
# measured now.
SHORT = {
    3: "noisy BN trains nearly as well as BN",
    4: "noisy BN's distributions are less stable than the standard network's",
    5: "the same noise stops the standard network from training",
    6: "BN does not reduce ICS, often increases it (MLP)",
    7: "in the DLN, BN increases ICS while the standard network has almost none",
    8: "BN makes the loss and the gradient change far less along the gradient",
    9: "BN improves the effective β-smoothness",
    10: r"the $\ell_p$ normalizations smooth the landscape and train like BN",
    11: r"the $\ell_p$ normalizations shift distributions more than the standard network",
    12: "BN trains faster",
    13: "BN's advantage is largest early in training",
    14: "BN trains the deep linear network faster",
}
