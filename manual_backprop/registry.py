"""A user's activation or cost, registered by name for the duration of a check.

``gradproof check-activation`` and ``gradproof check-cost`` put the user's
component into :data:`~manual_backprop.ACTIVATIONS` or
:data:`~manual_backprop.COSTS` under a name such as ``user:swish``, inside a
``with registered(component):`` block: there the architecture spec accepts the
name, the manual backprop runs the user's ``f`` and derivative (or ``J`` and
derivative), and the finite-difference oracle finds the user's ``f`` (or ``J``).
Leaving the block takes the name out again; nothing is registered at import.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from manual_backprop.activations import ACTIVATIONS, Activation
from manual_backprop.costs import COSTS, Cost
from manual_backprop.errors import check_argument

USER_PREFIX = "user:"


def is_user_component(name: str) -> bool:
    """Whether ``name`` is a user's activation or cost registered for a check."""
    return name.startswith(USER_PREFIX)


@contextlib.contextmanager
def registered(component: Activation | Cost) -> Iterator[str]:
    """Within the block, ``component`` is found under its name, which must start
    with ``user:`` and not be taken; the block receives the name."""
    table: dict = ACTIVATIONS if isinstance(component, Activation) else COSTS
    name = component.name
    check_argument(is_user_component(name),
                   f"component name {name!r}: expected one that starts with "
                   f"{USER_PREFIX!r}, so that it cannot hide a built-in one")
    check_argument(name not in table,
                   f"{name!r} is already registered: leave the check that "
                   "registered it first")
    table[name] = component
    try:
        yield name
    finally:
        del table[name]
