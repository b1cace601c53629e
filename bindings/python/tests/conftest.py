"""Fixtures for the Python package's tests: real CLIs written here and run as
child processes in a temporary HOME with its own XDG directories and an
environment cleared of everything but PATH (so the machine's own CI,
DO_NOT_TRACK or config never count), a real ``tally serve`` on loopback, and
the example Rust host of the repository, built from source."""

from __future__ import annotations

import datetime
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import tally

REPO = Path(__file__).resolve().parents[3]
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))

# The test CLI: an argparse tool with nested commands, an exit through
# sys.exit, a bare record call without the helpers, and a foreground send.
CLI = textwrap.dedent(
    """
    import argparse, os, sys, time
    import tally, tally.argparse

    app = os.environ.get("TEST_APP", "pyapp")
    t = tally.Telemetry(
        app,
        version=os.environ.get("TEST_VERSION", "1.2.3"),
        env_prefix=os.environ.get("TEST_PREFIX", "PYAPP"),
        policy=os.environ.get("TEST_POLICY", "opt-out"),
        docs_url=f"https://example.invalid/{app}/TELEMETRY.md",
        # `flush` sends in the foreground; no background send to race with it.
        background_send=sys.argv[1:2] != ["flush"],
        # The declarations, from the environment so one CLI tries each.
        tool_calls=os.environ.get("TEST_TOOL_CALLS") == "1",
        facts=os.environ.get("TEST_FACTS") == "1",
        rename_commands=dict([os.environ["TEST_RENAME"].split("=")]) if "TEST_RENAME" in os.environ else None,
        outcome_for_exit={int(os.environ["TEST_EXIT_OK"]): "success"} if "TEST_EXIT_OK" in os.environ else None,
    )
    if len(sys.argv) > 1 and sys.argv[1] == "bare":
        # No helper: the atexit hook persists; the open command counts as unknown.
        t.record_command("bare")
        sys.exit(int(sys.argv[2]))

    def build(a):
        print("built")

    def wait(a):
        time.sleep(a.ms / 1000)
        print("waited")

    parser = argparse.ArgumentParser(prog="pyapp")
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("target", nargs="?")
    b.set_defaults(func=build)
    sub.add_parser("fail").set_defaults(func=lambda a: 1)
    e = sub.add_parser("exit")
    e.add_argument("code", type=int)
    e.set_defaults(func=lambda a: sys.exit(a.code))
    cache = sub.add_parser("cache").add_subparsers(dest="cache_cmd", required=True)
    cache.add_parser("clean").set_defaults(func=lambda a: print("cleaned"))
    w = sub.add_parser("wait")
    w.add_argument("ms", type=int)
    w.set_defaults(func=wait)
    sub.add_parser("flush").set_defaults(func=lambda a: t.shutdown())

    def mcp(a):
        tally.record_client("claude-code", "1.2.0")
        tally.record_tool_call("search", "ok", 0.003)
        tally.set_fact("auth_type", "oidc")

    sub.add_parser("mcp").set_defaults(func=mcp)
    tally.argparse.add_telemetry_command(sub, t)
    sys.exit(tally.argparse.run(t, parser))
    """
)


# A release build (a plain `pip install`) ignores <APP>_TELEMETRY_NOW, the
# test clock; the tests that need a completed day skip there.
needs_clock = pytest.mark.skipif(
    not tally.test_hooks(),
    reason="a release build ignores <APP>_TELEMETRY_NOW (the test clock); "
    "install a debug build to run this: MATURIN_PEP517_ARGS='--profile dev' pip install ./bindings/python",
)

# The environment under which the test CLI is the same application as the
# Rust example host: its name, prefix, version (the root crate's), policy
# and docs URL.
AS_HOST = {"TEST_APP": "host", "TEST_PREFIX": "HOST", "TEST_VERSION": "0.1.0"}

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def normalized(r: subprocess.CompletedProcess, root: Path) -> tuple:
    """What may differ between two sandboxes' runs of the same steps taken
    out: the sandbox path, random ids and the time."""

    def clean(s: str) -> str:
        return TIME.sub("<time>", UUID.sub("<uuid>", s.replace(str(root), "<root>")))

    return (r.returncode, clean(r.stdout), clean(r.stderr))


