"""`quizctl`: validate pools, serve a live quiz, and drive it from the terminal.

Exit codes: 0 ok; 1 refused or invalid, a mistyped command line included (the reason
on stderr); 2 no server reachable. Click's own convention (2 for a usage error) is
overridden so that a script can retry on 2 without retrying a typo forever.

The commands live by what they work on: pool_commands (pool files), serve_command,
operator_commands (a running session), grade_commands (results out), report_command
and semester_commands (a course's sessions, gradebook, regrades and class list).
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from quizctl import grade_commands, operator_commands, pool_commands, report_command, semester_commands, serve_command
from quizctl.common import EXIT_REFUSED

CONTEXT_SETTINGS = {"help_option_names": ["-h", "--help"], "max_content_width": 100}


class QuizctlGroup(click.Group):
    """Exit 1 on a usage error: exit 2 means "no server reachable" for the operator commands."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        standalone = kwargs.pop("standalone_mode", True)
        command_main: Any = super().main  # Click's overloads cannot see through *args
        if not standalone:
            return command_main(*args, standalone_mode=False, **kwargs)
        try:
            result = command_main(*args, standalone_mode=False, **kwargs)
        except click.UsageError as exc:
            exc.show()
            sys.exit(EXIT_REFUSED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_REFUSED)
        except BrokenPipeError:  # `quizctl export | head`: the reader left; say nothing more
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(EXIT_REFUSED)
        sys.exit(result if isinstance(result, int) else 0)


@click.group(cls=QuizctlGroup, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="quizctl")
def main() -> None:
    """Live classroom quizzes, run from the terminal.

    \b
    Start a class:      quizctl serve pools/week3.json --host 0.0.0.0 --roster class.csv
    Drive it:           quizctl next | open N | close | pause | resume | extend S | skip | end | status
    After class:        quizctl export -o grades.csv; quizctl report -o report.html
    The semester:       quizctl sessions; quizctl gradebook --lms canvas -o semester.csv

    Questions are numbered from 1 (`quizctl open 4` opens the fourth).
    """


for _command in (
    pool_commands.validate,
    pool_commands.import_command,
    pool_commands.export_pool,
    serve_command.serve,
    *operator_commands.STATE_COMMANDS,
    operator_commands.open_command,
    operator_commands.extend,
    operator_commands.skip,
    operator_commands.reset,
    operator_commands.clear_student,
    semester_commands.roster,
    grade_commands.export,
    report_command.report,
    semester_commands.sessions,
    semester_commands.gradebook,
    semester_commands.regrade,
):
    main.add_command(_command)


if __name__ == "__main__":
    main()
