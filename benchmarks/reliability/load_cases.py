"""load_cases"""

from __future__ import annotations

from . import Context, Outcome, Skip, case  # noqa: F401
