"""The package driven the way a Python CLI uses it: argparse tools written in
conftest.py, run as child processes in a sandboxed HOME, with a real
`tally serve`, strace and the repository's Rust example host."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import tally

from conftest import AS_HOST, Server, Sandbox, cargo_bin, needs_clock, normalized, strace, today

NOTICE = "collects anonymous usage counts"


def counts(spool: str) -> dict:
    out: dict = {}
    for line in spool.splitlines():
        r = json.loads(line)
        if r.get("k") == "command":
            key = (r["name"], r.get("outcome"))
            out[key] = out.get(key, 0) + r["n"]
    return out


@needs_clock
def test_notice_once_on_stderr_and_the_first_send_only_from_a_later_process(sb: Sandbox, server: Server) -> None:
    env = {"PYAPP_TELEMETRY_ENDPOINT": server.url, "PYAPP_TELEMETRY_NOW": today(-1)}
    first = sb.run("build", "x", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == "built\n", "nothing added to stdout"
    assert NOTICE in first.stderr and "pyapp telemetry off" in first.stderr, first.stderr
    second = sb.run("cache", "clean", env=env)
    assert second.returncode == 0
    assert second.stderr == "", "the notice is shown once"
    # Nothing reached the server from the runs of the first day.
    assert server.report()["commands"] == []
    # The next day's process delivers the completed day.
    flushed = sb.run("flush", env={**env, "PYAPP_TELEMETRY_NOW": today()})
    assert flushed.returncode == 0, flushed.stderr
    server.stop()
    rows = {r["command"]: r for r in server.report()["commands"]}
    assert rows["build"]["count"] == 1, rows
    assert rows["cache clean"]["outcomes"]["success"] == 1, rows


def test_do_not_track_records_nothing(sb: Sandbox) -> None:
    out = sb.run("build", env={"DO_NOT_TRACK": "1"})
    assert out.returncode == 0 and out.stdout == "built\n"
    assert out.stderr == ""
    assert sb.files() == ["cli.py"]
    st = sb.run("telemetry", "status", "--json", env={"DO_NOT_TRACK": "1"})
    s = json.loads(st.stdout)
    assert s["enabled"] is False and s["decided_by"] == "do_not_track"


def test_ci_records_nothing_for_an_opt_out_tool(sb: Sandbox) -> None:
    out = sb.run("build", env={"CI": "true"})
    assert out.returncode == 0 and out.stderr == ""
    assert sb.files() == ["cli.py"]
    s = json.loads(sb.run("telemetry", "status", "--json", env={"CI": "true"}).stdout)
    assert s["enabled"] is False and s["decided_by"] == "ci"


def test_counts_survive_sys_exit_with_their_outcome(sb: Sandbox) -> None:
    env = {"PYAPP_TELEMETRY": "1"}
    assert sb.run("exit", "3", env=env).returncode == 3
    assert sb.run("fail", env=env).returncode == 1
    assert sb.run("bare", "4", env=env).returncode == 4
    assert sb.run("build", env=env).returncode == 0
    c = counts(sb.spool())
    assert c[("exit", "failure")] == 1, c
    assert c[("fail", "failure")] == 1, c
    assert c[("bare", "unknown")] == 1, c
    assert c[("build", "success")] == 1, c


def test_tool_calls_clients_and_facts_are_sent_only_when_declared(sb: Sandbox) -> None:
    env = {"PYAPP_TELEMETRY": "1"}

    def kinds() -> list:
        return [json.loads(line)["k"] for line in sb.spool().splitlines()]

    assert sb.run("mcp", env=env).returncode == 0
    assert [k for k in kinds() if k not in ("command", "lifecycle")] == [], sb.spool()
    st = sb.run("telemetry", "status", env=env)
    assert "not recorded: 1 MCP tool call(s), 1 MCP client session(s), 1 fact(s)" in st.stdout, st.stdout
    assert sb.run("mcp", env={**env, "TEST_TOOL_CALLS": "1", "TEST_FACTS": "1"}).returncode == 0
    for k in ("tool", "client", "fact"):
        assert k in kinds(), sb.spool()


def test_declared_renames_and_exit_outcomes_are_the_librarys(sb: Sandbox) -> None:
    env = {"PYAPP_TELEMETRY": "1", "TEST_RENAME": "cache clean=cache-purge", "TEST_EXIT_OK": "1"}
    assert sb.run("cache", "clean", env=env).returncode == 0
    assert sb.run("fail", env=env).returncode == 1
    c = counts(sb.spool())
    assert c[("cache-purge", "success")] == 1, c
    assert c[("fail", "success")] == 1, c
    assert ("cache clean", "success") not in c, c
    with pytest.raises(ValueError, match=r'outcome_for_exit\[1\]: unknown outcome "fine"'):
        tally.Telemetry("bad", outcome_for_exit={1: "fine"})


def test_telemetry_commands_are_not_counted_and_off_deletes_the_spool(sb: Sandbox) -> None:
    env = {"PYAPP_TELEMETRY_NOW": today(-1)}
    sb.run("build", env=env)
    assert "build" in sb.spool()
    off = sb.run("telemetry", "off", env=env)
    assert off.returncode == 0 and "Telemetry off" in off.stdout
    assert sb.spool() == ""
    sb.run("build", env=env)
    assert sb.spool() == ""
    on = sb.run("telemetry", "on", env=env)
    assert on.returncode == 0
    sb.run("telemetry", "status", env=env)
    assert "telemetry" not in sb.spool()


@needs_clock
def test_off_is_off_no_socket_no_file(sb: Sandbox, server: Server) -> None:
    env = {"PYAPP_TELEMETRY_ENDPOINT": server.url, "PYAPP_TELEMETRY": "1", "PYAPP_TELEMETRY_NOW": today(-1)}
    # A completed day is waiting: a run with telemetry on would send it.
    assert sb.run("build", env=env).returncode == 0
    spool_before = sb.spool()
    assert spool_before
    root = str(sb.root)

    def traced(extra: dict, name: str) -> list:
        trace = sb.root / f"trace-{name}"
        out = sb.run(
            "wait", "300",
            env={**env, "PYAPP_TELEMETRY_NOW": today(), **extra},
            prefix=[strace(), "-f", "-qq", "-o", str(trace), "-e",
                    "trace=socket,connect,openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat"],
        )
        assert out.returncode == 0, out.stderr
        bad = []
        for line in trace.read_text().splitlines():
            net = "connect(" in line or ("socket(" in line and "AF_UNIX" not in line)
            writes = root in line and str(trace) not in line and any(
                w in line for w in ("O_CREAT", "O_WRONLY", "O_RDWR", "mkdir", "rename", "unlink"))
            if net or writes:
                bad.append(line)
        return bad

    for i, off in enumerate([{"DO_NOT_TRACK": "1"}, {"PYAPP_TELEMETRY": "0"}]):
        bad = traced(off, str(i))
        assert bad == [], f"telemetry off ({off}) still did:\n" + "\n".join(bad)
        assert sb.spool() == spool_before
    # The control: the same run with telemetry on does connect and write,
    # so the check above can fail.
    assert traced({}, "on") != []


def test_the_same_state_as_a_rust_host_of_the_same_name(sb: Sandbox) -> None:
    host = str(cargo_bin("examples/host"))
    import subprocess

    def host_status() -> dict:
        out = subprocess.run([host, "telemetry", "status", "--json"], env=sb.env, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    env = AS_HOST

    def py_status() -> dict:
        out = sb.run("telemetry", "status", "--json", env=env)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    # `telemetry status --json` is the library's in both: the same object.
    def agree() -> None:
        assert py_status() == host_status()

    agree()
    # The Python CLI's off is the Rust host's off, and the other way round.
    sb.run("telemetry", "off", env=env)
    assert host_status()["decided_by"] == "config" and not host_status()["enabled"]
    agree()
    subprocess.run([host, "telemetry", "on"], env=sb.env, capture_output=True, check=True)
    assert py_status()["enabled"] is True
    agree()
    # One spool: both count into the same file.
    subprocess.run([host, "build"], env=sb.env, capture_output=True, check=True)
    sb.run("cache", "clean", env=env)
    spool = sb.spool("host")
    assert '"name":"build"' in spool and '"name":"cache clean"' in spool, spool


@needs_clock
def test_a_canary_argument_never_reaches_the_spool_or_the_server(sb: Sandbox, server: Server) -> None:
    canary = "CANARY-7f3a9c-secret-project"
    env = {"PYAPP_TELEMETRY": "1", "PYAPP_TELEMETRY_ENDPOINT": server.url, "PYAPP_TELEMETRY_NOW": today(-1)}
    assert sb.run("build", canary, env=env).returncode == 0
    # An unknown command is refused by argparse and never recorded.
    assert sb.run(canary, env=env).returncode == 2
    assert canary not in sb.spool() and "build" in sb.spool()
    assert sb.run("flush", env={**env, "PYAPP_TELEMETRY_NOW": today()}).returncode == 0
    server.stop()
    assert canary.encode() not in server.db.read_bytes()
    for f in sb.root.rglob("*"):
        if f.is_file() and f.name != "cli.py" and not f.name.startswith("trace"):
            assert canary.encode() not in f.read_bytes(), f


SUBCOMMANDS = ("status [--json]", "on ", "off ", "prompt [--force] [--json]", "uninstall", "reset",
               "flush [--json]", "show [--json]", "log [--json]")


def test_telemetry_is_one_passthrough_command_and_help_lists_every_subcommand(sb: Sandbox) -> None:
    env = {"PYAPP_TELEMETRY": "1"}
    for args in (["telemetry", "--help"], ["telemetry", "status", "--help"], ["telemetry", "-h"]):
        out = sb.run(*args, env=env)
        assert out.returncode == 0, out.stderr
        for sub in SUBCOMMANDS:
            assert sub in out.stdout, (args, sub, out.stdout)
    # Without a subcommand: the library's own usage error, exit 2.
    bare = sb.run("telemetry", env=env)
    assert (bare.returncode, bare.stdout) == (2, "")
    assert bare.stderr == "pyapp: a subcommand is required: status, on, off, prompt, uninstall, reset, flush, show, log\n"
    wrong = sb.run("telemetry", "on", "--json", env=env)
    assert (wrong.returncode, wrong.stderr) == (2, 'pyapp: unexpected argument "--json" for `on`\n')
    assert json.loads(sb.run("telemetry", "status", "--json", env=env).stdout)["enabled"] is True
    # The program's own help lists telemetry, and nothing under it.
    top = sb.run("--help", env=env).stdout
    assert "telemetry" in top and "Show whether" not in top, top


STEPS = [
    ["status"], ["status", "--json"], ["show"], ["show", "--json"], ["log"], ["log", "--json"],
    ["prompt", "--json"], ["prompt"], ["flush"], ["flush", "--json"],
    ["on"], ["reset"], ["show"], ["prompt", "--force", "--json"], ["off"], ["status"],
    ["on"], ["uninstall"], ["log", "--json"], ["off"], ["off"], ["status", "--json"],
]


def test_every_telemetry_subcommand_prints_and_exits_as_the_rust_host_does(
    sb: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    # Two sandboxes set up alike by the Rust host; then the same steps, one
    # through the Rust host, the other through the Python CLI as "host".
    other = Sandbox(tmp_path_factory.mktemp("other"))
    import tally

    clock = {"HOST_TELEMETRY_NOW": today()} if tally.test_hooks() else {}
    for s in (sb, other):
        assert s.host("build", env=clock).returncode == 0
    # The installer's question, undecided, with an endpoint but no terminal
    # to ask on: "not_asked", exit 3 (it changes nothing).
    p = other.run("telemetry", "prompt", "--json", env={**AS_HOST, "HOST_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/v1"})
    assert (p.returncode, p.stderr) == (3, ""), p.stderr
    assert json.loads(p.stdout)["result"] == "not_asked"
    assert "not a terminal" in json.loads(p.stdout)["message"]
    for step in STEPS:
        rust = normalized(sb.host("telemetry", *step, env=clock), sb.root)
        py = normalized(other.run("telemetry", *step, env={**AS_HOST, **clock}), other.root)
        assert py == rust, f"telemetry {' '.join(step)}"


NOT_STORED = re.compile(
    r"^host: .*\nYour choice could not be stored; until it is, set HOST_TELEMETRY=0 in your environment\. "
    r"Buffered data and the machine id were deleted\.\n$",
    re.S,
)


def test_off_deletes_buffered_data_even_when_the_choice_cannot_be_stored_as_the_rust_host_does(
    sb: Sandbox, tmp_path_factory: pytest.TempPathFactory
) -> None:
    other = Sandbox(tmp_path_factory.mktemp("other"))
    results = []
    for s, run in ((sb, sb.host), (other, lambda *a: other.run(*a, env=AS_HOST))):
        cfg = Path(json.loads(run("telemetry", "status", "--json").stdout)["config_path"])
        assert run("build").returncode == 0
        assert '"name":"build"' in s.spool("host")
        # A file where the consent file's directory goes: the choice cannot
        # be stored, whoever runs the test (root included). (A directory in
        # place of the file itself is a broken consent file, which off backs
        # up and replaces.)
        shutil.rmtree(cfg.parent, ignore_errors=True)
        cfg.parent.parent.mkdir(parents=True, exist_ok=True)
        cfg.parent.write_text("in the way\n")
        off = run("telemetry", "off")
        assert off.returncode == 1, off.stderr
        assert s.spool("host") == "", "buffered data deleted although the choice was not stored"
        assert not (s.root / "state" / "host" / "machine_id").exists()
        assert NOT_STORED.match(off.stderr), off.stderr
        results.append(normalized(off, s.root))
    assert results[1] == results[0]
    # The API: off() raises OSError, and has deleted the data first. (The
    # broken consent directory turned telemetry off; the env var turns it on.)
    on = {**AS_HOST, "HOST_TELEMETRY": "1"}
    assert other.run("build", env=on).returncode == 0
    assert other.spool("host")
    code = (
        "import tally\n"
        "t = tally.Telemetry('host', env_prefix='HOST', policy='opt-out')\n"
        "try:\n    t.off(); print('stored')\n"
        "except OSError as e:\n    print('OSError:', str(e).splitlines()[1])\n"
    )
    import sys

    api = subprocess.run([sys.executable, "-c", code], env={**other.env, **on}, capture_output=True, text=True)
    assert api.stdout == (
        "OSError: Your choice could not be stored; until it is, set HOST_TELEMETRY=0 in your environment. "
        "Buffered data and the machine id were deleted.\n"
    ), api.stderr
    assert other.spool("host") == ""
