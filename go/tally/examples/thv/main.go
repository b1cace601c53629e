//go:build !notally

package main

import (
	"os"

	tally "github.com/tally-telemetry/tally-go"
	"github.com/tally-telemetry/tally-go/cobratally"
)

func main() {
	root := newRoot()
	t, _ := tally.New(tally.Options{
		Name:        "thv",
		Version:     version,
		DocsURL:     "https://example.invalid/thv/telemetry",
		NoTelemetry: hasFlag(os.Args, "--no-telemetry"),
	})
	cobratally.Attach(root, t)
	os.Exit(cobratally.Execute(root, t))
}
