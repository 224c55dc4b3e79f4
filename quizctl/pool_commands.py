"""Commands on pool files: `validate` (and importing and exporting question banks)."""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from quizctl.common import EXIT_REFUSED


@click.command()
@click.argument("pools", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per pool.")
def validate(pools: tuple[Path, ...], as_json: bool) -> None:
    """Check pool files; report every problem with its location and a fix.

    Exit status 0 when every pool is valid, 1 otherwise.
    """
    from server.quiz.pool import PoolError, load_pool, summary_line

    failed = False
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
