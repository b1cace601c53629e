"""A recording shim: `record.py PREFIX -- CMD [ARGS...]` runs CMD with its
stdin and stdout piped through this process, copies every byte on
unchanged, and appends each direction, raw, to PREFIX.c2s (client to
server) and PREFIX.s2c (server to client). stderr passes through. The exit
code is CMD's.

The integration tests put it between the official MCP Python SDK and the
server, once with the server directly and once with `tally run` in front,
and compare the recordings byte for byte.
"""

import os
import subprocess
import sys
import threading


def pump(src, dst, path):
    with open(path, "wb") as log:
        while True:
            chunk = os.read(src.fileno(), 65536)
            if not chunk:
                break
            log.write(chunk)
            log.flush()
            try:
                dst.write(chunk)
                dst.flush()
            except BrokenPipeError:
                break
    try:
        dst.close()
    except BrokenPipeError:
        pass


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: record.py PREFIX -- CMD [ARGS...]")
    prefix, cmd = args[0], args[2:]
    child = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    to_server = threading.Thread(
        target=pump, args=(sys.stdin.buffer, child.stdin, prefix + ".c2s"), daemon=True
    )
    to_server.start()
    pump(child.stdout, sys.stdout.buffer, prefix + ".s2c")
    sys.exit(child.wait())


if __name__ == "__main__":
    main()
