// Compiled with `tsc --noEmit` by `npm test`: index.d.ts describes the
// package as a TypeScript CLI uses it, with Commander's own types.
import { Command } from 'commander'
import { Telemetry, addTelemetryCommand, Status, CommandResult, recordToolCall, testHooks, schema, Validity } from '..'

const t = new Telemetry('mytool', { version: '1.0.0', policy: 'opt-out', endpoint: 'https://x.invalid/v1/batch' })
const program = new Command('mytool')
program.command('build').action(() => {})
addTelemetryCommand(program, t)
const s: Status = t.status()
const decided: 'policy' | 'do_not_track' | 'flag' | 'env' | 'config' | 'ci' | 'default' = s.decidedBy
const path: string | null = s.configPath
t.recordCommand('build')
const code: number = t.finish(0)
recordToolCall('search', 'ok', 3)
const r: CommandResult = t.run(['log', '--json'])
const exitCode: number = r.code
new Telemetry('mytool', { policy: 'opt_in' })
const debugBuild: boolean = testHooks()
// @ts-expect-error: a policy outside the library's words is a type error
new Telemetry('mytool', { policy: 'sometimes' })
const v: Validity = schema.validateBatch('{}', '2026-11-21')
const major: number | null = schema.majorVersion('1.2')
// @ts-expect-error: a pattern outside the schema's is a type error
schema.matches('email', 'x')
void [decided, path, code, exitCode, debugBuild, v, major]
