r"""Chapter 4, section 4.7: a recurrent network with and without Layer Normalization (eq. 4).

The cell (Ba et al., eq. 4), with one gain and bias shared over time:

.. math::
    a^t = W_{hh} h^{t-1} + W_{xh} x^t,\qquad
    h^t = \tanh\Big[\frac{g}{\sigma^t}\odot(a^t - \mu^t) + b\Big],

:math:`\mu^t, \sigma^t` over the :math:`H` hidden units at each time step
(:func:`normlab.layernorm.forward`); without LN, :math:`h^t = \tanh(a^t + b)`. The task: the 8x8
digits read as sequences of 8 rows of 8 pixels, classified from the last hidden state (a
softmax on :math:`h^T`). Training is :func:`normlab.train.run` (the book's one loop) with plain
SGD; the forward pass scans over the 8 time steps.

The experiment varies the scale of the initial recurrent weights, :math:`W_{hh} \sim
\mathcal N(0, \rho^2/H)`: with :math:`\rho` large the plain RNN's hidden state saturates
(:math:`|h| \to 1`), while LN's statistics are those of :math:`a^t` itself, so the summed input
is rescaled at every step.

(A recurrent network is an architecture of its own; it lives here, not in :mod:`normlab.nets`.)
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import data, layernorm, train
from normlab import cache

HIDDEN, T, D_IN = 64, 8, 8
STEPS, BATCH, EVAL_EVERY = 300, 64, 30
LR = 0.1
RHOS = (1.0, 4.0)
SEEDS = (0, 1, 2)


def init(seed: int, rho: float, hidden: int = HIDDEN):
    r"""Parameters (NumPy draws): :math:`W_{xh} \sim \mathcal N(0, 1/D)`,
    :math:`W_{hh} \sim \mathcal N(0, \rho^2/H)`, gain 1, bias 0, a zero-initialized readout."""
    rng = np.random.default_rng(seed)
    f = lambda a: jnp.asarray(a, jnp.float32)
    return {"Wx": f(rng.normal(size=(D_IN, hidden)) / np.sqrt(D_IN)),
            "Wh": f(rho * rng.normal(size=(hidden, hidden)) / np.sqrt(hidden)),
            "gain": jnp.ones(hidden), "bias": jnp.zeros(hidden),
            "Wo": jnp.zeros((hidden, 10)), "bo": jnp.zeros(10)}


def cell(p, h, x_t, use_ln):
    r"""One step of eq. 4: ``h`` (n, H), ``x_t`` (n, D) -> the new hidden state. ``use_ln`` (may
    be traced, 0 or 1) picks LN or the plain :math:`\tanh(a + b)`."""
    a = h @ p["Wh"] + x_t @ p["Wx"]
    z = use_ln * layernorm.forward(a, p["gain"], p["bias"]) + (1 - use_ln) * (a + p["bias"])
    return jnp.tanh(z)


def rnn_logits(p, xs, use_ln):
    """Run the cell over the sequence ``xs`` (n, T, D) from :math:`h^0 = 0` (a ``lax.scan`` over
    time); returns the logits of the last state (n, 10) and the mean :math:`|h^t|` per step."""
    def step(h, x_t):
        h = cell(p, h, x_t, use_ln)
        return h, jnp.mean(jnp.abs(h))

    h0 = jnp.zeros((xs.shape[0], p["Wh"].shape[0]), xs.dtype)
    h, sat = jax.lax.scan(step, h0, jnp.swapaxes(xs, 0, 1))
    return h @ p["Wo"] + p["bo"], sat


def sequences(x):
    """The digits as sequences of rows: (n, 64) -> (n, 8, 8)."""
    return x.reshape(x.shape[0], T, D_IN)


def train_rnn(p, idx, use_ln, lr):
    r"""Train with :func:`normlab.train.run` (plain SGD) on the rows ``idx`` (STEPS, BATCH);
    returns ``loss`` (STEPS,) and, every EVAL_EVERY steps, ``test_acc`` (after the block) and
    ``saturation`` (before it: the mean :math:`|h^t|` over the test set and the time steps)."""
    d = data.digits()
    xs, y = sequences(d["x_train"]), d["y_train"]
    xt, yt = sequences(d["x_test"]), d["y_test"]

    def loss(q, i, _):
        return train.cross_entropy(rnn_logits(q, xs[i], use_ln)[0], y[i]), {}

    def evaluate(q, _):
        return {"test_acc": train.accuracy(rnn_logits(q, xt, use_ln)[0], yt)}

    def checkpoint(q, _):  # before each block of steps: the first one is at initialization
        return {"saturation": jnp.mean(rnn_logits(q, xt, use_ln)[1])}

    _, _, h = train.run(loss, p, idx, lr=lr, every=EVAL_EVERY, evaluate=evaluate,
                        checkpoint=checkpoint)
    return h


_train = jax.jit(train_rnn)


@cache.cached
@functools.lru_cache(maxsize=None)
def rnn_experiment(rhos=RHOS, seeds=SEEDS, lr: float = LR) -> dict:
    r"""Every (model, :math:`\rho`, seed) run, memoised: ``out[(name, rho)]`` holds ``loss``
    (seeds, STEPS), ``test_acc`` and ``saturation`` (seeds, STEPS / EVAL_EVERY); ``name`` is
    ``"rnn"`` or ``"ln-rnn"``. The same initial weights and batches for both models."""
    n = data.digits()["x_train"].shape[0]
    out = {}
    for name, flag in (("rnn", 0.0), ("ln-rnn", 1.0)):
        for rho in rhos:
            hs = [_train(init(s, rho), train.batches(s, STEPS, BATCH, n)["idx"],
                         jnp.float32(flag), jnp.float32(lr)) for s in seeds]
            out[(name, rho)] = {k: np.stack([np.asarray(h[k]) for h in hs])
                                for k in ("loss", "test_acc", "saturation")}
    return out


def summary(res=None) -> dict:
    """Final test accuracy (%) per (model, rho) over the seeds: mean, min, max."""
    res = rnn_experiment() if res is None else res
    return {k: {"mean": float(100 * v["test_acc"][:, -1].mean()),
                "min": float(100 * v["test_acc"][:, -1].min()),
                "max": float(100 * v["test_acc"][:, -1].max()),
                "saturation": float(v["saturation"][:, 0].mean())} for k, v in res.items()}
