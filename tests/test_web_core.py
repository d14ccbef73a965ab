"""Parts of the web UI framework on their own: charts, passwords, sessions, throttling,
CLI commands for users."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import update

from cordon.cli.main import cli
from cordon.errors import CordonError
from cordon.store import Store
from cordon.store.types import utcnow
from cordon.store.web_models import web_sessions
from cordon.web.charts import bar_chart, time_chart
from cordon.web.passwords import hash_password, verify_password
from cordon.web.sessions import Sessions
from cordon.web.settings import WebSettings
from cordon.web.throttle import LoginThrottle
from cordon.web.users import Users

HOSTILE = '<script>alert(1)</script>"&'


def test_charts_escape_their_labels_and_describe_their_values() -> None:
    bars = str(bar_chart({HOSTILE: 3, "pdq": 10}, f"title {HOSTILE}"))
    assert "<script>" not in bars and "&lt;script&gt;" in bars
    assert bars.index(">pdq<") < bars.index(">&lt;script")  # largest first
    assert "<title>title &lt;script&gt;" in bars and "pdq: 10" in bars
    many = str(bar_chart({f"l{i}": i for i in range(30)}, "many", limit=5))
    assert many.count("<rect") == 5 and "other" in many
    line = str(time_chart([("2026-01", 1), (HOSTILE, 4)], "months", unit=" ms"))
    assert "<script>" not in line and line.count("<circle") == 2 and "4 ms" in line
    assert "<desc>2026-01: 1 ms; &lt;script&gt;" in line and "&lt;desc&gt;" not in line
    assert "<desc>pdq: 10; &lt;script&gt;" in bars
    assert "no data yet" in str(time_chart([], "empty")) and "no data yet" in str(
        bar_chart({}, "empty"))


def test_passwords_are_argon2_and_checked() -> None:
    stored = hash_password("correct horse battery")
    assert stored.startswith("$argon2id$")
    assert verify_password(stored, "correct horse battery")
    assert not verify_password(stored, "Correct horse battery")
    assert not verify_password(None, "correct horse battery")
    assert not verify_password("not a hash", "correct horse battery")
    assert not verify_password(stored, "x" * 100_000)


def test_sessions_are_kept_as_digests_and_expire(tmp_path) -> None:
    with Store(f"sqlite:///{tmp_path / 'w.db'}") as store:
        sessions = Sessions(store, "hub", WebSettings(idle_seconds=60, absolute_seconds=3600))
        session_id = sessions.open(principal="ann")
        with store.read() as conn:
            stored = conn.execute(web_sessions.select()).one()
        assert session_id not in (stored.digest, stored.csrf_token)
        assert sessions.get(session_id) is not None
        assert Sessions(store, "node", sessions.settings).get(session_id) is None
        assert sessions.get("x" * 1000) is None and sessions.get("") is None
        with store.plain_write() as conn:
            conn.execute(update(web_sessions).values(
                last_seen_at=utcnow() - timedelta(seconds=61)))
        assert sessions.get(session_id) is None
        with store.read() as conn:  # an expired session is deleted, not just refused
            assert conn.execute(web_sessions.select()).first() is None


def test_throttle_counts_concurrent_failures(tmp_path) -> None:
    with Store(f"sqlite:///{tmp_path / 'w.db'}") as store:
        throttle = LoginThrottle(store, "hub", WebSettings(user_failures=8))
        threads = [threading.Thread(target=throttle.failed, args=("ann", "10.0.0.1"))
                   for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert throttle.wait("ann", None) > 0
        assert throttle.wait("bob", "10.0.0.2") == 0
        throttle.succeeded("ann")
        assert throttle.wait("ann", None) == 0


def test_user_commands(tmp_path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    runner = CliRunner()

    def run(*args: str, stdin: str | None = None):
        return runner.invoke(cli, list(args), input=stdin)

    assert run("hub", "member", "add", "acme", "--role", "contributor", "--db", db).exit_code == 0
    added = run("hub", "user", "add", "ann", "--member", "acme", "--password-stdin", "--db", db,
                stdin="a long password\n")
    assert added.exit_code == 0 and "acts as acme (contributor)" in added.output
    prompted = run("hub", "user", "add", "bea", "--member", "acme", "--db", db,
                   stdin="another password\nanother password\n")
    assert prompted.exit_code == 0, prompted.output
    for args, stdin, message in (
        (("hub", "user", "add", "ann", "--member", "acme"), "a long password\n",
         "already exists"),
        (("hub", "user", "add", "cy", "--member", "nobody"), "a long password\n",
         "no member named 'nobody'"),
        (("hub", "user", "add", "dee", "--member", "acme"), "short\n", "at least 8"),
        (("hub", "user", "add", "<b>", "--member", "acme"), "a long password\n",
         "invalid user name"),
        (("hub", "user", "add", "eve", "--member", "acme"), "", "no password"),
        (("node", "user", "add", "rex", "--role", "overlord"), "a long password\n",
         "unknown node role"),
        (("hub", "user", "password", "zed"), "a long password\n", "no user named"),
    ):
        result = run(*args, "--password-stdin", "--db", db, stdin=stdin)
        assert result.exit_code == 2 and message in result.output, (args, result.output)
    assert run("node", "user", "add", "rev", "--role", "reviewer", "--password-stdin",
               "--db", db, stdin="a long password\n").exit_code == 0
    listed = run("hub", "user", "list", "--format", "json", "--db", db)
    assert [line for line in listed.output.splitlines()
            if '"ann"' in line and '"member": "acme"' in line]
    assert "ann\tacts as acme" in run("hub", "user", "list", "--db", db).output
    assert "rev\treviewer" in run("node", "user", "list", "--db", db).output
    assert run("hub", "user", "password", "ann", "--password-stdin", "--db", db,
               stdin="a new long password\n").exit_code == 0
    assert run("hub", "user", "disable", "ann", "--db", db).exit_code == 0
    with Store(db) as store:
        users = Users(store, "hub")
        assert users.authenticate("ann", "a new long password") is None  # disabled
        assert users.authenticate("bea", "another password") is not None


def test_settings_from_the_environment() -> None:
    settings = WebSettings.from_environment({"CORDON_UI_IDLE_MINUTES": "5",
                                             "CORDON_UI_SESSION_HOURS": "1.5"})
    assert (settings.idle_seconds, settings.absolute_seconds) == (300, 5400)
    assert WebSettings.from_environment({}).idle_seconds == 1800
    for bad in ("0", "-3", "soon", "1e9"):
        with pytest.raises(CordonError, match="CORDON_UI_LOCK_MINUTES must be a positive"):
            WebSettings.from_environment({"CORDON_UI_LOCK_MINUTES": bad})
