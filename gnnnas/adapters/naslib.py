"""A gnnnas predictor behind NASLib's predictor interface (``fit`` / ``query``).

NASLib (github.com/automl/NASLib) is not on PyPI, so this module does not import it: the class
follows the interface of ``naslib.predictors.predictor.Predictor`` as NASLib defines it
(``set_ss_type``, ``pre_process``, ``fit(xtrain, ytrain, train_info=None)``,
``query(xtest, info=None)``, ``get_data_reqs``) and is tested against that interface.

Architectures (``xtrain`` / ``xtest``) may be gnnnas ArchGraphs, native encodings of the space,
or NASLib objects / encodings, converted as follows:

* ``nasbench201``: ``arch.get_op_indices()`` or ``arch.get_hash()`` (or the 6-int tuple
  itself). NASLib numbers the cell's nodes 1..4 and lists the edges in :data:`NASLIB_NB201_EDGES`
  order; an index picks from :data:`NASLIB_NB201_OPS` (NASLib's ``OP_NAMES_NB201``). Edge
  ``(i, j)`` is the op ``~i-1`` of node ``j-1`` in the NB201 arch string.
* ``nasbench101``: ``arch.get_spec()`` (a ``{"matrix", "ops"}`` dict, NB101's own spec).
* ``nasbench301`` / ``darts``: ``arch.get_compact()`` or ``arch.get_hash()`` (NASLib's compact
  genotype, which gnnnas's DARTS space parses as is).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from gnnnas.graph import ArchGraph
from gnnnas.predictor import Predictor
from gnnnas.spaces.registry import get_space

__all__ = ["NASLIB_NB201_EDGES", "NASLIB_NB201_OPS", "NASLIB_SPACES", "NASLibPredictor",
           "nb201_from_op_indices", "nb201_to_op_indices"]

#: NASLib's ``ss_type`` names -> gnnnas space names.
NASLIB_SPACES: dict[str, str] = {"nasbench201": "nb201", "nasbench101": "nb101", "nasbench301": "darts",
                                 "darts": "darts"}
#: NASLib's NB201 op order (``OP_NAMES_NB201`` in naslib/search_spaces/nasbench201/conversions.py).
NASLIB_NB201_OPS: tuple[str, ...] = ("skip_connect", "none", "nor_conv_3x3", "nor_conv_1x1", "avg_pool_3x3")
#: NASLib's NB201 edge order (``EDGE_LIST``; nodes 1..4, node 1 = cell input).
NASLIB_NB201_EDGES: tuple[tuple[int, int], ...] = ((1, 2), (1, 3), (1, 4), (2, 3), (2, 4), (3, 4))


def nb201_from_op_indices(op_indices: Sequence[int]) -> str:
    """NASLib's 6 NB201 op indices -> the NB201 arch string ``|op~0|+|op~0|op~1|+|...|``."""
    indices = list(op_indices)
    if len(indices) != 6 or not all(isinstance(i, (int, np.integer)) and 0 <= i < 5 for i in indices):
        raise ValueError(f"NASLib NB201 op indices must be 6 integers in 0..4, got {op_indices!r}")
    op_of = {edge: NASLIB_NB201_OPS[i] for edge, i in zip(NASLIB_NB201_EDGES, indices)}
    nodes = ["|".join(f"{op_of[(i, j)]}~{i - 1}" for i in range(1, j)) for j in (2, 3, 4)]
    return "|" + "|+|".join(nodes) + "|"


def nb201_to_op_indices(arch: Any) -> tuple[int, ...]:
    """An NB201 arch string (or ArchGraph) -> NASLib's 6 op indices (``get_hash()`` of NASLib)."""
    text = get_space("nb201").format(get_space("nb201").parse(arch))
    nodes = [[item.split("~")[0] for item in node.strip("|").split("|")] for node in text.split("+")]
    return tuple(NASLIB_NB201_OPS.index(nodes[j - 2][i - 1]) for i, j in NASLIB_NB201_EDGES)


