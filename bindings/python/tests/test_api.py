"""The API in one process: status, on/off, facts and argument checks."""

from __future__ import annotations

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
