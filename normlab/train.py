r"""The book's one training loop: ``jit`` + ``lax.scan`` over steps, ``vmap`` over grids.

:func:`run` is the loop. Each step :math:`t` it takes that step's input :math:`x_t` (a batch's
row indices, a PRNG key, noise draws: any pytree), computes the loss and its gradient, and updates
:math:`\theta \leftarrow \theta - \eta\,\nabla_\theta\ell` (plain SGD; or :func:`momentum`,
:func:`adam`). What it records each step is a function you pass (``record``); every ``every``
steps it can also take a ``checkpoint`` (before the block) and an ``evaluate`` (after it).
Learning rate and every option of a layer may be traced numbers, so :func:`grid` trains a whole
hyperparameter grid in a single compiled call.

:func:`fit_classifier` is the loop applied to the MLP of :mod:`normlab.nets` on a classification
data set: mini-batches padded to ``max_batch`` and masked (batch size becomes traceable), running
statistics for the normalized layers, test-set evaluation in inference mode.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from normlab import nets
from normlab.measure import diverged_at  # noqa: F401  (re-exported: train.diverged_at)


def cross_entropy(logits, y, mask=None):
    r"""Mean softmax cross-entropy :math:`-\frac1m\sum_i \log p_{y_i}(x_i)` over rows where mask=1."""
    logp = jax.nn.log_softmax(logits)
    nll = -jnp.take_along_axis(logp, y[:, None], axis=1)[:, 0]
    if mask is None:
        return jnp.mean(nll)
    return jnp.sum(mask * nll) / jnp.sum(mask)


def accuracy(logits, y):
    """Fraction of rows whose arg-max logit is the label."""
    return jnp.mean(jnp.argmax(logits, axis=1) == y)


def dead_fraction(pre):
    """The largest, over hidden layers, fraction of ReLU units that are inactive (input <= 0) on
    every row (a conv net's channel: at every position of every row): ``pre`` is
    ``nets.apply_mlp``'s ``aux["pre"]`` on an evaluation set."""
    return jnp.max(jnp.stack([jnp.mean(jnp.all(z <= 0, axis=tuple(range(z.ndim - 1)))) for z in pre]))


# ------------------------------------------------------------------------------------------------
# Optimizers: (init(params) -> opt_state, update(grads, opt_state, params, lr) -> (params, opt_state))
# ------------------------------------------------------------------------------------------------
class Optimizer(NamedTuple):
    init: Callable
    update: Callable


def _decay(weight_decay, p):
    """The weight decay of every leaf of ``p``: a number for all, or a pytree like ``p`` (e.g. 0
    for BN's gamma and beta)."""
    if isinstance(weight_decay, (int, float)) or jnp.ndim(weight_decay) == 0:
        return jax.tree_util.tree_map(lambda _: weight_decay, p)
    return weight_decay


def sgd(weight_decay=0.0) -> Optimizer:
    r"""Plain gradient descent, :math:`\theta \leftarrow \theta - \eta (g + \lambda\theta)`
    (``weight_decay`` :math:`\lambda`: a number, or a pytree like the parameters)."""
    def update(g, s, p, lr):
        wd = _decay(weight_decay, p)
        return jax.tree_util.tree_map(lambda a, b, l: a - lr * (b + l * a), p, g, wd), s

    return Optimizer(lambda p: (), update)


def momentum(beta: float = 0.9, weight_decay=0.0) -> Optimizer:
    r"""Heavy-ball momentum in PyTorch's convention, the decay inside the buffer:
    :math:`u \leftarrow \beta u + g + \lambda\theta`, :math:`\theta \leftarrow \theta - \eta u`
    (the buffer starts at zero; Wan et al.'s eqs. 10-11)."""
    def update(g, u, p, lr):
        wd = _decay(weight_decay, p)
        u = jax.tree_util.tree_map(lambda a, b, c, l: beta * a + b + l * c, u, g, p, wd)
        return jax.tree_util.tree_map(lambda a, b: a - lr * b, p, u), u

    return Optimizer(lambda p: jax.tree_util.tree_map(jnp.zeros_like, p), update)


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay=0.0) -> Optimizer:
    r"""Adam (Kingma & Ba): per-parameter steps :math:`\eta\,\hat m/(\sqrt{\hat v}+\epsilon)`
    from bias-corrected moving averages of :math:`g` and :math:`g^2`. ``weight_decay`` :math:`\lambda`
    is decoupled (AdamW, Loshchilov & Hutter; PyTorch's convention):
    :math:`\theta \leftarrow \theta - \eta\lambda\theta - \eta\,\hat m/(\sqrt{\hat v}+\epsilon)`."""
    tm = jax.tree_util.tree_map

    def init(p):
        return (tm(jnp.zeros_like, p), tm(jnp.zeros_like, p), jnp.zeros((), jnp.int32))

    def update(g, s, p, lr):
        m, v, t = s
        t = t + 1
        m = tm(lambda a, b: b1 * a + (1 - b1) * b, m, g)
        v = tm(lambda a, b: b2 * a + (1 - b2) * b * b, v, g)
        c1, c2 = 1 - b1 ** t, 1 - b2 ** t
        wd = _decay(weight_decay, p)
        p = tm(lambda a, mm, vv, l: a - lr * l * a - lr * (mm / c1) / (jnp.sqrt(vv / c2) + eps),
               p, m, v, wd)
        return p, (m, v, t)

    return Optimizer(init, update)


