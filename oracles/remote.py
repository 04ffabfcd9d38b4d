"""Helper processes: oracles (and other slow starters) run beside the campaign,
so that their imports and compilations overlap it.

PyTorch and JAX each take about a second to import, and JAX another to compile
its first program; a campaign of a few hundred small examples takes only a few
seconds more. Run in helper processes, on a machine with two cores or more,
those costs overlap the main process's own start and its first examples: the
main process hands each example to the helpers first (:meth:`RemoteOracle.submit`),
checks the code under test meanwhile, and collects their answers later.

A helper is a fresh interpreter (running ``helper_process.py``) that reads the
calls it is sent over a pipe, runs them in order and answers each with its
result or the exception it raised. It sits in a session of its own, so the
terminal's Ctrl-C reaches only the main process, which can then finish the
example in hand; the main process kills it when the campaign ends, and it
stops by itself should the main process go. Should a helper die or fail to
start, its oracle says so once in the log and computes in the main process
from then on: a campaign never stops for a helper's sake. Helpers talk over
inherited pipes, so they need a POSIX system; elsewhere every oracle runs in
the main process.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import itertools
import logging
import os
import pickle
import queue
import subprocess
import sys
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from manual_backprop import Example
from oracles.base import Oracle, backend_of, make_oracle

logger = logging.getLogger(__name__)


class HelperFailed(Exception):
    """A helper process stopped, or never started, before it answered."""


class Helper:
    """A helper process that runs calls in order; started at once.

    ``call(function, *args)`` returns a :class:`Pending` answer at once; the
    function and its arguments must pickle (a function by its module and name).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        to_helper, from_helper = os.pipe(), os.pipe()
        self._process = subprocess.Popen(
            [sys.executable, str(Path(__file__).with_name("helper_process.py")),
             str(to_helper[0]), str(from_helper[1]), _gradproof_root()],
            pass_fds=(to_helper[0], from_helper[1]), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, start_new_session=True)
        os.close(to_helper[0])
        os.close(from_helper[1])
        self._send = Connection(to_helper[1], readable=False)
        self._receive = Connection(from_helper[0], writable=False)
        self._waiting: dict[int, Pending] = {}
        self._calls = itertools.count()
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        threading.Thread(target=self._write, daemon=True,
                         name=f"gradproof: to the {name} helper").start()

    def call(self, function: Callable[..., Any], *args: Any) -> Pending:
        """Send ``function(*args)`` to the helper; its answer is pending."""
        pending, number = Pending(self), next(self._calls)
        try:
            message = pickle.dumps((number, function, args), pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError) as error:
            pending.fail(HelperFailed(f"cannot hand {function.__name__} to the "
                                      f"{self.name} helper: {error}"))
            return pending
        self._waiting[number] = pending
        self._outbox.put(message)
        return pending

    def _write(self) -> None:
        """Hand the calls over, in a thread of their own: a pipe holds only so
        much, and a helper busy importing takes them off slowly."""
        with self._send:
            while (message := self._outbox.get()) is not None:
                try:
                    self._send.send_bytes(message)
                except OSError:  # the helper is gone; receive() says so
                    return

    def receive(self, block: bool) -> None:
        """Take the helper's next answer, if one has come (or, with ``block``,
        once it comes), to the call it answers. Answers carry their call's
        number, so that one lost to a Ctrl-C cannot be taken for the next."""
        if not self._waiting or not (block or self._receive.poll()):
            return
        try:
            number, raised, value = self._receive.recv()
        except Exception as error:  # gone, or a message cut short by Ctrl-C
            failure = HelperFailed(
                f"the {self.name} helper stopped answering (exit code "
                f"{self._process.poll()}): {type(error).__name__} {error}".strip())
            for pending in self._waiting.values():
                pending.fail(failure)
            self._waiting.clear()
            return
        if number not in self._waiting:  # its caller gave up on it
            return
        pending = self._waiting.pop(number)
        if raised:
            pending.fail(value)
        else:
            pending.succeed(value)

    def expects(self, pending: Pending) -> bool:
        """Whether an answer is still to come for ``pending``."""
        return any(p is pending for p in self._waiting.values())

    def close(self) -> None:
        """Stop the helper at once: whatever it still computes is not needed."""
        self._process.kill()
        self._process.wait()
        self._outbox.put(None)
        self._receive.close()


def helpers_available() -> bool:
    """Whether helper processes can run here: they talk over inherited pipes,
    which need a POSIX system."""
    return os.name == "posix"


