"""Gradient code under test, plugged in through the contract of the design:

    gradients(weights, biases, activations, cost, X, Y) -> (dJ_dw, dJ_db)

:func:`load_candidate` imports it from ``MODULE:NAME``; :class:`ContractCandidate`
calls it on each example with copies of the arrays in the dtype being checked,
and turns whatever goes wrong into a precise message about the code under test.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from manual_backprop import Example, Gradients, InvalidArgument
from reports.campaign import INTERRUPTED, CandidateFailure

GradientFunction = Callable[..., Any]


def import_target(target: str, example: str = "mypackage.backprop:gradients",
                  module_alone: bool = False) -> Any:
    """The object that ``MODULE:NAME`` names (the current directory comes first
    on the path), or with ``module_alone`` the module that ``MODULE`` names;
    ``example`` shows a well-formed target in messages."""
    module_name, colon, attribute = target.partition(":")
    if not module_name or not (attribute or module_alone and not colon):
        alone = " (or MODULE, when the module itself is it)" if module_alone else ""
        raise InvalidArgument(f"target {target!r}: expected MODULE:NAME{alone}, for "
                              f"example {example}")
    sys.path.insert(0, str(Path.cwd()))
    if module_name.endswith(".py") or "/" in module_name:
        raise InvalidArgument(f"target {target!r}: expected a module name, not a "
                              "file path; run from the module's folder and drop "
                              f"the .py (mymodule:{example.partition(':')[2]})")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as error:
        hint = ""
        if isinstance(error, ModuleNotFoundError) and error.name == module_name:
            hint = (f" (looked in {Path.cwd()} and on sys.path): run from the "
                    "folder that holds it, or add that folder to PYTHONPATH")
        raise InvalidArgument(f"could not import {module_name!r}: "
                              f"{type(error).__name__}: {error}{hint}") from None
    found: Any = module
    for part in attribute.split(".") if attribute else ():
        if not hasattr(found, part):
            raise InvalidArgument(f"module {module_name!r} has no attribute "
                                  f"{attribute!r}; check the name after the colon")
        found = getattr(found, part)
    return found


def load_candidate(target: str) -> ContractCandidate:
    """Import ``MODULE:NAME`` (the current directory comes first on the path)."""
    function = import_target(target)
    if not callable(function):
        raise InvalidArgument(f"{target} is not callable (it is of type "
                              f"{type(function).__name__}); expected a function "
                              "gradients(weights, biases, activations, cost, X, Y)")
    return ContractCandidate(function, target)


def _user_traceback(error: BaseException) -> str:
    """The traceback of ``error`` from the first frame outside this module."""
    trace = error.__traceback__
    while trace is not None and trace.tb_frame.f_code.co_filename == __file__:
        trace = trace.tb_next
    return "".join(traceback.format_exception(type(error), error, trace)).rstrip()


def call_user_code(name: str, function: Callable[..., Any], *args: Any) -> Any:
    """``function(*args)``; whatever it raises becomes a :class:`CandidateFailure`
    that names ``name`` and shows the user's own traceback (a first Ctrl-C of a
    campaign is let through)."""
    try:
        return function(*args)
    except KeyboardInterrupt as error:
        if INTERRUPTED.is_set():
            raise
        raise CandidateFailure(f"{name} raised:\n{_user_traceback(error)}")\
            from None
    except (Exception, SystemExit) as error:
        raise CandidateFailure(f"{name} raised:\n{_user_traceback(error)}")\
            from None


class ContractCandidate:
    """A user's gradient function, called on each example and checked."""

    def __init__(self, function: GradientFunction, name: str) -> None:
        self.function = function
        self.name = name

    def __call__(self, example: Example, dtype: str) -> Gradients:
        weights, biases, X, Y = example.cast(dtype)
        inputs = [*weights, *biases, X, Y]
        copies = [a.copy() for a in inputs]
        listed = ([id(w) for w in weights], [id(b) for b in biases])
        a = example.architecture
        returned = call_user_code(self.name, self.function, weights, biases,
                                  list(a.activations), a.cost, X, Y)

        if ([id(w) for w in weights], [id(b) for b in biases]) != listed:
            raise CandidateFailure(
                f"{self.name} changed the list weights or biases in place (added, "
                "removed or replaced an entry); gradient code must leave its "
                "arguments as they were"
            )
        changed = [k for k, (x, c) in enumerate(zip(inputs, copies))
                   if not np.array_equal(x, c, equal_nan=True)]
        if changed:
            names = [*(f"w_{i + 1}" for i in range(a.n)),
                     *(f"b_{i + 1}" for i in range(a.n)), "X", "Y"]
            raise CandidateFailure(
                f"{self.name} changed its input {', '.join(names[k] for k in changed)} "
                "in place; gradient code must leave its arguments as they were"
            )
        dJ_dw, dJ_db = returned_gradients(returned, self.name, example)
        return Gradients(dJ_dw=dJ_dw, dJ_db=dJ_db)


