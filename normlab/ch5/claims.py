r"""Chapter 5's claims, re-measured (``python -m normlab claims --chapter 5``)."""

from __future__ import annotations

import numpy as np

import normlab
from normlab.ch5.dln import dln_experiment
from normlab.ch5.experiments import (final_loss, instability, landscape_summary, mean_loss,
                                     mlp_experiment)
from normlab.ch5.experiments import STEPS
from normlab.ch5.theory import lemma45, thm41, thm42
from normlab.claims import IDENTITY, NOT_REPRODUCED, PARTLY, REPRODUCED, Claim

def _identities():
    with normlab.float64():
        return ([thm41(s)["rel"] for s in range(3)], [thm42(s)["rel"] for s in range(3)],
                [lemma45(s)["rel"] for s in range(3)])


def _claim_thm41():
    r = max(_identities()[0])
    return f"max rel. error {r:.1e} on 3 random instances (float64, eps = 0, biased variance)", r < 1e-10


def _claim_thm42():
    r = max(_identities()[1])
    return f"max rel. error {r:.1e} on 3 random instances (float64)", r < 1e-10


def _claim_lemma45():
    r = max(_identities()[2])
    with normlab.float64():
        inv = lemma45(0)["invariance"]
    return (f"identity max rel. error {r:.1e}; BN output at k*W* vs W*: rel. change {inv:.0e}",
            r < 1e-10 and inv < 1e-10)


def _claim_noisy_bn():
    E = mlp_experiment()
    s, b, bn_n = (mean_loss(E[n]) for n in ("standard", "bn", "bn+noise"))
    return (f"mean training loss over {STEPS} steps: BN + noise {bn_n:.3f}, BN {b:.3f}, "
            f"standard {s:.3f}", bn_n < s and bn_n < 1.5 * b)


def _claim_noisy_unstable():
    E = mlp_experiment()
    i = {n: instability(E[n]) for n in ("standard", "bn", "bn+noise")}
    return (f"layer-3 distribution change per step: BN + noise {i['bn+noise']:.3f}, standard "
            f"{i['standard']:.3f}, BN {i['bn']:.3f}", i["bn+noise"] > 3 * i["standard"])


def _claim_standard_noise():
    E = mlp_experiment()
    s, sn = final_loss(E["standard"]), final_loss(E["standard+noise"])
    return (f"final training loss (last 50 steps): standard + noise {sn:.3f} vs standard {s:.3f}",
            sn > 2 * s)


def _ics_means(R):
    return {n: (float(np.nanmean(R[n]["ics_l2"])), float(np.nanmean(R[n]["ics_cos"])))
            for n in ("standard", "bn")}


def _claim_ics_mlp():
    m = _ics_means(mlp_experiment())
    (sl, sc), (bl, bc) = m["standard"], m["bn"]
    return (f"MLP, mean over layers and steps: l2 standard {sl:.3f} vs BN {bl:.3f}; cosine "
            f"standard {sc:.2f} vs BN {bc:.2f}", bl > 0.5 * sl and abs(bc - sc) < 0.2)


def _claim_ics_dln():
    m = _ics_means(dln_experiment())
    (sl, sc), (bl, bc) = m["standard"], m["bn"]
    return (f"DLN, mean over layers and steps: cosine standard {sc:.2f} vs BN {bc:.2f}; l2 "
            f"standard {sl:.1f} vs BN {bl:.1f}", bc < sc)


def _claim_landscape():
    E = mlp_experiment()
    s, b = landscape_summary(E["standard"]), landscape_summary(E["bn"])
    r1, r2 = s["loss_var"] / b["loss_var"], s["grad_change"] / b["grad_change"]
    return (f"standard / BN: loss variation x{r1:.1f}, gradient change x{r2:.1f}", r1 >= 10 and r2 > 1)


