"""The true random-features model trained on actual data rows, tested on held-out rows (docs/theory.md §14).

:func:`real_features` is :func:`rfdiff.simulate.random_features` with the sampled Gaussian data replaced by
given rows:

* ``W`` is drawn exactly as every simulator draws it (``default_rng(seed).standard_normal((p, d))``, or from
  ``default_rng(feature_seed)`` when given), so the same seeds give the same W as ``random_features`` at the
  same p and d;
* the training columns are the n given training rows; ``U`` and ``V`` are their exact noise averages
  (Mehler expansion, docs/theory.md §9) or the averages over m frozen noise draws, by the same code;
* the population is the **held-out** rows plus fresh noise: ``U_pop = (1/n_test) Σ_ν E_ξ σσᵀ`` and
  ``V_pop = (1/n_test) Σ_ν E_ξ σ ξᵀ`` at the held-out rows, again exact in ξ by the same code. For a fixed
  read-out the test loss is then an unbiased estimate of the loss on the data's population;
* the flow is the one :class:`~rfdiff.simulate.ClosedFormFlow`.

**Score error.** ``L_test = Δ_t E_score + 1 − Δ_t J/d`` holds for any data, with ``J = E‖∇log P_t‖²`` the
Fisher information of the noised data law ``P_t``; only for Gaussian data is ``J = Tr Σ_t^{-1}``. ``J`` of real
data is unknown, so the score error reported here uses the Gaussian value ``Tr Σ_t^{-1}/d`` with ``Σ_t =
e^{−2t} Ĉ_test + Δ_t I`` (Ĉ_test the held-out rows' covariance): a proxy. By the Cramér–Rao inequality
``J ≥ Tr Cov(P_t)^{-1}``, so the proxy is a **lower bound** on the true score error of the same read-out
(the test loss itself involves no such constant and is exact).

This module never imports the theory modules.
"""
from __future__ import annotations

import warnings
from functools import cached_property

import numpy as np

from .._validate import data_rows
from ._sampling import draw_features, problem_sizes
from ._flow import ClosedFormFlow
from .features import RandomFeatures

__all__ = ["RealFeatures", "real_features", "SCORE_CONSTANT"]

#: What the score error of :class:`RealFeatures` uses for the Fisher-information constant (module docstring).
SCORE_CONSTANT = ("gaussian proxy Tr Σ_t^-1/d of the held-out covariance: a lower bound on the true score "
                  "error (Cramér–Rao)")


