#!/usr/bin/env bash
# Builds the `tally serve` container image (deploy/container/Containerfile)
# with podman from the release binary, and with --test checks the built
# image without `podman run` (which needs a cgroup setup not every host
# has): it saves the image as a docker archive (an OCI archive would drop
# the health check, which OCI configs lack), unpacks its layers into a
# root file system, and runs the image's own entrypoint, user, environment
# and health check command from its config there (chroot, as the image's
# uid), against loopback: the health check passes, /readyz answers 200 and
# a batch is answered 204.
#
# The image holds no base image: the binary, the shared libraries `ldd`
# lists for it (copied from this host, same paths), /etc/passwd and
# /etc/group with the user tally (uid 65532) and its home for the default
# SQLite store.
#
# Usage: bash scripts/image.sh [--debug | --binary PATH] [--test] [--tag NAME]
#   --debug  the debug binary (target/debug/tally; what CI tests, which has
#            it built already: the image is the same but for the binary)
#   --binary a tally binary built already
#   --test   check the built image as described above
# Installs podman with apt if missing (as root, or through sudo).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

profile=release
test=0
tag=localhost/tally:latest
while [ $# -gt 0 ]; do
  case "$1" in
    --debug) profile=debug ;;
    --binary) bin=$(realpath "$2"); profile=given; shift ;;
    --test) test=1 ;;
    --tag) tag=$2; shift ;;
    *) echo "usage: bash scripts/image.sh [--debug | --binary PATH] [--test] [--tag NAME]" >&2; exit 2 ;;
  esac
  shift
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
if ! command -v podman >/dev/null; then
  echo "image.sh: installing podman with apt"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman
fi

case "$profile" in
  release) cargo build --release --locked --bin tally; bin="$root/target/release/tally" ;;
  debug) cargo build --locked --bin tally; bin="$root/target/debug/tally" ;;
esac

# The build context: rootfs/ (owned by root) and home/ (by the user).
ctx="$root/target/image/context"
rm -rf "$ctx"
mkdir -p "$ctx/rootfs/usr/local/bin" "$ctx/rootfs/etc" "$ctx/rootfs/tmp" "$ctx/home/tally"
chmod 1777 "$ctx/rootfs/tmp"
cp "$bin" "$ctx/rootfs/usr/local/bin/tally"
[ "$profile" = debug ] || strip "$ctx/rootfs/usr/local/bin/tally"
# Every shared library the binary loads, and the loader, at their paths.
libs=$(ldd "$bin" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
for lib in $libs; do
  mkdir -p "$ctx/rootfs$(dirname "$lib")"
  cp -L "$lib" "$ctx/rootfs$lib"
done
printf 'root:x:0:0:root:/root:/sbin/nologin\ntally:x:65532:65532:tally:/home/tally:/sbin/nologin\n' \
  >"$ctx/rootfs/etc/passwd"
printf 'root:x:0:\ntally:x:65532:\n' >"$ctx/rootfs/etc/group"
cp deploy/container/Containerfile "$ctx/Containerfile"

echo "image.sh: building $tag from ${bin#"$root/"} with $(echo "$libs" | wc -w) shared libraries"
# The docker format: OCI image configs have no HEALTHCHECK.
podman build -q --format docker --tag "$tag" "$ctx" >/dev/null
podman image inspect --format '{{.Size}} bytes, user {{.Config.User}}' "$tag" |
  sed 's/^/image.sh: built: /'

[ "$test" = 1 ] || exit 0

work=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

podman image save --format docker-archive -o "$work/image.tar" "$tag"
mkdir "$work/archive" "$work/rootfs"
tar -xf "$work/image.tar" -C "$work/archive"
# The manifest's layers in order, and the config (entrypoint, user, env,
# health check), as the image declares them.
python3 - "$work" <<'PY'
import json, os, shlex, sys
work = sys.argv[1]
archive = os.path.join(work, "archive")
manifest = json.load(open(os.path.join(archive, "manifest.json")))[0]
config = json.load(open(os.path.join(archive, manifest["Config"])))["config"]
with open(os.path.join(work, "layers"), "w") as f:
    for layer in manifest["Layers"]:
        f.write(os.path.join(archive, layer) + "\n")
health = config.get("Healthcheck", {}).get("Test", [])
assert health[:1] == ["CMD"], f"no exec-form health check in the image: {health}"
with open(os.path.join(work, "config.sh"), "w") as f:
    f.write("user=%s\n" % shlex.quote(config["User"]))
    f.write("entrypoint=(%s)\n" % " ".join(map(shlex.quote, config["Entrypoint"])))
    f.write("health=(%s)\n" % " ".join(map(shlex.quote, health[1:])))
    f.write("env=(%s)\n" % " ".join(map(shlex.quote, config.get("Env", []))))
    f.write("workdir=%s\n" % shlex.quote(config.get("WorkingDir") or "/"))
PY
while read -r layer; do tar -xf "$layer" -C "$work/rootfs"; done <"$work/layers"
# shellcheck source=/dev/null
. "$work/config.sh"
case "$user" in 0 | 0:* | root | root:*) echo "image.sh: the image runs as root ($user)" >&2; exit 1 ;; esac
[ "$(stat -c %u "$work/rootfs/home/tally")" = "${user%%:*}" ] ||
  { echo "image.sh: /home/tally is not owned by the image's user" >&2; exit 1; }

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# The image's entrypoint with this port instead of CMD's (8080 may be taken
# here), as its user, in its root file system and environment; the host's
# network namespace, so loopback is the host's.
in_image() { env -i "${env[@]}" chroot --userspec="$user" "$work/rootfs" "$@"; }
# (A simple command in the background: $! is the server itself, through
# env's and chroot's exec; chroot starts in /, the image's WORKDIR is
# $workdir, which only relative paths would notice.)
env -i "${env[@]}" chroot --userspec="$user" "$work/rootfs" "${entrypoint[@]}" \
  --listen "127.0.0.1:$port" --rate-limit 0 >"$work/serve.log" 2>&1 &
