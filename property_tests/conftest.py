"""Oracles shared by the property tests, built once per session."""

from __future__ import annotations

import pytest

from oracles import make_oracle
from oracles.base import Oracle
from property_tests.profiles import register_profiles

register_profiles()


@pytest.fixture(scope="session")
def torch_oracle() -> Oracle:
    return make_oracle("torch")


@pytest.fixture(scope="session")
def jax_oracle() -> Oracle:
    return make_oracle("jax")


@pytest.fixture(scope="session")
def fd_oracle() -> Oracle:
    return make_oracle("fd")


@pytest.fixture(scope="session")
def cs_oracle() -> Oracle:
    return make_oracle("cs")
