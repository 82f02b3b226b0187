"""Chapter 5: How does BatchNorm help optimization? Santurkar et al. (2018) at CPU scale
(``notebooks/05_smoothing.ipynb``).

- :mod:`~normlab.ch5.noise`        5.2      the noisy-BatchNorm noise model
- :mod:`~normlab.ch5.experiments`  5.2-5.6  the MLP runs (3 seeds): noisy BN, ICS, landscape, l_p
- :mod:`~normlab.ch5.dln`          5.3      the 25-layer deep linear network and its ICS (3 seeds)
- :mod:`~normlab.ch5.theory`       5.5      Theorems 4.1, 4.2, Observation 4.3, Lemma 4.5
- :mod:`~normlab.ch5.figures`      every figure of the chapter
- :mod:`~normlab.ch5.explorables`  the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch5.exercises`    the exercises' checks
- :mod:`~normlab.ch5.claims`       the chapter's claims (``CLAIMS``), over every seed
- :mod:`~normlab.ch5.numbers`      the numbers the prose quotes (glued), from the claims' summaries

The measuring tools (landscape probe, ICS) are the shared :mod:`normlab.landscape`.
"""
