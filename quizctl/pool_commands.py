"""Commands on pool files and question banks: `validate`, `import` and `export-pool`.

A pool is quizctl's JSON file; a bank is a GIFT, Aiken, Moodle XML or CSV file
(docs/importing.md). `validate` and `serve` take either: a bank is imported on the way
and checked by the same pool loader. The format comes from the extension (.json a pool;
.gift, .xml, .csv; .txt Aiken, then GIFT; anything else is read as a pool) unless
--format says otherwise.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, NoReturn

import click

from quizctl.common import EXIT_REFUSED
from server.quiz.scoring import SCORE_FUNCTIONS

if TYPE_CHECKING:
    from server.quiz.importers import ImportProblem, ImportResult
    from server.quiz.pool import Pool

# server.quiz.importers.FORMATS (a test checks they agree): importing the importers here
# would slow every quizctl command down by a third of a second.
BANK_FORMATS = ("gift", "aiken", "moodle-xml", "csv")
FILE_FORMATS = ("json", *BANK_FORMATS)
IMPORTED_FOLDER = "imported"  # DATA_DIR/imported/<bank name>/: what `serve BANK` loads

format_option = click.option(
    "--format",
    "file_format",
    type=click.Choice(FILE_FORMATS),
    help="Read the file as this format instead of going by its extension "
    "(.json pool; .gift, .xml Moodle XML, .csv; .txt Aiken, then GIFT).",
)


# ---------------------------------------------------------------- validate


@click.command()
@click.argument("pools", nargs=-1, type=click.Path(dir_okay=False, path_type=Path))
@format_option
@click.option(
    "--roster",
    "roster_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Check this class list CSV too (or alone, without POOL).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object per file.")
def validate(pools: tuple[Path, ...], file_format: str | None, roster_path: Path | None, as_json: bool) -> None:
    """Check pool files, question banks and class lists; report every problem with its location and a fix.

    A bank (GIFT, Aiken, Moodle XML, CSV) is imported in memory and checked as the pool
    it becomes; its problems name the bank's file and line. Exit status 0 when every
    file is valid, 1 otherwise.

    \b
    Examples:
      quizctl validate pools/week3.json
      quizctl validate moodle-export.txt bank.xml questions.csv
      quizctl validate --format gift questions.dat
      quizctl validate --roster roster.csv
    """
    from server.quiz.importers import BankError
    from server.quiz.pool import PoolError, summary_line

    if not pools and roster_path is None:
        raise click.UsageError("give the POOL files to check, or --roster FILE")
    failed = roster_path is not None and not checked_roster(roster_path, as_json)
    for path in pools:
        try:
            pool, result = read_pool_or_bank(path, file_format)
        except PoolError as exc:
            failed = True
            _report(as_json, {"pool": str(path), "ok": False, "problems": exc.problems}, str(exc))
            continue
        except BankError as exc:
            failed = True
            problems = [str(problem) for problem in exc.problems]
            _print_warnings(exc.warnings, as_json)
            _report(as_json, {"pool": str(path), "ok": False, "problems": problems}, "\n".join(problems))
            continue
        warnings = result.warnings if result is not None else []
        _print_warnings(warnings, as_json)
        if as_json:
            report = {"pool": str(path), "ok": True, "title": pool.title, "questions": len(pool.questions)}
            click.echo(json.dumps(report | ({"warnings": [str(w) for w in warnings]} if result is not None else {})))
        else:
            click.echo(summary_line(pool))
    sys.exit(EXIT_REFUSED if failed else 0)


def read_pool_or_bank(path: Path, file_format: str | None) -> tuple[Pool, ImportResult | None]:
    """A pool file, or a bank imported in memory (with its ImportResult); PoolError or BankError."""
    from server.quiz.importers import bank_format, import_bank
    from server.quiz.pool import load_pool

    if (file_format or bank_format(path) or "json") == "json":
        return load_pool(path), None
    result = import_bank(path, format=file_format)
    return result.checked, result


def _report(as_json: bool, report: dict[str, Any], text: str) -> None:
    if as_json:
        click.echo(json.dumps(report))
    else:
        click.echo(text, err=True)


def _print_warnings(warnings: Sequence[ImportProblem], as_json: bool) -> None:
    if not as_json:
        for warning in warnings:
            click.echo(warning.as_warning(), err=True)


# ---------------------------------------------------------------- import


@click.command("import")
@click.argument("bank", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the pool here, its images beside it.  [default: the pool to stdout]",
)
@click.option(
    "--format",
    "bank_format",
    type=click.Choice(BANK_FORMATS),
    help="The bank's format.  [default: from the extension: .gift, .xml, .csv; .txt is tried as Aiken, then GIFT]",
)
@click.option(
    "--strict",
    is_flag=True,
    help="Treat a question quizctl cannot run (matching, essay, ...) as an error instead of skipping it.",
)
@click.option("--title", help="The pool's title.  [default: the bank's, else the file name]")
@click.option(
    "--time-limit",
    type=int,
    metavar="S",
    help="The pool's default seconds per question (5-3600).  [default: the bank's, else 30]",
)
@click.option(
    "--score-fn",
    type=click.Choice(SCORE_FUNCTIONS),
    help="How answers score.  [default: the bank's, else speed_linear]",
)
@click.option("--force", is_flag=True, help="Overwrite the pool file and images that already exist.")
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print one JSON object: the outcome, warnings, errors (and the pool, without -o).",
)
def import_command(
    bank: Path,
    output: Path | None,
    bank_format: str | None,
    strict: bool,
    title: str | None,
    time_limit: int | None,
    score_fn: str | None,
    force: bool,
    as_json: bool,
) -> None:
    """Turn a question bank (GIFT, Aiken, Moodle XML, CSV) into a pool.

    Every question is checked by the pool loader `validate` and `serve` use. Warnings
    (questions skipped, partial credit dropped) go to stderr as FILE:LINE: warning: ...;
    if anything is wrong, every error is listed as FILE:LINE[:COL]: what (fix: how),
    nothing is written and the exit status is 1. Images (from a Moodle XML bank, or
    named by a GIFT file quizctl wrote) are written beside the pool.

    \b
    Examples:
      quizctl import moodle-export.txt -o week3.json
      quizctl import bank.xml -o pools/week3.json --title "Week 3: Sorting"
      quizctl import questions.csv --time-limit 45 --score-fn binary > week3.json
      quizctl import bank.gift --strict -o week3.json
    """
    from server.quiz.importers import BankError, import_bank

    try:
        result = import_bank(
            bank, format=bank_format, title=title, time_limit=time_limit, score_fn=score_fn, strict=strict
        )
    except BankError as exc:
        _import_failed(bank, exc.problems, exc.warnings, as_json)
    _print_warnings(result.warnings, as_json)
    if output is None and result.assets:
        message = f"the pool needs {len(result.assets)} image file(s) beside it, which stdout cannot hold"
        _import_failed(bank, [_file_problem(bank, message, "give -o pool.json")], [], as_json)
    written: list[Path] = []
    if output is not None:
        try:
            written = write_pool(result.pool, result.assets, output, force=force)
        except (OSError, ValueError) as exc:
            _import_failed(bank, [_file_problem(output, str(exc), "pick another -o, or pass --force")], [], as_json)
    _import_done(bank, output, result, written, as_json)


def _import_done(bank: Path, output: Path | None, result: ImportResult, written: list[Path], as_json: bool) -> None:
    pool = result.checked
    count = len(pool.questions)
    kinds = sorted({question.kind for question in pool.questions})
    if as_json:
        report: dict[str, Any] = {
            "ok": True,
            "bank": str(bank),
            "pool_file": str(output) if output is not None else None,
            "title": pool.title,
            "questions": count,
            "types": kinds,
            "images": [str(path) for path in written[:-1]],
            "warnings": [warning.to_json() for warning in result.warnings],
        }
        if output is None:
            report["pool"] = result.pool
        click.echo(json.dumps(report, ensure_ascii=False))
        return
    if output is None:
        click.echo(json.dumps(result.pool, indent=2, ensure_ascii=False))
    summary = (
        f"{bank}: imported {count} question{'s' if count != 1 else ''} ({', '.join(kinds)}) as {pool.title!r}"
        f" into {output if output is not None else 'stdout'}; {len(result.assets)} image(s),"
        f" {len(result.warnings)} warning(s)"
    )
    click.echo(summary, err=output is None)


def _import_failed(
    bank: Path, errors: Sequence[ImportProblem], warnings: Sequence[ImportProblem], as_json: bool
) -> NoReturn:
    if as_json:
        report = {
            "ok": False,
            "bank": str(bank),
            "errors": [problem.to_json() for problem in errors],
            "warnings": [warning.to_json() for warning in warnings],
        }
        click.echo(json.dumps(report, ensure_ascii=False))
    else:
        _print_warnings(warnings, as_json)
        for problem in errors:
            click.echo(str(problem), err=True)
        click.echo(f"{bank}: {len(errors)} error(s); nothing written.", err=True)
    sys.exit(EXIT_REFUSED)


def _file_problem(path: Path, message: str, fix: str) -> ImportProblem:
    from server.quiz.importers import ImportProblem

    return ImportProblem(str(path), 0, message, fix)


def write_pool(pool: dict[str, Any], assets: Sequence[tuple[str, bytes]], output: Path, *, force: bool) -> list[Path]:
    """Write the images beside `output`, then the pool; the paths written, the pool last.

    Without `force`, nothing is written if the pool file exists, or an image file exists
    with other contents (the same bytes are left as they are). `FileExistsError` names them.
    """
    folder = output.parent
    targets = [(_inside(folder, name), data) for name, data in assets]
    if not force:
        taken = [path for path, data in targets if path.exists() and _contents(path) != data]
        taken += [output] if output.exists() else []
        if taken:
            raise FileExistsError(f"already exist(s): {', '.join(map(str, taken))}")
    written = []
    for path, data in targets:
        if not (path.is_file() and _contents(path) == data):
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_atomically(path, data)
        written.append(path)
    _write_atomically(output, (json.dumps(pool, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
    return [*written, output]


def _inside(folder: Path, name: str) -> Path:
    """`folder/name` for a relative image name that stays inside `folder` (ValueError otherwise)."""
    relative = PurePosixPath(name)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise ValueError(f"image name {name!r} leaves the pool's folder")
    return folder.joinpath(*relative.parts)


def _contents(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def _write_atomically(path: Path, data: bytes) -> None:
    """Write to a temporary file beside `path`, then rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


