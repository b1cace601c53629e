
use builtin;
use str;

set edit:completion:arg-completer[tally] = {|@words|
    fn spaces {|n|
        builtin:repeat $n ' ' | str:join ''
    }
    fn cand {|text desc|
        edit:complex-candidate $text &display=$text' '(spaces (- 14 (wcswidth $text)))$desc
    }
    var command = 'tally'
    for word $words[1..-1] {
        if (str:has-prefix $word '-') {
            break
        }
        set command = $command';'$word
    }
    var completions = [
        &'tally'= {
            cand --app 'See the counts kept under this application name (`tally --app NAME telemetry status|show|flush|log`); consent and settings stay tally''s. `run --app` and `report --app` take it after their own name too'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
            cand telemetry 'See and change what tally itself collects, and exactly what it sends'
            cand config 'Get or set the telemetry choice under ToolHive''s key, usage-analytics-enabled'
            cand run 'Run an MCP server behind a transparent stdio proxy that counts its tool calls'
            cand serve 'Run the ingest endpoint: validate posted batches against the schema and store them'
            cand report 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;telemetry'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand status 'Show whether telemetry is on, what decided it, and where its data lives'
            cand on 'Turn telemetry on (stores your choice in the config file)'
            cand off 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
            cand prompt 'Ask whether to share usage statistics and store the answer (for installers)'
            cand uninstall 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
            cand reset 'Drop buffered data and replace the machine id with a new random one'
            cand flush 'Send completed days now, in the foreground, and report what happened'
            cand show 'Print exactly what the next send would post, and today''s local counts'
            cand log 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;telemetry;status'= {
            cand --json 'Print machine-readable JSON'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;on'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;off'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;prompt'= {
            cand --force 'Ask even if a choice was already made (the new answer replaces it)'
            cand --json 'Print the outcome as JSON on stdout (result: answered, already_decided, not_asked, no_answer)'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;uninstall'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;reset'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;flush'= {
            cand --json 'Print machine-readable JSON'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;show'= {
            cand --json 'Print machine-readable JSON'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;log'= {
            cand --json 'Print machine-readable JSON'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;telemetry;help'= {
            cand status 'Show whether telemetry is on, what decided it, and where its data lives'
            cand on 'Turn telemetry on (stores your choice in the config file)'
            cand off 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
            cand prompt 'Ask whether to share usage statistics and store the answer (for installers)'
            cand uninstall 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
            cand reset 'Drop buffered data and replace the machine id with a new random one'
            cand flush 'Send completed days now, in the foreground, and report what happened'
            cand show 'Print exactly what the next send would post, and today''s local counts'
            cand log 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;telemetry;help;status'= {
        }
        &'tally;telemetry;help;on'= {
        }
        &'tally;telemetry;help;off'= {
        }
        &'tally;telemetry;help;prompt'= {
        }
        &'tally;telemetry;help;uninstall'= {
        }
        &'tally;telemetry;help;reset'= {
        }
        &'tally;telemetry;help;flush'= {
        }
        &'tally;telemetry;help;show'= {
        }
        &'tally;telemetry;help;log'= {
        }
        &'tally;telemetry;help;help'= {
        }
        &'tally;config'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand otel 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;config;otel'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
            cand get 'Print a key''s stored value, or `unset` and what decides instead'
            cand set 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)'
            cand unset 'Forget a key''s stored value, so the default decides again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;config;otel;get'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;config;otel;set'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;config;otel;unset'= {
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;config;otel;help'= {
            cand get 'Print a key''s stored value, or `unset` and what decides instead'
            cand set 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)'
            cand unset 'Forget a key''s stored value, so the default decides again'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;config;otel;help;get'= {
        }
        &'tally;config;otel;help;set'= {
        }
        &'tally;config;otel;help;unset'= {
        }
        &'tally;config;otel;help;help'= {
        }
        &'tally;config;help'= {
            cand otel 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;config;help;otel'= {
            cand get 'Print a key''s stored value, or `unset` and what decides instead'
            cand set 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)'
            cand unset 'Forget a key''s stored value, so the default decides again'
        }
        &'tally;config;help;otel;get'= {
        }
        &'tally;config;help;otel;set'= {
        }
        &'tally;config;help;otel;unset'= {
        }
        &'tally;config;help;help'= {
        }
        &'tally;run'= {
            cand --app 'Count under this application name instead of tally (its own consent and settings stay tally''s; see them with `tally --app NAME telemetry show`)'
            cand --tool-names 'Count tool calls under their tool names (names must match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`; others count without a name). Off by default: only outcomes are counted'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;serve'= {
            cand --listen 'Address and port to listen on (port 0 picks a free one)'
            cand --db 'The SQLite store, created on first start [default: <data dir>/tally/store.sqlite3]'
            cand --store 'The store as a URL: clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE (tables are created on first start; ?cluster=NAME for replicated tables on a ClickHouse cluster), clickhouse+https://…[?ca=PEM] (certificate checked) or sqlite:PATH; also read from TALLY_STORE [default: the SQLite store of --db]'
            cand --store-password-file 'A file holding the ClickHouse password (a mounted Kubernetes Secret; one trailing newline is ignored); also TALLY_STORE_PASSWORD_FILE, or the password itself in TALLY_STORE_PASSWORD. A password in the URL wins'
            cand --rate-limit 'Batches accepted per machine per minute (0: no limit)'
            cand --retention-days 'Days of data kept; older days are pruned at start and daily'
            cand --max-connections 'Concurrent connections at most (the open-file limit is raised to fit); when all are taken, the connection idle the longest is closed to make room'
            cand --max-connections-per-source 'Connections from one address at most; over that, its own oldest idle one makes room [default: half of --max-connections]'
            cand --max-requests-per-connection 'Requests served on one keep-alive connection before it is closed'
            cand --global-rate 'Batches per second accepted from everyone together; over it: 503 with Retry-After (0: no limit)'
            cand --source-rate 'Batches per second accepted from one address, which is kept in memory only as a keyed hash; over it: 429 with Retry-After (0: no limit)'
            cand --header-timeout 'Seconds a client has to send its request headers (and an idle connection is kept)'
            cand --body-timeout 'Seconds a client has to send its request body'
            cand --sync 'full: every commit is synced to disk before the 204; normal: a commit survives a crash of tally, but the last ones may not survive a power loss'
            cand --store-timeout 'Milliseconds the store has to acknowledge a batch (and ClickHouse to answer any statement); past it the batch gets 503, /readyz fails and batches get 503 at once until a probe of the store succeeds'
            cand --wal-limit 'SQLite: the write-ahead log''s size at which the writer truncates it (it stays below this plus one commit''s pages while no reader holds an old snapshot)'
            cand --trusted-proxy 'A reverse proxy''s address or range (CIDR, repeatable): from such a peer the client address for --source-rate is the rightmost untrusted hop of Forwarded or X-Forwarded-For; also read from TALLY_TRUSTED_PROXIES (comma-separated)'
            cand --otlp-endpoint 'Also export what was accepted as OTLP/HTTP metrics to this collector URL (a URL without a path gets /v1/metrics); without it, OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT is used when set. Protocol, headers and resource attributes come from the OTEL_* variables; OTEL_SDK_DISABLED=true turns the export off'
            cand --otlp-interval 'Seconds between OTLP exports'
            cand --check 'Probe a running `tally serve` instead of starting one: GET this http:// URL (its /livez or /readyz) and exit 0 if it answers 200 within 5 seconds, 1 if not; a container''s health check, where no shell or curl is at hand'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help (see more with ''--help'')'
            cand --help 'Print help (see more with ''--help'')'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;report'= {
            cand --app 'Show only this application'
            cand --db 'The SQLite store [default: <data dir>/tally/store.sqlite3]'
            cand --store 'The store as a URL: clickhouse://HOST:PORT/DATABASE (the aggregation runs inside ClickHouse) or sqlite:PATH; also read from TALLY_STORE'
            cand --since 'Start of the window: a number of days back (`30d`) or a date (`2026-11-01`)'
            cand --min-machines 'Rows backed by fewer distinct machines are folded into `other` (k-anonymity)'
            cand --html 'Write one self-contained HTML page (charts, changes against the previous period of the same length) to FILE, or to stdout with `-`'
            cand --json 'Print machine-readable JSON'
            cand --no-telemetry 'Disable telemetry for this run (nothing is recorded or sent)'
            cand -h 'Print help'
            cand --help 'Print help'
            cand -V 'Print version'
            cand --version 'Print version'
        }
        &'tally;help'= {
            cand telemetry 'See and change what tally itself collects, and exactly what it sends'
            cand config 'Get or set the telemetry choice under ToolHive''s key, usage-analytics-enabled'
            cand run 'Run an MCP server behind a transparent stdio proxy that counts its tool calls'
            cand serve 'Run the ingest endpoint: validate posted batches against the schema and store them'
            cand report 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions'
            cand help 'Print this message or the help of the given subcommand(s)'
        }
        &'tally;help;telemetry'= {
            cand status 'Show whether telemetry is on, what decided it, and where its data lives'
            cand on 'Turn telemetry on (stores your choice in the config file)'
            cand off 'Turn telemetry off: stores your choice, deletes buffered data and the machine id'
            cand prompt 'Ask whether to share usage statistics and store the answer (for installers)'
            cand uninstall 'For uninstallers: record the uninstall, send what is left (today included), delete local data'
            cand reset 'Drop buffered data and replace the machine id with a new random one'
            cand flush 'Send completed days now, in the foreground, and report what happened'
            cand show 'Print exactly what the next send would post, and today''s local counts'
            cand log 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)'
        }
        &'tally;help;telemetry;status'= {
        }
        &'tally;help;telemetry;on'= {
        }
        &'tally;help;telemetry;off'= {
        }
        &'tally;help;telemetry;prompt'= {
        }
        &'tally;help;telemetry;uninstall'= {
        }
        &'tally;help;telemetry;reset'= {
        }
        &'tally;help;telemetry;flush'= {
        }
        &'tally;help;telemetry;show'= {
        }
        &'tally;help;telemetry;log'= {
        }
        &'tally;help;config'= {
            cand otel 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`'
        }
        &'tally;help;config;otel'= {
            cand get 'Print a key''s stored value, or `unset` and what decides instead'
            cand set 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)'
            cand unset 'Forget a key''s stored value, so the default decides again'
        }
        &'tally;help;config;otel;get'= {
        }
        &'tally;help;config;otel;set'= {
        }
        &'tally;help;config;otel;unset'= {
        }
        &'tally;help;run'= {
        }
        &'tally;help;serve'= {
        }
        &'tally;help;report'= {
        }
        &'tally;help;help'= {
        }
    ]
    $completions[$command]
}
