'use strict'
// The conformance vectors of ../../conformance, generated from the Rust
// library, run through this package's public API: each consent, file and
// spool case in a child process of its own (the environment is the
// case's, the files are real files in a temp directory, a flush posts to a
// real loopback listener); the schema's rules through `schema`. A file
// there that no runner here knows fails: a new kind of case is never
// skipped by accident.

const test = require('node:test')
const assert = require('node:assert/strict')
const { spawn } = require('node:child_process')
const fs = require('node:fs')
const http = require('node:http')
const os = require('node:os')
const path = require('node:path')

const PKG = path.resolve(__dirname, '..')
const DIR = path.resolve(PKG, '..', '..', 'conformance')
const { schema, testHooks } = require(PKG)

// The child: one Telemetry for app "demo" as the case describes it; prints
// its status (`telemetry status --json`) and, for a spool case, what
// `telemetry flush --json` printed and its exit code.
const CHILD = `
const { Telemetry } = require(${JSON.stringify(PKG)})
const spec = JSON.parse(process.argv[1])
const t = new Telemetry('demo', {
  envPrefix: 'DEMO', policy: spec.optIn ? 'opt-in' : 'opt-out', policyFile: spec.policyFile,
  noTelemetry: spec.flag, version: spec.version, endpoint: spec.endpoint, backgroundSend: false,
})
const out = { status: JSON.parse(t.run(['status', '--json']).stdout) }
if (spec.flush) {
  const r = t.run(['flush', '--json'])
  out.flush = { code: r.code, result: JSON.parse(r.stdout).result }
}
process.stdout.write(JSON.stringify(out))
`

function child(spec, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['-e', CHILD, '--', JSON.stringify(spec)], { env })
    let out = ''
    let err = ''
    p.stdout.on('data', (d) => { out += d })
    p.stderr.on('data', (d) => { err += d })
    p.on('error', reject)
    p.on('close', (code) => {
      try {
        resolve(JSON.parse(out))
      } catch (e) {
        reject(new Error(`child exited ${code}: ${err}${out}`))
      }
    })
  })
}

// Real files for a case under a fresh temp directory; the environment is
// the case's plus the locations (which decide nothing).
function sandbox(c) {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-conf-'))
  const policyFile = path.join(root, 'policy.toml')
  if (c.policy != null) fs.writeFileSync(policyFile, c.policy)
  const configDir = path.join(root, 'config', 'demo')
  if (c.config != null) {
    fs.mkdirSync(configDir, { recursive: true, mode: 0o700 })
    fs.writeFileSync(path.join(configDir, 'telemetry.toml'), c.config, { mode: 0o600 })
  }
  const stateDir = path.join(root, 'state')
  const env = {
    ...(c.env || {}),
    HOME: root,
    XDG_CONFIG_HOME: path.join(root, 'config'),
    XDG_STATE_HOME: path.join(root, 'xdg-state'),
    DEMO_TELEMETRY_DIR: stateDir,
  }
  return { root, policyFile, stateDir, env, configFile: path.join(configDir, 'telemetry.toml') }
}

async function decide(c) {
  const sb = sandbox(c)
  try {
    const out = await child({ optIn: c.opt_in, flag: c.flag, policyFile: sb.policyFile }, sb.env)
    assert.equal(out.status.config_path, sb.configFile, 'the consent file is where the case put it')
    return out.status
  } finally {
    fs.rmSync(sb.root, { recursive: true, force: true })
  }
}

// The proxy a send takes does not show in the status; whether its setting
// is unusable does (as the endpoint's problem), and is checked here.
async function runProxy(c) {
  const sb = sandbox(c)
  try {
    const out = await child({ optIn: false, flag: false, policyFile: sb.policyFile, endpoint: c.endpoint }, sb.env)
    return [{ unusable: out.status.endpoint_problem != null }, { unusable: c.want.unusable }]
  } finally {
    fs.rmSync(sb.root, { recursive: true, force: true })
  }
}

async function runPrecedence(c) {
  const s = await decide(c)
  return [{ enabled: s.enabled, decided_by: s.decided_by }, c.want]
}

// What the status shows of a file: the decision and endpoint always; for
// the consent file whether it parsed, for the policy file the rotation it
// sets (its other values show in the decision and endpoint).
async function runConsentFile(c) {
  const s = await decide({ config: c.text, opt_in: false, flag: false })
  const got = { valid: s.config_state === 'loaded', enabled: s.enabled, decided_by: s.decided_by, endpoint: s.endpoint }
  const w = c.want
  return [got, { valid: w.valid, enabled: w.enabled, decided_by: w.decided_by, endpoint: w.endpoint }]
}

async function runPolicyFile(c) {
  const s = await decide({ policy: c.text, opt_in: false, flag: false })
  const w = c.want
  const got = { enabled: s.enabled, decided_by: s.decided_by, endpoint: s.endpoint }
  const want = { enabled: w.enabled, decided_by: w.decided_by, endpoint: w.endpoint }
  if (w.valid) {
    got.rotation = s.machine_id_rotation
    want.rotation = w.values.rotate_machine_id || 'never'
  }
  return [got, want]
}

