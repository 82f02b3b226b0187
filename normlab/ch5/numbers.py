r"""The numbers Chapter 5's prose quotes, computed: settings from the constants, results from the
same summaries the claims use (:mod:`normlab.ch5.claims`), as min-max ranges over the seeds.

Each function returns ``{glue name: (label, text)}``; :func:`show` glues every entry
(:func:`normlab.glue.glue`, for ``{glue:text}`` in the markdown) and prints it, so a reader
without the book build (Colab) sees the same numbers in the cell's output.
"""

from __future__ import annotations

import numpy as np

from normlab.ch5 import answers, dln, evidence as V, experiments as ex, noise, theory
from normlab.ch5 import claims as C
from normlab.claims import minmax
from normlab.glue import glue

L3, L4 = C.L3, C.L4


def show(d: dict) -> None:
    """Print every ``name: (label, value)`` of ``d`` (one block of text); :func:`glue_all` glues
    them (once per notebook: myst-nb refuses a key glued twice)."""
    w = max(len(label) for label, _ in d.values())
    print("\n".join(f"{label:>{w}}: {value}" for label, value in d.values()))


def glue_all(d: dict) -> None:
    """Glue every ``name: (label, value)`` of ``d`` for the prose, printing nothing."""
    for name, (_, value) in d.items():
        glue(name, value)


def every() -> dict:
    """Every number the chapter's prose quotes (the sections' functions merged)."""
    out = {}
    for f in (setup, noisy, ics, landscape, lp, predictions, theory_numbers):
        out.update(f())
    return out


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
        "dln_lr_small": ("DLN: the sweep's smallest learning rate", min(dln.DLN_LRS)),
        "grid_lrs": ("the fair comparison's learning rates", ", ".join(f"{x:g}" for x in ex.GRID_LRS)),
        "fixed_n": ("fixed batch (images)", ex.FIXED_N),
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
    s = V.noisy_summary()
    p = V._seeds(lambda E: ex.plateau(E["standard"]))
    pb = V._seeds(lambda E: ex.plateau(E["bn"]))
    runs = (("std", "standard"), ("bn", "bn"), ("bnn", "bn+noise"), ("stdn", "standard+noise"))
    d = {f"mean_{k}": (f"mean training loss over the run, {n}", minmax(s[f"mean_{n}"]))
         for k, n in runs}
    d.update({f"final_{k}": (f"mean loss over the last {ex.FINAL_LAST} steps, {n}",
                             minmax(s[f"final_{n}"])) for k, n in runs})
    rel = lambda w, n: s[f"fx_{w}_{n}"] / s[f"fx_{w}_standard"]
    d.update({
        "noisy_vs_bn": ("mean loss, BN + noise / BN", minmax(s["mean_bn+noise"] / s["mean_bn"])),
        "noisy_final_vs_bn": ("final loss, BN + noise / BN", minmax(s["final_bn+noise"] / s["final_bn"])),
        "stdn_ratio": ("final loss, standard + noise / standard",
                       minmax(s["final_standard+noise"] / s["final_standard"], ".1f")),
        "first_stdn": ("first-step loss, standard + noise", minmax(s["first_standard+noise"])),
        "spread_ratio": (f"layer-{L3} spread, BN / standard", minmax(s["std_bn"] / s["std_standard"], ".1f")),
        "plateau_std": ("plateau, standard (steps)", minmax(p, "d")),
        "plateau_bn": ("plateau, BN (steps)", minmax(pb, "d")),
        "fx_act": (f"fixed batch: change at layer {L3}, BN + noise / standard", minmax(rel("act", "bn+noise"))),
        "fx_next": (f"fixed batch: change of layer {L4}'s input, BN + noise / standard", minmax(rel("next", "bn+noise"))),
        "fx_next_abs": ("the same in absolute terms", minmax(s["fxabs_next_bn+noise"] / s["fxabs_next_standard"], ".1f")),
        "removed": (f"share of one noise draw's change removed by layer {L4}'s BN (%)", _pct(s["removed"])),
    })
    r = [ex.removal(E["bn+noise"]) for E in ex.mlp_seeds()]
    d["rm_before"] = (f"change of layer {L4}'s input (its std)", minmax([x["before"] for x in r]))
    d["rm_after"] = ("change of its standardized input", minmax([x["after"] for x in r]))
    return d


