"""Rules: conditions on a match and the action they call for. A rule applies when every
condition it sets holds; conditions it leaves out hold for every match."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

# `cut`: end a live broadcast (delivered to the platform with the `live_match` event; on other
# matches the platform reads it as `block`).
ACTIONS = ("cut", "block", "review", "alert", "log")
# The stronger action first: when several rules apply, the response leads with it.
_STRENGTH = {action: rank for rank, action in enumerate(ACTIONS)}


@dataclass(frozen=True)
class Rule:
    id: int
    name: str
    action: str
    bank: str | None = None
    labels: tuple[str, ...] = ()
    signal_type: str | None = None
    max_distance: float | None = None
    # True: any incident; a string: that incident; None: no condition.
    incident: bool | str | None = None
    disputed: bool | None = None

    @classmethod
    def of(cls, rule_id: int, name: str, action: str, conditions: Mapping[str, Any]) -> Rule:
        return cls(rule_id, name, action, conditions.get("bank"),
                   tuple(conditions.get("labels") or ()), conditions.get("signal_type"),
                   conditions.get("max_distance"), conditions.get("incident"),
                   conditions.get("disputed"))

    def conditions(self) -> dict[str, Any]:
        return {"bank": self.bank, "labels": list(self.labels), "signal_type": self.signal_type,
                "max_distance": self.max_distance, "incident": self.incident,
                "disputed": self.disputed}

    def applies(self, match: Mapping[str, Any]) -> bool:
        if self.bank is not None and match["bank"] != self.bank:
            return False
        if self.signal_type is not None and match["signal_type"] != self.signal_type:
            return False
        if self.max_distance is not None and match["distance"] > self.max_distance:
            return False
        if self.disputed is not None and bool(match.get("disputed")) != self.disputed:
            return False
        if self.incident is True and not match.get("incident"):
            return False
        if self.incident is False and match.get("incident"):
            return False
        if isinstance(self.incident, str) and str(match.get("incident")) != self.incident:
            return False
        return not self.labels or any(_label_matches(p, match["labels"]) for p in self.labels)


def _label_matches(pattern: str, labels: Sequence[str]) -> bool:
    # `behaviour:*` names a whole family of the taxonomy.
    if pattern.endswith("*"):
        return any(label.startswith(pattern[:-1]) for label in labels)
    return pattern in labels


def evaluate(rules: Sequence[Rule], matches: Sequence[Mapping[str, Any]]) -> tuple[
        list[list[int]], list[dict[str, Any]]]:
    """For each match the ids of the rules that apply, and the actions of the whole
    response: one per (rule, entry), strongest first."""
    per_match: list[list[int]] = []
    actions: dict[tuple[int, str, int], dict[str, Any]] = {}
    for match in matches:
        applied = [rule for rule in rules if rule.applies(match)]
        per_match.append([rule.id for rule in applied])
        for rule in applied:
            key = (rule.id, match["bank"], match["entry"])
            actions.setdefault(key, {"action": rule.action, "rule": rule.id,
                                     "rule_name": rule.name, "bank": match["bank"],
                                     "entry": match["entry"],
                                     "signal_type": match["signal_type"],
                                     "distance": match["distance"]})
    ordered = sorted(actions.values(), key=lambda a: (_STRENGTH[a["action"]], a["rule"]))
    return per_match, ordered
