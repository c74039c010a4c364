"""Data laws from a data matrix: centring, one scale, the sample-covariance spectrum (docs/theory.md §14).

The theory sees the data only through the eigenvalue law of its covariance Σ, in the convention
``Tr Σ/d = 1`` shared by every law of :mod:`rfdiff.data.laws`. From N rows (samples) of d columns
(features) this module

1. centres every column by its mean over the N rows and divides the whole matrix by **one** scalar,
   ``s = sqrt(Tr Ĉ_raw/d)`` with ``Ĉ_raw = X_cᵀX_c/N`` (so the normalised sample covariance
   ``Ĉ = ZᵀZ/N`` has ``Tr Ĉ/d = 1`` exactly). One scalar keeps the *shape* of the spectrum; a per-column
   standardisation would change it and is not offered. The normalisation is recorded
   (:class:`Normalization`) and round-trips;
2. takes the d eigenvalues of Ĉ as a :class:`~rfdiff.data.DiscreteSpectrum` (optionally binned into
   equal-count groups); eigenvalues below ``d·ε·λ_max`` are set to exactly 0;
3. with labels, builds per-class laws as a :class:`~rfdiff.data.GaussianMixture` when the conditions of
   rfdiff's mixture theory (docs/theory.md §12) hold within a stated tolerance, and otherwise raises a
   ValueError naming the condition that fails.

Constant columns (zero-variance features: the 8×8 digits have three) are kept by default as exact zero
directions of Σ, i.e. an atom at 0 of the spectrum, which every solver accepts; ``constant_columns="drop"``
removes them (d shrinks) and ``"error"`` refuses them. A matrix without any variance is always an error.

The sample spectrum is the population spectrum spread by Marchenko–Pastur at ratio d/N; the module warns
(:class:`PoorEstimateWarning`) when ``N < POOR_ESTIMATE_RATIO·d``.
"""
from __future__ import annotations

import csv
import math
import os
import warnings
from dataclasses import dataclass, field

import numpy as np

from .._validate import data_rows, integer, labels_for
from .laws import DiscreteSpectrum, GaussianMixture

__all__ = ["Normalization", "DataMatrix", "Split", "PoorEstimateWarning", "data_matrix", "load_matrix",
           "read_matrix", "law_from_data", "POOR_ESTIMATE_RATIO", "MIXTURE_TOL", "CONSTANT_COLUMNS"]

#: A covariance estimated from fewer than this many rows per dimension (N < 2d) triggers a warning.
POOR_ESTIMATE_RATIO = 2.0
#: Default relative tolerance of the mixture conditions (:meth:`DataMatrix.mixture_law`).
MIXTURE_TOL = 0.05
#: What to do with zero-variance columns.
CONSTANT_COLUMNS = ("keep", "drop", "error")
#: File formats read by :func:`read_matrix`.
SUFFIXES = (".npy", ".npz", ".csv")


class PoorEstimateWarning(RuntimeWarning):
    """The covariance was estimated from too few rows for its spectrum to be close to the population's."""


