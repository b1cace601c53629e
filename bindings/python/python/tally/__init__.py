"""tally for Python: privacy-first, consent-managed usage telemetry for
command-line tools, over the same Rust library as a Rust host.

A Python CLI and a Rust CLI of the same application name share one consent,
one config file, one policy file and one spool. Counts stay in memory until
the process exits (``atexit``, which also runs after ``sys.exit()``), are
appended to a local spool and leave the machine only as daily aggregates,
sent from a later process. Nothing is written to stdout but the result of a
``telemetry …`` command the user runs (:meth:`Telemetry.run_command`, whose
text, exit codes and steps are the Rust library's, as in a Rust host).

    import sys, tally
    t = tally.Telemetry("mytool", version="1.2.0", policy="opt-out",
                        endpoint="https://telemetry.example.com/v1/batch")
    with t.command("build"):        # counts "build" with its outcome and duration
        do_the_build()
"""

import atexit

from . import _native
from ._native import (  # noqa: F401  (re-exported: the hot-path calls)
    finish_command,
    persist,
    record_client,
    record_command,
    record_lifecycle,
    record_tool_call,
    set_fact,
)

# Typing names for checkers only: importing typing, dataclasses or contextlib
# at run time would cost a CLI more start time than the whole native
# library (see bench/startup.sh). For the same reason annotations that name
# them are strings rather than `from __future__ import annotations`, which
# imports the __future__ module at run time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Mapping, Optional, Sequence

__all__ = [
    "CommandResult",
    "Status",
    "Telemetry",
    "exit_code_of",
    "finish_command",
    "persist",
    "record_client",
    "record_command",
    "record_lifecycle",
    "record_tool_call",
    "set_fact",
    "test_hooks",
]


def test_hooks() -> bool:
    """Whether the native module honours the test hooks
    (``<APP>_TELEMETRY_NOW``, the fixed clock): True for a debug build,
    False for a release build (a plain ``pip install``), which ignores them."""
    return _native.test_hooks()


test_hooks.__test__ = False  # type: ignore[attr-defined]  # not a pytest test


class Status:
    """What decides telemetry right now and where its data lives (the same
    values as ``<app> telemetry status --json`` of a Rust host). A plain,
    read-only value: compare with ``==``, convert with :meth:`to_dict`."""

    __slots__ = ("app", "enabled", "decided_by", "reason", "config_path", "state_dir",
                 "policy_file", "endpoint", "debug", "ci")

    app: str
    enabled: bool
    #: policy, do_not_track, flag, env, config, ci or default
    decided_by: str
    reason: str
    config_path: "Optional[str]"
    state_dir: "Optional[str]"
    policy_file: "Optional[str]"
    endpoint: "Optional[str]"
    debug: bool
    ci: "Optional[str]"

    def __init__(self, **fields: object) -> None:
        for k in self.__slots__:
            object.__setattr__(self, k, fields[k])

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Status is read-only")

    def to_dict(self) -> dict:
        return {k: getattr(self, k) for k in self.__slots__}

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Status) and self.to_dict() == other.to_dict()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__)
        return f"Status({inner})"


class CommandResult:
    """What ``<app> telemetry <words…>`` printed and the code it exits
    with, as the same command of a Rust host prints and exits."""

    __slots__ = ("code", "stdout", "stderr")

    #: 0 success, 1 a file could not be changed or a send failed, 2 a usage
    #: error, 3 or 4 when ``prompt`` decided nothing
    code: int
    #: the command's result text (a Rust host prints it on stdout)
    stdout: str
    #: the error text, ``<app>: <message>`` (a Rust host prints it on stderr)
    stderr: str

    def __init__(self, code: int, stdout: str, stderr: str) -> None:
        self.code = code
        self.stdout = stdout
        self.stderr = stderr

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CommandResult) and (self.code, self.stdout, self.stderr) == (
            other.code, other.stdout, other.stderr)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"CommandResult(code={self.code!r}, stdout={self.stdout!r}, stderr={self.stderr!r})"


def exit_code_of(exc: "Optional[BaseException]") -> int:
    """The exit code a Python process ends with after ``exc`` escapes:
    ``SystemExit``'s code, 130 for Ctrl-C, 1 for any other exception."""
    if exc is None:
        return 0
    if isinstance(exc, SystemExit):
        code = exc.code
        if code is None:
            return 0
        return code if isinstance(code, int) else 1
    if isinstance(exc, KeyboardInterrupt):
        return 130
    return 1


