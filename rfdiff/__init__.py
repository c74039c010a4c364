"""rfdiff: exact generalization and memorization dynamics of random-features diffusion score models."""
from .activations import Activation, get_activation
from .constants import GECoefficients, ge_coefficients
from .data import DataLaw, DiscreteSpectrum, Isotropic, MarchenkoPastur
from .model import RFModel

__version__ = "0.1.0"
