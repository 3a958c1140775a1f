#!/usr/bin/env bash
# The agent as a new user tries it (README "Trying the agent"): a real
# nats-server, bosh-agent with a settings file, and `bosh agent send` as the
# small client: ping, apply a package and a job, start, see the job running
# under monit, kill -9 its process and see monit restart it, stop, fetch_logs.
# Usage: agent_quickstart.sh <build dir>
set -euo pipefail
build=$(cd "$1" && pwd)
bosh=$build/bin/bosh
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/vm/sys/run/web.pid" ] && kill -9 "$(cat "$work/vm/sys/run/web.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
command -v nats-server >/dev/null || fail "nats-server is not installed: run scripts/install-deps"
command -v monit >/dev/null || fail "monit is not installed: run scripts/install-deps"

echo "== nats-server on a free port"
cat >"$work/nats.conf" <<CONF
listen: 127.0.0.1:-1
authorization { user: nats, password: "s3cret" }
CONF
nats-server -c "$work/nats.conf" >"$work/nats.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do grep -q 'Listening for client connections' "$work/nats.log" && break; sleep 0.05; done
port=$(sed -n 's/.*Listening for client connections on 127.0.0.1:\([0-9]*\).*/\1/p' "$work/nats.log")
[ -n "$port" ] || fail "nats-server did not start: $(cat "$work/nats.log")"
nats=nats://nats:s3cret@127.0.0.1:$port

echo "== bosh-agent with a settings file"
mkdir -p "$work/vm/bosh" "$work/blobs"
cat >"$work/vm/bosh/settings.json" <<JSON
{"agent_id": "agent-quick", "vm": {"name": "vm-quick"}, "mbus": "$nats",
 "blobstore": {"provider": "local", "options": {"blobstore_path": "$work/blobs"}},
 "networks": {"default": {"type": "manual", "ip": "127.0.10.9"}}}
JSON
"$build/bin/bosh-agent" --base-dir "$work/vm" --heartbeat-interval 2 --monit-poll 1 >"$work/agent.log" 2>&1 &
pids+=($!)
send() { "$bosh" agent send --nats "$nats" --agent agent-quick "$@"; }
for _ in $(seq 50); do [ "$(send ping --timeout 1 2>/dev/null)" = pong ] && break; sleep 0.1; done
[ "$(send ping)" = pong ] || fail "no pong: $(cat "$work/agent.log")"

echo "== a package and a job in the blobstore"
mkdir -p "$work/pkg/bin" "$work/rendered/web/bin"
printf '#!/bin/sh\nexec sleep 100000\n' >"$work/pkg/bin/web-server" && chmod +x "$work/pkg/bin/web-server"
tar czf "$work/blobs/pkg-web" -C "$work/pkg" .
cat >"$work/rendered/web/monit" <<MONIT
check process web with pidfile $work/vm/sys/run/web.pid
  start program = "$work/vm/jobs/web/bin/ctl start" with timeout 10 seconds
  stop program = "$work/vm/jobs/web/bin/ctl stop"
MONIT
cat >"$work/rendered/web/bin/ctl" <<CTL
#!/bin/sh
case \$1 in
  start) $work/vm/packages/web/bin/web-server >/dev/null 2>&1 & echo \$! > $work/vm/sys/run/web.pid ;;
  stop) kill \$(cat $work/vm/sys/run/web.pid) ;;
esac
CTL
chmod +x "$work/rendered/web/bin/ctl"
tar czf "$work/blobs/rendered-1" -C "$work/rendered" .
pkg_sha=$(sha1sum "$work/blobs/pkg-web" | cut -d' ' -f1)
rendered_sha=$(sha1sum "$work/blobs/rendered-1" | cut -d' ' -f1)

echo "== apply, start, get_state"
spec='{"deployment": "quick", "name": "web", "index": 0, "id": "i-1",
 "job": {"name": "web", "templates": [{"name": "web"}]},
 "packages": {"web": {"name": "web", "version": "1", "sha1": "'$pkg_sha'", "blobstore_id": "pkg-web"}},
 "configuration_hash": "c1", "rendered_templates_archive": {"blobstore_id": "rendered-1", "sha1": "'$rendered_sha'"}}'
[ "$(send apply "[$spec]")" = applied ] || fail "apply"
[ "$(send start)" = started ] || fail "start"
state() { send get_state | grep -o '"job_state": "[a-z]*"' | cut -d'"' -f4; }
for _ in $(seq 100); do [ "$(state)" = running ] && break; sleep 0.1; done
[ "$(state)" = running ] || fail "job not running: $(send get_state)"
pid=$(cat "$work/vm/sys/run/web.pid")
kill -0 "$pid" || fail "the job's process is not running"

echo "== kill -9 the job: monit restarts it"
kill -9 "$pid"
for _ in $(seq 150); do
  new=$(cat "$work/vm/sys/run/web.pid" 2>/dev/null || true)
  [ -n "$new" ] && [ "$new" != "$pid" ] && kill -0 "$new" 2>/dev/null && break
  sleep 0.1
done
[ "$new" != "$pid" ] || fail "monit did not restart the job"
grep -q 'alert: web (127.0.10.9) - Does not exist - restart' "$work/agent.log" || fail "no alert in the agent log"

echo "== stop, fetch_logs"
[ "$(send stop)" = stopped ] || fail "stop"
[ "$(state)" = stopped ] || fail "state after stop: $(state)"
echo "a log line" >"$work/vm/sys/log/web/web.log"
logs=$(send fetch_logs '["job", []]')
id=$(grep -o '"blobstore_id": "[^"]*"' <<<"$logs" | cut -d'"' -f4)
tar tzf "$work/blobs/$id" | grep -q 'web/web.log' || fail "logs tarball: $(tar tzf "$work/blobs/$id")"
echo PASS
