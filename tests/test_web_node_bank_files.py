"""Building a private bank from files on the node's pages, over real HTTP: the node hashes
the files, keeps their signals in a private bank, and shares only the signals to a hub bank
(a real hub, on SQLite and PostgreSQL); bad input gets clear answers."""

from __future__ import annotations

import hashlib
import http.client
import re
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.media_factory import image_bytes, png_bomb
from tests.test_hub_support import make_bank
from tests.web_support import HubUi, NodeUi, csrf_of, hub_ui, node_ui, serve_node_ui

__all__ = ["hub_ui", "node_ui"]
HOSTILE = '<script>alert(1)</script>'


def test_a_bank_built_from_files_is_shared_to_the_hub_as_signals(
        hub_ui: HubUi, tmp_path: Path) -> None:
    make_bank(hub_ui.hub, "alice", "tcap", ["*"])
    photos = [image_bytes(seed=seed) for seed in (11, 12)]
    for site in serve_node_ui(f"sqlite:///{tmp_path / 'node.db'}", hub_ui.hub):
        with site.client("admin") as client:
            token = csrf_of(client.get("/ui/banks").text)
            created = client.post("/ui/banks", data={"csrf_token": token, "name": "ours",
                                                     "description": "removed by us"})
            assert created.status_code == 303 and created.headers["location"] == "/ui/banks/ours"
            assert 'href="/ui/banks/ours"' in client.get("/ui/banks").text
            built = client.post("/ui/banks/ours/files", data={
                "csrf_token": token, "label": "behaviour:attack-depiction",
                "labels": "tag:demo", "note": "from our takedowns", "share": "yes",
                "share_to": "tcap"}, files=[
                ("files", (f"{HOSTILE}.jpg", photos[0], "image/jpeg")),
                ("files", ("b.jpg", photos[1], "image/jpeg"))])
            assert built.status_code == 200, built.text
            assert built.text.count("hub entry #") == 2
            assert "<script>alert" not in built.text and "&lt;script&gt;" in built.text
            hub_ids = [int(i) for i in re.findall(r"hub entry #(\d+)", built.text)]
            page = client.get("/ui/banks/ours").text
            assert page.count("behaviour:attack-depiction") >= 2
        # The hub holds the signals (an MD5 of each file), labels and note; no file.
        with hub_ui.hub.client("alice") as api:
            for hub_id, photo in zip(hub_ids, photos, strict=True):
                entry = api.get(f"/v1/entries/{hub_id}").json()
                assert entry["signals"]["md5"] == hashlib.md5(photo).hexdigest()
                assert "pdq" in entry["signals"]
                assert set(entry["labels"]) == {"behaviour:attack-depiction", "tag:demo"}
                assert entry["note"] == "from our takedowns"
                assert entry["contributor"] == "bob"
        # Not shared: the signals stay on the node.
        with site.client("admin") as client:
            token = csrf_of(client.get("/ui/banks/ours").text)
            kept = client.post("/ui/banks/ours/files", data={"csrf_token": token}, files=[
                ("files", ("c.jpg", image_bytes(seed=13), "image/jpeg"))])
            assert kept.status_code == 200 and "entry #" in kept.text
            assert "hub entry #" not in kept.text
            # The hub refuses an unknown bank: the entries stay private, and the page says so.
            refused = client.post("/ui/banks/ours/files", data={
                "csrf_token": token, "share": "yes", "share_to": "nope"}, files=[
                ("files", ("d.jpg", image_bytes(seed=14), "image/jpeg"))])
            assert refused.status_code == 422
            assert "the hub refused to share them" in refused.text
            assert "entry #" in refused.text and "hub entry #" not in refused.text
            # Refused before anything is hashed or stored.
            for form, message in (({"share": "yes"}, "name the hub bank"),
                                  ({"share": "yes", "share_to": "tcap", "labels": "nonsense"},
                                   "not in the taxonomy")):
                answer = client.post("/ui/banks/ours/files", data={"csrf_token": token, **form},
                                     files=[("files", ("e.jpg", image_bytes(seed=15),
                                                       "image/jpeg"))])
                assert answer.status_code == 422 and message in answer.text, answer.text
                assert "e.jpg" not in answer.text


