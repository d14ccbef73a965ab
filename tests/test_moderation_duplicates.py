"""Duplicate reports over real HTTP: a report of content an open case already holds takes
that case's signals and matches instead of hashing the content again, and when that case
closes before the report reaches it, the new case still keeps the content."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from cordon.node.moderation import reports
from cordon.store.moderation_models import mod_cases
from tests.test_moderation_support import (
    ModerationNode,
    pdq_of,
    photo,
    report_form,
    serve_moderation,
)


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch)


def _case(mod: ModerationNode, case_id: int) -> Any:
    with mod.running.store.read() as conn:
        return conn.execute(select(mod_cases).where(mod_cases.c.id == case_id)).one()


def _known(mod: ModerationNode, content: bytes) -> None:
    with mod.client("admin") as admin:
        assert admin.post("/v1/banks", json={"name": "known"}).status_code == 201
        added = admin.post("/v1/banks/known/entries", json={"entries": [
            {"signals": {"pdq": pdq_of(mod, content)}, "labels": []}]})
        assert added.status_code == 201, added.text


def test_a_duplicate_report_is_not_hashed_again(mod: ModerationNode,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    content = photo(21)
    _known(mod, content)
    first = report_form(mod, content)
    assert first.status_code == 201 and first.json()["matched"]

    def no_hashing(*_: Any) -> Any:
        raise AssertionError("a duplicate report hashed its content again")

    monkeypatch.setattr(reports, "_hash", no_hashing)
    second = report_form(mod, content)
    assert second.status_code == 201, second.text
    ack = second.json()
    assert ack["case"] == first.json()["case"] and ack["reports_of_this_content"] == 2
    assert ack["matched"]  # from the case's matches
    assert len(list(mod.ctx.vault.root.glob("*.enc"))) == 1


def test_a_duplicate_whose_case_closed_meanwhile_opens_a_case_that_keeps_the_content(
        mod: ModerationNode, monkeypatch: pytest.MonkeyPatch) -> None:
    content = photo(23)
    _known(mod, content)
    first = report_form(mod, content).json()
    original = reports._held

    def held_then_closed(ctx: Any, content_key: str) -> Any:
        row = original(ctx, content_key)
        # The reviewer decides the case between the check and the report's transaction.
        with mod.running.node.plain_write() as conn:
            conn.execute(update(mod_cases).where(mod_cases.c.id == first["case"]).values(
                status="decided", open_key=None))
        return row

    monkeypatch.setattr(reports, "_held", held_then_closed)
    late = report_form(mod, content)
    assert late.status_code == 201, late.text
    ack = late.json()
    assert ack["case"] != first["case"] and ack["matched"]
    new, old = _case(mod, ack["case"]), _case(mod, first["case"])
    assert new.evidence is not None and new.evidence != old.evidence
    assert new.signals == old.signals and new.matches == old.matches
    assert mod.ctx.vault.get(new.evidence) == content
