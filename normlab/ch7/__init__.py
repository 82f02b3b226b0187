"""Chapter 7: Scale invariance and the effective learning rate (``notebooks/07_scale_invariance.ipynb``).

One module per part of the chapter:

- :mod:`~normlab.ch7.invariance`   7.1  <w, grad> = 0 and grad(kw) = grad(w)/k for BN, LN, GN, WN, WS
- :mod:`~normlab.ch7.dynamics`     7.2, 7.4, 7.6  Pythagoras, the angular step, the rescaling
                                   equivalence, Li & Arora's exponential learning rate (float64)
- :mod:`~normlab.ch7.equilibrium`  7.3, 7.5  the digits network trained with and without decay:
                                   norms, angular updates, the equilibrium, the "early stopping" reading
- :mod:`~normlab.ch7.figures`      every figure of the chapter
- :mod:`~normlab.ch7.explorables`  the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch7.exercises`    the exercises' checks (``EXERCISES``)
- :mod:`~normlab.ch7.claims`       the chapter's claims (``CLAIMS``)
- :mod:`~normlab.ch7.claims_wstar` its rows on Wan et al.'s w* and AdamW's equilibrium
"""
