"""Oracles shared by the property tests, built once per session (once per
worker under pytest-xdist)."""

from __future__ import annotations

import pytest

from oracles import make_oracle
from oracles.base import Oracle
from property_tests.profiles import register_profiles
from reports.options import cache_directory

register_profiles()


@pytest.fixture(scope="session")
def torch_oracle() -> Oracle:
    import torch

    # Networks of this size run fastest on one thread, and under pytest-xdist
    # each worker then keeps to its own core.
    torch.set_num_threads(1)
    return make_oracle("torch")


@pytest.fixture(scope="session")
def jax_oracle() -> Oracle:
    from oracles.jax_oracle import keep_compiled_programs

    # Compiling the padded programs is most of the JAX oracle's time: keep them
    # where `gradproof run` keeps them, for the next run and for every worker.
    keep_compiled_programs(cache_directory() / "jax")
    return make_oracle("jax")


@pytest.fixture(scope="session")
def fd_oracle() -> Oracle:
    return make_oracle("fd")


@pytest.fixture(scope="session")
def cs_oracle() -> Oracle:
    return make_oracle("cs")
