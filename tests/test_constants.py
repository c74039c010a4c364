"""Gaussian-equivalence constants (docs/theory.md §2) against independent references.

References: ``derivations/ge_reference.json`` (mpmath, 30 digits: closed forms derived with sympy for
linear/relu/erf, nested high-precision quadrature for tanh/sigmoid), docs/theory.md's quoted tanh values,
the identities of §2, and closed forms (relu, leaky relu, erf, linear) reached through the package's
generic quadrature paths.
"""
import json
import math
import pathlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import special

import rfdiff as rd
from rfdiff import constants

REFERENCE = json.loads((pathlib.Path(__file__).parents[1] / "derivations" / "ge_reference.json").read_text())
CASES = REFERENCE["cases"]
FIELDS = ("mu0", "mu1", "a", "b", "v2", "s2")
BUILTINS = ("tanh", "relu", "erf", "linear", "sigmoid")


def coefficients(activation, t, tau_sigma=1.0):
    return rd.ge_coefficients(rd.RFModel(psi_p=4, psi_n=2, t=t, activation=activation,
                                         data=rd.Isotropic(tau_sigma)))


def assert_accurate(got, want, label):
    """The quadrature/closed-form error allowed: 1e-10 absolute, and 1e-10 relative for values above
    1e-3 (the float64 evaluation itself is good to ~1e-14); v² or s² below 1e-10 (v² at t = 5) to 1e-6
    relative, which the cancellation-free Hermite series reaches and plain subtraction does not, down
    to 1e-24 absolute (the reference's own accuracy: 30-digit subtractions of O(1) numbers)."""
    err = abs(got - want)
    assert err <= 1e-10, (label, got, want)
    if abs(want) > 1e-3:
        assert err <= 1e-10 * abs(want), (label, got, want)
    elif label in ("v2", "s2") and abs(want) < 1e-10:
        assert err <= max(1e-6 * abs(want), 1e-24), (label, got, want)


def test_reference_covers_every_builtin_and_the_range_ends():
    assert {c["activation"] for c in CASES} == set(BUILTINS)
    assert {c["t"] for c in CASES} >= {1e-3, 5.0} and {c["tau_sigma"] for c in CASES} >= {0.1, 10.0}


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['activation']}-t{c['t']}-tau{c['tau_sigma']}")
def test_against_mpmath_reference(case):
    c = coefficients(case["activation"], case["t"], case["tau_sigma"])
    for name in FIELDS:
        assert_accurate(getattr(c, name), case[name], name)
    assert c.e2t == pytest.approx(math.exp(-2 * case["t"]), rel=1e-15)
    assert c.delta_t == pytest.approx(-math.expm1(-2 * case["t"]), rel=1e-15)
    assert c.tau_sigma == case["tau_sigma"]


@pytest.mark.parametrize("case", [c for c in CASES if c["t"] in (1e-3, 1.0)], ids=lambda c: c["activation"])
def test_identities_of_theory_section_2(case):
    c = coefficients(case["activation"], case["t"], case["tau_sigma"])
    gamma2 = c.e2t * c.tau_sigma + c.delta_t
    # e^{-2t} τ a² + b² = Γ² μ1²  and  v² + s² = E σ² − μ0² − Γ² μ1²  (E σ² from the reference)
    assert c.e2t * c.tau_sigma * c.a ** 2 + c.b ** 2 == pytest.approx(gamma2 * c.mu1 ** 2, rel=1e-14)
    assert c.v2 + c.s2 == pytest.approx(case["e_sigma2"] - c.mu0 ** 2 - gamma2 * c.mu1 ** 2, abs=1e-12)


def test_tanh_values_quoted_in_theory():
    # docs/theory.md §2 quotes six digits; 5e-7 is their rounding.
    c = coefficients("tanh", 0.1)
    assert c.mu1 == pytest.approx(0.605706, abs=5e-7)
    assert c.v2 + c.s2 + c.mu1 ** 2 == pytest.approx(0.394294, abs=5e-7)   # = E tanh(z)² at Γ = 1
    for t, b2, v2, s2 in [(0.1, 0.066504, 0.013841, 0.013574), (0.01, 0.007265, 0.025542, 0.001874)]:
        c = coefficients("tanh", t)
        assert (c.b ** 2, c.v2, c.s2) == pytest.approx((b2, v2, s2), abs=5e-7)


def test_depends_on_the_data_law_only_through_tau_sigma():
    law = rd.DiscreteSpectrum([0.5, 1.5, 4.0], [0.25, 0.5, 0.25])
    for act in BUILTINS:
        m = rd.RFModel(4, 2, 0.05, activation=act, data=law)
        assert rd.ge_coefficients(m) == coefficients(act, 0.05, law.tau_sigma)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(BUILTINS), st.floats(1e-3, 5.0), st.floats(0.1, 10.0))
def test_constants_are_non_negative_and_consistent(act, t, tau):
    c = coefficients(act, t, tau)
    assert c.v2 >= 0 and c.s2 >= 0
    assert (c.a, c.b) == (c.mu1, math.sqrt(c.delta_t) * c.mu1)
    assert set(c.to_dict()) == set(FIELDS) | {"e2t", "delta_t", "tau_sigma", "status", "message", "diagnostics"}


