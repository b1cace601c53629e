"""The conformance vectors of ../../conformance, generated from the Rust
library, run through this package's public API: each consent, file and
spool case in a child process of its own (the environment is the case's,
the files are real files in a temporary directory, a flush posts to a real
loopback listener); the schema's rules through ``tally.schema``. A file
there that no runner here knows fails: a new kind of case is never skipped
by accident."""

from __future__ import annotations

import http.server
import json
import re
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

import tally
from tally import schema

DIR = Path(__file__).resolve().parents[3] / "conformance"

# The child: one Telemetry for app "demo" as the case describes it; prints
# its status (``telemetry status --json``) and, for a spool case, what
# ``telemetry flush --json`` printed and its exit code.
CHILD = """
import json, sys
import tally
spec = json.loads(sys.argv[1])
t = tally.Telemetry(
    "demo", env_prefix="DEMO", policy="opt-in" if spec.get("opt_in") else "opt-out",
    policy_file=spec["policy_file"], no_telemetry=bool(spec.get("flag")),
    version=spec.get("version"), endpoint=spec.get("endpoint"), background_send=False,
)
out = {"status": json.loads(t.run_command(["status", "--json"]).stdout)}
if spec.get("flush"):
    r = t.run_command(["flush", "--json"])
    out["flush"] = {"code": r.code, "result": json.loads(r.stdout)["result"]}
sys.stdout.write(json.dumps(out))
"""


class Sandbox:
    """Real files for a case under a fresh temporary directory; the
    environment is the case's plus the locations (which decide nothing)."""

    def __init__(self, case: dict) -> None:
        self._tmp = tempfile.TemporaryDirectory(prefix="tally-conf-")
        root = Path(self._tmp.name)
        self.policy_file = root / "policy.toml"
        if case.get("policy") is not None:
            self.policy_file.write_text(case["policy"])
        self.config_file = root / "config" / "demo" / "telemetry.toml"
        if case.get("config") is not None:
            self.config_file.parent.mkdir(parents=True, mode=0o700)
            self.config_file.write_text(case["config"])
            self.config_file.chmod(0o600)
        self.state_dir = root / "state"
        self.env = dict(case.get("env") or {})
        self.env.update(
            HOME=str(root),
            XDG_CONFIG_HOME=str(root / "config"),
            XDG_STATE_HOME=str(root / "xdg-state"),
            DEMO_TELEMETRY_DIR=str(self.state_dir),
        )

    def child(self, **spec: object) -> dict:
        spec["policy_file"] = str(self.policy_file)
        r = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(spec)],
            env=self.env, capture_output=True, text=True, timeout=60,
        )
        assert r.returncode == 0, r.stderr
        return json.loads(r.stdout)

    def close(self) -> None:
        self._tmp.cleanup()


def decide(case: dict) -> dict:
    sb = Sandbox(case)
    try:
        status = sb.child(opt_in=case.get("opt_in"), flag=case.get("flag"))["status"]
        assert status["config_path"] == str(sb.config_file), "the consent file is where the case put it"
        return status
    finally:
        sb.close()


# The proxy a send takes does not show in the status; whether its setting is
# unusable does (as the endpoint's problem), and is checked here.
def run_proxy(c: dict) -> tuple:
    sb = Sandbox(c)
    try:
        status = sb.child(endpoint=c["endpoint"])["status"]
        return {"unusable": status["endpoint_problem"] is not None}, {"unusable": c["want"]["unusable"]}
    finally:
        sb.close()


def run_precedence(c: dict) -> tuple:
    s = decide(c)
    return {"enabled": s["enabled"], "decided_by": s["decided_by"]}, c["want"]


# What the status shows of a file: the decision and endpoint always; for the
# consent file whether it parsed, for the policy file the rotation it sets
# (its other values show in the decision and endpoint).
def run_consent_file(c: dict) -> tuple:
    s = decide({"config": c["text"]})
    w = c["want"]
    got = {"valid": s["config_state"] == "loaded", "enabled": s["enabled"],
           "decided_by": s["decided_by"], "endpoint": s["endpoint"]}
    want = {"valid": w["valid"], "enabled": w["enabled"], "decided_by": w["decided_by"], "endpoint": w["endpoint"]}
    return got, want


def run_policy_file(c: dict) -> tuple:
    s = decide({"policy": c["text"]})
    w = c["want"]
    got = {"enabled": s["enabled"], "decided_by": s["decided_by"], "endpoint": s["endpoint"]}
    want = {"enabled": w["enabled"], "decided_by": w["decided_by"], "endpoint": w["endpoint"]}
    if w["valid"]:
        got["rotation"] = s["machine_id_rotation"]
        want["rotation"] = w["values"]["rotate_machine_id"] or "never"
    return got, want


