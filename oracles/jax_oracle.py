"""JAX autograd (``jax.value_and_grad``) as an oracle, in float64.

JAX compiles one program per input shape, and random architectures would make
it compile for every example. Here every example is padded into a *bucket*: a
depth, a width and a batch size, each rounded up to a power of two. The extra
layers sit in front of the real ones as identity layers with ``w = I``; extra
units have zero weights, biases and inputs; extra outputs and samples are
masked out of ``J``. Which activation each layer applies and which cost is used
are runtime indices into ``lax.switch``, and the layers are one ``lax.scan``, so
one compiled program serves every architecture that fits its bucket: depths up
to 8 share one, widths up to 32 share one and batches up to 8 share one; larger
ones go in powers of two. Padding costs little at these sizes (a width-32 program
runs in about 0.7 ms, a width-8 one in 0.5 ms), compiling a bucket costs a second.
Past 256 units or samples, where one example costs more than a compilation and
padding to the next power of two could nearly double the depth and the width,
each is rounded up to an eighth of that power instead (2,750 units to 3,072, a
depth of 20 to 20), so a bucket holds at most a quarter more in each.

The programs are compiled at XLA's lowest backend optimisation level: that
halves the compile time and slows these small programs by about a tenth.

Float64 is switched on only inside :meth:`JaxOracle.compute`, through
``jax.enable_x64``, so importing this module changes no global JAX setting.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.scipy import special

from manual_backprop import ACTIVATIONS, COSTS, Example, Gradients

logger = logging.getLogger(__name__)

Array = jax.Array
_MIN_DEPTH, _MIN_WIDTH, _MIN_BATCH = 8, 32, 8
_FINE_ABOVE = 256


def _leaky_relu(l: Array) -> Array:
    # jax.nn.leaky_relu takes slope 1 at 0; the references take the smaller 0.01.
    return jnp.where(l > 0, l, 0.01 * l)


def _hard_tanh(l: Array) -> Array:
    # jax.nn.hard_tanh takes slope 1 at +-1; the references take the smaller 0.
    return jnp.where(jnp.abs(l) < 1, l, jnp.sign(l))


_ELEMENTWISE: dict[str, Callable[[Array], Array]] = {
    "identity": lambda l: l,
    "sigmoid": jax.nn.sigmoid,
    "tanh": jnp.tanh,
    "relu": jax.nn.relu,
    "leaky_relu": _leaky_relu,
    "elu": jax.nn.elu,
    "softplus": jax.nn.softplus,
    "gelu": lambda l: jax.nn.gelu(l, approximate=False),
    "gelu_tanh": lambda l: jax.nn.gelu(l, approximate=True),
    "silu": jax.nn.silu,
    "softsign": jax.nn.soft_sign,
    "hard_tanh": _hard_tanh,
}


def _activation_branch(name: str) -> Callable[[Array, Array], Array]:
    if name == "softmax":
        return lambda l, out_mask: jax.nn.softmax(l, axis=1, where=out_mask)
    elementwise = _ELEMENTWISE[name]
    return lambda l, out_mask: elementwise(l)


def _masked_sum(terms: Array, out_mask: Array) -> Array:
    return jnp.sum(jnp.where(out_mask, terms, 0.0), axis=1)


def _cross_entropy(h: Array, y: Array, out_mask: Array) -> Array:
    safe_h = jnp.where(out_mask, h, 1.0)
    return -_masked_sum(special.xlogy(y, safe_h), out_mask)


def _xlog_one_minus(a: Array, h: Array) -> Array:
    """``a log(1 - h)``, and 0 where ``a`` is 0, to a few ulp for ``h`` in [0, 1].

    XLA's float64 ``log1p`` on the CPU is off by up to about 130 ulp for
    arguments between -0.53 and -0.28, which would put this oracle's ``J``
    outside its tolerance for an output near 0.4. ``log1p`` is kept where it is
    exact and needed, for ``h`` below 0.25; above, ``1 - h`` loses at most half
    an ulp and ``log`` is exact. Each branch is fed a harmless value where the
    other is taken, so that neither puts a NaN in the gradient."""
    small = h < 0.25
    near_zero = special.xlog1py(a, -jnp.where(small, h, 0.0))
    far_from_zero = special.xlogy(a, 1 - jnp.where(small, 0.5, h))
    return jnp.where(small, near_zero, far_from_zero)


def _binary_cross_entropy(h: Array, y: Array, out_mask: Array) -> Array:
    safe_h = jnp.where(out_mask, h, 0.5)
    terms = special.xlogy(y, safe_h) + _xlog_one_minus(1 - y, safe_h)
    return -_masked_sum(terms, out_mask)


def _softmax_cross_entropy(h: Array, y: Array, out_mask: Array) -> Array:
    log_p = jax.nn.log_softmax(h, axis=1, where=out_mask)
    return -_masked_sum(y * jnp.where(out_mask, log_p, 0.0), out_mask)


def _mse(h: Array, y: Array, out_mask: Array) -> Array:
    return _masked_sum((h - y) ** 2, out_mask) / jnp.sum(out_mask)


_COSTS: dict[str, Callable[[Array, Array, Array], Array]] = {
    "half_sse": lambda h, y, m: 0.5 * _masked_sum((h - y) ** 2, m),
    "mse": _mse,
    "cross_entropy": _cross_entropy,
    "binary_cross_entropy": _binary_cross_entropy,
    "softmax_cross_entropy": _softmax_cross_entropy,
}

_ACTIVATION_CODES = {name: code for code, name in enumerate(ACTIVATIONS)}
_COST_CODES = {name: code for code, name in enumerate(COSTS)}
_ACTIVATION_BRANCHES = [_activation_branch(name) for name in ACTIVATIONS]
_COST_BRANCHES = [_COSTS[name] for name in COSTS]


def _padded_cost(W, B, E, X, Y, activation_codes, cost_code, out_mask, sample_scale):
    """``J`` of a padded network: ``W`` is ``(depth, P, P)``, ``B`` ``(depth, P)``,
    ``E`` the zero probes ``(depth, batch, P)``; ``sample_scale`` is ``(batch,)``,
    the reduction's weight for real samples and 0 for padding."""
    def layer(f: Array, inputs: tuple[Array, ...]) -> tuple[Array, Array]:
        w, b, e, code = inputs
        f = lax.switch(code, _ACTIVATION_BRANCHES, f @ w.T + b + e, out_mask)
        return f, f

    # One layer, scanned: the program's size does not grow with the depth.
    h, outputs = lax.scan(layer, X, (W, B, E, activation_codes))
    per_sample = lax.switch(cost_code, _COST_BRANCHES, h, Y, out_mask)
    return jnp.sum(per_sample * sample_scale), jnp.concatenate([X[None], outputs])