# --------------------------------------------------------------- generic quadrature paths
def _leaky(x):
    return np.where(x > 0, x, 0.1 * x)


@pytest.mark.parametrize("t, tau", [(1e-3, 0.1), (1e-3, 10.0), (0.05, 1.0), (0.4, 2.0), (5.0, 10.0)])
def test_kink_aware_quadrature_matches_relu_closed_form(t, tau):
    """A relu declared as a custom kinked callable, and leaky relu = 0.1 x + 0.9 relu(x) (the linear
    part changes only μ1: μ1 = 0.1 + 0.9/2, v², s² scale by 0.81), against the arc-cosine closed form."""
    relu = coefficients("relu", t, tau)
    custom = coefficients(rd.Activation("kinked relu", lambda x: np.maximum(x, 0.0), kinks=(0.0,)), t, tau)
    leaky = coefficients(rd.Activation("leaky", _leaky, kinks=(0.0,)), t, tau)
    for name in FIELDS:
        assert_accurate(getattr(custom, name), getattr(relu, name), name)
    want = dict(mu0=0.9 * relu.mu0, mu1=0.55, v2=0.81 * relu.v2, s2=0.81 * relu.s2)
    for name, value in want.items():
        assert_accurate(getattr(leaky, name), value, name)


@pytest.mark.parametrize("t, tau", [(1e-3, 0.1), (1e-3, 10.0), (0.05, 1.0), (0.4, 2.0), (5.0, 10.0)])
def test_smooth_quadrature_matches_erf_and_linear_closed_forms(t, tau):
    erf = coefficients("erf", t, tau)
    custom = coefficients(lambda x: special.erf(x), t, tau)
    for name in FIELDS:
        assert_accurate(getattr(custom, name), getattr(erf, name), name)
    lin = coefficients(lambda x: 2.0 * x + 1.0, t, tau)
    assert (lin.mu0, lin.mu1) == pytest.approx((1.0, 2.0), rel=1e-13)
    # no non-linear part: only the rounding of C − μ0² − α²μ1² (C ≤ 1 + 4Γ² ≈ 41) survives
    assert lin.v2 < 1e-13 and lin.s2 < 1e-13


@pytest.mark.parametrize("act", ["tanh", "sigmoid", rd.Activation("leaky", _leaky, kinks=(0.0,))])
@pytest.mark.parametrize("t", [0.2, 0.35, 0.6])        # r = e^{-2t} from 0.67 to 0.30 at τ = 1
def test_series_and_two_dimensional_branches_agree(act, t):
    """The regime switch r = 1/2 is a choice: both forms must agree where both are accurate."""
    e2t = math.exp(-2 * t)
    series = constants.gaussian_integrals(act, e2t, 1 - e2t, method="series")
    direct = constants.gaussian_integrals(act, e2t, 1 - e2t, method="direct")
    assert series[3:] == pytest.approx(direct[3:], rel=1e-11, abs=1e-14)      # v², s²


def test_tiny_v2_at_large_t_is_relatively_accurate():
    # For tanh (odd) v² = Σ_{k odd ≥ 3} ĉ_k² r^k ≈ ĉ_3² r³: at t = 5 the leading term alone fixes
    # v² to relative O(r²) ~ 1e-8, with ĉ_3 = E[tanh(z)(z³ − 3z)]/√6 (Γ = 1) by 150-node Gauss–Hermite,
    # which converges fast at Γ = 1 and is independent of the package's rules.
    c = coefficients("tanh", 5.0, 1.0)
    z, w = np.polynomial.hermite_e.hermegauss(150)
    c3 = w @ (np.tanh(z) * (z ** 3 - 3 * z)) / math.sqrt(2 * math.pi * 6)
    r = math.exp(-10)
    assert 1e-16 < c.v2 < 1e-13
    assert c.v2 == pytest.approx(c3 ** 2 * r ** 3, rel=1e-7)


# --------------------------------------------------------------- errors and caching
@pytest.mark.parametrize("fn", [lambda x: np.full_like(x, 2.0), lambda x: 0.0 * x])
def test_constant_activation_is_rejected(fn):
    with pytest.raises(ValueError, match="activation"):
        coefficients(fn, 0.1)


def test_activation_overflowing_at_quadrature_nodes_is_rejected():
    # finite on the probe grid [-12, 12] but exp(x²) overflows at the nodes |Γz| ≲ 12 Γ for Γ² = 10
    with pytest.raises(ValueError, match="activation"), np.errstate(over="ignore"):
        coefficients(lambda x: np.exp(x * x), 0.01, 10.0)


def test_results_are_cached_and_unhashable_callables_still_work():
    assert coefficients("tanh", 0.123) is coefficients("tanh", 0.123)

    class Unhashable:
        __hash__ = None

        def __call__(self, x):
            return np.tanh(x)

    assert coefficients(Unhashable(), 0.123) == coefficients("tanh", 0.123)