@dataclass(frozen=True, eq=False)
class Normalization:
    """The map from raw rows to the rows the theory sees: ``z = (x[kept] − mean[kept]) / scale``.

    Attributes
    ----------
    mean : ndarray, shape (d_raw,)
        Column means over the N rows it was fitted on.
    scale : float
        ``sqrt(Tr Ĉ_raw/d)`` over the kept columns (Ĉ_raw = centred ``XᵀX/N``), so ``Tr Ĉ/d = 1``.
    kept : ndarray of int
        Raw columns kept (all unless constant columns were dropped).
    constant : ndarray of int
        Raw columns with zero variance (kept as zero directions or dropped, see ``policy``).
    policy : str
        ``"keep"`` or ``"drop"`` (constant columns).
    """

    mean: np.ndarray
    scale: float
    kept: np.ndarray
    constant: np.ndarray
    policy: str = "keep"

    def apply(self, X) -> np.ndarray:
        """Normalised rows ``(X[:, kept] − mean[kept]) / scale`` of raw rows X (shape (N, d_raw))."""
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != self.mean.size:
            raise ValueError(f"X must have {self.mean.size} columns, got shape {X.shape}")
        return (X[:, self.kept] - self.mean[self.kept]) / self.scale

    def invert(self, Z) -> np.ndarray:
        """Raw rows of normalised rows Z; dropped (constant) columns come back as their constant value."""
        Z = np.asarray(Z, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != self.kept.size:
            raise ValueError(f"Z must have {self.kept.size} columns, got shape {Z.shape}")
        out = np.broadcast_to(self.mean, (Z.shape[0], self.mean.size)).copy()
        out[:, self.kept] = Z * self.scale + self.mean[self.kept]
        return out

    def to_dict(self) -> dict:
        return {"centre": "column means", "scale": self.scale,
                "scale_rule": "one scalar: sqrt(Tr C/d) of the centred sample covariance C = X^T X/N, so that "
                              "Tr Σ/d = 1",
                "constant_columns": self.constant.tolist(), "constant_policy": self.policy,
                "d_raw": int(self.mean.size), "d": int(self.kept.size)}


@dataclass(frozen=True)
class Split:
    """A random split of a data matrix's rows: ``train`` and ``test`` (held-out) row indices, disjoint.

    ``seed`` fixes it: the permutation comes from ``default_rng(SeedSequence(seed, spawn_key=(5,)))``, a stream
    independent of the one the simulators draw W from with the same seed.
    """

    train: np.ndarray
    test: np.ndarray
    seed: int

    def to_dict(self) -> dict:
        return {"seed": self.seed, "n_train": int(self.train.size), "n_test": int(self.test.size)}


#: Spawn key of the split stream (the simulators use the parent stream and keys 1–4).
SPLIT_STREAM = 5


@dataclass(frozen=True, eq=False)
class DataMatrix:
    """Normalised data rows with their provenance; build with :func:`data_matrix` or :func:`load_matrix`.

    Attributes
    ----------
    rows : ndarray, shape (N, d)
        Centred rows, scaled so that the sample covariance ``Ĉ = rowsᵀ rows/N`` has ``Tr Ĉ/d = 1``.
    normalization : Normalization
    labels : ndarray or None
        One class label per row.
    name : str
        Dataset name or file path.
    """

    rows: np.ndarray
    normalization: Normalization
    labels: object = None
    name: str = "array"
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_rows(self) -> int:
        return int(self.rows.shape[0])

    @property
    def d(self) -> int:
        return int(self.rows.shape[1])

    def covariance(self) -> np.ndarray:
        """``Ĉ = rowsᵀ rows / N`` (d×d), ``Tr Ĉ/d = 1``."""
        if "cov" not in self._cache:
            self._cache["cov"] = self.rows.T @ self.rows / self.n_rows
        return self._cache["cov"]

    def eigenvalues(self) -> np.ndarray:
        """The d eigenvalues of Ĉ, ascending; values below ``d·ε·λ_max`` (rounding) are exactly 0."""
        if "eig" not in self._cache:
            e = np.linalg.eigvalsh(self.covariance())
            e[e <= self.d * np.finfo(np.float64).eps * max(float(e[-1]), 0.0)] = 0.0
            self._cache["eig"] = e
        return self._cache["eig"].copy()

    def law(self, bins=None) -> DiscreteSpectrum:
        """The limiting law: the sample spectrum of Ĉ (docs/theory.md §14), warning when N < 2d.

        Parameters
        ----------
        bins : int, optional
            Group the positive eigenvalues (ascending) into ``bins`` groups of equal count (±1), each an atom at
            its group's mean with weight count/d (so ``Tr Σ/d = 1`` is kept); exact zeros stay one atom.
            Default: every eigenvalue its own atom (equal eigenvalues merged).

        Returns
        -------
        DiscreteSpectrum
        """
        self._warn_if_poor()
        e = self.eigenvalues()
        zeros = int(np.count_nonzero(e == 0.0))
        pos = e[e > 0]
        if bins is not None:
            bins = integer("bins", bins, 1)
            groups = np.array_split(pos, min(bins, pos.size))
            atoms = [float(g.mean()) for g in groups]
            counts = [g.size for g in groups]
        else:
            atoms, counts = np.unique(pos, return_counts=True)
            atoms, counts = atoms.tolist(), counts.tolist()
        if zeros:
            atoms, counts = [0.0] + list(atoms), [zeros] + list(counts)
        counts = np.asarray(counts, dtype=float)
        return DiscreteSpectrum(tuple(atoms), tuple(counts / counts.sum()))

    def _warn_if_poor(self):
        if self.n_rows < POOR_ESTIMATE_RATIO * self.d:
            warnings.warn(f"{self.name}: the covariance is estimated from N = {self.n_rows} rows in d = {self.d} "
                          f"dimensions (N/d = {self.n_rows / self.d:.3g} < {POOR_ESTIMATE_RATIO:g}): its spectrum "
                          f"is the population's spread by Marchenko–Pastur at ratio d/N = "
                          f"{self.d / self.n_rows:.3g}, a poor estimate", PoorEstimateWarning, stacklevel=3)

    def split(self, n, n_test=None, seed=0) -> Split:
        """Random disjoint train/held-out rows: n training rows and ``n_test`` held-out rows (default: all the
        others), from the permutation of ``seed`` (:class:`Split`).

        Raises
        ------
        ValueError
            If ``n + n_test`` exceeds the rows available (naming both).
        """
        n = integer("n", n, 1)
        seed = integer("seed", seed, 0)
        rest = self.n_rows - n
        if n_test is None:
            n_test = rest
        n_test = integer("n_test", n_test, 1)
        if n + n_test > self.n_rows:
            raise ValueError(f"{self.name} has {self.n_rows} rows: too few for n = {n} training rows and "
                             f"n_test = {n_test} held-out rows")
        perm = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SPLIT_STREAM,))).permutation(self.n_rows)
        return Split(np.sort(perm[:n]), np.sort(perm[n:n + n_test]), seed)

    def mixture_law(self, tol=MIXTURE_TOL) -> GaussianMixture:
        """Per-class laws as a :class:`GaussianMixture`, when rfdiff's mixture theory (docs/theory.md §12) covers
        the classes within the relative tolerance ``tol``.

        With ``Ĉ_c`` the covariance of class c about its mean and ``Q`` the eigenvectors of the pooled
        within-class covariance ``Σ_c π_c Ĉ_c``, the conditions, checked in this order, are

        1. *common eigenbasis*: ``‖offdiag(QᵀĈ_cQ)‖_F ≤ tol ‖Ĉ_c‖_F`` for every class;
        2. *affine spectra*: ``diag(QᵀĈ_cQ) = a_c σ_0 + b_c`` with ``a_c > 0`` (σ_0 the pooled eigenvalues),
           least-squares residual ≤ ``tol`` times the norm (the quantile pairing of the theory);
        3. *centroids*: the class means lie on one line (second singular value of the centroid matrix ≤ ``tol``
           times the first) and are O(1) against ``Tr Σ_c = O(d)``: ``‖μ_c‖² ≤ tol·Tr Ĉ_c``.

        Sampling noise alone gives condition 1 a relative size ≈ ``sqrt(d/N_c)``, so it needs
        ``N_c ≫ d/tol²`` rows per class. The returned law has the fitted class spectra ``a_c σ_0 + b_c``.

        Raises
        ------
        ValueError
            Without labels, with a class of fewer than 2 rows, or naming the first condition that fails and by
            how much.
        """
        if self.labels is None:
            raise ValueError(f"{self.name} has no labels: per-class laws need one label per row")
        tol = float(tol)
        classes, inverse = np.unique(self.labels, return_inverse=True)
        counts = np.bincount(inverse)
        if classes.size < 2:
            raise ValueError("labels: a mixture needs at least 2 classes")
        if counts.min() < 2:
            raise ValueError(f"labels: class {classes[np.argmin(counts)].tolist()!r} has fewer than 2 rows")
        pis = counts / counts.sum()
        means = np.array([self.rows[inverse == k].mean(axis=0) for k in range(classes.size)])
        covs = [np.cov(self.rows[inverse == k], rowvar=False, bias=True).reshape(self.d, self.d)
                for k in range(classes.size)]
        pooled = sum(p * c for p, c in zip(pis, covs))
        sigma0, Q = np.linalg.eigh(pooled)
        diags = []
        for k, c in enumerate(covs):
            R = Q.T @ c @ Q
            off = math.sqrt(max(float(np.sum(R * R) - np.sum(np.diag(R) ** 2)), 0.0)) / max(np.linalg.norm(R), 1e-300)
            if off > tol:
                raise ValueError(
                    f"labels: mixture condition 'common eigenbasis' fails for class {classes[k].tolist()!r}: the part of its "
                    f"covariance off the pooled eigenbasis is {off:.3g} of its norm (tolerance {tol:g}; sampling "
                    f"noise alone gives ≈ sqrt(d/N_c) = {math.sqrt(self.d / counts[k]):.3g}); rfdiff's mixture "
                    "theory needs class covariances on one eigenbasis (docs/theory.md §12)")
            diags.append(np.diag(R))
        A = np.column_stack([sigma0, np.ones(self.d)])
        scales, shifts = [], []
        for k, dg in enumerate(diags):
            (a, b), *_ = np.linalg.lstsq(A, dg, rcond=None)
            res = float(np.linalg.norm(A @ [a, b] - dg)) / max(float(np.linalg.norm(dg)), 1e-300)
            if a <= 0 or res > tol or np.any(a * sigma0 + b < -tol * abs(a) * sigma0.max()):
                raise ValueError(
                    f"labels: mixture condition 'affine spectra' fails for class {classes[k].tolist()!r}: its eigenvalues on "
                    f"the common eigenbasis are a·σ_0 + b only to a relative residual {res:.3g} (a = {a:.3g}; "
                    f"tolerance {tol:g}, a > 0 needed); rfdiff's mixture theory needs Σ_c = a_c Σ_0 + b_c I")
            scales.append(float(a))
            shifts.append(float(b))
        sv = np.linalg.svd(means, compute_uv=False)
        if sv.size > 1 and sv[1] > tol * sv[0]:
            raise ValueError(f"labels: mixture condition 'centroids on one line' fails: the class means span more "
                             f"than one direction (second/first singular value {sv[1] / sv[0]:.3g} > {tol:g})")
        for k in range(classes.size):
            ratio = float(means[k] @ means[k]) / max(float(np.trace(covs[k])), 1e-300)
            if ratio > tol:
                raise ValueError(
                    f"labels: mixture condition 'O(1) centroids' fails for class {classes[k].tolist()!r}: ‖μ_c‖²/Tr Σ_c = "
                    f"{ratio:.3g} > {tol:g}; centroids with ‖μ‖² = O(d) change the feature covariance at leading "
                    "order and rfdiff's mixture theory does not cover them")
        u = np.linalg.svd(means)[2][0] if sv[0] > 0 else np.zeros(self.d)
        laws = []
        for a, b in zip(scales, shifts):
            eig = np.maximum(a * sigma0 + b, 0.0)
            laws.append(DiscreteSpectrum(tuple(eig), tuple(np.full(self.d, 1.0 / self.d))))
        return GaussianMixture(tuple(pis), tuple(laws), means=tuple(float(m @ u) for m in means))

    def describe(self) -> dict:
        """What was used, for provenance: name, N, d, normalisation, constant columns, N/d and labels."""
        out = {"dataset": self.name, "n_rows": self.n_rows, "d": self.d, "rows_per_dimension": self.n_rows / self.d,
               "normalization": self.normalization.to_dict(),
               "poor_estimate": bool(self.n_rows < POOR_ESTIMATE_RATIO * self.d)}
        if self.labels is not None:
            out["classes"] = int(np.unique(self.labels).size)
        return out


