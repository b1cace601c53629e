// Command coldcost measures, inside one fresh process, what tally costs a
// short command: New, one RecordCommand/FinishExitCode, and Close, each
// timed cold (first touch of the code and files), printed on stderr as
// microseconds. scripts/bench_go.sh runs it a few hundred times.
package main

import (
	"fmt"
	"os"
	"time"

	tally "github.com/tally-telemetry/tally-go"
)

func main() {
	t0 := time.Now()
	t, _ := tally.New(tally.Options{Name: "coldcost", Version: "1.0.0"})
	t1 := time.Now()
	t.RecordCommand("list")
	t.FinishExitCode(0)
	t2 := time.Now()
	_ = t.Close()
	t3 := time.Now()
	fmt.Fprintf(os.Stderr, "%d %d %d\n", t1.Sub(t0).Microseconds(), t2.Sub(t1).Microseconds(), t3.Sub(t2).Microseconds())
}
