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

let hooked = false

// Ends a command still running with the code the process exits with
// (`process.exit(3)`, `process.exitCode = 1`, 1 for an uncaught exception),
// then appends the counts to the spool. 'exit' listeners run synchronously,
// which is all this needs: the library's persist is synchronous file I/O.
function onExit(code) {
  try {
    native.finishCommandCode(typeof code === 'number' ? code : 0)
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
    })
    if (this._h.enabled() && !hooked) {
      hooked = true
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

  /** Stores "on", as `<app> telemetry on` does; returns the status after. */
  on() {
    return this._h.setEnabledChoice(true)
  }

  /** Stores "off": stops recording, deletes buffered data and the machine id. */
  off() {
    return this._h.setEnabledChoice(false)
  }

  /** Counts a command path such as "cache clean" (names, never argument values). */
  recordCommand(path) {
    recordCommand(path)
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

function printStatus(s, json) {
  if (json) {
    process.stdout.write(JSON.stringify(s, null, 2) + '\n')
    return
  }
  const lines = [
    `Telemetry for ${s.app}: ${s.enabled ? 'enabled' : 'disabled'}`,
    `  why:        ${s.reason} [${s.decidedBy}]`,
    `  config:     ${s.configPath ?? 'unknown'}`,
    `  state dir:  ${s.stateDir ?? 'unknown'}`,
    `  endpoint:   ${s.endpoint ?? 'none, so nothing is sent'}`,
    `To change: \`${s.app} telemetry on|off\`; DO_NOT_TRACK=1 turns off every tool that honours it.`,
  ]
  process.stdout.write(lines.join('\n') + '\n')
}

function switchTo(t, enabled) {
  let s
  try {
    s = enabled ? t.on() : t.off()
  } catch (e) {
    process.stderr.write(`${t.name}: ${e.message}\n`)
    process.exitCode = 1
    return
  }
  process.stdout.write(
    `Telemetry ${enabled ? 'on' : 'off'}: your choice is stored in ${s.configPath ?? 'unknown'}.\n`,
  )
  if (s.enabled !== enabled) {
    process.stdout.write(
      `Note: the choice is stored, but telemetry is ${s.enabled ? 'on' : 'off'} for now: ${s.reason}.\n`,
    )
  }
}

/**
 * Wires telemetry into a Commander program in one call: a `preAction` hook
 * counts the path of each command that runs (its outcome comes from the
 * process's exit code at exit), and `telemetry status [--json] | on | off`
 * is added. The `telemetry` commands themselves are never counted.
 */
function addTelemetryCommand(program, t, options = {}) {
  const name = options.name ?? 'telemetry'
  program.hook('preAction', (_thisCommand, actionCommand) => {
    const path = commandPath(actionCommand)
    if (path === name || path.startsWith(name + ' ')) return
    recordCommand(path)
  })
  const tel = program.command(name).description('See and change what this tool collects')
  // Each Commander command costs a CLI's start tens of microseconds; the
  // three under `telemetry` are added only when `telemetry` is the command
  // being run (or asked for help), not on every run of every other command.
  // The program's own help lists `telemetry` from its own entry.
  let built = false
  const build = () => {
    if (built) return
    built = true
    tel
      .command('status')
      .description('Show whether telemetry is on, what decided it, and where its data lives')
      .option('--json', 'Print machine-readable JSON')
      .action((opts) => printStatus(t.status(), Boolean(opts.json)))
    tel
      .command('on')
      .description('Turn telemetry on (stores your choice)')
      .action(() => switchTo(t, true))
    tel
      .command('off')
      .description('Turn telemetry off: stores your choice, deletes buffered data and the machine id')
      .action(() => switchTo(t, false))
  }
  try {
    // Commander >= 10 calls it before dispatching to a subcommand.
    program.hook('preSubcommand', (_thisCommand, sub) => {
      if (sub === tel) build()
    })
  } catch (_) {
    build()
  }
  // `help telemetry` prints the command's help without dispatching to it.
  const helpInformation = tel.helpInformation
  tel.helpInformation = function (...args) {
    build()
    return helpInformation.apply(this, args)
  }
  return tel
}

module.exports = {
  Telemetry,
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
