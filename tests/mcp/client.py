"""Drives an MCP server over stdio with the official MCP Python SDK, the
way a real client would, and prints what it saw as JSON on stdout.

usage: client.py PREFIX -- CMD [ARGS...]

The server is started through record.py (next to this file), which
records the raw bytes of both directions to PREFIX.c2s and PREFIX.s2c.
The scenario: initialize, list the tools, two successful calls, a call
with invalid arguments (a result with isError), a call of a tool that does
not exist (also isError with the TypeScript SDK's McpServer), and a
larger result (the tiny image). The whole environment is passed on, so
TALLY_* and XDG_* reach `tally run`.
"""

import json
import os
import sys

import anyio
from mcp import ClientSession, StdioServerParameters, stdio_client

CALLS = [
    ("echo", {"message": "hello through the proxy"}),
    ("get-sum", {"a": 2, "b": 40}),
    ("get-sum", {"a": "two"}),
    ("no-such-tool", {}),
    ("get-tiny-image", {}),
]


async def run(prefix, cmd):
    here = os.path.dirname(os.path.abspath(__file__))
    params = StdioServerParameters(
        command=sys.executable,
        args=[os.path.join(here, "record.py"), prefix, "--", *cmd],
        env=dict(os.environ),
    )
    async with stdio_client(params) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            tools = await session.list_tools()
            calls = []
            for name, arguments in CALLS:
                result = await session.call_tool(name, arguments)
                first = result.content[0] if result.content else None
                calls.append(
                    {
                        "name": name,
                        "is_error": bool(result.is_error),
                        "text": getattr(first, "text", None),
                    }
                )
    return {
        "server": init.server_info.name,
        "protocol_version": init.protocol_version,
        "tools": [t.name for t in tools.tools],
        "calls": calls,
    }


def main():
    args = sys.argv[1:]
    if len(args) < 3 or args[1] != "--":
        sys.exit("usage: client.py PREFIX -- CMD [ARGS...]")
    summary = anyio.run(run, args[0], args[2:])
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
