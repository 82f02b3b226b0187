"""Chapter 6: Weight Standardization and Group Normalization: smoothing from the weights' side, and
training with tiny batches (``notebooks/06_weight_standardization.ipynb``).

- :mod:`~normlab.ch6.derivation`   6.1-6.3  WS's gradient by hand, the gradient-norm identity beside
  Santurkar et al.'s Theorem 4.1, one example per GPU is exact for GN+WS
- :mod:`~normlab.ch6.trajectory`   6.2      sigma_W and ||W|| along training
- :mod:`~normlab.ch6.smallbatch`   6.5      the conv net at batch sizes 1-128, five normalizations; the
  ablation (centring only, scaling only); BN+WS at batch 16
- :mod:`~normlab.ch6.smoothing`    6.6      chapter 5's landscape probes: GN vs GN+WS, BN vs BN+WS
- :mod:`~normlab.ch6.figures`      every figure of the chapter
- :mod:`~normlab.ch6.explorables`  the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch6.exercises`    the exercises' checks (``EXERCISES``)
- :mod:`~normlab.ch6.answers`      what the explorables show at the predict questions' settings
- :mod:`~normlab.ch6.claims`       the chapter's claims (``CLAIMS``)
"""
