"""gencal: accurate and calibrated classification.

Generative Cross-Entropy (a drop-in replacement for cross-entropy), adaptive piecewise
temperature scaling, the baseline losses and calibrators, calibration metrics, datasets,
models, a trainer and a benchmark. Sub-packages:

- :mod:`gencal.losses` — training losses, ``get_loss(name, **hparams)``
- :mod:`gencal.calibration` — post-hoc calibrators, ``get_calibrator(name, **hparams)``
- :mod:`gencal.metrics` — calibration metrics, reliability diagrams, ``calibration_report``
- :mod:`gencal.data` — datasets, long-tailed subsets, splits, batch augmentation
- :mod:`gencal.models` — CIFAR ResNets, WideResNets, DenseNet, small CNNs, ``get_model``
- :mod:`gencal.train` — Lightning training with checkpoints/resume and saved logits
- :mod:`gencal.bench` — the loss x calibrator x seed benchmark and its reports
"""

from gencal._checks import GencalInputError, InputLooksLikeProbabilitiesWarning, NotFittedError

__version__ = "0.1.0"

__all__ = [
    "GencalInputError",
    "InputLooksLikeProbabilitiesWarning",
    "NotFittedError",
    "__version__",
]
