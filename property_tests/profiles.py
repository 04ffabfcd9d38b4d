"""Hypothesis profiles for the property tests, chosen by ``GRADPROOF_PROFILE``.

- ``default``: a quick proof for every ``pytest`` run (well under a minute).
- ``ci``: more examples per property, for a CI gate.
- ``thorough``: a deep search, for a nightly job or before a release.

``pytest --hypothesis-profile NAME`` chooses one as well.
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, settings

_COMMON: dict[str, Any] = dict(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=True,
)
PROFILES = {"default": 30, "ci": 100, "thorough": 2000}


def register_profiles() -> None:
    """Register every profile and load the one ``GRADPROOF_PROFILE`` names."""
    for name, examples in PROFILES.items():
        settings.register_profile(name, max_examples=examples, **_COMMON)
    chosen = os.environ.get("GRADPROOF_PROFILE", "default")
    if chosen not in PROFILES:
        raise ValueError(
            f"GRADPROOF_PROFILE={chosen!r}: expected one of {', '.join(PROFILES)}"
        )
    settings.load_profile(chosen)
