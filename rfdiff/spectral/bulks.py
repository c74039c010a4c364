"""Support of U's eigenvalue law: every bulk, its edges and mass, and the atoms (docs/theory.md §4, §7).

:func:`support` finds the bulks from the one-point solution itself, in steps: scan a grid log-spaced in
the offset ``λ − origin`` for ``Im q(λ + i0) > 0`` (:func:`_scan`: coarse-first, solving every
``SCAN_COARSE_STRIDE``-th point and then only the coarse cells that may hold a bulk, :func:`_coarse_values`;
it also searches gaps narrower than the grid), bisect the edges (:func:`_edges`), integrate each bulk's mass
on a contour (:func:`_masses`), check that masses and atoms add up to 1 and the μ_W masses to ψ_p, and (after
a coarse scan) each bulk's contour mass against its mass on the grid points (:func:`_grid_masses`); a coarse
scan that fails any is redone on every grid point, a full scan that fails the first is refined; classify the
runs into bulks, atoms (a bulk narrower than the rounding of λ) and rounding noise (:func:`_classify`). A bulk narrower
than the rounding of λ (e.g. the memorization bulk at large t, of width ~v_t²) is reported as an atom.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from ..results import Result, SolverError
from ..structure import structure
from .kernels import bisect_edges
from .onepoint import Work, fallback_message, kernel_inputs, solve_verified, spectral_bound

__all__ = ["Support", "support", "scan_floor", "scan_top", "rank_atoms"]

#: A real point is inside a bulk when ``Im q(λ + i0) > INSIDE_TOL·|q|``.
INSIDE_TOL = 1e-8
#: Default density of the support scan, grid points per decade of the offset ``λ − s²``.
SUPPORT_POINTS_PER_DECADE = 150
#: The scan starts at ``x_lo = min(SCAN_FLOOR_REL·x_bound, SCAN_FLOOR_SCALE·v_t², SCAN_FLOOR_SCALE·b_t²)``
#: above s² (the memorization cluster sits at offsets of order v_t², the low edge of the bulk of
#: ``b_t² K`` at offsets of order b_t², which vanishes as t → 0), raised to the rounding floor of λ.
SCAN_FLOOR_REL = 1e-13
SCAN_FLOOR_SCALE = 1e-8
#: Each refinement of the support scan multiplies its density by this.
SCAN_REFINE_FACTOR = 4
#: The scan first solves every ``SCAN_COARSE_STRIDE``-th point of its grid (and the last), then every point of
#: the coarse cells that may hold a bulk (an end inside one, or ``q`` or ``g_W`` not increasing across the cell);
#: the other points are outside and are not solved. A bulk hiding in a skipped cell is caught by the mass
#: certificates, and the level is then scanned again point by point (:func:`support`).
SCAN_COARSE_STRIDE = 8
#: ...and by the bulks' masses on the grid: a bulk hiding between two bulks found is enclosed by one of their
#: contours, which then holds more than ``∫ Im q/π`` over its bulk on the grid points (trapezoid rule, square-root
#: ends), by more than this relative amount (the rule is within 1.2e-2 of the contours on the test models).
SCAN_GRID_MASS_RTOL = 0.05
#: Bulk masses: the contour starts with this many trapezoid nodes and doubles them up to the cap.
MASS_CONTOUR_MIN_NODES = 64
MASS_CONTOUR_MAX_NODES = 1 << 15
#: A bulk is reported as an atom when its width is at most this many units in the last place of λ
#: (it cannot be resolved on any λ grid; its mass is kept, at its centre).
ATOM_WIDTH_ULPS = 4.0


def rank_atoms(st) -> list:
    """The rank-counting atom at the structure's origin (s_t², or 0 with frozen draws), as a list of
    ``(location, mass)`` (empty when its mass is 0)."""
    mass = st.atom_mass()
    return [(st.origin, mass)] if mass > 0 else []


def scan_top(st) -> float:
    """Last offset of the support scan, ``1.05·spectral_bound − origin``: above every bulk."""
    return 1.05 * spectral_bound(st) - st.origin


def scan_floor(st):
    """First offset of the support scan and whether it was raised to the rounding floor of λ (then a
    bulk within rounding of the origin may exist, and only a contour around it can measure it).

    The scales are the structure's positive coefficients (for exact noise averages v_t², the scale of the
    memorization cluster, and b_t², that of the low edge of the bulk of ``b_t² K``)."""
    x_hi = scan_top(st)
    scales = [c.cov.x0 for c in st.components] + [c.cov.beta for c in st.components] + [st.shift.beta]
    x_lo = min([SCAN_FLOOR_REL * x_hi] + [SCAN_FLOOR_SCALE * k for k in scales if k > 0])
    x_round = _rounding_floor(st.origin)
    return max(x_lo, x_round), x_round > x_lo


@dataclass(frozen=True)
class Support(Result):
    """Support of U's eigenvalue law, found from the solution itself.

    Attributes
    ----------
    intervals : list of (lo, hi)
        Every bulk, ascending. Edges are located by bisection on ``Im q(λ + i0) > 0`` to a relative
        accuracy of ``edge_rtol``.
    masses : list of float
        Mass of U's law carried by each bulk.
    masses_w : list of float
        Mass of μ_W carried by each bulk (they add up to ψ_p, up to what the atoms carry).
    atoms : list of (location, mass)
        The atom at ``s_t²`` (rank counting), plus the mass of any bulk narrower than the rounding of
        λ (e.g. the memorization bulk at large t, of width ~v_t²), placed at its centre (merged with an
        atom at the same floating-point location).
    total_mass : float
        ``Σ masses + Σ atom masses``; 1 up to quadrature error (checked, ``mass_tol``).
    offsets : list of (lo, hi)
        The intervals as offsets ``λ − s_t²``, exact even when a bulk is within rounding of s².
    lambda_max : float
        Upper edge of the highest bulk.
    grid_points : int
        Size of the scanning grid that found the bulks.
    refinements : int
        How many times the scanning grid was refined (×4) before the masses added up (a coarse scan redone
        on every point of the same grid is not a refinement).
    n_fallback : int
        Real points (scan, bisection, gap search) that used the edge fallback value at ``λ + iη_floor``.
    max_residual : float
        Largest verified residual over every point solved.
    total_iterations, max_iterations : int
        Continuation steps plus Newton iterations, summed over and maximal over every point solved.
    status, message : str
        ``"ok"``; or ``"fallback"`` when a bulk narrower than rounding was reported as an atom or some
        real point used the edge fallback (the message says which) (:class:`rfdiff.results.Result`).
    """

    DIAGNOSTICS: ClassVar[tuple] = ("grid_points", "refinements", "n_fallback", "max_residual",
                                     "total_iterations", "max_iterations")

    intervals: list
    masses: list
    masses_w: list
    atoms: list
    total_mass: float
    offsets: list
    lambda_max: float
    grid_points: int
    model: object = field(repr=False)
    refinements: int = 0
    n_fallback: int = 0
    max_residual: float = 0.0
    total_iterations: int = 0
    max_iterations: int = 0


def _inside(sol) -> np.ndarray:
    """``Im q(λ + i0) > INSIDE_TOL·|q|`` at each point of the solution ``sol``."""
    return _inside_q(sol.q)


def _inside_q(q) -> np.ndarray:
    """``Im q > INSIDE_TOL·|q|`` for values ``q`` of ``q(λ + i0)`` (0 where a point was not solved: outside)."""
    return q.imag > INSIDE_TOL * np.abs(q)


def _bisect_edges(st, left, right, left_inside, rtol, work=None):
    """Bisect offset brackets ``[left, right]`` whose ends differ in ``Im q > 0`` (geometric midpoints).

    Every round halves all brackets, while any is wider than ``rtol`` times its right end; the midpoints are
    solved, verified and judged inside or outside as by ``_inside(solve_verified(st, mid))``, all rounds in
    one compiled call (:func:`rfdiff.spectral.kernels.bisect_edges`); :class:`SolverError` as
    :func:`solve_verified` raises it when a midpoint fails.
    """
    left = np.array(left, dtype=float)
    right = np.array(right, dtype=float)
    left_inside = np.array(left_inside, dtype=bool)
    par, kind, eigs, wts = kernel_inputs(st)
    failed, points, n_fallback, max_res, total_it, max_it = bisect_edges(
        left, right, left_inside, float(rtol), INSIDE_TOL, spectral_bound(st) - st.origin, par, kind, eigs, wts)
    if failed:  # left: the round's midpoints, right: 1 where one failed
        bad = st.origin + left[right == 1.0].astype(np.complex128)
        raise SolverError(f"{bad.size} spectral points could not be verified, e.g. z = {bad[:3]}")
    if work is not None:
        work.count(points, n_fallback, max_res, total_it, max_it)
    return np.sqrt(left * right)


def _contour_masses(st, lo, hi, tol, atom_inside=0.0, work=None, moment=False):
    """Masses of U's law and of μ_W enclosed by a contour crossing the real axis at offsets ``lo < hi``.

    ``mass = −(1/2πi) ∮ q(z) dz`` on the ellipse ``w(θ) = c + a cos θ + i b sin θ`` in ``w = log(z − s²)``
    around ``[log lo, log hi]`` (trapezoid rule, geometric convergence; node count doubled until the
    N and 2N results agree to ``tol``; the N nodes are every other node of the 2N, so each round solves only the
    new ones). With ``lo = 0`` a circle in z around ``[−hi, hi]`` is used and
    ``atom_inside`` (the atom at s²) is subtracted. With ``moment=True`` the first moment about s²,
    ``−(1/2πi) ∮ (z − s²) q(z) dz`` (to which the atom at s² contributes nothing), is returned too.
    """
    n = MASS_CONTOUR_MIN_NODES
    prev = last = None
    while True:
        theta = 2 * np.pi * np.arange(n) / n
        if lo > 0:
            c, a = 0.5 * (math.log(hi) + math.log(lo)), 0.5 * (math.log(hi) - math.log(lo))
            b = min(a, 2.0)
            w = c + a * np.cos(theta) + 1j * b * np.sin(theta)
            omega = np.exp(w)
            d_omega = omega * (-a * np.sin(theta) + 1j * b * np.cos(theta)) * (2 * np.pi / n)
        else:
            omega = hi * np.exp(1j * theta)
            d_omega = 1j * omega * (2 * np.pi / n)
        if last is None:
            sol = solve_verified(st, omega, work, path=True)
            q, g_w = sol.q, sol.g_w
        else:   # the last round's nodes are the even ones of this round, bit for bit: only the odd ones are new
            sol = solve_verified(st, omega[1::2], work, path=True)
            q, g_w = np.empty(n, complex), np.empty(n, complex)
            q[0::2], g_w[0::2] = last
            q[1::2], g_w[1::2] = sol.q, sol.g_w
        last = (q, g_w)
        cur = (float((-(q @ d_omega) / (2j * np.pi)).real) - atom_inside,
               float((-(g_w @ d_omega) / (2j * np.pi)).real))
        if prev is not None and abs(cur[0] - prev[0]) <= tol and abs(cur[1] - prev[1]) <= tol * st.psi_p:
            if moment:
                return cur + (float((-((omega * q) @ d_omega) / (2j * np.pi)).real),)
            return cur
        if n >= MASS_CONTOUR_MAX_NODES:
            raise SolverError(f"contour mass around offsets [{lo:.6g}, {hi:.6g}] from s² did not converge")
        prev = cur
        n *= 2


def _hidden_gaps(st, x, q, dip=0.2, iters=40, work=None):
    """Gaps narrower than the grid spacing: points where the density vanishes between grid points.

    ``q`` holds ``q(λ + i0)`` on the grid ``x`` (0 at points known to be outside and not solved). Every
    interior local minimum of ``Im q`` on the grid that is below ``dip`` times the larger of its run's maxima
    is searched (golden section in log λ over the two neighbouring cells); the minimisers where
    ``Im q(λ + i0)`` is zero are returned (they are outside).
    """
    d = np.where(_inside_q(q), q.imag, 0.0)
    k = np.arange(1, d.size - 1)
    k = k[(d[k] > 0) & (d[k] < d[k - 1]) & (d[k] <= d[k + 1])]
    if k.size == 0:
        return k.astype(float)
    peak = np.maximum.accumulate(d)  # the largest density to the left...
    right = np.maximum.accumulate(d[::-1])[::-1]  # ...and to the right
    k = k[d[k] < dip * np.minimum(peak[k], right[k])]
    a, b = np.log(x[k - 1]), np.log(x[k + 1])
    g = (math.sqrt(5) - 1) / 2
    for _ in range(iters):
        c1, c2 = b - g * (b - a), a + g * (b - a)
        f = solve_verified(st, np.exp(np.concatenate([c1, c2])), work)
        f1, f2 = np.split(np.where(_inside(f), f.q.imag, 0.0), 2)
        left = f1 <= f2
        b = np.where(left, c2, b)
        a = np.where(left, a, c1)
    xm = np.exp(0.5 * (a + b))
    return xm[~_inside(solve_verified(st, xm, work))]


def _rounding_floor(s2: float) -> float:
    """Offsets from s² below which λ = s² + x cannot be told from s² (``ATOM_WIDTH_ULPS`` ulps of s²)."""
    return ATOM_WIDTH_ULPS * math.ulp(s2) if s2 > 0 else 0.0


def _narrow(s2: float, lo: float, hi: float) -> bool:
    """A bulk at offsets ``[lo, hi]`` no wider than ``ATOM_WIDTH_ULPS`` ulps of its λ."""
    return hi - lo <= ATOM_WIDTH_ULPS * math.ulp(s2 + hi)


def _add_atom(atoms, loc, mass):
    """``atoms`` with ``mass`` added at ``loc`` (merged into an atom at the same location)."""
    for i, (l0, m0) in enumerate(atoms):
        if l0 == loc:
            atoms[i] = (l0, m0 + mass)
            return atoms
    atoms.append((loc, mass))
    atoms.sort()
    return atoms


def _scan(st, x_lo, x_hi, density, work, coarse=True):
    """Offsets ``x`` of a log grid from ``x_lo`` to ``x_hi`` (``density`` points per decade, plus the points of
    gaps narrower than the grid), whether each lies inside a bulk, and ``q(λ + i0)`` there (0 at the points
    outside that were not solved and at the gaps' points).

    With ``coarse``, only the points :func:`_coarse_values` chooses are solved (the others are outside
    unless a bulk hides within a coarse cell); otherwise every grid point is. Each point's solution does not
    depend on the others solved with it, so the points of the gaps found are outside without a new solve.
    """
    n = int(math.ceil(density * math.log10(x_hi / x_lo))) + 1
    x = np.geomspace(x_lo, x_hi, n)
    q = _coarse_values(st, x, work) if coarse else solve_verified(st, x, work).q
    inside = _inside_q(q)
    gaps = _hidden_gaps(st, x, q, work=work)
    if gaps.size:
        order = np.argsort(np.concatenate([x, gaps]), kind="stable")
        x = np.concatenate([x, gaps])[order]
        inside = np.concatenate([inside, np.zeros(gaps.size, dtype=bool)])[order]
        q = np.concatenate([q, np.zeros(gaps.size, dtype=complex)])[order]
    if inside[-1]:
        raise SolverError("spectrum extends beyond spectral_bound(); please report")
    return x, inside, q


def _coarse_values(st, x, work):
    """``q(λ + i0)`` on the grid ``x``, solved coarse-first: every ``SCAN_COARSE_STRIDE``-th point and the last,
    then every point of the coarse cells with an end inside a bulk or across which ``Re q`` or ``Re g_W`` does
    not increase (on a gap both are increasing: Stieltjes transforms of positive measures); 0 at the points
    of the other cells, taken to be outside."""
    n = x.size
    c = np.arange(0, n, SCAN_COARSE_STRIDE)
    if c[-1] != n - 1:
        c = np.append(c, n - 1)
    sol = solve_verified(st, x[c], work)
    q = np.zeros(n, dtype=complex)
    q[c] = sol.q
    inside = _inside_q(sol.q)
    cells = inside[:-1] | inside[1:]
    cells |= ~(np.diff(sol.q.real) > 0) | ~(np.diff(sol.g_w.real) > 0)
    cells &= np.diff(c) > 1
    if np.any(cells):
        fine = np.concatenate([np.arange(a + 1, b) for a, b in zip(c[:-1][cells], c[1:][cells])])
        q[fine] = solve_verified(st, x[fine], work).q
    return q


def _grid_masses(x, inside, q, ends):
    """Each run's mass ``∫ Im q(λ + i0)/π dλ`` from its grid points (trapezoid rule; from each edge in ``ends``
    to the nearest grid point, a square-root profile); NaN for a run starting at the origin itself."""
    flips = np.flatnonzero(inside[1:] != inside[:-1])
    starts = np.concatenate([[0], flips[~inside[flips]] + 1]) if inside[0] else flips[~inside[flips]] + 1
    out = []
    for k, (a, b) in enumerate(zip(starts, flips[inside[flips]])):
        if k == 0 and inside[0]:
            out.append(math.nan)
            continue
        f, xs = q.imag[a:b + 1] / math.pi, x[a:b + 1]
        out.append(float(np.sum(0.5 * (f[1:] + f[:-1]) * np.diff(xs))
                         + (2.0 / 3.0) * ((xs[0] - ends[2 * k]) * f[0] + (ends[2 * k + 1] - xs[-1]) * f[-1])))
    return out


def _edges(st, x, inside, edge_rtol, work):
    """Bisected edges of the runs of ``inside`` on the grid ``x``: ``(ends, offsets)`` with ``ends`` the flat
    array of edges (0 first when a bulk starts at the origin itself) and ``offsets`` the ``(lo, hi)`` pairs."""
    flips = np.flatnonzero(inside[1:] != inside[:-1])
    ends = _bisect_edges(st, x[flips], x[flips + 1], inside[flips], edge_rtol, work)
    if inside[0]:  # a bulk reaching below the first grid point: it starts at the origin itself
        ends = np.concatenate([[0.0], ends])
    return ends, [(float(a), float(b)) for a, b in zip(ends[0::2], ends[1::2])]


def _masses(st, ends, offsets, tol, atom_total, work):
    """Masses of U's law and of μ_W of each bulk: contours crossing the axis at the geometric midpoints of the
    gaps (the first one at half the lowest edge, or a circle around the origin when a bulk starts there)."""
    if not offsets:
        return (), ()
    cuts = [0.5 * ends[0] if ends[0] > 0 else 0.0]
    cuts += [math.sqrt(a * b) for a, b in zip(ends[1:-1:2], ends[2::2])] + [2.0 * ends[-1]]
    pairs = [_contour_masses(st, lo, hi, tol, atom_total if lo == 0 else 0.0, work)
             for lo, hi in zip(cuts[:-1], cuts[1:])]
    return tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)


def _classify(st, offsets, masses, masses_w, atoms, mass_tol):
    """Split the runs into bulks, atoms (bulks no wider than the rounding of λ) and rounding noise (runs
    whose mass the quadrature cannot tell from 0): ``(keep, atoms, notes)``."""
    keep, dropped, notes = [], [], []
    for k, (lo, hi) in enumerate(offsets):
        if abs(masses[k]) <= mass_tol and abs(masses_w[k]) <= mass_tol * st.psi_p:
            # a run of Im q > INSIDE_TOL·|q| carrying no mass that the quadrature can verify: rounding
            # noise in Im q where |q| is huge (e.g. just below a bulk's lower edge near s²), not a bulk
            dropped.append(k)
        elif _narrow(st.origin, lo, hi):
            atoms = _add_atom(atoms, float(st.origin + 0.5 * (lo + hi)), masses[k])
            notes.append(f"bulk of mass {masses[k]:.6g} (μ_W mass {masses_w[k]:.3g}) at offsets "
                         f"[{lo:.3g}, {hi:.3g}] from s_t² is narrower than the rounding of λ and is reported "
                         f"as an atom")
        else:
            keep.append(k)
    if dropped:
        notes.append(f"{len(dropped)} run(s) of Im q > 0 at offsets {offsets[dropped[0]][0]:.3g}…"
                     f"{offsets[dropped[-1]][1]:.3g} from s_t² with |mass| ≤ mass_tol = {mass_tol:g} "
                     f"(total {sum(masses[k] for k in dropped):.2g}) were dropped as rounding noise")
    return keep, atoms, notes


def _atom_w_free(st) -> bool:
    """Whether μ_W's bulks carry all of its mass ψ_p: no rank-counting atom, or one whose eigenvectors are
    orthogonal to W's columns (the components and shift in W's span have rank d there, as for exact noise
    averages, whose shift holds ``b_t² K``). With m frozen draws the atom at 0 carries μ_W mass."""
    if st.atom_mass() <= 0:
        return True
    in_w = sum(c.ratio for c in st.components if c.cov.x0 <= 0 and c.cov.has_w_part)
    return st.shift.has_w_part or in_w >= 1.0


def support(model, *, points_per_decade=SUPPORT_POINTS_PER_DECADE, edge_rtol=1e-12, mass_tol=1e-7,
            max_refine=3) -> Support:
    """Every bulk of U's spectrum, with its mass, and the atom at ``s_t²``.

    Works with offsets ``x = λ − s²`` (U ≥ s² I). A grid of ``x`` log-spaced from
    ``x_lo = max(min(SCAN_FLOOR_REL·x_bound, SCAN_FLOOR_SCALE·v_t², SCAN_FLOOR_SCALE·b_t²), x_round)`` to
    ``x_bound = 1.05·spectral_bound − s²`` is scanned for ``Im q(λ + i0) > 0``
    (``x_round = ATOM_WIDTH_ULPS`` ulps of s²: below it λ cannot be told from s²); the edges of each run
    are refined by bisection to ``edge_rtol``; each bulk's mass
    ``m = −(1/2πi)∮ q(z) dz`` is integrated with a self-checked quadrature. Mass within ``x_round`` of s²
    beyond the rank-counting atom (a bulk narrower than rounding, such as the memorization bulk of width
    ~v_t² at large t) is measured on a circle around s² and reported as an atom, as is any bulk no wider
    than ``ATOM_WIDTH_ULPS`` ulps of λ (location: its centre). The grid is scanned coarse-first: every
    ``SCAN_COARSE_STRIDE``-th point, then every point of the coarse cells with an end inside a bulk or
    across which ``q`` or ``g_W`` does not increase; if then the bulk masses and the atoms do not add up to
    1 within ``mass_tol``, or (when the rank-counting atom carries no μ_W mass) the bulks' μ_W masses do not
    add up to ψ_p within ``mass_tol·ψ_p``, or a bulk's contour mass differs from ``∫ Im q/π`` on its grid
    points by more than ``SCAN_GRID_MASS_RTOL`` relative (plus ``mass_tol``), the same grid is scanned again
    at every point. If the masses of
    that scan do not add up to 1 (a bulk narrower than the grid spacing was missed), the grid is refined
    (×``SCAN_REFINE_FACTOR``), up to ``max_refine`` times, after which :class:`SolverError` is raised.

    Parameters
    ----------
    model : RFModel
    points_per_decade : float
        Scan density (≥ 10).
    edge_rtol : float
        Relative accuracy of the bisected edges.
    mass_tol : float
        Tolerance on ``Σ masses + Σ atoms = 1``.
    max_refine : int
        Largest number of grid refinements.

    Notes
    -----
    docs/theory.md §4 and §7: several bulks (a low cluster just above s², a memorization bulk, a
    generalization bulk) may span many decades; no asymptotic formula is used here. Two bulks separated
    by a gap narrower than the grid spacing are reported as one. Each point's solution does not depend on
    the others solved with it, so the coarse-first scan finds the same runs as solving every grid point
    unless a bulk lies wholly inside a skipped coarse cell. The mass certificates catch such a bulk below
    the lowest or above the highest bulk found; one between two bulks found is enclosed by one of their
    contours (the totals still add up) and is caught by the grid masses when its mass exceeds
    ``SCAN_GRID_MASS_RTOL`` times that bulk's (plus ``mass_tol``). A lighter one, e.g. a run of rounding
    noise that a full scan would drop (mass ≤ ``mass_tol``) but whose gap would move its neighbours'
    contours, is not caught: results then differ from the full scan's at the level of that mass.
    """
    if not points_per_decade >= 10:
        raise ValueError("points_per_decade must be >= 10")
    st = structure(model)
    origin, density = st.origin, float(points_per_decade)
    x_hi = scan_top(st)
    x_lo, truncated = scan_floor(st)
    atoms = rank_atoms(st)
    atom_total = sum(m for _, m in atoms)
    check_w = _atom_w_free(st)
    work = Work()
    for refinements in range(max_refine + 1):
        for coarse in (True, False):
            x, inside, q = _scan(st, x_lo, x_hi, density, work, coarse)
            ends, offsets = _edges(st, x, inside, edge_rtol, work)
            masses, masses_w = _masses(st, ends, offsets, 0.1 * mass_tol, atom_total, work)
            low = (0.0, 0.0, 0.0)
            if truncated and not inside[0]:
                # what lies within rounding of s² beyond the rank-counting atom: a circle around s² crossing
                # the axis where the scan saw no bulk
                radius = math.sqrt(x[0] * ends[0]) if offsets else x[0]
                low = _contour_masses(st, 0.0, radius, 0.1 * mass_tol, atom_total, work, moment=True)
            total = sum(masses) + atom_total + low[0]
            if not coarse or (abs(total - 1.0) <= mass_tol and (
                    not check_w or abs(sum(masses_w) + low[1] - st.psi_p) <= mass_tol * st.psi_p) and all(
                    not abs(m - g) > SCAN_GRID_MASS_RTOL * g + mass_tol
                    for m, g in zip(masses, _grid_masses(x, inside, q, ends)) if g == g)):
                break  # (a coarse pass that fails a certificate is redone point by point)
        if abs(total - 1.0) <= mass_tol:
            break
        density *= SCAN_REFINE_FACTOR
    else:
        raise SolverError(f"bulk masses and atoms add up to {total:.9f}, not 1, after refining the grid "
                          f"to {x.size} points (a bulk may be unresolved)")
    notes = []
    if low[0] > mass_tol:
        centre = min(max(low[2] / low[0], 0.0), float(x[0]))  # its mean offset (quadrature-limited)
        atoms = _add_atom(atoms, float(origin + centre), low[0])
        notes.append(f"mass {low[0]:.6g} (μ_W mass {low[1]:.3g}) within {x[0]:.3g} of s_t² (narrower than "
                     f"the rounding of λ) is reported as an atom")
    keep, atoms, more = _classify(st, offsets, masses, masses_w, atoms, mass_tol)
    notes += more
    if work.n_fallback:
        notes.append(fallback_message(work.n_fallback, work.points))
    offsets = [offsets[k] for k in keep]
    intervals = [(origin + lo, origin + hi) for lo, hi in offsets]
    lambda_max = intervals[-1][1] if intervals else max([origin] + [loc for loc, _ in atoms])
    return Support(intervals, [masses[k] for k in keep], [masses_w[k] for k in keep], atoms, total, offsets,
                   lambda_max, x.size, model, refinements=refinements, n_fallback=work.n_fallback,
                   max_residual=work.max_residual, total_iterations=work.total_iterations,
                   max_iterations=work.max_iterations, status="fallback" if notes else "ok",
                   message="; ".join(notes))
