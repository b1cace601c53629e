'use strict'
// The package driven the way a Node CLI uses it: a Commander tool written
// in support.js, run as child processes in a sandboxed HOME, with a real
// `tally serve`, strace and the repository's Rust example host.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Sandbox, startServer, cargoBin, today, counts, spawnSync } = require('./support.js')

const NOTICE = 'collects anonymous usage counts'

function withSandbox(fn) {
  return async () => {
    const sb = new Sandbox()
    try {
      await fn(sb)
    } finally {
      sb.cleanup()
    }
  }
}

test('notice once on stderr and the first send only from a later process', withSandbox(async (sb) => {
  const srv = await startServer(sb)
  try {
    const env = { NODEAPP_TELEMETRY_ENDPOINT: srv.url, NODEAPP_TELEMETRY_NOW: today(-1) }
    const first = sb.run(['build', 'x'], env)
    assert.equal(first.code, 0, first.stderr)
    assert.equal(first.stdout, 'built\n', 'nothing added to stdout')
    assert.ok(first.stderr.includes(NOTICE) && first.stderr.includes('nodeapp telemetry off'), first.stderr)
    const second = sb.run(['cache', 'clean'], env)
    assert.equal(second.code, 0)
    assert.equal(second.stderr, '', 'the notice is shown once')
    assert.deepEqual(srv.report().commands, [], 'nothing sent from the first day')
    const flushed = sb.run(['flush'], { ...env, NODEAPP_TELEMETRY_NOW: today() })
    assert.equal(flushed.code, 0, flushed.stderr)
    await srv.stop()
    const rows = Object.fromEntries(srv.report().commands.map((r) => [r.command, r]))
    assert.equal(rows.build?.count, 1, JSON.stringify(rows))
    assert.equal(rows['cache clean']?.outcomes.success, 1, JSON.stringify(rows))
  } finally {
    await srv.stop()
  }
}))

test('DO_NOT_TRACK records nothing', withSandbox(async (sb) => {
  const out = sb.run(['build'], { DO_NOT_TRACK: '1' })
  assert.equal(out.code, 0)
  assert.equal(out.stdout, 'built\n')
  assert.equal(out.stderr, '')
  assert.deepEqual(sb.files(), ['cli.js'])
  const st = JSON.parse(sb.run(['telemetry', 'status', '--json'], { DO_NOT_TRACK: '1' }).stdout)
  assert.equal(st.enabled, false)
  assert.equal(st.decidedBy, 'do_not_track')
}))

test('CI records nothing for an opt-out tool', withSandbox(async (sb) => {
  const out = sb.run(['build'], { CI: 'true' })
  assert.equal(out.code, 0)
  assert.equal(out.stderr, '')
  assert.deepEqual(sb.files(), ['cli.js'])
  const st = JSON.parse(sb.run(['telemetry', 'status', '--json'], { CI: 'true' }).stdout)
  assert.equal(st.decidedBy, 'ci')
  assert.equal(st.enabled, false)
}))

test('counts survive process.exit() with their outcome', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY: '1' }
  assert.equal(sb.run(['exit', '3'], env).code, 3)
  assert.equal(sb.run(['fail'], env).code, 1)
  assert.equal(sb.run(['throw'], env).code, 1)
  assert.equal(sb.run(['bare', '4'], env).code, 4)
  assert.equal(sb.run(['build'], env).code, 0)
  assert.equal(sb.run(['wait', '150'], env).code, 0)
  const c = counts(sb.spool())
  assert.equal(c['exit|failure'], 1, JSON.stringify(c))
  assert.equal(c['fail|failure'], 1, JSON.stringify(c))
  assert.equal(c['throw|failure'], 1, JSON.stringify(c))
  assert.equal(c['bare|failure'], 1, JSON.stringify(c))
  assert.equal(c['build|success'], 1, JSON.stringify(c))
  assert.equal(c['wait|success'], 1, JSON.stringify(c))
}))

test('telemetry commands are not counted and off deletes the spool', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY_NOW: today(-1) }
  sb.run(['build'], env)
  assert.ok(sb.spool().includes('build'))
  const off = sb.run(['telemetry', 'off'], env)
  assert.equal(off.code, 0)
  assert.ok(off.stdout.includes('Telemetry off'), off.stdout)
  assert.equal(sb.spool(), '')
  sb.run(['build'], env)
  assert.equal(sb.spool(), '')
  assert.equal(sb.run(['telemetry', 'on'], env).code, 0)
  sb.run(['telemetry', 'status'], env)
  assert.ok(!sb.spool().includes('telemetry'))
}))

