"""The node: its store, the in-memory matcher over every live local entry (mirrored hub
entries and private ones), the match log with rules, and the webhook outbox."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import Connection, bindparam, func, insert, select, update

from cordon.banks import Banks
from cordon.banks.records import check_bank_name
from cordon.errors import CordonError
from cordon.hub import cursor as cursors
from cordon.hub.tokens import digest
from cordon.matching import Matcher, SignalMatch
from cordon.node import mirror
from cordon.node.group_commit import GroupCommit
from cordon.node.roles import ADMIN, Principal
from cordon.node.rules import ACTIONS, Rule, evaluate
from cordon.node.settings import NodeSettings
from cordon.node.token_cache import TokenCache
from cordon.signals import get_signal_type
from cordon.store import Store
from cordon.store.models import (
    banks,
    entries,
    entry_labels,
    entry_signals,
    node_matches,
    node_mirror,
    node_outbox,
    node_rules,
    node_tokens,
    node_webhooks,
)
from cordon.store.types import utcnow

log = logging.getLogger("cordon.node")

TOKEN_PREFIX = "cdn_"
EVENTS = ("match", "action", "live_match", "incident", "decision")


# The statements of a match, built once: building a select with its joins and IN clause took
# as long as running it (a third of the CPU of a match, most of it SQLAlchemy's coercions).
_ENTRY_INFO = (
    select(entries.c.id, banks.c.name, node_mirror.c.hub_entry_id, node_mirror.c.hub_bank,
           node_mirror.c.incident, node_mirror.c.disputed)
    .join(banks, banks.c.id == entries.c.bank_id)
    .outerjoin(node_mirror, node_mirror.c.entry_id == entries.c.id)
    .where(entries.c.id.in_(bindparam("ids", expanding=True)), entries.c.withdrawn_at.is_(None)))
_ENTRY_LABELS = (
    select(entry_labels.c.entry_id, entry_labels.c.label)
    .where(entry_labels.c.entry_id.in_(bindparam("ids", expanding=True)))
    .order_by(entry_labels.c.label))
_RECORD_MATCH = insert(node_matches).returning(node_matches.c.id)
_LIVE_HOOKS = select(node_webhooks.c.id, node_webhooks.c.events).where(
    node_webhooks.c.deleted_at.is_(None))
_QUEUE_EVENT = insert(node_outbox)


class NodeError(CordonError):
    status = 400

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def new_token() -> str:
    import secrets

    return TOKEN_PREFIX + secrets.token_urlsafe(32)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


class Node:
    def __init__(self, store: Store, settings: NodeSettings | None = None) -> None:
        self.store = store
        self.settings = settings or NodeSettings()
        self.banks = Banks(store)
        self.matcher = Matcher(dict(self.settings.thresholds))
        # The matcher is not thread-safe: queries and updates take turns.
        self._lock = threading.Lock()
        self._follow = frozenset(self.settings.follow) if self.settings.follow else None
        self.outbox_ready = threading.Event()
        self._rules: list[Rule] | None = None
        self.tokens = TokenCache(self._live_tokens, max_age=self.settings.token_cache_seconds)
        # Matches are recorded before their response is sent, many per transaction.
        self.match_log = GroupCommit(self.plain_write)
        # With several processes, the change numbers this one wrote (their entries are
        # indexed here already; the local tail skips them).
        self.track_changes = False
        self._written: list[range] = []
        self._written_lock = threading.Lock()
        # The rules of the crisis mode of open incidents (see cordon.node.incidents).
        self.crisis_rules: list[Rule] = []
        # Called (without arguments) after the indexed entries changed, e.g. to refresh the
        # index of the live-stream monitor.
        self.on_change: list[Callable[[], None]] = []

    # --- transactions ----------------------------------------------------------------------
    def plain_write(self) -> AbstractContextManager[Connection]:
        """A write transaction that takes no change number (match log, rules, webhooks)."""
        return self.store.plain_write()

    # --- tokens ----------------------------------------------------------------------------
    def create_token(self, name: str) -> tuple[int, str]:
        token = new_token()
        with self.plain_write() as conn:
            token_id = conn.execute(insert(node_tokens).values(
                name=name, digest=digest(token), created_at=utcnow())
                .returning(node_tokens.c.id)).scalar_one()
        return token_id, token

    def revoke_token(self, token_id: int) -> None:
        with self.plain_write() as conn:
            changed = conn.execute(update(node_tokens).where(
                node_tokens.c.id == token_id, node_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())).rowcount
        self.tokens.invalidate()
        if not changed:
            raise CordonError(f"no live node token with id {token_id}")

    def authenticate(self, token: str) -> str | None:
        return self.tokens.name(token)

    def principal(self, token: str) -> Principal | None:
        """The name and role of a live token, or None."""
        return self.tokens.principal(token)

    def _live_tokens(self) -> dict[str, Principal]:
        with self.store.read() as conn:
            return {row.digest: Principal(row.name, row.role or ADMIN) for row in conn.execute(
                select(node_tokens.c.digest, node_tokens.c.name, node_tokens.c.role).where(
                    node_tokens.c.revoked_at.is_(None)))}

    # --- the matcher -----------------------------------------------------------------------
    def load(self) -> int:
        """Index every live local entry; returns how many entries are indexed."""
        with self.store.read() as conn:
            types = [row[0] for row in conn.execute(
                select(entry_signals.c.signal_type).distinct())]
        matcher = Matcher(dict(self.settings.thresholds))
        for name in sorted(types):
            try:
                get_signal_type(name)
            except CordonError:
                continue
            matcher.add_many(name, self.banks.live_signals(name))
        with self._lock:
            self.matcher = matcher
        self._changed()
        return len(matcher)

    def _changed(self) -> None:
        for listener in list(self.on_change):
            try:
                listener()
            except Exception:  # a listener's failure must not fail the write that called it
                log.exception("a change listener failed")

    def _update_matcher(self, applied: mirror.Applied) -> None:
        # One bulk add per signal type: a catch-up page is thousands of entries.
        additions: dict[str, list[tuple[int, Any]]] = {}
        for entry_id, values in applied.live.items():
            for name, value in values:
                additions.setdefault(name, []).append((entry_id, value))
        with self._lock:
            for entry_id in applied.dropped:
                self.matcher.remove(entry_id)
            for entry_id in applied.live:
                self.matcher.remove(entry_id)
            for name, pairs in additions.items():
                self.matcher.add_many(name, pairs)
        if applied.dropped or applied.live:
            self._changed()

    # --- the hub mirror --------------------------------------------------------------------
    def cursor(self) -> str | None:
        with self.store.read() as conn:
            return mirror.read_state(conn, mirror.CURSOR_KEY)

    def apply_page(self, items: list[Mapping[str, Any]], cursor: str) -> int:
        """Apply feed entries and move the cursor, in one transaction; then the matcher."""
        applied = mirror.Applied()
        with self.store.write() as writer:
            stored = mirror.read_state(writer.connection, mirror.CURSOR_KEY)
            if stored is not None and cursors.decode(stored) >= cursors.decode(cursor):
                return 0  # a page this node has already applied
            first = writer.next_seqs(0).start
            mirror.MirrorWriter(writer, self._follow).apply(items, applied)
            mirror.write_state(writer.connection, mirror.CURSOR_KEY, cursor)
            written = range(first, writer.next_seqs(0).start)
        # Only once committed: a rolled-back transaction's numbers are handed out again.
        self._note_changes(written)
        self._update_matcher(applied)
        return applied.changed

    # --- other processes of this node (cordon.node.workers) --------------------------------
    def _note_changes(self, seqs: range) -> None:
        if seqs and self.track_changes:
            with self._written_lock:
                self._written.append(seqs)

    def wrote_change(self, seq: int) -> bool:
        """Whether this process wrote change number `seq` (and indexed it already)."""
        return any(seq in seqs for seqs in self._written)

    def forget_changes_upto(self, seq: int) -> None:
        with self._written_lock:
            self._written = [s for s in self._written if s.stop - 1 > seq]

    def reindex(self, entry_ids: Sequence[int]) -> None:
        """Index these entries as the store holds them now (live, changed or withdrawn)."""
        self._reindex(entry_ids)

    def apply_priority(self, items: list[Mapping[str, Any]]) -> int:
        """Apply entries pushed ahead of the cursor (an incident's): by hub entry id and change
        number, so that their later delivery in cursor order changes nothing; the cursor
        stays where it is."""
        applied = mirror.Applied()
        with self.store.write() as writer:
            mirror.MirrorWriter(writer, self._follow).apply(items, applied)
        self._update_matcher(applied)
        return applied.changed

    # --- matching --------------------------------------------------------------------------
    def rules(self) -> list[Rule]:
        rules = self._rules
        if rules is None:
            with self.store.read() as conn:
                rows = conn.execute(select(node_rules).order_by(node_rules.c.id)).all()
            rules = self._rules = [Rule.of(r.id, r.name, r.action, r.conditions) for r in rows]
        crisis = self.crisis_rules
        return [*crisis, *rules] if crisis else rules

    def quick_find(self, signals: Mapping[str, Any]) -> list[SignalMatch] | None:
        """The matcher's raw hits, or None when a write holds the matcher at this instant:
        for callers that must not wait (the event loop)."""
        if not self._lock.acquire(blocking=False):
            return None
        try:
            return self.matcher.match(signals)
        finally:
            self._lock.release()

    def _hits(self, signals: Mapping[str, Any]) -> list[SignalMatch]:
        """The matcher's raw hits, waiting for a write that holds it."""
        with self._lock:
            return self.matcher.match(signals)

    def find(self, signals: Mapping[str, Any], found: list[SignalMatch] | None = None,
             conn: Connection | None = None) -> list[dict[str, Any]]:
        """Matches of parsed signal values, described, best first (nothing recorded).
        `found` is the matcher's hits for these signals when the caller already has them
        (`quick_find`): a second lookup would take the matcher's lock again from a worker
        thread, and a thread holding it while it waits for the interpreter lock makes every
        `quick_find` on the event loop meanwhile fail. `conn`: read in this transaction."""
        if found is None:
            found = self._hits(signals)
        if not found:
            return []
        described = self._entries_info({m.entry_id for m in found}, conn)
        matches: list[dict[str, Any]] = []
        for m in found:
            info = described.get(m.entry_id)
            if info is None:
                continue  # withdrawn between the query and this read
            detail = dict(m.detail)
            item = {**info, "signal_type": m.signal_type, "distance": m.distance,
                    "segments": detail.pop("segments", [])}
            if detail:
                item["detail"] = detail
            matches.append(item)
        return matches

    def _entries_info(self, entry_ids: set[int],
                      conn: Connection | None = None) -> dict[int, dict[str, Any]]:
        if conn is None:
            with self.store.read() as conn:
                return self._entries_info(entry_ids, conn)
        ids = sorted(entry_ids)
        rows = conn.execute(_ENTRY_INFO, {"ids": ids}).all()
        labels: dict[int, list[str]] = {}
        for entry_id, label in conn.execute(_ENTRY_LABELS, {"ids": ids}):
            labels.setdefault(entry_id, []).append(label)
        info: dict[int, dict[str, Any]] = {}
        for row in rows:
            hub = row.hub_entry_id is not None
            info[row.id] = {
                "bank": row.hub_bank if hub else row.name,
                "origin": "hub" if hub else "private",
                "entry": row.hub_entry_id if hub else row.id,
                "local_entry": row.id,
                "labels": labels.get(row.id, []),
                "incident": row.incident if hub else None,
                "disputed": bool(row.disputed) if hub else False,
            }
        return info

    def match(self, signals: Mapping[str, Any], source: str | None = None,
              record: bool = True, found: list[SignalMatch] | None = None) -> dict[str, Any]:
        """Match, apply the rules, record every match and queue the webhook events of the
        response in the same transaction (`found`: see `find`)."""
        if found is None:
            found = self._hits(signals)
        if not (record and found):
            return self._respond(signals, self.find(signals, found))[0]
        response, queued = self.match_log.run(
            lambda conn: self._match_in(conn, signals, found, source))
        if queued:
            self.outbox_ready.set()
        return response

    async def match_async(self, signals: Mapping[str, Any], found: list[SignalMatch],
                          source: str | None = None) -> dict[str, Any]:
        """`match` of hits found on the event loop (`quick_find`): the match-log writer
        describes them, applies the rules and records them in one transaction while the loop
        goes on, and no pool thread stands between them (see `cordon.node.group_commit`)."""
        response, queued = await self.match_log.run_async(
            lambda conn: self._match_in(conn, signals, found, source))
        if queued:
            self.outbox_ready.set()
        return response

    def _match_in(self, conn: Connection, signals: Mapping[str, Any],
                  found: list[SignalMatch], source: str | None) -> tuple[dict[str, Any], int]:
        """The response to `found`, recorded in the transaction of `conn`; with the number of
        webhook events queued."""
        response, per_match = self._respond(signals, self.find(signals, found, conn))
        queued = self._record_in(conn, response, per_match, source) if response["matches"] \
            else 0
        return response, queued

    def _respond(self, signals: Mapping[str, Any],
                 matches: list[dict[str, Any]]) -> tuple[dict[str, Any], list[list[int]]]:
        """The response to `matches` after the rules; with the rules each match met."""
        per_match, actions = evaluate(self.rules(), matches)
        query = {n: get_signal_type(n).to_json(v) for n, v in signals.items()}
        return {"signals": query, "matches": matches, "actions": actions}, per_match

    def _record_in(self, conn: Connection, response: dict[str, Any],
                   per_match: list[list[int]], source: str | None) -> int:
        """The match log rows and webhook events of one response; returns the events queued."""
        now = utcnow()
        query_text = orjson.dumps(response["signals"]).decode()
        for match, rule_ids in zip(response["matches"], per_match, strict=True):
            match_actions = [a["action"] for a in response["actions"]
                             if a["rule"] in rule_ids and a["entry"] == match["entry"]
                             and a["bank"] == match["bank"]]
            match["id"] = conn.execute(_RECORD_MATCH, {
                "at": now, "source": source, "entry_id": match["local_entry"],
                "hub_entry_id": match["entry"] if match["origin"] == "hub" else None,
                "bank": match["bank"], "signal_type": match["signal_type"],
                "distance": float(match["distance"]), "query": query_text, "rules": rule_ids,
                "actions": match_actions}).scalar_one()
        hooks = conn.execute(_LIVE_HOOKS).all()
        events = ["match"] + (["action"] if response["actions"] else [])
        queued = 0
        for event in events:
            body = orjson.dumps({"event": event, "at": now.isoformat(), "source": source,
                                 **response}).decode()
            for hook in hooks:
                if event in hook.events:
                    conn.execute(_QUEUE_EVENT, {
                        "webhook_id": hook.id, "event": event, "body": body, "created_at": now,
                        "attempts": 0, "next_attempt_at": now, "status": "pending"})
                    queued += 1
        return queued

    def match_record(self, match_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = conn.execute(select(node_matches).where(node_matches.c.id == match_id)).first()
        if row is None:
            raise NodeError(f"no match with id {match_id}", 404)
        return {"id": row.id, "at": row.at.isoformat(), "source": row.source,
                "bank": row.bank, "entry": row.hub_entry_id or row.entry_id,
                "origin": "hub" if row.hub_entry_id is not None else "private",
                "signal_type": row.signal_type, "distance": row.distance,
                "query": orjson.loads(row.query) if row.query else None,
                "rules": row.rules or [], "actions": row.actions or [],
                "verdict": row.verdict, "verdict_at": _iso(row.verdict_at)}

    def matches(self, limit: int = 100, before: int | None = None) -> list[dict[str, Any]]:
        query = select(node_matches.c.id).order_by(node_matches.c.id.desc()).limit(limit)
        if before is not None:
            query = query.where(node_matches.c.id < before)
        with self.store.read() as conn:
            ids = [row[0] for row in conn.execute(query)]
        return [self.match_record(i) for i in ids]

    def set_verdict(self, match_id: int, verdict: str) -> dict[str, Any]:
        with self.plain_write() as conn:
            changed = conn.execute(update(node_matches).where(node_matches.c.id == match_id)
                                   .values(verdict=verdict, verdict_at=utcnow())).rowcount
        if not changed:
            raise NodeError(f"no match with id {match_id}", 404)
        return self.match_record(match_id)

    # --- rules -----------------------------------------------------------------------------
    def add_rule(self, name: str, action: str, conditions: Mapping[str, Any]) -> dict[str, Any]:
        if action not in ACTIONS:
            raise NodeError(f"unknown action {action!r} (known: {', '.join(ACTIONS)})", 422)
        with self.plain_write() as conn:
            rule_id = conn.execute(insert(node_rules).values(
                name=name, action=action, conditions=dict(conditions), created_at=utcnow())
                .returning(node_rules.c.id)).scalar_one()
        self._rules = None
        return self.rule_json(Rule.of(rule_id, name, action, conditions))

    @staticmethod
    def rule_json(rule: Rule) -> dict[str, Any]:
        return {"id": rule.id, "name": rule.name, "action": rule.action, **rule.conditions()}

    def delete_rule(self, rule_id: int) -> None:
        with self.plain_write() as conn:
            from sqlalchemy import delete

            if not conn.execute(delete(node_rules).where(node_rules.c.id == rule_id)).rowcount:
                raise NodeError(f"no rule with id {rule_id}", 404)
        self._rules = None

    # --- webhooks --------------------------------------------------------------------------
    def add_webhook(self, url: str, secret: str, events: Sequence[str]) -> dict[str, Any]:
        unknown = [e for e in events if e not in EVENTS]
        if unknown:
            raise NodeError(f"unknown event {unknown[0]!r} (known: {', '.join(EVENTS)})", 422)
        now = utcnow()
        with self.plain_write() as conn:
            hook_id = conn.execute(insert(node_webhooks).values(
                url=url, secret=secret, events=list(dict.fromkeys(events)), created_at=now)
                .returning(node_webhooks.c.id)).scalar_one()
        return {"id": hook_id, "url": url, "events": list(dict.fromkeys(events)),
                "created_at": now.isoformat()}

    def webhooks(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(node_webhooks).where(node_webhooks.c.deleted_at.is_(None))
                                .order_by(node_webhooks.c.id)).all()
        return [{"id": r.id, "url": r.url, "events": r.events, "created_at": r.created_at
                 .isoformat()} for r in rows]

    def delete_webhook(self, hook_id: int) -> None:
        with self.plain_write() as conn:
            changed = conn.execute(update(node_webhooks).where(
                node_webhooks.c.id == hook_id, node_webhooks.c.deleted_at.is_(None))
                .values(deleted_at=utcnow())).rowcount
        if not changed:
            raise NodeError(f"no webhook with id {hook_id}", 404)

    def deliveries(self, hook_id: int, limit: int = 100) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            if conn.execute(select(node_webhooks.c.id).where(
                    node_webhooks.c.id == hook_id)).first() is None:
                raise NodeError(f"no webhook with id {hook_id}", 404)
            rows = conn.execute(select(node_outbox).where(node_outbox.c.webhook_id == hook_id)
                                .order_by(node_outbox.c.id.desc()).limit(limit)).all()
        return [{"id": r.id, "event": r.event, "status": r.status, "attempts": r.attempts,
                 "created_at": r.created_at.isoformat(),
                 "next_attempt_at": r.next_attempt_at.isoformat() if r.status == "pending"
                 else None, "delivered_at": _iso(r.delivered_at),
                 "last_status": r.last_status, "last_error": r.last_error} for r in rows]

    # --- private banks ---------------------------------------------------------------------
    def create_bank(self, name: str, description: str | None) -> dict[str, Any]:
        check_bank_name(name)
        if name.startswith(mirror.MIRROR_PREFIX):
            raise NodeError(f"bank names starting with {mirror.MIRROR_PREFIX!r} are kept for "
                            "mirrors of hub banks", 422)
        try:
            info = self.banks.create(name, description)
        except CordonError as exc:
            raise NodeError(str(exc), 409) from None
        return info.to_json()

    def private_banks(self) -> list[dict[str, Any]]:
        return [b.to_json() for b in self.banks.list()
                if not b.name.startswith(mirror.MIRROR_PREFIX)]

    def _private_bank(self, name: str) -> None:
        if name.startswith(mirror.MIRROR_PREFIX) or name not in {
                b["name"] for b in self.private_banks()}:
            raise NodeError(f"no private bank named {name!r}", 404)

    def add_entries(self, bank: str, items: Sequence[Mapping[str, Any]]) -> list[int]:
        self._private_bank(bank)
        ids = []
        for item in items:
            ids.append(self.banks.add(bank, item["signals"], labels=item.get("labels") or (),
                                      content_type=item.get("content_type"),
                                      note=item.get("note")))
        self._reindex(ids)
        return ids

    def _reindex(self, entry_ids: Sequence[int]) -> None:
        applied = mirror.Applied()
        for entry_id, entry in self.banks.entries_by_id(entry_ids).items():
            if entry.withdrawn_at is None:
                applied.live[entry_id] = [
                    (t, get_signal_type(t).parse(v)) for t, v in entry.signals]
            else:
                applied.dropped.add(entry_id)
        self._update_matcher(applied)

    def private_entry(self, entry_id: int) -> dict[str, Any]:
        entry = self.banks.entries_by_id([entry_id]).get(entry_id)
        if entry is None or entry.bank.startswith(mirror.MIRROR_PREFIX):
            raise NodeError(f"no private entry with id {entry_id}", 404)
        return entry.to_json()

    def withdraw_entry(self, entry_id: int) -> dict[str, Any]:
        entry = self.private_entry(entry_id)
        row, _ = self.banks.withdraw(entry["bank"], entry_id)
        self._reindex([entry_id])
        return row.to_json()

    def private_entries(self, bank: str, limit: int = 1000) -> list[dict[str, Any]]:
        self._private_bank(bank)
        out = []
        for entry in self.banks.entries(bank):
            out.append(entry.to_json())
            if len(out) >= limit:
                break
        return out

    # --- status ----------------------------------------------------------------------------
    def stats(self) -> dict[str, Any]:
        with self.store.read() as conn:
            mirrored = conn.execute(select(func.count()).select_from(node_mirror)).scalar_one()
            pending = conn.execute(select(func.count()).select_from(node_outbox).where(
                node_outbox.c.status == "pending")).scalar_one()
        with self._lock:
            indexed, sizes = len(self.matcher), self.matcher.sizes()
        return {"indexed_entries": indexed, "indexed_signals": sizes,
                "mirrored_entries": mirrored, "pending_deliveries": pending,
                "cursor": self.cursor()}
