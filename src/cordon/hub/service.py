"""What the hub does, independent of HTTP: every method checks the member's role and the
bank's sharing, writes through the store's change counter and records the audit trail."""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, TextIO

import orjson
from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from cordon.banks import formats
from cordon.banks.records import (
    NOTE_MAX,
    Problem,
    RawRecord,
    SignalCache,
    check_bank_name,
    signal_draft,
    to_draft,
)
from cordon.banks.service import ImportSummary
from cordon.content import ContentType
from cordon.errors import CordonError
from cordon.hub import cursor as cursors
from cordon.hub.errors import Conflict, Forbidden, HubError, Unprocessable, no_bank, no_entry
from cordon.hub.fanout import SharedPage
from cordon.hub.incidents import Incidents
from cordon.hub.labels import check_label, import_label
from cordon.hub.notify import ChangeNotifier, send_notification
from cordon.hub.tokens import digest, new_token
from cordon.media.sniff import sniff_content_type
from cordon.store import Store
from cordon.store import hub_repository as hub_repo
from cordon.store import repository as repo
from cordon.store.database import WriteConflict
from cordon.store.hub_repository import FeedRow, MemberRow
from cordon.store.models import MEMBER_NAME_MAX
from cordon.store.repository import EntryDraft, SignalDraft, lookup_key

ROLES = ("admin", "contributor", "reader")
WRITERS = ("admin", "contributor")
IMPORT_BATCH = 10_000


class _Unset:
    """The value of a field the request did not give (unlike null, which clears it)."""


UNSET = _Unset()


@dataclass(frozen=True)
class EntryInput:
    """One entry of a contribution, as the API received it (types already checked)."""

    signals: dict[str, Any]
    labels: list[str]
    content_type: str | None = None
    incident: str | None = None
    note: str | None = None


@dataclass
class FeedPage:
    """A page of the feed as read; its entries' JSON is built when first asked for, so that
    the route can build it while the read's audit record commits."""

    rows: list[FeedRow]
    bank_names: dict[int, str]
    contributors: dict[int, str]
    skip_disputed: bool
    cursor: str
    more: bool
    _entries: list[dict[str, Any]] | None = None

    @property
    def entries(self) -> list[dict[str, Any]]:
        if self._entries is None:
            self._entries = entries_json(self.rows, self.bank_names, self.contributors,
                                         self.skip_disputed)
        return self._entries

    def body(self) -> bytes:
        """The page as `GET /v1/feed` answers it."""
        return orjson.dumps({"entries": self.entries, "cursor": self.cursor,
                             "more": self.more})


def check_member_name(name: str) -> str:
    try:
        return check_bank_name(name)
    except CordonError:
        raise CordonError(
            f"invalid member name {name!r}: use letters, digits, '.', '_' or '-' "
            f"(up to {MEMBER_NAME_MAX} characters, starting with a letter or digit)"
        ) from None


