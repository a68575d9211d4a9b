"""Lazy re-exports for the stage packages' `__init__`."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> Callable[[str], Any]:
    """A module `__getattr__` that imports each exported name from its module on first use.

    Lazy so that importing one module of a stage (its Whisper code, say) does not import the
    whole stage, and so that the stage packages never import each other in a cycle.
    """

    def load(name: str) -> Any:
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(exports[name]), name)

    return load
