r"""Section 7.5's measurements in one place: every ratio of a measured equilibrium quantity to its
prediction (the angle against its formula, the norm against Wan et al.'s w*), as the min-max over
seeds, settings, layers or units, for Figure 7.3. It only reads the chapter's memoised runs."""

from __future__ import annotations

import numpy as np

from normlab.ch7 import equilibrium


def _row(group: str, label: str, x, tol: float | None) -> dict:
    x = np.asarray(x, dtype=float)
    return {"group": group, "label": label, "lo": float(x.min()), "hi": float(x.max()), "tol": tol}


def rows() -> list[dict]:
    """One dict per row of Figure 7.3: ``group`` ("angle" or "norm"), ``label``, ``lo``, ``hi``
    (min and max of measured / predicted) and ``tol`` (the claim's tolerance, or None for a
    control or a setting where the prediction is not expected to hold)."""
    eq, pts = equilibrium.equilibrium_table(), equilibrium.equilibrated()
    rms = [eq["rms"][i, j] / eq["pred"][i, j] for i, j in pts]
    mean = [eq["mean"][i, j] / eq["pred"][i, j] for i, j in pts]
    g0 = equilibrium.no_momentum()
    aw, aw_m = equilibrium.adamw_runs(), equilibrium.adamw_runs(variant="masked")
    aw_l2 = equilibrium.adamw_runs(variant="adam_l2")
    ws, ws_cross = equilibrium.wstar_table(), equilibrium.wstar_table(formula="cross")
    lrwd = np.array([equilibrium.LRS[i] * equilibrium.WDS[j] for i, j in pts])
    inside = lrwd < (1 - np.sqrt(equilibrium.MOM)) ** 2
    ws_q = np.array([equilibrium.wstar_table(window=w) for w in ("q3", "q4")])
    ws_un = np.array([equilibrium.wstar_table(pts=[p])[0].mean(-1) for p in equilibrium.unsettled()])
    return [
        _row("angle", "momentum SGD, RMS angle", rms, 0.05),
        _row("angle", "momentum SGD, mean angle", mean, 0.05),
        _row("angle", "no momentum, RMS angle", g0["rms"], 0.05),
        _row("angle", "no momentum, mean angle", g0["mean"], None),
        _row("angle", "AdamW, layer 2", aw["layer"][..., 1], 0.05),
        _row("angle", "AdamW, layer 2, blank pixels zeroed", aw_m["layer"][..., 1], 0.05),
        _row("angle", "AdamW, layer 1", aw["layer"][..., 0], None),
        _row("angle", "AdamW, layer 1, blank pixels zeroed", aw_m["layer"][..., 0], None),
        _row("angle", "Adam + L2 (control)", aw_l2["layer"], None),
        _row("norm", "Theorem 2, per unit", ws[inside], 0.05),
        _row("norm", "Theorem 2, per layer", ws[inside].mean(-1), 0.02),
        _row("norm", "Theorem 2, per layer, each quarter", ws_q[:, inside].mean(-1), 0.02),
        _row("norm", "Theorem 1 (no momentum), per unit", g0["wstar"], 0.05),
        _row("norm", "Theorem 1 (no momentum), per layer", g0["wstar"].mean(-1), 0.02),
        _row("norm", "outside Theorem 2's condition, per layer", ws[~inside].mean(-1), None),
        _row("norm", "cross-term dropped (control), per layer", ws_cross[inside].mean(-1), None),
        _row("norm", "not settled (control), per layer", ws_un, None),
    ]
