"""Moderation's bad input and faults over real HTTP: missing fields, hostile text, huge
uploads, duplicate reports, late appeals, roles, an interrupted purge; plus reports by URL,
removal orders and matches that rules send to review."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cordon.node.moderation import preservation
from cordon.node.settings import NodeSettings
from tests.test_moderation_support import (
    ModerationNode,
    pdq_of,
    photo,
    report_form,
    serve_moderation,
)

HOSTILE = '<script>alert(1)</script><img src=x onerror="alert(2)">'


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    settings = NodeSettings(max_upload_bytes=1 << 20, fetch_allow_networks=("127.0.0.1/32",))
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch, settings)


def _decide_removal(mod: ModerationNode, case_id: int, who: str = "alice") -> dict:
    with mod.client(who) as client:
        response = client.post(f"/v1/cases/{case_id}/decision", json={
            "action": "remove", "labels": ["behaviour:glorification"], "account": "u1"})
    assert response.status_code == 201, response.text
    return response.json()


def test_reports_with_missing_or_bad_fields_get_422(mod: ModerationNode) -> None:
    good = {"urls": ["https://example.org/x"], "reason": "behaviour:glorification",
            "explanation": "why", "good_faith": True}
    bad_bodies = [
        {k: v for k, v in good.items() if k != "reason"},
        {k: v for k, v in good.items() if k != "explanation"},
        {k: v for k, v in good.items() if k != "good_faith"},
        {**good, "good_faith": False},
        {**good, "urls": []},
        {**good, "reason": "nonsense"},
        {**good, "urls": ["javascript:alert(1)"]},
        {**good, "reporter_email": "not-an-address"},
        {**good, "unknown": 1},
        {**good, "explanation": "x" * 5001},
    ]
    with mod.client() as public:
        for body in bad_bodies:
            response = public.post("/v1/reports", json=body)
            assert response.status_code == 422, (body, response.text)
            assert "detail" in response.json()
        assert public.post("/v1/reports", content=b"{", headers={
            "Content-Type": "application/json"}).status_code == 422
        assert public.post("/v1/reports", content=b"x", headers={
            "Content-Type": "text/plain"}).status_code == 415
        form = public.post("/v1/reports", data={"reason": "behaviour:glorification",
                                                "explanation": "no content", "good_faith": "on"})
        assert form.status_code == 422, form.text
        assert public.get("/v1/reports/R-nope").status_code == 404


def test_hostile_text_is_kept_as_text(mod: ModerationNode) -> None:
    filed = report_form(mod, photo(3), explanation=HOSTILE, reporter_name=HOSTILE,
                        account=HOSTILE)
    assert filed.status_code == 201, filed.text
    with mod.client("alice") as alice:
        case = alice.get(f"/v1/cases/{filed.json()['case']}")
    assert case.headers["content-type"].startswith("application/json")
    [report] = case.json()["reports_filed"]
    assert report["explanation"] == HOSTILE and report["reporter_name"] == HOSTILE


def test_huge_upload_gets_413(mod: ModerationNode) -> None:
    response = report_form(mod, b"\xff\xd8" + b"0" * (2 << 20))
    assert response.status_code == 413, response.text
    with mod.client("alice") as alice:
        assert alice.get("/v1/queue").json()["items"] == []


def test_duplicate_reports_merge_and_count(mod: ModerationNode) -> None:
    content = photo(4)
    first = report_form(mod, content).json()
    second = report_form(mod, content).json()
    flagged = report_form(mod, content, who="flagger").json()
    assert first["case"] == second["case"] == flagged["case"]
    assert flagged["reports_of_this_content"] == 3 and flagged["trusted"]
    lone = report_form(mod, photo(5)).json()
    with mod.client("alice") as alice:
        items = alice.get("/v1/queue").json()["items"]
    assert [i["id"] for i in items] == [first["case"], lone["case"]]
    assert items[0]["reports"] == 3 and items[0]["priority"] > items[1]["priority"]
    # Only one encrypted copy of the content is kept.
    assert len(list(mod.ctx.vault.root.glob("*.enc"))) == 2


def test_queue_and_previews_need_the_reviewer_role(mod: ModerationNode) -> None:
    case_id = report_form(mod, photo(6)).json()["case"]
    paths = ["/v1/queue", f"/v1/cases/{case_id}", f"/v1/cases/{case_id}/preview",
             "/v1/statements", "/v1/appeals"]
    for who in ("platform", "flagger"):
        with mod.client(who) as client:
            for path in paths:
                assert client.get(path).status_code == 403, (who, path)
            decided = client.post(f"/v1/cases/{case_id}/decision", json={"action": "remove"})
            assert decided.status_code == 403
    with mod.client() as anonymous:
        for path in paths:
            assert anonymous.get(path).status_code == 401, path
    with mod.client(headers={"Authorization": "Bearer nope"}) as bad:
        assert bad.get("/v1/queue").status_code == 401
    with mod.client("alice") as alice:
        assert alice.get("/v1/purges").status_code == 403
        assert alice.post("/v1/orders", json={"authority": "a", "reference": "r",
                                              "urls": ["u"]}).status_code == 403
        assert alice.get("/v1/queue", params={"tz": "Mars/Base"}).status_code == 422
        assert alice.post(f"/v1/cases/{case_id}/decision",
                          json={"action": "obliterate"}).status_code == 422
        assert alice.post(f"/v1/cases/{case_id}/decision",
                          json={"action": "remove", "labels": ["bad"]}).status_code == 422
        assert alice.post("/v1/cases/999999/decision",
                          json={"action": "remove"}).status_code == 404


def test_appeal_after_the_window_is_refused(mod: ModerationNode) -> None:
    case_id = report_form(mod, photo(7)).json()["case"]
    code = _decide_removal(mod, case_id)["statement"]["notice_code"]
    real_now = mod.ctx.now
    mod.ctx.now = lambda: real_now() + timedelta(days=200)
    try:
        with mod.client() as user:
            assert user.get(f"/v1/notices/{code}").json()["can_appeal"] is False
            late = user.post(f"/v1/notices/{code}/appeal", json={"explanation": "late"})
            assert late.status_code == 409 and "window" in late.json()["detail"]
            assert user.post(f"/v1/notices/{code}/appeal", json={}).status_code == 422
    finally:
        mod.ctx.now = real_now


def test_reviewer_cannot_decide_the_appeal_of_their_own_decision(mod: ModerationNode) -> None:
    case_id = report_form(mod, photo(8)).json()["case"]
    code = _decide_removal(mod, case_id, "bob")["statement"]["notice_code"]
    with mod.client() as user:
        appeal_case = user.post(f"/v1/notices/{code}/appeal",
                                json={"explanation": "mistake"}).json()["case"]
    with mod.client("bob") as bob, mod.client("alice") as alice:
        assert bob.post(f"/v1/cases/{appeal_case}/decision",
                        json={"action": "uphold"}).status_code == 403
        assert alice.post(f"/v1/cases/{appeal_case}/decision",
                          json={"action": "remove"}).status_code == 422
        upheld = alice.post(f"/v1/cases/{appeal_case}/decision", json={"action": "uphold"})
        assert upheld.status_code == 201 and upheld.json()["outcome"] == "upheld"


def test_interrupted_purge_completes_on_rerun(mod: ModerationNode) -> None:
    cases = [report_form(mod, photo(10 + i)).json()["case"] for i in range(3)]
    for case_id in cases:
        _decide_removal(mod, case_id)
    assert len(list(mod.ctx.vault.root.glob("*.enc"))) == 3
    real_now = mod.ctx.now
    mod.ctx.now = lambda: real_now() + timedelta(days=200)
    try:
        def stop_after_first(_item: int) -> None:
            raise KeyboardInterrupt
        with pytest.raises(KeyboardInterrupt):
            preservation.purge(mod.ctx, after_each=stop_after_first)
        states = [p["state"] for p in preservation.listing(mod.ctx)]
        assert states == ["purged", "kept", "kept"]
        # A run stopped between its two marks: the item says "purging", its file is gone.
        with mod.ctx.node.plain_write() as conn:
            from sqlalchemy import update

            from cordon.store.moderation_models import mod_preservations
            conn.execute(update(mod_preservations).where(mod_preservations.c.id == 2)
                         .values(state="purging"))
        with mod.client("admin") as admin:
            done = admin.post("/v1/purge").json()
            assert done["purged"] == 2
            assert [p["state"] for p in admin.get("/v1/preservations").json()[
                "preservations"]] == ["purged"] * 3
            assert admin.get("/v1/purges").json()["purges"][0]["purged"] == [2, 3]
        assert list(mod.ctx.vault.root.glob("*.enc")) == []
        with mod.client("alice") as alice:
            assert alice.get(f"/v1/cases/{cases[0]}/preview").status_code == 404
    finally:
        mod.ctx.now = real_now


def test_preserved_record_is_encrypted_and_extendable(mod: ModerationNode) -> None:
    case_id = report_form(mod, photo(20)).json()["case"]
    kept = _decide_removal(mod, case_id)["preservation"]
    raw = next(mod.ctx.vault.root.glob("*.enc")).read_bytes()
    assert b"\xff\xd8" not in raw[:64]
    with mod.client("admin") as admin:
        record = admin.get(f"/v1/preservations/{kept}").json()
        assert record["record"]["decision"]["action"] == "remove"
        extended = admin.post(f"/v1/preservations/{kept}/extend",
                              json={"until": "2099-01-01T00:00:00Z"})
        assert extended.status_code == 200 and extended.json()["keep_until"].startswith("2099")
        assert admin.post(f"/v1/preservations/{kept}/extend",
                          json={"until": "2099-01-01T00:00:00"}).status_code == 422


def test_removal_order_goes_first_and_records_its_execution(mod: ModerationNode) -> None:
    report_form(mod, photo(21), reason="behaviour:imminent-credible-threat")
    report_form(mod, photo(22))
    with mod.client("platform") as platform:
        bad = platform.post("/v1/orders", json={"authority": "A", "reference": "R",
                                                "urls": ["https://p.example/1"],
                                                "received_at": "2026-03-29T01:30:00"})
        assert bad.status_code == 422
        order = platform.post("/v1/orders", json={
            "authority": "Authority <b>X</b>", "reference": "TCO-1",
            "urls": ["https://platform.example/v/1"]})
        assert order.status_code == 201, order.text
    with mod.client("alice") as alice:
        items = alice.get("/v1/queue").json()["items"]
        assert [i["kind"] for i in items] == ["order", "report", "report"]
        assert items[1]["tier"] == 1 and 3500 < items[0]["seconds_left"] <= 3600
        _decide_removal(mod, order.json()["case"])
        executed = alice.get(f"/v1/orders/{order.json()['id']}").json()
    assert executed["executed_at"] and executed["execution_seconds"] < 60


def serve_bytes(content: bytes) -> ThreadingHTTPServer:
    """A loopback web server answering every GET with `content` (a JPEG)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(content)))
            self.end_headers()
            self.wfile.write(content)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_url_reports_are_fetched_and_matched(mod: ModerationNode) -> None:
    content = photo(30)
    server = serve_bytes(content)
    try:
        with mod.client("admin") as admin:
            admin.post("/v1/banks", json={"name": "own"})
            admin.post("/v1/banks/own/entries", json={"entries": [
                {"signals": {"pdq": pdq_of(mod, content)}, "labels": ["behaviour:incitement"]}]})
        url = f"http://127.0.0.1:{server.server_address[1]}/post/1"
        with mod.client() as public:
            filed = public.post("/v1/reports", json={
                "urls": [url], "reason": "behaviour:incitement", "explanation": "see",
                "good_faith": True})
            assert filed.status_code == 201, filed.text
            assert filed.json()["matched"]
            private = public.post("/v1/reports", json={
                "urls": ["http://10.0.0.1/x"], "reason": "behaviour:incitement",
                "explanation": "unreachable", "good_faith": True})
            assert private.status_code == 201 and not private.json()["matched"]
        with mod.client("alice") as alice:
            case = alice.get(f"/v1/cases/{private.json()['case']}").json()
            assert "private or local" in case["reports_filed"][0]["fetch_errors"][0]
    finally:
        server.shutdown()