class NASLibPredictor:
    """NASLib predictor interface around :class:`gnnnas.Predictor`.

    Args:
        ss_type: NASLib search-space name (``nasbench201``, ``nasbench101``, ``nasbench301``) or a
            gnnnas space name.
        encoding_type: accepted for NASLib compatibility; unused (gnnnas reads the graph).
        **params: :class:`gnnnas.Predictor` hyperparameters (``epochs``, ``n_members``, ...).

    ``query`` returns the predictor's scores, which follow the order of the accuracies and are
    scaled like ``ytrain`` (its mean and spread), not calibrated accuracies.
    """

    def __init__(self, ss_type: str = "nasbench201", encoding_type: str | None = None, **params: Any) -> None:
        self.encoding_type = encoding_type
        self.params = params
        self.set_ss_type(ss_type)
        Predictor(space=self.space, **params)  # fail now on a bad hyperparameter name
        self.model_: Predictor | None = None

    # ------------------------------------------------------------------ NASLib interface
    def set_ss_type(self, ss_type: str) -> None:
        space = NASLIB_SPACES.get(ss_type, ss_type)
        get_space(space)  # raises ValueError naming the registered spaces
        self.ss_type = ss_type
        self.space = space

    def pre_process(self) -> None:
        """Nothing to prepare before the search starts (NASLib calls it once)."""

    def get_data_reqs(self) -> dict[str, Any]:
        """No learning curves, hyperparameters or unlabelled archs are needed."""
        return {"requires_partial_lc": False, "metric": None, "requires_hyperparameters": False,
                "hyperparams": {}, "unlabeled": False, "unlabeled_factor": 0}

    def get_hyperparams(self) -> dict[str, Any]:
        return Predictor(space=self.space, **self.params).get_params()

    def set_hyperparams(self, params: dict[str, Any]) -> None:
        Predictor(space=self.space, **{**self.params, **params})
        self.params = {**self.params, **params}

    def fit(self, xtrain: Sequence[Any], ytrain: Sequence[float], train_info: Any = None) -> NASLibPredictor:
        """Train on architectures and their accuracies (``train_info`` is not needed)."""
        archs = self.to_archs(xtrain)
        y = np.asarray(ytrain, dtype=np.float64).reshape(-1)
        if len(y) != len(archs):
            raise ValueError(f"got {len(archs)} architectures but {len(y)} accuracies")
        self.model_ = Predictor(space=self.space, **self.params).fit(archs, y)
        return self

    def query(self, xtest: Sequence[Any], info: Any = None) -> np.ndarray:
        """Predicted accuracy per architecture, ``[len(xtest)]`` (``info`` is not needed)."""
        if self.model_ is None:
            raise ValueError("this NASLibPredictor is not fitted yet; call fit(xtrain, ytrain) first")
        return np.asarray(self.model_.predict(self.to_archs(xtest)), dtype=np.float64)

    # ------------------------------------------------------------------ conversion
    def to_archs(self, xs: Sequence[Any]) -> list[ArchGraph]:
        """NASLib objects / encodings, native encodings or ArchGraphs -> ArchGraphs."""
        if isinstance(xs, (str, bytes)) or not hasattr(xs, "__len__"):
            raise ValueError("expected a list of architectures")
        space = get_space(self.space)
        out = []
        for i, x in enumerate(xs):
            try:
                out.append(space.parse(self._native(x)))
            except ValueError as error:
                message = f"architecture {i} is not a valid {self.ss_type} architecture: {error}"
                raise ValueError(message) from None
        return out

    def _native(self, x: Any) -> Any:
        if isinstance(x, (ArchGraph, str)):
            return x
        if self.space == "nb201":
            if hasattr(x, "get_op_indices"):
                return nb201_from_op_indices(x.get_op_indices())
            if hasattr(x, "get_hash"):
                return nb201_from_op_indices(x.get_hash())
            if isinstance(x, (tuple, list, np.ndarray)) and len(x) == 6:
                return nb201_from_op_indices(x)
        if self.space == "nb101" and hasattr(x, "get_spec"):
            return x.get_spec()
        if self.space == "darts":
            if hasattr(x, "get_compact"):
                return x.get_compact()
            if hasattr(x, "get_hash"):  # NASLib's NB301 hash is the compact genotype
                return x.get_hash()
        return x
