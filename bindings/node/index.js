'use strict'
// tally for Node.js: privacy-first, consent-managed usage telemetry for
// command-line tools, over the same Rust library as a Rust host. A Node CLI
// and a Rust CLI of the same application name share one consent, one config
// file, one policy file and one spool. Counts stay in memory until the
// process exits (`process.on('exit')`, which also runs for `process.exit()`),
// are appended to a local spool and leave the machine only as daily
// aggregates, sent from a later process. Nothing is written to stdout except
// by the `telemetry status|on|off` commands the user runs.

// The addon this package's own build put next to this file, loaded
// directly: napi-rs's generated loader (native.js) first probes for musl
// and for per-platform packages, which costs a CLI about a millisecond of
// start, and even a plain require() of the file resolves it first (stats,
// realpath, the package scope's package.json: 0.2 ms). It remains the
// fallback for every other platform and layout.
function loadNative() {
  const abi = process.platform === 'linux' ? '-gnu' : ''
  try {
    const m = { exports: {} }
    process.dlopen(m, `${__dirname}/tally.${process.platform}-${process.arch}${abi}.node`)
    return m.exports
  } catch (_) {
    return require('./native.js')
  }
}
const native = loadNative()

const {
  recordCommand,
  finishCommand,
  recordToolCall: nativeRecordToolCall,
  recordClient,
  setFact,
  recordLifecycle,
  persist,
} = native

let hooked = null

// Ends a command still running with the code the process exits with
// (`process.exit(3)`, `process.exitCode = 1`, 1 for an uncaught exception),
// as the first handle's declared outcomes (`outcomeForExit`) say, then
// appends the counts to the spool. 'exit' listeners run synchronously,
// which is all this needs: the library's persist is synchronous file I/O.
function onExit(code) {
  try {
    hooked.finish(typeof code === 'number' ? code : 0)
    persist()
  } catch (_) {
    // Telemetry never changes how the host exits.
  }
}

class Telemetry {
  /**
   * Resolves consent once and, when telemetry is on, starts recording and
   * registers the exit hook.
   */
  constructor(name, options = {}) {
    this.name = name
    this._h = native.init(name, {
      version: options.version,
      envPrefix: options.envPrefix,
      policy: options.policy,
      endpoint: options.endpoint,
      docsUrl: options.docsUrl,
      policyFile: options.policyFile,
      noTelemetry: options.noTelemetry,
      prompt: options.prompt,
      backgroundSend: options.backgroundSend,
      toolCalls: options.toolCalls,
      facts: options.facts,
      retention: options.retention,
      renameCommands: options.renameCommands,
      outcomeForExit: options.outcomeForExit,
    })
    if (this._h.enabled() && !hooked) {
      hooked = this._h
      process.on('exit', onExit)
    }
  }

  /** Whether telemetry is on for this process. */
  get enabled() {
    return this._h.enabled()
  }

  /** The current status, re-read from the files. */
  status() {
    return this._h.status()
  }

  /**
   * The steps of `<app> telemetry on`: stores "on"; returns the status after.
   * Throws when the choice cannot be stored.
   */
  on() {
    return this._h.setEnabledChoice(true)
  }

  /**
   * The steps of `<app> telemetry off`: stops recording, deletes buffered
   * data and the machine id, then stores "off"; returns the status after.
   * Throws when the choice cannot be stored (the data is deleted even then).
   */
  off() {
    return this._h.setEnabledChoice(false)
  }

  /**
   * Runs `<app> telemetry <words…>` (`['show', '--json']`) as a Rust host
   * does, with its text and exit code: returns `{ code, stdout, stderr }`
   * without printing. Never throws: a wrong word is code 2 with the reason
   * on `stderr`.
   */
  run(words) {
    return this._h.runCommand(Array.from(words, String))
  }

  /**
   * Counts a command path such as "cache clean" (names, never argument
   * values), under its declared name (`renameCommands`).
   */
  recordCommand(path) {
    this._h.recordPath(String(path))
  }

  /**
   * Ends the running command with the outcome of `exitCode` and returns it.
   * Without it the exit hook ends it with the process's exit code.
   */
  finish(exitCode) {
    return this._h.finish(exitCode)
  }

  /** Counts an MCP tool call ("" counts the outcome only). */
  recordToolCall(name, outcome = 'ok', durationMs = 0) {
    nativeRecordToolCall(name, outcome, durationMs)
  }

  /** Counts the connecting MCP client. */
  recordClient(name, version) {
    recordClient(name, version)
  }

  /** Sets a deployment fact for today; false where the schema refuses it. */
  setFact(name, value) {
    return setFact(name, value)
  }

  /** Counts install, uninstall or upgrade. */
  recordLifecycle(kind) {
    recordLifecycle(kind)
  }

  /** Persists and sends what is due now (long-running processes). */
  shutdown() {
    this._h.shutdown()
  }
}

