"""One record call from Python, with telemetry on: the mean over a million
calls of tally.record_command (the same path again, the steady state of a
REPL or server), tally.record_tool_call and the Telemetry method wrapper.
Budget: <= 1 us per call. Run in a temporary HOME (see startup.sh)."""

import os
import tempfile
import time
import timeit

home = tempfile.mkdtemp()
os.environ.update(HOME=home, XDG_CONFIG_HOME=home + "/c", XDG_STATE_HOME=home + "/s", BENCH_TELEMETRY="1")
os.environ.pop("DO_NOT_TRACK", None)
os.environ.pop("CI", None)

import tally  # noqa: E402

t = tally.Telemetry("bench", policy="opt-in", background_send=False)
assert t.enabled, t.status()
N = 1_000_000
rc = tally.record_command
rt = tally.record_tool_call
for label, stmt in [
    ("tally.record_command('build')", lambda: rc("build")),
    ("tally.record_tool_call('search', 'ok', 0.003)", lambda: rt("search", "ok", 0.003)),
    ("t.record_command('build') (method)", lambda: t.record_command("build")),
    ("empty lambda (the loop's own cost)", lambda: None),
]:
    # Wall time, and this process's CPU time, which a shared machine's
    # other load does not inflate.
    wall = min(timeit.repeat(stmt, number=N, repeat=3))
    cpu = min(timeit.Timer(stmt, timer=time.process_time).repeat(number=N, repeat=3))
    print(f"{label:48s} wall {wall / N * 1e9:5.0f} ns/call, cpu {cpu / N * 1e9:5.0f} ns/call")
