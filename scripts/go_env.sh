# Sourced by test_go.sh and bench_go.sh: installs what the Go module needs
# from Debian, and stages a GOPATH so the cobra adapter and the example
# hosts build offline against Debian's cobra sources (GOPATH mode: Debian
# ships cobra's sources without a module cache). The core module itself
# builds in module mode with no dependency at all.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
GO_DIR="$ROOT/go/tally"

need=()
command -v go >/dev/null 2>&1 || need+=(golang-go)
[ -d /usr/share/gocode/src/github.com/spf13/cobra ] || need+=(golang-github-spf13-cobra-dev)
[ -d /usr/share/gocode/src/github.com/inconshreveable/mousetrap ] || need+=(golang-github-inconshreveable-mousetrap-dev)
command -v strace >/dev/null 2>&1 || need+=(strace)
if [ "${WANT_HYPERFINE:-0}" = 1 ] && ! command -v hyperfine >/dev/null 2>&1; then need+=(hyperfine); fi
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
fi

# Never reach for the module proxy.
export GOPROXY=off GOSUMDB=off GOFLAGS=-mod=mod GONOSUMDB='*' GOTELEMETRY=off
export CGO_ENABLED=0

STAGE="$(mktemp -d /tmp/tally-go-stage.XXXXXX)"
trap 'rm -rf "$STAGE"' EXIT
mkdir -p "$STAGE/src/github.com/tally-telemetry"
cp -r "$GO_DIR" "$STAGE/src/github.com/tally-telemetry/tally-go"
# Run a go command in GOPATH mode against the staged copy and Debian's sources.
gopath() { (cd "$STAGE" && GO111MODULE=off GOFLAGS= GOPATH="$STAGE:/usr/share/gocode" "$@"); }
PKG=github.com/tally-telemetry/tally-go

# The tally binary for the end-to-end tests: TALLY_BIN, else the one cargo
# builds for the root package (wherever its target dir is).
find_tally_bin() {
  if [ -n "${TALLY_BIN:-}" ]; then echo "$TALLY_BIN"; return; fi
  (cd "$ROOT" && cargo build --bin tally --message-format=json 2>/dev/null) | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "tally":
        print(m["executable"])'
}
