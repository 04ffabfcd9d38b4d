"""Hypothesis strategies for gradient checks, the profiles, and the property tests."""

from property_tests.strategies import (
    architectures,
    examples,
    output_activations,
    with_activation,
)

__all__ = ["architectures", "examples", "output_activations", "with_activation"]