test('off is off: no socket, no file written (strace)', withSandbox(async (sb) => {
  const srv = await startServer(sb)
  try {
    const env = { NODEAPP_TELEMETRY_ENDPOINT: srv.url, NODEAPP_TELEMETRY: '1', NODEAPP_TELEMETRY_NOW: today(-1) }
    assert.equal(sb.run(['build'], env).code, 0)
    const before = sb.spool()
    assert.ok(before)
    const traced = (extra, name) => {
      const trace = path.join(sb.root, `trace-${name}`)
      const out = sb.run(['wait', '300'], { ...env, NODEAPP_TELEMETRY_NOW: today(), ...extra }, [
        'strace', '-f', '-qq', '-o', trace, '-e',
        'trace=socket,connect,openat,open,creat,mkdir,mkdirat,rename,renameat,renameat2,unlink,unlinkat',
      ])
      assert.equal(out.code, 0, out.stderr)
      return fs.readFileSync(trace, 'utf8').split('\n').filter((l) => {
        const net = l.includes('connect(') || (l.includes('socket(') && !l.includes('AF_UNIX'))
        const writes = l.includes(sb.root) && !l.includes(trace) &&
          ['O_CREAT', 'O_WRONLY', 'O_RDWR', 'mkdir', 'rename', 'unlink'].some((w) => l.includes(w))
        return net || writes
      })
    }
    for (const [i, off] of [{ DO_NOT_TRACK: '1' }, { NODEAPP_TELEMETRY: '0' }].entries()) {
      const bad = traced(off, String(i))
      assert.deepEqual(bad, [], `telemetry off (${JSON.stringify(off)}) still did:\n${bad.join('\n')}`)
      assert.equal(sb.spool(), before)
    }
    // The control: with telemetry on the same run connects and writes.
    assert.notDeepEqual(traced({}, 'on'), [])
  } finally {
    await srv.stop()
  }
}))

test('the same state as a Rust host of the same name', withSandbox(async (sb) => {
  const host = cargoBin('examples/host')
  const hostRun = (args) => {
    const out = spawnSync(host, args, { env: sb.env, encoding: 'utf8' })
    assert.equal(out.status, 0, out.stderr)
    return out.stdout
  }
  const env = { TEST_APP: 'host', TEST_PREFIX: 'HOST' }
  const nodeStatus = () => {
    const out = sb.run(['telemetry', 'status', '--json'], env)
    assert.equal(out.code, 0, out.stderr)
    return JSON.parse(out.stdout)
  }
  const agree = () => {
    const r = JSON.parse(hostRun(['telemetry', 'status', '--json']))
    const n = nodeStatus()
    assert.deepEqual(
      [n.enabled, n.decidedBy, n.configPath, n.stateDir, n.policyFile],
      [r.enabled, r.decided_by, r.config_path, r.state_dir, r.policy_file],
    )
    return r
  }
  agree()
  sb.run(['telemetry', 'off'], env)
  const r = agree()
  assert.equal(r.decided_by, 'config')
  assert.equal(r.enabled, false)
  hostRun(['telemetry', 'on'])
  assert.equal(nodeStatus().enabled, true)
  agree()
  hostRun(['build'])
  sb.run(['cache', 'clean'], env)
  const spool = sb.spool('host')
  assert.ok(spool.includes('"name":"build"') && spool.includes('"name":"cache clean"'), spool)
}))

test('a canary argument never reaches the spool or the server', withSandbox(async (sb) => {
  const canary = 'CANARY-7f3a9c-secret-project'
  const srv = await startServer(sb)
  try {
    const env = { NODEAPP_TELEMETRY: '1', NODEAPP_TELEMETRY_ENDPOINT: srv.url, NODEAPP_TELEMETRY_NOW: today(-1) }
    assert.equal(sb.run(['build', canary], env).code, 0)
    // An unknown command is refused by Commander and never recorded.
    assert.notEqual(sb.run([canary], env).code, 0)
    assert.ok(!sb.spool().includes(canary) && sb.spool().includes('build'))
    assert.equal(sb.run(['flush'], { ...env, NODEAPP_TELEMETRY_NOW: today() }).code, 0)
    await srv.stop()
    assert.ok(srv.report().commands.some((c) => c.command === 'build'))
    for (const f of sb.files()) {
      if (f === 'cli.js') continue
      assert.ok(!fs.readFileSync(path.join(sb.root, f)).includes(canary), f)
    }
  } finally {
    await srv.stop()
  }
}))

test('the telemetry subcommands, added only when telemetry runs, parse and show in help', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY: '1' }
  for (const args of [['help', 'telemetry'], ['telemetry', '--help']]) {
    const out = sb.run(args, env)
    assert.equal(out.code, 0, out.stderr)
    for (const sub of ['status [options]', 'on ', 'off ']) assert.ok(out.stdout.includes(sub), `${args}: ${out.stdout}`)
  }
  // Without a subcommand: the help with the subcommands, on stderr, exit 1.
  const bare = sb.run(['telemetry'], env)
  assert.equal(bare.code, 1)
  assert.ok(bare.stderr.includes('status [options]'), bare.stderr)
  assert.ok(sb.run(['telemetry', 'status', '--help'], env).stdout.includes('--json'))
  assert.equal(JSON.parse(sb.run(['telemetry', 'status', '--json'], env).stdout).enabled, true)
  // The program's own help lists telemetry once, and nothing under it.
  const top = sb.run(['--help'], env).stdout
  assert.ok(top.includes('telemetry') && !top.includes('status'), top)
}))