def returned_gradients(returned: Any, name: str, example: Example
                       ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``dJ_dw`` and ``dJ_db`` of what gradient code ``name`` returned for
    ``example``, as arrays; :class:`CandidateFailure` naming the entry and both
    shapes when it is not a pair of lists with one float array per layer."""
    n = example.architecture.n
    dJ_dw, dJ_db = _unpack(returned, name, n)
    return ([_array(dJ_dw[i], f"dJ/dw_{i + 1}", example.weights[i].shape, name)
             for i in range(n)],
            [_array(dJ_db[i], f"dJ/db_{i + 1}", example.biases[i].shape, name)
             for i in range(n)])


def _unpack(returned: Any, name: str, n: int) -> tuple[list[Any], list[Any]]:
    if not isinstance(returned, tuple | list) or len(returned) != 2:
        length = f" of length {len(returned)}" if hasattr(returned, "__len__") else ""
        raise CandidateFailure(
            f"{name} returned {type(returned).__name__}{length}: expected a pair "
            "(dJ_dw, dJ_db) of lists with one array per layer"
        )
    dJ_dw, dJ_db = returned
    for what, value in (("dJ_dw", dJ_dw), ("dJ_db", dJ_db)):
        if not isinstance(value, tuple | list) or len(value) != n:
            count = len(value) if hasattr(value, "__len__") else "no"
            raise CandidateFailure(
                f"{name} returned {what} with {count} entries "
                f"({type(value).__name__}): expected a list of {n}, one per layer"
            )
    return list(dJ_dw), list(dJ_db)


def _array(value: Any, what: str, shape: tuple[int, ...], name: str) -> np.ndarray:
    """``value`` as a float array shaped ``shape``; a PyTorch tensor is detached
    and moved to the CPU first. :class:`CandidateFailure` when it is not one."""
    if type(value).__module__.partition(".")[0] == "torch" and hasattr(value, "detach"):
        value = value.detach().cpu()
    try:
        array = np.asarray(value)
    except Exception as error:
        reason = str(error).strip().partition("\n")[0].rstrip(".")
        raise CandidateFailure(
            f"{name} returned {what} that is not a rectangular array of numbers "
            f"({type(value).__name__}; numpy: {reason}): return a numpy array shaped "
            f"{shape}") from None
    if array.dtype.kind in "OSUV":  # not numbers at all: the type says more
        raise CandidateFailure(f"{name} returned {what} as a {type(value).__name__} "
                               f"({array.dtype}): expected a float array shaped "
                               f"{shape}")
    if array.shape != shape:
        raise CandidateFailure(f"{name} returned {what} of shape {array.shape}: "
                               f"expected {shape}, the shape of the parameter")
    if not np.issubdtype(array.dtype, np.floating):
        raise CandidateFailure(f"{name} returned {what} of dtype {array.dtype}: "
                               "expected a float array")
    return array