def test_review_rules_send_matches_to_the_queue(mod: ModerationNode) -> None:
    content = photo(40)
    pdq = pdq_of(mod, content)
    with mod.client("admin") as admin:
        admin.post("/v1/banks", json={"name": "own"})
        admin.post("/v1/banks/own/entries", json={"entries": [
            {"signals": {"pdq": pdq}, "labels": ["behaviour:attack-depiction"]}]})
        assert admin.post("/v1/rules", json={"name": "look", "action": "review"}
                          ).status_code == 201
        matched = admin.post("/v1/match", json={"signals": {"pdq": pdq}}).json()
        assert [a["action"] for a in matched["actions"]] == ["review"]
    with mod.client("alice") as alice:
        [item] = alice.get("/v1/queue").json()["items"]
        assert item["kind"] == "match" and item["matched"]
        case = alice.get(f"/v1/cases/{item['id']}").json()
        assert case["matches"][0]["match"] == matched["matches"][0]["id"]
        no_action = alice.post(f"/v1/cases/{item['id']}/decision", json={"action": "no_action"})
        assert no_action.status_code == 201 and no_action.json()["statement"] is None
        assert alice.get("/v1/queue").json()["items"] == []
    with mod.client("admin") as admin:
        record = admin.get(f"/v1/matches/{matched['matches'][0]['id']}").json()
        assert record["verdict"] == "false_positive"


