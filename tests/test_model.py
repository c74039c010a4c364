"""RFModel, data laws and the activation registry: validation, immutability and the laws' integrals.

Integrals of the Marchenko–Pastur law are checked against scipy.integrate.quad of its density
(quad's own error is ~1e-12 here, so 1e-9 leaves room for it and nothing else).
"""
import dataclasses
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate

import rfdiff as rd
from rfdiff.model import MIN_BULK_MASS

BAD_NUMBERS = [0, -1.0, math.nan, math.inf, -math.inf, "abc", None]
POSITIVE = st.floats(min_value=1e-6, max_value=1e6, allow_nan=False, allow_infinity=False)


# ----------------------------------------------------------------------------- RFModel
@pytest.mark.parametrize("name", ["psi_p", "psi_n", "t"])
@pytest.mark.parametrize("bad", BAD_NUMBERS)
def test_model_rejects_bad_numbers_naming_the_parameter(name, bad):
    kw = dict(psi_p=4.0, psi_n=2.0, t=0.1)
    kw[name] = bad
    with pytest.raises(ValueError, match=name):
        rd.RFModel(**kw)


def test_model_rejects_non_law_data():
    with pytest.raises(ValueError, match="data"):
        rd.RFModel(4, 2, 0.1, data=[1.0, 2.0])


@settings(max_examples=50, deadline=None)
@given(POSITIVE, POSITIVE, st.floats(min_value=1e-4, max_value=20))
def test_model_fields_and_derived_quantities(psi_p, psi_n, t):
    assume(psi_n >= MIN_BULK_MASS * psi_p)  # the supported range (rfdiff/model.py)
    m = rd.RFModel(psi_p, psi_n, t)
    assert (m.psi_p, m.psi_n, m.t) == (psi_p, psi_n, t)
    assert m.delta_t == pytest.approx(1 - math.exp(-2 * t), rel=1e-14)
    assert m.kappa == pytest.approx(2 * m.delta_t / psi_p, rel=1e-14)
    assert m.activation is rd.get_activation("tanh")


def test_model_is_immutable_and_replace_validates():
    m = rd.RFModel(psi_p=64, psi_n=8, t=0.01, activation="relu", data=rd.Isotropic(2.0))
    with pytest.raises(dataclasses.FrozenInstanceError):
        m.t = 1.0
    m2 = m.replace(t=0.5)
    assert (m2.t, m.t) == (0.5, 0.01)
    assert (m2.psi_p, m2.psi_n, m2.activation, m2.data) == (m.psi_p, m.psi_n, m.activation, m.data)
    assert m.replace() == m
    with pytest.raises(ValueError, match="psi_n"):
        m.replace(psi_n=-3)
    assert m.to_dict() == {"psi_p": 64.0, "psi_n": 8.0, "t": 0.01, "activation": "relu",
                           "data": {"law": "Isotropic", "scale": 2.0}, "m": math.inf, "weight_decay": 0.0}


def test_noise_draws_and_weight_decay_are_validated():
    m = rd.RFModel(4, 2, 0.1)
    assert m.m == math.inf and m.weight_decay == 0.0
    assert m.replace(m=3).m == 3 and isinstance(m.replace(m=np.int64(3)).m, int)
    assert m.replace(weight_decay=1).weight_decay == 1.0
    for bad in (0, -1, 2.5, "3", True, math.nan, -math.inf):
        with pytest.raises(ValueError, match="^m "):
            m.replace(m=bad)
    for bad in (-0.1, math.nan, math.inf, "0.1", True):
        with pytest.raises(ValueError, match="weight_decay"):
            m.replace(weight_decay=bad)
    # an optimizer's plain weight decay λ_opt (A ← A − η(∇L + λ_opt A)) is ω = λ_opt ψ_p d²/(2Δ_t)
    assert rd.RFModel.weight_decay_from(1e-3, psi_p=4, t=0.1, d=10) == pytest.approx(
        1e-3 * 4 * 100 / (2 * m.delta_t))


def test_model_accepts_numpy_and_integer_inputs_as_floats():
    m = rd.RFModel(psi_p=np.int64(3), psi_n=2, t=np.float32(0.25))
    assert isinstance(m.psi_p, float) and (m.psi_p, m.psi_n, m.t) == (3.0, 2.0, 0.25)


# ----------------------------------------------------------------------------- activations
def test_builtin_activations_resolve_by_name_case_insensitively():
    for name in ["tanh", "relu", "erf", "linear", "sigmoid"]:
        act = rd.get_activation(name.upper())
        assert act.name == name and rd.get_activation(act) is act
    x = np.linspace(-3, 3, 7)
    np.testing.assert_array_equal(rd.get_activation("relu")(x), np.maximum(x, 0))
    np.testing.assert_allclose(rd.get_activation("sigmoid")(x), 1 / (1 + np.exp(-x)), rtol=1e-15)


@pytest.mark.parametrize("spec", ["softplus", "", 3.0, None])
def test_unknown_or_non_callable_activation_is_rejected(spec):
    with pytest.raises(ValueError, match="activation"):
        rd.RFModel(4, 2, 0.1, activation=spec)


@pytest.mark.parametrize("fn", [
    math.tanh,                                   # raises on arrays
    lambda x: float(np.sum(x)),                  # returns a scalar: not elementwise
    lambda x: np.where(x > 5, np.nan, x),        # NaN
    lambda x: np.where(x > 11, np.inf, x),       # inf
])
def test_bad_callable_activation_is_rejected(fn):
    with pytest.raises(ValueError, match="activation"):
        rd.get_activation(fn)


def test_custom_callable_activation_is_accepted():
    act = rd.RFModel(4, 2, 0.1, activation=np.sin).activation
    assert act.name == "custom:sin" and act.fn is np.sin and act.kinks == ()


