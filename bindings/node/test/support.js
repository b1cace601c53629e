'use strict'
// Helpers for the package's tests: a real Commander CLI written to a
// temporary directory and run as a child process with a temporary HOME and
// XDG directories and an environment cleared of everything but PATH (so the
// machine's own CI, DO_NOT_TRACK or config never count), a real
// `tally serve` on loopback, and the repository's Rust example host.

const { spawn, spawnSync, execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const readline = require('node:readline')

const PKG = path.resolve(__dirname, '..')
const REPO = path.resolve(PKG, '..', '..')
const TARGET = process.env.CARGO_TARGET_DIR || path.join(REPO, 'target')

// The environment under which the test CLI is the same application as the
// Rust example host: its name, prefix, version (the root crate's), policy
// and docs URL.
const AS_HOST = { TEST_APP: 'host', TEST_PREFIX: 'HOST', TEST_VERSION: '0.1.0' }

// The test CLI: a Commander program with nested commands, a
// process.exit deep inside an action, a bare record call without the
// helpers, and a foreground send.
const CLI = `
'use strict'
const { Command } = require(${JSON.stringify(require.resolve('commander'))})
const { Telemetry, addTelemetryCommand } = require(${JSON.stringify(PKG)})

const app = process.env.TEST_APP || 'nodeapp'
const t = new Telemetry(app, {
  version: process.env.TEST_VERSION || '1.2.3',
  envPrefix: process.env.TEST_PREFIX || 'NODEAPP',
  policy: process.env.TEST_POLICY || 'opt-out',
  docsUrl: \`https://example.invalid/\${app}/TELEMETRY.md\`,
  // \`flush\` sends in the foreground; no background send to race with it.
  backgroundSend: process.argv[2] !== 'flush',
  // The declarations, from the environment so one CLI tries each.
  toolCalls: process.env.TEST_TOOL_CALLS === '1',
  facts: process.env.TEST_FACTS === '1',
  renameCommands: process.env.TEST_RENAME ? [process.env.TEST_RENAME.split('=')] : undefined,
  outcomeForExit: process.env.TEST_EXIT_OK ? { [process.env.TEST_EXIT_OK]: 'success' } : undefined,
})
if (process.argv[2] === 'bare') {
  t.recordCommand('bare')
  process.exit(Number(process.argv[3]))
}
const program = new Command('nodeapp').exitOverride((e) => process.exit(e.exitCode))
program.command('build [target]').action(() => console.log('built'))
program.command('fail').action(() => { process.exitCode = 1 })
program.command('exit <code>').action((code) => process.exit(Number(code)))
program.command('throw').action(() => { throw new Error('boom') })
program.command('cache').command('clean').action(() => console.log('cleaned'))
program.command('wait <ms>').action((ms) => new Promise((r) => setTimeout(r, Number(ms))).then(() => console.log('waited')))
program.command('flush').action(() => t.shutdown())
program.command('mcp').action(() => {
  const tally = require(${JSON.stringify(PKG)})
  tally.recordClient('claude-code', '1.2.0')
  tally.recordToolCall('search', 'ok', 3)
  tally.setFact('auth_type', 'oidc')
})
addTelemetryCommand(program, t)
program.parseAsync(process.argv)
`

function today(offset = 0) {
  const d = new Date(Date.now() + offset * 86400000)
  return d.toISOString().slice(0, 10)
}

function cargoBin(rel) {
  const p = path.join(TARGET, 'debug', rel)
  if (!fs.existsSync(p)) {
    execFileSync('cargo', ['build', '--locked', '--bin', 'tally'], { cwd: REPO, stdio: 'inherit' })
    // The example host is the library's, built with every host feature.
    execFileSync(
      'cargo',
      ['build', '--locked', '-p', 'tally-telemetry', '--features', 'clap,prompt,rustls,otlp,rmcp', '--example', 'host'],
      { cwd: REPO, stdio: 'inherit' },
    )
  }
  return p
}

class Sandbox {
  constructor() {
    this.root = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-node-'))
    fs.mkdirSync(path.join(this.root, 'home'))
    this.cli = path.join(this.root, 'cli.js')
    fs.writeFileSync(this.cli, CLI)
    const r = this.root
    this.env = {
      PATH: process.env.PATH || '',
      HOME: path.join(r, 'home'),
      XDG_CONFIG_HOME: path.join(r, 'config'),
      XDG_STATE_HOME: path.join(r, 'state'),
      XDG_DATA_HOME: path.join(r, 'data'),
      XDG_CACHE_HOME: path.join(r, 'cache'),
      // Policy files that do not exist, so the machine's /etc never counts.
      NODEAPP_POLICY_FILE: path.join(r, 'policy.toml'),
      HOST_POLICY_FILE: path.join(r, 'host-policy.toml'),
      TALLY_POLICY_FILE: path.join(r, 'tally-policy.toml'),
    }
  }

  run(args, env = {}, prefix = []) {
    const argv = [...prefix, process.execPath, this.cli, ...args]
    const out = spawnSync(argv[0], argv.slice(1), {
      env: { ...this.env, ...env },
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 60000,
    })
    return { code: out.status, stdout: out.stdout, stderr: out.stderr }
  }

  // The repository's Rust example host (app "host", prefix HOST), run with
  // this sandbox's environment.
  host(args, env = {}) {
    const out = spawnSync(cargoBin('examples/host'), args, {
      env: { ...this.env, ...env },
      cwd: this.root,
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
      timeout: 60000,
    })
    return { code: out.status, stdout: out.stdout, stderr: out.stderr }
  }

  spool(app = 'nodeapp') {
    const p = path.join(this.root, 'state', app, 'spool.jsonl')
    return fs.existsSync(p) ? fs.readFileSync(p, 'utf8') : ''
  }

  files() {
    const out = []
    const walk = (d) => {
      for (const e of fs.readdirSync(d, { withFileTypes: true })) {
        const p = path.join(d, e.name)
        if (e.isDirectory()) walk(p)
        else out.push(path.relative(this.root, p))
      }
    }
    walk(this.root)
    return out.sort()
  }

  cleanup() {
    fs.rmSync(this.root, { recursive: true, force: true })
  }
}

// A real `tally serve` on a free loopback port.
async function startServer(sb) {
  const db = path.join(sb.root, 'server.sqlite3')
  const tally = cargoBin('tally')
  const proc = spawn(tally, ['serve', '--listen', '127.0.0.1:0', '--db', db], {
    env: sb.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  const lines = readline.createInterface({ input: proc.stderr })
  let log = ''
  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tally serve did not listen: ${log}`)), 30000)
    lines.on('line', (l) => {
      log += l + '\n'
      const m = /listening on (http:\/\/\S+)/.exec(l)
      if (m) {
        clearTimeout(timer)
        resolve(m[1])
      }
    })
    proc.on('exit', () => reject(new Error(`tally serve exited before listening: ${log}`)))
  })
  return {
    url,
    db,
    async stop() {
      if (proc.exitCode !== null) return
      const done = new Promise((r) => proc.on('exit', r))
      proc.kill('SIGTERM')
      await done
    },
    report() {
      const out = execFileSync(
        tally,
        ['report', '--db', db, '--json', '--min-machines', '1', '--since', '30d'],
        { env: sb.env, encoding: 'utf8' },
      )
      return JSON.parse(out)
    },
  }
}

function counts(spool) {
  const out = {}
  for (const line of spool.split('\n').filter(Boolean)) {
    const r = JSON.parse(line)
    if (r.k === 'command') {
      const key = `${r.name}|${r.outcome}`
      out[key] = (out[key] || 0) + r.n
    }
  }
  return out
}

// What differs between two sandboxes' runs of the same steps: the sandbox
// path, random ids and the time.
function normalized(r, root) {
  const clean = (s) =>
    s
      .split(root)
      .join('<root>')
      .replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, '<uuid>')
      .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z/g, '<time>')
  return { code: r.code, stdout: clean(r.stdout), stderr: clean(r.stderr) }
}

module.exports = { Sandbox, startServer, cargoBin, today, counts, normalized, AS_HOST, spawnSync }
