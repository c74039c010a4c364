"""Exact train, test and score-error curves along gradient flow (docs/theory.md §3, §5, §6, §12).

The curves are contour integrals of the one-point transform ``g_W`` (train loss, the linear part of the
test loss) and of the two-point quantity ``T_VV(z1, z2) = lim (1/d) Tr[Vᵀ R(z1) U_pop R(z2) V]`` (the
quadratic part of the test loss; :mod:`rfdiff.twopoint`). :class:`LearningDynamics` solves the fixed point
once on the contour nodes (:mod:`rfdiff.contour`) and then evaluates any number of training times τ by a few
matrix products; the curves of each class of a Gaussian mixture are views of the same solve
(:class:`ClassDynamics`). :func:`loss_curves` is the one-shot wrapper.

Every ellipse's node count is doubled until the rule with half the nodes agrees to ``tol`` on probe
functionals; every evaluation reports that N-versus-N/2 difference.
"""
from __future__ import annotations

import dataclasses
import functools
import math
import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import NamedTuple

import numba as nb
import numpy as np

from ._threads import blas_threads
from ._validate import integer, positive
from ._validate import taus as check_taus
from .contour import ellipses
from .results import ConvergenceWarning, LossCurves, Result
from .settings import tau_window
from .spectral import STATUS_FALLBACK, support
from .structure import Symbol, structure
from .spectral.onepoint import solve_verified
from .twopoint import NodeSolution, node_pair_traces

__all__ = ["LearningDynamics", "ClassDynamics", "LossDecomposition", "loss_curves", "CONTOUR_TOL",
           "CONTOUR_START_NODES", "CONTOUR_MAX_NODES", "CONTOUR_PROBES"]

#: Target absolute accuracy of the losses: every ellipse's node count is doubled until the rule with half
#: the nodes agrees to this on probe functionals (:class:`LearningDynamics`).
CONTOUR_TOL = 1e-10
#: Nodes of an ellipse in the first round, and the cap after which the contour is reported unconverged.
CONTOUR_START_NODES, CONTOUR_MAX_NODES = 16, 2048
#: Probe times of an ellipse, in units of its own relaxation time ``1/(κ e^c)`` (plus τ = ∞).
CONTOUR_PROBES = (0.1, 1.0, 10.0)


@dataclass(frozen=True)
class LossDecomposition(Result):
    """Loss changes carried by each group of bulks of U.

    Attributes
    ----------
    tau : ndarray, shape (m,)
    intervals : list of list of (lo, hi)
        The bulks of each group (bulks closer than their widths in log λ share a group).
    mass_w : ndarray, shape (g,)
        μ_W mass of each group (they add up to ψ_p).
    train, test, score_error : ndarray, shape (g, m)
        Change of ``L_train``, ``L_test`` and ``E_score`` from their τ = 0 values carried by each group.
        Summed over groups they give ``L − 1`` and ``E_score − ⟨1/Σ_t⟩``.

    Notes
    -----
    With ``P_g`` the spectral projector of U on group g, the train change is
    ``(1/d) Tr[Vᵀ ψ_τ(U) P_g V]``; the test change is ``(1/d) Tr[Vᵀ f_τ(U) P_g U_pop f_τ(U) V] −
    2 (1/d) Tr[V_popᵀ f_τ(U) P_g V]`` (filters of :class:`LearningDynamics`; ``V = V_pop = b W/√d`` for exact
    noise averages): each cross term between two groups is shared between them, so the changes add up
    exactly. The score-error change is the test change divided by Δ_t.
    """

    tau: np.ndarray
    intervals: list
    mass_w: np.ndarray
    train: np.ndarray
    test: np.ndarray
    score_error: np.ndarray


class _Form(NamedTuple):
    """The traces of one test-type loss on a set of contour nodes, laid out for :func:`_test_shares`: only the
    columns of the nodes with ``Im z ≥ 0`` (``keep``, positions within the set) are kept, with their weights
    ``mult`` (2, or 1 on the real axis)."""

    keep: np.ndarray
    mult: np.ndarray
    cross: np.ndarray
    cols: np.ndarray


def _form(nodes, mult, cross, up):
    """The :class:`_Form` of a test-type loss restricted to ``nodes``, from its ``cross`` (all nodes) and the rows
    ``up`` of its symmetric ``TVV`` at the nodes with ``Im z ≥ 0`` (all columns); ``mult`` are the conjugation
    weights of all nodes (:func:`_conjugate_mult`), nonzero at those nodes."""
    upper = np.flatnonzero(mult)
    row = np.full(mult.size, -1)
    row[upper] = np.arange(upper.size)
    keep = np.flatnonzero(mult[nodes])
    cols = np.ascontiguousarray(up[np.ix_(row[nodes[keep]], nodes)].T)     # TVV[nodes, nodes[keep]]
    return _Form(keep, mult[nodes][keep], cross[nodes][keep], cols)