def data_matrix(X, labels=None, *, name="array", constant_columns="keep") -> DataMatrix:
    """Centre and scale a data matrix (rows = samples) into a :class:`DataMatrix` (module docstring).

    Parameters
    ----------
    X : array_like, shape (N, d)
        Real, finite, at least 2 rows.
    labels : array_like, optional
        One class label per row (for :meth:`DataMatrix.mixture_law`).
    name : str
        Recorded in the provenance and in messages.
    constant_columns : {"keep", "drop", "error"}
        Zero-variance columns: kept as zero directions of Σ (an atom at 0 of the spectrum; default), dropped
        (d shrinks; the dropped columns are recorded), or refused.

    Raises
    ------
    ValueError
        Non-numeric, non-2-D, NaN/inf entries, fewer than 2 rows, no variance at all, constant columns under
        ``"error"``, bad labels (each message names the problem).
    """
    if constant_columns not in CONSTANT_COLUMNS:
        raise ValueError(f"constant_columns must be one of {', '.join(map(repr, CONSTANT_COLUMNS))}, "
                         f"got {constant_columns!r}")
    X = data_rows(f"data {name!r}", X)
    if labels is not None:
        labels = labels_for("labels", labels, X.shape[0])
    mean = X.mean(axis=0)
    Xc = X - mean
    var = np.einsum("ij,ij->j", Xc, Xc) / X.shape[0]
    # a column is constant when its spread is rounding only
    constant = np.flatnonzero(np.ptp(X, axis=0) <= 8 * np.finfo(np.float64).eps * np.maximum(1.0, np.abs(mean)))
    if constant.size == X.shape[1]:
        raise ValueError(f"data {name!r}: every column is constant (no variance): there is no covariance to learn")
    if constant.size and constant_columns == "error":
        raise ValueError(f"data {name!r}: {constant.size} constant (zero-variance) column(s) {constant.tolist()[:10]}"
                         f"{'...' if constant.size > 10 else ''}; use constant_columns='keep' (zero directions of Σ) "
                         "or 'drop'")
    kept = np.arange(X.shape[1])
    if constant_columns == "drop":
        kept = np.setdiff1d(kept, constant)
    Xc[:, constant] = 0.0
    scale = math.sqrt(float(var[kept].sum()) / kept.size)
    norm = Normalization(mean=mean, scale=scale, kept=kept, constant=constant,
                         policy="drop" if constant_columns == "drop" else "keep")
    return DataMatrix(rows=Xc[:, kept] / scale, normalization=norm, labels=labels, name=str(name))