def test_a_late_appeal_keeps_the_content_past_its_answer(mod: ModerationNode) -> None:
    case_id = report_form(mod, photo(23)).json()["case"]
    decided = _decide_removal(mod, case_id)
    code = decided["statement"]["notice_code"]
    [kept] = preservation.listing(mod.ctx)
    real_now = mod.ctx.now
    mod.ctx.now = lambda: real_now() + timedelta(days=180)
    try:
        with mod.client() as user:
            appeal = user.post(f"/v1/notices/{code}/appeal", json={"explanation": "late"})
        assert appeal.status_code == 201, appeal.text
    finally:
        mod.ctx.now = real_now
    [extended] = preservation.listing(mod.ctx)
    deadline = datetime.fromisoformat(appeal.json()["deadline_at"])
    assert datetime.fromisoformat(extended["keep_until"]) == deadline + timedelta(days=30)
    assert extended["keep_until"] > kept["keep_until"]


def test_video_reports_preview_their_first_frame_and_odd_files_are_still_reported(
        mod: ModerationNode, tmp_path: Path) -> None:
    import numpy as np

    from tests.media_factory import photo_like, write_video

    frame = np.asarray(photo_like(160, 120, seed=3).convert("RGB"))
    video = write_video(tmp_path / "clip.mp4", [frame] * 12, fps=6).read_bytes()
    with mod.client() as public:
        form = {"reason": "behaviour:attack-depiction", "explanation": "x", "good_faith": "on"}
        clip = public.post("/v1/reports", data=form,
                           files={"file": ("clip.mp4", video, "video/mp4")})
        assert clip.status_code == 201, clip.text
        odd = public.post("/v1/reports", data=form,
                          files={"file": ("notes.txt", b"not media at all", "text/plain")})
        assert odd.status_code == 201, odd.text
    with mod.client("alice") as alice:
        preview = alice.get(f"/v1/cases/{clip.json()['case']}/preview")
        assert preview.status_code == 200 and preview.content[:2] == b"\xff\xd8"
        case = alice.get(f"/v1/cases/{odd.json()['case']}").json()
        assert case["has_content"] and "pdq" not in (case["signals"] or {})
        assert alice.get(f"/v1/cases/{odd.json()['case']}/preview").status_code == 422