_value_and_grad = jax.jit(
    jax.value_and_grad(_padded_cost, argnums=(0, 1, 2), has_aux=True),
    compiler_options={"xla_backend_optimization_level": 0},
)


def keep_compiled_programs(directory: Path) -> None:
    """Keep compiled programs in ``directory`` so later runs load them instead
    of compiling again. This sets JAX's process-wide compilation cache, so the
    command line calls it; importing this module does not. A folder that
    cannot be made is logged, and programs are compiled anew each run."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        logger.warning("cannot keep JAX's compiled programs in %s (%s): JAX will "
                       "compile them again on each run", directory, error.strerror)
        return
    jax.config.update("jax_compilation_cache_dir", str(directory))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)


def _bucket(size: int, smallest: int, fine: bool) -> int:
    """``size`` rounded up to a power of two, at least ``smallest``; ``fine``:
    rounded up to a multiple of an eighth of that power."""
    power = max(smallest, 1 << math.ceil(math.log2(size)))
    if not fine or power == smallest:
        return power
    step = power // 8
    return -(-size // step) * step


class JaxOracle:
    """Reverse-mode gradients from JAX, one compiled program per bucket."""

    name = "jax"
    version = jax.__version__

    def __init__(self) -> None:
        self.buckets_compiled: set[tuple[int, int, int]] = set()

    def compute(self, example: Example) -> Gradients:
        """Float64 ``J``, ``dJ/dw_i``, ``dJ/db_i`` and ``dJ/dl_i`` of ``example``."""
        a = example.architecture
        n, sizes, batch = a.n, a.sizes, example.batch
        wide = max(sizes) > _FINE_ABOVE
        depth = _bucket(n, _MIN_DEPTH, fine=wide)
        width = _bucket(max(sizes), _MIN_WIDTH, fine=wide)
        rows = _bucket(batch, _MIN_BATCH, fine=batch > _FINE_ABOVE)
        front = depth - n

        W = np.zeros((depth, width, width))
        B = np.zeros((depth, width))
        W[:front] = np.eye(width)
        for i in range(n):
            W[front + i, : sizes[i + 1], : sizes[i]] = example.weights[i]
            B[front + i, : sizes[i + 1]] = example.biases[i]
        X = np.zeros((rows, width))
        X[:batch, : a.d] = example.X
        Y = np.zeros((rows, width))
        Y[:batch, : sizes[-1]] = example.Y
        codes = [_ACTIVATION_CODES["identity"]] * front
        codes += [_ACTIVATION_CODES[name] for name in a.activations]
        out_mask = np.arange(width) < sizes[-1]
        scale = 1.0 / batch if example.reduction == "mean" else 1.0
        sample_scale = np.where(np.arange(rows) < batch, scale, 0.0)

        key = (depth, width, rows)
        if key not in self.buckets_compiled:
            logger.info("JAX compiles for bucket depth=%d width=%d batch=%d", *key)
            self.buckets_compiled.add(key)
        with jax.enable_x64(True):
            (J, outputs), (dW, dB, dE) = _value_and_grad(
                W, B, np.zeros((depth, rows, width)), X, Y,
                np.asarray(codes, dtype=np.int32),
                np.int32(_COST_CODES[a.cost]), out_mask, sample_scale,
            )
            dW, dB, dE = np.asarray(dW), np.asarray(dB), np.asarray(dE)
            outputs = np.asarray(outputs)

        layers = range(front, depth)
        return Gradients(
            dJ_dw=[dW[k, : sizes[i + 1], : sizes[i]] for i, k in enumerate(layers)],
            dJ_db=[dB[k, : sizes[i + 1]] for i, k in enumerate(layers)],
            dJ_dl=[dE[k, :batch, : sizes[i + 1]] for i, k in enumerate(layers)],
            J=float(J),
            outputs=[outputs[front + i, :batch, :s] for i, s in enumerate(sizes)],
        )