def read_matrix(path):
    """``(X, labels or None)`` from a ``.npy``, ``.npz`` or ``.csv`` file (rows = samples).

    * ``.npy``: one 2-D numeric array;
    * ``.npz``: the array ``X`` (or ``data``, or the only array), labels from ``y`` or ``labels`` if present;
    * ``.csv``: comma-separated numbers, one row per sample; a first line with no number at all is a header.

    Raises
    ------
    ValueError
        Unknown suffix, missing or unreadable file, malformed content, non-numeric CSV entries (line and column
        given), each as one message naming the file.
    """
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if suffix not in SUFFIXES:
        raise ValueError(f"data file {path!r}: unknown format {suffix or '(no suffix)'!r} (one of {', '.join(SUFFIXES)})")
    if not os.path.isfile(path):
        raise ValueError(f"data file {path!r} does not exist")
    if suffix == ".csv":
        return _read_csv(path), None
    try:
        with open(path, "rb") as fh:
            obj = np.load(fh, allow_pickle=False)
            if suffix == ".npy":
                return np.asarray(obj), None
            if not isinstance(obj, np.lib.npyio.NpzFile):
                raise ValueError("not an .npz archive")
            keys = list(obj.files)
            for key in ("X", "data"):
                if key in keys:
                    break
            else:
                if len(keys) != 1:
                    raise ValueError(f"holds arrays {keys}: name the data array 'X' (labels 'y')")
                key = keys[0]
            labels = next((obj[k] for k in ("y", "labels") if k in keys and k != key), None)
            return np.asarray(obj[key]), labels
    except (ValueError, OSError, EOFError) as exc:
        raise ValueError(f"data file {path!r}: cannot read it as {suffix} ({exc})") from None


