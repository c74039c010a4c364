"""Real datasets that ship inside well-kept packages (no downloads), as :class:`~rfdiff.data.empirical.DataMatrix`.

* ``digits`` — scikit-learn's bundled 8×8 handwritten digits (UCI): N = 1797 rows, d = 64 pixel
  intensities 0–16, labels 0–9; three pixels are constant (zero variance) and are kept as zero directions of
  Σ unless asked otherwise.
* ``patches`` — non-overlapping 8×8 grayscale patches (mean of the RGB channels) of the two photographs
  bundled with scikit-learn (``china.jpg``, ``flower.jpg``, 427×640): N = 2·53·80 = 8480 rows, d = 64, each
  patch's own mean brightness removed (the usual preprocessing of natural-image patches: without it one
  direction, the brightness, carries 93% of the variance). That leaves an exact zero direction (an atom at 0)
  and a natural-image spectrum decaying roughly as a power of the spatial frequency, unlike the digits'.

Both need the optional extra ``rfdiff[data]`` (scikit-learn; Pillow to decode the photographs).
"""
from __future__ import annotations

import numpy as np

from .empirical import DataMatrix, data_matrix

__all__ = ["DATASETS", "load_dataset", "digits", "patches"]

#: Dataset names accepted by :func:`load_dataset` and ``--data NAME``.
DATASETS = ("digits", "patches")
EXTRA = 'the optional extra rfdiff[data] (pip install "rfdiff[data]")'


def _sklearn_datasets():
    try:
        import sklearn.datasets as ds
    except ImportError:
        raise ImportError(f"the bundled datasets need scikit-learn: install {EXTRA}") from None
    return ds


def digits(*, constant_columns="keep") -> DataMatrix:
    """scikit-learn's 8×8 digits (1797 × 64, labels 0–9), centred and scaled (:func:`data_matrix`)."""
    bunch = _sklearn_datasets().load_digits()
    return data_matrix(np.asarray(bunch.data, dtype=np.float64), np.asarray(bunch.target), name="digits",
                       constant_columns=constant_columns)


def patches(size=8, *, constant_columns="keep") -> DataMatrix:
    """Non-overlapping ``size``×``size`` grayscale patches of scikit-learn's two sample photographs.

    Rows are patches in the order (image, patch row, patch column), d = size², each minus its own mean
    (module docstring); no labels.
    """
    ds = _sklearn_datasets()
    try:
        images = ds.load_sample_images().images
    except ImportError:
        raise ImportError(f"the 'patches' dataset decodes JPEG files with Pillow: install {EXTRA}") from None
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not 2 <= size <= 64:
        raise ValueError(f"size must be an integer in [2, 64], got {size!r}")
    rows = []
    for img in images:
        gray = np.asarray(img, dtype=np.float64).mean(axis=2)
        h, w = (gray.shape[0] // size) * size, (gray.shape[1] // size) * size
        blocks = gray[:h, :w].reshape(h // size, size, w // size, size).transpose(0, 2, 1, 3)
        flat = blocks.reshape(-1, size * size)
        rows.append(flat - flat.mean(axis=1, keepdims=True))
    return data_matrix(np.concatenate(rows), name="patches" if size == 8 else f"patches{size}",
                       constant_columns=constant_columns)


def load_dataset(name, *, constant_columns="keep") -> DataMatrix:
    """A bundled dataset by name (:data:`DATASETS`)."""
    if name == "digits":
        return digits(constant_columns=constant_columns)
    if name == "patches":
        return patches(constant_columns=constant_columns)
    raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {name!r}")
