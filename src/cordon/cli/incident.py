"""`cordon hub incident`: declare, update, conclude and debrief incidents over the hub API."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import click

from cordon.cli.hub_cmd import _client, hub_options
from cordon.cli.output import FORMAT_OPTION, print_json
from cordon.errors import CordonError

LEVELS = click.Choice(["pci", "incident"])


def _when(text: str | None) -> str | None:
    """An ISO 8601 time with its zone (a time without one is refused: it is ambiguous)."""
    if text is None:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise CordonError(f"--attack-at {text!r} is not an ISO 8601 time "
                          "(e.g. 2026-11-21T03:00:00+00:00)") from None
    if value.tzinfo is None:
        raise CordonError(f"--attack-at {text!r} has no time zone: add +00:00 or Z")
    return value.isoformat()


def _show(incident: dict[str, Any]) -> None:
    click.echo(f"incident {incident['id']}  {incident['status']}  level {incident['level']}  "
               f"label {incident['label']}  bank {incident['bank']}")
    click.echo(f"  {incident['title']}")
    for key in ("description", "location", "attack_at", "situation", "declared_at",
                "declared_by", "proposed_by", "concluded_at", "concluded_by"):
        if incident.get(key):
            click.echo(f"  {key.replace('_', ' ')}: {incident[key]}")
    if incident.get("criteria"):
        click.echo(f"  criteria: {', '.join(incident['criteria'])}")


def _answer(incident: dict[str, Any], output_format: str, verb: str) -> None:
    if output_format == "json":
        print_json(incident)
    else:
        click.echo(f"{verb} incident {incident['id']} ({incident['status']})")


def _patch(hub_url: str, token: str, incident_id: int, body: dict[str, Any]) -> Any:
    with _client(hub_url, token) as client:
        return client.request("PATCH", f"/v1/incidents/{incident_id}", json=body).json()


@click.group("incident")
def incident_group() -> None:
    """Incidents: the crisis protocol (declare, update, conclude, debrief)."""


@incident_group.command("list")
@click.option("--status", type=click.Choice(["proposed", "open", "concluded", "rejected"]))
@hub_options
@FORMAT_OPTION
def list_command(status: str | None, hub_url: str, token: str, output_format: str) -> None:
    """List incidents, newest first."""
    with _client(hub_url, token) as client:
        params = {"status": status} if status else {}
        incidents = client.request("GET", "/v1/incidents", params=params).json()["incidents"]
    for incident in incidents:
        if output_format == "json":
            print_json(incident)
        else:
            click.echo(f"{incident['id']}\t{incident['status']}\t{incident['level']}\t"
                       f"{incident['declared_at'] or incident['created_at']}\t"
                       f"{incident['title']}")


@incident_group.command("show")
@click.argument("incident_id", type=click.IntRange(1))
@hub_options
@FORMAT_OPTION
def show_command(incident_id: int, hub_url: str, token: str, output_format: str) -> None:
    """Show an incident and its timeline."""
    with _client(hub_url, token) as client:
        incident = client.request("GET", f"/v1/incidents/{incident_id}").json()
    if output_format == "json":
        print_json(incident)
        return
    _show(incident)
    click.echo("timeline:")
    for event in incident["timeline"]:
        detail = ", ".join(f"{k} {v}" for k, v in event["detail"].items() if v is not None)
        click.echo(f"  {event['at']}  {event['kind']:<11} {event['member'] or '-'}"
                   + (f"  ({detail})" if detail else ""))


@incident_group.command("declare")
@click.option("--level", type=LEVELS, required=True,
              help="pci: perpetrator content incident; incident: communications only.")
@click.option("--title", required=True)
@click.option("--bank", required=True, help="The hub bank that receives its hashes.")
@click.option("--description", default=None)
@click.option("--location", default=None)
@click.option("--attack-at", default=None, metavar="TIME",
              help="When the attack began, ISO 8601 with a time zone.")
@click.option("--criterion", "criteria", multiple=True,
              help="A criterion of the protocol that is met (repeatable).")
@hub_options
@FORMAT_OPTION
def declare_command(level: str, title: str, bank: str, description: str | None,
                    location: str | None, attack_at: str | None, criteria: tuple[str, ...],
                    hub_url: str, token: str, output_format: str) -> None:
    """Declare an incident (admins), or propose one (contributors)."""
    body = {"level": level, "title": title, "bank": bank, "description": description,
            "location": location, "attack_at": _when(attack_at), "criteria": list(criteria)}
    with _client(hub_url, token) as client:
        incident = client.request("POST", "/v1/incidents", json=body).json()
    _answer(incident, output_format,
            "declared" if incident["status"] == "open" else "proposed")
    if output_format != "json":
        click.echo(f"contribute its hashes with --incident {incident['id']} to bank "
                   f"{incident['bank']}; they carry the label {incident['label']}")


@incident_group.command("update")
@click.argument("incident_id", type=click.IntRange(1))
@click.option("--situation", default=None, help="A situation update for the timeline.")
@click.option("--level", type=LEVELS, default=None, help="Escalate or de-escalate.")
@click.option("--title", default=None)
@click.option("--description", default=None)
@click.option("--location", default=None)
@click.option("--attack-at", default=None, metavar="TIME")
@click.option("--confirm", is_flag=True, help="Confirm a proposed incident (opens it).")
@click.option("--reject", is_flag=True, help="Turn down a proposed incident.")
@hub_options
@FORMAT_OPTION
def update_command(incident_id: int, situation: str | None, level: str | None,
                   title: str | None, description: str | None, location: str | None,
                   attack_at: str | None, confirm: bool, reject: bool, hub_url: str,
                   token: str, output_format: str) -> None:
    """Update an incident's situation, level or description (admins)."""
    if confirm and reject:
        raise CordonError("--confirm and --reject exclude each other")
    body: dict[str, Any] = {k: v for k, v in {
        "situation": situation, "level": level, "title": title, "description": description,
        "location": location, "attack_at": _when(attack_at)}.items() if v is not None}
    if confirm or reject:
        body["status"] = "open" if confirm else "rejected"
    if not body:
        raise CordonError("nothing to update: give --situation, --level, --confirm, ...")
    _answer(_patch(hub_url, token, incident_id, body), output_format, "updated")


