"""Chapter 1: Batch Normalization, derived and measured (``notebooks/01_batch_norm.ipynb``).

One module per part of the chapter:

- :mod:`~normlab.ch1.derivation`  1.2-1.3  Algorithm 1 and its backward pass, step by step
- :mod:`~normlab.ch1.scale`       1.4      scale invariance, weight growth under SGD
- :mod:`~normlab.ch1.jacobian`    1.5      layer Jacobians and their singular values
- :mod:`~normlab.ch1.statistics`  1.6-1.8  statistics for inference, batch of one, convolutions
- :mod:`~normlab.ch1.training`    1.9-1.10 the training experiments behind the explorables
- :mod:`~normlab.ch1.figures`     every figure of the chapter
- :mod:`~normlab.ch1.explorables` the two explorables (``EXPLORABLES``)
- :mod:`~normlab.ch1.exercises`   the exercises' checks
- :mod:`~normlab.ch1.claims`      the chapter's claims (``CLAIMS``)
"""
