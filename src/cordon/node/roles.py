"""Roles of node API tokens (and of web UI users, which map onto the same names).

- `admin`: everything, including tokens, rules, removal orders, purges and the transparency
  report; tokens made before roles existed are admins.
- `reviewer`: the review queue, content previews, decisions and appeals.
- `service`: the platform's own systems: matching, filing reports on behalf of users, the live
  eligibility check.
- `flagger`: a trusted flagger: reports filed with such a token get a higher priority.
"""

from __future__ import annotations

ADMIN = "admin"
REVIEWER = "reviewer"
SERVICE = "service"
FLAGGER = "flagger"
ROLES = (ADMIN, REVIEWER, SERVICE, FLAGGER)

# Who may do what in moderation; admins may do everything.
REVIEW = frozenset({ADMIN, REVIEWER})
PLATFORM = frozenset({ADMIN, SERVICE})
MANAGE = frozenset({ADMIN})
