"""normlab: the JAX companion library of the book *Normalization in Deep Learning, Measured*.

Pure functions over arrays and pytrees, explicit PRNG keys, no hidden state.

The core, shared by every chapter:

- :mod:`normlab.batchnorm`, :mod:`normlab.weightnorm`, :mod:`normlab.layernorm`,
  :mod:`normlab.fisher`, :mod:`normlab.groupnorm`, :mod:`normlab.weightstd`: the math of each
  normalization (and of the Fisher information), by hand; :mod:`normlab.scale`: angles and the
  equilibrium angular update of scale-invariant weights.
- :mod:`normlab.nets`     the one network: an MLP whose hidden layer is the normalization you pass
  in, and the deep linear network.
- :mod:`normlab.train`    the one training loop (``jit`` + ``scan``, ``vmap`` over grids; SGD,
  momentum and Adam(W) with weight decay; per-step learning rates; whether a run trained).
- :mod:`normlab.compare`  fair comparisons: each method at its own best learning rate, over seeds.
- :mod:`normlab.data`     offline data: scikit-learn's bundled 8x8 digits and synthetic data.
- :mod:`normlab.measure`, :mod:`normlab.landscape`: errors, finite differences, divergence,
  curves; the landscape probe and internal covariate shift.

The book machinery: :mod:`normlab.explore` (explorables), :mod:`normlab.checks` (exercise
feedback), :mod:`normlab.claims` (``python -m normlab claims``, with controls),
:mod:`normlab.style` (figures), :mod:`normlab.show` (numbered figures), :mod:`normlab.glue`
(computed numbers in the prose), :mod:`normlab.cache` (results kept between the build and the
tests).

The chapters: :mod:`normlab.ch1` ... :mod:`normlab.ch7`, one module per part of each notebook.
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
