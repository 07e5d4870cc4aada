"""The allowed values of every numeric argument of :class:`gnnnas.Predictor`.

Its own module, without torch, so that the command line can check its options (and answer
``gnnnas --help``) without importing the predictor.
"""

from __future__ import annotations

import math
import numbers
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["BOOL_PARAMS", "CONV_NAMES", "NUMERIC_PARAMS", "POSITIVE_INT", "Range", "weighted_terms"]


@dataclass(frozen=True)
class Range:
    """The allowed values of a numeric argument; ``str()`` says them in error messages."""

    low: float
    high: float = math.inf
    bounds: str = "[)"  # whether low / high are allowed: "[]", "[)", "(]" or "()"
    integer: bool = False
    optional: bool = False  # None is allowed too
    also: tuple[tuple[int, str], ...] = ()  # other allowed integers, each with what it means

    def __str__(self) -> str:
        kind = "an integer" if self.integer else "a number"
        if self.high < math.inf:
            text = f"{kind} in {self.bounds[0]}{self.low}, {self.high}{self.bounds[1]}"
        elif self.integer and self.low == 1:
            text = "a positive integer"
        else:
            text = f"{kind if self.integer else 'a finite number'} {'>' if self.bounds[0] == '(' else '>='} {self.low}"
        text += "".join(f", {value} ({meaning})" for value, meaning in self.also)
        return text + (" or None" if self.optional else "")

    def check(self, name: str, value: Any) -> None:
        """``ValueError`` naming ``name`` unless ``value`` is in range (NaN, bools and strings never are)."""
        if value is None and self.optional:
            return
        if isinstance(value, numbers.Integral) and not isinstance(value, bool) and value in dict(self.also):
            return
        kind = numbers.Integral if self.integer else numbers.Real
        inside = (
            isinstance(value, kind)
            and not isinstance(value, bool)
            and (self.low < value if self.bounds[0] == "(" else self.low <= value)
            and (value < self.high if self.bounds[1] == ")" else value <= self.high)
        )
        if not inside:
            raise ValueError(f"{name} must be {self}, got {value!r}")


POSITIVE_INT = Range(1, integer=True)
#: Every numeric hyperparameter of :class:`gnnnas.Predictor` and its allowed values.
NUMERIC_PARAMS: dict[str, Range] = {
    "hidden_dim": POSITIVE_INT,
    "num_layers": POSITIVE_INT,
    "dropout": Range(0, 1),
    "epochs": Range(1, integer=True, optional=True),
    "batch_size": POSITIVE_INT,
    "lr": Range(0, bounds="()"),
    "weight_decay": Range(0),
    "n_members": POSITIVE_INT,
    "validation_fraction": Range(0, 1),
    "early_stopping_patience": Range(1, integer=True, optional=True),
    "hyper_width": POSITIVE_INT,
    "unlabelled_archs": Range(0, integer=True),
    "hyper_archs": POSITIVE_INT,
    "hyper_images": POSITIVE_INT,
    "hyper_every": POSITIVE_INT,
    "task_preference": Range(0, bounds="()"),
    "hyper_loss_weight": Range(0),
    "proxy_rank_weight": Range(0),
    "pretrain_archs": Range(2, integer=True),
    "pretrain_epochs": POSITIVE_INT,
    "pretrain_batch_size": Range(2, integer=True),
    "encoder_lr_scale": Range(0),
    "seed": Range(0, 2**32 - 1, bounds="[]", integer=True, optional=True),
    "num_threads": Range(1, integer=True, optional=True, also=((-1, "every CPU"),)),
}
BOOL_PARAMS = ("use_global_node", "cell_context", "macro_features", "prune", "contract_identities",
               "bootstrap", "hypernetwork", "data_parallel", "verbose")

#: Names of the built-in encoder convolutions (:data:`gnnnas.nn.convs.CONVS`, which imports
#: torch-geometric; kept here so ``gnnnas --help`` lists them without importing torch).
CONV_NAMES = ("gcn", "gin", "gine", "gatv2", "transformer", "resgated", "graphconv", "sage")


#: The ``+`` joins of a weighted spec, not an exponent's sign (``1e+3*mse`` is one term).
_JOINS = re.compile(r"(?<![\d.][eE])\+")


def weighted_terms(spec: str) -> list[tuple[str | None, str]]:
    """The ``[weight*]name`` terms of a ``+``-joined spec such as ``loss="mse+0.5*listnet"`` or
    ``pretrain="costs+1e+3*masked"``: ``(weight text, or None where the term has no '*', name)``,
    both stripped; an empty term is ``(None, "")``. The callers read and check the names and
    weights, each with its own vocabulary and messages."""
    return [(weight.strip() if star else None, name.strip())
            for weight, star, name in (term.rpartition("*") for term in _JOINS.split(spec))]
