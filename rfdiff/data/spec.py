"""Data laws from their descriptions: a dict (the inverse of every law's ``to_dict()``) or a short text
(a JSON/TOML file, inline JSON, or ``mixture:W1@S1,W2@S2,...``), as given to ``--data`` on the command line;
or real data (docs/theory.md §14): a bundled dataset name (``digits``, ``patches``) or a data matrix file
(``.npy``, ``.npz``, ``.csv``; rows = samples), whose law is its normalised sample spectrum.
"""
from __future__ import annotations

import json
import os

from .laws import DataLaw, DiscreteSpectrum, GaussianMixture, Isotropic, MarchenkoPastur

__all__ = ["law_from_spec", "parse_data_spec", "law_from_text", "is_data_source", "data_from_text"]


_LAWS = {"Isotropic": Isotropic, "DiscreteSpectrum": DiscreteSpectrum, "MarchenkoPastur": MarchenkoPastur}


def law_from_spec(spec) -> DataLaw:
    """The data law described by a dict, the inverse of every law's ``to_dict()``.

    Parameters
    ----------
    spec : dict
        ``{"law": NAME, ...parameters}`` with NAME ``"Isotropic"`` (``scale``), ``"DiscreteSpectrum"``
        (``eigs``, ``weights``), ``"MarchenkoPastur"`` (``ratio``, ``scale``) or ``"mixture"`` (``weights``,
        ``laws``: a list of such dicts, optional ``means``), e.g.
        ``{"law": "mixture", "weights": [0.9, 0.1], "laws": [{"law": "Isotropic", "scale": 0.5},
        {"law": "Isotropic", "scale": 2.0}]}``.

    Raises
    ------
    ValueError
        Naming ``spec`` (not a dict, unknown law or key) or the offending parameter.
    """
    if not isinstance(spec, dict) or "law" not in spec:
        raise ValueError(f"spec must be a dict with a 'law' key, got {spec!r}")
    name = spec["law"]
    params = {k: v for k, v in spec.items() if k != "law"}
    if name in ("mixture", "GaussianMixture"):
        allowed = {"weights", "laws", "means", "mean_scaling"}
        if set(params) - allowed or not {"weights", "laws"} <= set(params):
            raise ValueError(f"spec: a mixture needs 'weights' and 'laws' (optional 'means'), "
                             f"got keys {sorted(params)}")
        if not isinstance(params["laws"], (list, tuple)):
            raise ValueError(f"spec: 'laws' must be a list of law dicts, got {params['laws']!r}")
        params["laws"] = tuple(law_from_spec(s) for s in params["laws"])
        return GaussianMixture(**params)
    if name not in _LAWS:
        raise ValueError(f"spec: unknown law {name!r} (one of {sorted(_LAWS) + ['mixture']})")
    try:
        return _LAWS[name](**params)
    except TypeError as exc:
        raise ValueError(f"spec: bad parameters for {name}: {exc}") from None


def parse_data_spec(text: str) -> dict:
    """The dict of a ``--data`` spec: a .json/.toml file, inline JSON, or ``mixture:W1@S1,W2@S2,...``."""
    text = text.strip()
    if text.startswith("mixture:"):
        weights, laws = [], []
        for item in text[len("mixture:"):].split(","):
            try:
                w, scale = (float(v) for v in item.split("@"))
            except ValueError:
                raise ValueError(f"--data mixture: expected WEIGHT@VARIANCE items, got {item!r}") from None
            weights.append(w)
            laws.append({"law": "Isotropic", "scale": scale})
        return {"law": "mixture", "weights": weights, "laws": laws}
    if text.startswith("{"):
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"--data: invalid JSON ({exc})") from None
    if not os.path.isfile(text):
        raise ValueError(f"--data: {text!r} is neither a spec file, inline JSON nor mixture:W@S,...")
    try:
        if text.lower().endswith(".toml"):
            import tomllib
            with open(text, "rb") as fh:
                return tomllib.load(fh)
        with open(text, encoding="utf-8") as fh:
            return json.load(fh)
    except (ValueError, OSError) as exc:
        raise ValueError(f"--data: cannot read {text!r} ({exc})") from None


def is_data_source(text: str) -> bool:
    """Whether a ``--data`` text names real data: a bundled dataset or a ``.npy``/``.npz``/``.csv`` file."""
    from .datasets import DATASETS
    from .empirical import SUFFIXES
    text = text.strip()
    return text in DATASETS or os.path.splitext(text)[1].lower() in SUFFIXES


def data_from_text(text: str, *, constant_columns="keep"):
    """The :class:`~rfdiff.data.DataMatrix` of a real-data ``--data`` text (:func:`is_data_source`)."""
    from .datasets import DATASETS, load_dataset
    from .empirical import load_matrix
    text = text.strip()
    if text in DATASETS:
        return load_dataset(text, constant_columns=constant_columns)
    return load_matrix(text, constant_columns=constant_columns)


def law_from_text(text: str, *, bins=None, constant_columns="keep") -> DataLaw:
    """The data law described by a ``--data`` text: real data (:func:`data_from_text`, its sample spectrum,
    ``bins`` and ``constant_columns`` as in :meth:`~rfdiff.data.DataMatrix.law`), or a spec
    (:func:`parse_data_spec`, then :func:`law_from_spec`)."""
    if is_data_source(text):
        return data_from_text(text, constant_columns=constant_columns).law(bins)
    spec = parse_data_spec(text)
    if not isinstance(spec, dict):
        raise ValueError(f"--data must describe one law (a JSON object), got {spec!r}")
    return law_from_spec(spec)