# ---------------------------------------------------------------- export-pool


@click.command("export-pool")
@click.argument("pool_path", metavar="POOL", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the GIFT bank here, the pool's images beside it.  [default: stdout]",
)
@click.option("--force", is_flag=True, help="Overwrite a bank file and images that already exist.")
def export_pool(pool_path: Path, output: Path | None, force: bool) -> None:
    """Write a pool as a GIFT bank that Moodle imports (Question bank > Import > GIFT format).

    What GIFT has no place for (time limits, points, images, units, exact matching,
    tags, polls) is kept in `// quizctl: {...}` comment lines that Moodle ignores and
    `quizctl import` reads back: importing the bank gives the same pool.

    \b
    Examples:
      quizctl export-pool pools/week3.json -o week3.gift
      quizctl export-pool pools/week3.json > week3.gift
    """
    from server.quiz.importers import export_gift, pool_json
    from server.quiz.pool import PoolError, load_pool

    try:
        pool = load_pool(pool_path)
    except PoolError as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_REFUSED)
    text = export_gift(pool_json(pool))
    media = _pool_images(pool)
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        if media:
            click.echo(
                f"{pool_path}: its {len(media)} image(s) stay beside the pool; with -o they go beside the bank",
                err=True,
            )
        return
    try:
        same_folder = output.parent.resolve() == pool.base_dir
        _write_bank(output, text, [] if same_folder else media, force)
    except OSError as exc:
        click.echo(f"{output}: {exc} (fix: pick another -o, or pass --force)", err=True)
        sys.exit(EXIT_REFUSED)
    count = len(pool.questions)
    click.echo(
        f"{pool_path}: wrote {count} question{'s' if count != 1 else ''} as GIFT to {output}; {len(media)} image(s)"
    )


