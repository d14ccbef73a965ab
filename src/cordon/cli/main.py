"""Entry point of the `cordon` command: one group, one module per command family."""

from __future__ import annotations

import sys

import click

from cordon import __version__
from cordon.cli.bank_cmd import bank_group
from cordon.cli.db_cmd import db_group
from cordon.cli.demo import demo_group
from cordon.cli.hash_cmd import hash_command
from cordon.cli.hub_cmd import hub_group
from cordon.cli.incident import incident_group
from cordon.cli.match_cmd import match_command
from cordon.cli.moderation import register as register_moderation
from cordon.cli.node_cmd import node_group
from cordon.cli.scan_cmd import scan_command
from cordon.cli.user_cmd import hub_user_group, node_user_group
from cordon.cli.watch_cmd import watch_command
from cordon.errors import CordonError


class FatalError(click.ClickException):
    """A CordonError that ends the command: one line on stderr, exit status 2."""

    exit_code = 2

    def show(self, file: object = None) -> None:
        click.echo(f"cordon: error: {self.format_message()}", err=True)


class CordonGroup(click.Group):
    """Turns CordonError into FatalError for every subcommand, however it is invoked."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except CordonError as exc:
            error = FatalError(str(exc))
            # Usage errors exit 2; failures at run time (e.g. a locked database) carry their own.
            error.exit_code = getattr(exc, "exit_code", FatalError.exit_code)
            raise error from None


@click.group(
    cls=CordonGroup,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(__version__, prog_name="cordon")
@click.option(
    "--db",
    "database_url",
    metavar="URL",
    help="Database URL (default: $CORDON_DATABASE_URL, else $CORDON_HOME/cordon.db).",
)
@click.pass_context
def cli(ctx: click.Context, database_url: str | None) -> None:
    """Cordon: share and match fingerprints of terrorist and violent-extremist content."""
    ctx.ensure_object(dict)["database_url"] = database_url


cli.add_command(hash_command)
cli.add_command(bank_group)
cli.add_command(db_group)
cli.add_command(match_command)
cli.add_command(watch_command)
cli.add_command(hub_group)
cli.add_command(node_group)
register_moderation(node_group)
hub_group.add_command(hub_user_group)
hub_group.add_command(incident_group)
node_group.add_command(node_user_group)
cli.add_command(scan_command)
cli.add_command(demo_group)


def main(argv: list[str] | None = None) -> None:
    try:
        cli.main(args=argv, prog_name="cordon", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("cordon: interrupted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except CordonError as exc:
        click.echo(f"cordon: error: {exc}", err=True)
        # Usage errors exit 2; failures at run time (e.g. a locked database) say otherwise.
        sys.exit(getattr(exc, "exit_code", 2))
    except BrokenPipeError:
        # `cordon hash ... | head` is normal use, not an error.
        sys.stderr.close()
        sys.exit(0)
    except KeyboardInterrupt:
        click.echo("cordon: interrupted", err=True)
        sys.exit(130)
