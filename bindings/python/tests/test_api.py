"""The API in one process: status, on/off, facts and argument checks."""

from __future__ import annotations

import json

import pytest

import tally
from conftest import Sandbox


@pytest.fixture
def home(sb: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Sandbox:
    for k in list(__import__("os").environ):
        if k not in ("PATH", "VIRTUAL_ENV", "PYTHONPATH"):
            monkeypatch.delenv(k)
    for k, v in sb.env.items():
        monkeypatch.setenv(k, v)
    return sb


def test_status_on_and_off(home: Sandbox) -> None:
    t = tally.Telemetry("apitest", version="1.0.0", policy="opt-in", background_send=False)
    s = t.status()
    assert isinstance(s, tally.Status)
    assert (s.app, s.enabled, s.decided_by) == ("apitest", False, "default")
    assert s.config_path is not None and s.config_path.startswith(str(home.root))
    on = t.on()
    assert (on.enabled, on.decided_by) == (True, "config")
    assert t.status().enabled is True
    off = t.off()
    assert (off.enabled, off.decided_by) == (False, "config")


@pytest.mark.parametrize(
    "word,enabled",
    [("opt-in", False), ("opt_in", False), ("optin", False), ("OPT-IN", False),
     ("opt-out", True), ("opt_out", True), ("optout", True)],
)
def test_the_policy_words_are_the_librarys(home: Sandbox, word: str, enabled: bool) -> None:
    t = tally.Telemetry("words", policy=word, background_send=False)
    s = t.status()
    assert (s.enabled, s.decided_by) == (enabled, "default")
    # Recorded counts go to this sandbox now, not at exit after its removal.
    tally.persist()


def test_the_outcome_and_lifecycle_words_are_the_librarys() -> None:
    with pytest.raises(ValueError, match="expected one of ok, tool_error, parse_error, .*unanswered"):
        tally.record_tool_call("", "okay", 0.1)
    with pytest.raises(ValueError, match="success, failure, usage_error, interrupted, unknown"):
        tally.finish_command("fine")
    with pytest.raises(ValueError, match="install, uninstall, upgrade"):
        tally.record_lifecycle("reinstall")
    with pytest.raises(ValueError, match='policy must be "opt-in" or "opt-out", not "opt in"'):
        tally.Telemetry("words", policy="opt in")


def test_run_command_is_the_librarys_command_without_printing(home: Sandbox, capfd: pytest.CaptureFixture) -> None:
    t = tally.Telemetry("words", background_send=False)
    r = t.run_command(["status", "--json"])
    assert r.code == 0, r.stderr
    assert json.loads(r.stdout)["app"] == "words"
    assert t.run_command(["stat"]) == tally.CommandResult(
        2, "", 'words: unknown subcommand "stat"; expected one of status, on, off, prompt, uninstall, reset, flush, show, log\n')
    assert capfd.readouterr() == ("", "")


def test_bad_words_raise_value_error() -> None:
    with pytest.raises(ValueError):
        tally.Telemetry("apitest", policy="sometimes")
    with pytest.raises(ValueError):
        tally.record_tool_call("", "maybe", 0.1)
    with pytest.raises(ValueError):
        tally.record_lifecycle("reinstall")


def test_facts_outside_the_schema_are_refused() -> None:
    assert tally.set_fact("hostname", "x") is False


def test_exit_code_of() -> None:
    assert tally.exit_code_of(None) == 0
    assert tally.exit_code_of(SystemExit(None)) == 0
    assert tally.exit_code_of(SystemExit(4)) == 4
    assert tally.exit_code_of(SystemExit("bye")) == 1
    assert tally.exit_code_of(KeyboardInterrupt()) == 130
    assert tally.exit_code_of(ValueError()) == 1
