'use strict'
// The package driven the way a Node CLI uses it: a Commander tool written
// in support.js, run as child processes in a sandboxed HOME, with a real
// `tally serve`, strace and the repository's Rust example host.

const { test } = require('node:test')
const assert = require('node:assert/strict')
const fs = require('node:fs')
const path = require('node:path')
const { Sandbox, startServer, cargoBin, today, counts, normalized, AS_HOST, spawnSync } = require('./support.js')
const { testHooks } = require('..')

// A release build of the addon ignores <APP>_TELEMETRY_NOW, the test clock.
const needsClock = testHooks()
  ? {}
  : { skip: 'a release build ignores <APP>_TELEMETRY_NOW (the test clock); `npm run build` makes a debug build' }

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

test('notice once on stderr and the first send only from a later process', needsClock, withSandbox(async (sb) => {
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
  assert.equal(st.decided_by, 'do_not_track')
}))

test('CI records nothing for an opt-out tool', withSandbox(async (sb) => {
  const out = sb.run(['build'], { CI: 'true' })
  assert.equal(out.code, 0)
  assert.equal(out.stderr, '')
  assert.deepEqual(sb.files(), ['cli.js'])
  const st = JSON.parse(sb.run(['telemetry', 'status', '--json'], { CI: 'true' }).stdout)
  assert.equal(st.decided_by, 'ci')
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

test('tool calls, clients and facts are sent only when declared', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY: '1' }
  const kinds = () => sb.spool().split('\n').filter(Boolean).map((l) => JSON.parse(l).k)
  assert.equal(sb.run(['mcp'], env).code, 0)
  assert.deepEqual(kinds().filter((k) => k !== 'command' && k !== 'lifecycle'), [], sb.spool())
  const st = sb.run(['telemetry', 'status'], env)
  assert.match(st.stdout, /not recorded: 1 MCP tool call\(s\), 1 MCP client session\(s\), 1 fact\(s\)/, st.stdout)
  assert.equal(sb.run(['mcp'], { ...env, TEST_TOOL_CALLS: '1', TEST_FACTS: '1' }).code, 0)
  const sent = kinds()
  for (const k of ['tool', 'client', 'fact']) assert.ok(sent.includes(k), `${k}: ${sb.spool()}`)
}))

test('declared renames and exit outcomes are the library\'s', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY: '1', TEST_RENAME: 'cache clean=cache-purge', TEST_EXIT_OK: '1' }
  assert.equal(sb.run(['cache', 'clean'], env).code, 0)
  assert.equal(sb.run(['fail'], env).code, 1)
  const c = counts(sb.spool())
  assert.equal(c['cache-purge|success'], 1, JSON.stringify(c))
  assert.equal(c['fail|success'], 1, JSON.stringify(c))
  assert.equal(c['cache clean|success'], undefined, JSON.stringify(c))
  const tally = require('..')
  assert.throws(() => new tally.Telemetry('bad', { outcomeForExit: { 1: 'fine' } }), /outcomeForExit\[1\]: unknown outcome "fine"/)
  assert.throws(() => new tally.Telemetry('bad', { renameCommands: [['a']] }), /renameCommands takes \[from, to\] pairs/)
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