class Hub:
    def __init__(self, store: Store, *, dispute_threshold: int = 2,
                 notifier: ChangeNotifier | None = None) -> None:
        self.store = store
        self.dispute_threshold = dispute_threshold
        self.notifier = notifier or ChangeNotifier()
        self.incidents = Incidents(store)
        # Called after the commit of entries contributed for an incident (priority push).
        self.on_incident_entries: Callable[[list[int]], None] | None = None

    # --- transactions ----------------------------------------------------------------------
    def _plain_write(self) -> AbstractContextManager[Connection]:
        """A write transaction that takes no change number (audit records, members)."""
        return self.store.plain_write()

    def _committed(self) -> None:
        self.notifier.notify()

    def audit(self, member: MemberRow | None, action: str, obj: str | None,
              client: str | None, detail: dict[str, Any] | None = None) -> None:
        with self._plain_write() as conn:
            hub_repo.insert_audit(conn, member=member, action=action, object=obj,
                                  client=client, detail=detail)

    # --- members and tokens (administration, not exposed over HTTP) ------------------------
    def add_member(self, name: str, role: str, *, actor: MemberRow | None = None,
                   client: str = "cli") -> tuple[MemberRow, int, str]:
        check_member_name(name)
        if role not in ROLES:
            raise CordonError(f"unknown role {role!r} (known: {', '.join(ROLES)})")
        token = new_token()
        try:
            with self._plain_write() as conn:
                if hub_repo.find_member(conn, name) is not None:
                    raise CordonError(f"a member named {name!r} already exists")
                member = hub_repo.insert_member(conn, name, role)
                token_id = hub_repo.insert_token(conn, member.id, digest(token))
                hub_repo.insert_audit(conn, member=actor, action="member.add",
                                      object=f"member:{name}", client=client,
                                      detail={"role": role})
        except IntegrityError:
            raise CordonError(f"a member named {name!r} already exists") from None
        return member, token_id, token

    def issue_token(self, name: str, *, actor: MemberRow | None = None,
                    client: str = "cli") -> tuple[int, str]:
        token = new_token()
        with self._plain_write() as conn:
            member = hub_repo.find_member(conn, name)
            if member is None:
                raise CordonError(f"no member named {name!r}")
            token_id = hub_repo.insert_token(conn, member.id, digest(token))
            hub_repo.insert_audit(conn, member=actor, action="token.issue",
                                  object=f"token:{token_id}", client=client,
                                  detail={"member": name})
        return token_id, token

    def revoke_token(self, token_id: int, *, actor: MemberRow | None = None,
                     client: str = "cli") -> str:
        with self._plain_write() as conn:
            name = hub_repo.revoke_token(conn, token_id)
            if name is None:
                raise CordonError(f"no live token with id {token_id}")
            hub_repo.insert_audit(conn, member=actor, action="token.revoke",
                                  object=f"token:{token_id}", client=client,
                                  detail={"member": name})
        return name

    def members(self) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = hub_repo.list_members(conn)
        return [{"name": m.name, "role": m.role, "created_at": m.created_at.isoformat(),
                 "tokens": [{"id": t, "created_at": c.isoformat()} for t, c in tokens]}
                for m, tokens in rows]

    def authenticate(self, token: str) -> MemberRow | None:
        with self.store.read() as conn:
            return hub_repo.member_for_token(conn, digest(token))

    def token_owner(self, token_digest: str) -> tuple[MemberRow, int] | None:
        """The member and id of a token, revoked or not, by the token's digest."""
        with self.store.read() as conn:
            return hub_repo.token_owner(conn, token_digest)

    # --- banks -----------------------------------------------------------------------------
    def create_bank(self, member: MemberRow, name: str, description: str | None,
                    shared_with: Sequence[str], client: str | None) -> dict[str, Any]:
        _require_writer(member)
        try:
            check_bank_name(name)
        except CordonError as exc:
            raise Unprocessable(str(exc), [_error(("body", "name"), str(exc))]) from None
        shared_all = "*" in shared_with
        names = sorted({n for n in shared_with if n != "*"})
        try:
            with self.store.write() as writer:
                conn = writer.connection
                if repo.find_bank(conn, name) is not None:
                    raise Conflict(f"a bank named {name!r} already exists")
                member_ids = []
                for other in names:
                    found = hub_repo.find_member(conn, other)
                    if found is None:
                        message = f"no member named {other!r} to share the bank with"
                        raise Unprocessable(message, [_error(("body", "shared_with"), message)])
                    member_ids.append(found.id)
                bank = repo.create_bank(writer, name, (description or "").strip() or None)
                hub_repo.share_bank(conn, bank.id, member.id, shared_all, member_ids)
                hub_repo.insert_audit(conn, member=member, action="bank.create",
                                      object=f"bank:{name}", client=client,
                                      detail={"shared_with": ["*"] if shared_all else names})
        except IntegrityError:
            raise Conflict(f"a bank named {name!r} already exists") from None
        return {"name": name, "description": bank.description, "owner": member.name,
                "shared_with": ["*"] if shared_all else names,
                "created_at": bank.created_at.isoformat()}

    def list_banks(self, member: MemberRow) -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = hub_repo.list_hub_banks(conn, hub_repo.visible_bank_ids(conn, member))
        return [{"name": r.bank.name, "description": r.bank.description, "owner": r.owner,
                 "shared_with": ["*"] if r.shared_all else r.shared_with,
                 "created_at": r.bank.created_at.isoformat()} for r in rows]

    def update_bank(self, member: MemberRow, name: str, client: str | None, *,
                    description: str | _Unset | None = UNSET,
                    shared_with: Sequence[str] | None = None) -> dict[str, Any]:
        """Change a bank's description and whom it is shared with (admins only).

        Visibility is decided when a feed page or an entry is read, so a member that loses
        access sees none of the bank's later changes (what it mirrored before stays with
        it). A member that gains access would find the bank's earlier entries behind its
        cursor: every entry of the bank gets a new change number, so the feed carries them
        again (to every follower of the bank, who take them as unchanged)."""
        if member.role != "admin":
            raise Forbidden("only admins can change a bank's description or sharing")
        with self.store.write() as writer:
            conn = writer.connection
            bank = repo.find_bank(conn, name)
            if bank is None:
                raise no_bank(name)
            before = hub_repo.bank_sharing(conn, bank.id)
            after = before
            if shared_with is not None:
                shared_all = "*" in shared_with
                names = sorted({n for n in shared_with if n != "*"})
                member_ids = set()
                for other in names:
                    found = hub_repo.find_member(conn, other)
                    if found is None:
                        message = f"no member named {other!r} to share the bank with"
                        raise Unprocessable(message, [_error(("body", "shared_with"), message)])
                    member_ids.add(found.id)
                after = hub_repo.Sharing(before.owner_id, shared_all, frozenset(member_ids))
                hub_repo.set_bank_sharing(conn, bank.id, shared_all, member_ids)
            values = {}
            if not isinstance(description, _Unset):
                values["description"] = (description or "").strip() or None
            hub_repo.touch_bank(writer, bank.id, values)
            renumbered = (hub_repo.renumber_bank_entries(writer, bank.id)
                          if before.widened_by(after) else 0)
            names_by_id = hub_repo.member_names(conn)
            detail: dict[str, Any] = {
                "shared_with": {"before": _shared_names(before, names_by_id),
                                "after": _shared_names(after, names_by_id)},
                "renumbered": renumbered}
            if values:
                detail["description"] = values["description"]
            hub_repo.insert_audit(conn, member=member, action="bank.update",
                                  object=f"bank:{name}", client=client, detail=detail)
            send_notification(conn)
            (row,) = hub_repo.list_hub_banks(conn, [bank.id])
        self._committed()
        return {"name": name, "description": row.bank.description, "owner": row.owner,
                "shared_with": ["*"] if row.shared_all else row.shared_with,
                "created_at": row.bank.created_at.isoformat(), "renumbered": renumbered}

    def _visible_bank(self, conn: Connection, member: MemberRow, name: str) -> int:
        bank = repo.find_bank(conn, name)
        visible = hub_repo.visible_bank_ids(conn, member)
        if bank is None or (visible is not None and bank.id not in visible):
            raise no_bank(name)
        return bank.id

    # --- contributions ---------------------------------------------------------------------
    def validate(self, items: Sequence[EntryInput]) -> list[tuple[EntryDraft, str | None]]:
        """Drafts of the entries; every hash through its signal type's parser. Raises
        Unprocessable naming each offending entry index and signal."""
        cache = SignalCache()
        # A batch repeats a handful of labels thousands of times: check each text once.
        canonical: dict[str, str] = {}
        errors: list[dict[str, Any]] = []
        drafts: list[tuple[EntryDraft, str | None]] = []
        # Compact strings (nearly every value) go straight through their type's parser and
        # formatter, what `signal_draft` does for them, without its per-value lookups:
        # validation is the bulk of a contribution's Python time.
        compact: dict[str, tuple[str, Callable[[str], Any], Callable[[Any], str]]] = {}
        for index, item in enumerate(items):
            where = ("body", "entries", index)
            signals: list[SignalDraft] = []
            for name, value in item.signals.items():
                try:
                    if isinstance(value, str):
                        known_type = compact.get(name)
                        if known_type is None:
                            signal = cache.get(name)
                            known_type = compact[name] = (signal.name, signal.parse,
                                                          signal.format)
                        text = known_type[2](known_type[1](value))
                        signals.append(SignalDraft(known_type[0], text, None, lookup_key(text)))
                    else:
                        signals.append(signal_draft(cache.get(name), value))
                except (CordonError, TypeError, ValueError) as exc:
                    errors.append(_error((*where, "signals", name), _sentence(exc, name)))
            if not item.signals:
                errors.append(_error((*where, "signals"), "an entry needs at least one signal"))
            labels: set[str] = set()
            for position, label in enumerate(item.labels):
                known = canonical.get(label)
                if known is not None:
                    labels.add(known)
                    continue
                try:
                    labels.add(canonical.setdefault(label, check_label(label)))
                except CordonError as exc:
                    errors.append(_error((*where, "labels", position), str(exc)))
            if len(errors) >= 100:
                break
            if errors:
                continue
            content_type = item.content_type or cache.implied_content_type(
                [cache.get(s.signal_type) for s in signals])
            note = (item.note or "").strip() or None
            drafts.append((EntryDraft(signals, labels, content_type, None, note), item.incident))
        if errors:
            first = errors[0]
            raise Unprocessable(
                f"entry {first['loc'][2]}: {first['msg']}" if len(first["loc"]) > 2
                else first["msg"], errors)
        return drafts

    def contribute(self, member: MemberRow, bank: str, items: Sequence[EntryInput],
                   client: str | None) -> list[int]:
        _require_writer(member)
        drafts = self.validate(items)
        with self.store.read() as conn:
            bank_id = self._visible_bank(conn, member, bank)
        drafts = self.incidents.canonical(drafts)
        # Plain contributions take the change counter only to number their entries at the
        # end (`DeferredWriter`), so that concurrent ones write in parallel; one that lost a
        # race for the same new signals runs again holding it (twice at most: holding it,
        # it can still deadlock with a deferred one). Incident contributions hold it
        # throughout: a conclusion cannot slip in between their check and their write.
        attempts = [all(incident is None for _, incident in drafts), False, False]
        for attempt, deferred in enumerate(attempts, start=1):
            try:
                ids, tagged = self._write_contribution(member, bank, bank_id, drafts, client,
                                                       deferred)
                break
            except WriteConflict:
                if attempt == len(attempts):
                    raise Conflict("concurrent contributions of the same signals kept "
                                   "conflicting: send it again") from None
        if tagged and self.on_incident_entries is not None:
            self.on_incident_entries(
                [i for i, (_, incident) in zip(ids, drafts, strict=True) if incident])
        self._committed()
        return ids

    def _write_contribution(self, member: MemberRow, bank: str, bank_id: int,
                            drafts: list[tuple[EntryDraft, str | None]], client: str | None,
                            deferred: bool) -> tuple[list[int], dict[int, int]]:
        with self.store.write(deferred=deferred, retryable=True) as writer:
            tagged = self.incidents.tag_drafts(writer.connection, member, bank, drafts)
            ids, counts = self._store_drafts(writer, member, bank_id, drafts)
            hub_repo.insert_audit(writer.connection, member=member, action="entries.contribute",
                                  object=f"bank:{bank}", client=client,
                                  detail={"entries": len(drafts), "created": counts.created})
            send_notification(writer.connection)
        return ids, tagged

    def _store_drafts(self, writer: Any, member: MemberRow, bank_id: int,
                      drafts: Sequence[tuple[EntryDraft, str | None]],
                      ) -> tuple[list[int], repo.UpsertCounts]:
        """Upsert the drafts; returns their entry ids in request order and how many are new."""
        counts = repo.upsert_entries(writer, bank_id, [d for d, _ in drafts])
        # Every draft has a signal (validation saw to it), so every draft has an entry.
        ids = [entry_id for entry_id in counts.draft_ids if entry_id is not None]
        assert len(ids) == len(drafts)
        fresh = set(counts.entry_ids[: counts.created])
        rows: dict[int, tuple[int, int | None, str | None]] = {}
        for entry_id, (_, incident) in zip(ids, drafts, strict=True):
            if entry_id in fresh and entry_id not in rows:
                rows[entry_id] = (entry_id, member.id, incident)
        hub_repo.insert_hub_entries(writer.connection, list(rows.values()))
        return ids, counts

    def withdraw(self, member: MemberRow, entry_id: int, client: str | None) -> dict[str, Any]:
        _require_writer(member)
        with self.store.write() as writer:
            conn = writer.connection
            entry = self._visible_entry(conn, member, entry_id)
            if member.role != "admin" and entry.member_id != member.id:
                raise Forbidden("only the member that contributed an entry, or an admin, "
                                "can withdraw it")
            changed = not entry.withdrawn
            if changed:
                repo.withdraw_entry(writer, entry.bank_id, entry_id)
                hub_repo.insert_audit(conn, member=member, action="entry.withdraw",
                                      object=f"entry:{entry_id}", client=client,
                                      detail={"bank": entry.bank})
                send_notification(conn)
        if changed:
            self._committed()
        return {"id": entry_id, "withdrawn": True, "changed": changed}

    def _visible_entry(self, conn: Connection, member: MemberRow,
                       entry_id: int) -> hub_repo.EntryAccess:
        entry = hub_repo.entry_access(conn, entry_id)
        visible = hub_repo.visible_bank_ids(conn, member)
        if entry is None or (visible is not None and entry.bank_id not in visible):
            raise no_entry(entry_id)
        return entry

    def feedback(self, member: MemberRow, entry_id: int, verdict: str, note: str | None,
                 client: str | None) -> dict[str, Any]:
        note = (note or "").strip() or None
        if note is not None and len(note) > NOTE_MAX:
            raise HubError(f"the note has at most {NOTE_MAX} characters", 422)
        with self.store.write() as writer:
            conn = writer.connection
            self._visible_entry(conn, member, entry_id)
            totals = hub_repo.record_feedback(writer, entry_id, member.id, verdict, note,
                                              self.dispute_threshold)
            hub_repo.insert_audit(conn, member=member, action="entry.feedback",
                                  object=f"entry:{entry_id}", client=client,
                                  detail={"verdict": verdict})
            send_notification(conn)
        self._committed()
        return {"id": entry_id, "feedback": _feedback(totals.confirms, totals.false_positives,
                                                      totals.label_disputes),
                "disputed": totals.disputed}

    def entry(self, member: MemberRow, entry_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            entry = self._visible_entry(conn, member, entry_id)
            # The feed's own query, narrowed to one change number, keeps one JSON shape.
            seq = repo.get_entry(conn, entry.bank_id, entry_id)
            assert seq is not None
            rows = hub_repo.feed_rows(conn, seq.change_seq - 1, seq.change_seq, 1, None)
            contributors = hub_repo.member_names(conn)
        return orjson.loads(orjson.dumps(  # type: ignore[no-any-return]
            entry_json(rows[0], entry.bank, contributors, skip_disputed=False)))

    # --- following -------------------------------------------------------------------------
    def feed(self, member: MemberRow, after: int, limit: int, skip_disputed: bool) -> FeedPage:
        with self.store.read() as conn:
            high = hub_repo.committed_seq(conn)
            if after > high:
                raise Conflict("the cursor is ahead of this hub (was the hub restored from a "
                               "backup?); follow again from the beginning")
            rows: list[FeedRow] = hub_repo.feed_rows(
                conn, after, high, limit + 1, hub_repo.visible_bank_ids(conn, member))
            bank_names = hub_repo.bank_names(conn) if rows else {}
            contributors = hub_repo.member_names(conn) if rows else {}
        more = len(rows) > limit
        rows = rows[:limit]
        # Without more rows, everything up to `high` was read: the cursor moves past the
        # changes of banks the member does not see, too.
        last = rows[-1].change_seq if more else high
        return FeedPage(rows, bank_names, contributors, skip_disputed, cursors.encode(last),
                        more)

    def shared_page(self, after: int, limit: int) -> SharedPage:
        """The changes of every bank after `after`, for the streams to share (see
        `cordon.hub.fanout`); each follower keeps the banks it may see."""
        with self.store.read() as conn:
            high = hub_repo.committed_seq(conn)
            rows = hub_repo.feed_rows(conn, after, high, limit + 1, None) if after < high else []
            bank_names = hub_repo.bank_names(conn) if rows else {}
            contributors = hub_repo.member_names(conn) if rows else {}
            sharing = hub_repo.sharing_version(conn) if rows else 0
        more = len(rows) > limit
        rows = rows[:limit]
        data = [orjson.dumps(entry).decode()
                for entry in entries_json(rows, bank_names, contributors, False)]
        return SharedPage(rows, rows[-1].change_seq if more else max(after, high), more,
                          bank_names, contributors, data, sharing)

    def visible_banks(self, member: MemberRow) -> set[int] | None:
        """Ids of the banks the member may see (None: every bank)."""
        with self.store.read() as conn:
            ids = hub_repo.visible_bank_ids(conn, member)
        return None if ids is None else set(ids)

    # --- audit and statistics --------------------------------------------------------------
    def audit_records(self, member: MemberRow, *, who: str | None = None,
                      **filters: Any) -> list[dict[str, Any]]:
        if member.role != "admin":
            raise Forbidden("only admins can read the audit log")
        with self.store.read() as conn:
            rows = hub_repo.list_audit(conn, member=who, **filters)
        return [{"id": r.id, "at": r.at.isoformat(), "member": r.member, "action": r.action,
                 "object": r.object, "client": r.client, "detail": r.detail} for r in rows]

    def statistics(self, member: MemberRow) -> dict[str, Any]:
        with self.store.read() as conn:
            return hub_repo.statistics(conn, hub_repo.visible_bank_ids(conn, member))

    # --- import and export -----------------------------------------------------------------
    def import_bank(self, member: MemberRow, bank: str, data: bytes, fmt: str,
                    client: str | None) -> ImportSummary:
        _require_writer(member)
        kind, mime = sniff_content_type(data[:8192])
        if kind is not ContentType.OTHER or (mime or "").startswith(("image/", "video/")):
            raise HubError("the hub takes hash lists, never media: hash the content and send "
                           "its signals", 415)
        with self.store.read() as conn:
            bank_id = self._visible_bank(conn, member, bank)
        stream = io.BytesIO(data)
        if fmt == formats.AUTO:
            fmt = formats.sniff(data[: 1 << 16])
        summary = ImportSummary(bank=bank, format=fmt)
        cache = SignalCache()
        batch: list[tuple[EntryDraft, str | None]] = []
        for item in formats.reader(fmt)(stream, formats.ByteCounter()):
            summary.records += 1
            if isinstance(item, Problem):
                summary.note(item)
                continue
            for warning in item.warnings:
                summary.note(Problem(item.location, warning, skipped=False))
            try:
                draft = self._import_draft(item, cache, summary)
            except CordonError as exc:
                summary.note(Problem(item.location, str(exc)))
                continue
            batch.append((draft, None))
            if len(batch) >= IMPORT_BATCH:
                self._import_batch(member, bank_id, batch, summary)
                batch = []
        if batch:
            self._import_batch(member, bank_id, batch, summary)
        self.audit(member, "bank.import", f"bank:{bank}", client,
                   {"format": fmt, "records": summary.records, "created": summary.created,
                    "skipped": summary.skipped})
        return summary

    @staticmethod
    def _import_draft(item: RawRecord, cache: SignalCache, summary: ImportSummary) -> EntryDraft:
        labels = []
        for label in item.labels:
            kept, tagged = import_label(label)
            labels.append(kept)
            if tagged:
                summary.note(Problem(item.location, f"label {label!r} is outside the taxonomy; "
                                     f"kept as {kept!r}", skipped=False))
        item.labels = labels
        return to_draft(item, cache)

    def _import_batch(self, member: MemberRow, bank_id: int,
                      batch: list[tuple[EntryDraft, str | None]], summary: ImportSummary) -> None:
        with self.store.write() as writer:
            ids, counts = self._store_drafts(writer, member, bank_id, batch)
            send_notification(writer.connection)
        summary.absorb(counts)
        summary.entry_ids.extend(ids[: max(0, 10_000 - len(summary.entry_ids))])
        self._committed()

    def export_bank(self, member: MemberRow, bank: str, fmt: str, out: TextIO,
                    include_withdrawn: bool, client: str | None) -> int:
        write = formats.writer(fmt)
        with self.store.read() as conn:
            bank_id = self._visible_bank(conn, member, bank)
            rows = repo.iter_entries(conn, bank_id, include_withdrawn)
            written, _ = write(rows, out, bank, include_withdrawn)
        self.audit(member, "bank.export", f"bank:{bank}", client,
                   {"format": fmt, "entries": written})
        return written


def _shared_names(sharing: hub_repo.Sharing, names: dict[int, str]) -> list[str]:
    return ["*"] if sharing.shared_all else sorted(names[m] for m in sharing.member_ids)


def _require_writer(member: MemberRow) -> None:
    if member.role not in WRITERS:
        raise Forbidden(f"member {member.name!r} is a reader: it cannot write to the hub")


def _error(loc: tuple[Any, ...], message: str) -> dict[str, Any]:
    return {"loc": list(loc), "msg": message, "type": "value_error"}


def _sentence(exc: Exception, name: str) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, CordonError) else f"invalid {name} value ({text})"


