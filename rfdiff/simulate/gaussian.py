"""Finite-size Gaussian-equivalent matrices of the random-features score model (docs/theory.md §2–3, §5).

The simulator samples the surrogate of docs/theory.md §2 at a finite dimension ``d`` and evaluates, exactly
and by dense linear algebra, everything the theory predicts in the limit: the spectrum of ``U``, the
Stieltjes transforms ``q`` and ``g_W`` (§4), the two-point quantity ``T(z1, z2)`` (§5) and the
closed-form gradient-flow loss curves (§3). It is built from the same :func:`rfdiff.structure.structure` as
the theory — one path for every data law, a single Gaussian being one class — and never imports the theory
modules (the solvers); tests compare the two.
"""
from __future__ import annotations

import math
from functools import cached_property

import numpy as np

from .._threads import blas_threads
from ..structure import structure
from ._flow import ClosedFormFlow, FlowMethods
from ._sampling import FiniteSize, draw_problem, problem_sizes

__all__ = ["GaussianEquivalent", "gaussian_equivalent"]


class GaussianEquivalent(FlowMethods):
    """One finite-size sample of the Gaussian-equivalent matrices ``U``, ``V``, ``U_pop`` (docs/theory.md §2).

    Parameters
    ----------
    model : RFModel
        Model description; ``p = round(ψ_p d)``, ``n = round(ψ_n d)``.
    d : int
        Data dimension (≥ 1).
    seed : int, numpy.random.Generator or None
        Source of all randomness (``numpy.random.default_rng(seed)``). ``W`` and ``X`` are drawn first,
        by the convention shared with every simulator (``rfdiff.simulate._sampling.sample_problem``:
        the same seed gives the same W and X as the true-random-features simulator), then ``Ω``.
    include_mean : bool
        Keep the rank-one term ``μ0² 1 1ᵀ`` in ``U`` and ``U_pop`` (default True).

    With ``model.m`` finite, each training point is seen with m frozen noise draws (docs/theory.md §10):
    the feature of draw k of point ν is ``φ_νk = g_ν + h_νk`` with the shared part ``g_ν`` (the column of
    G below) and the per-draw part ``h_νk = b W ξ_νk/√d + s η_νk`` (ξ, η i.i.d. N(0, 1), drawn after Ω);
    ``U = (1/N) Σ φ φᵀ``, ``V = (1/N) Σ φ ξᵀ`` over the N = nm pairs, and the flow's train loss starts at
    ``(1/(N d)) Σ ‖ξ‖²``. ``model.weight_decay`` is passed to the flow (docs/theory.md §11).

    Attributes
    ----------
    d, p, n : int
        Sizes.
    structure : Structure
        :func:`rfdiff.structure.structure` of the model: the classes, their proportions and constants.
    class_coefficients : tuple of GECoefficients
        The constants of each class; ``coefficients`` is the only one for single-Gaussian data (None for
        mixtures).
    class_sigma : ndarray, shape (C, d)
        Eigenvalues of each class's diagonal covariance (``model.data.class_eigenvalues(d)``); ``sigma`` is the
        only row for single-Gaussian data.
    W : ndarray, shape (p, d)
        Frozen features, i.i.d. N(0, 1).
    X, labels, centroids : ndarray
        Training data (d × n, class blocks ``μ_c + Σ_c^{1/2} Z``), the class of each column and the centroids
        (:func:`rfdiff.simulate._sampling.draw_problem`).
    Omega : ndarray, shape (p, n)
        Gaussian-equivalent non-linear part, i.i.d. N(0, 1).
    kappa : float
        ``κ = 2 Δ_t / (p/d)`` (finite ratio): a mode λ of U relaxes as ``e^{−κλτ}``.

    Notes
    -----
    docs/theory.md §2, with ``K = W Wᵀ/d``:

    * ``U = G Gᵀ/n + b² K + s² I_p``, ``G = e^{-t} μ1 W X/√d + v Ω (+ μ0)`` (m = ∞), each class with its own
      constants and weighted by its share of the points;
    * ``V = b W/√d`` (m = ∞; also the population ``V_pop`` for every m);
    * ``U_pop = μ1² W Σ_t Wᵀ/d + (v² + s²) I_p (+ μ0² 1 1ᵀ)``, ``Σ_t = e^{-2t} Σ + Δ_t I`` (π-weighted over
      classes, each with its centroid's rank-one term).

    Σ is taken diagonal: the law of W is rotation invariant, so this loses no generality. ``U``, ``K``,
    ``U_pop`` and the eigendecomposition are computed on first use and cached; memory is O(p²)
    (a few p×p float64 matrices: p = 3000 needs ~0.5 GB).
    """

    def __init__(self, model, d: int, seed=0, include_mean: bool = True, *, feature_seed=None):
        self.p, self.n = problem_sizes(model, d)           # validates d
        self.model = model
        self.d = int(d)
        self.size = FiniteSize(self.d, self.p, self.n)
        self.include_mean = bool(include_mean)
        self.structure = structure(model)
        self.mixture = self.structure.mixture
        self.class_coefficients = tuple(part.coefficients for part in self.structure.classes)
        #: single-Gaussian constants (None for mixtures: see ``class_coefficients``)
        self.coefficients = None if self.mixture else self.class_coefficients[0]
        self.delta_t = float(model.delta_t)
        rng = np.random.default_rng(seed)
        self.W, self.X, self.labels, self.centroids = draw_problem(model, self.d, rng, feature_seed=feature_seed)
        self.class_sigma = np.asarray(model.data.class_eigenvalues(self.d), dtype=np.float64)
        #: eigenvalues of Σ (single-Gaussian data; None for mixtures)
        self.sigma = None if self.mixture else self.class_sigma[0]
        self.kappa = 2.0 * self.delta_t * self.d / self.p
        self.Omega = rng.standard_normal((self.p, self.n))
        self.m = model.m
        self.weight_decay = float(model.weight_decay)
        # seed of the m frozen draws (not drawn for m = ∞, so W, X, Ω and U are unchanged there)
        self._draw_seed = None if math.isinf(self.m) else int(rng.integers(2 ** 63))

    def __repr__(self):
        return (f"GaussianEquivalent(d={self.d}, p={self.p}, n={self.n}, t={self.model.t}, "
                f"activation={self.model.activation.name!r}, include_mean={self.include_mean})")

    # ---------------------------------------------------------------- matrices (docs/theory.md §2, §10, §12)

    @cached_property
    def K(self) -> np.ndarray:
        """``K = W Wᵀ/d`` (p×p)."""
        return self.W @ self.W.T / self.d

    def _classes(self):
        """Per class of the structure (one for single-Gaussian data): its column indices and constants."""
        return [(np.flatnonzero(self.labels == k), part.coefficients)
                for k, part in enumerate(self.structure.classes)]

    @cached_property
    def _shared(self) -> np.ndarray:
        """Shared parts ``G`` (p×n) of the training features, class by class (docs/theory.md §2, §12):
        ``e^{-t} μ1_c W x_ν/√d + v_c ω_ν (+ μ0_c)`` for ν in class c (x_ν includes the centroid)."""
        G = np.empty((self.p, self.n))
        for cols, c in self._classes():
            G[:, cols] = (math.exp(-self.model.t) * c.mu1 / math.sqrt(self.d)) * (self.W @ self.X[:, cols])
            G[:, cols] += math.sqrt(c.v2) * self.Omega[:, cols]
            if self.include_mean:
                G[:, cols] += c.mu0
        return G

    @cached_property
    def _per_class_train(self):
        """Per class c: ``(U_c, V_c, Tr S_c/d, n_c)`` on its training points.

        m = ∞: ``U_c = G_c G_cᵀ/n_c + b_c² K + s_c² I``, ``V_c = b_c W/√d``. m draws (docs/theory.md §10): the
        features ``G_ν + b_c W ξ/√d + s_c η`` averaged over the n_c·m pairs, with ``V_c`` their correlation with
        ξ and ``Tr S_c/d`` the mean ``‖ξ‖²/d``."""
        with blas_threads(self.p * self.p * self.n):       # the products G Gᵀ (or F Fᵀ per draw)
            return self._train_parts()

    def _train_parts(self):
        """The parts of :attr:`_per_class_train`, computed."""
        G = self._shared
        if self._draw_seed is None:
            out = []
            for cols, c in self._classes():
                Uc = G[:, cols] @ G[:, cols].T / max(cols.size, 1)
                Uc += c.b ** 2 * self.K
                Uc[np.diag_indices(self.p)] += c.s2
                out.append((Uc, (c.b / math.sqrt(self.d)) * self.W, 1.0, cols.size))
            return out
        rng = np.random.default_rng(self._draw_seed)
        acc = [[np.zeros((self.p, self.p)), np.zeros((self.p, self.d)), 0.0] for _ in self.class_coefficients]
        for _ in range(int(self.m)):
            Xi = rng.standard_normal((self.d, self.n))
            Eta = rng.standard_normal((self.p, self.n))
            for k, (cols, c) in enumerate(self._classes()):
                F = G[:, cols] + (c.b / math.sqrt(self.d)) * (self.W @ Xi[:, cols])
                F += math.sqrt(c.s2) * Eta[:, cols]
                acc[k][0] += F @ F.T
                acc[k][1] += F @ Xi[:, cols].T
                acc[k][2] += float(np.einsum("ij,ij->", Xi[:, cols], Xi[:, cols]))
        out = []
        for (cols, _), (Uc, Vc, Sc) in zip(self._classes(), acc):
            N = max(cols.size, 1) * int(self.m)
            out.append((Uc / N, Vc / N, Sc / (N * self.d), cols.size))
        return out

    @cached_property
    def _train(self):
        """``(U, V, Tr S/d)`` of the whole training set: the class parts weighted by ``n_c/n``."""
        parts = self._per_class_train
        return tuple(sum(part[i] * (part[3] / self.n) for part in parts) for i in range(3))

    @cached_property
    def class_populations(self):
        """Per class c: ``(U_pop,c, V_pop,c, Tr Σ_t,c^{-1}/d)`` with
        ``U_pop,c = μ1_c² W Σ_t,c Wᵀ/d + (v_c² + s_c²) I + m_c m_cᵀ``, ``m_c = μ0_c 1 + e^{-t} μ1_c W μ_c/√d``
        (μ0_c only with ``include_mean``) and ``V_pop,c = b_c W/√d`` (docs/theory.md §2, §12)."""
        out = []
        for k, c in enumerate(self.class_coefficients):
            sigma_t = c.e2t * self.class_sigma[k] + self.delta_t
            Ws = self.W * np.sqrt(sigma_t)
            P = (c.mu1 ** 2 / self.d) * (Ws @ Ws.T)
            P[np.diag_indices(self.p)] += c.v2 + c.s2
            mean = (math.exp(-self.model.t) * c.mu1 / math.sqrt(self.d)) * (self.W @ self.centroids[:, k])
            if self.include_mean:
                mean = mean + c.mu0
            P += np.outer(mean, mean)
            out.append((P, (c.b / math.sqrt(self.d)) * self.W, float(np.mean(1.0 / sigma_t))))
        return out

    def class_curves(self, taus) -> tuple:
        """Per-class curves (mixture data): test loss and score error on fresh points of class c, train loss
        on the training points of class c, all for the read-out trained on the whole set (docs/theory.md §12).

        Returns
        -------
        tuple of LossCurves, one per class (:meth:`ClosedFormFlow.population_curves`).
        """
        if not self.mixture:
            raise ValueError("model.data is not a GaussianMixture: per-class curves need mixture data")
        parts = [dict(U_pop=P, V_pop=Vp, inv_sigma_t=inv, U_train=Uc, V_train=Vc, noise_trace=Sc)
                 for (P, Vp, inv), (Uc, Vc, Sc, _) in zip(self.class_populations, self._per_class_train)]
        return self.flow.population_curves(taus, parts)

    @property
    def U(self) -> np.ndarray:
        """Train feature covariance: ``U = G Gᵀ/n + b² K + s² I_p`` with the mean in G for m = ∞
        (docs/theory.md §2), ``(1/N) Σ φ_νk φ_νkᵀ`` over the m frozen draws otherwise (§10)."""
        return self._train[0]

    @property
    def V(self) -> np.ndarray:
        """Feature–noise correlation: ``b W/√d`` for m = ∞ (docs/theory.md §2), ``(1/N) Σ φ_νk ξ_νkᵀ`` otherwise."""
        return self._train[1]

    @cached_property
    def sigma_t(self) -> np.ndarray:
        """Eigenvalues of ``Σ_t = e^{-2t} Σ + Δ_t I`` (single-Gaussian data)."""
        return self.coefficients.e2t * self.sigma + self.delta_t

    @cached_property
    def U_pop(self) -> np.ndarray:
        """Population covariance ``Σ_c π_c U_pop,c`` (:attr:`class_populations`; one class: ``μ1² W Σ_t Wᵀ/d +
        (v² + s²) I_p (+ μ0² 1 1ᵀ)``, docs/theory.md §2)."""
        return sum(w * part[0] for w, part in zip(self.model.data.class_weights, self.class_populations))

    # ---------------------------------------------------------------- spectral data

    @cached_property
    def flow(self) -> ClosedFormFlow:
        """The closed-form gradient flow of these matrices (the population feature–noise correlation of the
        surrogate is ``V_pop = Σ_c π_c b_c W/√d``)."""
        weights = self.model.data.class_weights
        V_pop = sum(w * part[1] for w, part in zip(weights, self.class_populations))
        inv = float(sum(w * part[2] for w, part in zip(weights, self.class_populations)))
        return ClosedFormFlow(self.U, self.V, self.U_pop, V_pop, delta_t=self.delta_t,
                              inv_sigma_t=inv, weight_decay=self.weight_decay,
                              noise_trace=self._train[2], model=self.model, source="gaussian_equivalent",
                              size=self.size)

    @cached_property
    def _QtW(self) -> np.ndarray:
        """``Qᵀ W/√d`` (p×d): rows are the eigenvectors of U seen by W."""
        return self.flow.eigh[1].T @ self.W / math.sqrt(self.d)

    @cached_property
    def _k_diag(self) -> np.ndarray:
        """``(Qᵀ K Q)_ii``."""
        return np.einsum("ij,ij->i", self._QtW, self._QtW)

    @cached_property
    def _H(self) -> np.ndarray:
        """``(QᵀKQ) ∘ (QᵀU_popQ)`` (Hadamard product), the kernel of every two-point trace."""
        Q = self.flow.eigh[1]
        MK = self._QtW @ self._QtW.T
        MP = Q.T @ (self.U_pop @ Q)
        return MK * MP

    def mu_w_weights(self):
        """Atoms of the measure ``μ_W = (1/d) Tr[K δ(U − ·)]`` (docs/theory.md §3).

        Returns
        -------
        lambdas : ndarray, shape (p,)
            Eigenvalues ``λ_i`` of U, ascending.
        weights : ndarray, shape (p,)
            ``(QᵀKQ)_ii / d`` with ``U = Q diag(λ) Qᵀ``; they sum to ``Tr K/d ≈ ψ_p``.
        """
        return self.eigenvalues(), self._k_diag / self.d

    def stieltjes(self, z):
        """Empirical Stieltjes transforms ``q(z) = (1/p) Tr (U − z)^{-1}`` and ``g_W(z) = (1/d) Tr[K (U − z)^{-1}]``.

        Parameters
        ----------
        z : array_like of complex
            Points off the spectrum (any shape).

        Returns
        -------
        q, g_w : ndarray of complex, shape of ``z``

        Notes
        -----
        With ``U = Q diag(λ) Qᵀ``: ``q = (1/p) Σ_i 1/(λ_i − z)`` and
        ``g_W = (1/d) Σ_i (QᵀKQ)_ii/(λ_i − z)`` (docs/theory.md §4).
        """
        z = np.asarray(z, dtype=np.complex128)
        lam, w = self.mu_w_weights()
        zf = z.ravel()
        q = np.empty(zf.shape, np.complex128)
        g = np.empty(zf.shape, np.complex128)
        for s in _chunks(zf.size, self.p):
            r = 1.0 / (lam[None, :] - zf[s, None])
            q[s] = r.mean(axis=1)
            g[s] = r @ w
        return q.reshape(z.shape), g.reshape(z.shape)

    def two_point(self, z1, z2):
        """Empirical two-point quantity ``T(z1, z2) = (1/d) Tr[K R(z1) U_pop R(z2)]``, ``R(z) = (U − z)^{-1}``.

        Parameters
        ----------
        z1, z2 : array_like of complex, same shape
            Points off the spectrum of U.

        Returns
        -------
        ndarray of complex, shape of ``z1``

        Notes
        -----
        docs/theory.md §5. With ``U = Q diag(λ) Qᵀ`` and ``H = (QᵀKQ) ∘ (QᵀU_popQ)``,
        ``T = (1/d) Σ_ij H_ij / ((λ_i − z1)(λ_j − z2))``.
        """
        z1 = np.asarray(z1, dtype=np.complex128)
        z2 = np.asarray(z2, dtype=np.complex128)
        if z1.shape != z2.shape:
            raise ValueError(f"z1 and z2 must have the same shape, got {z1.shape} and {z2.shape}")
        lam = self.eigenvalues()
        H = self._H
        a, b = z1.ravel(), z2.ravel()
        out = np.empty(a.shape, np.complex128)
        for s in _chunks(a.size, self.p):
            r1 = 1.0 / (lam[None, :] - a[s, None])
            r2 = 1.0 / (lam[None, :] - b[s, None])
            out[s] = np.einsum("ki,ki->k", r1 @ H, r2) / self.d
        return out.reshape(z1.shape)