async function runBatches(c) {
  const bodies = []
  const server = http.createServer((req, res) => {
    const chunks = []
    req.on('data', (d) => chunks.push(d))
    req.on('end', () => {
      bodies.push(Buffer.concat(chunks).toString())
      res.writeHead(c.status, { 'content-length': 0 })
      res.end()
    })
  })
  await new Promise((r) => server.listen(0, '127.0.0.1', r))
  const sb = sandbox(c)
  try {
    fs.mkdirSync(sb.stateDir, { recursive: true, mode: 0o700 })
    const spoolFile = path.join(sb.stateDir, 'spool.jsonl')
    fs.writeFileSync(spoolFile, c.spool, { mode: 0o600 })
    sb.env.DEMO_TELEMETRY_NOW = c.now
    const out = await child(
      { optIn: false, flag: false, policyFile: sb.policyFile, version: c.version, flush: true,
        endpoint: `http://127.0.0.1:${server.address().port}/v1/batch` },
      sb.env,
    )
    const ids = new Ids(Object.values(c.env))
    const got = {
      result: out.flush.result,
      exit_code: out.flush.code,
      batches: bodies.map((b) => ids.body(b)),
      // A spool with nothing left may be gone: that is an empty spool.
      spool_after: ids.spool(fs.existsSync(spoolFile) ? fs.readFileSync(spoolFile, 'utf8') : ''),
    }
    return [got, c.want]
  } finally {
    server.close()
    fs.rmSync(sb.root, { recursive: true, force: true })
  }
}

// The normalisation of random ids that conformance/README.md describes.
class Ids {
  constructor(keep) {
    this.keep = keep
    this.machines = []
    this.batches = []
  }

  static number(seen, id) {
    if (!seen.includes(id)) seen.push(id)
    return seen.indexOf(id)
  }

  body(text) {
    const e = JSON.parse(text).envelope
    let out = text.split(e.batch_id).join(`<batch_id:${Ids.number(this.batches, e.batch_id)}>`)
    if (!this.keep.includes(e.machine_id)) {
      out = out.split(e.machine_id).join(`<machine_id:${Ids.number(this.machines, e.machine_id)}>`)
    }
    out = out.replace(`"os":"${e.os}"`, '"os":"<os>"')
    return out.replace(`"arch":"${e.arch}"`, '"arch":"<arch>"')
  }

  spool(text) {
    let out = text
    for (const line of text.split('\n')) {
      const m = line.match(/"b":"([^"]*)"/)
      if (m) out = out.split(m[1]).join(`<batch_id:${Ids.number(this.batches, m[1])}>`)
    }
    return out
  }
}

function runValidation(c) {
  const v = schema.validateBatch(c.body, c.today)
  if (v.reason && v.reason.startsWith('body is not JSON: ')) v.reason = 'body is not JSON'
  return [v, c.want]
}

const BUCKETS = {
  outcome: (n) => schema.outcomeFromExitCode(n),
  duration: (n) => schema.durationBucket(n),
  latency: (n) => schema.latencyBucket(n),
  count: (n) => schema.countBucket(n),
  uptime: (n) => schema.uptimeBucket(n),
}

function runBucket(c) {
  const f = BUCKETS[c.kind]
  assert.ok(f, `no Node runner for bucket kind ${c.kind}`)
  return [f(c.input), c.want]
}

const NAMES = {
  command_path: (s) => schema.matches('command_path', s),
  tool_name: (s) => schema.matches('tool_name', s),
  app_name: (s) => schema.matches('app_name', s),
  version: (s) => schema.matches('version', s),
  client_name: (s) => schema.clientName(s),
  major_version: (s) => schema.majorVersion(s),
}

function runName(c) {
  const f = NAMES[c.kind]
  assert.ok(f, `no Node runner for name kind ${c.kind}`)
  return [f(c.input), c.want]
}

const RUNNERS = {
  'consent/precedence.json': runPrecedence,
  'files/consent_file.json': runConsentFile,
  'files/policy_file.json': runPolicyFile,
  'spool/batches.json': runBatches,
  'spool/proxy.json': runProxy,
  'schema/validation.json': runValidation,
  'schema/buckets.json': runBucket,
  'schema/names.json': runName,
}

const FILES = fs.readdirSync(DIR, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .flatMap((d) => fs.readdirSync(path.join(DIR, d.name)).filter((f) => f.endsWith('.json')).map((f) => `${d.name}/${f}`))
  .sort()

test('every conformance file has a Node runner', () => {
  assert.ok(FILES.length > 0, `no conformance cases under ${DIR}`)
  assert.deepEqual(FILES.filter((f) => !RUNNERS[f]), [])
})

for (const file of FILES) {
  const run = RUNNERS[file]
  if (!run) continue // failed above, by name
  test(`conformance ${file}`, async () => {
    if (file.startsWith('spool/')) {
      // The cases pin the clock with DEMO_TELEMETRY_NOW, which only a
      // debug build of the addon honours (scripts/test_bindings.sh builds one).
      assert.ok(testHooks(), 'the conformance spool cases need a debug build of the addon (npm run build)')
    }
    const cases = JSON.parse(fs.readFileSync(path.join(DIR, file), 'utf8'))
    assert.ok(cases.length > 0, `${file}: no cases`)
    const failures = []
    for (const c of cases) {
      const [got, want] = await run(c)
      try {
        assert.deepStrictEqual(got, want)
      } catch (_) {
        failures.push(`${c.name || `${c.kind} ${JSON.stringify(c.input)}`}:\n  got  ${JSON.stringify(got)}\n  want ${JSON.stringify(want)}`)
      }
    }
    assert.equal(failures.length, 0, `${file}: ${failures.length} of ${cases.length} cases differ:\n${failures.join('\n')}`)
  })
}
