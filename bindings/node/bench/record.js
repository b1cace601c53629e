'use strict'
// One record call from JavaScript, with telemetry on: the mean over a
// million calls of recordCommand (the same path again, the steady state of
// a REPL or server), recordToolCall and the Telemetry method wrapper.
// Budget: <= 1 us per call. Runs in a temporary HOME.
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-bench-'))
Object.assign(process.env, {
  HOME: home,
  XDG_CONFIG_HOME: path.join(home, 'c'),
  XDG_STATE_HOME: path.join(home, 's'),
  BENCH_TELEMETRY: '1',
})
delete process.env.DO_NOT_TRACK
delete process.env.CI

const tally = require('..')
const t = new tally.Telemetry('bench', { backgroundSend: false })
if (!t.enabled) throw new Error('telemetry is off: ' + JSON.stringify(t.status()))

const N = 1_000_000
const cases = [
  ["recordCommand('build')", () => tally.recordCommand('build')],
  ["recordToolCall('search', 'ok', 3)", () => tally.recordToolCall('search', 'ok', 3)],
  ["t.recordCommand('build') (method)", () => t.recordCommand('build')],
  ['empty function (the loop\'s own cost)', () => {}],
]
// Wall time, and CPU time (user + system) of this process, which a shared
// machine's other load does not inflate.
for (const [label, fn] of cases) {
  let wall = Infinity
  let cpu = Infinity
  for (let r = 0; r < 3; r++) {
    const c0 = process.cpuUsage()
    const start = process.hrtime.bigint()
    for (let i = 0; i < N; i++) fn()
    wall = Math.min(wall, Number(process.hrtime.bigint() - start) / N)
    const c = process.cpuUsage(c0)
    cpu = Math.min(cpu, ((c.user + c.system) * 1000) / N)
  }
  console.log(`${label.padEnd(40)} wall ${wall.toFixed(0).padStart(5)} ns/call, cpu ${cpu.toFixed(0).padStart(5)} ns/call`)
}
fs.rmSync(home, { recursive: true, force: true })