pid=$!
health=("${health[@]//8080/$port}")
ok=0
for _ in $(seq 1 100); do
  if in_image "${health[@]}" 2>/dev/null; then ok=1; break; fi
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
[ "$ok" = 1 ] || { echo "image.sh: the health check never passed:" >&2; cat "$work/serve.log" >&2; exit 1; }
in_image /usr/local/bin/tally serve --check "http://127.0.0.1:$port/readyz" ||
  { echo "image.sh: /readyz failed" >&2; cat "$work/serve.log" >&2; exit 1; }
status=$(python3 - "$port" <<'PY'
import datetime, http.client, json, sys, uuid
day = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(days=1)).strftime("%Y-%m-%d")
batch = {
    "envelope": {"app": "demo", "app_version": "1.2.3", "os": "linux", "arch": "x86_64",
                 "ci": False, "schema": 1, "machine_id": str(uuid.uuid4()), "batch_id": str(uuid.uuid4())},
    "events": [{"type": "usage_rollup", "day": day, "commands": [{"command": "image", "count": 1}]}],
}
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
c.request("POST", "/v1/batch", json.dumps(batch), {"Content-Type": "application/json"})
print(c.getresponse().status)
PY
)
[ "$status" = 204 ] || { echo "image.sh: a batch got $status, not 204:" >&2; cat "$work/serve.log" >&2; exit 1; }
kill "$pid"
wait "$pid" 2>/dev/null || true
pid=
grep -q "batches stored: 1" "$work/serve.log" ||
  { echo "image.sh: the server did not report the batch stored:" >&2; cat "$work/serve.log" >&2; exit 1; }
store=$(find "$work/rootfs/home/tally" -name '*.sqlite3' | head -1)
[ -n "$store" ] && [ "$(stat -c %u "$store")" = "${user%%:*}" ] ||
  { echo "image.sh: no store written by the image's user under /home/tally" >&2; exit 1; }
echo "image.sh: tested $tag: entrypoint as uid ${user%%:*} in the image's root file system; health check, /readyz 200, a batch 204, stored in ${store#"$work/rootfs"}"
