"""What every oracle offers, and how the harness finds one by name.

An oracle reads only the architecture spec and the arrays of an example; it
shares no code with the manual backprop. Autograd oracles return full
:class:`~manual_backprop.Gradients` in float64, ``dJ_dl`` included; the
finite-difference oracle returns probes with error estimates instead.
"""

from __future__ import annotations

import importlib
from typing import Protocol, runtime_checkable

from manual_backprop import Example, Gradients, GradproofError

ORACLE_NAMES = ("torch", "jax", "fd", "cs")
DEFAULT_ORACLES = ("torch", "jax", "fd")
_MODULES = {
    "torch": ("oracles.torch_oracle", "TorchOracle", "torch"),
    "jax": ("oracles.jax_oracle", "JaxOracle", "jax"),
    "fd": ("oracles.finite_differences", "FiniteDifferenceOracle", None),
    "cs": ("oracles.finite_differences", "ComplexStepOracle", None),
}


def backend_of(name: str) -> str | None:
    """The package the oracle called ``name`` computes with (None: NumPy and
    SciPy, which gradproof itself needs)."""
    return _MODULES[name][2]


class OracleUnavailable(GradproofError):
    """An oracle's backend is not installed or does not import."""


@runtime_checkable
class Oracle(Protocol):
    """A reference that computes the gradients of an example on its own."""

    name: str
    version: str

    def compute(self, example: Example) -> object:
        """The oracle's answer for ``example``."""
        ...


@runtime_checkable
class AutogradOracle(Oracle, Protocol):
    def compute(self, example: Example) -> Gradients:
        """Float64 gradients of ``J``, with ``J`` and every ``dJ/dl_i``."""
        ...


def make_oracle(name: str) -> Oracle:
    """Build the oracle called ``name``, or say why it cannot be had."""
    if name not in _MODULES:
        raise OracleUnavailable(
            f"oracle {name!r} is unknown: expected one of {', '.join(ORACLE_NAMES)}"
        )
    module_name, class_name, backend = _MODULES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise OracleUnavailable(
            f"oracle {name!r} needs {backend}, which does not import ({error}); "
            f"install it with: pip install 'gradproof[{backend}]', "
            f"or leave it out with --oracles"
        ) from None
    oracle: Oracle = getattr(module, class_name)()
    return oracle