def _forms(mult, cross, up, coarse):
    """The :class:`_Form` of a test-type loss on all nodes and on the half rule's, ``coarse`` (:func:`_form`)."""
    return tuple(_form(nodes, mult, cross, up) for nodes in (np.arange(mult.size), coarse))


def _test_shares(fh, form):
    """Per node j, the share ``fh_j Σ_k TVV_jk fh_k + 2 fh_j cross_j`` of the change of a test-type loss from its
    τ = 0 value, with the weighted filters ``fh = f_τ(z_j) h_j`` (one row per τ, one column per node of the
    form); summed over the nodes it is ``(1/2πi)² ∮∮ f f TVV + (2/2πi) ∮ f cross`` (TVV symmetric; class
    docstring of :class:`LearningDynamics`).

    The nodes are closed under conjugation and the share of node z̄ is the conjugate of that of z, so only
    the nodes with ``Im z ≥ 0`` are computed, weighted by ``form.mult``, and the others are left 0: the real
    part of any sum over a conjugation-closed set of nodes is unchanged, at half the cost."""
    out = np.zeros(fh.shape, dtype=complex)
    out[:, form.keep] = _kept_shares(fh, form)
    return out


def _kept_shares(fh, form):
    """:func:`_test_shares` at the nodes the form keeps (``Im z ≥ 0``) only, weighted: one row per τ."""
    with blas_threads(fh.shape[0] * form.cols.size):       # (τ × nodes)·(nodes × kept nodes): one thread
        return form.mult * fh[:, form.keep] * (fh @ form.cols + 2 * form.cross)


def _test_change(fh, form):
    """The change of a test-type loss from its τ = 0 value: the real part of the sum of :func:`_test_shares`."""
    return _kept_shares(fh, form).sum(axis=1).real