def ics() -> dict:
    """Section 5.3: ICS of the MLP per layer and of the DLN at the sweep's rates."""
    L = [V.ics_layers(E) for E in ex.mlp_seeds()]
    early = [x["rel"][list(C.EARLY)] for x in L]
    late = [x["rel"][list(C.LATE)] for x in L]
    gp = V._seeds(lambda E: float(np.mean(E["bn"]["gamma_pos"])))
    d = {"mlp_early": ("MLP layers 2-3: ICS per unit step, BN / standard", minmax(early, ".1f")),
         "mlp_late": ("MLP layers 6-7: the same", minmax(late)),
         "mlp_cos_early": ("MLP layers 2-3: BN's cosine lower by", minmax([-x["cos"][list(C.EARLY)] for x in L])),
         "gamma_pos": ("BN MLP: units with dL/dgamma > 0 (%)", _pct(gp))}
    for tag, lr in (("small", min(dln.DLN_LRS)), ("big", max(dln.DLN_LRS))):
        v = V.dln_ics(lr)
        d.update({f"dln_cos_std_{tag}": (f"DLN lr {lr:g}: mean cosine, standard", minmax(v["cos_std"])),
                  f"dln_cos_bn_{tag}": (f"DLN lr {lr:g}: mean cosine, BN", minmax(v["cos_bn"])),
                  f"dln_near_std_{tag}": (f"DLN lr {lr:g}: cosine > 0.9, standard (%)", _pct(v["near1_std"])),
                  f"dln_near_bn_{tag}": (f"DLN lr {lr:g}: cosine > 0.9, BN (%)", _pct(v["near1_bn"])),
                  f"dln_rel_{tag}": (f"DLN lr {lr:g}: per unit step, BN / standard", minmax(v["rel"], ".1f"))})
    ends = lambda D, n: float(D[n]["loss"][-1] / D[n]["loss"][0])
    d["dln_train"] = ("DLN: (final / first loss) BN over standard",
                      minmax(V._dln(lambda D: ends(D, "bn") / ends(D, "standard"))))
    small = V.dln_training_ratios(min(dln.DLN_LRS))
    d["dln_train_small"] = (f"DLN lr {min(dln.DLN_LRS):g}: (final / first loss) BN over standard",
                            minmax(small["rel"]))
    d["dln_rises"] = (f"DLN lr {max(dln.DLN_LRS):g}: steps on which the standard loss rises (%)",
                      _pct(V.dln_training_ratios(max(dln.DLN_LRS))["rises"]))
    d["dln_final"] = ("DLN final loss, BN / standard",
                      minmax(V._dln(lambda D: float(D["bn"]["loss"][-1] / D["standard"]["loss"][-1]))))
    return d


def landscape() -> dict:
    """Section 5.4: the landscape ratios, standard / BN, over the run, on the plateau, after it;
    the fair comparison of speed."""
    d = {}
    for phase in ("all", "plateau", "after"):
        r = V.landscape_ratios(phase)
        f = ".2f" if phase == "plateau" else ".0f" if phase == "after" else ".1f"
        d[f"lv_{phase}"] = (f"loss variation, standard / BN ({phase})", minmax(r["loss_var"], f))
        d[f"gc_{phase}"] = (f"gradient change, standard / BN ({phase})", minmax(r["grad_change"], ".2f" if phase == "plateau" else ".1f"))
        d[f"beta_{phase}"] = (f"effective beta, standard / BN ({phase})", minmax(r["beta"]))
        d[f"gn_{phase}"] = (f"gradient norm, standard / BN ({phase})", minmax(r["grad_norm"]))
    c = V.comparison("mean")
    d["faster"] = ("mean loss at each one's best lr, standard / BN", minmax(c.ratio("standard", "bn")))
    d["best_std"] = ("best lr, standard (mean loss)", f"{c.best_lr['standard']:g}")
    d["best_bn"] = ("best lr, BN (mean loss)", f"{c.best_lr['bn']:g}")
    d["excluded"] = ("runs excluded from the comparison", c.excluded_text())
    return d


