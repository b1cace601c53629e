#!/usr/bin/env bash
# The Go module's CI: vet, gofmt, unit tests, cross-builds of all six
# GOOS/GOARCH with CGO_ENABLED=0, and the end-to-end tests of the example
# hosts against a real `tally serve` on 127.0.0.1. Non-interactive; no
# network beyond Debian's packages (and cargo's registry for the one
# `cargo build --bin tally`, unless TALLY_BIN is given).
source "$(dirname "${BASH_SOURCE[0]}")/go_env.sh"
go version

echo "== gofmt"
unformatted="$(gofmt -l "$ROOT/go")"
if [ -n "$unformatted" ]; then echo "gofmt -l is not empty:"; echo "$unformatted"; exit 1; fi

echo "== core module: vet, unit tests (stdlib only)"
nonstd="$(cd "$GO_DIR" && go list -deps -f '{{if not .Standard}}{{.ImportPath}}{{end}}' . | grep -v "^$PKG\$" || true)"
if [ -n "$nonstd" ]; then echo "the core imports non-standard packages: $nonstd"; exit 1; fi
(cd "$GO_DIR" && go vet ./... && go test -count=1 ./...)

echo "== cross-builds (CGO_ENABLED=0)"
for os in linux darwin windows; do
  for arch in amd64 arm64; do
    (cd "$GO_DIR" && GOOS=$os GOARCH=$arch go vet . && GOOS=$os GOARCH=$arch go build ./...)
    GOOS=$os GOARCH=$arch gopath go build -o /dev/null "$PKG/examples/thv"
    GOOS=$os GOARCH=$arch gopath go build -o /dev/null "$PKG/examples/mcpserver"
    echo "   $os/$arch ok"
  done
done

echo "== cobra adapter and example hosts: vet"
gopath go vet "$PKG/cobratally" "$PKG/examples/thv" "$PKG/examples/mcpserver" "$PKG/examples/minihost" "$PKG/examples/coldcost" "$PKG/examples/e2e"

echo "== end-to-end"
TALLY_BIN="$(find_tally_bin)"
[ -x "$TALLY_BIN" ] || { echo "no tally binary (cargo build --bin tally failed?)"; exit 1; }
echo "   tally: $TALLY_BIN"
TALLY_BIN="$TALLY_BIN" gopath go test -count=1 -v "$PKG/examples/e2e" 2>&1 | tee "$STAGE/e2e.log" | grep -E '^(=== RUN|--- |PASS|FAIL|ok|\s+e2e_test)' || true
grep -q '^ok' "$STAGE/e2e.log" || { cat "$STAGE/e2e.log"; exit 1; }
echo "test_go.sh: all passed"