def _pool_images(pool: Pool) -> list[tuple[str, bytes]]:
    """The pool's image files by the path the pool gives them, once each."""
    images: dict[str, bytes] = {}
    for question in pool.questions:
        for image in (question.image, *(o.image for o in getattr(question, "options", {}).values())):
            if image is not None:
                images[image.relative] = image.data
    return list(images.items())


def _write_bank(output: Path, text: str, media: Sequence[tuple[str, bytes]], force: bool) -> None:
    if output.exists() and not force:
        raise FileExistsError(f"{output} already exists")
    targets = [(_inside(output.parent, name), data) for name, data in media]
    taken = [str(path) for path, data in targets if path.exists() and _contents(path) != data]
    if taken and not force:
        raise FileExistsError(f"already exist(s): {', '.join(taken)}")
    for path, data in targets:
        _write_atomically(path, data)
    _write_atomically(output, text.encode("utf-8"))


# ---------------------------------------------------------------- serve


def pool_to_serve(path: Path, file_format: str | None, data_dir: Path) -> Pool:
    """The pool `quizctl serve FILE` runs; exits 1 with every problem if there is none.

    A bank is imported and written, with its images, to DATA_DIR/imported/<bank name>/
    pool.json, which is then loaded like any pool file (so the served pool is a file the
    operator can look at, and a restart imports the bank again into the same place).
    """
    from server.quiz.importers import BankError, bank_format, import_bank
    from server.quiz.importers.assets import safe_stem
    from server.quiz.pool import PoolError, load_pool

    try:
        if (file_format or bank_format(path) or "json") == "json":
            return load_pool(path)
        result = import_bank(path, format=file_format)
        _print_warnings(result.warnings, False)
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        target = data_dir / IMPORTED_FOLDER / safe_stem(path.name.replace(".", "-")) / "pool.json"
        write_pool(result.pool, result.assets, target, force=True)
        click.echo(f"quizctl: imported {path} into {target}", err=True)
        return load_pool(target)
    except PoolError as exc:
        click.echo(str(exc), err=True)
        click.echo(f"Fix the pool and run `quizctl validate {path}` to check it.", err=True)
    except BankError as exc:
        _print_warnings(exc.warnings, False)
        click.echo("\n".join(str(problem) for problem in exc.problems), err=True)
        click.echo(f"Fix the bank and run `quizctl validate {path}` to check it.", err=True)
    except OSError as exc:
        click.echo(f"quizctl serve: cannot write the imported pool into {data_dir}: {exc}", err=True)
    sys.exit(EXIT_REFUSED)


def checked_roster(path: Path, as_json: bool) -> bool:
    """`validate --roster`: the class list's check lives with the other semester commands."""
    from quizctl.semester_commands import validate_roster

    return validate_roster(path, as_json)
