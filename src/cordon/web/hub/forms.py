"""Reading the fields of the hub's forms: labels, members to share with, note."""

from __future__ import annotations

import re

from starlette.datastructures import FormData

from cordon.hub.labels import BEHAVIOURS

_SPLIT = re.compile(r"[\n,]+")
BEHAVIOUR_LABELS = [(f"behaviour:{kind}", text) for kind, text in BEHAVIOURS.items()]


def text(form: FormData, name: str, limit: int = 10_000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def labels(form: FormData) -> list[str]:
    """Ticked behaviour labels plus the free "other labels" field (comma or line separated);
    the hub's service checks each against the taxonomy."""
    chosen = [v for v in form.getlist("label") if isinstance(v, str) and v]
    chosen += [part.strip() for part in _SPLIT.split(text(form, "labels")) if part.strip()]
    return list(dict.fromkeys(chosen))


def names(value: str) -> list[str]:
    return [part.strip() for part in _SPLIT.split(value) if part.strip()]