class RealFeatures(RandomFeatures):
    """The true random-features model on given training rows, population from held-out rows.

    Build it with :func:`real_features`. Attributes as :class:`~rfdiff.simulate.features.RandomFeatures`,
    plus ``X_test`` (d × n_test, the held-out rows as columns) and ``n_test``; ``class_sigma`` is None and
    ``sigma_t`` holds the eigenvalues of ``e^{−2t} Ĉ_test + Δ_t I`` (the score-error proxy's constant).
    ``order_pop``, ``rho_max_pop``, ``truncation_bound_pop(_op)`` and ``quadrature["pop"]`` describe the
    held-out average.
    """

    SOURCE = "real_features"

    def __init__(self, model, train_rows, test_rows, seed=0, noise=None, order=None, **kwargs):
        train_rows = data_rows("train_rows", train_rows)
        test_rows = data_rows("test_rows", test_rows)
        d = train_rows.shape[1]
        if test_rows.shape[1] != d:
            raise ValueError(f"test_rows must have the {d} columns of train_rows, got {test_rows.shape[1]}")
        n = problem_sizes(model, d)[1]
        if train_rows.shape[0] != n:
            raise ValueError(f"train_rows has {train_rows.shape[0]} rows but the model asks for n = round(psi_n d) = "
                             f"{n} (psi_n = {model.psi_n:g}, d = {d}): use psi_n = n/d = {train_rows.shape[0] / d:g}")
        if test_rows.shape[0] < d:
            warnings.warn(f"the held-out population has {test_rows.shape[0]} rows < d = {d}: its test loss is unbiased "
                          "but noisy, and the score error's Gaussian constant uses a rank-deficient covariance",
                          RuntimeWarning, stacklevel=3)
        self._rows = (train_rows, test_rows)
        super().__init__(model, d, seed=seed, noise=noise, order=order, **kwargs)

    def __repr__(self):
        return (f"RealFeatures(d={self.d}, p={self.p}, n={self.n}, n_test={self.n_test}, t={self.model.t}, "
                f"activation={self.activation.name!r}, m={self.m!r}, order={self.order})")

    def _sample(self, model, seed):
        """W by the shared convention (first draw of ``default_rng(seed)``, or of ``default_rng(feature_seed)``);
        X and X_test are the given rows."""
        train_rows, test_rows = self._rows
        self.mixture = False
        source = seed if self.feature_seed is None else self.feature_seed
        self.W = draw_features(self.p, self.d, source)
        self.X = np.ascontiguousarray(train_rows.T)
        self.labels = np.zeros(self.n, dtype=int)
        self.centroids = np.zeros((self.d, 1))
        self.X_test = np.ascontiguousarray(test_rows.T)
        self.n_test = self.X_test.shape[1]
        self.class_sigma = None
        cov = np.cov(test_rows, rowvar=False, bias=True).reshape(self.d, self.d)
        self.sigma_t = self.e_t ** 2 * np.clip(np.linalg.eigvalsh(cov), 0.0, None) + self.delta_t

    def _build_population(self):
        """``U_pop``, ``V_pop``: exact noise averages at the held-out rows (the same code as ``U``, ``V``)."""
        out = self._noise_average(self.X_test, None, "U_pop")
        self.U_pop, self.V_pop = out["U"], out["V"]
        self.order_pop, self.rho_max_pop = out["order"], out["rho_max"]
        self.truncation_bound_pop, self.truncation_bound_pop_op = out["truncation_bound"], out["truncation_bound_op"]
        self.quadrature["pop"] = out["quadrature"]
        self.class_populations = [(self.U_pop, self.V_pop, float(np.mean(1.0 / self.sigma_t)))]

    @cached_property
    def flow(self) -> ClosedFormFlow:
        """The closed-form gradient flow of ``U, V`` and the held-out ``U_pop, V_pop`` (docs/theory.md §3)."""
        return ClosedFormFlow(self.U, self.V, self.U_pop, self.V_pop, delta_t=self.delta_t,
                              inv_sigma_t=float(np.mean(1.0 / self.sigma_t)), noise_trace=self.noise_trace,
                              weight_decay=self.model.weight_decay, model=self.model, source=self.SOURCE,
                              size=self.size)


def real_features(model, train_rows, test_rows, seed=0, noise=None, order=None, **kwargs) -> RealFeatures:
    """The true random-features model trained on ``train_rows`` with held-out ``test_rows`` as its population.

    Parameters
    ----------
    model : RFModel
        ``ψ_p``, t, activation, m and weight decay are used; n = round(ψ_n d) must equal the number of training
        rows (d = their number of columns). ``model.data`` is not used: the rows are the data.
    train_rows, test_rows : array_like, shapes (n, d) and (n_test, d)
        Normalised data rows (e.g. ``DataMatrix.rows[split.train]``), rows = samples. Disjointness is the
        caller's business (:meth:`rfdiff.data.DataMatrix.split` guarantees it).
    seed : int, Generator or None
        W is the first draw of ``default_rng(seed)`` (as in every simulator); the frozen draws of a finite m
        come from ``noise_rng(seed)``.
    noise, order, **kwargs
        As in :func:`rfdiff.simulate.random_features` (``noise`` is deprecated there too: the training noise is
        the model's m, exact averages for m = ∞, m frozen draws otherwise; ``tol``, ``quad_tol``, ``max_order``,
        ``backend``, ``interpolate``, ``feature_seed``: W from ``default_rng(feature_seed)``); the held-out
        average is always exact in the noise.

    Returns
    -------
    RealFeatures
        ``loss_curves(taus)`` gives the exact gradient-flow curves of this finite model; the score error
        uses the Gaussian constant (:data:`SCORE_CONSTANT`, module docstring).

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> rows = np.random.default_rng(0).standard_normal((60, 10))
    >>> rf = real_features(rd.RFModel(psi_p=4, psi_n=2, t=0.1), rows[:20], rows[20:], seed=1)
    >>> rf.n, rf.n_test, rf.p
    (20, 40, 40)
    """
    return RealFeatures(model, train_rows, test_rows, seed=seed, noise=noise, order=order, **kwargs)
