"""``scipy.special``, imported when first used rather than when gradproof is.

Processes that never evaluate an activation or a cost here (the helper
processes that compute the PyTorch and JAX oracles) then skip SciPy's import,
a fifth of a second, and the main process imports it after it has started them.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def lazy_module(name: str) -> ModuleType:
    """The module ``name``, loaded at its first attribute access (the standard
    library's :class:`importlib.util.LazyLoader`), or at once if it is loaded."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.find_spec(name)
    if spec is None or spec.loader is None:
        raise ImportError(f"no module named {name!r}")
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


special = lazy_module("scipy.special")