def lp() -> dict:
    """Section 'Going further': the l_p networks against BN and the standard network."""
    d, s, c = {}, V.noisy_summary(), V.comparison("final")
    for n in C.LP:
        d[f"{n}_lv"] = (f"{n}: loss variation / BN's", minmax(V._seeds(
            lambda E, n=n: ex.landscape_summary(E[n])["loss_var"] / ex.landscape_summary(E["bn"])["loss_var"])))
        d[f"{n}_mean"] = (f"{n}: mean loss at lr {ex.MAIN_LR:g}", minmax(V._seeds(lambda E, n=n: ex.mean_loss(E[n]))))
        d[f"{n}_best"] = (f"{n}: final loss / BN's, each at its best lr", minmax(c.ratio(n, "bn")))
        d[f"{n}_next"] = (f"{n}: fixed-batch change of layer {L4}'s input / standard's",
                          minmax(s[f"fx_next_{n}"] / s["fx_next_standard"]))
    d["bn_mean"] = ("BN: mean loss", minmax(V._seeds(lambda E: ex.mean_loss(E["bn"]))))
    d["near"] = ("'comparable': a final loss at most this x BN's", C.NEAR)
    d["std_mean"] = ("standard: mean loss", minmax(V._seeds(lambda E: ex.mean_loss(E["standard"]))))
    d["lp_excluded"] = ("runs excluded", c.excluded_text())
    return d


def predictions() -> dict:
    """The predict questions' answers (:mod:`normlab.ch5.answers`), seed 0."""
    d = {}
    for lr in (0.1, 0.3):
        a = answers.noisy_point(lr, 2.0)
        t = f"{lr:g}".replace(".", "")
        for n, k in (("standard", "std"), ("bn+noise", "bnn")):
            for m in ("final", "median", "peak", "mean"):
                d[f"p{t}_{k}_{m}"] = (f"lr {lr:g}, noise 2: {m} loss, {n}", f"{a[n][m]:.2f}")
    w = answers.landscape_widening()
    for n, k in (("standard", "std"), ("bn", "bn")):
        d[f"w_{k}_band"] = (f"band at lr 1 / at lr 0.1, {n}", f"{w[n]['band']:.1f}")
        d[f"w_{k}_dec"] = (f"band height change on the log axis (decades), {n}", f"{w[n]['decades']:+.1f}")
        d[f"w_{k}_beta"] = (f"median effective beta at lr 1, {n}", f"{w[n]['beta_hi']:.1f}")
    return d


def theory_numbers() -> dict:
    """Section 5.5: the random instances, the identities' largest error, the printed forms'."""
    import normlab

    with normlab.float64():
        r, sc = theory.thm41(0), theory.thm41_scale(0)
    e = theory.identity_errors()
    return {"inst_m": ("batch size m", theory.INSTANCE_M), "inst_c": ("units", theory.INSTANCE_C),
            "kept": ("share of ||g||^2 the projections keep", f"{r['kept']:.1%}"),
            "scale_ratio": ("gradient norm^2 ratio for W -> 2W", f"{sc['ratio']:.6f}"),
            "identity_err": ("largest relative error of the identities", f"{e['max']:.0e}"),
            "thm41_printed": ("Theorem 4.1 as printed: largest relative error", f"{e['printed']['thm41']:.0%}"),
            "thm44_printed": ("Theorem 4.4 as printed, read as a bound", C.bound44_text())}