def _claim_beta():
    E = mlp_experiment()
    s, b = landscape_summary(E["standard"]), landscape_summary(E["bn"])
    r = s["beta"] / b["beta"]
    return (f"effective beta: standard {s['beta']:.1f}, BN {b['beta']:.1f} (ratio {r:.2f})",
            0.5 < r < 2.0)


def _claim_lp():
    E = mlp_experiment()
    s = landscape_summary(E["standard"])
    parts, ok = [], True
    for n in ("l1", "l2", "linf"):
        m = landscape_summary(E[n])
        parts.append(f"{n}: loss var. x{s['loss_var'] / m['loss_var']:.0f} smaller, mean loss "
                     f"{mean_loss(E[n]):.2f}")
        ok &= s["loss_var"] / m["loss_var"] >= 5 and mean_loss(E[n]) < mean_loss(E["standard"])
    return "; ".join(parts) + f" (standard mean loss {mean_loss(E['standard']):.2f})", ok


CLAIMS = [
    Claim(5, "Thm 4.1: through BN, ||grad_y L||^2 = (gamma/sigma)^2 (||g||^2 - <1,g>^2/m - <g,yhat>^2/m) "
             "(an equality with eps = 0)",
          "Thm 4.1: the BN gradient norm is at most this bound", _claim_thm41, verdict=IDENTITY),
    Claim(5, "Thm 4.2: the Hessian quadratic form along the gradient equals (gamma/sigma)^2 v'Hv "
             "- gamma/(m sigma^2) <g,yhat> ||v||^2",
          "Thm 4.2: the quadratic form is at most this bound", _claim_thm42, verdict=IDENTITY),
    Claim(5, "Lemma 4.5: the BN optimum on the ray k W* is closer to W0 by "
             "(||W*||^2 - <W*,W0>)^2 / ||W*||^2",
          "Lemma 4.5: ||W0 - W*_BN||^2 <= ||W0 - W*||^2 - (||W*||^2 - <W*,W0>)^2/||W*||^2",
          _claim_lemma45, verdict=IDENTITY),
    Claim(5, "MLP, lr 0.1: BN + noise trains nearly as well as BN and better than standard",
          "noisy BN nearly matches BN and beats the standard network", _claim_noisy_bn, verdict=REPRODUCED),
    Claim(5, "MLP: with noise, BN's layer distributions change far more per step than the "
             "standard network's", "noisy BN's distributions are less stable than the standard "
             "network's", _claim_noisy_unstable, verdict=IDENTITY),
    Claim(5, "MLP: the same noise in the standard network leaves its loss > 2x higher "
             "(it trains badly, not 'not at all')",
          "the same noise prevents the standard network from training entirely",
          _claim_standard_noise, verdict=NOT_REPRODUCED),
    Claim(5, "MLP: BN leaves ICS of the same order as standard (l2 within 2x, cosine within "
             "0.2); here it even lowers it slightly",
          "BN does not reduce ICS (VGG)", _claim_ics_mlp, verdict=NOT_REPRODUCED),
    Claim(5, "DLN: BN lowers the cosine between G and G' (more ICS in direction)",
          "in the DLN, BN increases ICS; the standard network has almost none", _claim_ics_dln, verdict=REPRODUCED),
    Claim(5, "MLP: BN shrinks the loss variation along the gradient >= 10x; gradient change "
             "smaller", "BN: loss and gradient change far less along the gradient (up to ~2 "
             "orders of magnitude)", _claim_landscape, verdict=REPRODUCED),
    Claim(5, "MLP: effective beta-smoothness is about the same with and without BN (not "
             "reproduced)", "BN improves the effective beta-smoothness", _claim_beta, verdict=NOT_REPRODUCED),
    Claim(5, "MLP: l1, l2, l-inf normalization also flatten the loss (>= 5x) and train better "
             "than standard", "all l_p normalizations smooth the landscape and train like BN",
          _claim_lp, verdict=PARTLY),
]
