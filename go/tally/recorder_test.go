package tally

import "testing"

// The open run keeps a pointer to its stats; a flush in the middle of the
// run swaps the table, and the run must still be counted, once, in the
// new one.
func TestARunOpenAcrossAFlushIsCountedInTheNextDrain(t *testing.T) {
	r := newRecorder()
	r.enabled.Store(true)
	r.command("build")
	if got := r.drain("2026-11-20", false); len(got) != 0 {
		t.Fatalf("an open run was drained: %+v", got)
	}
	r.finish(Success)
	got := r.drain("2026-11-20", false)
	if len(got) != 1 || *got[0].Name != "build" || *got[0].Outcome != "success" || got[0].N != 1 {
		t.Fatalf("got %+v", got)
	}
	// A command recorded while one is open ends that one as unknown.
	r.command("a")
	r.command("a")
	r.command("b")
	r.finish(Failure)
	got = r.drain("2026-11-20", true)
	want := map[string]uint64{"a/unknown": 2, "b/failure": 1}
	if len(got) != len(want) {
		t.Fatalf("got %+v", got)
	}
	for _, l := range got {
		if want[*l.Name+"/"+*l.Outcome] != l.N {
			t.Fatalf("%s/%s: %d", *l.Name, *l.Outcome, l.N)
		}
	}
}

// Past maxNames distinct commands, runs are counted as dropped.
func TestCommandsPastTheNameBoundAreDropped(t *testing.T) {
	r := newRecorder()
	r.enabled.Store(true)
	for i := 0; i < maxNames+3; i++ {
		r.command("c" + string(rune('a'+i%26)) + string(rune('a'+i/26)))
		r.finish(Success)
	}
	var dropped uint64
	n := 0
	for _, l := range r.drain("2026-11-20", true) {
		if l.K == "dropped" {
			dropped = l.N
		} else {
			n++
		}
	}
	if n != maxNames || dropped != 3 {
		t.Fatalf("%d names kept, %d dropped", n, dropped)
	}
}
