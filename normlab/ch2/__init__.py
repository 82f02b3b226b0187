"""Chapter 2: The naive-normalization trap (``notebooks/02_naive_normalization.ipynb``).

- :mod:`~normlab.ch2.toy`          2.1-2.2 the paper's toy layer; the toy with scaling
- :mod:`~normlab.ch2.network`      2.3     a digits MLP trained four ways; the explorable's runs
- :mod:`~normlab.ch2.fix`          2.4     the fix: differentiate through the statistics
- :mod:`~normlab.ch2.figures`      every figure of the chapter
- :mod:`~normlab.ch2.explorables`  2.5     the explorable (``EXPLORABLES``)
- :mod:`~normlab.ch2.exercises`    the exercises' checks
- :mod:`~normlab.ch2.claims`       the chapter's claims (``CLAIMS``)
"""
