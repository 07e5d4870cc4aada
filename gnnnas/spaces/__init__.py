"""Search spaces: the registry and the built-in spaces (importing registers them)."""

from gnnnas.spaces.base import SearchSpace, as_rng
from gnnnas.spaces.registry import get_space, list_spaces, register_space

from gnnnas.spaces import nb201  # noqa: F401  (registers "nb201")
from gnnnas.spaces import darts, macro, vit  # noqa: F401  (registers "darts", "macro", "vit")
from gnnnas.spaces import nasbench_graph  # noqa: F401  (registers "nasbench_graph")
from gnnnas.spaces import nb101  # noqa: F401  (registers "nb101")

__all__ = ["SearchSpace", "as_rng", "get_space", "list_spaces", "register_space"]
