"""argparse integration: ``telemetry status|on|off`` added to a parser in one
call, and :func:`run`, which parses, counts the chosen subcommand path (names
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

from . import Status, Telemetry, exit_code_of, record_command

_PATH = "_tally_command_path"
_TELEMETRY = "_tally_is_telemetry"


def add_telemetry_command(
    subparsers: "argparse._SubParsersAction[argparse.ArgumentParser]",
    telemetry: Telemetry,
    name: str = "telemetry",
) -> argparse.ArgumentParser:
    """Adds ``<name> status [--json] | on | off`` to ``subparsers``; their
    handlers print to stdout (the user asked) and return 0. The three
    subparsers are built when ``<name>`` is parsed or its help is shown, so
    other commands' starts do not pay for them."""
    p = subparsers.add_parser(name, help="See and change what this tool collects")
    p.set_defaults(**{_TELEMETRY: True})

    def build() -> None:
        actions = p.add_subparsers(dest="_tally_action", metavar="{status,on,off}")
        actions.required = True
        st = actions.add_parser("status", help="Show whether telemetry is on, what decided it, and where its data lives")
        st.add_argument("--json", action="store_true", help="Print machine-readable JSON")
        st.set_defaults(func=lambda a: _status(telemetry, a.json))
        actions.add_parser("on", help="Turn telemetry on (stores your choice)").set_defaults(
            func=lambda a: _switch(telemetry, True)
        )
        actions.add_parser(
            "off", help="Turn telemetry off: stores your choice, deletes buffered data and the machine id"
        ).set_defaults(func=lambda a: _switch(telemetry, False))

    _build_when_used(p, build)
    return p


# The methods through which argparse uses a subparser: parsing (the parent's
# subparsers action calls parse_known_args) and help, usage and errors
# (which format the usage).
_USES = ("parse_known_args", "_parse_known_args", "parse_known_intermixed_args", "format_usage", "format_help")


def _build_when_used(parser: argparse.ArgumentParser, build: "Callable[[], None]") -> None:
    # Each ArgumentParser costs a CLI about 0.1 ms of start; the three under
    # `telemetry` are built only when the user chose `telemetry`, not on
    # every run of every other command (see bench/startup.sh). The parent
    # lists `telemetry` from its own entry, so its help needs none of them.
    originals = {m: getattr(parser, m) for m in _USES if hasattr(parser, m)}

    def ensure() -> None:
        if originals:
            for m in originals:
                delattr(parser, m)
            originals.clear()
            build()

    for m, original in originals.items():

        def wrapper(*args: object, _original: "Callable[..., object]" = original, **kwargs: object) -> object:
            ensure()
            return _original(*args, **kwargs)

        setattr(parser, m, wrapper)


def _status(t: Telemetry, as_json: bool) -> int:
    s = t.status()
    if as_json:
        import json  # only here: a CLI's start does not pay for it

        print(json.dumps(s.to_dict(), indent=2))
        return 0
    print(f"Telemetry for {s.app}: {'enabled' if s.enabled else 'disabled'}")
    print(f"  why:        {s.reason} [{s.decided_by}]")
    print(f"  config:     {s.config_path or 'unknown'}")
    print(f"  state dir:  {s.state_dir or 'unknown'}")
    print(f"  endpoint:   {s.endpoint or 'none, so nothing is sent'}")
    print(f"To change: `{s.app} telemetry on|off`; DO_NOT_TRACK=1 turns off every tool that honours it.")
    return 0


def _switch(t: Telemetry, enabled: bool) -> int:
    try:
        s: Status = t.on() if enabled else t.off()
    except OSError as e:
        print(f"{t.name}: {e}", file=sys.stderr)
        return 1
    word = "on" if enabled else "off"
    print(f"Telemetry {word}: your choice is stored in {s.config_path or 'unknown'}.")
    if s.enabled != enabled:
        print(f"Note: the choice is stored, but telemetry is {'on' if s.enabled else 'off'} for now: {s.reason}.")
    return 0


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
        record_command(path)
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
