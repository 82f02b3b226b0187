r"""The numbers Chapter 5's prose quotes, computed: settings from the constants, results from the
same summaries the claims use (:mod:`normlab.ch5.claims`), as min-max ranges over the seeds.

Each function returns ``{glue name: (label, text)}``; :func:`show` glues every entry
(:func:`normlab.glue.glue`, for ``{glue:text}`` in the markdown) and prints it, so a reader
without the book build (Colab) sees the same numbers in the cell's output.
"""

from __future__ import annotations

import numpy as np

from normlab.ch5 import claims as C
from normlab.ch5 import dln, experiments as ex, noise, theory
from normlab.claims import minmax
from normlab.glue import glue

L3, L4 = C.L3, C.L4


def show(d: dict) -> None:
    """Glue every ``name: (label, value)`` of ``d``, then print them all (one block of text)."""
    for name, (_, value) in d.items():
        glue(name, value)
    w = max(len(label) for label, _ in d.values())
    print("\n".join(f"{label:>{w}}: {value}" for label, value in d.values()))


def _pct(v) -> str:
    return minmax(100 * np.asarray(v, float), ".0f")


def setup() -> dict:
    """The experimental settings (section 5.1), from the constants."""
    S, b = ex.SIZES, noise.bounds()
    return {
        "n_hidden": ("hidden layers", len(S) - 2), "width": ("units per hidden layer", S[1]),
        "d_in": ("inputs", S[0]), "d_out": ("classes", S[-1]),
        "n_train": ("training images", int(len(ex._setup()[1]))),
        "batch": ("batch size", ex.BATCH), "main_lr": ("learning rate", ex.MAIN_LR),
        "steps": ("SGD steps", ex.STEPS), "every": ("probed every (steps)", ex.EVERY),
        "n_probes": ("probed steps per run", ex.STEPS // ex.EVERY),
        "n_seeds": ("seeds", len(ex.SEEDS)), "n_runs": ("MLP runs trained", len(ex.specs())),
        "n_eta": ("probe step sizes", len(ex.PROBE_MULTIPLES)),
        "probe_lo": ("smallest probe step / lr", float(min(ex.PROBE_MULTIPLES))),
        "probe_hi": ("largest probe step / lr", float(max(ex.PROBE_MULTIPLES))),
        "dln_depth": ("DLN layers", dln.DLN_DEPTH), "dln_width": ("DLN width", dln.DLN_WIDTH),
        "dln_n": ("DLN examples", dln.DLN_N), "dln_lr": ("DLN learning rate", dln.DLN_LR),
        "dln_steps": ("DLN steps", dln.DLN_STEPS), "dln_seeds": ("DLN seeds", len(dln.DLN_SEEDS)),
        "dln_every": ("DLN: ICS every (steps)", dln.DLN_EVERY),
        "n_mu": ("n_mu", noise.NOISE["n_mu"]), "n_sigma": ("n_sigma", noise.NOISE["n_sigma"]),
        "r_mu": ("r_mu", noise.NOISE["r_mu"]), "r_sigma": ("r_sigma", noise.NOISE["r_sigma"]),
        "noise_shift": ("largest shift |m|", round(b["shift"], 6)),
        "noise_mu": ("largest per-unit offset |mu_j|", round(b["mu"], 6)),
        "noise_sigma_hi": ("largest mean factor sigma_j", round(b["sigma_hi"], 6)),
        "noise_sd": ("std of the factor s", round(b["scale_sd"], 6)),
        "final_last": ("final loss: mean over the last (steps)", ex.FINAL_LAST),
        "plateau_pct": ("plateau ends below (% of the first loss)", int(round(100 * ex.PLATEAU_FRAC))),
        "smooth": ("running mean over (steps)", ex.SMOOTH),
        "act_layer": ("recorded layer", ex.ACT_LAYER + 1), "next_layer": ("next layer", ex.ACT_LAYER + 2),
        "percentiles": ("percentiles", ", ".join(f"{p}th" for p in ex.PERCENTILES)),
    }


def noisy() -> dict:
    """Section 5.2: the four runs and the noise's effect on the distributions (ranges over seeds)."""
    s = C.noisy_summary()
    p = C._seeds(lambda E: ex.plateau(E["standard"]))
    pb = C._seeds(lambda E: ex.plateau(E["bn"]))
    runs = (("std", "standard"), ("bn", "bn"), ("bnn", "bn+noise"), ("stdn", "standard+noise"))
    d = {f"mean_{k}": (f"mean training loss over the run, {n}", minmax(s[f"mean_{n}"]))
         for k, n in runs}
    d.update({f"final_{k}": (f"mean loss over the last {ex.FINAL_LAST} steps, {n}",
                             minmax(s[f"final_{n}"])) for k, n in runs})
    d.update({
        "noisy_vs_bn": ("mean loss, BN + noise / BN", minmax(s["mean_bn+noise"] / s["mean_bn"])),
        "first_stdn": ("first-step loss, standard + noise", minmax(s["first_standard+noise"])),
        "spread_ratio": (f"layer-{L3} spread, BN / standard", minmax(s["std_bn"] / s["std_standard"], ".1f")),
        "plateau_std": ("plateau, standard (steps)", minmax(p, "d")),
        "plateau_bn": ("plateau, BN (steps)", minmax(pb, "d")),
        "act_abs": (f"change per step at layer {L3}, BN + noise / standard", minmax(s["act_abs"], ".1f")),
        "next_abs": (f"change per step of layer {L4}'s input, BN + noise / standard", minmax(s["next_abs"], ".1f")),
        "next_rel": ("the same relative to its spread", minmax(s["next_rel"])),
        "removed": (f"share of one noise draw's change removed by layer {L4}'s BN (%)", _pct(s["removed"])),
    })
    r = [ex.removal(E["bn+noise"]) for E in ex.mlp_seeds()]
    d["rm_before"] = (f"change of layer {L4}'s input (its std)", minmax([x["before"] for x in r]))
    d["rm_after"] = ("change of its standardized input", minmax([x["after"] for x in r]))
    return d


def ics() -> dict:
    """Section 5.3: ICS of the MLP and the DLN (ranges over seeds)."""
    d = {}
    for name, get in (("mlp", ex.mlp_seeds),
                      ("dln", lambda: [dln.dln_experiment(seed=s) for s in dln.DLN_SEEDS])):
        l2, rel, sc, bc = C._ics(get)
        d.update({f"{name}_l2": (f"{name}: l2, BN / standard", minmax(l2)),
                  f"{name}_rel": (f"{name}: per unit step, BN / standard", minmax(rel)),
                  f"{name}_cos_std": (f"{name}: cosine, standard", minmax(sc)),
                  f"{name}_cos_bn": (f"{name}: cosine, BN", minmax(bc))})
        if name == "mlp":
            more = (rel > 1) & (bc < sc)
            d["mlp_more"] = ("seeds in which BN has more ICS (both measures)", int(np.sum(more)))
    r = np.array([D["bn"]["loss"][-1] / D["standard"]["loss"][-1]
                  for D in (dln.dln_experiment(seed=s) for s in dln.DLN_SEEDS)])
    d["dln_final"] = ("DLN final loss, BN / standard", minmax(r))
    return d


def landscape() -> dict:
    """Section 5.4: the landscape ratios, standard / BN, over the run, on the plateau, after it."""
    d = {}
    for phase in ("all", "plateau", "after"):
        r = C.landscape_ratios(phase)
        f = ".0f" if phase == "after" else ".2f" if phase == "plateau" else ".1f"
        d[f"lv_{phase}"] = (f"loss variation, standard / BN ({phase})", minmax(r["loss_var"], f))
        d[f"gc_{phase}"] = (f"gradient change, standard / BN ({phase})", minmax(r["grad_change"], ".2f" if phase == "plateau" else ".1f"))
        d[f"beta_{phase}"] = (f"effective beta, standard / BN ({phase})", minmax(r["beta"]))
        d[f"gn_{phase}"] = (f"gradient norm, standard / BN ({phase})", minmax(r["grad_norm"]))
    return d


def lp() -> dict:
    """Section 5.6: the l_p networks against BN and the standard network."""
    d = {}
    for n in C.LP:
        d[f"{n}_lv"] = (f"{n}: loss variation / BN's", minmax(C._seeds(
            lambda E, n=n: ex.landscape_summary(E[n])["loss_var"] / ex.landscape_summary(E["bn"])["loss_var"])))
        d[f"{n}_mean"] = (f"{n}: mean loss", minmax(C._seeds(lambda E, n=n: ex.mean_loss(E[n]))))
        for where, lab in (("act", f"layer {L3}"), ("next", f"layer {L4}'s input")):
            d[f"{n}_{where}"] = (f"{n}: relative change per step at {lab} / standard's", minmax(C._seeds(
                lambda E, n=n, w=where: ex.instability(E[n], w, True) / ex.instability(E["standard"], w, True))))
    d["bn_mean"] = ("BN: mean loss", minmax(C._seeds(lambda E: ex.mean_loss(E["bn"]))))
    d["near"] = ("'comparable': a mean loss at most this x BN's", C.NEAR)
    d["std_mean"] = ("standard: mean loss", minmax(C._seeds(lambda E: ex.mean_loss(E["standard"]))))
    return d


def theory_numbers() -> dict:
    """Section 5.5: the random instances and the identities' largest error."""
    import normlab

    with normlab.float64():
        r, sc = theory.thm41(0), theory.thm41_scale(0)
    return {"inst_m": ("batch size m", theory.INSTANCE_M), "inst_c": ("units", theory.INSTANCE_C),
            "kept": ("share of ||g||^2 the projections keep", f"{r['kept']:.1%}"),
            "scale_ratio": ("gradient norm^2 ratio for W -> 2W", f"{sc['ratio']:.6f}"),
            "identity_err": ("largest relative error of the identities",
                             f"{theory.identity_errors()['max']:.0e}")}
