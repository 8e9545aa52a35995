"""The adversarial suite: settings shared by its tests.

Hypothesis profiles: ``ci`` (the default) keeps the property tests quick in the normal run;
``fuzz`` (``TRIOCHAT_HYPOTHESIS_PROFILE=fuzz``, used by ``nox -s fuzz``) runs a large example
budget. Neither has a deadline: this machine is shared, and a slow example is not a bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=200, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("TRIOCHAT_HYPOTHESIS_PROFILE", "ci"))