def _conjugate_mult(n):
    """:func:`_test_shares`'s weights of the n trapezoid nodes of one ellipse (node ``n − j`` is the conjugate
    of node j): 1 at θ = 0 and π, 2 above the real axis, 0 below."""
    mult = np.zeros(n)
    mult[:n // 2 + 1] = 2.0
    mult[[0, n // 2]] = 1.0
    return mult


def _conjugate_index(sizes):
    """The node conjugate to each node of ellipses with ``sizes`` trapezoid nodes laid end to end (node ``n − j`` of
    an ellipse is the conjugate of its node j; nodes 0 and n/2, on the real axis, are their own)."""
    starts = np.cumsum([0] + list(sizes[:-1]))
    return np.concatenate([s + (-np.arange(n)) % n for s, n in zip(starts, sizes)])


def _interleave(even, odd):
    """The array whose even entries (along the first axis) are ``even`` and odd ones ``odd``."""
    out = np.empty((even.shape[0] + odd.shape[0],) + even.shape[1:], even.dtype)
    out[0::2], out[1::2] = even, odd
    return out


class _PairPlan(NamedTuple):
    """The pairs of nodes :func:`_upper_traces` computes and where their values go in the output (flat indices)."""

    rows: np.ndarray
    cols: np.ndarray
    target: np.ndarray
    partner: np.ndarray
    source: np.ndarray
    conj: np.ndarray


@functools.lru_cache(maxsize=64)
def _pair_plan(sizes, skip):
    """The :class:`_PairPlan` of ellipses of ``sizes`` trapezoid nodes laid end to end.

    ``T_VV`` is symmetric, ``T_VV(z1, z2) = T_VV(z2, z1)``, and real-analytic, ``T_VV(z̄1, z̄2) = conj T_VV(z1, z2)``.
    So, for upper nodes i, j (``Im z ≥ 0``), the entry at (i, j) is the one at (j, i) and the entry at (i, j̄) the
    conjugate of the one at (j, ī): only the pairs i ≤ j of upper nodes, and of upper nodes with the conjugates
    of upper nodes, are computed, each one directly at the two nodes it stands for, and its partner entry is
    filled from it. ``skip`` leaves out the pairs whose values the caller already has: ``"even"`` (one ellipse)
    those of two even nodes (the last round's nodes), ``"blocks"`` those within one ellipse.
    """
    n = sum(sizes)
    mirror = _conjugate_index(sizes)
    upper = np.flatnonzero(np.concatenate([_conjugate_mult(k) for k in sizes]))
    n_u = upper.size
    real = np.flatnonzero(mirror[upper] == upper)         # upper nodes that are their own conjugates
    cplx = np.flatnonzero(mirror[upper] != upper)
    a, b = np.triu_indices(n_u)                           # upper × upper, i ≤ j
    c1, c2 = np.triu_indices(cplx.size)                   # upper × conjugates of upper, i ≤ j
    ra = np.concatenate([a, np.repeat(real, cplx.size), cplx[c1]])
    rb = np.concatenate([b, np.tile(cplx, real.size), cplx[c2]])
    conj = np.arange(ra.size) >= a.size
    col = np.where(conj, mirror[upper[rb]], upper[rb])     # the node each pair's second point stands at
    if skip == "even":
        keep = (upper[ra] % 2 == 1) | (col % 2 == 1)
    elif skip == "blocks":
        ellipse = np.repeat(np.arange(len(sizes)), sizes)
        keep = ellipse[upper[ra]] != ellipse[col]
    else:
        keep = np.ones(ra.size, bool)
    ra, rb, col, conj = ra[keep], rb[keep], col[keep], conj[keep]
    is_cplx = np.zeros(n_u, bool)
    is_cplx[cplx] = True
    partner = ~conj | is_cplx[ra]                          # (a row on the real axis has no conjugate partner)
    pcol = np.where(conj, mirror[upper[ra]], upper[ra])[partner]
    plan = _PairPlan(upper[ra], col, ra * n + col, rb[partner] * n + pcol, np.flatnonzero(partner), conj[partner])
    for x in plan:
        x.flags.writeable = False
    return plan


def _upper_traces(st, point, sizes, symbols=None, skip=None, known=None):
    """The rows at the nodes with ``Im z ≥ 0`` (all columns) of the two-point traces ``T_VV(z_i, z_j)`` of
    ``symbols`` (:func:`rfdiff.twopoint.node_pair_traces`; default ``U_pop``) on the nodes of ellipses of ``sizes``
    trapezoid nodes, each pair computed once up to symmetry (:func:`_pair_plan`, about a quarter of the n²
    entries): one array per symbol. The pairs left out by ``skip`` are taken from ``known`` (same shape)."""
    plan = _pair_plan(tuple(sizes), skip)
    shape = (sum(k // 2 + 1 for k in sizes), sum(sizes))
    outs = []
    for _, tvv in node_pair_traces(st, point, plan.rows, plan.cols, symbols):
        out = np.empty(shape, complex) if known is None else known.copy()
        flat = out.reshape(-1)
        partner = tvv[plan.source]
        partner[plan.conj] = np.conj(partner[plan.conj])
        flat[plan.partner] = partner                       # the symmetric partners first...
        flat[plan.target] = tvv                            # ...so that every computed pair keeps its own value
        outs.append(out)
    return outs


@nb.njit(cache=True)
def _decay_filter(kt, zw, out):
    """``out[i, j] = −expm1(−kt_i zw_j)/zw_j``, the filter ``f_τ(z)`` at ``kt = κτ`` and ``zw = z + ω``, with
    ``expm1(a + ib) = expm1(a) cos b − 2 sin²(b/2) + i e^a sin b`` (numpy's formula for complex ``expm1``, accurate
    for small arguments; in one compiled pass at about 60% of numpy's cost)."""
    for i in range(kt.size):
        for j in range(zw.size):
            w = -kt[i] * zw[j]
            s = math.sin(0.5 * w.imag)
            e = complex(math.expm1(w.real) * math.cos(w.imag) - 2.0 * s * s, math.exp(w.real) * math.sin(w.imag))
            out[i, j] = -e / zw[j]


class _Refined(NamedTuple):
    """One ellipse after a round of refinement: nodes, weights, one-point solution, its status per node, traces
    (``up``: the rows of ``TVV`` at the nodes with ``Im z ≥ 0``)."""

    z: np.ndarray
    h: np.ndarray
    q: np.ndarray
    deltas: np.ndarray
    g_w: np.ndarray
    point_status: np.ndarray
    lin: np.ndarray
    cross: np.ndarray
    up: np.ndarray


class LearningDynamics:
    """Closed-form gradient-flow dynamics of the limiting model: one spectral solve, then any τ.

    Parameters
    ----------
    model : RFModel
    tol : float
        Target absolute accuracy of the losses; each ellipse's node count is doubled (from 16, up to
        ``max_nodes``) until the rule with half the nodes agrees with it to ``tol`` on probe functionals
        (train and test contributions at τ = ∞ and at three τ around the group's own timescale).
    max_nodes : int
        Cap on the nodes of one ellipse; reaching it without convergence issues a
        :class:`~rfdiff.results.ConvergenceWarning` and the curves' ``status`` becomes ``"fallback"``.

    Attributes
    ----------
    model, support, structure
    ellipses : list
        The contour, one ellipse per group of bulks (:func:`rfdiff.contour.ellipses`).
    z, h : complex ndarray
        Contour nodes and trapezoid weights, ``(1/2πi)∮ F dz ≈ Σ F(z_j) h_j``.
    g_w : complex ndarray
        ``g_W(z_j)`` (docs/theory.md §4).
    lin, cross, TVV : complex ndarray
        ``(1/d) Tr[Vᵀ R V] − const``, ``(1/d) Tr[V_popᵀ R V]`` at the nodes and
        ``(1/d) Tr[Vᵀ R(z_j) U_pop R(z_k) V]`` (docs/theory.md §10; for exact noise averages
        ``V = b W/√d``: ``lin = cross = b² g_W`` and ``TVV = b² T``).
    inv_sigma_t : float
        ``⟨1/Σ_t⟩ = lim Tr Σ_t^{-1}/d``.
    classes : tuple of ClassDynamics
        Gaussian mixtures: the curves of each class, read off this solve.
    status, message : str
        ``"fallback"`` when some contour point used the solver's edge fallback or an ellipse reached
        ``max_nodes``.

    Notes
    -----
    docs/theory.md §3, §6 and §10–11, with ``κ = 2Δ_t/ψ_p``, weight decay ω, ``f_τ(z) = (1 − e^{−κτ(z+ω)})/(z+ω)``
    and the train filter ``ψ_τ(z) = z f_τ(z)² − 2 f_τ(z)`` (``= −(1 − e^{−2κτz})/z`` when ω = 0):

    * ``L_train(τ) = 1 + (1/d) Tr[Vᵀ ψ_τ(U) V] = 1 − (1/2πi)∮ ψ_τ(z) lin(z) dz`` (the constant part of
      ``(1/d) Tr[Vᵀ R V]`` integrates to zero against the entire ψ_τ);
    * ``L_test(τ) = 1 + (1/2πi)² ∮∮ f_τ(z1) f_τ(z2) TVV(z1, z2) dz1 dz2 + (2/2πi) ∮ f_τ(z) cross(z) dz``;
    * ``E_score(τ) = (L_test(τ) − 1)/Δ_t + ⟨1/Σ_t⟩`` (docs/theory.md §1).
    """

    def __init__(self, model, *, tol=CONTOUR_TOL, max_nodes=CONTOUR_MAX_NODES):
        tol = positive("tol", tol)
        max_nodes = integer("max_nodes", max_nodes, CONTOUR_START_NODES)
        self.model = model
        self.structure = structure(model)
        self.inv_sigma_t = self.structure.inv_sigma_t
        self._delta_t = float(model.delta_t)
        self._kappa = model.kappa
        self._decay = float(model.weight_decay)
        self.support = support(model, edge_rtol=1e-8)
        self.ellipses = ellipses(self.support, self._decay)
        unconverged = []
        parts = self._adapt(tol, max_nodes, unconverged)
        self.z = np.concatenate([p.z for p in parts])
        self.h = np.concatenate([p.h for p in parts])
        self._nodes = NodeSolution(self.structure, *(np.concatenate([getattr(p, k) for p in parts])
                                                     for k in ("q", "deltas", "g_w")))
        self.g_w = self._nodes.g_w
        self.n_fallback = sum(int(np.count_nonzero(p.point_status == STATUS_FALLBACK)) for p in parts)
        messages = []
        if self.n_fallback:
            messages.append(f"{self.n_fallback} contour points used the solver's edge fallback")
        messages += unconverged
        self.status = "fallback" if messages else "ok"
        self.message = "; ".join(messages)
        self.lin = np.concatenate([p.lin for p in parts])
        self.cross = np.concatenate([p.cross for p in parts])
        self.group = np.concatenate([np.full(p.z.size, i) for i, p in enumerate(parts)])
        # nodes of the half rule: every other node of each ellipse
        starts = np.cumsum([0] + [p.z.size for p in parts[:-1]])
        self._coarse = np.concatenate([s + np.arange(0, p.z.size, 2) for s, p in zip(starts, parts)])
        self._mult = np.concatenate([_conjugate_mult(p.z.size) for p in parts])
        self._upper = np.flatnonzero(self._mult)
        self._sizes = tuple(p.z.size for p in parts)
        self._mirror = _conjugate_index(self._sizes)
        self._up = self._assemble(parts)
        self._forms = _forms(self._mult, self.cross, self._up, self._coarse)

    @cached_property
    def TVV(self) -> np.ndarray:
        """``T_VV(z_j, z_k)`` on all nodes (class docstring): the computed rows at the nodes with ``Im z ≥ 0``, the
        others their conjugates (``T_VV(z̄1, z̄2) = conj T_VV(z1, z2)``)."""
        row = np.empty(self.z.size, int)
        row[self._upper] = np.arange(self._upper.size)
        lower = np.flatnonzero(self._mult == 0)
        out = np.empty((self.z.size, self.z.size), complex)
        out[self._upper] = self._up
        out[lower] = np.conj(self._up[row[self._mirror[lower]]][:, self._mirror])
        return out

    def tau_window(self) -> tuple[float, float]:
        """Default τ range of this model: :func:`rfdiff.settings.tau_window` on the relaxation rates of U's
        extreme bulk edges, ``κ(λ + ω)`` (with weight decay ω the slowest mode still relaxes, docs/theory.md
        §11)."""
        return tau_window(self._kappa, self.support.intervals[0][0] + self._decay,
                          self.support.lambda_max + self._decay)

    # ------------------------------------------------------------------------------------ the solve

    def _node_traces(self, point, prev=None):
        """``lin``, ``cross`` at the nodes of ``point`` (the n trapezoid nodes of one ellipse) and the rows of ``TVV``
        between them at the nodes with ``Im z ≥ 0`` (class docstring; :func:`_upper_traces`).

        ``prev``, the rows of the last round (n/2 nodes), gives the pairs of even nodes, which are that round's
        nodes (the trapezoid nodes are nested).
        """
        st = self.structure
        lin = (st.shift_noise - point.kappa) + point.kappa_b ** 2 * point.g_w
        cross = st.population_coupling * point.kappa_b * point.g_w
        n = lin.size
        if prev is None:
            return lin, cross, _upper_traces(st, point, (n,))[0]
        known = np.empty((n // 2 + 1, n), complex)
        known[::2, ::2] = prev
        up = _upper_traces(st, point, (n,), skip="even", known=known)[0]
        return lin, cross, up

    def _adapt(self, tol, max_nodes, unconverged):
        """Double the nodes of every ellipse until its probe contributions agree with the half rule.

        All ellipses still refining share one solver call per round. The n/2 nodes of the last round are every
        other node of this one (bit for bit), so only the new nodes are solved and only the pairs with a new
        node traced. Returns one :class:`_Refined` per ellipse; an ellipse that reached ``max_nodes``
        unconverged is noted in ``unconverged`` and warned.
        """
        done = [None] * len(self.ellipses)
        last = [None] * len(self.ellipses)
        n = CONTOUR_START_NODES
        st = self.structure
        while True:
            todo = [i for i, d in enumerate(done) if d is None]
            if not todo:
                return done
            nodes = [self.ellipses[i].nodes(n) for i in todo]
            fresh = [z if last[i] is None else z[1::2] for i, (z, _) in zip(todo, nodes)]
            sol = solve_verified(st, np.concatenate(fresh) - st.origin, path=True)     # nodes in θ order
            start = 0
            for i, (z, h), new in zip(todo, nodes, fresh):
                sl = slice(start, start + new.size)
                start += new.size
                q, deltas, g_w, status = sol.q[sl], sol.deltas[sl], sol.g_w[sl], sol.point_status[sl]
                if last[i] is not None:
                    q, deltas, g_w, status = (_interleave(old, x) for old, x in
                                              zip((last[i].q, last[i].deltas, last[i].g_w, last[i].point_status),
                                                  (q, deltas, g_w, status)))
                point = NodeSolution(st, q, deltas, g_w)
                lin, cross, up = self._node_traces(point, None if last[i] is None else last[i].up)
                last[i] = _Refined(z, h, q, deltas, g_w, status, lin, cross, up)
                probe = np.append(CONTOUR_PROBES, np.inf) / (self._kappa * math.exp(self.ellipses[i].c))
                forms = _forms(_conjugate_mult(n), cross, up, np.arange(0, n, 2))
                f, psi = self._weights(probe, z)
                fine = self._evaluate((f, psi), h, lin, forms[0])
                coarse = self._evaluate((f[:, ::2], psi[:, ::2]), 2 * h[::2], lin[::2], forms[1])
                err = max(np.max(np.abs(a - b)) for a, b in zip(fine[:2], coarse[:2]))
                if err <= tol or 2 * n > max_nodes:
                    if err > tol:
                        note = (f"contour around {self.ellipses[i].intervals} not converged with {n} nodes "
                                f"(N vs N/2 difference {err:.2e} > tol {tol:.1e})")
                        unconverged.append(note)
                        warnings.warn(note, ConvergenceWarning, stacklevel=4)
                    done[i] = last[i]
            n *= 2

    def _assemble(self, parts):
        """The rows of ``TVV`` at the nodes with ``Im z ≥ 0``, all columns: each ellipse's own block is the one its
        refinement computed; only the pairs between different ellipses are new."""
        if len(parts) == 1:
            return parts[0].up
        known = np.empty((self._upper.size, self.z.size), complex)
        r0 = c0 = 0
        for p in parts:
            known[r0:r0 + p.up.shape[0], c0:c0 + p.z.size] = p.up
            r0, c0 = r0 + p.up.shape[0], c0 + p.z.size
        return _upper_traces(self.structure, self._nodes, [p.z.size for p in parts], skip="blocks", known=known)[0]

    # ------------------------------------------------------------------------------------ evaluation

    def _filter(self, tau, z):
        """``f_τ(z)`` for all (τ, z) (class docstring); at τ = ∞ ``f = 1/(z+ω)`` (Re(z + ω) > 0 on the contour)."""
        zw = np.ascontiguousarray(z + self._decay, dtype=complex)
        inf = np.isinf(tau)
        f = np.empty((tau.size, zw.size), complex)
        f[inf] = 1.0 / zw
        if not inf.all():
            finite = np.empty((tau.size - int(inf.sum()), zw.size), complex)
            _decay_filter(np.ascontiguousarray(self._kappa * tau[~inf], dtype=float), zw, finite)
            f[~inf] = finite
        return f

    def _weights(self, tau, z):
        """``f_τ(z)`` (:meth:`_filter`) and the train filter ``ψ_τ(z) = (z f_τ(z) − 2) f_τ(z)`` for all (τ, z)."""
        f = self._filter(tau, z)
        return f, (z * f - 2.0) * f

    def _evaluate(self, weights, h, lin, form, by_node=False):
        """``(train − 1, test − 1)`` and the score-error change, or their per-node shares, on a set of nodes: their
        filters ``weights = (f, ψ)`` (:meth:`_weights`), trapezoid weights ``h``, traces ``lin`` and ``form``."""
        f, psi = weights
        train = -(psi * h * lin)
        if by_node:
            test = _test_shares(f * h, form)
            return train, test, test / self._delta_t
        test = _test_change(f * h, form)
        return train.sum(axis=1).real, test, test / self._delta_t

    def _slope(self, taus, form):
        """``dL/dτ`` of a test-type loss laid out as ``form`` (:class:`_Form`): ``2 (Q[f_τ, ∂_τ f_τ] + (1/2πi)∮ ∂_τ f_τ cross
        dz)`` with ``∂_τ f_τ(z) = κ e^{−κτ(z+ω)}`` and ``Q[φ, χ] = (1/2πi)² ∮∮ φ(z1) χ(z2) TVV(z1, z2)``; 0 at τ = ∞."""
        tau = check_taus(taus)
        f = self._filter(tau, self.z)
        finite = np.where(np.isinf(tau), 0.0, tau)[:, None]
        df = np.where(np.isinf(tau)[:, None], 0.0,
                      self._kappa * np.exp(-self._kappa * finite * (self.z + self._decay)))
        fh, dfh = f * self.h, df * self.h
        k = form.keep                  # conjugate nodes give conjugate terms (_test_shares)
        with blas_threads(dfh.shape[0] * form.cols.size):
            slope = ((dfh @ form.cols) * fh[:, k] + dfh[:, k] * form.cross) @ form.mult
        return 2 * slope.real

    def _split(self, nodes):
        """Per-node shares summed over each group of bulks (shape ``(groups, τ)``)."""
        return np.array([nodes[:, self.group == i].sum(axis=1).real for i in range(len(self.ellipses))])

    def _group_masses(self):
        return np.array([(-(self.h * self.g_w)[self.group == i]).sum().real for i in range(len(self.ellipses))])

    def __call__(self, taus) -> LossCurves:
        """Train, test and score-error curves at the training times ``taus`` (``np.inf`` allowed)."""
        tau = check_taus(taus)
        f, psi = self._weights(tau, self.z)
        dtrain, dtest, dscore = self._evaluate((f, psi), self.h, self.lin, self._forms[0])
        k = self._coarse
        ctrain, ctest, _ = self._evaluate((f[:, k], psi[:, k]), 2 * self.h[k], self.lin[k], self._forms[1])
        quad_error = np.maximum(np.abs(dtrain - ctrain), np.abs(dtest - ctest))
        train, test = 1.0 + dtrain, 1.0 + dtest
        return LossCurves(tau, train, test, dscore + self.inv_sigma_t, test - train, quad_error=quad_error,
                          nodes=int(self.z.size), n_fallback=int(self.n_fallback), source="theory",
                          model=self.model, status=self.status, message=self.message)

    def test_loss(self, taus) -> np.ndarray:
        """``L_test`` at ``taus``: the ``test`` of :meth:`__call__`, the same numbers without the other curves and
        the error estimate (e.g. for root finding)."""
        return 1.0 + _test_change(self._filter(check_taus(taus), self.z) * self.h, self._forms[0])

    def test_derivative(self, taus) -> np.ndarray:
        """``dL_test/dτ`` at ``taus`` (exact derivative of the contour formula; 0 at τ = ∞).

        Notes
        -----
        ``dL_test/dτ = 2 (Q[f_τ, ∂_τ f_τ] + (1/2πi)∮ ∂_τ f_τ cross dz)`` with ``∂_τ f_τ(z) = κ e^{−κτ(z+ω)}``
        and the symmetric bilinear form ``Q[φ, χ] = (1/2πi)² ∮∮ φ(z1) χ(z2) TVV(z1, z2) dz1 dz2``.
        """
        return self._slope(taus, self._forms[0])

    def decompose(self, taus) -> LossDecomposition:
        """Loss changes carried by each group of bulks of U as functions of τ (see :class:`LossDecomposition`)."""
        tau = check_taus(taus)
        parts = self._evaluate(self._weights(tau, self.z), self.h, self.lin, self._forms[0], by_node=True)
        return LossDecomposition(tau, [list(e.intervals) for e in self.ellipses], self._group_masses(),
                                 *(self._split(p) for p in parts))

    # ------------------------------------------------------------------------------------ classes

    @cached_property
    def classes(self) -> tuple:
        """The :class:`ClassDynamics` of each class of a Gaussian mixture (docs/theory.md §12).

        ``T_VV`` is linear in the population symbol: the traces of three basis symbols (σ-part, W-part,
        identity) give every class's ``T_VV,c`` and, for m = ∞, the train pair of ``U_c = (1/N_c) Y_c Y_cᵀ + H_c``
        (component c holds the class's columns scaled by √π_c).

        Raises
        ------
        ValueError
            If the model's data is not a :class:`rfdiff.GaussianMixture`.
        """
        st, pt, up = self.structure, self._nodes, self._upper
        if not st.mixture:
            raise ValueError("model.data is not a GaussianMixture: per-class curves need mixture data")
        # the rows of the nodes with Im z ≥ 0 are all the evaluation needs (_test_shares)
        basis = _upper_traces(st, pt, self._sizes, (Symbol(1.0, 0.0, 0.0), Symbol(0.0, 1.0, 0.0),
                                                     Symbol(0.0, 0.0, 1.0)))

        def tvv(X):
            return X.alpha * basis[0] + X.beta * basis[1] + X.x0 * basis[2]

        out = []
        for i, part in enumerate(st.classes):
            train_vv = None
            if math.isinf(self.model.m):
                D = pt.u[i][up, None] * pt.u[i][None, :]
                train_vv = D * tvv(st.components[i].cov) / part.weight + tvv(part.noise)
            out.append(ClassDynamics(self, i, part.coupling * pt.kappa_b * pt.g_w, tvv(part.population), train_vv))
        return tuple(out)

    def per_class(self, taus) -> tuple:
        """The curves of every class of a Gaussian mixture: ``tuple(c(taus) for c in self.classes)``."""
        return tuple(c(taus) for c in self.classes)


class ClassDynamics:
    """The curves of one class of a Gaussian mixture, read off a solved :class:`LearningDynamics` (a view: no
    new solve; docs/theory.md §12).

    Calling it gives the class's :class:`~rfdiff.results.LossCurves`: ``test`` is the loss on fresh points of
    class c, ``L_test,c = 1 + (1/d) Tr[Vᵀ f_τ U_pop,c f_τ V] − (2/d) Tr[V_pop,cᵀ f_τ V]`` with ``U_pop,c = P_c``
    and ``V_pop,c = b_c W/√d``; ``score_error = (L_test,c − 1)/Δ_t + ⟨1/Σ_t,c⟩`` is the error against class c's
    score ``−Σ_t,c^{-1} y``; ``train`` is the loss on the training points of class c, U replaced by
    ``U_c = (1/N_c) Y_c Y_cᵀ + H_c`` (two-point trace ``u_c(z1) u_c(z2) T[C_c] + T[H_c]``, ``u_c = 1/(1 + δ_c)``) and
    V by ``b_c W/√d``; NaN with finite m (not derived). ``Σ_c π_c`` of the class curves gives the overall curves.

    Attributes
    ----------
    index : int
    weight : float
        The class proportion π_c.
    """

    def __init__(self, dynamics, index, cross, TVV, train_vv):
        """``TVV`` and ``train_vv``: the rows at the nodes with ``Im z ≥ 0`` (``dynamics._upper``)."""
        self._dyn = dynamics
        self.index = index
        self.weight = dynamics.structure.classes[index].weight
        self._inv = dynamics.structure.classes[index].inv_sigma_t
        self._test = _forms(dynamics._mult, cross, TVV, dynamics._coarse)
        self._train = None if train_vv is None else _forms(dynamics._mult, cross, train_vv, dynamics._coarse)

    def tau_window(self) -> tuple[float, float]:
        """The default τ range of the model (:meth:`LearningDynamics.tau_window`)."""
        return self._dyn.tau_window()

    def __call__(self, taus) -> LossCurves:
        """Train, test and score-error curves of this class at ``taus`` (class docstring)."""
        dyn = self._dyn
        tau = check_taus(taus)
        k = dyn._coarse
        fh = dyn._filter(tau, dyn.z) * dyn.h
        fhc = fh[:, k] * 2
        test = _test_change(fh, self._test[0])
        err = np.abs(test - _test_change(fhc, self._test[1]))
        message = dyn.message
        if self._train is None:
            train = np.full(tau.shape, np.nan)
            message = "; ".join(x for x in (message, "per-class train loss not derived for finite m") if x)
        else:
            train = _test_change(fh, self._train[0])
            err = np.maximum(err, np.abs(train - _test_change(fhc, self._train[1])))
            train = 1.0 + train
        test = 1.0 + test
        return LossCurves(tau, train, test, (test - 1.0) / dyn._delta_t + self._inv, test - train,
                          quad_error=err, nodes=int(dyn.z.size), n_fallback=int(dyn.n_fallback),
                          source="theory", model=dyn.model, status=dyn.status, message=message)

    def test_loss(self, taus) -> np.ndarray:
        """``L_test,c`` at ``taus`` (the ``test`` of :meth:`__call__` alone)."""
        dyn = self._dyn
        return 1.0 + _test_change(dyn._filter(check_taus(taus), dyn.z) * dyn.h, self._test[0])

    def test_derivative(self, taus) -> np.ndarray:
        """``dL_test,c/dτ`` (the formula of :meth:`LearningDynamics.test_derivative` with this class's traces)."""
        return self._dyn._slope(taus, self._test[0])

    def decompose(self, taus) -> LossDecomposition:
        """This class's loss changes carried by each group of bulks of U (train NaN with finite m); summed
        over groups they give the class curves minus their τ = 0 values."""
        dyn = self._dyn
        tau = check_taus(taus)
        fh = dyn._filter(tau, dyn.z) * dyn.h
        test = dyn._split(_test_shares(fh, self._test[0]))
        train = (np.full_like(test, np.nan) if self._train is None
                 else dyn._split(_test_shares(fh, self._train[0])))
        return LossDecomposition(tau, [list(e.intervals) for e in dyn.ellipses], dyn._group_masses(), train, test,
                                 test / dyn._delta_t)


def loss_curves(model, taus, **options) -> LossCurves:
    """Exact train, test and score-error curves of the limiting model along gradient flow.

    Parameters
    ----------
    model : RFModel
    taus : array_like of float
        Training times ≥ 0 in docs/theory.md §1's convention (``dA/dτ = −d² ∇_A L_train``); ``np.inf`` gives
        the end of training. Convert GD steps with :func:`rfdiff.tau_from_steps` or
        :func:`rfdiff.tau_from_seed_epoch_lr`.
    **options
        ``tol``, ``max_nodes`` of :class:`LearningDynamics`.

    Returns
    -------
    LossCurves
        With ``classes`` (the curves of each class) for Gaussian-mixture data.

    Notes
    -----
    ``LearningDynamics(model, **options)(taus)``; keep the :class:`LearningDynamics` object to evaluate
    more times without solving again. Equations: docs/theory.md §3, §5, §6.

    Examples
    --------
    >>> import numpy as np, rfdiff as rd
    >>> c = rd.loss_curves(rd.RFModel(psi_p=64, psi_n=8, t=0.01), [0.0, np.inf])
    >>> float(c.train[0]), float(c.test[0])
    (1.0, 1.0)
    """
    dyn = LearningDynamics(model, **options)
    curves = dyn(taus)
    if dyn.structure.mixture:   # Gaussian mixture: attach the per-class curves (docs/theory.md §12)
        curves = dataclasses.replace(curves, classes=dyn.per_class(taus))
    return curves
