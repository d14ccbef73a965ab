"""Roles of node API tokens (and of web UI users, which map onto the same names).

- `admin`: everything, including tokens, rules, removal orders, purges and the transparency
  report; tokens made before roles existed are admins.
- `reviewer`: the review queue, content previews, decisions and appeals.
- `service`: the platform's own systems: matching, filing reports on behalf of users, the live
  eligibility check.
- `flagger`: a trusted flagger: reports filed with such a token get a higher priority.
"""

from __future__ import annotations

from dataclasses import dataclass

ADMIN = "admin"
REVIEWER = "reviewer"
SERVICE = "service"
FLAGGER = "flagger"
ROLES = (ADMIN, REVIEWER, SERVICE, FLAGGER)

# Who may do what; admins may do everything (the matrix: docs/api.md, "Roles").
REVIEW = frozenset({ADMIN, REVIEWER})
PLATFORM = frozenset({ADMIN, SERVICE})
MANAGE = frozenset({ADMIN})
# The match log: the platform's systems and the reviewers who weigh its evidence.
MATCHES = frozenset({ADMIN, SERVICE, REVIEWER})


@dataclass(frozen=True)
class Principal:
    """Who a token is: its name and role."""

    name: str
    role: str
