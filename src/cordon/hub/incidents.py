"""Incidents: the crisis protocol of the hub.

An admin declares an incident (a contributor may propose one for an admin to confirm); its
hashes are contributed with the incident's id, carry its label (`incident:<id>`) and are pushed
to every stream ahead of any backlog; members' nodes acknowledge it and report their match
and block counts; an admin concludes it and the debrief is computed from the timeline.

Status changes and hash batches are written under the change counter's lock (`Store.write`),
so a contribution never slips in after the conclusion that should have refused it.
"""

from __future__ import annotations

import statistics as stats
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from cordon.hub.errors import Conflict, Forbidden, HubError, Unprocessable, no_bank
from cordon.hub.labels import incident_label
from cordon.store import Store
from cordon.store import hub_repository as hub_repo
from cordon.store import repository as repo
from cordon.store.hub_repository import MemberRow
from cordon.store.incident_models import (
    hub_incident_acks,
    hub_incident_counts,
    hub_incident_events,
    hub_incidents,
)
from cordon.store.models import entries, entry_signals, hub_entries, hub_members
from cordon.store.repository import EntryDraft
from cordon.store.types import utcnow

LEVELS = ("pci", "incident")
STATUSES = ("proposed", "open", "concluded", "rejected")
# Statuses every member sees and nodes are told of; a proposal stays between its author and
# the admins until confirmed.
PUBLIC = ("open", "concluded")


@dataclass(frozen=True)
class Declaration:
    level: str
    title: str
    bank: str
    description: str | None = None
    location: str | None = None
    attack_at: datetime | None = None
    criteria: tuple[str, ...] = ()


@dataclass(frozen=True)
class Change:
    """A PATCH: every field optional."""

    status: str | None = None
    level: str | None = None
    situation: str | None = None
    title: str | None = None
    description: str | None = None
    location: str | None = None
    attack_at: datetime | None = None
    criteria: tuple[str, ...] | None = None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds(), 3)


def incident_json(row: Any) -> dict[str, Any]:
    return {
        "id": row.id, "level": row.level, "status": row.status, "title": row.title,
        "description": row.description, "location": row.location,
        "attack_at": _iso(row.attack_at), "criteria": list(row.criteria or []),
        "bank": row.bank, "label": incident_label(row.id), "situation": row.situation,
        "proposed_by": row.proposed_by, "declared_by": row.declared_by,
        "created_at": row.created_at.isoformat(), "declared_at": _iso(row.declared_at),
        "updated_at": row.updated_at.isoformat(), "concluded_at": _iso(row.concluded_at),
        "concluded_by": row.concluded_by, "version": row.version,
    }


def parse_incident_id(value: str) -> int:
    """An incident id as contributions name it (`12` or `incident:12`)."""
    text = value.strip()
    if text.lower().startswith("incident:"):
        text = text[len("incident:"):]
    if not text.isdigit() or len(text) > 18:
        raise HubError(f"unknown incident {value!r}: incidents are numbered "
                       "(see GET /v1/incidents)", 422)
    return int(text)


def _event(conn: Connection, incident_id: int, kind: str, member: str | None,
           detail: dict[str, Any] | None = None, at: datetime | None = None) -> None:
    conn.execute(insert(hub_incident_events).values(
        incident_id=incident_id, at=at or utcnow(), kind=kind, member=member, detail=detail))


def _require_admin(member: MemberRow, what: str) -> None:
    if member.role != "admin":
        raise Forbidden(f"only admins can {what} an incident; member {member.name!r} is a "
                        f"{member.role}")