test('off is off: no socket, no file written (strace)', needsClock, withSandbox(async (sb) => {
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
  const env = AS_HOST
  const nodeStatus = () => {
    const out = sb.run(['telemetry', 'status', '--json'], env)
    assert.equal(out.code, 0, out.stderr)
    return JSON.parse(out.stdout)
  }
  // `telemetry status --json` is the library's in both: the same object.
  const agree = () => {
    const r = JSON.parse(hostRun(['telemetry', 'status', '--json']))
    assert.deepEqual(nodeStatus(), r)
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

test('a canary argument never reaches the spool or the server', needsClock, withSandbox(async (sb) => {
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

test('telemetry is one passthrough command: help lists every subcommand', withSandbox(async (sb) => {
  const env = { NODEAPP_TELEMETRY: '1' }
  const subs = ['status [--json]', 'on ', 'off ', 'prompt [--force] [--json]', 'uninstall', 'reset', 'flush [--json]', 'show [--json]', 'log [--json]']
  for (const args of [['help', 'telemetry'], ['telemetry', '--help'], ['telemetry', 'status', '--help'], ['telemetry', '-h']]) {
    const out = sb.run(args, env)
    assert.equal(out.code, 0, out.stderr)
    for (const sub of subs) assert.ok(out.stdout.includes(sub), `${args}: ${sub}: ${out.stdout}`)
  }
  // Without a subcommand: the library's own usage error, exit 2.
  const bare = sb.run(['telemetry'], env)
  assert.equal(bare.code, 2)
  assert.equal(bare.stdout, '')
  assert.match(bare.stderr, /^nodeapp: a subcommand is required: status, on, off, prompt, uninstall, reset, flush, show, log\n$/)
  const wrong = sb.run(['telemetry', 'on', '--json'], env)
  assert.deepEqual([wrong.code, wrong.stderr], [2, 'nodeapp: unexpected argument "--json" for `on`\n'])
  assert.equal(JSON.parse(sb.run(['telemetry', 'status', '--json'], env).stdout).enabled, true)
  // The program's own help lists telemetry once, and nothing under it.
  const top = sb.run(['--help'], env).stdout
  assert.ok(top.includes('telemetry') && !top.includes('Show whether'), top)
}))

test('every telemetry subcommand prints and exits as the Rust host does', withSandbox(async (sb) => {
  // Two sandboxes set up alike by the Rust host; then the same steps, one
  // through the Rust host, the other through the Node CLI as "host".
  const other = new Sandbox()
  try {
    const clock = testHooks() ? { HOST_TELEMETRY_NOW: today() } : {}
    for (const s of [sb, other]) assert.equal(s.host(['build'], clock).code, 0)
    // The installer's question, undecided, with an endpoint but no terminal
    // to ask on: "not_asked", exit 3 (it changes nothing).
    const p = other.run(['telemetry', 'prompt', '--json'], { ...AS_HOST, HOST_TELEMETRY_ENDPOINT: 'http://127.0.0.1:9/v1' })
    assert.equal(p.code, 3, p.stderr)
    assert.deepEqual([JSON.parse(p.stdout).result, p.stderr], ['not_asked', ''])
    assert.match(JSON.parse(p.stdout).message, /not a terminal/)
    const steps = [
      ['status'], ['status', '--json'], ['show'], ['show', '--json'], ['log'], ['log', '--json'],
      ['prompt', '--json'], ['prompt'], ['flush'], ['flush', '--json'],
      ['on'], ['reset'], ['show'], ['prompt', '--force', '--json'], ['off'], ['status'],
      ['on'], ['uninstall'], ['log', '--json'], ['off'], ['off'], ['status', '--json'],
    ]
    for (const step of steps) {
      const rust = normalized(sb.host(['telemetry', ...step], clock), sb.root)
      const node = normalized(other.run(['telemetry', ...step], { ...AS_HOST, ...clock }), other.root)
      assert.deepEqual(node, rust, `telemetry ${step.join(' ')}`)
    }
  } finally {
    other.cleanup()
  }
}))

test('off deletes buffered data even when the choice cannot be stored, as the Rust host does', withSandbox(async (sb) => {
  const other = new Sandbox()
  try {
    const results = []
    for (const [s, run] of [[sb, (a) => sb.host(a)], [other, (a) => other.run(a, AS_HOST)]]) {
      const st = JSON.parse(run(['telemetry', 'status', '--json']).stdout)
      assert.ok(st.config_path ?? st.configPath, JSON.stringify(st))
      assert.equal(run(['build']).code, 0)
      assert.ok(s.spool('host').includes('"name":"build"'))
      // A file where the consent file's directory goes: the choice cannot
      // be stored, whoever runs the test (root included). (A directory in
      // place of the file itself is a broken consent file, which off backs
      // up and replaces.)
      const dir = path.dirname(st.config_path ?? st.configPath)
      fs.rmSync(dir, { recursive: true, force: true })
      fs.mkdirSync(path.dirname(dir), { recursive: true })
      fs.writeFileSync(dir, 'in the way\n')
      const off = run(['telemetry', 'off'])
      assert.equal(off.code, 1, off.stderr)
      assert.equal(s.spool('host'), '', 'buffered data deleted although the choice was not stored')
      assert.ok(!fs.existsSync(path.join(s.root, 'state', 'host', 'machine_id')))
      assert.match(off.stderr, /^host: .*\nYour choice could not be stored; until it is, set HOST_TELEMETRY=0 in your environment\. Buffered data and the machine id were deleted\.\n$/s)
      results.push(normalized(off, s.root))
    }
    assert.deepEqual(results[1], results[0])
    // The API: off() throws, and has deleted the data first. (The broken
    // consent directory turned telemetry off; the env var turns it on.)
    const on = { ...AS_HOST, HOST_TELEMETRY: '1' }
    const code = `
      const { Telemetry } = require(${JSON.stringify(path.resolve(__dirname, '..'))})
      const t = new Telemetry('host', { policy: 'opt-out', envPrefix: 'HOST' })
      try { t.off(); console.log('stored') } catch (e) { console.log('threw: ' + e.message.split('\\n')[1]) }
    `
    assert.equal(other.run(['build'], on).code, 0)
    assert.ok(other.spool('host'))
    const api = spawnSync(process.execPath, ['-e', code], { env: { ...other.env, ...on }, encoding: 'utf8' })
    assert.equal(api.stdout, 'threw: Your choice could not be stored; until it is, set HOST_TELEMETRY=0 in your environment. Buffered data and the machine id were deleted.\n', api.stderr)
    assert.equal(other.spool('host'), '')
  } finally {
    other.cleanup()
  }
}))