class Pending:
    """A helper's answer to one call, on its way."""

    _UNSET = object()

    def __init__(self, helper: Helper) -> None:
        self._helper = helper
        self._value: Any = Pending._UNSET
        self._error: BaseException | None = None

    def succeed(self, value: Any) -> None:
        self._value = value

    def fail(self, error: BaseException) -> None:
        self._error = error

    def done(self) -> bool:
        """Whether :meth:`result` would return without waiting for the helper."""
        if not self._settled():
            self._helper.receive(block=False)
        return self._settled()

    def result(self) -> Any:
        """The answer, once it comes; the call's exception, raised again here."""
        while not self._settled():
            if not self._helper.expects(self):  # taken off, then lost to Ctrl-C
                self.fail(HelperFailed(f"the {self._helper.name} helper's answer "
                                       "was lost to an interruption"))
                break
            self._helper.receive(block=True)
        if self._error is not None:
            raise self._error
        return self._value

    def _settled(self) -> bool:
        return self._error is not None or self._value is not Pending._UNSET


def _gradproof_root() -> str:
    """The folder the helper imports gradproof from: where this process did."""
    return str(Path(__file__).resolve().parent.parent)


# The oracles built by _build_oracle (in a helper, or here when it failed).
_oracles: dict[str, Oracle] = {}


def _log_at(level: int) -> None:
    """Log in the helper as in the main process, to the same stderr."""
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(level)
    logging.getLogger("jax").setLevel(max(level, logging.WARNING))  # its own chatter


def _build_oracle(name: str, compilation_cache: Path | None) -> None:
    _oracles[name] = make_oracle(name)
    if name == "jax" and compilation_cache is not None:
        from oracles.jax_oracle import keep_compiled_programs
        keep_compiled_programs(compilation_cache)
    if name == "torch":
        import torch
        torch.set_num_threads(1)  # networks this small run fastest on one thread


def _compute(name: str, example: Example) -> object:
    return _oracles[name].compute(example)


class RemoteOracle:
    """The oracle called ``name``, computed in a :class:`Helper` started at once.

    ``compilation_cache`` is the folder where a JAX helper keeps its compiled
    programs between runs (see :func:`oracles.jax_oracle.keep_compiled_programs`).
    """

    def __init__(self, name: str, compilation_cache: Path | None = None) -> None:
        backend = backend_of(name)
        if backend is not None and importlib.util.find_spec(backend) is None:
            make_oracle(name)  # raises OracleUnavailable with the install hint
        self.name = name
        self.version = importlib.metadata.version(backend) if backend else "builtin"
        self._compilation_cache = compilation_cache
        self.helper: Helper | None = None
        try:
            self.helper = Helper(f"{name} oracle")
        except OSError as error:
            logger.warning("could not start a helper process for the %s oracle (%s); "
                           "computing it in this process", name, error)
            return
        self.helper.call(_log_at, logging.getLogger().getEffectiveLevel())
        self._built = self.helper.call(_build_oracle, name, compilation_cache)

    def submit(self, example: Example) -> Answer:
        """Hand ``example`` to the helper; collect the answer with ``result()``."""
        if self.helper is None:
            return Answer(self, example, None)
        return Answer(self, example, self.helper.call(_compute, self.name, example))

    def compute(self, example: Example) -> object:
        """The oracle's answer for ``example``, waiting for the helper."""
        return self.submit(example).result()

    def built(self) -> None:
        """Wait until the helper holds its oracle; :class:`HelperFailed` if it
        could not build it."""
        try:
            self._built.result()
        except HelperFailed:
            raise
        except Exception as error:
            raise HelperFailed(f"the {self.name} oracle's helper could not build it: "
                               f"{type(error).__name__}: {error}") from error

    def fall_back(self, error: HelperFailed) -> None:
        """Compute in this process from now on, the helper having failed. The
        oracle is built here first, so that one that cannot be built here either
        raises its own error (the install hint) and nothing says it goes on."""
        if self.helper is not None:
            self.close()
            self.in_process()
            logger.warning("%s; computing the %s oracle in this process from now on",
                           error, self.name)

    def in_process(self) -> Oracle:
        """The oracle built in this process, as the helper would have built it."""
        if self.name not in _oracles:
            _build_oracle(self.name, self._compilation_cache)
        return _oracles[self.name]

    def close(self) -> None:
        if self.helper is not None:
            self.helper.close()
            self.helper = None


class Answer:
    """A remote oracle's answer for one example, computed here if its helper
    fails."""

    def __init__(self, oracle: RemoteOracle, example: Example,
                 pending: Pending | None) -> None:
        self._oracle, self._example, self._pending = oracle, example, pending

    def done(self) -> bool:
        return self._pending is None or self._pending.done()

    def result(self) -> object:
        if self._pending is not None:
            try:
                self._oracle.built()
                return self._pending.result()
            except HelperFailed as error:
                self._oracle.fall_back(error)
        return self._oracle.in_process().compute(self._example)
