"""The hub's web UI over real HTTP, on SQLite and PostgreSQL: logins (password and API
token), sessions, CSRF, throttling, roles, and user text rendered inert."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

from sqlalchemy import update

from cordon.store.types import utcnow
from cordon.store.web_models import web_sessions
from tests.media_factory import image_bytes
from tests.test_hub_support import make_bank
from tests.web_support import PASSWORD, HubUi, csrf_of, hub_ui, login

__all__ = ["hub_ui"]


def test_pages_need_a_login(hub_ui: HubUi) -> None:
    with hub_ui.client() as client:
        root = client.get("/")
        assert root.status_code == 307 and root.headers["location"] == "/ui/"
        page = client.get("/ui/?x=1")
        assert page.status_code == 303
        assert page.headers["location"] == "/ui/login?next=%2Fui%2F%3Fx%3D1"
        form = client.get("/ui/login")
        assert form.status_code == 200 and 'name="password"' in form.text
        assert "default-src 'self'" in form.headers["content-security-policy"]


def test_password_login_sets_a_safe_cookie_and_shows_the_dashboard(hub_ui: HubUi) -> None:
    with hub_ui.client() as client:
        response = login(client, "ada", next_url="/ui/")
        assert response.status_code == 303 and response.headers["location"] == "/ui/"
        cookie = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith("cordon_session="))
        assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/ui" in cookie
        assert "Secure" not in cookie  # served over plain http here
        page = client.get("/ui/")
        assert page.status_code == 200
        assert "Dashboard" in page.text and "ada" in page.text and "(admin)" in page.text
    audit = hub_ui.hub.hub.audit_records(hub_ui.hub.hub.authenticate(
        hub_ui.hub.tokens["admin"]), before=None, limit=5, action="ui.login",
        object_prefix=None, since=None, until=None)
    assert audit and audit[0]["object"] == "ui-user:ada" and audit[0]["detail"]["via"] == "password"


def test_token_login_follows_the_token(hub_ui: HubUi) -> None:
    token_id, token = hub_ui.hub.hub.issue_token("bob")
    with hub_ui.client() as client:
        assert login(client, token=token).status_code == 303
        page = client.get("/ui/")
        assert page.status_code == 200 and "bob" in page.text and "API token" in page.text
        hub_ui.hub.hub.revoke_token(token_id)
        # Revoking the token ends the sessions opened with it at their next request.
        assert client.get("/ui/").status_code == 303
        assert login(client, token=token).status_code == 401
        assert login(client, token="cdh_" + "x" * 5000).status_code == 401


def test_open_redirects_are_refused(hub_ui: HubUi) -> None:
    for target in ("https://evil.example/", "//evil.example/ui", "/ui\\..\\x"):
        with hub_ui.client() as client:
            response = login(client, "cora", next_url=target)
            assert response.headers["location"] == "/ui/"


def test_wrong_passwords_are_rate_limited_per_user_and_address(hub_ui: HubUi) -> None:
    with hub_ui.client() as client:
        # Unknown names and wrong passwords answer alike.
        assert "wrong user name or password" in login(client, "ghost", password="x" * 9).text
        for _ in range(5):
            wrong = login(client, "cora", password="not the password")
            assert wrong.status_code == 401 and "wrong user name or password" in wrong.text
        locked = login(client, "cora")  # even the right password waits now
        assert locked.status_code == 429 and "too many failed logins" in locked.text
        assert int(locked.headers["retry-after"]) > 0
        # Another user is not locked by cora's failures (the address allows 20).
        assert login(client, "rita").status_code == 303
    with hub_ui.client() as client:
        for index in range(13):
            assert login(client, f"nobody{index}", password="guess-guess").status_code == 401
        assert login(client, "nobody", password="guess-guess").status_code == 401
        assert login(client, "ada").status_code == 429  # the address is locked now


def test_sessions_expire_when_idle_and_after_their_lifetime(hub_ui: HubUi) -> None:
    store = hub_ui.hub.store
    for column in ("last_seen_at", "expires_at"):
        with hub_ui.client("cora") as client:
            assert client.get("/ui/").status_code == 200
            back = utcnow() - timedelta(hours=1 if column == "last_seen_at" else 0, seconds=1)
            with store.plain_write() as conn:
                conn.execute(update(web_sessions).values({column: back}))
            expired = client.get("/ui/")
            assert expired.status_code == 303 and expired.headers["location"].startswith(
                "/ui/login")


def test_forms_need_the_sessions_csrf_token(hub_ui: HubUi) -> None:
    with hub_ui.client("cora") as client:
        token = csrf_of(client.get("/ui/").text)
        other = token[:-1] + ("B" if token.endswith("A") else "A")
        for forged in ({}, {"csrf_token": ""}, {"csrf_token": other},
                       {"csrf_token": "x" * 5000}):
            response = client.post("/ui/logout", data=forged)
            assert response.status_code == 403 and "security token" in response.text
        assert client.get("/ui/").status_code == 200  # still logged in
        assert client.post("/ui/logout", data={"csrf_token": token}).status_code == 303
        assert client.get("/ui/").status_code == 303
    # The login form has its own token (a cookie and a field that must agree).
    with hub_ui.client() as client:
        client.get("/ui/login")
        response = client.post("/ui/login", data={"username": "cora", "password": PASSWORD,
                                                  "csrf_token": "forged"})
        assert response.status_code == 403


def test_another_roles_pages_answer_403(hub_ui: HubUi) -> None:
    with hub_ui.client("rita") as reader:
        for path in ("/ui/members", "/ui/audit"):
            response = reader.get(path)
            assert response.status_code == 403, path
            assert "reader" in response.text


def test_errors_under_ui_are_pages_and_the_api_keeps_json(hub_ui: HubUi) -> None:
    with hub_ui.client("cora") as client:
        missing = client.get("/ui/no-such-page")
        assert missing.status_code == 404 and "text/html" in missing.headers["content-type"]
        bad = client.get("/ui/entries/not-a-number")
        assert bad.status_code == 422 and "text/html" in bad.headers["content-type"]
        assert "entry_id" in bad.text
        absent = client.get("/ui/entries/999999")
        assert absent.status_code == 403 and "text/html" in absent.headers["content-type"]
        hidden = client.get("/ui/banks/nothing-here")
        assert hidden.status_code == 404
        api = client.get("/v1/no-such-thing")
        assert api.status_code == 404 and api.headers["content-type"] == "application/json"


def test_hostile_names_are_refused_and_echoed_inert(hub_ui: HubUi) -> None:
    hostile = '<script>alert(1)</script>'
    with hub_ui.client("ada") as client:
        token = csrf_of(client.get("/ui/members").text)
        for path, form in (("/ui/members", {"name": hostile, "role": "reader"}),
                           ("/ui/users", {"name": hostile, "member": "alice",
                                          "password": PASSWORD}),
                           ("/ui/users", {"name": "ok", "member": hostile,
                                          "password": PASSWORD}),
                           ("/ui/banks", {"name": hostile, "sharing": "all"})):
            response = client.post(path, data={"csrf_token": token, **form})
            assert response.status_code == 422, (path, response.text)
            assert "<script>alert" not in response.text
            assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
        search = client.get("/ui/entries", params={"label": hostile, "contributor": hostile,
                                                   "hash": hostile, "bank": hostile})
        assert search.status_code == 200 and "<script>alert" not in search.text


def test_the_hub_takes_no_files_not_even_from_its_pages(hub_ui: HubUi) -> None:
    with hub_ui.client("cora") as client:
        token = csrf_of(client.get("/ui/banks").text)
        assert client.post("/ui/banks", data={"csrf_token": token, "name": "tcap",
                                              "sharing": "all"}).status_code == 303
        page = client.get("/ui/banks/tcap").text
        assert 'enctype="multipart/form-data"' not in page and 'name="files"' not in page
        # The old upload path, and every multipart or media body on any path, is refused
        # before any route sees it.
        for url in ("/ui/banks/tcap/files", "/ui/banks/tcap/signals", "/ui/banks/tcap/import",
                    "/ui/banks", "/v1/banks/tcap/entries", "/v1/banks/tcap/import"):
            multipart = client.post(url, data={"csrf_token": token}, files=[
                ("files", ("photo.jpg", image_bytes(seed=3), "image/jpeg"))])
            assert multipart.status_code == 415, url
            assert "never content" in multipart.json()["detail"]
            raw = client.post(url, content=image_bytes(seed=3),
                              headers={"content-type": "image/jpeg"})
            assert raw.status_code == 415, url
        text_upload = client.post("/ui/banks/tcap/import", data={"csrf_token": token}, files=[
            ("hashlist", ("list.txt", b"md5 " + b"a" * 32, "text/plain"))])
        assert text_upload.status_code == 415
    # The API as well, with a member's token.
    with hub_ui.hub.client("alice") as api:
        refused = api.post("/v1/banks/tcap/entries", files={"f": ("a.jpg", b"x", "image/jpeg")})
        assert refused.status_code == 415


PDQ = "f8f8f0cee0f4a84f06370a22038f63f0b36e2ed596621e1d33e6b39c4e9c9b22"


def test_pasted_hashes_become_entries_and_bad_lines_are_named(hub_ui: HubUi) -> None:
    hostile = '<script>alert(1)</script>'
    with hub_ui.client("cora") as client:
        token = csrf_of(client.get("/ui/banks").text)
        assert client.post("/ui/banks", data={"csrf_token": token, "name": "pasted",
                                              "sharing": "all"}).status_code == 303
        url = "/ui/banks/pasted/signals"
        md5s = [f"{i:032x}" for i in range(1, 4)]
        added = client.post(url, data={
            "csrf_token": token, "signal_type": "md5", "content_type": "video",
            "hashes": f"{md5s[0]}\n\n  {md5s[1]}  \n{md5s[2]}\n",
            "label": "behaviour:attack-depiction", "labels": "tag:demo", "note": "pasted"})
        assert added.status_code == 200, added.text
        assert added.text.count("entry #") == 3 and "line 4" in added.text
        entry_id = int(re.findall(r"entry #(\d+)", added.text)[1])
        entry = hub_ui.hub.hub.entry(hub_ui.hub.hub.authenticate(hub_ui.hub.tokens["admin"]),
                                     entry_id)
        assert entry["content_type"] == "video" and entry["note"] == "pasted"
        assert {"behaviour:attack-depiction", "tag:demo"} <= set(entry["labels"])
        assert entry["signals"] == {"md5": md5s[1]}
        # One bad line refuses the whole paste, names the line, and keeps the text to fix.
        bad = client.post(url, data={"csrf_token": token, "signal_type": "pdq",
                                     "hashes": f"{PDQ}\n{hostile}\n"})
        assert bad.status_code == 422 and "nothing was added" in bad.text
        assert "line 2" in bad.text and "entry #" not in bad.text
        assert "<script>alert" not in bad.text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in bad.text
        assert PDQ in bad.text  # the textarea comes back filled in
        for form, message in (
                ({"signal_type": "md5", "hashes": " \n "}, "paste at least one hash"),
                ({"signal_type": "nope", "hashes": md5s[0]}, "line 1"),
                ({"signal_type": "md5", "hashes": md5s[0], "content_type": "x"},
                 "unknown content type"),
                ({"signal_type": "md5", "hashes": md5s[0], "labels": "nonsense"},
                 "not in the taxonomy")):
            answer = client.post(url, data={"csrf_token": token, **form})
            assert answer.status_code == 422 and message in answer.text, (form, answer.text)
        too_many = client.post(url, data={"csrf_token": token, "signal_type": "md5",
                                          "hashes": "\n".join([md5s[0]] * 10_001)})
        assert too_many.status_code == 422 and "at most 10000 hashes" in too_many.text
        huge = client.post(url, data={"csrf_token": token, "signal_type": "md5",
                                      "hashes": "a" * (2 << 20)})
        assert huge.status_code == 413
        assert client.post(url, data={"csrf_token": "forged", "signal_type": "md5",
                                      "hashes": md5s[0]}).status_code == 403
    with hub_ui.client("rita") as reader:
        token = csrf_of(reader.get("/ui/banks").text)
        assert reader.post(url, data={"csrf_token": token, "signal_type": "md5",
                                      "hashes": md5s[0]}).status_code == 403
        assert 'action="/ui/banks/pasted/signals"' not in reader.get("/ui/banks/pasted").text


def test_hash_lists_are_imported_with_their_problems_shown(hub_ui: HubUi) -> None:
    with hub_ui.client("cora") as client:
        token = csrf_of(client.get("/ui/banks").text)
        assert client.post("/ui/banks", data={"csrf_token": token, "name": "listed",
                                              "sharing": "all"}).status_code == 303
        url = "/ui/banks/listed/import"
        lines = f"# a list\npdq {PDQ}\nmd5 {'b' * 32}\nmd5 <b>not-a-hash</b>\n"
        imported = client.post(url, data={"csrf_token": token, "hashlist": lines})
        assert imported.status_code == 200, imported.text
        summary = imported.text[imported.text.index('id="import-summary"'):]
        assert re.search(r"<dt>Format</dt><dd>lines</dd>", summary)
        assert re.search(r"<dt>Created</dt><dd>2</dd>", summary)
        assert re.search(r"<dt>Skipped</dt><dd>1</dd>", summary)
        assert "line 4" in imported.text and "<b>not-a-hash" not in imported.text
        jsonl = ('{"signals": {"md5": "' + "c" * 32 + '"}, "labels": ["tag:x"]}\n')
        as_jsonl = client.post(url, data={"csrf_token": token, "hashlist": jsonl,
                                          "format": "jsonl"})
        assert as_jsonl.status_code == 200 and "<dt>Created</dt><dd>1</dd>" in as_jsonl.text
        for form, message in (({"hashlist": "  "}, "paste a hash list"),
                              ({"hashlist": lines, "format": "xml"}, "unknown format"),
                              ({"hashlist": "md5 nope\n"}, "no record of the list"),
                              # Media pasted as text is still media: the import service
                              # sniffs the bytes and refuses them.
                              ({"hashlist": "GIF89a\x01\x00\x01\x00\x00\x00\x00;"},
                               "never media")):
            answer = client.post(url, data={"csrf_token": token, **form})
            assert answer.status_code == 422 and message in answer.text, (form, answer.text)
    with hub_ui.client("rita") as reader:
        token = csrf_of(reader.get("/ui/banks").text)
        assert reader.post(url, data={"csrf_token": token,
                                      "hashlist": lines}).status_code == 403


def test_cookies_are_secure_behind_https(hub_ui: HubUi) -> None:
    # uvicorn trusts X-Forwarded-Proto from the loopback proxy: the request is https, and
    # the client (rightly) keeps Secure cookies to itself over plain http: send it by hand.
    with hub_ui.client() as client:
        https = {"X-Forwarded-Proto": "https"}
        page = client.get("/ui/login", headers=https)
        login_cookie = page.headers["set-cookie"]
        assert login_cookie.startswith("cordon_login_csrf=") and "Secure" in login_cookie
        value = login_cookie.split(";")[0].split("=", 1)[1]
        response = client.post("/ui/login", headers={**https,
                                                      "Cookie": f"cordon_login_csrf={value}"},
                               data={"csrf_token": csrf_of(page.text), "username": "cora",
                                     "password": PASSWORD})
        assert response.status_code == 303
        cookie = next(h for h in response.headers.get_list("set-cookie")
                      if h.startswith("cordon_session="))
        assert "Secure" in cookie and "HttpOnly" in cookie


def test_dashboard_figures_follow_every_change_and_lists_page(hub_ui: HubUi) -> None:
    figure = re.compile(r"<strong>([\d,]+)</strong> live entries")
    make_bank(hub_ui.hub, "alice", "tcap", ["*"])
    with hub_ui.client("cora") as client, hub_ui.hub.client("alice") as api:
        assert figure.search(client.get("/ui/").text).group(1) == "0"
        assert figure.search(client.get("/ui/").text).group(1) == "0"  # kept figures
        entries = [{"signals": {"md5": f"{i:032x}"}, "labels": ["tag:page"]} for i in range(60)]
        ids = api.post("/v1/banks/tcap/entries", json={"entries": entries}).json()["ids"]
        assert figure.search(client.get("/ui/").text).group(1) == "60"
        api.delete(f"/v1/entries/{ids[0]}")
        assert figure.search(client.get("/ui/").text).group(1) == "59"
        # 50 per page, newest change first (the withdrawal), then the next page.
        first = client.get("/ui/entries", params={"label": "tag:page", "withdrawn": "true"})
        shown = re.findall(r'href="/ui/entries/(\d+)"', first.text)
        assert len(shown) == 50 and shown[0] == str(ids[0])
        older = re.search(r'href="(/ui/entries\?[^"]+)" rel="next"', first.text)
        assert older is not None
        second = client.get(older.group(1).replace("&amp;", "&"))
        rest = re.findall(r'href="/ui/entries/(\d+)"', second.text)
        assert len(rest) == 10 and not set(rest) & set(shown)
        bank = client.get("/ui/banks/tcap")
        assert len(re.findall(r'href="/ui/entries/(\d+)"', bank.text)) == 50


def test_oversized_forms_are_refused_while_they_arrive(hub_ui: HubUi) -> None:
    big = {"csrf_token": "x", "username": "cora", "password": "p" * (2 << 20)}
    with hub_ui.client() as client:
        response = client.post("/ui/login", data=big)
        assert response.status_code == 413 and "larger than" in response.text

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            for _ in range(40):
                yield b"note=" + b"n" * 65_536

        chunked = client.post("/ui/login", content=chunks(), headers={
            "content-type": "application/x-www-form-urlencoded"})
        assert chunked.status_code == 413
    with hub_ui.client("cora") as client:
        token = csrf_of(client.get("/ui/").text)
        response = client.post("/ui/entries/1/feedback",
                               data={"csrf_token": token, "note": "n" * (2 << 20)})
        assert response.status_code == 413
        assert client.get("/ui/").status_code == 200
