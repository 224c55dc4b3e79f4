"""Commands on pool files: `validate` (and importing and exporting question banks)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from quizctl.common import EXIT_REFUSED


@click.command()
@click.argument("pools", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check this class list CSV too (or alone, without POOL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per pool.")
def validate(pools: tuple[Path, ...], roster_path: Path | None, as_json: bool) -> None:
    """Check pool files (and with --roster a class list); report every problem with its location and a fix.

    Exit status 0 when everything is valid, 1 otherwise.
    """
    from server.quiz.pool import PoolError, load_pool, summary_line

    if not pools and roster_path is None:
        raise click.UsageError("give the POOL files to check, or --roster FILE")
    failed = roster_path is not None and not checked_roster(roster_path, as_json)
    for path in pools:
        try:
            pool = load_pool(path)
        except PoolError as exc:
            failed = True
            if as_json:
                click.echo(json.dumps({"pool": str(path), "ok": False, "problems": exc.problems}))
            else:
                click.echo(str(exc), err=True)
            continue
        if as_json:
            click.echo(json.dumps({"pool": str(path), "ok": True, "title": pool.title, "questions": len(pool.questions)}))
        else:
            click.echo(summary_line(pool))
    sys.exit(EXIT_REFUSED if failed else 0)


def checked_roster(path: Path, as_json: bool) -> bool:
    """`validate --roster`: the class list's check lives with the other semester commands."""
    from quizctl.semester_commands import validate_roster

    return validate_roster(path, as_json)
