"""Search spaces: the registry and the built-in spaces (importing registers them)."""

from gnnnas.spaces import (  # noqa: F401  (registers "darts", "macro", "vit")
    darts,
    macro,
    nasbench_graph,
    nb101,
    nb201,
    vit,
)
from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import get_space, list_spaces, register_space

__all__ = ["SearchSpace", "as_rng", "get_space", "list_spaces", "register_space"]
