"""Independent references for gradients, and the comparison that ends in a verdict.

The names below load their modules when first used, so that a helper process
that only computes one oracle (see :mod:`oracles.remote`) imports no more than
that oracle needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from oracles.base import ORACLE_NAMES, Oracle, OracleUnavailable, make_oracle

if TYPE_CHECKING:
    from oracles.compare import CANDIDATE, BlockComparison, Judgement, Verdict, judge
    from oracles.tolerance import Tolerances, tolerances

_LAZY = {
    "CANDIDATE": "oracles.compare", "BlockComparison": "oracles.compare",
    "Judgement": "oracles.compare", "Verdict": "oracles.compare",
    "judge": "oracles.compare", "Tolerances": "oracles.tolerance",
    "tolerances": "oracles.tolerance",
}

__all__ = [
    "CANDIDATE", "ORACLE_NAMES", "BlockComparison", "Judgement", "Oracle",
    "OracleUnavailable", "Tolerances", "Verdict", "judge", "make_oracle",
    "tolerances",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'oracles' has no attribute {name!r}")