class Telemetry:
    """One application's telemetry for this process. Creating it resolves
    consent once (policy file, DO_NOT_TRACK, ``no_telemetry``,
    ``<PREFIX>_TELEMETRY``, the stored choice, CI, then ``policy``) and, when
    telemetry is on, starts recording and registers the exit hook."""

    def __init__(
        self,
        name: str,
        *,
        version: "Optional[str]" = None,
        env_prefix: "Optional[str]" = None,
        policy: str = "opt-in",
        endpoint: "Optional[str]" = None,
        docs_url: "Optional[str]" = None,
        policy_file: "Optional[str]" = None,
        no_telemetry: bool = False,
        prompt: bool = False,
        background_send: bool = True,
        tool_calls: bool = False,
        facts: bool = False,
        retention: "Optional[str]" = None,
        rename_commands: "Optional[Mapping[str, str]]" = None,
        outcome_for_exit: "Optional[Mapping[int, str]]" = None,
    ) -> None:
        self._h = _native.init(
            name,
            version=version,
            env_prefix=env_prefix,
            policy_word=policy,
            endpoint=endpoint,
            docs_url=docs_url,
            policy_file=policy_file,
            no_telemetry=no_telemetry,
            prompt=prompt,
            background_send=background_send,
            tool_calls=tool_calls,
            facts=facts,
            retention=retention,
            rename_commands=list((rename_commands or {}).items()),
            outcome_for_exit=list((outcome_for_exit or {}).items()),
        )
        self.name = name
        global _hooked
        if self._h.enabled() and not _hooked:
            _hooked = True
            atexit.register(_at_exit)

    @property
    def enabled(self) -> bool:
        """Whether telemetry is on for this process."""
        return self._h.enabled()

    def status(self) -> Status:
        """The current status, re-read from the files."""
        return Status(**self._h.status())

    def on(self) -> Status:
        """The steps of ``<app> telemetry on``: stores "on"; returns the
        status after. Raises OSError when the choice cannot be stored."""
        return Status(**self._h.set_enabled_choice(True))

    def off(self) -> Status:
        """The steps of ``<app> telemetry off``: stops recording, deletes
        buffered data and the machine id, then stores "off"; returns the
        status after. Raises OSError when the choice cannot be stored (the
        data is deleted even then)."""
        return Status(**self._h.set_enabled_choice(False))

    def run_command(self, words: "Sequence[str]") -> CommandResult:
        """Runs ``<app> telemetry <words…>`` (``["show", "--json"]``) as a
        Rust host does, without printing: its text and exit code. Never
        raises for what the user typed: a wrong word is code 2 with the
        reason in ``stderr``."""
        return CommandResult(*self._h.run_command([str(w) for w in words]))

    def record_command(self, path: str) -> None:
        """Counts a command path such as ``"cache clean"``: names the host
        defines, never argument values; under its declared name
        (``rename_commands``)."""
        self._h.record_path(path)

    def finish(self, exit_code: int) -> int:
        """Ends the running command with the outcome of ``exit_code`` (0
        success, 2 usage error, 129/130/143 interrupted, else failure) and
        returns the code, for ``sys.exit(t.finish(code))``."""
        return self._h.finish(exit_code)

    def command(self, path: str) -> "_Command":
        """A context manager counting ``path`` for the block and ending it
        with the exit code the block leads to: 0, ``SystemExit``'s code
        (``sys.exit(3)``), 130 for Ctrl-C, 1 for any other exception (which
        propagates)."""
        return _Command(self._h, path)

    def record_tool_call(self, name: str, outcome: str = "ok", duration_s: float = 0.0) -> None:
        """Counts an MCP tool call (``""`` counts the outcome only)."""
        record_tool_call(name, outcome, duration_s)

    def record_client(self, name: str, version: str) -> None:
        """Counts the connecting MCP client."""
        record_client(name, version)

    def set_fact(self, name: str, value: str) -> bool:
        """Sets a deployment fact for today; False where the schema refuses it."""
        return set_fact(name, value)

    def record_lifecycle(self, kind: str) -> None:
        """Counts install, uninstall or upgrade."""
        record_lifecycle(kind)

    def shutdown(self) -> None:
        """Persists and sends what is due now (long-running processes)."""
        self._h.shutdown()


class _Command:
    __slots__ = ("_h", "_path")

    def __init__(self, h: "_native.Handle", path: str) -> None:
        self._h = h
        self._path = path

    def __enter__(self) -> None:
        self._h.record_path(self._path)

    def __exit__(self, et: object, exc: "Optional[BaseException]", tb: object) -> bool:
        self._h.finish(exit_code_of(exc))
        return False


_hooked = False


def _at_exit() -> None:
    # Registered once per process however many handles exist; a command
    # still running counts as ended in an unknown way, then the counts are
    # appended to the spool. Never raises into the interpreter's shutdown.
    try:
        finish_command("unknown")
        persist()
    except BaseException:
        pass
