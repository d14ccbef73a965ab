"""The label taxonomy of hub entries (documented in docs/labels.md).

A label is `namespace:value`:

- `entity:<name>`: the terrorist or violent-extremist entity (lowercase words joined by '-',
  e.g. `entity:islamic-state`);
- `behaviour:<kind>`: what the content does, from the fixed list `BEHAVIOURS`;
- `content:<kind>`: what the content is, from the fixed list `CONTENT_KINDS`;
- `tag:<text>`: anything else a member wants to say, free text;
- `incident:<id>`: the entry was shared for that hub incident (the hub adds it to every
  entry contributed with the incident's id).
"""

from __future__ import annotations

import re

from cordon.banks.records import clean_label
from cordon.errors import CordonError

BEHAVIOURS: dict[str, str] = {
    "imminent-credible-threat": "an imminent, credible threat of a terrorist act",
    "graphic-violence": "graphic violence against defenceless people",
    "glorification": "glorification of terrorist acts or their perpetrators",
    "recruitment-instruction": "recruitment, or instruction to commit terrorist acts",
    "attack-depiction": "footage of a terrorist attack, including its live stream",
    "attacker-manifesto": "a manifesto or publication of an attacker",
    "incitement": "incitement to violence against people or groups",
}

CONTENT_KINDS: dict[str, str] = {
    "image": "a still image",
    "video": "a recorded video",
    "livestream": "a live stream or a recording of one",
    "audio": "audio only",
    "document": "a document (PDF, manifesto, magazine)",
    "url": "a web address",
    "other": "anything else",
}

NAMESPACES = ("entity", "behaviour", "content", "tag", "incident")
_ENTITY = re.compile(r"[^\W_][\w.]*(?:-[\w.]+)*")


def incident_label(incident_id: int) -> str:
    return f"incident:{incident_id}"


def check_label(label: object) -> str:
    """The label in its canonical form; raises CordonError with the reason otherwise."""
    text = clean_label(label)
    namespace, sep, value = text.partition(":")
    namespace = namespace.strip().lower()
    value = value.strip()
    if not sep or namespace not in NAMESPACES:
        raise CordonError(
            f"label {text!r} is not in the taxonomy: use entity:NAME, behaviour:KIND, "
            "content:KIND, tag:TEXT or incident:ID"
        )
    if not value:
        raise CordonError(f"label {text!r} has no value after {namespace}:")
    if namespace == "tag":
        return f"tag:{value}"
    value = value.lower()
    if namespace == "incident":
        if not value.isdigit() or len(value) > 18:
            raise CordonError(f"label {text!r}: an incident label is incident:ID, with the "
                              "number of a hub incident")
        return incident_label(int(value))
    if namespace == "behaviour":
        if value not in BEHAVIOURS:
            raise CordonError(f"unknown behaviour {value!r} (known: {', '.join(BEHAVIOURS)})")
    elif namespace == "content":
        if value not in CONTENT_KINDS:
            raise CordonError(
                f"unknown content kind {value!r} (known: {', '.join(CONTENT_KINDS)})"
            )
    elif not _ENTITY.fullmatch(value):
        raise CordonError(
            f"entity name {value!r} must be lowercase words joined by '-' (e.g. islamic-state)"
        )
    return f"{namespace}:{value}"


def import_label(label: str) -> tuple[str, bool]:
    """A label from an imported hash list: kept if it fits the taxonomy, else kept as a free
    tag. Returns (label, whether it was turned into a tag)."""
    try:
        return check_label(label), False
    except CordonError:
        return f"tag:{clean_label(label)}", True
