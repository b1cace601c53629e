# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_tally_global_optspecs
    string join \n no-telemetry app= h/help V/version
end

function __fish_tally_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_tally_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_tally_using_subcommand
    set -l cmd (__fish_tally_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c tally -n "__fish_tally_needs_command" -l app -d 'See the counts kept under this application name (`tally --app NAME telemetry status|show|flush|log`); consent and settings stay tally\'s. `run --app` and `report --app` take it after their own name too' -r
complete -c tally -n "__fish_tally_needs_command" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_needs_command" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_needs_command" -f -a "telemetry" -d 'See and change what tally itself collects, and exactly what it sends'
complete -c tally -n "__fish_tally_needs_command" -f -a "config" -d 'Get or set the telemetry choice under ToolHive\'s key, usage-analytics-enabled'
complete -c tally -n "__fish_tally_needs_command" -f -a "run" -d 'Run an MCP server behind a transparent stdio proxy that counts its tool calls'
complete -c tally -n "__fish_tally_needs_command" -f -a "serve" -d 'Run the ingest endpoint: validate posted batches against the schema and store them'
complete -c tally -n "__fish_tally_needs_command" -f -a "report" -d 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions'
complete -c tally -n "__fish_tally_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "status" -d 'Show whether telemetry is on, what decided it, and where its data lives'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "on" -d 'Turn telemetry on (stores your choice in the config file)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "off" -d 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "prompt" -d 'Ask whether to share usage statistics and store the answer (for installers)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "uninstall" -d 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "reset" -d 'Drop buffered data and replace the machine id with a new random one'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "flush" -d 'Send completed days now, in the foreground, and report what happened'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "show" -d 'Print exactly what the next send would post, and today\'s local counts'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "log" -d 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and not __fish_seen_subcommand_from status on off prompt uninstall reset flush show log help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from status" -l json -d 'Print machine-readable JSON'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from status" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from status" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from status" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from on" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from on" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from on" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from off" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from off" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from off" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from prompt" -l force -d 'Ask even if a choice was already made (the new answer replaces it)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from prompt" -l json -d 'Print the outcome as JSON on stdout (result: answered, already_decided, not_asked, no_answer)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from prompt" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from prompt" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from prompt" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from uninstall" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from uninstall" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from uninstall" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from reset" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from reset" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from reset" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from flush" -l json -d 'Print machine-readable JSON'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from flush" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from flush" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from flush" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from show" -l json -d 'Print machine-readable JSON'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from show" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from show" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from show" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from log" -l json -d 'Print machine-readable JSON'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from log" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from log" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from log" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "status" -d 'Show whether telemetry is on, what decided it, and where its data lives'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "on" -d 'Turn telemetry on (stores your choice in the config file)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "off" -d 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "prompt" -d 'Ask whether to share usage statistics and store the answer (for installers)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "uninstall" -d 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "reset" -d 'Drop buffered data and replace the machine id with a new random one'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "flush" -d 'Send completed days now, in the foreground, and report what happened'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "show" -d 'Print exactly what the next send would post, and today\'s local counts'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "log" -d 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
complete -c tally -n "__fish_tally_using_subcommand telemetry; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand config; and not __fish_seen_subcommand_from otel help" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand config; and not __fish_seen_subcommand_from otel help" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand config; and not __fish_seen_subcommand_from otel help" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand config; and not __fish_seen_subcommand_from otel help" -f -a "otel" -d 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
complete -c tally -n "__fish_tally_using_subcommand config; and not __fish_seen_subcommand_from otel help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -f -a "get" -d 'Print a key\'s stored value, or `unset` and what decides instead'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -f -a "set" -d 'Store a key\'s value (`set usage-analytics-enabled false` is `telemetry off`)'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -f -a "unset" -d 'Forget a key\'s stored value, so the default decides again'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from otel" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "otel" -d 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
complete -c tally -n "__fish_tally_using_subcommand config; and __fish_seen_subcommand_from help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand run" -l app -d 'Count under this application name instead of tally (its own consent and settings stay tally\'s; see them with `tally --app NAME telemetry show`)' -r
complete -c tally -n "__fish_tally_using_subcommand run" -l tool-names -d 'Count tool calls under their tool names (names must match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`; others count without a name). Off by default: only outcomes are counted'
complete -c tally -n "__fish_tally_using_subcommand run" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand run" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand run" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand serve" -l listen -d 'Address and port to listen on (port 0 picks a free one)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l db -d 'The SQLite store, created on first start [default: <data dir>/tally/store.sqlite3]' -r -F
complete -c tally -n "__fish_tally_using_subcommand serve" -l store -d 'The store as a URL: clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE (tables are created on first start; ?cluster=NAME for replicated tables on a ClickHouse cluster), clickhouse+https://…[?ca=PEM] (certificate checked) or sqlite:PATH; also read from TALLY_STORE [default: the SQLite store of --db]' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l store-password-file -d 'A file holding the ClickHouse password (a mounted Kubernetes Secret; one trailing newline is ignored); also TALLY_STORE_PASSWORD_FILE, or the password itself in TALLY_STORE_PASSWORD. A password in the URL wins' -r -F
complete -c tally -n "__fish_tally_using_subcommand serve" -l rate-limit -d 'Batches accepted per machine per minute (0: no limit)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l retention-days -d 'Days of data kept; older days are pruned at start and daily' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l max-connections -d 'Concurrent connections at most (the open-file limit is raised to fit); when all are taken, the connection idle the longest is closed to make room' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l max-connections-per-source -d 'Connections from one address at most; over that, its own oldest idle one makes room [default: half of --max-connections]' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l max-requests-per-connection -d 'Requests served on one keep-alive connection before it is closed' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l global-rate -d 'Batches per second accepted from everyone together; over it: 503 with Retry-After (0: no limit)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l source-rate -d 'Batches per second accepted from one address, which is kept in memory only as a keyed hash; over it: 429 with Retry-After (0: no limit)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l header-timeout -d 'Seconds a client has to send its request headers (and an idle connection is kept)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l body-timeout -d 'Seconds a client has to send its request body' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l sync -d 'full: every commit is synced to disk before the 204; normal: a commit survives a crash of tally, but the last ones may not survive a power loss' -r -f -a "normal\t'WAL, synchronous=NORMAL'
full\t'WAL, synchronous=FULL'"
complete -c tally -n "__fish_tally_using_subcommand serve" -l store-timeout -d 'Milliseconds the store has to acknowledge a batch (and ClickHouse to answer any statement); past it the batch gets 503, /readyz fails and batches get 503 at once until a probe of the store succeeds' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l wal-limit -d 'SQLite: the write-ahead log\'s size at which the writer truncates it (it stays below this plus one commit\'s pages while no reader holds an old snapshot)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l trusted-proxy -d 'A reverse proxy\'s address or range (CIDR, repeatable): from such a peer the client address for --source-rate is the rightmost untrusted hop of Forwarded or X-Forwarded-For; also read from TALLY_TRUSTED_PROXIES (comma-separated)' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l otlp-endpoint -d 'Also export what was accepted as OTLP/HTTP metrics to this collector URL (a URL without a path gets /v1/metrics); without it, OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT is used when set. Protocol, headers and resource attributes come from the OTEL_* variables; OTEL_SDK_DISABLED=true turns the export off' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l otlp-interval -d 'Seconds between OTLP exports' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l check -d 'Probe a running `tally serve` instead of starting one: GET this http:// URL (its /livez or /readyz) and exit 0 if it answers 200 within 5 seconds, 1 if not; a container\'s health check, where no shell or curl is at hand' -r
complete -c tally -n "__fish_tally_using_subcommand serve" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand serve" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c tally -n "__fish_tally_using_subcommand serve" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand report" -l app -d 'Show only this application' -r
complete -c tally -n "__fish_tally_using_subcommand report" -l db -d 'The SQLite store [default: <data dir>/tally/store.sqlite3]' -r -F
complete -c tally -n "__fish_tally_using_subcommand report" -l store -d 'The store as a URL: clickhouse://HOST:PORT/DATABASE (the aggregation runs inside ClickHouse) or sqlite:PATH; also read from TALLY_STORE' -r
complete -c tally -n "__fish_tally_using_subcommand report" -l since -d 'Start of the window: a number of days back (`30d`) or a date (`2026-11-01`)' -r
complete -c tally -n "__fish_tally_using_subcommand report" -l min-machines -d 'Rows backed by fewer distinct machines are folded into `other` (k-anonymity)' -r
complete -c tally -n "__fish_tally_using_subcommand report" -l html -d 'Write one self-contained HTML page (charts, changes against the previous period of the same length) to FILE, or to stdout with `-`' -r -F
complete -c tally -n "__fish_tally_using_subcommand report" -l json -d 'Print machine-readable JSON'
complete -c tally -n "__fish_tally_using_subcommand report" -l no-telemetry -d 'Disable telemetry for this run (nothing is recorded or sent)'
complete -c tally -n "__fish_tally_using_subcommand report" -s h -l help -d 'Print help'
complete -c tally -n "__fish_tally_using_subcommand report" -s V -l version -d 'Print version'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "telemetry" -d 'See and change what tally itself collects, and exactly what it sends'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "config" -d 'Get or set the telemetry choice under ToolHive\'s key, usage-analytics-enabled'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "run" -d 'Run an MCP server behind a transparent stdio proxy that counts its tool calls'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "serve" -d 'Run the ingest endpoint: validate posted batches against the schema and store them'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "report" -d 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions'
complete -c tally -n "__fish_tally_using_subcommand help; and not __fish_seen_subcommand_from telemetry config run serve report help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "status" -d 'Show whether telemetry is on, what decided it, and where its data lives'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "on" -d 'Turn telemetry on (stores your choice in the config file)'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "off" -d 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "prompt" -d 'Ask whether to share usage statistics and store the answer (for installers)'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "uninstall" -d 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "reset" -d 'Drop buffered data and replace the machine id with a new random one'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "flush" -d 'Send completed days now, in the foreground, and report what happened'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "show" -d 'Print exactly what the next send would post, and today\'s local counts'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from telemetry" -f -a "log" -d 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
complete -c tally -n "__fish_tally_using_subcommand help; and __fish_seen_subcommand_from config" -f -a "otel" -d 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
