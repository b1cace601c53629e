package tally

import "testing"

// Merging the same lines twice (show, then the claim) once added a line's
// buckets into the caller's array, so the second merge sent a row whose
// buckets no longer added up to its count, and tally serve dropped it.
func TestMergingTwiceLeavesBucketsAddingUpToTheCount(t *testing.T) {
	lat := func() *[Buckets]uint64 { var a [Buckets]uint64; a[0] = 1; return &a }
	lines := []spoolLine{
		{V: SchemaVersion, Day: "2026-11-19", K: "command", Name: strp("list"), Outcome: strp("success"), N: 1, Lat: lat()},
		{V: SchemaVersion, Day: "2026-11-19", K: "command", Name: strp("list"), Outcome: strp("success"), N: 1, Lat: lat()},
	}
	mergeLines(lines)
	out := mergeLines(lines)
	if len(out) != 1 || out[0].N != 2 || out[0].Lat[0] != 2 {
		t.Fatalf("merged twice: n=%d buckets=%v", out[0].N, *out[0].Lat)
	}
	if lines[0].Lat[0] != 1 {
		t.Fatalf("merging changed the caller's line: %v", *lines[0].Lat)
	}
}
