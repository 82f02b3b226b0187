"""Chapter 4: Layer Normalization and the geometry of parameter space
(``notebooks/04_layer_norm_fisher.ipynb``).

One module per part of the chapter:

- :mod:`~normlab.ch4.fisher_basics` 4.1      Fisher information from scratch: the score, three
  definitions of F, the empirical Fisher, the KL expansion, the natural gradient
- :mod:`~normlab.ch4.definitions`   4.2      Layer Normalization (eqs. 3-5), batch of one
- :mod:`~normlab.ch4.invariances`   4.3      Table 1, all 18 cells, recomputed
- :mod:`~normlab.ch4.geometry`      4.4      the GLMs of section 5.2 and their Fisher (eqs. 12-14)
- :mod:`~normlab.ch4.curvature`     4.5-4.6  the "factor of 1/2", input and weight scale, learning
  the magnitude (eqs. 32-35), the geometry explorable's frame
- :mod:`~normlab.ch4.experiments`   4.7, 4.9 the digits MLP: none / BN / LN / WN, batch size,
  input scale
- :mod:`~normlab.ch4.recurrent`     4.8      an RNN with and without LN (eq. 4)
- :mod:`~normlab.ch4.wn_or_ln`      4.9      WN or LN? the Fisher and training under data re-scaling
- :mod:`~normlab.ch4.figures`       every figure of the chapter
- :mod:`~normlab.ch4.explorables`   the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch4.exercises`     the exercises' checks (``EXERCISES``)
- :mod:`~normlab.ch4.claims`        the chapter's claims (``CLAIMS``)
"""
