#!/usr/bin/env python3
"""Worst-case memory of `tally serve` under chosen names and forged ids.

Starts a release `tally serve` on loopback with a fresh store and every
admission limit off (so the flood reaches the caches), then measures the
server's resident memory (VmRSS, and VmHWM for the peak):

1. after CRAFTED batches, each carrying ~400 distinct, maximal-length command
   names and a fresh machine id (the "chosen names" attack);
2. after FORGED more batches, each with a fresh machine id (the "forged ids"
   attack, which also fills the per-machine rate limiter's map);
3. after a restart on the same store (nothing is reloaded wholesale);
4. `tally report --json` over that store: wall time and peak memory.

Only 127.0.0.1 is contacted. Python standard library only.
Usage: python3 scripts/memory.py [--tally target/release/tally] [--crafted 1000] [--forged 200000]
"""

import argparse
import datetime
import http.client
import json
import os
import random
import string
import subprocess
import sys
import tempfile
import threading
import time
import uuid


def rss_kib(pid):
    fields = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            fields[k] = v.strip()
    return int(fields["VmRSS"].split()[0]), int(fields["VmHWM"].split()[0])


def start(tally, db):
    p = subprocess.Popen(
        [tally, "serve", "--listen", "127.0.0.1:0", "--db", db, "--rate-limit", "6",
         "--source-rate", "0", "--global-rate", "0", "--sync", "normal"],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        env={**os.environ, "TALLY_TELEMETRY": "0"}, text=True)
    while True:
        line = p.stderr.readline()
        if not line:
            sys.exit("tally serve exited before listening")
        if "listening on http://" in line:
            addr = line.split("http://")[1].split("/")[0]
            threading.Thread(target=lambda: [None for _ in p.stderr], daemon=True).start()
            host, port = addr.rsplit(":", 1)
            return p, host, int(port)


def word(rng):
    return rng.choice(string.ascii_lowercase) + "".join(
        rng.choice(string.ascii_lowercase + string.digits) for _ in range(31))


def envelope():
    return {"app": "demo", "app_version": "1.0.0", "os": "linux", "arch": "x86_64",
            "ci": False, "schema": 1, "machine_id": str(uuid.uuid4()),
            "batch_id": str(uuid.uuid4())}


def post_all(host, port, bodies, threads=4):
    """Posts every body over keep-alive connections; returns status counts."""
    statuses = {}
    lock = threading.Lock()
    it = iter(bodies)

    def worker():
        conn = http.client.HTTPConnection(host, port, timeout=30)
        while True:
            with lock:
                body = next(it, None)
            if body is None:
                return
            for _ in range(3):
                try:
                    conn.request("POST", "/v1/batch", body, {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                    if r.getheader("connection") == "close":
                        conn.close()
                    break
                except (ConnectionError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection(host, port, timeout=30)
            with lock:
                statuses[r.status] = statuses.get(r.status, 0) + 1

    ts = [threading.Thread(target=worker) for _ in range(threads)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return statuses


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tally", default="target/release/tally")
    ap.add_argument("--crafted", type=int, default=1000)
    ap.add_argument("--forged", type=int, default=200_000)
    a = ap.parse_args()
    rng = random.Random(7)
    day = (datetime.date.today() - datetime.timedelta(days=1)).isoformat()
    with tempfile.TemporaryDirectory() as d:
        db = os.path.join(d, "store.sqlite3")
        p, host, port = start(a.tally, db)
        time.sleep(0.5)
        base = rss_kib(p.pid)[0]
        print(f"start: RSS {base / 1024:.1f} MiB")

        def crafted():
            for _ in range(a.crafted):
                names = [" ".join(word(rng) for _ in range(4)) for _ in range(400)]
                yield json.dumps({"envelope": envelope(), "events": [
                    {"type": "usage_rollup", "day": day,
                     "commands": [{"command": n, "count": 1} for n in names]}]})

        st = post_all(host, port, crafted())
        rss, hwm = rss_kib(p.pid)
        print(f"after {a.crafted} crafted batches (~{a.crafted * 400} distinct names) {st}: "
              f"RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f}), +{(rss - base) / 1024:.1f} MiB")

        def forged(n):
            for i in range(n):
                yield json.dumps({"envelope": envelope(), "events": [
                    {"type": "usage_rollup", "day": day,
                     "commands": [{"command": "build", "count": 1}]}]})

        # In rounds, to show where memory levels off.
        t = time.time()
        done = 0
        step = max(a.forged // 3, 1)
        while done < a.forged:
            n = min(step, a.forged - done)
            st = post_all(host, port, forged(n))
            done += n
            rss, hwm = rss_kib(p.pid)
            print(f"after {done} batches with forged machine ids {st} ({time.time() - t:.0f} s): "
                  f"RSS {rss / 1024:.1f} MiB (peak {hwm / 1024:.1f}), +{(rss - base) / 1024:.1f} MiB")
        p.terminate()
        p.wait()

        p, host, port = start(a.tally, db)
        time.sleep(0.5)
        print(f"restart on that store: RSS {rss_kib(p.pid)[0] / 1024:.1f} MiB")
        p.terminate()
        p.wait()

        t = time.time()
        r = subprocess.Popen([a.tally, "report", "--json", "--db", db, "--since", "30d"],
                             stdout=subprocess.DEVNULL,
                             env={**os.environ, "TALLY_TELEMETRY": "0"})
        _, status, usage = os.wait4(r.pid, 0)
        took = time.time() - t
        if status != 0:
            sys.exit("tally report failed")
        print(f"report over that store: {took:.2f} s, peak RSS {usage.ru_maxrss / 1024:.1f} MiB")


if __name__ == "__main__":
    main()
