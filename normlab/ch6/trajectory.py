r"""Chapter 6, section 6.2: what the identity does and does not promise, measured along training.

The gradient through WS is :math:`Pg/\sigma_W`: the projection :math:`P` only removes, but
:math:`1/\sigma_W` multiplies, and He's initialization gives :math:`1/\sigma_W^2 = I/2`. One SGD
step moves :math:`\hat W` by :math:`-(\eta/\sigma_W^2)Pg` (to first order): the effective learning
rate is :math:`\eta/\sigma_W^2`. And :math:`\langle W,\nabla_W\ell\rangle = 0`, so plain SGD only
lengthens :math:`W` (Pythagoras): :math:`\sigma_W` grows and the effective rate falls.

:func:`run` trains the chapter's conv net with GN+WS (or another :class:`~normlab.ch6.smallbatch.Switch`
kind) at batch 16 over seeds in one ``vmap`` and records, every ``EVERY`` steps, each hidden
layer's mean :math:`\sigma_W` over its output channels and :math:`\|W\|`.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from normlab import cache, data, nets, train
from normlab.ch6 import smallbatch as sb
from normlab.ch6.derivation import sigma

STEPS, EVERY, BATCH, LR = 150, 10, 16, 0.1
SEEDS = (0, 1, 2)


def fan_ins(channels=sb.CHANNELS, kernel: int = 3) -> list[int]:
    """Each hidden layer's fan-in :math:`I = k^2 C_{in}`."""
    return [kernel * kernel * c for c in channels[:-1]]


#: the (init scale, weight decay) variants the chapter draws and checks, trained in ONE call:
#: He's init with plain SGD and He's init with weight decay 0.05
VARIANTS = ((None, 0.0), (None, 0.05))


def _init(seed: int, scale: float | None):
    p = sb.params_for(seed)
    if scale is None:
        return p
    rng = np.random.default_rng(500 + seed)
    return [dict(q, W=jnp.asarray(scale * rng.normal(size=q["W"].shape), q["W"].dtype)) for q in p[:-1]] + [p[-1]]


@functools.lru_cache(maxsize=None)
@cache.cached
def runs(kind: int = 4, variants: tuple = VARIANTS, steps: int = STEPS, lr: float = LR) -> tuple:
    """Every (``scale``, ``weight_decay``) of ``variants`` x seed, ``kind`` (4: GN+WS) at batch 16
    and ``lr``, in one ``vmap``: a tuple of :func:`run`'s dicts, one per variant."""
    d = data.digits(images=True)
    d = dict(d, x_test=d["x_test"][:sb.N_TEST], y_test=d["y_test"][:sb.N_TEST])
    layer = sb.Switch(kind=kind)
    P = jax.tree_util.tree_map(lambda *a: jnp.stack(a).reshape((len(variants), len(SEEDS)) + a[0].shape),
                               *[_init(s, sc) for sc, _ in variants for s in SEEDS])
    WD = jnp.asarray([wd for _, wd in variants], jnp.float32)
    R = jnp.asarray(np.stack([sb.rows_for(s, BATCH, steps) for s in SEEDS]))
    probe = lambda p, running, aux: {"sigma": jnp.stack([jnp.mean(sigma(q["W"])) for q in p[:-1]]),
                                     "norm": jnp.stack([jnp.linalg.norm(q["W"]) for q in p[:-1]])}

    def one(v, i):
        p0 = jax.tree_util.tree_map(lambda a: a[v, i], P)
        _, h = train.fit_classifier(p0, d, R[i], layer=layer, lr=lr, batch_size=BATCH, max_batch=BATCH,
                                    steps=steps, eval_every=EVERY, probe=probe,
                                    optimizer=train.sgd(weight_decay=WD[v]))
        p0_probe = probe(p0, None, None)
        return {"sigma": jnp.concatenate([p0_probe["sigma"][None], h["probe"]["sigma"]]),
                "norm": jnp.concatenate([p0_probe["norm"][None], h["probe"]["norm"]]),
                "loss": h["loss"], "test_acc": h["test_acc"][-1], "dead": h["dead"][-1]}

    out = train.grid(one, v=np.arange(len(variants)), i=np.arange(len(SEEDS)))
    out = {k: np.asarray(v) for k, v in out.items()}
    return tuple({k: v[j] for k, v in out.items()} for j in range(len(variants)))


def run(kind: int = 4, scale: float | None = None, weight_decay: float = 0.0,
        steps: int = STEPS, lr: float = LR) -> dict:
    """Train ``kind`` (4: GN+WS) at batch 16, ``lr``, over :data:`SEEDS` (one vmap). ``scale``:
    None for He's initialization, or the std of every hidden weight (e.g. 1.0). Returns NumPy
    ``sigma`` and ``norm`` (seeds, evaluations + 1, layers) (index 0: at initialization),
    ``loss`` (seeds, steps), ``test_acc`` (seeds,), ``dead`` (seeds,). The :data:`VARIANTS` come
    from one shared call (:func:`runs`)."""
    v = (scale, float(weight_decay))
    if v in VARIANTS:
        return runs(kind, VARIANTS, steps, lr)[VARIANTS.index(v)]
    return runs(kind, (v,), steps, lr)[0]


def growth(res: dict) -> np.ndarray:
    """:math:`\\|W\\|_{end}/\\|W\\|_{init}` per seed and layer."""
    return res["norm"][:, -1] / res["norm"][:, 0]


def statuses(res: dict) -> list:
    return [train.status(res["loss"][i], dead=res["dead"][i], test_acc=res["test_acc"][i], chance=0.1)
            for i in range(len(SEEDS))]