class Ids:
    """The normalisation of random ids that conformance/README.md describes."""

    def __init__(self, keep: list) -> None:
        self.keep = keep
        self.machines: list = []
        self.batches: list = []

    @staticmethod
    def number(seen: list, id: str) -> int:
        if id not in seen:
            seen.append(id)
        return seen.index(id)

    def body(self, text: str) -> str:
        e = json.loads(text)["envelope"]
        out = text.replace(e["batch_id"], f"<batch_id:{self.number(self.batches, e['batch_id'])}>")
        if e["machine_id"] not in self.keep:
            out = out.replace(e["machine_id"], f"<machine_id:{self.number(self.machines, e['machine_id'])}>")
        out = out.replace(f'"os":"{e["os"]}"', '"os":"<os>"', 1)
        return out.replace(f'"arch":"{e["arch"]}"', '"arch":"<arch>"', 1)

    def spool(self, text: str) -> str:
        out = text
        for line in text.split("\n"):
            m = re.search(r'"b":"([^"]*)"', line)
            if m:
                out = out.replace(m.group(1), f"<batch_id:{self.number(self.batches, m.group(1))}>")
        return out


def run_batches(c: dict) -> tuple:
    bodies: list = []

    class Receiver(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (the http.server name)
            bodies.append(self.rfile.read(int(self.headers["Content-Length"])).decode())
            self.send_response(c["status"])
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    sb = Sandbox(c)
    try:
        sb.state_dir.mkdir(mode=0o700)
        spool = sb.state_dir / "spool.jsonl"
        spool.write_text(c["spool"])
        spool.chmod(0o600)
        sb.env["DEMO_TELEMETRY_NOW"] = c["now"]
        out = sb.child(version=c["version"], flush=True,
                       endpoint=f"http://127.0.0.1:{server.server_address[1]}/v1/batch")
        ids = Ids(list(c["env"].values()))
        got = {
            "result": out["flush"]["result"],
            "exit_code": out["flush"]["code"],
            "batches": [ids.body(b) for b in bodies],
            # A spool with nothing left may be gone: that is an empty spool.
            "spool_after": ids.spool(spool.read_text() if spool.exists() else ""),
        }
        return got, c["want"]
    finally:
        server.shutdown()
        server.server_close()
        sb.close()


def run_validation(c: dict) -> tuple:
    v = schema.validate_batch(c["body"], c["today"])
    if v.get("reason", "").startswith("body is not JSON: "):
        v["reason"] = "body is not JSON"
    return v, c["want"]


BUCKETS = {
    "outcome": schema.outcome_from_exit_code,
    "duration": schema.duration_bucket,
    "latency": schema.latency_bucket,
    "count": schema.count_bucket,
    "uptime": schema.uptime_bucket,
}

NAMES = {
    "command_path": lambda s: schema.matches("command_path", s),
    "tool_name": lambda s: schema.matches("tool_name", s),
    "app_name": lambda s: schema.matches("app_name", s),
    "version": lambda s: schema.matches("version", s),
    "client_name": schema.client_name,
    "major_version": schema.major_version,
}


def run_bucket(c: dict) -> tuple:
    assert c["kind"] in BUCKETS, f"no Python runner for bucket kind {c['kind']}"
    return BUCKETS[c["kind"]](c["input"]), c["want"]


def run_name(c: dict) -> tuple:
    assert c["kind"] in NAMES, f"no Python runner for name kind {c['kind']}"
    return NAMES[c["kind"]](c["input"]), c["want"]


RUNNERS = {
    "consent/precedence.json": run_precedence,
    "files/consent_file.json": run_consent_file,
    "files/policy_file.json": run_policy_file,
    "spool/batches.json": run_batches,
    "spool/proxy.json": run_proxy,
    "schema/validation.json": run_validation,
    "schema/buckets.json": run_bucket,
    "schema/names.json": run_name,
}

FILES = sorted(str(p.relative_to(DIR)).replace("\\", "/") for p in DIR.glob("*/*.json"))


def test_every_conformance_file_has_a_python_runner() -> None:
    assert FILES, f"no conformance cases under {DIR}"
    assert [f for f in FILES if f not in RUNNERS] == []


@pytest.mark.parametrize("file", [f for f in FILES if f in RUNNERS])
def test_conformance(file: str) -> None:
    if file.startswith("spool/"):
        # The cases pin the clock with DEMO_TELEMETRY_NOW, which only a debug
        # build honours (scripts/test_bindings.sh installs one).
        assert tally.test_hooks(), "the conformance spool cases need a debug build of the package"
    cases = json.loads((DIR / file).read_text())
    assert cases, f"{file}: no cases"
    failures = []
    for c in cases:
        got, want = RUNNERS[file](c)
        if got != want:
            name = c.get("name") or f"{c.get('kind')} {c.get('input')!r}"
            failures.append(f"{name}:\n  got  {json.dumps(got)}\n  want {json.dumps(want)}")
    assert not failures, f"{file}: {len(failures)} of {len(cases)} cases differ:\n" + "\n".join(failures)