@incident_group.command("conclude")
@click.argument("incident_id", type=click.IntRange(1))
@click.option("--situation", default=None, help="A last situation update.")
@hub_options
@FORMAT_OPTION
def conclude_command(incident_id: int, situation: str | None, hub_url: str, token: str,
                     output_format: str) -> None:
    """Conclude an open incident (admins): it takes no more hashes."""
    body: dict[str, Any] = {"status": "concluded"}
    if situation is not None:
        body["situation"] = situation
    _answer(_patch(hub_url, token, incident_id, body), output_format, "concluded")


@incident_group.command("ack")
@click.argument("incident_id", type=click.IntRange(1))
@hub_options
@FORMAT_OPTION
def ack_command(incident_id: int, hub_url: str, token: str, output_format: str) -> None:
    """Acknowledge an incident (nodes do it on their own)."""
    with _client(hub_url, token) as client:
        ack = client.request("POST", f"/v1/incidents/{incident_id}/ack").json()
    if output_format == "json":
        print_json(ack)
    else:
        click.echo(f"acknowledged incident {incident_id} at {ack['at']}"
                   + ("" if ack["first"] else " (already acknowledged)"))


def _seconds(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1f} s"


@incident_group.command("report")
@click.argument("incident_id", type=click.IntRange(1))
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Also write the readable debrief page to this file.")
@hub_options
@FORMAT_OPTION
def report_command(incident_id: int, html_path: Path | None, hub_url: str, token: str,
                   output_format: str) -> None:
    """The debrief of an incident."""
    with _client(hub_url, token) as client:
        report = client.request("GET", f"/v1/incidents/{incident_id}/report").json()
        page = (client.request("GET", f"/v1/incidents/{incident_id}/report",
                               params={"format": "html"}).text if html_path else None)
    if html_path is not None and page is not None:
        try:
            html_path.write_text(page, encoding="utf-8")
        except OSError as exc:
            raise CordonError(f"cannot write {html_path}: {exc.strerror}") from None
    if output_format == "json":
        print_json(report)
        return
    _show(report["incident"])
    click.echo(f"declaration to first hash: {_seconds(report['seconds_to_first_hash'])}")
    click.echo(f"declaration to conclusion: {_seconds(report['seconds_to_conclusion'])}")
    click.echo(f"items: {report['items']} ({report['withdrawn_items']} withdrawn), "
               f"hashes: {report['hashes']}, situation updates: "
               f"{report['situation_updates']}")
    for hour in report["hashes_per_hour"]:
        click.echo(f"  hour {hour['hour']}: {hour['hashes']} hashes, {hour['items']} items")
    click.echo(f"members acknowledging: {report['members_acknowledging']} (median "
               f"{_seconds(report['median_ack_seconds'])})")
    for ack in report["acknowledgements"]:
        click.echo(f"  {ack['member']}: {_seconds(ack['seconds_after_declaration'])}")
    click.echo(f"matches reported: {report['matches']}, blocks: {report['blocks']}")
    for counts in report["member_counts"]:
        click.echo(f"  {counts['member']}: {counts['matches']} matches, "
                   f"{counts['blocks']} blocks")
    if html_path is not None:
        click.echo(f"debrief page written to {html_path}")
