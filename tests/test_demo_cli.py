"""`cordon demo` as a user runs it: a real subprocess starting a real hub and node on free
ports, seeded from a small corpus, stopped by a signal with nothing left behind."""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.media_factory import scene_frames, write_image, write_video
from tests.web_support import login


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _processes_using(home: Path) -> list[int]:
    """Processes whose command line names the demo home (the hub and node servers do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if str(home).encode() in cmdline and int(entry.name) != os.getpid():
            found.append(int(entry.name))
    return found


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("corpus")
    (root / "images").mkdir()
    (root / "videos").mkdir()
    for seed in range(3):
        write_image(root / "images" / f"photo{seed}.jpg", seed=seed)
    scenes = tmp_path_factory.mktemp("scenes")
    photos = [write_image(scenes / f"{seed}.png", "PNG", seed=seed) for seed in range(10, 22)]
    write_video(root / "videos" / "clip.mp4", scene_frames(12, 8, (320, 240), photos), fps=8)
    (root / "SOURCES.txt").write_text("where the files come from\n")
    return root


class Demo:
    def __init__(self, home: Path, corpus: Path, hub_port: int, node_port: int) -> None:
        self.home = home
        self.process = subprocess.Popen(
            [sys.executable, "-m", "cordon", "demo", "--home", str(home), "--corpus",
             str(corpus), "--hub-port", str(hub_port), "--node-port", str(node_port),
             "--jobs", "1", "--format", "json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def ready(self, timeout: float = 240.0) -> dict[str, Any]:
        assert self.process.stdout is not None
        # The demo prints one line when it is ready.
        readable, _, _ = select.select([self.process.stdout], [], [], timeout)
        assert readable, f"the demo was not ready within {timeout} s"
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(10)
            raise AssertionError(f"the demo stopped: {self.process.stderr.read()}")  # type: ignore[union-attr]
        return json.loads(line)  # type: ignore[no-any-return]

    def stop(self, signum: int = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signum)
        try:
            return self.process.wait(30)
        finally:
            if self.process.poll() is None:
                self.process.kill()


@pytest.fixture
def ports() -> tuple[int, int]:
    return _free_port(), _free_port()


@pytest.fixture
def demo_home(tmp_path: Path) -> Iterator[Path]:
    home = tmp_path / "demo home"
    yield home
    for pid in _processes_using(home):
        os.kill(pid, signal.SIGKILL)


def test_demo_runs_a_seeded_hub_and_node_and_restarts_on_the_same_data(
        corpus: Path, demo_home: Path, ports: tuple[int, int]) -> None:
    hub_port, node_port = ports
    demo = Demo(demo_home, corpus, hub_port, node_port)
    try:
        info = demo.ready()
        assert info["hub"] == f"http://127.0.0.1:{hub_port}"
        assert info["node"] == f"http://127.0.0.1:{node_port}"
        assert info["entries"] == 4 and info["mirrored"] == 4  # 3 images, 1 video, no notes
        assert info["not_banked"] == []
        tokens = {t["member"]: t for t in info["hub_tokens"]}
        assert tokens["consortium"]["role"] == "admin"
        assert tokens["platform-a"]["role"] == "contributor"

        admin = {"Authorization": f"Bearer {tokens['consortium']['token']}"}
        banks = httpx.get(f"{info['hub']}/v1/banks", headers=admin).json()["banks"]
        assert [b["name"] for b in banks] == ["tvec-demo"]
        stats = httpx.get(f"{info['hub']}/v1/stats", headers=admin).json()
        assert stats  # the hub answers an authenticated read

        node = {"Authorization": f"Bearer {info['node_token']}"}
        rules = httpx.get(f"{info['node']}/v1/rules", headers=node).json()["rules"]
        assert sorted(r["action"] for r in rules) == ["alert", "block", "review"]
        with open(corpus / "videos" / "clip.mp4", "rb") as clip:
            answer = httpx.post(f"{info['node']}/v1/match", headers=node, timeout=60,
                                files={"file": ("clip.mp4", clip, "video/mp4")}).json()
        assert {m["bank"] for m in answer["matches"]} == {"tvec-demo"}
        assert answer["actions"][0]["action"] == "block"
        with open(corpus / "images" / "photo1.jpg", "rb") as photo:
            answer = httpx.post(f"{info['node']}/v1/match", headers=node, timeout=60,
                                files={"file": ("photo1.jpg", photo, "image/jpeg")}).json()
        assert answer["matches"] and answer["actions"][0]["action"] == "review"
        # The node told the demo's webhook receiver, which checked the signatures.
        log = Path(info["webhook_log"])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            received = [json.loads(line) for line in
                        (log.read_text().splitlines() if log.exists() else [])]
            if {"match", "action"} <= {r["event"] for r in received}:
                break
            time.sleep(0.2)
        assert {"match", "action"} <= {r["event"] for r in received}
        assert {r["signature"] for r in received} == {"valid"}

        users = {u["user"]: u for u in info["ui_users"]}
        assert set(users) == {"operator", "platform", "engineer", "reviewer"}
        for user in users.values():
            with httpx.Client(base_url=user["ui"].removesuffix("/ui"), timeout=30) as browser:
                assert login(browser, user["user"], user["password"]).status_code == 303
                assert browser.get("/ui/").status_code == 200
        with httpx.Client(base_url=info["node"], timeout=30) as browser:
            refused = login(browser, "reviewer", users["engineer"]["password"])
            assert refused.status_code != 303

        _play_the_story(demo_home, info)

        second = _run("--home", str(demo_home), "--corpus", str(corpus),
                      "--hub-port", str(_free_port()), "--node-port", str(_free_port()))
        assert second.returncode == 2 and "already running" in second.stderr
    finally:
        assert demo.stop() == 0
    assert not _listening(hub_port) and not _listening(node_port)
    assert _processes_using(demo_home) == []
    assert (demo_home / "demo.json").stat().st_mode & 0o077 == 0  # it holds tokens

    again = Demo(demo_home, corpus, hub_port, node_port)
    try:
        second = again.ready()
        # Nothing banked twice: the corpus once, and the incident copy the story shared.
        assert second["entries"] == 4 and second["mirrored"] == 5
        assert second["hub_tokens"] == info["hub_tokens"]
        assert second["node_token"] == info["node_token"]
        assert second["ui_users"] == info["ui_users"]
        headers = {"Authorization": f"Bearer {second['node_token']}"}
        rules = httpx.get(f"{second['node']}/v1/rules", headers=headers)
        assert len(rules.json()["rules"]) == 3
        # One webhook: the receiver of this run, not of the last one.
        hooks = httpx.get(f"{second['node']}/v1/webhooks", headers=headers).json()
        assert len(hooks["webhooks"]) == 1
    finally:
        assert again.stop(signal.SIGINT) == 0  # Ctrl-C
    assert _processes_using(demo_home) == []

    # A removed hub database is made again, with new tokens, and the corpus banked again;
    # the node, which mirrored the old hub, starts afresh.
    for name in os.listdir(demo_home):
        if name.startswith("hub.db"):
            os.unlink(demo_home / name)
    fresh = Demo(demo_home, corpus, hub_port, node_port)
    try:
        third = fresh.ready()
        assert third["entries"] == 4 and third["mirrored"] == 4
        assert third["hub_tokens"] != info["hub_tokens"]
        assert third["node_token"] != info["node_token"]
        node = {"Authorization": f"Bearer {third['node_token']}"}
        status = httpx.get(f"{third['node']}/v1/status", headers=node).json()
        assert status["mirrored_entries"] == 4
    finally:
        assert fresh.stop() == 0


def test_servers_stop_when_the_demo_is_killed(corpus: Path, demo_home: Path,
                                              ports: tuple[int, int]) -> None:
    demo = Demo(demo_home, corpus, *ports)
    try:
        demo.ready()
        assert len(_processes_using(demo_home)) == 3  # the demo, its hub and its node
    finally:
        demo.stop(signal.SIGKILL)
    deadline = time.monotonic() + 20
    while _processes_using(demo_home) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _processes_using(demo_home) == []
    assert not _listening(ports[0]) and not _listening(ports[1])


def _play_the_story(home: Path, info: dict[str, Any]) -> None:
    played = subprocess.run([sys.executable, "-m", "cordon", "demo", "play", "--home",
                             str(home), "--format", "json"], text=True, capture_output=True,
                            timeout=300)
    assert played.returncode == 0, played.stderr
    steps = {s["step"]: s for s in map(json.loads, played.stdout.splitlines())}
    assert list(steps) == ["incident", "upload", "live stream", "report", "conclude"]
    incident = steps["incident"]
    assert incident["declared_by"] == "consortium" and incident["label"].startswith("incident:")
    assert incident["matchable_at_node_after_s"] < 5
    upload = steps["upload"]
    assert upload["blocked"]
    assert {a["action"] for a in upload["actions"]} >= {"block", "alert"}
    # The variant matches the banked original, aligned in time, not only the incident copy.
    banked = [m for m in upload["matches"] if m["incident"] is None]
    assert banked and any(isinstance(m["aligned"], dict) for m in banked)
    node_paths = httpx.get(f"{info['node']}/openapi.json").json()["paths"]
    if "/v1/streams" in node_paths:
        alert = steps["live stream"]["alert"]
        assert alert["bank"] == "tvec-demo"
        assert {a["action"] for a in alert["actions"]} >= {"block"}
    else:
        assert steps["live stream"] == {"step": "live stream",
                                        "skipped": "this node has no live stream API"}
    report = steps["report"]
    assert report["matched"] and report["queue_position"] is not None
    assert report["decision"]["action"] == "remove"
    assert report["decision"]["statement"]["notice_code"]
    assert steps["conclude"]["status"] == "concluded"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cordon", "demo", *args], text=True,
                          capture_output=True, timeout=120)


def test_demo_refuses_a_missing_corpus(tmp_path: Path, ports: tuple[int, int]) -> None:
    result = _run("--home", str(tmp_path / "home"), "--corpus", str(tmp_path / "nothing"),
                  "--hub-port", str(ports[0]), "--node-port", str(ports[1]))
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"cordon: error: no sample corpus at {tmp_path / 'nothing'}; pass --corpus DIR "
        "(a folder of images and videos)"]


def test_demo_refuses_a_port_in_use(tmp_path: Path, corpus: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("--home", str(tmp_path / "home"), "--corpus", str(corpus),
                      "--hub-port", str(port), "--node-port", str(_free_port()))
    assert result.returncode == 2
    assert "in use" in result.stderr and "--hub-port" in result.stderr
    assert "Traceback" not in result.stderr


def test_demo_refuses_one_port_for_both(tmp_path: Path, corpus: Path) -> None:
    result = _run("--home", str(tmp_path / "home"), "--corpus", str(corpus),
                  "--hub-port", "18123", "--node-port", "18123")
    assert result.returncode == 2
    assert "different ports" in result.stderr


def test_demo_refuses_a_damaged_state_file(tmp_path: Path, corpus: Path,
                                           ports: tuple[int, int]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "demo.json").write_text("{not json")
    result = _run("--home", str(home), "--corpus", str(corpus),
                  "--hub-port", str(ports[0]), "--node-port", str(ports[1]))
    assert result.returncode == 2
    assert "remove the demo home" in result.stderr and "Traceback" not in result.stderr


def test_play_needs_a_running_demo(tmp_path: Path, ports: tuple[int, int]) -> None:
    home = tmp_path / "home"
    home.mkdir()
    played = _run("play", "--home", str(home))
    assert played.returncode == 2
    assert played.stderr.strip().splitlines() == [
        "cordon: error: the demo home has no running demo recorded; start it with "
        "`cordon demo`"]
    (home / "demo.json").write_text(json.dumps({
        "tokens": {"consortium": "x", "platform-a": "y"}, "node_token": "z",
        "hub_url": f"http://127.0.0.1:{ports[0]}", "node_url": f"http://127.0.0.1:{ports[1]}",
        "corpus": str(tmp_path), "banked": {}}))
    played = _run("play", "--home", str(home))
    assert played.returncode == 2
    assert "is the demo running? Start it with `cordon demo`" in played.stderr
    assert "Traceback" not in played.stderr
