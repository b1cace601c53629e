// Type definitions for tally-telemetry (hand-written over the generated native.d.ts).

/** How to configure telemetry for an application. */
export interface Options {
  /** The application's version, e.g. "1.2.0". */
  version?: string
  /** The environment-variable prefix: "MYTOOL" reads MYTOOL_TELEMETRY. Default: the upper-cased name. */
  envPrefix?: string
  /**
   * What holds before the user chooses. Default "opt-in". The library parses
   * the word (`DefaultPolicy::from_word`): `opt_in`/`optin` and
   * `opt_out`/`optout` are accepted too, as in the Python package.
   */
  policy?: PolicyWord
  /** Where batches are posted (the env var, config and policy file can override it). */
  endpoint?: string
  /** Where users read what is collected. */
  docsUrl?: string
  /** The system policy file. Default /etc/<name>/telemetry.toml, else /etc/tally/<name>.toml. */
  policyFile?: string
  /** `--no-telemetry` was given on this run. */
  noTelemetry?: boolean
  /** Whether the first-run question may be asked on a terminal. Default false (a notice instead). */
  prompt?: boolean
  /** Whether a background send may start. Default true. */
  backgroundSend?: boolean
  /** This process records MCP tool calls and clients. Default false: without it they are not sent. */
  toolCalls?: boolean
  /** This process sets deployment facts (`setFact`). Default false: without it they are not sent. */
  facts?: boolean
  /** How long the receiving end keeps data, in words ("13 months, then deleted"). */
  retention?: string
  /** `[from, to]` pairs: a command path (or its leading words) recorded under another name; the last match wins. */
  renameCommands?: Array<[string, string]>
  /** Exit code → outcome word: what a run that exits with that code counts as (`{ 1: 'success' }` for a search tool's "no match"). */
  outcomeForExit?: Record<number, CommandOutcome>
}

/** The policy words the library accepts (in any case). */
export type PolicyWord = 'opt-in' | 'opt-out' | 'opt_in' | 'opt_out' | 'optin' | 'optout'

/** What `<app> telemetry <words…>` printed and the code it exits with. */
export interface CommandResult {
  /** 0 success, 1 a file could not be changed or a send failed, 2 a usage error, 3/4 `prompt` decided nothing. */
  code: number
  /** The command's result text, as a Rust host prints it on stdout. */
  stdout: string
  /** The error text, `<app>: <message>`, as a Rust host prints it on stderr. */
  stderr: string
}

/** What decided consent, in precedence order. */
export type DecidedBy = 'policy' | 'do_not_track' | 'flag' | 'env' | 'config' | 'ci' | 'default'

/** What decides telemetry right now and where its data lives. */
export interface Status {
  app: string
  enabled: boolean
  decidedBy: DecidedBy
  reason: string
  configPath: string | null
  stateDir: string | null
  policyFile: string | null
  endpoint: string | null
  debug: boolean
  ci: string | null
}

export type CommandOutcome = 'success' | 'failure' | 'usage_error' | 'interrupted' | 'unknown'

export type CallOutcome =
  | 'ok'
  | 'tool_error'
  | 'cancelled'
  | 'unanswered'
  | 'parse_error'
  | 'invalid_request'
  | 'method_not_found'
  | 'invalid_params'
  | 'internal_error'
  | 'server_error'
  | 'protocol_error'

export type LifecycleKind = 'install' | 'uninstall' | 'upgrade'

/** One application's telemetry for this process. */
export declare class Telemetry {
  constructor(name: string, options?: Options)
  readonly name: string
  /** Whether telemetry is on for this process. */
  readonly enabled: boolean
  /** The current status, re-read from the files. */
  status(): Status
  /** The steps of `<app> telemetry on`; the status after. Throws when the choice cannot be stored. */
  on(): Status
  /**
   * The steps of `<app> telemetry off`: deletes buffered data and the machine id, then stores
   * "off"; the status after. Throws when the choice cannot be stored (the data is deleted even then).
   */
  off(): Status
  /**
   * Runs `<app> telemetry <words…>` (`['log', '--json']`) as a Rust host does, without
   * printing: its text and exit code. Never throws; a wrong word is code 2.
   */
  run(words: readonly string[]): CommandResult
  /** Counts a command path such as "cache clean" (names, never argument values). */
  recordCommand(path: string): void
  /** Ends the running command with the outcome of `exitCode`; returns it. */
  finish(exitCode: number): number
  /** Counts an MCP tool call ("" counts the outcome only). */
  recordToolCall(name: string, outcome?: CallOutcome, durationMs?: number): void
  /** Counts the connecting MCP client. */
  recordClient(name: string, version: string): void
  /** Sets a deployment fact for today; false where the schema refuses it. */
  setFact(name: string, value: string): boolean
  /** Counts install, uninstall or upgrade. */
  recordLifecycle(kind: LifecycleKind): void
  /** Persists and sends what is due now (long-running processes). */
  shutdown(): void
}