def today(offset: int = 0) -> str:
    d = datetime.datetime.now(datetime.timezone.utc).date() + datetime.timedelta(days=offset)
    return d.isoformat()


def cargo_bin(rel: str) -> Path:
    """A binary of the repository's root crate, built on first use."""
    path = TARGET / "debug" / rel
    if not path.exists():
        subprocess.run(["cargo", "build", "--locked", "--bin", "tally"], cwd=REPO, check=True)
        # The example host is the library's, built with every host feature.
        subprocess.run(
            ["cargo", "build", "--locked", "-p", "tally-telemetry",
             "--features", "clap,prompt,rustls,otlp,rmcp", "--example", "host"],
            cwd=REPO,
            check=True,
        )
    return path


class Sandbox:
    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "home").mkdir()
        self.cli = root / "cli.py"
        self.cli.write_text(CLI)
        self.env = {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(root / "home"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_CACHE_HOME": str(root / "cache"),
            # Policy files that do not exist, so the machine's /etc never counts.
            "PYAPP_POLICY_FILE": str(root / "policy.toml"),
            "HOST_POLICY_FILE": str(root / "host-policy.toml"),
            "TALLY_POLICY_FILE": str(root / "tally-policy.toml"),
            "PYTHONDONTWRITEBYTECODE": "1",
        }
        # The interpreter under test must find the installed package.
        for k in ("VIRTUAL_ENV", "PYTHONPATH"):
            if k in os.environ:
                self.env[k] = os.environ[k]

    def run(self, *args: str, env: dict | None = None, prefix: list | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(
            (prefix or []) + [sys.executable, str(self.cli), *args],
            env={**self.env, **(env or {})},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def host(self, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
        """The repository's Rust example host (app "host", prefix HOST) with
        this sandbox's environment."""
        return subprocess.run(
            [str(cargo_bin("examples/host")), *args],
            env={**self.env, **(env or {})},
            cwd=self.root,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=60,
        )

    def spool(self, app: str = "pyapp") -> str:
        p = self.root / "state" / app / "spool.jsonl"
        return p.read_text() if p.exists() else ""

    def files(self) -> list:
        return sorted(str(p.relative_to(self.root)) for p in self.root.rglob("*") if p.is_file())


@pytest.fixture
def sb(tmp_path: Path) -> Sandbox:
    return Sandbox(tmp_path)


class Server:
    """A real `tally serve` on a free loopback port."""

    def __init__(self, sb: Sandbox) -> None:
        self.db = sb.root / "server.sqlite3"
        self.sb = sb
        self.proc = subprocess.Popen(
            [str(cargo_bin("tally")), "serve", "--listen", "127.0.0.1:0", "--db", str(self.db)],
            env=sb.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.log = ""
        deadline = time.time() + 30
        while time.time() < deadline:
            line = self.proc.stderr.readline()
            if not line:
                raise AssertionError(f"tally serve exited before listening: {self.log}")
            self.log += line
            m = re.search(r"listening on (http://[^\s]+)", line)
            if m:
                self.url = m.group(1)
                return
        raise AssertionError("tally serve did not listen in time")

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)

    def report(self) -> dict:
        out = subprocess.run(
            [str(cargo_bin("tally")), "report", "--db", str(self.db), "--json", "--min-machines", "1", "--since", "30d"],
            env=self.sb.env,
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(out.stdout)


@pytest.fixture
def server(sb: Sandbox):
    s = Server(sb)
    yield s
    if s.proc.poll() is None:
        s.stop()


def strace() -> str:
    path = shutil.which("strace")
    if not path:
        pytest.fail("strace is needed for the off-is-off test (apt-get install strace)")
    return path
