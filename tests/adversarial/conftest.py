"""The adversarial suite: settings shared by its tests.

Hypothesis profiles: ``ci`` (the default: hypothesis's usual 100 examples) keeps the property
tests quick in the normal run; ``fuzz`` (``TRIOCHAT_HYPOTHESIS_PROFILE=fuzz``, used by
``nox -s fuzz``) runs 20 000 examples per property. Neither has a deadline: the machines that run
the tests are shared, and a slow example is not a bug.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=100, deadline=None)
settings.register_profile(
    "fuzz",
    max_examples=20_000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.load_profile(os.environ.get("TRIOCHAT_HYPOTHESIS_PROFILE", "ci"))
