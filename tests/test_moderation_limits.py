"""Rate limits of the public moderation routes over real HTTP: reports per client address,
notice lookups and appeals per address and per notice code, on the API and on the pages;
token holders are not limited, and a made-up token spends the address's budget."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.test_moderation_support import ModerationNode, photo, report_form, serve_moderation
from tests.web_support import csrf_of

BURST = 3


@pytest.fixture()
def mod(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ModerationNode]:
    # One request a minute once the burst is spent: nothing refills during a test.
    monkeypatch.setenv("CORDON_MODERATION_REPORT_PER_MINUTE", "1")
    monkeypatch.setenv("CORDON_MODERATION_REPORT_BURST", str(BURST))
    monkeypatch.setenv("CORDON_MODERATION_APPEAL_PER_MINUTE", "1")
    monkeypatch.setenv("CORDON_MODERATION_APPEAL_BURST", str(BURST))
    yield from serve_moderation(f"sqlite:///{tmp_path / 'node.db'}", tmp_path / "moderation",
                                monkeypatch)


def _assert_limited(response: httpx.Response, words: str) -> None:
    assert response.status_code == 429, response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert words in response.text and "try again in" in response.text


def _notice_code(mod: ModerationNode, seed: int) -> str:
    filed = report_form(mod, photo(seed), who="platform")
    assert filed.status_code == 201, filed.text
    with mod.client("alice") as alice:
        decided = alice.post(f"/v1/cases/{filed.json()['case']}/decision", json={
            "action": "remove", "labels": ["behaviour:glorification"], "account": "u1"})
    assert decided.status_code == 201, decided.text
    return str(decided.json()["statement"]["notice_code"])


def _from(mod: ModerationNode, address: str) -> httpx.Client:
    """A client whose requests come from another loopback address."""
    return httpx.Client(base_url=mod.running.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


def test_anonymous_reports_are_limited_per_address(mod: ModerationNode) -> None:
    for seed in range(BURST):
        assert report_form(mod, photo(seed)).status_code == 201
    refused = report_form(mod, photo(10))
    _assert_limited(refused, "too many reports from this address")
    with mod.client() as public:
        # Refused before the body is read: even a malformed one gets 429, not 422.
        _assert_limited(public.post("/v1/reports", content=b"{", headers={
            "Content-Type": "application/json"}), "too many reports")
        # A made-up token on an exhausted address: 429 too, so guessing tokens costs budget.
        _assert_limited(public.post("/v1/reports", json={}, headers={
            "Authorization": "Bearer made-up"}), "too many reports")
    # The platform filing for its users and trusted flaggers hold tokens: not limited.
    assert report_form(mod, photo(11), who="platform").status_code == 201
    assert report_form(mod, photo(12), who="flagger").status_code == 201
    # Another address has its own budget.
    with _from(mod, "127.0.0.2") as other:
        filed = other.post("/v1/reports", data={
            "reason": "behaviour:glorification", "explanation": "why", "good_faith": "on"},
            files={"file": ("p.jpg", photo(13), "image/jpeg")})
        assert filed.status_code == 201, filed.text


def test_bad_tokens_spend_the_address_budget(mod: ModerationNode) -> None:
    with mod.client() as public:
        for _ in range(BURST):
            answer = public.post("/v1/reports", json={}, headers={
                "Authorization": "Bearer made-up"})
            assert answer.status_code == 401
        _assert_limited(public.post("/v1/reports", json={}, headers={
            "Authorization": "Bearer made-up"}), "too many reports")


def test_notice_lookups_and_appeals_are_limited_per_address_and_per_code(
        mod: ModerationNode) -> None:
    code = _notice_code(mod, 1)
    with mod.client() as user:
        assert user.get(f"/v1/notices/{code}").status_code == 200
        appealed = user.post(f"/v1/notices/{code}/appeal", json={"explanation": "mistake"})
        assert appealed.status_code == 201, appealed.text
        assert user.get("/v1/notices/N-guessed").status_code == 404
        _assert_limited(user.get(f"/v1/notices/{code}"), "from this address")
        _assert_limited(user.post(f"/v1/notices/{code}/appeal", json={"explanation": "again"}),
                        "from this address")
    other_code = _notice_code(mod, 2)
    with _from(mod, "127.0.0.2") as elsewhere:
        # The code was read from one address already; from another it has one use left.
        assert elsewhere.get(f"/v1/notices/{code}").status_code == 200
        _assert_limited(elsewhere.get(f"/v1/notices/{code}"), "this notice")
        # The new address still has budget for another notice.
        assert elsewhere.get(f"/v1/notices/{other_code}").status_code == 200


def test_report_and_appeal_pages_answer_429_with_a_page(mod: ModerationNode) -> None:
    with httpx.Client(base_url=mod.running.url, timeout=30) as browser:
        form = browser.get("/ui/report")
        token = csrf_of(form.text)
        data = {"csrf_token": token, "reason": "behaviour:glorification",
                "explanation": "glorifies", "good_faith": "on"}
        for seed in range(BURST):
            done = browser.post("/ui/report", data=data,
                                files={"file": ("p.jpg", photo(seed), "image/jpeg")})
            assert done.status_code == 201, done.text
        refused = browser.post("/ui/report", data=data,
                               files={"file": ("p.jpg", photo(9), "image/jpeg")})
        _assert_limited(refused, "too many reports from this address")
        assert refused.headers["content-type"].startswith("text/html")

        page = browser.get("/ui/appeal")
        token = csrf_of(page.text)
        for _ in range(BURST):
            looked_up = browser.post("/ui/appeal", data={"csrf_token": token,
                                                         "code": "N-unknown"})
            assert looked_up.status_code == 404
        refused = browser.post("/ui/appeal", data={"csrf_token": token, "code": "N-unknown"})
        _assert_limited(refused, "from this address")
        assert refused.headers["content-type"].startswith("text/html")
