"""A helper process's side of :mod:`oracles.remote`, run as a script:
``python helper_process.py READ_FD WRITE_FD GRADPROOF_ROOT``.

A script, not a module of the package, so that it starts reading its calls at
once, before importing anything of gradproof: a thread takes every call off the
pipe as it comes, and the main process never waits to hand one over however
long the first imports and compilations take. The calls then run in order, in
the main thread; each, ``(number, function, args)``, is answered with
``(number, False, result)`` or ``(number, True, exception)``.
"""

import pickle
import queue
import signal
import sys
import threading
from multiprocessing.connection import Connection


def serve(incoming: Connection, outgoing: Connection) -> None:
    calls: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def read() -> None:
        while True:
            try:
                calls.put(incoming.recv_bytes())
            except (EOFError, OSError):  # the main process has gone or closed
                calls.put(None)
                return

    threading.Thread(target=read, daemon=True).start()
    while (message := calls.get()) is not None:
        number = -1
        try:
            number, function, args = pickle.loads(message)  # imports what it needs
            answer = (number, False, function(*args))
        except Exception as error:
            answer = (number, True, error)
        try:
            outgoing.send(answer)
        except OSError:  # the main process has gone: nobody waits for answers
            return
        except Exception as error:  # an answer or exception that does not pickle
            outgoing.send((number, True, RuntimeError(
                f"the helper's answer does not pickle: {type(error).__name__}: "
                f"{error}; it was {answer[2]!r:.200}")))


if __name__ == "__main__":
    # Ctrl-C is the main process's to handle: it finishes the example in hand.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    read_fd, write_fd, root = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    sys.path[0] = root  # gradproof, not this script's folder
    serve(Connection(read_fd, writable=False), Connection(write_fd, readable=False))
