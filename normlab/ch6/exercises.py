r"""Chapter 6's exercise checks (built on :func:`normlab.checks.run_check`): random cases in
float64, a reference, and the usual mistakes recognized by name. No check ever raises."""

from __future__ import annotations

from typing import Callable

import numpy as np

from normlab import groupnorm, weightstd
from normlab.checks import Exercise, Result, jit_once, matches as _matches, run_check


# ------------------------------------------------------------------------------------------------
# WS's backward by hand
# ------------------------------------------------------------------------------------------------
def _ws_cases(seed: int = 60):
    rng = np.random.default_rng(seed)
    cases = []
    for shape in [(9, 4), (5, 1), (3, 3, 2, 4), (16, 6)]:
        W = rng.normal(rng.normal(size=shape[-1]), np.exp(rng.normal(-1.0, 0.5, shape[-1])), size=shape)
        cases.append((rng.normal(size=shape), W))
    return cases


def check_ws_backward(student_backward: Callable, seed: int = 0) -> Result:
    r"""Check ``student_backward(grad_w_hat, W) -> grad_W`` (output units on the last axis, fan-in
    on every axis before it; :math:`\epsilon = 0`) against :func:`normlab.weightstd.backward`,
    float64, tolerance 1e-8."""
    def reference(g, W):
        return np.asarray(jit_once("ws_backward", weightstd.backward)(g, W))

    def diagnose(args, got):
        g, W = args
        axes = tuple(range(W.ndim - 1))
        mu, sd = W.mean(axes, keepdims=True), W.std(axes, keepdims=True)
        Wh = (W - mu) / sd
        m = lambda a: a.mean(axes, keepdims=True)
        if _matches(got, g / sd):
            return ("you divided by sigma but removed nothing: shifting a unit's fan-in or scaling "
                    "it does not change W_hat, so the gradient has no component along 1 or W_hat. "
                    "Hint: subtract the mean of g and the W_hat-component.")
        if _matches(got, (g - m(g)) / sd):
            return ("you removed the mean of g but not its component along W_hat (the scale "
                    "direction). Hint: subtract W_hat * mean(g * W_hat) too.")
        if _matches(got, (g - Wh * m(g * Wh)) / sd):
            return "you removed the W_hat component but not the mean of g (the shift direction)."
        if _matches(got, g - m(g) - Wh * m(g * Wh)):
            return "the projection is right but the 1/sigma factor is missing."
        Wf = W.reshape(-1, W.shape[-1])
        gf = g.reshape(Wf.shape)
        muw, sdw = Wf.mean(), Wf.std()
        Whw = (Wf - muw) / sdw
        if _matches(got, ((gf - gf.mean() - Whw * (gf * Whw).mean()) / sdw).reshape(W.shape)):
            return ("you used the mean and std of the whole array: each output unit (last axis) "
                    "has its own, over its fan-in (every other axis).")
        s1 = W.std(axes, keepdims=True, ddof=1)
        Wh1 = (W - mu) / s1
        if _matches(got, (g - m(g) - Wh1 * m(g * Wh1)) / s1, 1e-6):
            return "you used the unbiased (I - 1) standard deviation: the chapter's WS uses the biased 1/I one."
        return None

    return run_check("WS backward", student_backward, _ws_cases(60 + 7919 * seed), reference,
                     ["grad_W"],
                     ["grad_W = (g - mean(g) - W_hat * mean(g * W_hat)) / sigma, means over each "
                      "unit's fan-in."], tol=1e-8, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# GroupNorm's forward with the right axes
# ------------------------------------------------------------------------------------------------
def _gn_cases(seed: int = 61):
    rng = np.random.default_rng(seed)
    cases = []
    for shape, groups in [((2, 4, 4, 6), 3), ((1, 5, 5, 8), 2), ((3, 7, 4), 4), ((2, 3, 3, 4), 1),
                          ((2, 3, 3, 4), 4)]:
        x = rng.normal(rng.normal(size=shape[-1]), 2.0, size=shape)
        cases.append((x, groups, rng.uniform(0.5, 2, shape[-1]), rng.normal(size=shape[-1])))
    return cases


def check_group_norm(student_gn: Callable, seed: int = 0) -> Result:
    r"""Check ``student_gn(x, groups, gain, bias) -> y`` (channels last, eps = 1e-5) against
    :func:`normlab.groupnorm.forward`, float64, tolerance 1e-8."""
    def reference(x, groups, gain, bias):
        return np.asarray(groupnorm.forward(x, groups, gain, bias))

    def diagnose(args, got):
        x, G, gain, bias = args
        n, c = x.shape[0], x.shape[-1]
        sp = tuple(range(1, x.ndim - 1))
        # per channel (instance norm) instead of per group
        inst = (x - x.mean(sp, keepdims=True)) / np.sqrt(x.var(sp, keepdims=True) + 1e-5) * gain + bias
        if G != c and _matches(got, inst):
            return "you normalized each channel on its own (InstanceNorm): a group pools C/G channels."
        bn = (x - x.mean((0,) + sp, keepdims=True)) / np.sqrt(x.var((0,) + sp, keepdims=True) + 1e-5) * gain + bias
        if _matches(got, bn):
            return "you pooled over the batch axis (BatchNorm): GroupNorm's statistics are per example."
        xg = x.reshape(x.shape[:-1] + (c // G, G))  # the wrong split: channels c, c+G, ... together
        ax = sp + (x.ndim,)
        strided = ((xg - xg.mean(ax, keepdims=True)) / np.sqrt(xg.var(ax, keepdims=True) + 1e-5)).reshape(x.shape) * gain + bias
        if G not in (1, c) and _matches(got, strided):
            return ("your groups interleave channels (reshape to (..., C/G, G)): a group is C/G "
                    "CONSECUTIVE channels, reshape to (..., G, C/G).")
        return None

    return run_check("GroupNorm forward", student_gn, _gn_cases(61 + 7919 * seed), reference, ["y"],
                     ["reshape x to (N, ..., G, C/G), mean and biased variance over the spatial "
                      "axes and the last axis, normalize with eps inside the root, reshape back, "
                      "then gain * x_hat + bias per channel."], tol=1e-8, diagnose=diagnose)


# ------------------------------------------------------------------------------------------------
# The effective learning rate of a He-initialized WS layer
# ------------------------------------------------------------------------------------------------
def _elr_cases(seed: int = 62):
    rng = np.random.default_rng(seed)
    return [(float(rng.choice([0.01, 0.1, 0.3])), int(k), int(c)) for k, c in
            [(3, 1), (3, 4), (1, 64), (5, 3)]]


def _elr_reference(lr, kernel, c_in):
    return lr * kernel * kernel * c_in / 2.0


def check_effective_lr(student_elr: Callable, seed: int = 0) -> Result:
    r"""Check ``student_elr(lr, kernel, c_in) -> lr_eff``: the effective learning rate
    :math:`\eta/\sigma_W^2` of a WS convolution at He's initialization (weight variance
    :math:`2/I`, :math:`I = k^2 C_{in}`): :math:`\eta I/2`."""
    def diagnose(args, got):
        lr, k, c = args
        I = k * k * c
        for wrong, why in ((lr * (I / 2) ** 0.5, "you divided by sigma, not sigma^2: a step moves W_hat by (lr/sigma^2) P g."),
                           (lr * 2 / I, "you inverted it: sigma^2 = 2/I, so lr/sigma^2 = lr I/2."),
                           (lr * I, "He's variance is 2/I, not 1/I."),
                           (lr * k * c / 2, "the fan-in of a k x k convolution is k*k*C_in.")):
            if _matches(got, wrong):
                return why
        return None

    return run_check("effective learning rate", student_elr, _elr_cases(62 + 7919 * seed),
                     _elr_reference, ["lr_eff"], ["lr_eff = lr / sigma^2 = lr * k * k * C_in / 2."],
                     tol=1e-9, diagnose=diagnose)


# The graded exercises of the chapter, in the notebook's order (the grader reads this list).
EXERCISES = [
    Exercise("ex-ws-backward", "ws_backward", check_ws_backward, derivation=True,
             references=("normlab.weightstd.backward",)),
    Exercise("ex-group-norm", "group_norm", check_group_norm,
             references=("normlab.groupnorm.forward",)),
    Exercise("ex-effective-lr", "effective_lr", check_effective_lr),
]
