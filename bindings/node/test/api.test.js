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
    assert.throws(() => tally.recordToolCall('', 'maybe', 1), /unknown tool call outcome/)
    assert.equal(tally.setFact('hostname', 'x'), false)
  } finally {
    for (const k of Object.keys(process.env)) delete process.env[k]
    Object.assign(process.env, saved)
    sb.cleanup()
  }
})