def test_the_vault_is_made_on_first_use_with_a_private_key(tmp_path: Path) -> None:
    from cordon.errors import CordonError
    from cordon.node.moderation.settings import ModerationSettings
    from cordon.node.moderation.vault import Vault

    root = tmp_path / "vault"
    vault = Vault(ModerationSettings(data_dir=root))
    assert not root.exists()
    name = vault.put(b"content")
    assert vault.get(name) == b"content" and b"content" not in (root / f"{name}.enc").read_bytes()
    assert (root / "moderation.key").stat().st_mode & 0o777 == 0o600
    assert Vault(ModerationSettings(data_dir=root)).get(name) == b"content"
    other = Vault(ModerationSettings(data_dir=root, key_file=tmp_path / "other.key"))
    with pytest.raises(CordonError, match="does not open"):
        other.get(name)
    (tmp_path / "bad.key").write_text("not a key")
    with pytest.raises(CordonError, match="not a Fernet key"):
        Vault(ModerationSettings(data_dir=root, key_file=tmp_path / "bad.key")).put(b"x")
    with pytest.raises(CordonError, match="invalid evidence name"):
        vault.get("../moderation")
    assert vault.delete(name) and not vault.delete(name)


def test_the_vault_sits_beside_a_sqlite_store_unless_told_otherwise(tmp_path: Path) -> None:
    from cordon.node.moderation.settings import ModerationSettings, beside_store

    assert beside_store(ModerationSettings(), str(tmp_path / "node.db")).data_dir == (
        tmp_path / "node-moderation")
    assert beside_store(ModerationSettings(data_dir=tmp_path / "x"), "/a/b.db").data_dir == (
        tmp_path / "x")
    assert beside_store(ModerationSettings(), ":memory:").data_dir is None


