// Package tally is privacy-first, consent-managed usage telemetry for Go
// command-line tools and MCP servers. It is the Go side of the tally
// project: pure Go, standard library only, and it keeps the Rust library's
// contract, so a Go host and a Rust host of the same application name read
// each other's consent file, state directory and spool.
//
// # What it does
//
// A host creates one [Telemetry] with [New]. Consent is resolved once, in
// this order (first match wins): the system policy file, DO_NOT_TRACK, the
// host's --no-telemetry flag, <APP>_TELEMETRY, the choice stored in
// <config dir>/<app>/telemetry.toml, CI detection, the application's
// default. Record calls ([Telemetry.RecordCommand],
// [Telemetry.RecordToolCall], [Telemetry.RecordClient],
// [Telemetry.SetFact]) only touch memory. [Telemetry.Close] appends
// the counts to spool.jsonl in the state directory, shows the one-line
// notice on stderr once, and, when a completed UTC day is waiting, starts a
// detached helper (a re-exec of the host's own executable) that posts the
// day's rollup to the endpoint. Nothing is ever written to stdout.
//
// # The exit rule
//
// Go has no atexit. Counts live in memory until [Telemetry.Close] (or
// [Telemetry.Flush]) writes them, and os.Exit skips deferred calls. So:
//
//	t, _ := tally.New(tally.Options{Name: "mytool", Version: "1.2.3"})
//	defer t.Close()            // normal returns from main
//	...
//	t.Exit(code)               // instead of os.Exit(code): persists first
//
// or, equivalently, os.Exit(t.Run(realMain)). A host that calls os.Exit
// (or log.Fatal) directly loses that run's counts; nothing else is lost.
//
// # The delivery helper
//
// Hosts need do nothing for it: when the process was started as the
// helper (the environment variable __TALLY_DELIVER_HELPER and the argument
// --tally-deliver-helper), the package's init sends and exits before the
// host's own init functions that come later and its main run. The helper
// has stdio on /dev/null, runs at most 6 s, and holds send.lock, so at
// most one sends per application and machine.
package tally
