//go:build notally

package main

import (
	"fmt"
	"os"
)

// The same host without tally, for the side-by-side benchmark and the
// binary-size comparison (go build -tags notally).
func main() {
	if err := newRoot().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