def test_multipart_boundaries_keep_their_case(mod: ModerationNode) -> None:
    boundary = "----WebKitFormBoundaryAbCdEf123"
    parts = [("reason", "behaviour:glorification"), ("explanation", "x"), ("good_faith", "on")]
    body = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
                    .encode() for k, v in parts)
    body += (f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
             f'filename="p.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
    body += photo(61) + f"\r\n--{boundary}--\r\n".encode()
    with mod.client() as public:
        response = public.post("/v1/reports", content=body, headers={
            "Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert response.status_code == 201, response.text


def test_orders_fetch_what_they_can_and_preserve_its_signals(mod: ModerationNode) -> None:
    content = photo(31)
    server = serve_bytes(content)
    try:
        with mod.client("admin") as admin:
            admin.post("/v1/banks", json={"name": "own"})
            admin.post("/v1/banks/own/entries", json={"entries": [
                {"signals": {"pdq": pdq_of(mod, content)}, "labels": ["behaviour:incitement"]}]})
        report_form(mod, content)  # the same content already open as a report
        url = f"http://127.0.0.1:{server.server_address[1]}/v/9"
        with mod.client("platform") as platform:
            order = platform.post("/v1/orders", json={
                "authority": "A", "reference": "R-9", "urls": [url]}).json()
        with mod.client("alice") as alice:
            case = alice.get(f"/v1/cases/{order['case']}").json()
            assert case["has_content"] and case["matches"][0]["bank"] == "own"
            assert alice.get(f"/v1/cases/{order['case']}/preview").status_code == 200
        kept = _decide_removal(mod, order["case"])["preservation"]
        with mod.client("admin") as admin:
            record = admin.get(f"/v1/preservations/{kept}").json()["record"]
        assert record["case"]["signals"]["pdq"] and record["order"]["reference"] == "R-9"
        assert record["decision"]["action"] == "remove"
    finally:
        server.shutdown()


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from cordon.errors import CordonError
    from cordon.node.moderation.settings import from_env

    monkeypatch.setenv("CORDON_MODERATION_LIVE_SUSPENSION_DAYS", "7")
    monkeypatch.setenv("CORDON_MODERATION_TIMEZONE", "Europe/Berlin")
    settings = from_env()
    assert settings.live_suspension_days == 7 and settings.timezone == "Europe/Berlin"
    monkeypatch.setenv("CORDON_MODERATION_REPORT_HOURS", "soon")
    with pytest.raises(CordonError, match="CORDON_MODERATION_REPORT_HOURS"):
        from_env()