/** The subcommand path of a Commander command: names up to the root, root excluded. */
function commandPath(cmd) {
  const names = []
  for (let c = cmd; c && c.parent; c = c.parent) names.unshift(c.name())
  return names.join(' ')
}

// The help of `telemetry`: what the library's subcommands do. Parsing,
// text and exit codes are the library's (`run`); this is only the listing.
const HELP = `
Commands (run by the tally library, as in a Rust host):
  status [--json]            Show whether telemetry is on, what decided it, and where its data lives
  on                         Turn telemetry on (stores your choice in the config file)
  off                        Turn telemetry off: stores your choice, deletes buffered data and the machine id
  prompt [--force] [--json]  Ask whether to share usage statistics and store the answer (for installers);
                             exit 3 when no one could be asked, 4 when unanswered
  uninstall                  For uninstallers: record the uninstall, send what is left, delete local data
  reset                      Drop buffered data and replace the machine id with a new random one
  flush [--json]             Send completed days now, in the foreground, and report what happened
  show [--json]              Print exactly what the next send would post, and today's local counts
  log [--json]               List the batches sent from this machine, oldest first`

/** Writes a `run` result to the process's streams and sets its exit code. */
function emit(result) {
  if (result.stdout) process.stdout.write(result.stdout)
  if (result.stderr) process.stderr.write(result.stderr)
  process.exitCode = result.code
  return result.code
}

/**
 * Wires telemetry into a Commander program in one call: a `preAction` hook
 * counts the path of each command that runs (its outcome comes from the
 * process's exit code at exit), and `telemetry <subcommand> [flags]` is
 * added, passing every subcommand and flag (`status [--json]`, `on`, `off`,
 * `prompt [--force] [--json]`, `uninstall`, `reset`, `flush [--json]`,
 * `show [--json]`, `log [--json]`) to the library, which prints what a
 * Rust host prints and decides the exit code. The `telemetry` commands
 * themselves are never counted.
 */
function addTelemetryCommand(program, t, options = {}) {
  const name = options.name ?? 'telemetry'
  program.hook('preAction', (_thisCommand, actionCommand) => {
    const path = commandPath(actionCommand)
    if (path === name || path.startsWith(name + ' ')) return
    t.recordCommand(path)
  })
  // One command whose words (`cmd.args`) go to the library: no Commander
  // tree under it to build on every run of every other command. Unknown
  // options (`--json`, `--force`) stay in the words, in order; `-h`/`--help`
  // is Commander's, anywhere after `telemetry`. Neither a declared argument
  // nor addHelpText: each costs a CLI's start tens of microseconds more
  // (the first Argument object, an event listener), so the help's listing
  // is appended when the help is built.
  const tel = program
    .command(name)
    .description('See and change what this tool collects')
    .usage('<subcommand> [flags]')
    .allowUnknownOption()
    .allowExcessArguments()
    .action((_options, cmd) => {
      emit(t.run(cmd.args))
    })
  const helpInformation = tel.helpInformation
  tel.helpInformation = function (...args) {
    return helpInformation.apply(this, args) + HELP + '\n'
  }
  return tel
}

/**
 * Whether the native addon honours the test hooks (`<APP>_TELEMETRY_NOW`):
 * true for a debug build (`npm run build`), false for a release build.
 */
function testHooks() {
  return native.testHooks()
}

// The schema's rules as the library applies them, so a Node host or
// collector gets a Rust host's answers (and the conformance vectors run
// through them).
const schema = Object.freeze({
  /** Validates a batch body as `tally serve` does on the UTC day `today`. */
  validateBatch: (body, today) => JSON.parse(native.schemaValidateBatch(body, today)),
  /** The command outcome an exit code means. */
  outcomeFromExitCode: (code) => native.schemaOutcomeFromExitCode(code),
  /** The command duration bucket (0-6) of a duration in milliseconds. */
  durationBucket: (ms) => native.schemaDurationBucket(ms),
  /** The tool-call latency bucket (0-6) of a duration in milliseconds. */
  latencyBucket: (ms) => native.schemaLatencyBucket(ms),
  /** The bucket word of a count. */
  countBucket: (n) => native.schemaCountBucket(n),
  /** The bucket word of an uptime in seconds. */
  uptimeBucket: (secs) => native.schemaUptimeBucket(secs),
  /** The client a raw MCP clientInfo.name counts as. */
  clientName: (raw) => native.schemaClientName(raw),
  /** The major number of a raw version, or null. */
  majorVersion: (raw) => native.schemaMajorVersion(raw) ?? null,
  /** Whether a value has one of the schema's shapes. */
  matches: (pattern, value) => native.schemaMatches(pattern, value),
})

module.exports = {
  schema,
  Telemetry,
  testHooks,
  addTelemetryCommand,
  commandPath,
  recordCommand,
  finishCommand,
  recordToolCall: nativeRecordToolCall,
  recordClient,
  setFact,
  recordLifecycle,
  persist,
}