def _feedback(confirms: int, false_positives: int, label_disputes: int) -> dict[str, int]:
    return {"confirm": confirms, "false_positive": false_positives,
            "disagree_label": label_disputes}


def entry_json(row: FeedRow, bank: str, contributors: dict[int, str],
               skip_disputed: bool) -> dict[str, Any]:
    """An entry as the feed, the stream and `GET /v1/entries/{id}` show it, for orjson: its
    times are datetimes, which orjson writes as `isoformat()` does, at a fraction of the cost
    of formatting three per entry here.

    With `skip_disputed`, a disputed entry comes without its signals and labels: followers
    drop it like a withdrawal, and learn of it rather than keep a stale copy.
    """
    return entries_json([row], {row.bank_id: bank}, contributors, skip_disputed)[0]


def entries_json(rows: Sequence[FeedRow], bank_names: dict[int, str],
                 contributors: dict[int, str], skip_disputed: bool) -> list[dict[str, Any]]:
    """`entry_json` of each row, in one loop: a 10,000-entry feed page spends most of its
    Python time here. Rows with the same feedback totals share one (read-only) totals
    object, which orjson writes the same."""
    out: list[dict[str, Any]] = []
    append = out.append
    totals: dict[tuple[int, int, int], dict[str, int]] = {}
    encode = cursors.encode
    for row in rows:
        hidden = skip_disputed and row.disputed
        signals: dict[str, Any] = {}
        if not hidden:
            for signal_type, value, detail in row.signals:
                item: Any = {"hash": value, **detail} if detail else value
                if signal_type in signals:
                    previous = signals[signal_type]
                    signals[signal_type] = [*(previous if isinstance(previous, list)
                                              else [previous]), item]
                else:
                    signals[signal_type] = item
        key = (row.confirms, row.false_positives, row.label_disputes)
        feedback = totals.get(key)
        if feedback is None:
            feedback = totals[key] = _feedback(*key)
        member_id = row.member_id
        append({
            "id": row.id, "bank": bank_names[row.bank_id], "change": encode(row.change_seq),
            "signals": signals, "labels": [] if hidden else row.labels,
            "content_type": row.content_type, "incident": row.incident, "note": row.note,
            "contributor": contributors.get(member_id) if member_id is not None else None,
            "created_at": row.created_at, "updated_at": row.updated_at,
            "withdrawn": row.withdrawn_at is not None, "withdrawn_at": row.withdrawn_at,
            "feedback": feedback, "disputed": row.disputed,
        })
    return out