/** The subset of a Commander `Command` that addTelemetryCommand uses. */
export interface CommanderLike {
  name(): string
  parent: CommanderLike | null
  hook(event: 'preAction' | 'preSubcommand', listener: (thisCommand: any, actionCommand: any) => void): any
  command(nameAndArgs: string): any
}

/**
 * Wires telemetry into a Commander program in one call: a `preAction` hook
 * counts each command's path (its outcome comes from the exit code), and
 * `telemetry <subcommand> [flags]` is added: every subcommand and flag
 * (`status [--json]`, `on`, `off`, `prompt [--force] [--json]`, `uninstall`,
 * `reset`, `flush [--json]`, `show [--json]`, `log [--json]`) goes to the
 * library, whose text is written to the process's stdout and stderr and
 * whose exit code becomes `process.exitCode`. Returns the `telemetry`
 * command (one command whose words go to the library; nothing is built under it).
 */
export declare function addTelemetryCommand<C extends CommanderLike>(
  program: C,
  t: Telemetry,
  options?: { name?: string },
): any

/** Whether the native addon honours the test hooks (`<APP>_TELEMETRY_NOW`): true for a debug build. */
export declare function testHooks(): boolean

/** The subcommand path of a Commander command, root excluded. */
export declare function commandPath(cmd: CommanderLike): string

export declare function recordCommand(path: string): void
export declare function finishCommand(outcome: CommandOutcome): void
export declare function recordToolCall(name: string, outcome: CallOutcome, durationMs: number): void
export declare function recordClient(name: string, version: string): void
export declare function setFact(name: string, value: string): boolean
export declare function recordLifecycle(kind: LifecycleKind): void
/** Appends what was recorded to the spool (the exit hook calls it). */
export declare function persist(): void

/** What `schema.validateBatch` decided. */
export interface Validity {
  valid: boolean
  /** Why the batch was rejected (the 400's reason). */
  reason?: string
  /** Events kept, when accepted. */
  events?: number
  /** What was dropped, by class, when accepted. */
  dropped?: { unknown_events: number; unknown_fields: number; invalid_values: number; out_of_window: number }
}

/** The shapes `schema.matches` checks. */
export type SchemaPattern = 'command_path' | 'tool_name' | 'app_name' | 'version' | 'uuid' | 'day'

/** The schema's rules as the library applies them (the same answers as a Rust host). */
export declare const schema: {
  /** Validates a batch body as `tally serve` does on the UTC day `today` (YYYY-MM-DD). */
  validateBatch(body: string, today: string): Validity
  /** The command outcome an exit code means by convention. */
  outcomeFromExitCode(code: number): CommandOutcome
  /** The command duration bucket (0-6) of a duration in milliseconds. */
  durationBucket(ms: number): number
  /** The tool-call latency bucket (0-6) of a duration in milliseconds. */
  latencyBucket(ms: number): number
  /** The bucket word of a count: "0", "1", "2-5", "6-10", "11-50" or "51+". */
  countBucket(n: number): string
  /** The bucket word of an uptime in seconds: "<1h", "1-24h", "1-7d" or "7d+". */
  uptimeBucket(secs: number): string
  /** The client a raw MCP clientInfo.name counts as ("other" when unknown). */
  clientName(raw: string): string
  /** The major number of a raw version, or null. */
  majorVersion(raw: string): number | null
  /** Whether `value` has the schema's shape `pattern`. */
  matches(pattern: SchemaPattern, value: string): boolean
}
