"""Independent references for gradients, and the comparison that ends in a verdict."""

from oracles.base import ORACLE_NAMES, Oracle, OracleUnavailable, make_oracle
from oracles.compare import CANDIDATE, BlockComparison, Judgement, Verdict, judge
from oracles.tolerance import Tolerances, tolerances

__all__ = [
    "CANDIDATE", "ORACLE_NAMES", "BlockComparison", "Judgement", "Oracle",
    "OracleUnavailable", "Tolerances", "Verdict", "judge", "make_oracle",
    "tolerances",
]
