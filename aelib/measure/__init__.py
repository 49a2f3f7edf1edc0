"""Measuring images and codecs: quality metrics, the classical codecs at their best settings, BD-rates.

No model of ours and no TensorFlow: ``metrics``, ``baselines`` and ``bdrate`` need only numpy,
scikit-image and the codecs' libraries.
"""