def adamw(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay=1e-2) -> Optimizer:
    """:func:`adam` with decoupled weight decay (AdamW)."""
    return adam(b1, b2, eps, weight_decay)


# ------------------------------------------------------------------------------------------------
# The loop
# ------------------------------------------------------------------------------------------------
class Step(NamedTuple):
    """What ``record`` sees at each step: the parameters before and after it, the gradient, the
    loss, the loss function's ``aux`` and the step's input."""

    params: Any
    new_params: Any
    grads: Any
    loss: Any
    aux: Any
    inputs: Any


def _loss_only(s: Step) -> dict:
    return {"loss": s.loss}


def run(loss: Callable, params, inputs=None, *, lr, steps: int | None = None, state=None,
        optimizer: Optimizer | None = None, record: Callable = _loss_only, every: int | None = None,
        checkpoint: Callable | None = None, evaluate: Callable | None = None):
    r"""Train ``params`` on ``loss``; return ``(params, state, history)``.

    ``loss(params, x_t, state) -> (loss, aux)``: ``x_t`` is step *t*'s slice of ``inputs`` (a
    pytree whose leaves have a leading axis of length T; ``None`` with ``steps=T`` for full-batch
    training) and ``state`` whatever the loop carries besides the parameters (e.g. BN's running
    statistics); ``aux["state"]``, if present, is the new state.

    ``record(step) -> dict`` is recorded every step (default: the loss); with ``every = k``,
    ``checkpoint(params, state) -> dict`` is recorded before each block of k steps and
    ``evaluate(params, state) -> dict`` after it. ``history`` merges the three: per-step entries
    have a leading axis T, per-block ones T/k. The update is ``optimizer`` (default :func:`sgd`)
    with learning rate ``lr``: a number (may be traced), an array of T per-step rates, or a
    function of the step index ``t`` (0-based; e.g. an exponential schedule). A diverging run keeps going with non-finite values;
    :func:`normlab.measure.diverged_at` finds the step.
    """
    opt = optimizer or sgd()
    if inputs is None:
        if steps is None:
            raise ValueError("give the per-step inputs, or the number of steps for full-batch training")
        T = steps
    else:
        T = jax.tree_util.tree_leaves(inputs)[0].shape[0]
    k = every or T
    if T % k:
        raise ValueError(f"the number of steps ({T}) must be a multiple of every ({k})")

    if callable(lr):
        rate = lr
    elif jnp.ndim(lr) == 1:
        if jnp.shape(lr)[0] != T:
            raise ValueError(f"a per-step learning rate needs {T} values; got {jnp.shape(lr)[0]}")
        rate = lambda t: jnp.asarray(lr)[t]
    else:
        rate = lambda t: lr

    def step(carry, xt):
        p, s, o = carry
        x_t, t = xt
        (l, aux), g = jax.value_and_grad(loss, has_aux=True)(p, x_t, s)
        new, o = opt.update(g, o, p, rate(t))
        s = aux.get("state", s) if isinstance(aux, dict) else s
        return (new, s, o), record(Step(p, new, g, l, aux, x_t))

    def block(carry, xs):
        p, s, _ = carry
        out = dict(checkpoint(p, s)) if checkpoint is not None else {}
        carry, recs = jax.lax.scan(step, carry, xs)
        if evaluate is not None:
            out.update(evaluate(carry[0], carry[1]))
        return carry, (recs, out)

    ts = jnp.arange(T).reshape(T // k, k)
    xs = (None if inputs is None else jax.tree_util.tree_map(
        lambda a: a.reshape((T // k, k) + a.shape[1:]), inputs), ts)
    carry0 = (params, state, opt.init(params))
    (params, state, _), (recs, blocks) = jax.lax.scan(block, carry0, xs)
    hist = jax.tree_util.tree_map(lambda a: a.reshape((T,) + a.shape[2:]), recs)
    return params, state, {**hist, **blocks}


def _is_rows(a) -> bool:
    """Row indices are signed integers; PRNG keys are typed keys or unsigned (uint32) arrays."""
    dt = getattr(a, "dtype", None)
    return dt is not None and not jax.dtypes.issubdtype(dt, jax.dtypes.prng_key) and \
        jnp.issubdtype(dt, jnp.signedinteger)


def batch_rows(x_t, n: int, size: int):
    """A step's mini-batch row indices: ``x_t`` itself if it is an int array of indices
    (precomputed, e.g. by :func:`batches`), else ``size`` draws with replacement from
    ``range(n)`` with the PRNG key ``x_t``."""
    if _is_rows(x_t):
        return x_t
    return jax.random.randint(x_t, (size,), 0, n)


def batches(seed: int, steps: int, size: int, n: int, noise_dim: int | None = None) -> dict:
    """Per-step inputs drawn by NumPy (nothing to compile): ``idx``, mini-batch row indices
    (steps, size) with replacement, and, if ``noise_dim`` is given, ``noise``, standard normal
    draws (steps, size, noise_dim) (float32) for input noise."""
    rng = np.random.default_rng(1000 + seed)
    out = {"idx": jnp.asarray(rng.integers(0, n, size=(steps, size)), jnp.int32)}
    if noise_dim is not None:
        out["noise"] = jnp.asarray(rng.normal(size=(steps, size, noise_dim)), jnp.float32)
    return out


def step_keys(key, steps: int):
    """One PRNG key per step."""
    return jax.random.split(key, steps)


def fit_classifier(params, data: dict, key, *, layer=nets.Dense(), lr, batch_size=None,
                   steps: int, max_batch: int = 64, eval_every: int = 1, act: str = "relu",
                   momentum: float = 0.1, probe: Callable | None = None,
                   optimizer: Optimizer | None = None):
    """Train an MLP classifier (:mod:`normlab.nets`) with :func:`run`; return ``(params, history)``.

    Each step samples ``max_batch`` training rows with replacement (``key``: a PRNG key, or an int
    array (steps, max_batch) of row indices) and uses the first ``batch_size`` of them (a mask), so
    ``lr`` and ``batch_size`` may be traced. Layers with running statistics keep them (unbiased
    variance, PyTorch ``momentum``); the test set is evaluated in inference mode every
    ``eval_every`` steps. ``history`` holds ``loss`` (the training batch loss, one per step) and,
    one per evaluation, ``test_loss``, ``test_acc``, ``dead`` (:func:`dead_fraction` on the test
    set; 0 for activations other than ReLU) and ``probe = probe(params, running, aux_test)``.
    :func:`status` tells from it whether the run trained.
    """
    x, y = data["x_train"], data["y_train"]
    xt, yt = data["x_test"], data["y_test"]
    n = x.shape[0]
    bs = max_batch if batch_size is None else batch_size
    mask = (jnp.arange(max_batch) < bs).astype(x.dtype)

    def loss(p, x_t, running):
        idx = batch_rows(x_t, n, max_batch)
        logits, aux = nets.apply_mlp(p, x[idx], layer, act=act, mask=mask)
        return cross_entropy(logits, y[idx], mask), {
            "state": nets.update_running(running, aux["stats"], layer, momentum)}

    def evaluate(p, running):
        logits, aux = nets.apply_mlp(p, xt, layer, act=act, running=running)
        rec = {"test_loss": cross_entropy(logits, yt), "test_acc": accuracy(logits, yt),
               "dead": dead_fraction(aux["pre"]) if act == "relu" else jnp.zeros(())}
        if probe is not None:
            rec["probe"] = probe(p, running, aux)
        return rec

    inputs = key if _is_rows(key) else step_keys(key, steps)
    params, _, hist = run(loss, params, inputs, lr=lr, state=nets.init_running(params, layer),
                          optimizer=optimizer, every=eval_every, evaluate=evaluate)
    return params, hist


# ------------------------------------------------------------------------------------------------
# Did a run train? (runs that diverged, died or stalled are not evidence)
# ------------------------------------------------------------------------------------------------
#: a run "died" when at least this fraction of one hidden layer's ReLU units is inactive on every
#: evaluation example ...
DEAD = 0.9
#: ... and "stalled" when its final loss is above this fraction of its initial loss
STALL = 0.9


class Status(NamedTuple):
    """``kind``: "ok", "diverged", "died" or "stalled"; ``step``: where it diverged (or None);
    ``why``: one line for the reader."""

    kind: str
    step: int | None
    why: str

    @property
    def ok(self) -> bool:
        return self.kind == "ok"


def status(loss, *, dead=None, test_acc=None, chance: float | None = None, window: int = 10,
           dead_limit: float = DEAD, stall: float = STALL, limit: float = 1e4) -> Status:
    r"""Whether one run trained, from its curves (NumPy or JAX, one run):

    - **diverged**: the loss became non-finite or larger than ``limit`` (:func:`diverged_at`);
    - **died**: the last ``dead`` value (e.g. ``fit_classifier``'s ``history["dead"]``) is at least
      ``dead_limit``: that many of a hidden layer's ReLU units are off for every example;
    - **stalled**: the mean loss of the last ``window`` steps is above ``stall`` times the loss at
      the first step (before any update: an early blow-up cannot make a run look as if it
      learned), or the last test accuracy is at most twice ``chance``;
    - otherwise **ok**.
    """
    loss = np.asarray(loss, float)
    k = diverged_at(loss, limit)
    if k is not None:
        return Status("diverged", k, f"diverged at step {k}")
    if dead is not None:
        d = float(np.asarray(dead, float).reshape(-1)[-1])
        if d >= dead_limit:
            return Status("died", None, f"died: {100 * d:.0f}% of a hidden layer's units inactive")
    w = max(1, min(window, len(loss) // 4))
    first, last = float(loss[0]), float(np.mean(loss[-w:]))
    if last > stall * first:
        return Status("stalled", None, f"stalled: loss {first:.3g} -> {last:.3g}")
    if test_acc is not None and chance is not None:
        a = float(np.asarray(test_acc, float).reshape(-1)[-1])
        if a <= 2 * chance:
            return Status("stalled", None, f"stalled: test accuracy {100 * a:.0f}% (chance {100 * chance:.0f}%)")
    return Status("ok", None, "trained")


# ------------------------------------------------------------------------------------------------
# Grids
# ------------------------------------------------------------------------------------------------
def grid(fn: Callable, **values):
    """Evaluate ``fn(**point)`` on the Cartesian grid of ``values`` with one ``jit(vmap(fn))``.

    ``values`` maps each parameter name to a 1-D sequence. Returns the pytree of results with
    leading axes of shape ``(len(v1), len(v2), ...)`` in the order the names were given.
    """
    names = list(values)
    axes = [np.asarray(values[k]) for k in names]
    shape = tuple(len(a) for a in axes)
    mesh = np.meshgrid(*axes, indexing="ij")
    flat = {k: jnp.asarray(m.reshape(-1)) for k, m in zip(names, mesh)}
    # the reshape inside the compiled call: outside, each result array would compile its own
    # reshape (tens of milliseconds each)
    run = jax.vmap(lambda kw: fn(**kw))
    return jax.jit(lambda kw: jax.tree_util.tree_map(lambda a: a.reshape(shape + a.shape[1:]), run(kw)))(flat)


def grid_loop(fn: Callable, **values):
    """The same as :func:`grid` with a Python loop over the points (for the benchmark)."""
    names = list(values)
    jfn = jax.jit(lambda kw: fn(**kw))
    outs = [jfn({k: jnp.asarray(v) for k, v in zip(names, point)})
            for point in itertools.product(*(values[k] for k in names))]
    shape = tuple(len(values[k]) for k in names)
    return jax.tree_util.tree_map(lambda *a: jnp.stack(a).reshape(shape + a[0].shape), *outs)
