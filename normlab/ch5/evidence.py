r"""Chapter 5's evidence across seeds: the summaries of :mod:`normlab.ch5.summaries` applied to
every seed's runs (:func:`normlab.ch5.experiments.mlp_seeds`, the deep linear network's seeds) and
the fair comparison on the learning-rate grid (:func:`normlab.compare.compare`). The claims
(:mod:`normlab.ch5.claims`), the prose's numbers (:mod:`normlab.ch5.numbers`) and the answers
(:mod:`normlab.ch5.answers`) all read them from here."""

from __future__ import annotations

import functools

import numpy as np

from normlab import cache
from normlab import compare as cmp
from normlab import train
from normlab.ch5.dln import DLN_SEEDS, dln_experiment
from normlab.ch5.experiments import GRID_LRS, KINDS, SEEDS, STEPS, grid_losses, mlp_seeds
from normlab.ch5.summaries import (FINAL_LAST, final_loss, instability, landscape_summary,
                                   mean_loss, plateau, removal)


def _seeds(fn):
    """``fn(E)`` for each seed's MLP experiment, as an array."""
    return np.array([fn(E) for E in mlp_seeds()])


def _dln(fn):
    return np.array([fn(dln_experiment(seed=s)) for s in DLN_SEEDS])


def _n():
    return f"over {len(mlp_seeds())} seeds"


def noisy_summary() -> dict:
    """Per seed: mean and final losses of the four runs of section 5.2, their first loss, the
    distribution change on the fixed batch (between checkpoints, relative to the spread) of every
    run at layer ``ACT_LAYER + 1``'s output and the next layer's input, the noise removal of the
    next BN layer and the spread of layer ``ACT_LAYER + 1``'s output."""
    names = ("standard", "bn", "bn+noise", "standard+noise")
    out = {f"mean_{n}": _seeds(lambda E, n=n: mean_loss(E[n])) for n in names}
    out.update({f"final_{n}": _seeds(lambda E, n=n: final_loss(E[n])) for n in names})
    out.update({f"first_{n}": _seeds(lambda E, n=n: float(E[n]["loss"][0])) for n in names})
    for n in names + ("l1", "l2", "linf"):
        for w in ("act", "next"):
            out[f"fx_{w}_{n}"] = _seeds(lambda E, n=n, w=w: instability(E[n], f"fx_{w}", True))
            out[f"fxabs_{w}_{n}"] = _seeds(lambda E, n=n, w=w: instability(E[n], f"fx_{w}"))
    out["removed"] = _seeds(lambda E: 1 - removal(E["bn+noise"])["kept"])
    out["std_standard"] = _seeds(lambda E: float(np.mean(E["standard"]["act_std"])))
    out["std_bn"] = _seeds(lambda E: float(np.mean(E["bn"]["act_std"])))
    return out


def ics_layers(R, a: str = "bn", b: str = "standard") -> dict:
    """Per weight layer, ``a`` / ``b``: the ICS per unit step (mean over checkpoints) and the
    difference of the mean cosines. Layer 1 has no ICS by definition (nothing below it moves)."""
    with np.errstate(invalid="ignore", divide="ignore"):  # layer 1: 0 / 0
        rel = np.nanmean(R[a]["ics_rel"], 0) / np.nanmean(R[b]["ics_rel"], 0)
    cos = np.nanmean(R[a]["ics_cos"], 0) - np.nanmean(R[b]["ics_cos"], 0)
    return {"rel": rel, "cos": cos}


def dln_ics(lr: float) -> dict:
    """Per DLN seed at rate ``lr`` of the sweep: mean cosine standard / BN over layers and
    checkpoints, the share of (layer, checkpoint) pairs with cosine above 0.9, and BN / standard
    ICS per unit step."""
    out = {k: [] for k in ("cos_std", "cos_bn", "near1_std", "near1_bn", "rel")}
    for s in DLN_SEEDS:
        R = dln_experiment(seed=s)["sweep"][lr]
        cs, cb = R["standard"]["ics_cos"], R["bn"]["ics_cos"]
        out["cos_std"].append(np.nanmean(cs)), out["cos_bn"].append(np.nanmean(cb))
        out["near1_std"].append(np.mean(cs > 0.9)), out["near1_bn"].append(np.mean(cb > 0.9))
        out["rel"].append(np.nanmean(R["bn"]["ics_rel"]) / np.nanmean(R["standard"]["ics_rel"]))
    return {k: np.array(v) for k, v in out.items()}


def dln_training_ratios(lr: float, a: str = "bn", b: str = "standard") -> dict:
    """Per DLN seed at rate ``lr`` of the sweep: final / initial loss of ``a`` over ``b``'s
    (``rel``), the final losses' ratio (``raw``) and the share of steps on which ``b``'s
    full-batch loss rises (``rises``)."""
    ends = lambda R, n: float(R[n]["loss"][-1] / R[n]["loss"][0])
    R = [dln_experiment(seed=s)["sweep"][lr] for s in DLN_SEEDS]
    return {"rel": np.array([ends(x, a) / ends(x, b) for x in R]),
            "raw": np.array([float(x[a]["loss"][-1] / x[b]["loss"][-1]) for x in R]),
            "rises": np.array([float(np.mean(np.diff(x[b]["loss"]) > 0)) for x in R])}


# ---- 5.4 the landscape -------------------------------------------------------------------------
def landscape_ratios(phase: str = "all", a: str = "standard", b: str = "bn") -> dict:
    """``a`` / ``b`` ratios of the landscape summaries per seed, over ``phase``: ``"all"`` probed
    steps, ``"plateau"`` those before the standard network's plateau ends, ``"after"`` the rest."""
    KEYS = ("loss_var", "grad_change", "beta", "grad_norm")

    def one(E):
        t = E["probe_steps"]
        P = plateau(E["standard"])
        steps = {"all": slice(None), "plateau": t < P, "after": t >= P}[phase]
        s, r = landscape_summary(E[a], steps), landscape_summary(E[b], steps)
        return [s[k] / r[k] for k in KEYS]

    v = _seeds(one)
    return {k: v[:, i] for i, k in enumerate(KEYS)}


# ---- fair comparisons on the learning-rate grid ---------------------------------------------------
@cache.cached
@functools.lru_cache(maxsize=None)
def comparison(criterion: str = "final") -> cmp.Comparison:
    """Every kind of :data:`KINDS` at its own best rate of :data:`GRID_LRS`, over :data:`SEEDS`:
    ``"final"`` the training loss of the last FINAL_LAST steps ("performance"), ``"mean"`` over
    the whole run (the area under the curve: "speed"). Runs that diverged or stalled
    (:func:`normlab.train.status`) are excluded."""
    G = grid_losses()
    status = np.vectorize(lambda *i: None, otypes=[object])(*np.indices(G.shape[:3]))
    for i in np.ndindex(G.shape[:3]):
        status[i] = train.status(G[i])
    metric = G[..., -FINAL_LAST:].mean(-1) if criterion == "final" else G.mean(-1)
    text = (f"training loss, last {FINAL_LAST} of {STEPS} steps" if criterion == "final"
            else f"training loss averaged over all {STEPS} steps")
    return cmp.compare(metric, methods=list(KINDS), lrs=GRID_LRS, seeds=list(SEEDS),
                       criterion=text, status=status)
