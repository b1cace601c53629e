"""tally for Python: privacy-first, consent-managed usage telemetry for
command-line tools, over the same Rust library as a Rust host.

A Python CLI and a Rust CLI of the same application name share one consent,
one config file, one policy file and one spool. Counts stay in memory until
the process exits (``atexit``, which also runs after ``sys.exit()``), are
appended to a local spool and leave the machine only as daily aggregates,
sent from a later process. Nothing is ever written to stdout.

    import sys, tally
    t = tally.Telemetry("mytool", version="1.2.0", policy="opt-out",
                        endpoint="https://telemetry.example.com/v1/batch")
    with t.command("build"):        # counts "build" with its outcome and duration
        do_the_build()
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
from typing import Iterator, Optional

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

__all__ = [
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
]


@dataclasses.dataclass(frozen=True)
class Status:
    """What decides telemetry right now and where its data lives (the same
    values as ``<app> telemetry status --json`` of a Rust host)."""

    app: str
    enabled: bool
    #: policy, do_not_track, flag, env, config, ci or default
    decided_by: str
    reason: str
    config_path: Optional[str]
    state_dir: Optional[str]
    policy_file: Optional[str]
    endpoint: Optional[str]
    debug: bool
    ci: Optional[str]

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def exit_code_of(exc: BaseException | None) -> int:
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
        version: Optional[str] = None,
        env_prefix: Optional[str] = None,
        policy: str = "opt-in",
        endpoint: Optional[str] = None,
        docs_url: Optional[str] = None,
        policy_file: Optional[str] = None,
        no_telemetry: bool = False,
        prompt: bool = False,
        background_send: bool = True,
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
        """Stores the user's choice "on", as ``<app> telemetry on`` does."""
        return Status(**self._h.set_enabled_choice(True))

    def off(self) -> Status:
        """Stores "off": stops recording, deletes buffered data and the
        machine id, as ``<app> telemetry off`` does."""
        return Status(**self._h.set_enabled_choice(False))

    def record_command(self, path: str) -> None:
        """Counts a command path such as ``"cache clean"``: names the host
        defines, never argument values."""
        record_command(path)

    def finish(self, exit_code: int) -> int:
        """Ends the running command with the outcome of ``exit_code`` (0
        success, 2 usage error, 129/130/143 interrupted, else failure) and
        returns the code, for ``sys.exit(t.finish(code))``."""
        return self._h.finish(exit_code)

    @contextlib.contextmanager
    def command(self, path: str) -> Iterator[None]:
        """Counts ``path`` for the block, ending it with the exit code the
        block leads to: 0, ``SystemExit``'s code (``sys.exit(3)``), 130 for
        Ctrl-C, 1 for any other exception, which is re-raised."""
        record_command(path)
        try:
            yield
        except BaseException as e:
            self._h.finish(exit_code_of(e))
            raise
        self._h.finish(0)

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


_hooked = False


def _at_exit() -> None:
    # Registered once per process however many handles exist; a command
    # still running counts as ended in an unknown way, then the counts are
    # appended to the spool. Never raises into the interpreter's shutdown.
    try:
        finish_command("unknown")
        persist()
    except Exception:
        pass