def test_bad_uploads_to_a_node_bank_get_clear_answers(node_ui: NodeUi, tmp_path: Path) -> None:
    with node_ui.client("admin") as client:
        token = csrf_of(client.get("/ui/banks").text)
        page = client.get("/ui/banks").text
        assert "New private bank" in page
        for name, message in ((HOSTILE, "&lt;script&gt;"), ("hub.x", "kept for mirrors")):
            bad = client.post("/ui/banks", data={"csrf_token": token, "name": name})
            assert bad.status_code in (409, 422), bad.text
            assert message in bad.text and "<script>alert" not in bad.text
        assert client.post("/ui/banks", data={"csrf_token": token,
                                              "name": "mine"}).status_code == 303
        assert client.post("/ui/banks", data={"csrf_token": token,
                                              "name": "mine"}).status_code == 409
        url = "/ui/banks/mine/files"
        none = client.post(url, data={"csrf_token": token}, files={"x": ("", b"", "text/plain")})
        assert none.status_code == 422 and "choose at least one file" in none.text
        broken = client.post(url, data={"csrf_token": token}, files=[
            ("files", ("broken.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "image/jpeg"))])
        assert broken.status_code == 200 and "broken.jpg" in broken.text
        assert "entry #" not in broken.text
        bomb = png_bomb(tmp_path / "bomb.png").read_bytes()
        mixed = client.post(url, data={"csrf_token": token}, files=[
            ("files", ("bomb.png", bomb, "image/png")),
            ("files", ("fine.jpg", image_bytes(seed=3), "image/jpeg"))])
        assert mixed.status_code == 200 and "bomb.png" in mixed.text
        assert mixed.text.count("entry #") == 1  # the good file still goes in
        # This node follows no hub: no share option, and asking to share is refused.
        assert 'name="share"' not in client.get("/ui/banks/mine").text
        no_hub = client.post(url, data={"csrf_token": token, "share": "yes",
                                        "share_to": "tcap"},
                             files=[("files", ("a.jpg", image_bytes(seed=4), "image/jpeg"))])
        assert no_hub.status_code == 422 and "follows no hub" in no_hub.text
        assert "entry #" not in no_hub.text  # refused before anything is hashed or stored
        assert client.get("/ui/banks/nope").status_code == 404
        assert client.post("/ui/banks/nope/files", data={"csrf_token": token}, files=[
            ("files", ("a.jpg", image_bytes(seed=6), "image/jpeg"))]).status_code == 404
        assert client.post(url, data={"csrf_token": "forged"}, files=[
            ("files", ("a.jpg", image_bytes(seed=6), "image/jpeg"))]).status_code == 403
    with node_ui.client("reviewer") as reviewer:
        token = csrf_of(reviewer.get("/ui/banks").text)
        page = reviewer.get("/ui/banks/mine")
        assert page.status_code == 200 and 'action="/ui/banks/mine/files"' not in page.text
        assert reviewer.post(url, data={"csrf_token": token}, files=[
            ("files", ("a.jpg", image_bytes(seed=6), "image/jpeg"))]).status_code == 403
        assert reviewer.post("/ui/banks", data={"csrf_token": token,
                                                "name": "theirs"}).status_code == 403


def test_a_file_form_past_the_upload_limit_is_cut_off_as_it_arrives(node_ui: NodeUi) -> None:
    settings = node_ui.node.app.state.ui.settings
    settings.max_form_upload_bytes = 4 << 20
    sent = 0

    def endless(boundary: str, token: str) -> Iterator[bytes]:
        # A chunked body with no declared length: only counting while it arrives can stop it.
        nonlocal sent
        yield (f'--{boundary}\r\nContent-Disposition: form-data; name="csrf_token"\r\n\r\n'
               f'{token}\r\n--{boundary}\r\nContent-Disposition: form-data; name="files"; '
               'filename="huge.jpg"\r\nContent-Type: image/jpeg\r\n\r\n').encode()
        chunk = b"\0" * (1 << 20)
        for _ in range(64):
            sent += len(chunk)
            yield chunk

    with node_ui.client("admin") as client:
        token = csrf_of(client.get("/ui/banks").text)
        assert client.post("/ui/banks", data={"csrf_token": token,
                                              "name": "mine"}).status_code == 303
        # A declared length past the limit is refused before the body is sent.
        connection = http.client.HTTPConnection(httpx.URL(node_ui.url).host,
                                                httpx.URL(node_ui.url).port, timeout=30)
        connection.putrequest("POST", "/ui/banks/mine/files")
        for name, value in (("Content-Type", "multipart/form-data; boundary=b"),
                            ("Content-Length", str(5 << 20)),
                            ("Cookie", "; ".join(f"{k}={v}" for k, v in client.cookies.items()))):
            connection.putheader(name, value)
        connection.endheaders()
        declared = connection.getresponse()
        assert declared.status == 413 and b"larger than" in declared.read()
        connection.close()
        try:
            response = client.post("/ui/banks/mine/files", content=endless("b", token),
                                   headers={"Content-Type": "multipart/form-data; boundary=b"})
        except httpx.HTTPError:
            response = None  # the server may close the connection on the unread rest
        if response is not None:
            assert response.status_code == 413 and "larger than" in response.text
        assert "huge.jpg" not in client.get("/ui/banks/mine").text