# ----------------------------------------------------------------------------- data laws
def test_isotropic():
    law = rd.Isotropic(2.5)
    assert law.tau_sigma == 2.5 and law.support == (2.5, 2.5)
    np.testing.assert_array_equal(law.eigenvalues(4), [2.5] * 4)
    with pytest.raises(ValueError, match="scale"):
        rd.Isotropic(-1.0)
    with pytest.raises(ValueError, match="scale"):
        rd.Isotropic(math.nan)


@pytest.mark.parametrize("eigs, weights, name", [
    ([1.0, 2.0], [0.5, 0.6], "weights"),        # not summing to 1
    ([1.0, -2.0], [0.5, 0.5], "eigs"),          # negative eigenvalue
    ([1.0, 2.0, 3.0], [0.5, 0.5], "weights"),   # mismatched lengths
    ([1.0, 2.0], [1.5, -0.5], "weights"),       # negative weight
    ([], [], "eigs"),                           # empty
    ([0.0, 0.0], [0.5, 0.5], "eigs"),           # Tr Σ = 0
    ([1.0, math.nan], [0.5, 0.5], "eigs"),
    (["a", 1.0], [0.5, 0.5], "eigs"),
])
def test_discrete_spectrum_validation(eigs, weights, name):
    with pytest.raises(ValueError, match=name):
        rd.DiscreteSpectrum(eigs, weights)


def test_discrete_spectrum_averages_and_eigenvalues():
    law = rd.DiscreteSpectrum([0.5, 1.5, 4.0], [0.25, 0.5, 0.25])
    assert law.tau_sigma == pytest.approx(0.125 + 0.75 + 1.0, rel=1e-15)
    assert law.support == (0.5, 4.0)
    alpha, beta = 0.3 + 0.2j, 1.7 - 0.1j
    e, w = np.array([0.5, 1.5, 4.0]), np.array([0.25, 0.5, 0.25])
    d = alpha + beta * e
    want = [np.sum(w / d), np.sum(w * e / d), np.sum(w / d ** 2), np.sum(w * e / d ** 2), np.sum(w * e * e / d ** 2)]
    np.testing.assert_allclose(law.averages(alpha, beta), want, rtol=1e-14)
    eig = law.eigenvalues(10)   # 2.5, 5, 2.5 → largest remainders 2, 5, 3 or 3, 5, 2
    assert eig.size == 10 and sorted(np.unique(eig, return_counts=True)[1].tolist()) == [2, 3, 5]


@pytest.fixture(scope="module")
def mp_law():
    return rd.MarchenkoPastur(ratio=0.3, scale=1.7)


def _quad_mp(law, f):
    a, b = law.support
    return integrate.quad(lambda x: f(x) * law.density(np.array(x)), a, b, limit=200, epsabs=1e-13, epsrel=1e-13)[0]


def test_marchenko_pastur_validation():
    for kw, name in [({"ratio": 1.5}, "ratio"), ({"ratio": 0.0}, "ratio"), ({"scale": -1}, "scale"),
                     ({"ratio": math.nan}, "ratio")]:
        with pytest.raises(ValueError, match=name):
            rd.MarchenkoPastur(**kw)


def test_marchenko_pastur_moments(mp_law):
    # ∫ρ = 1, mean = scale, variance = ratio · scale² (moments of the law of a sample covariance)
    assert _quad_mp(mp_law, lambda x: 1.0) == pytest.approx(1.0, abs=1e-9)
    assert mp_law.tau_sigma == 1.7
    assert mp_law.mean(lambda s: s) == pytest.approx(1.7, rel=1e-12)
    assert mp_law.mean(lambda s: (s - 1.7) ** 2) == pytest.approx(0.3 * 1.7 ** 2, rel=1e-12)


@pytest.mark.parametrize("f", [np.exp, lambda s: 1 / (1 + s), np.sqrt, lambda s: s ** 5])
def test_marchenko_pastur_mean_against_quad(mp_law, f):
    assert mp_law.mean(f) == pytest.approx(_quad_mp(mp_law, f), abs=1e-9, rel=1e-9)


@pytest.mark.parametrize("zeta", [0.8 + 0.3j, 2.0 + 0.1j, -1.0 + 0.0j, 3.0 - 0.5j, 6.0 + 2.0j])
def test_marchenko_pastur_stieltjes_against_quad(mp_law, zeta):
    G, dG = mp_law.stieltjes(zeta)
    for value, power in ((G, 1), (dG, 2)):
        re = _quad_mp(mp_law, lambda s: (1 / (s - zeta) ** power).real)
        im = _quad_mp(mp_law, lambda s: (1 / (s - zeta) ** power).imag)
        assert abs(value - (re + 1j * im)) < 1e-9


def test_marchenko_pastur_averages_against_quad(mp_law):
    alpha, beta = 0.4 + 0.3j, 1.2 + 0.05j
    got = mp_law.averages(alpha, beta)
    for value, (k, j) in zip(got, [(0, 1), (1, 1), (0, 2), (1, 2), (2, 2)]):
        f = lambda s: s ** k / (alpha + beta * s) ** j  # noqa: E731
        want = _quad_mp(mp_law, lambda s: f(s).real) + 1j * _quad_mp(mp_law, lambda s: f(s).imag)
        assert abs(value - want) < 1e-9


def test_marchenko_pastur_eigenvalues_follow_the_law(mp_law):
    eig = mp_law.eigenvalues(2000)
    a, b = mp_law.support
    assert eig.size == 2000 and np.all((eig >= a) & (eig <= b)) and np.all(np.diff(eig) > 0)
    # mid-quantile discretisation: the mean is off by O(1/d²) times the density's edge behaviour
    assert eig.mean() == pytest.approx(1.7, rel=1e-4)
