#!/usr/bin/env python3
"""Where a binary's growth goes, by crate: compares two unstripped builds of
the same host (say, with and without a feature) symbol by symbol (`nm -S`)
and prints the crates whose code and data grew most.

Usage: python3 scripts/size_by_crate.py BIGGER SMALLER [N]

Both binaries need their symbols; build them with the same profile, e.g.

    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_LTO=true \\
      CALLGRIND_KEEP=/tmp/tls CALLGRIND_FEATURES='"clap", "prompt", "rustls"' \\
      bash scripts/callgrind.sh
    CARGO_PROFILE_RELEASE_STRIP=false CARGO_PROFILE_RELEASE_LTO=true \\
      CALLGRIND_KEEP=/tmp/plain CALLGRIND_FEATURES='"clap", "prompt"' \\
      bash scripts/callgrind.sh
    python3 scripts/size_by_crate.py /tmp/tls/mytool-with /tmp/plain/mytool-with

A Rust symbol counts for the crate that opens its path (`rustls::…`, or the
type of `<rustls::X as core::fmt::Debug>::fmt`); generic code of core,
alloc and std instantiated for another crate's types counts as core, alloc
or std. A symbol without a Rust path is C or assembly: ring's exported
`ring_core_…` functions count for ring, its static functions and tables
(`ecp_nistz256_precomputed`, 148 KiB) for "no crate path".
Anonymous data (string literals, panic locations), relocation tables and
unwind tables have no symbol: they are the "not attributed" line, the
stripped file's growth less what the symbols explain.
"""

import collections
import os
import re
import subprocess
import sys
import tempfile


def crate_of(name: str) -> str:
    """The crate a demangled symbol name belongs to."""
    if name.startswith("ring_core_"):
        return "ring (C, asm)"
    n = re.sub(r"^(<|_<|&|\*const |\*mut |dyn |vtable for )+", "", name)
    m = re.match(r"([A-Za-z_][A-Za-z0-9_]*)(::)?", n)
    if not m:
        return "(other)"
    if m.group(2):
        return m.group(1)
    if "::" in n or "<" in n:
        # A generic parameter (`<T as …>`): code instantiated for some type.
        return "(generic)"
    return "C, asm: no crate path"


def sizes(path: str) -> collections.Counter:
    out = subprocess.run(
        ["nm", "-S", "--defined-only", "-C", path],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    c: collections.Counter = collections.Counter()
    for line in out.splitlines():
        parts = line.split(" ", 3)
        if len(parts) < 4:
            continue
        try:
            size = int(parts[1], 16)
        except ValueError:
            continue
        kind = "code" if parts[2] in "tTwW" else "data"
        c[(crate_of(parts[3]), kind)] += size
    return c


def stripped_size(path: str) -> int:
    """The size of `path` once stripped, as a host ships it."""
    with tempfile.TemporaryDirectory() as d:
        out = os.path.join(d, "stripped")
        subprocess.run(["strip", "-o", out, path], check=True)
        return os.path.getsize(out)


def main() -> int:
    if len(sys.argv) not in (3, 4):
        print(__doc__, file=sys.stderr)
        return 2
    bigger, smaller = sys.argv[1], sys.argv[2]
    top = int(sys.argv[3]) if len(sys.argv) == 4 else 20
    a, b = sizes(bigger), sizes(smaller)
    if not a or not b:
        print("a binary has no symbols: build it with CARGO_PROFILE_RELEASE_STRIP=false", file=sys.stderr)
        return 1
    grew: collections.Counter = collections.Counter()
    for key in set(a) | set(b):
        grew[key] = a[key] - b[key]
    file_growth = stripped_size(bigger) - stripped_size(smaller)
    print(f"{'crate':<32} {'code (B)':>10} {'data (B)':>10}")
    by_crate: collections.Counter = collections.Counter()
    for (crate, _), v in grew.items():
        by_crate[crate] += v
    for crate, _ in by_crate.most_common(top):
        print(f"{crate:<32} {grew[(crate, 'code')]:>+10} {grew[(crate, 'data')]:>+10}")
    explained = sum(grew.values())
    print(f"{'all symbols':<32} {explained:>+21}")
    print(f"{'not attributed':<32} {file_growth - explained:>+21}")
    print(f"{'stripped file':<32} {file_growth:>+21} ({file_growth / 2**20:.3f} MiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