def _number(text):
    try:
        return float(text)
    except ValueError:
        return None


def _read_csv(path) -> np.ndarray:
    rows = []
    width = None
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            for lineno, record in enumerate(csv.reader(fh), 1):
                if not record or all(not c.strip() for c in record):
                    continue
                values = [_number(c) for c in record]
                if lineno == 1 and all(v is None for v in values):
                    continue                                   # header
                bad = [j for j, v in enumerate(values) if v is None]
                if bad:
                    raise ValueError(f"line {lineno}, column {bad[0] + 1}: {record[bad[0]]!r} is not a number")
                if width is None:
                    width = len(values)
                elif len(values) != width:
                    raise ValueError(f"line {lineno} has {len(values)} columns, the first data line {width}")
                rows.append(values)
    except UnicodeDecodeError:
        raise ValueError(f"data file {path!r}: not a text CSV file") from None
    except (ValueError, csv.Error) as exc:
        raise ValueError(f"data file {path!r}: {exc}") from None
    if not rows:
        raise ValueError(f"data file {path!r}: no data rows")
    return np.asarray(rows, dtype=np.float64)


def load_matrix(path, *, constant_columns="keep") -> DataMatrix:
    """:func:`read_matrix` then :func:`data_matrix` (``name`` = the path)."""
    X, labels = read_matrix(path)
    return data_matrix(X, labels, name=os.fspath(path), constant_columns=constant_columns)


def law_from_data(X, *, bins=None, constant_columns="keep") -> DiscreteSpectrum:
    """The limiting law of a data matrix (rows = samples) or :class:`DataMatrix`: its normalised sample spectrum.

    Shorthand for ``data_matrix(X).law(bins)``; see :meth:`DataMatrix.law` (docs/theory.md §14).

    Examples
    --------
    >>> import numpy as np
    >>> X = np.random.default_rng(0).standard_normal((4000, 4)) * [1.0, 1.0, 2.0, 2.0]
    >>> law = law_from_data(X, bins=2)
    >>> [round(e, 1) for e in law.eigs], round(law.tau_sigma, 12)
    ([0.4, 1.6], 1.0)
    """
    data = X if isinstance(X, DataMatrix) else data_matrix(X, constant_columns=constant_columns)
    return data.law(bins)