def _chunks(size: int, p: int, budget: int = 2 ** 22):
    """Slices of ``range(size)`` whose (chunk × p) complex work arrays stay under ``budget`` entries."""
    step = max(1, budget // max(p, 1))
    return [slice(i, min(i + step, size)) for i in range(0, size, step)]


def gaussian_equivalent(model, d: int, seed=0, include_mean: bool = True, *, feature_seed=None) -> GaussianEquivalent:
    """Sample the finite-size Gaussian-equivalent matrices of ``model`` at dimension ``d``.

    Parameters
    ----------
    model : RFModel
        Its structure, data law, m and weight decay define the sample.
    d : int
        Data dimension (p and n follow from ψ_p and ψ_n, rounded).
    seed : int, numpy.random.Generator or None
        Passed to ``numpy.random.default_rng``.
    include_mean : bool
        Keep the mean μ0 on every feature column (docs/theory.md §2).
    feature_seed : int, SeedSequence or None
        A seed of its own for W (the training data stay those of ``seed``; :func:`rfdiff.simulate.sample_problem`).

    Returns
    -------
    GaussianEquivalent

    Examples
    --------
    >>> import rfdiff as rd
    >>> ge = rd.simulate.gaussian_equivalent(rd.RFModel(psi_p=4, psi_n=2, t=0.1), d=50, seed=1)
    >>> c = ge.loss_curves([0.0, 10.0, float("inf")])
    >>> float(c.train[0]), float(c.test[0])
    (1.0, 1.0)
    """
    return GaussianEquivalent(model, d, seed=seed, include_mean=include_mean, feature_seed=feature_seed)
