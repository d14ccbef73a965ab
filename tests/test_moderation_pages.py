"""Moderation pages over real HTTP: the public report form and appeal page, the reviewer's
queue, case and decision pages, the statement and transparency pages; hostile text stays
text, forms need their CSRF token, pages need their role."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.test_moderation_support import ModerationNode, photo, serve_moderation
from tests.web_support import csrf_of, login

HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'
ESCAPED = "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;"


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch)


@contextmanager
def browser(mod: ModerationNode, who: str | None = None) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=mod.running.url, timeout=30) as client:
        if who is not None:
            response = login(client, token=mod.tokens[who])
            assert response.status_code == 303, response.text
        yield client


def file_report(client: httpx.Client, content: bytes, **fields: str) -> httpx.Response:
    form = client.get("/ui/report")
    assert form.status_code == 200 and "Report" in form.text
    data = {"csrf_token": csrf_of(form.text), "reason": "behaviour:glorification",
            "explanation": "glorifies", "good_faith": "on", **fields}
    return client.post("/ui/report", data=data,
                       files={"file": ("post.jpg", content, "image/jpeg")})


def test_report_decide_appeal_through_the_pages(mod: ModerationNode) -> None:
    with browser(mod) as public:
        done = file_report(public, photo(1), explanation=HOSTILE, reporter_name=HOSTILE,
                           urls="https://platform.example/p/1", account="user-9")
        assert done.status_code == 201, done.text
        tracking = re.search(r"<code>(R-[0-9a-f]+)</code>", done.text)
        assert tracking
        assert "<script>" not in done.text
        transparency = public.get("/ui/transparency")
        assert transparency.status_code == 200 and "notices received" in transparency.text
        assert public.get("/ui/queue").status_code in (303, 401)

    with browser(mod, "alice") as alice:
        queue = alice.get("/ui/queue")
        assert queue.status_code == 200
        case_id = int(re.search(r'href="/ui/cases/(\d+)"', queue.text).group(1))
        case = alice.get(f"/ui/cases/{case_id}")
        assert case.status_code == 200
        assert HOSTILE not in case.text and ESCAPED in case.text
        assert "blurred and in greyscale" in case.text
        preview = alice.get(f"/ui/cases/{case_id}/preview")
        assert preview.status_code == 200 and preview.headers["content-type"] == "image/jpeg"
        revealed = alice.get(f"/ui/cases/{case_id}", params={"reveal": "true"})
        assert "preview?reveal=true" in revealed.text
        no_token = alice.post(f"/ui/cases/{case_id}/decision", data={"action": "remove"})
        assert no_token.status_code == 403
        decided = alice.post(f"/ui/cases/{case_id}/decision", data={
            "csrf_token": csrf_of(case.text), "action": "remove", "ground": "law",
            "labels": "behaviour:glorification", "account": "user-9", "note": HOSTILE})
        assert decided.status_code == 200, decided.text
        code = re.search(r"<code>(N-[^<]+)</code>", decided.text).group(1)
        statement_id = re.search(r"/ui/statements/(\d+)", decided.text).group(1)
        statement = alice.get(f"/ui/statements/{statement_id}")
        assert statement.status_code == 200 and ESCAPED in statement.text

    with browser(mod) as user:
        page = user.get("/ui/appeal")
        token = csrf_of(page.text)
        shown = user.post("/ui/appeal", data={"csrf_token": token, "code": code})
        assert shown.status_code == 200 and "Statement of reasons" in shown.text
        assert "File the appeal" in shown.text
        wrong = user.post("/ui/appeal", data={"csrf_token": token, "code": "N-nope"})
        assert wrong.status_code == 404
        forged = user.post("/ui/appeal", data={"csrf_token": "forged", "code": code})
        assert forged.status_code == 403
        filed = user.post("/ui/appeal", data={"csrf_token": token, "code": code,
                                              "step": "appeal", "explanation": HOSTILE})
        assert filed.status_code == 201, filed.text
        assert "different reviewer" in filed.text and "File the appeal" not in filed.text

    with browser(mod, "alice") as alice:
        appeal_queue = alice.get("/ui/queue", params={"kind": "appeal"})
        assert "/ui/cases/" not in appeal_queue.text
    with browser(mod, "bob") as bob:
        appeal_queue = bob.get("/ui/queue", params={"kind": "appeal"})
        appeal_case = int(re.search(r'href="/ui/cases/(\d+)"', appeal_queue.text).group(1))
        page = bob.get(f"/ui/cases/{appeal_case}")
        assert ESCAPED.replace("&#34;", "&#34;") in page.text and HOSTILE not in page.text
        reversed_ = bob.post(f"/ui/cases/{appeal_case}/decision", data={
            "csrf_token": csrf_of(page.text), "action": "reverse"})
        assert reversed_.status_code == 200 and "reversed" in reversed_.text


def test_report_form_refuses_bad_input(mod: ModerationNode) -> None:
    with browser(mod) as public:
        form = public.get("/ui/report")
        token = csrf_of(form.text)
        missing = public.post("/ui/report", data={"csrf_token": token, "reason":
                                                  "behaviour:glorification",
                                                  "explanation": "x", "good_faith": "on"},
                              files={"file": ("", b"", "application/octet-stream")})
        assert missing.status_code == 422 and 'role="alert"' in missing.text
        no_faith = file_report(public, photo(2), good_faith="")
        assert no_faith.status_code == 422
        huge = public.post("/ui/report", data={"csrf_token": token, "reason":
                                               "behaviour:glorification", "explanation": "x",
                                               "good_faith": "on"},
                           files={"file": ("big.jpg", b"\xff\xd8" + b"0" * (2 << 20),
                                           "image/jpeg")})
        assert huge.status_code == 413
    with httpx.Client(base_url=mod.running.url, timeout=30) as stranger:
        forged = stranger.post("/ui/report", data={"csrf_token": "x", "reason":
                                                   "behaviour:glorification",
                                                   "explanation": "x", "good_faith": "on"},
                               files={"file": ("p.jpg", photo(3), "image/jpeg")})
        assert forged.status_code == 403


def test_reviewer_pages_need_the_role(mod: ModerationNode) -> None:
    with browser(mod) as public:
        case_id = file_report(public, photo(4)).status_code
    with browser(mod, "platform") as platform:
        for path in ("/ui/queue", "/ui/cases/1", "/ui/cases/1/preview", "/ui/statements/1"):
            assert platform.get(path).status_code == 403, path
    assert case_id == 201
