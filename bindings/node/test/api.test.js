'use strict'
// The API in one process: status, on/off, argument checks.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const { Sandbox } = require('./support.js')

test('status, on and off', () => {
  const sb = new Sandbox()
  const saved = { ...process.env }
  try {
    for (const k of Object.keys(process.env)) if (k !== 'PATH') delete process.env[k]
    Object.assign(process.env, sb.env)
    const { Telemetry } = require('..')
    const t = new Telemetry('apitest', { version: '1.0.0', backgroundSend: false })
    const s = t.status()
    assert.deepEqual([s.app, s.enabled, s.decidedBy], ['apitest', false, 'default'])
    assert.ok(s.configPath.startsWith(sb.root))
    const on = t.on()
    assert.deepEqual([on.enabled, on.decidedBy], [true, 'config'])
    assert.equal(t.status().enabled, true)
    const off = t.off()
    assert.deepEqual([off.enabled, off.decidedBy], [false, 'config'])
    assert.throws(() => new Telemetry('apitest', { policy: 'sometimes' }), /opt-in/)
    const tally = require('..')
    assert.throws(() => tally.recordToolCall('', 'maybe', 1), /unknown tool call outcome "maybe"; expected one of ok,/)
    assert.equal(tally.setFact('hostname', 'x'), false)
  } finally {
    for (const k of Object.keys(process.env)) delete process.env[k]
    Object.assign(process.env, saved)
    sb.cleanup()
  }
})

test('the words are the library\'s: policy spellings, outcomes, lifecycle kinds', () => {
  const sb = new Sandbox()
  const saved = { ...process.env }
  try {
    for (const k of Object.keys(process.env)) if (k !== 'PATH') delete process.env[k]
    Object.assign(process.env, sb.env)
    const tally = require('..')
    // The same spellings as the Python package and a Rust host.
    for (const [word, enabled] of [['opt_in', false], ['optin', false], ['OPT-IN', false], ['opt_out', true], ['optout', true]]) {
      const t = new tally.Telemetry('words', { policy: word, backgroundSend: false })
      assert.deepEqual([t.status().enabled, t.status().decidedBy], [enabled, 'default'], word)
    }
    assert.throws(() => new tally.Telemetry('words', { policy: 'opt in' }), /policy must be "opt-in" or "opt-out", not "opt in"/)
    assert.throws(() => tally.recordToolCall('', 'okay', 1), /expected one of ok, tool_error, parse_error, .*unanswered/)
    assert.throws(() => tally.finishCommand('fine'), /expected one of success, failure, usage_error, interrupted, unknown/)
    assert.throws(() => tally.recordLifecycle('reinstall'), /expected one of install, uninstall, upgrade/)
    tally.recordToolCall('', 'method_not_found', 1)
    tally.finishCommand('usage_error')
    tally.recordLifecycle('upgrade')
    // run(): the library's commands, text and codes, without printing.
    const t = new tally.Telemetry('words', { backgroundSend: false })
    const r = t.run(['status', '--json'])
    assert.equal(r.code, 0, r.stderr)
    assert.equal(JSON.parse(r.stdout).app, 'words')
    assert.deepEqual(t.run(['stat']), {
      code: 2,
      stdout: '',
      stderr: 'words: unknown subcommand "stat"; expected one of status, on, off, prompt, uninstall, reset, flush, show, log\n',
    })
    // What was recorded goes to this sandbox now, not at exit after cleanup.
    tally.persist()
  } finally {
    for (const k of Object.keys(process.env)) delete process.env[k]
    Object.assign(process.env, saved)
    sb.cleanup()
  }
})

test('engines agrees with the tools that build and test the package', () => {
  const semverOf = (v) => v.split('.').map(Number)
  const pkg = require('../package.json')
  const cli = require('@napi-rs/cli/package.json')
  const normalize = (r) => r.split('||').map((s) => s.replace(/\s+/g, '')).sort().join('||')
  // The range of @napi-rs/cli, which `npm run build` needs; Commander's is wider.
  assert.equal(normalize(pkg.engines.node), normalize(cli.engines.node))
  // And the Node.js running these tests is inside it.
  const [major, minor] = semverOf(process.versions.node)
  assert.ok((major === 20 && minor >= 17) || (major === 22 && minor >= 13) || major > 23 || (major === 23 && minor >= 5), process.versions.node)
})
