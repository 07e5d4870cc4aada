"""Registry of search spaces: ``get_space(name)`` builds one, ``register_space`` adds one.

A user-defined space needs no edit to the package::

    @gnnnas.register_space("myspace")
    class MySpace(gnnnas.spaces.SearchSpace):
        ...

    space = gnnnas.get_space("myspace")
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from gnnnas.spaces.base import SearchSpace

__all__ = ["get_space", "list_spaces", "register_space"]

_REGISTRY: dict[str, Callable[..., SearchSpace]] = {}

T = TypeVar("T", bound=Callable[..., SearchSpace])


def register_space(name: str, *, overwrite: bool = False) -> Callable[[T], T]:
    """Class decorator (or factory decorator) that registers a space under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError("a search space needs a non-empty string name")

    def decorator(factory: T) -> T:
        if name in _REGISTRY and not overwrite and _REGISTRY[name] is not factory:
            raise ValueError(
                f"search space {name!r} is already registered; pass overwrite=True to replace it"
            )
        _REGISTRY[name] = factory
        if isinstance(factory, type) and not getattr(factory, "name", ""):
            factory.name = name
        return factory

    return decorator


def get_space(name: str, **kwargs: Any) -> SearchSpace:
    """Build the registered space ``name`` (keyword arguments go to its constructor)."""
    if isinstance(name, SearchSpace):
        return name
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown search space {name!r}; registered: {list_spaces()}") from None
    space = factory(**kwargs)
    if not isinstance(space, SearchSpace):
        raise TypeError(f"factory of space {name!r} returned {type(space).__name__}, not a SearchSpace")
    return space


def list_spaces() -> list[str]:
    """Names of all registered spaces, sorted."""
    return sorted(_REGISTRY)
