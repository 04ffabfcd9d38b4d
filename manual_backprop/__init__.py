"""A hand-written, layer-by-layer backpropagation for multilayer networks."""

from manual_backprop.activations import ACTIVATIONS, HIDDEN_ACTIVATIONS, Activation
from manual_backprop.costs import COSTS, Cost
from manual_backprop.errors import GradproofError, InvalidArgument
from manual_backprop.network import (
    ForwardPass,
    Gradients,
    backprop,
    backward,
    forward,
    gradients,
)
from manual_backprop.registry import USER_PREFIX, is_user_component, registered
from manual_backprop.spec import DTYPES, REDUCTIONS, Architecture, Example

__all__ = [
    "ACTIVATIONS", "COSTS", "DTYPES", "HIDDEN_ACTIVATIONS", "REDUCTIONS",
    "USER_PREFIX", "Activation", "Architecture", "Cost", "Example", "ForwardPass",
    "GradproofError", "Gradients", "InvalidArgument",
    "backprop", "backward", "forward", "gradients", "is_user_component", "registered",
]