class Incidents:
    """The incidents of one hub store. `published` receives every incident whose state
    every member may now see (to push on the open streams)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.on_change: list[Any] = []

    def _publish(self, incident: dict[str, Any]) -> None:
        if incident["status"] in PUBLIC:
            for listener in self.on_change:
                listener(incident)

    # --- reading ---------------------------------------------------------------------------
    def _row(self, conn: Connection, member: MemberRow, incident_id: int,
             lock: bool = False) -> Any:
        query = select(hub_incidents).where(hub_incidents.c.id == incident_id)
        if lock:
            query = query.with_for_update()
        row = conn.execute(query).first()
        if row is None or not self._may_see(member, row):
            raise HubError(f"no incident with id {incident_id}", 404)
        return row

    @staticmethod
    def _may_see(member: MemberRow, row: Any) -> bool:
        return (row.status in PUBLIC or member.role == "admin"
                or row.proposed_by == member.name)

    def list(self, member: MemberRow, status: str | None = None) -> list[dict[str, Any]]:
        query = select(hub_incidents).order_by(hub_incidents.c.id.desc())
        if status is not None:
            query = query.where(hub_incidents.c.status == status)
        with self.store.read() as conn:
            rows = conn.execute(query).all()
        return [incident_json(r) for r in rows if self._may_see(member, r)]

    def public(self, status: str = "open") -> list[dict[str, Any]]:
        with self.store.read() as conn:
            rows = conn.execute(select(hub_incidents).where(hub_incidents.c.status == status)
                                .order_by(hub_incidents.c.id)).all()
        return [incident_json(r) for r in rows]

    def get(self, member: MemberRow, incident_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = self._row(conn, member, incident_id)
            events = conn.execute(
                select(hub_incident_events).where(
                    hub_incident_events.c.incident_id == incident_id)
                .order_by(hub_incident_events.c.at, hub_incident_events.c.id)).all()
        out = incident_json(row)
        out["timeline"] = [{"at": e.at.isoformat(), "kind": e.kind, "member": e.member,
                            "detail": e.detail or {}} for e in events]
        return out

    # --- declaring and changing ------------------------------------------------------------
    def declare(self, member: MemberRow, item: Declaration, client: str | None
                ) -> dict[str, Any]:
        if member.role == "reader":
            raise Forbidden(f"member {member.name!r} is a reader: it cannot declare or "
                            "propose incidents")
        _check_level(item.level)
        title = item.title.strip()
        if not title:
            raise Unprocessable("the title is empty",
                                [{"loc": ["body", "title"], "msg": "the title is empty",
                                  "type": "value_error"}])
        now = utcnow()
        status = "open" if member.role == "admin" else "proposed"
        with self.store.write() as writer:
            conn = writer.connection
            bank = repo.find_bank(conn, item.bank)
            visible = hub_repo.visible_bank_ids(conn, member)
            if bank is None or (visible is not None and bank.id not in visible):
                raise no_bank(item.bank)
            twin = conn.execute(
                select(hub_incidents.c.id, hub_incidents.c.status).where(
                    func.lower(hub_incidents.c.title) == title.lower(),
                    hub_incidents.c.status.in_(("proposed", "open")))).first()
            if twin is not None:
                raise Conflict(f"incident {twin.id} ({title!r}) is already {twin.status}: "
                               f"update it with PATCH /v1/incidents/{twin.id}")
            incident_id = conn.execute(insert(hub_incidents).values(
                level=item.level, status=status, title=title,
                description=_text(item.description), location=_text(item.location),
                attack_at=item.attack_at, criteria=list(item.criteria), bank=item.bank,
                proposed_by=member.name if status == "proposed" else None,
                declared_by=member.name if status == "open" else None,
                created_at=now, declared_at=now if status == "open" else None,
                updated_at=now, version=1).returning(hub_incidents.c.id)).scalar_one()
            _event(conn, incident_id, "declare" if status == "open" else "propose",
                   member.name, {"level": item.level, "title": title}, now)
            hub_repo.insert_audit(conn, member=member, action=f"incident.{status}",
                                  object=f"incident:{incident_id}", client=client,
                                  detail={"level": item.level})
            row = conn.execute(select(hub_incidents).where(
                hub_incidents.c.id == incident_id)).one()
        out = incident_json(row)
        self._publish(out)
        return out

    def change(self, member: MemberRow, incident_id: int, change: Change,
               client: str | None) -> dict[str, Any]:
        what = "conclude" if change.status == "concluded" else "update"
        _require_admin(member, what)
        if change.status is not None and change.status not in STATUSES[1:]:
            raise HubError(f"unknown status {change.status!r} (a change sets open, "
                           "concluded or rejected)", 422)
        if change.level is not None:
            _check_level(change.level)
        now = utcnow()
        with self.store.write() as writer:
            conn = writer.connection
            row = self._row(conn, member, incident_id, lock=True)
            values: dict[str, Any] = {}
            events: list[tuple[str, dict[str, Any]]] = []
            if change.status == "concluded" and row.status != "open":
                raise Conflict(f"incident {incident_id} is {row.status}, not open: only an "
                               "open incident can be concluded")
            if row.status in ("concluded", "rejected"):
                raise Conflict(f"incident {incident_id} is {row.status}: it cannot change")
            if change.status == "open":
                if row.status == "open":
                    raise Conflict(f"incident {incident_id} is already open (declared "
                                   f"{row.declared_at.isoformat()} by {row.declared_by})")
                values.update(status="open", declared_at=now, declared_by=member.name)
                events.append(("declare", {"confirmed_proposal_of": row.proposed_by}))
            elif change.status == "rejected":
                if row.status != "proposed":
                    raise Conflict(f"incident {incident_id} is {row.status}: only a "
                                   "proposal can be rejected")
                values.update(status="rejected")
                events.append(("reject", {}))
            level = change.level
            if level is not None and level != row.level:
                values["level"] = level
                events.append(("escalate" if level == "pci" else "de-escalate",
                               {"from": row.level, "to": level}))
            texts = {k: getattr(change, k) for k in ("title", "description", "location")
                     if getattr(change, k) is not None}
            for key, text in texts.items():
                values[key] = _text(text)
            if "title" in values and not values["title"]:
                raise HubError("the title is empty", 422)
            if change.attack_at is not None:
                values["attack_at"] = change.attack_at
            if change.criteria is not None:
                values["criteria"] = list(change.criteria)
            if change.situation is not None:
                values["situation"] = _text(change.situation)
            changed = [k for k in ("title", "description", "location", "attack_at", "criteria")
                       if k in values]
            if change.situation is not None or changed:
                events.append(("update", {"situation": values.get("situation"),
                                          "changed": changed}))
            if change.status == "concluded":
                values.update(status="concluded", concluded_at=now, concluded_by=member.name)
                events.append(("conclude", {}))
            if not events:
                raise HubError("nothing to change: give a status, level, situation or "
                               "description", 422)
            values.update(updated_at=now, version=row.version + 1)
            conn.execute(update(hub_incidents).where(hub_incidents.c.id == incident_id)
                         .values(**values))
            for kind, detail in events:
                _event(conn, incident_id, kind, member.name, detail, now)
            hub_repo.insert_audit(conn, member=member, action=f"incident.{events[-1][0]}",
                                  object=f"incident:{incident_id}", client=client,
                                  detail={"events": [k for k, _ in events]})
            row = conn.execute(select(hub_incidents).where(
                hub_incidents.c.id == incident_id)).one()
        out = incident_json(row)
        self._publish(out)
        return out

    # --- members' side ---------------------------------------------------------------------
    def acknowledge(self, member: MemberRow, incident_id: int, client: str | None
                    ) -> dict[str, Any]:
        now = utcnow()
        with self.store.plain_write() as conn:
            row = self._row(conn, member, incident_id)
            if row.status not in PUBLIC:
                raise Conflict(f"incident {incident_id} is {row.status}: there is nothing to "
                               "acknowledge yet")
            first = conn.execute(select(hub_incident_acks.c.at).where(
                hub_incident_acks.c.incident_id == incident_id,
                hub_incident_acks.c.member_id == member.id)).scalar_one_or_none()
            if first is None:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(hub_incident_acks).values(
                            incident_id=incident_id, member_id=member.id, at=now))
                except IntegrityError:
                    # Another process of the same member acknowledged at the same moment.
                    first = now
                else:
                    _event(conn, incident_id, "ack", member.name,
                           {"seconds_after_declaration": _seconds(row.declared_at, now)}, now)
                    hub_repo.insert_audit(conn, member=member, action="incident.ack",
                                          object=f"incident:{incident_id}", client=client)
        return {"incident": incident_id, "member": member.name,
                "at": (first or now).isoformat(), "first": first is None}

    def report_counts(self, member: MemberRow, incident_id: int, matches: int, blocks: int
                      ) -> dict[str, Any]:
        now = utcnow()
        with self.store.plain_write() as conn:
            row = self._row(conn, member, incident_id)
            if row.status not in PUBLIC:
                raise Conflict(f"incident {incident_id} is {row.status}: it takes no counts")
            changed = conn.execute(update(hub_incident_counts).where(
                hub_incident_counts.c.incident_id == incident_id,
                hub_incident_counts.c.member_id == member.id).values(
                matches=matches, blocks=blocks, updated_at=now)).rowcount
            if not changed:
                try:
                    with conn.begin_nested():
                        conn.execute(insert(hub_incident_counts).values(
                            incident_id=incident_id, member_id=member.id, matches=matches,
                            blocks=blocks, updated_at=now))
                except IntegrityError:  # a concurrent first report of the same member
                    conn.execute(update(hub_incident_counts).where(
                        hub_incident_counts.c.incident_id == incident_id,
                        hub_incident_counts.c.member_id == member.id).values(
                        matches=matches, blocks=blocks, updated_at=now))
        return {"incident": incident_id, "member": member.name, "matches": matches,
                "blocks": blocks, "updated_at": now.isoformat()}

    # --- contributions ---------------------------------------------------------------------
    def tag_drafts(self, conn: Connection, member: MemberRow, bank: str,
                   drafts: Sequence[tuple[EntryDraft, str | None]]) -> dict[int, int]:
        """Inside the contribution's write transaction: check that every named incident is
        open and takes hashes into `bank`, add its label to the drafts, and record the hash
        batch on each timeline. Returns entries per incident id."""
        wanted: dict[str, int] = {}
        for _, given in drafts:
            if given is not None and given not in wanted:
                wanted[given] = parse_incident_id(given)
        if not wanted:
            return {}
        rows = {r.id: r for r in conn.execute(select(hub_incidents).where(
            hub_incidents.c.id.in_(sorted(set(wanted.values())))))}
        for given, incident_id in wanted.items():
            row = rows.get(incident_id)
            if row is None or not self._may_see(member, row):
                raise HubError(f"unknown incident {given!r}", 422)
            if row.status != "open":
                raise Conflict(f"incident {incident_id} is {row.status}, not open: it takes "
                               "no more hashes")
            if row.bank != bank:
                raise HubError(f"incident {incident_id} takes its hashes in bank "
                               f"{row.bank!r}, not {bank!r}", 422)
        counts: dict[int, int] = {}
        signals: dict[int, int] = {}
        for draft, given in drafts:
            if given is None:
                continue
            incident_id = wanted[given]
            draft.labels.add(incident_label(incident_id))
            counts[incident_id] = counts.get(incident_id, 0) + 1
            signals[incident_id] = signals.get(incident_id, 0) + len(draft.signals)
        now = utcnow()
        for incident_id, count in counts.items():
            _event(conn, incident_id, "hashes", member.name,
                   {"entries": count, "signals": signals[incident_id]}, now)
        return counts

    @staticmethod
    def canonical(drafts: Sequence[tuple[EntryDraft, str | None]]
                  ) -> list[tuple[EntryDraft, str | None]]:
        """The drafts with incident ids in one form (`12`), as hub entries store them."""
        return [(d, None if i is None else str(parse_incident_id(i))) for d, i in drafts]

    # --- the debrief -----------------------------------------------------------------------
    def report(self, member: MemberRow, incident_id: int) -> dict[str, Any]:
        with self.store.read() as conn:
            row = self._row(conn, member, incident_id)
            key = str(incident_id)
            items = conn.execute(
                select(entries.c.id, entries.c.created_at, entries.c.withdrawn_at,
                       hub_entries.c.member_id)
                .join(hub_entries, hub_entries.c.entry_id == entries.c.id)
                .where(hub_entries.c.incident == key)).all()
            signal_counts = dict(conn.execute(
                select(entry_signals.c.entry_id, func.count())
                .join(hub_entries, hub_entries.c.entry_id == entry_signals.c.entry_id)
                .where(hub_entries.c.incident == key)
                .group_by(entry_signals.c.entry_id)).all())
            names = hub_repo.member_names(conn)
            acks = conn.execute(
                select(hub_members.c.name, hub_incident_acks.c.at)
                .join(hub_members, hub_members.c.id == hub_incident_acks.c.member_id)
                .where(hub_incident_acks.c.incident_id == incident_id)
                .order_by(hub_incident_acks.c.at)).all()
            counts = conn.execute(
                select(hub_members.c.name, hub_incident_counts.c.matches,
                       hub_incident_counts.c.blocks, hub_incident_counts.c.updated_at)
                .join(hub_members, hub_members.c.id == hub_incident_counts.c.member_id)
                .where(hub_incident_counts.c.incident_id == incident_id)
                .order_by(hub_members.c.name)).all()
            updates = conn.execute(select(func.count()).where(
                hub_incident_events.c.incident_id == incident_id,
                hub_incident_events.c.kind == "update")).scalar_one()
        declared = row.declared_at
        first_hash = min((i.created_at for i in items), default=None)
        hours: dict[int, list[int]] = {}
        contributors: dict[str, int] = {}
        for item in items:
            start = declared or row.created_at
            hour = max(0, int((item.created_at - start).total_seconds() // 3600))
            bucket = hours.setdefault(hour, [0, 0])
            bucket[0] += 1
            bucket[1] += signal_counts.get(item.id, 0)
            who = names.get(item.member_id, "?") if item.member_id is not None else "?"
            contributors[who] = contributors.get(who, 0) + 1
        ack_seconds = [_seconds(declared, a.at) for a in acks]
        known = [s for s in ack_seconds if s is not None]
        base = declared or row.created_at
        return {
            "incident": incident_json(row),
            "declared_at": _iso(declared),
            "concluded_at": _iso(row.concluded_at),
            "seconds_to_first_hash": _seconds(declared, first_hash),
            "seconds_to_conclusion": _seconds(declared, row.concluded_at),
            "items": len(items),
            "withdrawn_items": sum(1 for i in items if i.withdrawn_at is not None),
            "hashes": sum(signal_counts.values()),
            "hashes_per_hour": [
                {"hour": hour, "from": (base + timedelta(hours=hour)).isoformat(),
                 "items": bucket[0], "hashes": bucket[1]}
                for hour, bucket in sorted(hours.items())],
            "contributors": [{"member": m, "items": n}
                             for m, n in sorted(contributors.items())],
            "situation_updates": updates,
            "acknowledgements": [{"member": a.name, "at": a.at.isoformat(),
                                  "seconds_after_declaration": s}
                                 for a, s in zip(acks, ack_seconds, strict=True)],
            "members_acknowledging": len(acks),
            "median_ack_seconds": round(stats.median(known), 3) if known else None,
            "member_counts": [{"member": c.name, "matches": c.matches, "blocks": c.blocks,
                               "updated_at": c.updated_at.isoformat()} for c in counts],
            "matches": sum(c.matches for c in counts),
            "blocks": sum(c.blocks for c in counts),
        }


def _check_level(level: str) -> None:
    if level not in LEVELS:
        raise HubError(f"unknown level {level!r} (known: pci for a perpetrator content "
                       "incident, incident for a communications-only event)", 422)


def _text(value: str | None) -> str | None:
    return (value or "").strip() or None
