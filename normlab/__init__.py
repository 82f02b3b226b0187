"""normlab: the JAX companion library of the book *Normalization in Deep Learning, Measured*.

One module per idea, pure functions over arrays and pytrees, explicit PRNG keys, no hidden state:

- :mod:`normlab.batchnorm`  Batch Normalization: forward, hand-derived backward, running statistics,
  folded inference (Chapter 1).
- :mod:`normlab.nets`       small MLPs in plain pytrees with a pluggable normalization.
- :mod:`normlab.train`      SGD with ``jit`` + ``scan``, ``vmap``-ed over hyperparameter grids.
- :mod:`normlab.data`       offline data: scikit-learn's bundled 8x8 digits and synthetic data.
- :mod:`normlab.explore`    the explorable: a live ipywidgets control in a kernel, a kernel-free
  slider over precomputed frames on the website, from one notebook cell.
- :mod:`normlab.checks`     exercise feedback that never crashes.
- :mod:`normlab.claims`     every claim of the book, re-measured (``python -m normlab claims``).
- :mod:`normlab.style`      the shared figure style.
"""

__version__ = "0.1.0"

from contextlib import contextmanager as _contextmanager


@_contextmanager
def float64():
    """Run a block in float64 (JAX's x64 mode) whatever the installed JAX version.

    Gradient identities are checked in float64, where a relative error of 1e-12 is meaningful;
    training runs in float32, the default.
    """
    import jax

    ctx = getattr(jax, "enable_x64", None)
    if ctx is None:  # older JAX (e.g. a Colab runtime pinned to 0.4.x)
        from jax.experimental import enable_x64 as ctx  # type: ignore
    with ctx(True):
        yield
