"""argparse integration: ``telemetry …`` (every subcommand of the library,
run by the library as in a Rust host) added to a parser in one call, and
:func:`run`, which parses, counts the chosen subcommand path (names
only, never argument values), calls the handler and ends the command with
its exit code.

    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("build").set_defaults(func=build)
    tally.argparse.add_telemetry_command(sub, t)
    sys.exit(tally.argparse.run(t, parser))
"""

import argparse
import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, List, Optional, Sequence

from . import Telemetry, exit_code_of

_PATH = "_tally_command_path"
_TELEMETRY = "_tally_is_telemetry"


# The help of `telemetry`: what the library's subcommands do. Parsing, text
# and exit codes are the library's (Telemetry.run_command); this is only
# the listing.
_HELP = """\
commands (run by the tally library, as in a Rust host):
  status [--json]            Show whether telemetry is on, what decided it, and where its data lives
  on                         Turn telemetry on (stores your choice in the config file)
  off                        Turn telemetry off: stores your choice, deletes buffered data and the machine id
  prompt [--force] [--json]  Ask whether to share usage statistics and store the answer (for installers);
                             exit 3 when no one could be asked, 4 when unanswered
  uninstall                  For uninstallers: record the uninstall, send what is left, delete local data
  reset                      Drop buffered data and replace the machine id with a new random one
  flush [--json]             Send completed days now, in the foreground, and report what happened
  show [--json]              Print exactly what the next send would post, and today's local counts
  log [--json]               List the batches sent from this machine, oldest first"""


def add_telemetry_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
    telemetry: Telemetry,
    name: str = "telemetry",
) -> argparse.ArgumentParser:
    """Adds ``<name> <subcommand> [flags]`` to ``subparsers``: every
    subcommand and flag (``status [--json]``, ``on``, ``off``, ``prompt
    [--force] [--json]``, ``uninstall``, ``reset``, ``flush [--json]``,
    ``show [--json]``, ``log [--json]``) goes to the library, whose text is
    written to ``sys.stdout``/``sys.stderr``; the handler returns the
    library's exit code. One parser with the words as its argument: nothing
    is built under it on every run of every other command."""
    p = subparsers.add_parser(
        name,
        help="See and change what this tool collects",
        description="See and change what this tool collects.",
        epilog=_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "_tally_words",
        nargs=argparse.REMAINDER,
        metavar="subcommand ...",
        help="status, on, off, prompt, uninstall, reset, flush, show or log, with its flags",
    )
    p.set_defaults(**{_TELEMETRY: True, "func": lambda a: _run(telemetry, p, a._tally_words)})
    return p


def _run(t: Telemetry, parser: argparse.ArgumentParser, words: "List[str]") -> int:
    # argparse hands `-h` after a subcommand (`telemetry status -h`) to the
    # words: it is help here too, as in a clap host.
    if "-h" in words or "--help" in words:
        parser.print_help()
        return 0
    r = t.run_command(words)
    if r.stdout:
        try:
            sys.stdout.write(r.stdout)
            sys.stdout.flush()
        except BrokenPipeError:
            # `telemetry show | head`: the reader went away, which is not a
            # failure (as in a Rust host). Python's own flush at exit must
            # not fail on it either.
            import os

            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    if r.stderr:
        sys.stderr.write(r.stderr)
        sys.stderr.flush()
    return r.code


def _mark(parser: argparse.ArgumentParser, prefix: "List[str]") -> None:
    # Each subparser gets the full path of names as a default; argparse
    # applies the innermost chosen parser's defaults last, so the namespace
    # ends up holding the deepest path. Names come from the host's parser
    # tree, never from what the user typed beyond choosing among them.
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            seen = set()
            for choice, sub in action.choices.items():
                if id(sub) in seen:  # an alias: count under the first name
                    continue
                seen.add(id(sub))
                path = prefix + [choice]
                sub.set_defaults(**{_PATH: " ".join(path)})
                _mark(sub, path)


def command_path(parser: argparse.ArgumentParser, args: argparse.Namespace) -> "Optional[str]":
    """The subcommand path ``args`` chose, or None for none / ``telemetry``."""
    if getattr(args, _TELEMETRY, False):
        return None
    return getattr(args, _PATH, None)


def run(
    telemetry: Telemetry,
    parser: argparse.ArgumentParser,
    argv: "Optional[Sequence[str]]" = None,
    handler: "Optional[Callable[[argparse.Namespace], Optional[int]]]" = None,
) -> int:
    """Parses ``argv``, counts the chosen command path, calls ``handler``
    (default: the ``func`` the chosen subparser set) and returns its exit
    code, ending the command with it; ``sys.exit(n)`` inside the handler
    ends it with ``n`` and propagates."""
    _mark(parser, [])
    args = parser.parse_args(argv)
    fn = handler or getattr(args, "func", None)
    path = command_path(parser, args)
    if path is not None:
        telemetry.record_command(path)
    try:
        code = fn(args) if fn is not None else 0
        code = 0 if code is None else int(code)
    except BaseException as e:
        if path is not None:
            telemetry.finish(exit_code_of(e))
        raise
    if path is not None:
        telemetry.finish(code)
    return code
