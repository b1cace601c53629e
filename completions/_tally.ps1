
using namespace System.Management.Automation
using namespace System.Management.Automation.Language

Register-ArgumentCompleter -Native -CommandName 'tally' -ScriptBlock {
    param($wordToComplete, $commandAst, $cursorPosition)

    $commandElements = $commandAst.CommandElements
    $command = @(
        'tally'
        for ($i = 1; $i -lt $commandElements.Count; $i++) {
            $element = $commandElements[$i]
            if ($element -isnot [StringConstantExpressionAst] -or
                $element.StringConstantType -ne [StringConstantType]::BareWord -or
                $element.Value.StartsWith('-') -or
                $element.Value -eq $wordToComplete) {
                break
        }
        $element.Value
    }) -join ';'

    $completions = @(switch ($command) {
        'tally' {
            [CompletionResult]::new('--app', '--app', [CompletionResultType]::ParameterName, 'See the counts kept under this application name (`tally --app NAME telemetry status|show|flush|log`); consent and settings stay tally''s. `run --app` and `report --app` take it after their own name too')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('telemetry', 'telemetry', [CompletionResultType]::ParameterValue, 'See and change what tally itself collects, and exactly what it sends')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Get or set the telemetry choice under ToolHive''s key, usage-analytics-enabled')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run an MCP server behind a transparent stdio proxy that counts its tool calls')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the ingest endpoint: validate posted batches against the schema and store them')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;telemetry' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show whether telemetry is on, what decided it, and where its data lives')
            [CompletionResult]::new('on', 'on', [CompletionResultType]::ParameterValue, 'Turn telemetry on (stores your choice in the config file)')
            [CompletionResult]::new('off', 'off', [CompletionResultType]::ParameterValue, 'Turn telemetry off: stores your choice, deletes buffered data and the machine id')
            [CompletionResult]::new('prompt', 'prompt', [CompletionResultType]::ParameterValue, 'Ask whether to share usage statistics and store the answer (for installers)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'For uninstallers: record the uninstall, send what is left (today included), delete local data')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Drop buffered data and replace the machine id with a new random one')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Send completed days now, in the foreground, and report what happened')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print exactly what the next send would post, and today''s local counts')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;telemetry;status' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;on' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;off' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;prompt' {
            [CompletionResult]::new('--force', '--force', [CompletionResultType]::ParameterName, 'Ask even if a choice was already made (the new answer replaces it)')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print the outcome as JSON on stdout (result: answered, already_decided, not_asked, no_answer)')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;uninstall' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;reset' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;flush' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;show' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;log' {
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;telemetry;help' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show whether telemetry is on, what decided it, and where its data lives')
            [CompletionResult]::new('on', 'on', [CompletionResultType]::ParameterValue, 'Turn telemetry on (stores your choice in the config file)')
            [CompletionResult]::new('off', 'off', [CompletionResultType]::ParameterValue, 'Turn telemetry off: stores your choice, deletes buffered data and the machine id')
            [CompletionResult]::new('prompt', 'prompt', [CompletionResultType]::ParameterValue, 'Ask whether to share usage statistics and store the answer (for installers)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'For uninstallers: record the uninstall, send what is left (today included), delete local data')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Drop buffered data and replace the machine id with a new random one')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Send completed days now, in the foreground, and report what happened')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print exactly what the next send would post, and today''s local counts')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;telemetry;help;status' {
            break
        }
        'tally;telemetry;help;on' {
            break
        }
        'tally;telemetry;help;off' {
            break
        }
        'tally;telemetry;help;prompt' {
            break
        }
        'tally;telemetry;help;uninstall' {
            break
        }
        'tally;telemetry;help;reset' {
            break
        }
        'tally;telemetry;help;flush' {
            break
        }
        'tally;telemetry;help;show' {
            break
        }
        'tally;telemetry;help;log' {
            break
        }
        'tally;telemetry;help;help' {
            break
        }
        'tally;config' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('otel', 'otel', [CompletionResultType]::ParameterValue, 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;config;otel' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a key''s stored value, or `unset` and what decides instead')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Forget a key''s stored value, so the default decides again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;config;otel;get' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;config;otel;set' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;config;otel;unset' {
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;config;otel;help' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a key''s stored value, or `unset` and what decides instead')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Forget a key''s stored value, so the default decides again')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;config;otel;help;get' {
            break
        }
        'tally;config;otel;help;set' {
            break
        }
        'tally;config;otel;help;unset' {
            break
        }
        'tally;config;otel;help;help' {
            break
        }
        'tally;config;help' {
            [CompletionResult]::new('otel', 'otel', [CompletionResultType]::ParameterValue, 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;config;help;otel' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a key''s stored value, or `unset` and what decides instead')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Forget a key''s stored value, so the default decides again')
            break
        }
        'tally;config;help;otel;get' {
            break
        }
        'tally;config;help;otel;set' {
            break
        }
        'tally;config;help;otel;unset' {
            break
        }
        'tally;config;help;help' {
            break
        }
        'tally;run' {
            [CompletionResult]::new('--app', '--app', [CompletionResultType]::ParameterName, 'Count under this application name instead of tally (its own consent and settings stay tally''s; see them with `tally --app NAME telemetry show`)')
            [CompletionResult]::new('--tool-names', '--tool-names', [CompletionResultType]::ParameterName, 'Count tool calls under their tool names (names must match `[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}`; others count without a name). Off by default: only outcomes are counted')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;serve' {
            [CompletionResult]::new('--listen', '--listen', [CompletionResultType]::ParameterName, 'Address and port to listen on (port 0 picks a free one)')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store, created on first start [default: <data dir>/tally/store.sqlite3]')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'The store as a URL: clickhouse://[USER[:PASSWORD]@]HOST:PORT/DATABASE (tables are created on first start; ?cluster=NAME for replicated tables on a ClickHouse cluster), clickhouse+https://…[?ca=PEM] (certificate checked) or sqlite:PATH; also read from TALLY_STORE [default: the SQLite store of --db]')
            [CompletionResult]::new('--store-password-file', '--store-password-file', [CompletionResultType]::ParameterName, 'A file holding the ClickHouse password (a mounted Kubernetes Secret; one trailing newline is ignored); also TALLY_STORE_PASSWORD_FILE, or the password itself in TALLY_STORE_PASSWORD. A password in the URL wins')
            [CompletionResult]::new('--rate-limit', '--rate-limit', [CompletionResultType]::ParameterName, 'Batches accepted per machine per minute (0: no limit)')
            [CompletionResult]::new('--retention-days', '--retention-days', [CompletionResultType]::ParameterName, 'Days of data kept; older days are pruned at start and daily')
            [CompletionResult]::new('--max-connections', '--max-connections', [CompletionResultType]::ParameterName, 'Concurrent connections at most (the open-file limit is raised to fit); when all are taken, the connection idle the longest is closed to make room')
            [CompletionResult]::new('--max-connections-per-source', '--max-connections-per-source', [CompletionResultType]::ParameterName, 'Connections from one address at most; over that, its own oldest idle one makes room [default: half of --max-connections]')
            [CompletionResult]::new('--max-requests-per-connection', '--max-requests-per-connection', [CompletionResultType]::ParameterName, 'Requests served on one keep-alive connection before it is closed')
            [CompletionResult]::new('--global-rate', '--global-rate', [CompletionResultType]::ParameterName, 'Batches per second accepted from everyone together; over it: 503 with Retry-After (0: no limit)')
            [CompletionResult]::new('--source-rate', '--source-rate', [CompletionResultType]::ParameterName, 'Batches per second accepted from one address, which is kept in memory only as a keyed hash; over it: 429 with Retry-After (0: no limit)')
            [CompletionResult]::new('--header-timeout', '--header-timeout', [CompletionResultType]::ParameterName, 'Seconds a client has to send its request headers (and an idle connection is kept)')
            [CompletionResult]::new('--body-timeout', '--body-timeout', [CompletionResultType]::ParameterName, 'Seconds a client has to send its request body')
            [CompletionResult]::new('--sync', '--sync', [CompletionResultType]::ParameterName, 'full: every commit is synced to disk before the 204; normal: a commit survives a crash of tally, but the last ones may not survive a power loss')
            [CompletionResult]::new('--store-timeout', '--store-timeout', [CompletionResultType]::ParameterName, 'Milliseconds the store has to acknowledge a batch (and ClickHouse to answer any statement); past it the batch gets 503, /readyz fails and batches get 503 at once until a probe of the store succeeds')
            [CompletionResult]::new('--wal-limit', '--wal-limit', [CompletionResultType]::ParameterName, 'SQLite: the write-ahead log''s size at which the writer truncates it (it stays below this plus one commit''s pages while no reader holds an old snapshot)')
            [CompletionResult]::new('--trusted-proxy', '--trusted-proxy', [CompletionResultType]::ParameterName, 'A reverse proxy''s address or range (CIDR, repeatable): from such a peer the client address for --source-rate is the rightmost untrusted hop of Forwarded or X-Forwarded-For; also read from TALLY_TRUSTED_PROXIES (comma-separated)')
            [CompletionResult]::new('--otlp-endpoint', '--otlp-endpoint', [CompletionResultType]::ParameterName, 'Also export what was accepted as OTLP/HTTP metrics to this collector URL (a URL without a path gets /v1/metrics); without it, OTEL_EXPORTER_OTLP_[METRICS_]ENDPOINT is used when set. Protocol, headers and resource attributes come from the OTEL_* variables; OTEL_SDK_DISABLED=true turns the export off')
            [CompletionResult]::new('--otlp-interval', '--otlp-interval', [CompletionResultType]::ParameterName, 'Seconds between OTLP exports')
            [CompletionResult]::new('--check', '--check', [CompletionResultType]::ParameterName, 'Probe a running `tally serve` instead of starting one: GET this http:// URL (its /livez or /readyz) and exit 0 if it answers 200 within 5 seconds, 1 if not; a container''s health check, where no shell or curl is at hand')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help (see more with ''--help'')')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;report' {
            [CompletionResult]::new('--app', '--app', [CompletionResultType]::ParameterName, 'Show only this application')
            [CompletionResult]::new('--db', '--db', [CompletionResultType]::ParameterName, 'The SQLite store [default: <data dir>/tally/store.sqlite3]')
            [CompletionResult]::new('--store', '--store', [CompletionResultType]::ParameterName, 'The store as a URL: clickhouse://HOST:PORT/DATABASE (the aggregation runs inside ClickHouse) or sqlite:PATH; also read from TALLY_STORE')
            [CompletionResult]::new('--since', '--since', [CompletionResultType]::ParameterName, 'Start of the window: a number of days back (`30d`) or a date (`2026-11-01`)')
            [CompletionResult]::new('--min-machines', '--min-machines', [CompletionResultType]::ParameterName, 'Rows backed by fewer distinct machines are folded into `other` (k-anonymity)')
            [CompletionResult]::new('--html', '--html', [CompletionResultType]::ParameterName, 'Write one self-contained HTML page (charts, changes against the previous period of the same length) to FILE, or to stdout with `-`')
            [CompletionResult]::new('--json', '--json', [CompletionResultType]::ParameterName, 'Print machine-readable JSON')
            [CompletionResult]::new('--no-telemetry', '--no-telemetry', [CompletionResultType]::ParameterName, 'Disable telemetry for this run (nothing is recorded or sent)')
            [CompletionResult]::new('-h', '-h', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('--help', '--help', [CompletionResultType]::ParameterName, 'Print help')
            [CompletionResult]::new('-V', '-V ', [CompletionResultType]::ParameterName, 'Print version')
            [CompletionResult]::new('--version', '--version', [CompletionResultType]::ParameterName, 'Print version')
            break
        }
        'tally;help' {
            [CompletionResult]::new('telemetry', 'telemetry', [CompletionResultType]::ParameterValue, 'See and change what tally itself collects, and exactly what it sends')
            [CompletionResult]::new('config', 'config', [CompletionResultType]::ParameterValue, 'Get or set the telemetry choice under ToolHive''s key, usage-analytics-enabled')
            [CompletionResult]::new('run', 'run', [CompletionResultType]::ParameterValue, 'Run an MCP server behind a transparent stdio proxy that counts its tool calls')
            [CompletionResult]::new('serve', 'serve', [CompletionResultType]::ParameterValue, 'Run the ingest endpoint: validate posted batches against the schema and store them')
            [CompletionResult]::new('report', 'report', [CompletionResultType]::ParameterValue, 'Summarise what `tally serve` stored: machines, commands, tool calls, clients, versions')
            [CompletionResult]::new('help', 'help', [CompletionResultType]::ParameterValue, 'Print this message or the help of the given subcommand(s)')
            break
        }
        'tally;help;telemetry' {
            [CompletionResult]::new('status', 'status', [CompletionResultType]::ParameterValue, 'Show whether telemetry is on, what decided it, and where its data lives')
            [CompletionResult]::new('on', 'on', [CompletionResultType]::ParameterValue, 'Turn telemetry on (stores your choice in the config file)')
            [CompletionResult]::new('off', 'off', [CompletionResultType]::ParameterValue, 'Turn telemetry off: stores your choice, deletes buffered data and the machine id')
            [CompletionResult]::new('prompt', 'prompt', [CompletionResultType]::ParameterValue, 'Ask whether to share usage statistics and store the answer (for installers)')
            [CompletionResult]::new('uninstall', 'uninstall', [CompletionResultType]::ParameterValue, 'For uninstallers: record the uninstall, send what is left (today included), delete local data')
            [CompletionResult]::new('reset', 'reset', [CompletionResultType]::ParameterValue, 'Drop buffered data and replace the machine id with a new random one')
            [CompletionResult]::new('flush', 'flush', [CompletionResultType]::ParameterValue, 'Send completed days now, in the foreground, and report what happened')
            [CompletionResult]::new('show', 'show', [CompletionResultType]::ParameterValue, 'Print exactly what the next send would post, and today''s local counts')
            [CompletionResult]::new('log', 'log', [CompletionResultType]::ParameterValue, 'List the batches sent from this machine, oldest first (at least the newest 100 are kept)')
            break
        }
        'tally;help;telemetry;status' {
            break
        }
        'tally;help;telemetry;on' {
            break
        }
        'tally;help;telemetry;off' {
            break
        }
        'tally;help;telemetry;prompt' {
            break
        }
        'tally;help;telemetry;uninstall' {
            break
        }
        'tally;help;telemetry;reset' {
            break
        }
        'tally;help;telemetry;flush' {
            break
        }
        'tally;help;telemetry;show' {
            break
        }
        'tally;help;telemetry;log' {
            break
        }
        'tally;help;config' {
            [CompletionResult]::new('otel', 'otel', [CompletionResultType]::ParameterValue, 'Get, set or unset `usage-analytics-enabled`: the stored telemetry choice, as in `thv config otel`')
            break
        }
        'tally;help;config;otel' {
            [CompletionResult]::new('get', 'get', [CompletionResultType]::ParameterValue, 'Print a key''s stored value, or `unset` and what decides instead')
            [CompletionResult]::new('set', 'set', [CompletionResultType]::ParameterValue, 'Store a key''s value (`set usage-analytics-enabled false` is `telemetry off`)')
            [CompletionResult]::new('unset', 'unset', [CompletionResultType]::ParameterValue, 'Forget a key''s stored value, so the default decides again')
            break
        }
        'tally;help;config;otel;get' {
            break
        }
        'tally;help;config;otel;set' {
            break
        }
        'tally;help;config;otel;unset' {
            break
        }
        'tally;help;run' {
            break
        }
        'tally;help;serve' {
            break
        }
        'tally;help;report' {
            break
        }
        'tally;help;help' {
            break
        }
    })

    $completions.Where{ $_.CompletionText -like "$wordToComplete*" } |
        Sort-Object -Property ListItemText
}
