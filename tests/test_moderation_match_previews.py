"""Uploads that a rule sends to review are kept encrypted, so the match's case has a preview
like a report's; uploads with no review action store nothing; a match by signals says it has
no content."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from cordon.node.moderation import queue
from cordon.store.moderation_models import mod_match_contents
from tests.test_moderation_support import ModerationNode, pdq_of, photo, serve_moderation
from tests.web_support import login


@pytest.fixture()
def mod(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
        ) -> Iterator[ModerationNode]:
    yield from serve_moderation(database_url, tmp_path / "moderation", monkeypatch)


def _bank(mod: ModerationNode, content: bytes, rule: str | None) -> None:
    with mod.client("admin") as admin:
        assert admin.post("/v1/banks", json={"name": "own"}).status_code == 201
        assert admin.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": pdq_of(mod, content)},
             "labels": ["behaviour:glorification"]}]}).status_code in (200, 201)
        if rule is not None:
            assert admin.post("/v1/rules", json={"name": "look", "action": rule}
                              ).status_code == 201


def _kept_files(mod: ModerationNode) -> list[Path]:
    root = mod.ctx.vault.root
    return sorted(root.glob("*.enc")) if root.exists() else []


def _page(mod: ModerationNode, path: str) -> str:
    with httpx.Client(base_url=mod.running.url, timeout=30) as client:
        assert login(client, token=mod.tokens["alice"]).status_code == 303
        page = client.get(path)
        assert page.status_code == 200, page.text
        return page.text


def _only_case(mod: ModerationNode) -> int:
    queue.sync_review_matches(mod.ctx)
    with mod.client("alice") as alice:
        items = alice.get("/v1/queue").json()["items"]
    assert [i["kind"] for i in items] == ["match"]
    return int(items[0]["id"])


def test_an_upload_sent_to_review_gets_a_blurred_preview(mod: ModerationNode) -> None:
    content = photo(31)
    _bank(mod, content, "review")
    with mod.client("platform") as platform:
        matched = platform.post("/v1/match", files={"file": ("post.jpg", content, "image/jpeg")})
        assert matched.status_code == 200, matched.text
        assert [a["action"] for a in matched.json()["actions"]] == ["review"]
    files = _kept_files(mod)
    assert len(files) == 1 and content not in files[0].read_bytes()  # encrypted at rest
    case_id = _only_case(mod)
    with mod.client("alice") as alice:
        case = alice.get(f"/v1/cases/{case_id}").json()
        assert case["has_content"] and case["content_type"] == "image"
        blurred = alice.get(f"/v1/cases/{case_id}/preview")
        revealed = alice.get(f"/v1/cases/{case_id}/preview", params={"reveal": "true"})
    assert blurred.status_code == 200 and blurred.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(blurred.content)).mode == "L"
    assert Image.open(io.BytesIO(revealed.content)).mode == "RGB"
    with mod.client("platform") as platform:
        assert platform.get(f"/v1/cases/{case_id}/preview").status_code == 403
    page = _page(mod, f"/ui/cases/{case_id}")
    assert "Blurred and in greyscale" in page and "matched by signals" not in page
    with mod.ctx.store.read() as conn:  # the case took the copy over
        assert conn.execute(select(func.count()).select_from(mod_match_contents)
                            ).scalar_one() == 0
    with mod.client("alice") as alice:
        decided = alice.post(f"/v1/cases/{case_id}/decision", json={"action": "remove"})
        assert decided.status_code == 201, decided.text
    with mod.client("admin") as admin:
        kept = admin.get("/v1/preservations").json()["preservations"]
    assert [(p["case"], p["has_content"]) for p in kept] == [(case_id, True)]


def test_an_upload_with_no_review_action_stores_nothing(mod: ModerationNode) -> None:
    content = photo(32)
    _bank(mod, content, "alert")
    with mod.client("platform") as platform:
        matched = platform.post("/v1/match", content=content,
                                headers={"Content-Type": "image/jpeg"})
        assert matched.status_code == 200, matched.text
        assert matched.json()["matches"] and matched.json()["actions"]
    assert _kept_files(mod) == []
    with mod.ctx.store.read() as conn:
        assert conn.execute(select(func.count()).select_from(mod_match_contents)
                            ).scalar_one() == 0
    queue.sync_review_matches(mod.ctx)
    with mod.client("alice") as alice:
        assert alice.get("/v1/queue").json()["items"] == []


def test_a_match_by_signals_says_it_has_no_content(mod: ModerationNode) -> None:
    content = photo(33)
    _bank(mod, content, "review")
    with mod.client("platform") as platform:
        matched = platform.post("/v1/match", json={"signals": {"pdq": pdq_of(mod, content)}})
        assert matched.status_code == 200, matched.text
    assert _kept_files(mod) == []
    case_id = _only_case(mod)
    with mod.client("alice") as alice:
        assert not alice.get(f"/v1/cases/{case_id}").json()["has_content"]
        assert alice.get(f"/v1/cases/{case_id}/preview").status_code == 404
    page = _page(mod, f"/ui/cases/{case_id}")
    assert "No content: matched by signals sent by the platform" in page
    assert "Blurred and in greyscale" not in page
