"""Chapter 3: Weight Normalization, derived and measured (``notebooks/03_weight_norm.ipynb``).

One module per part of the chapter:

- :mod:`~normlab.ch3.reparam`         3.1  w = g v/||v||: length and direction, the invariance
- :mod:`~normlab.ch3.gradients`       3.2  eqs. 3-4 by hand, every step checked; the projection
- :mod:`~normlab.ch3.growth`          3.3  norm growth by Pythagoras; the one-step geometry
- :mod:`~normlab.ch3.stabilization`   3.3  self-stabilization (lr x gradient noise); momentum, Adam
- :mod:`~normlab.ch3.relation`        3.4  WN and BN: whitened inputs, batch noise
- :mod:`~normlab.ch3.initialization`  3.5  the data-dependent initialization (eqs. 5-6)
- :mod:`~normlab.ch3.mean_only`       3.6  mean-only batch normalization and eq. 8
- :mod:`~normlab.ch3.experiment`      3.7  the digits MLP trained five ways
- :mod:`~normlab.ch3.figures`         every figure of the chapter
- :mod:`~normlab.ch3.explorables`     the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch3.exercises`       the exercises' checks (``EXERCISES``)
- :mod:`~normlab.ch3.claims`          the chapter's claims (``CLAIMS``)
"""
