// Command minihost is the smallest host, with its application name on the
// command line, so tests can act as the same application as a Rust host
// (the `tally` binary itself) and check that both read each other's
// consent file and spool:
//
//	minihost NAME [--opt-in] status|on|off|show|record PATH
package main

import (
	"fmt"
	"os"

	tally "github.com/tally-telemetry/tally-go"
)

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: minihost NAME [--opt-in] status|on|off|show|record PATH")
		os.Exit(2)
	}
	args := os.Args[2:]
	optIn := args[0] == "--opt-in"
	if optIn {
		args = args[1:]
	}
	t, err := tally.New(tally.Options{Name: os.Args[1], Version: "1.0.0", OptIn: optIn, NoBackgroundSend: true})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer t.Close()
	switch args[0] {
	case "status":
		os.Stdout.Write(t.Status().JSON())
	case "on", "off":
		if err := t.SetEnabled(args[0] == "on", "command"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			t.Exit(1)
		}
	case "show":
		b, err := t.Pending()
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			t.Exit(1)
		}
		fmt.Println(string(b))
	case "record":
		t.RecordCommand(args[1])
		t.FinishExitCode(0)
	}
}
