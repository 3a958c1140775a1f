#!/usr/bin/env bash
# Benchmark: deploys on the local CPI (each VM a bosh-vm-init + bosh-agent +
# monit process tree on this machine), with a trivial generated release: one
# job whose monit runs a process that only sleeps. No packages, so nothing is
# compiled.
#   floor:    a fresh deployment of 1 instance (one VM create + agent start +
#             job start), best of $BENCH_FLOOR_RUNS (default 3)
#   N:        a fresh deployment of N instances (max_in_flight 100%, canaries 0),
#             then delete deployment; wall times, director CPU and RSS
#   planning: a zero-change deploy of PLANNING_N instances, built up in batches
#             of $BENCH_BATCH (default 250) whose VMs are killed (kill -9) once
#             deployed: a zero-change deploy never contacts agents. One
#             zero-change deploy after each batch, $BENCH_PLAN_RUNS (default 2)
#             at the full size; each checked to have updated nothing.
# Each bosh command is timed from start to exit, and a poller follows its task
# (every 0.1 s, one keep-alive connection) for when it really ended and when
# each event arrived (the event log's own times are whole seconds).
# Everything runs in a temp dir with its own director (scripts/local-director,
# on a copy of the build's binaries), HOME and loopback subnet (127.1.0.0/16),
# stopped at the end. Needs ruby (installed by scripts/install-deps) and bc.
# Usage: bench/deploy_bench.sh [build dir] [N list, default "10 100 500"] [planning N, default 1000]
# Env: BENCH_FLOOR_RUNS, BENCH_BATCH, BENCH_PLAN_RUNS, BENCH_WATCH
#      (canary/update_watch_time, default 1000-30000), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail
src=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-$src/build}" && pwd)
sizes=${2:-"10 100 500"}
planning_n=${3:-1000}
floor_runs=${BENCH_FLOOR_RUNS:-3}
batch=${BENCH_BATCH:-250}
plan_runs=${BENCH_PLAN_RUNS:-2}
watch=${BENCH_WATCH:-1000-30000}

for b in bosh bosh-agent bosh-blobstore bosh-director bosh-local-stemcell bosh-vm-init; do
  [ -x "$build/bin/$b" ] || { echo "deploy_bench: $build/bin/$b is missing" >&2; exit 1; }
done
[ -f "$build/lib/bosh/plugins/cpi_local.so" ] || { echo "deploy_bench: $build/lib/bosh/plugins/cpi_local.so is missing" >&2; exit 1; }
command -v ruby >/dev/null || { echo "deploy_bench: ruby is needed (scripts/install-deps)" >&2; exit 1; }

work=$(mktemp -d /tmp/deploy-bench.XXXXXX)
export HOME=$work/home BOSH_LOCAL_DIR=$work/local BOSH_BIN=$work/bin
mkdir -p "$HOME" "$work/out" "$work/bin" "$work/lib/bosh/plugins"
running_pids=()  # the bosh command and the poller being waited for
cleanup() {
  local rc=$? p
  for p in "${running_pids[@]}"; do kill "$p" 2>/dev/null || true; done
  "$src/scripts/local-director" stop "$BOSH_LOCAL_DIR" >/dev/null 2>&1 || true
  if [ "$rc" = 0 ] && [ -z "${BENCH_KEEP:-}" ]; then
    rm -rf "$work"
  else
    echo "deploy_bench: state and logs kept in $work" >&2
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A copy of the binaries (and the CPI plugin, found next to them in
# ../lib/bosh/plugins), so a rebuild of the build dir during the run changes nothing.
for b in bosh bosh-agent bosh-blobstore bosh-director bosh-local-stemcell bosh-vm-init; do cp "$build/bin/$b" "$work/bin/"; done
cp "$build/lib/bosh/plugins/cpi_local.so" "$work/lib/bosh/plugins/"
bosh=$work/bin/bosh

now() { date +%s.%N; }
calc() { echo "$*" | bc -l; }
log() { echo "$(date -u +%H:%M:%S) $*" >&2; }
die() { echo "deploy_bench: $*" >&2; exit 1; }
clk_tck=$(getconf CLK_TCK)
director_pid() { cat "$BOSH_LOCAL_DIR/director.pid"; }
# utime+stime of the director, and cutime+cstime (its waited-for children:
# the ERB renderer), in seconds.
director_cpu() {
  local stat
  stat=$(cat "/proc/$(director_pid)/stat")
  stat=${stat##*) }
  awk -v t="$clk_tck" '{ printf "%.2f %.2f\n", ($12 + $13) / t, ($14 + $15) / t }' <<<"$stat"
}
director_rss_mib() { awk '/^VmRSS:/ { printf "%.1f\n", $2 / 1024 }' "/proc/$(director_pid)/status"; }

log "temp dir $work; load average $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores"
"$src/scripts/local-director" start "$BOSH_LOCAL_DIR" >"$work/env" || die "the local director did not start"
# shellcheck disable=SC1090,SC1091
. "$work/env"

# The task poller: follows the next task (the one the CLI starts: this
# script is the director's only client, and task ids are sequential) over one
# keep-alive HTTPS connection, every 100 ms, and writes each new event line
# with the time it arrived, then the time the task was seen to end and how
# many requests it made. The event log's own times have 1 s resolution; these
# have ~0.1 s. (The CLI's output cannot give the task id in time: its stdout is
# a file, so block-buffered.)
#   poll.rb URL CA PASSWORD last          the latest task's id (0: none)
#   poll.rb URL CA PASSWORD calibrate N   N requests, to measure what one costs the director
#   poll.rb URL CA PASSWORD follow ID LOG follow task ID (waiting for it to exist)
cat >"$work/poll.rb" <<'EOF'
require "net/http"
require "json"
require "openssl"
url, ca, password, mode, id, log = ARGV
uri = URI(url)
http = Net::HTTP.new(uri.host, uri.port)
http.use_ssl = true
http.ca_file = ca
http.verify_mode = OpenSSL::SSL::VERIFY_PEER
http.start
requests = 0
get = lambda do |path, headers = {}|
  req = Net::HTTP::Get.new(path, headers)
  req.basic_auth("admin", password)
  requests += 1
  http.request(req)
end
if mode == "last"
  puts((JSON.parse(get.call("/tasks?limit=1").body).map { |t| t["id"].to_i }.max || 0))
  exit
end
if mode == "calibrate"
  id.to_i.times { get.call("/tasks?limit=1") }
  exit
end
offset = 0
pending = +""
File.open(log, "w") do |f|
  f.sync = true
  f.puts "task #{id}"
  loop do
    r = get.call("/tasks/#{id}")
    if r.code.to_i != 200
      sleep 0.1
      next
    end
    task = JSON.parse(r.body)
    r = get.call("/tasks/#{id}/output?type=event", offset > 0 ? { "Range" => "bytes=#{offset}-" } : {})
    t = Time.now.to_f
    if r.code.to_i < 300 && !r.body.to_s.empty?
      offset += r.body.bytesize
      pending << r.body
      while (nl = pending.index("\n"))
        f.printf("event %.3f %s\n", t, pending.slice!(0, nl + 1).chomp)
      end
    end
    unless %w[queued processing cancelling].include?(task["state"])
      f.printf("end %.3f %s %d %d %d\n", t, task["state"], task["started_at"].to_i, task["timestamp"].to_i, requests)
      break
    end
    sleep 0.1
  end
end
EOF

# Reads a poller log: count STAGE STATE | stages T0 (the breakdown, from the
# arrival times) | failed (the stages with a failed event).
cat >"$work/events.rb" <<'EOF'
require "json"
mode, *args = ARGV
events = []
ended = nil
STDIN.each_line do |l|
  kind, t, rest = l.chomp.split(" ", 3)
  if kind == "event"
    e = (JSON.parse(rest) rescue nil)
    events << [t.to_f, e] if e
  elsif kind == "end"
    ended = t.to_f
  end
end
case mode
when "count"
  puts events.count { |_, e| e["stage"] == args[0] && e["state"] == args[1] }
when "failed"
  puts events.select { |_, e| e["state"] == "failed" }.map { |_, e| e["stage"] }.uniq.join(", ")
when "stages"
  t0 = args[0].to_f
  parts = []
  last = nil
  events.group_by { |_, e| e["stage"] }.each do |stage, es|
    first, final = es.map(&:first).minmax
    parts << format("%s %.2f s (%d)", stage, final - first, es.count { |_, e| e["state"] == "finished" })
    last = final
  end
  parts.unshift(format("before the first event %.2f s", events.first[0] - t0)) unless events.empty?
  parts << format("after the last event %.2f s", ended - last) if ended && last
  puts parts.join("; ")
end
EOF

poller() { ruby "$work/poll.rb" "$BOSH_LOCAL_DIRECTOR" "$BOSH_LOCAL_CA" "$BOSH_LOCAL_PASSWORD" "$@"; }

# The memory the running VMs take: the PSS (shared pages split between their
# users) of every process in the VMs' PID namespaces, in MiB (total, per VM).
cat >"$work/vm_mem.rb" <<'EOF'
inits = Dir[File.join(ARGV[0], "*.pid")].map { |f| File.read(f).to_i rescue nil }.compact
# pid_for_children: the VM's namespace whether the pid is its PID 1 or the
# process that made it; never this host's own (VMs without isolation: no figure).
ns = inits.map { |p| File.readlink("/proc/#{p}/ns/pid_for_children") rescue nil }.compact.uniq -
     [File.readlink("/proc/self/ns/pid")]
kb = 0
unless ns.empty?
  want = ns.to_h { |n| [n, true] }
  Dir["/proc/[0-9]*"].each do |d|
    next unless want[(File.readlink("#{d}/ns/pid") rescue nil)]
    kb += (File.read("#{d}/smaps_rollup")[/^Pss:\s+(\d+)/, 1].to_i rescue 0)
  end
end
printf("%.0f %.1f\n", kb / 1024.0, ns.empty? ? 0 : kb / 1024.0 / ns.size)
EOF
vm_mem() { ruby "$work/vm_mem.rb" "$BOSH_LOCAL_DIR/cpi/vms"; }
mem_available_mib() { awk '/^MemAvailable:/ { printf "%.0f\n", $2 / 1024 }' /proc/meminfo; }

# timed LABEL CMD...: runs a bosh command that starts one task. Sets
# T_CLI (the command's wall time), T_TASK (its start to the task's end, seen
# by the poller), RC, CPU (director utime+stime during it, less what the
# poller's requests cost it), CPU_RAW, CPU_CHILD, POLL (the poller log).
timed() {
  local label=$1
  shift
  local out=$work/out/$label.out
  POLL=$work/out/$label.poll
  local c0 c1 t0 t1 cli poll_pid
  local last
  last=$(poller last)
  # The poller first (ruby's start is not timed); it is connected once it wrote its first line.
  rm -f "$POLL"
  poller follow $((last + 1)) "$POLL" &
  poll_pid=$!
  for _ in $(seq 100); do [ -s "$POLL" ] && break; sleep 0.05; done
  read -r -a c0 <<<"$(director_cpu)"
  t0=$(now)
  "$@" >"$out" 2>&1 &
  cli=$!
  running_pids=("$cli" "$poll_pid")
  RC=0
  wait "$cli" || RC=$?
  t1=$(now)
  read -r -a c1 <<<"$(director_cpu)"
  for _ in $(seq 50); do grep -q '^end ' "$POLL" 2>/dev/null && break; sleep 0.1; done
  kill "$poll_pid" 2>/dev/null || true
  wait "$poll_pid" 2>/dev/null || true
  running_pids=()
  T_CLI=$(calc "$t1 - $t0")
  T_TASK=$(awk -v t0="$t0" '$1 == "end" { printf "%.3f\n", $2 - t0 }' "$POLL" 2>/dev/null || true)
  [ -n "$T_TASK" ] || T_TASK=nan
  local requests
  requests=$(awk '$1 == "end" { print $6 }' "$POLL" 2>/dev/null || true)
  CPU_RAW=$(awk -v a="${c0[0]}" -v b="${c1[0]}" 'BEGIN { printf "%.2f", b - a }')
  CPU=$(awk -v r="$CPU_RAW" -v n="${requests:-0}" -v c="$request_cpu" 'BEGIN { x = r - n * c; printf "%.2f", x < 0 ? 0 : x }')
  CPU_CHILD=$(awk -v a="${c0[1]}" -v b="${c1[1]}" 'BEGIN { printf "%.2f", b - a }')
  STAGES=$(ruby "$work/events.rb" stages "$t0" <"$POLL" 2>/dev/null || true)
}
# What one poller request costs the director (TLS record, routing, basic
# auth: a sha512-crypt per request, SQLite), measured once: subtracted from
# the director CPU figures.
calibrate() {
  local c0 c1
  read -r -a c0 <<<"$(director_cpu)"
  poller calibrate 200
  read -r -a c1 <<<"$(director_cpu)"
  request_cpu=$(calc "(${c1[0]} - ${c0[0]}) / 200")
}
count_events() { ruby "$work/events.rb" count "$2" "$3" <"$1"; }
vm_count() { find "$BOSH_LOCAL_DIR/cpi/vms" -maxdepth 1 -name 'vm-*.json' | wc -l; }

# ---- the release, the stemcell, the cloud config -----------------------------------------

rel=$work/triv
"$bosh" init release "$rel" >/dev/null
(cd "$rel" && "$bosh" generate job sleeper >/dev/null)
mkdir -p "$rel/jobs/sleeper/templates/bin"
cat >"$rel/jobs/sleeper/spec" <<'EOF'
---
name: sleeper
templates:
  bin/ctl.erb: bin/ctl
packages: []
properties: {}
EOF
cat >"$rel/jobs/sleeper/monit" <<'EOF'
check process sleeper
  with pidfile /var/vcap/sys/run/sleeper/sleeper.pid
  start program "/var/vcap/jobs/sleeper/bin/ctl start"
  stop program "/var/vcap/jobs/sleeper/bin/ctl stop"
  group vcap
EOF
cat >"$rel/jobs/sleeper/templates/bin/ctl.erb" <<'EOF'
#!/bin/bash
# sleeper/<%= spec.index %> (<%= spec.id %>): a process that only sleeps.
RUN_DIR=/var/vcap/sys/run/sleeper
PIDFILE=$RUN_DIR/sleeper.pid
mkdir -p "$RUN_DIR"
case "${1:-}" in
  start)
    if [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then exit 0; fi
    sleep 100000000 </dev/null >/dev/null 2>&1 &
    echo $! >"$PIDFILE"
    ;;
  stop)
    [ -s "$PIDFILE" ] && kill "$(cat "$PIDFILE")" 2>/dev/null
    rm -f "$PIDFILE"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 1 ;;
esac
EOF
(cd "$rel" && "$bosh" create release --force --with-tarball >"$work/out/create-release.out" 2>&1) ||
  { cat "$work/out/create-release.out"; die "create release"; }
"$bosh" upload stemcell "$BOSH_LOCAL_STEMCELL" >"$work/out/upload-stemcell.out" 2>&1 ||
  { cat "$work/out/upload-stemcell.out"; die "upload stemcell"; }
"$bosh" upload release "$rel/dev_releases/triv/triv-0+dev.1.tgz" >"$work/out/upload-release.out" 2>&1 ||
  { cat "$work/out/upload-release.out"; die "upload release"; }

# Its own subnet: the e2e tests use 127.0.77.x, the quickstart 127.0.10.x.
cat >"$work/cloud-config.yml" <<'EOF'
azs: [{name: z1}]
vm_types: [{name: default}]
networks:
- name: default
  type: manual
  subnets:
  - range: 127.1.0.0/16
    gateway: 127.1.0.1
    reserved: [127.1.0.2-127.1.0.9]
    azs: [z1]
    dns: [127.0.0.1]
compilation:
  workers: 2
  az: z1
  vm_type: default
  network: default
  reuse_compilation_vms: true
EOF
"$bosh" update cloud-config "$work/cloud-config.yml" >/dev/null

manifest() {  # name instances -> path
  local f=$work/$1.yml
  cat >"$f" <<EOF
name: $1
releases: [{name: triv, version: latest}]
stemcells: [{alias: default, os: local, version: latest}]
update:
  canaries: 0
  max_in_flight: 100%
  canary_watch_time: $watch
  update_watch_time: $watch
instance_groups:
- name: sleeper
  instances: $2
  azs: [z1]
  vm_type: default
  stemcell: default
  networks: [{name: default}]
  jobs: [{name: sleeper, release: triv}]
EOF
  echo "$f"
}

# deploy_fresh NAME N: a fresh deployment, checked: every instance updated, N VMs.
deploy_fresh() {
  timed "deploy-$1" "$bosh" -n deploy "$(manifest "$1" "$2")"
  [ "$RC" = 0 ] || { tail -20 "$work/out/deploy-$1.out"; die "deploy of $1 failed"; }
  local updated
  updated=$(count_events "$POLL" "Updating instance" finished)
  [ "$updated" = "$2" ] || die "$1: $updated instances updated, expected $2"
  [ "$(vm_count)" = "$2" ] || die "$1: $(vm_count) VMs, expected $2"
}
delete_deployment() {
  timed "delete-$1" "$bosh" -n delete deployment "$1"
  [ "$RC" = 0 ] || { tail -20 "$work/out/delete-$1.out"; die "delete of $1 failed"; }
  [ "$(vm_count)" = 0 ] || die "$1: $(vm_count) VMs left after delete"
}

calibrate
log "one API request costs the director $(printf '%.1f' "$(calc "$request_cpu * 1000")") ms of CPU (subtracted for the poller's requests)"

today=$(date +%F)
machine="$(nproc) cores"
rows=()

# ---- the floor: 1 instance -----------------------------------------------------------------

floor=""
floor_task=""
for i in $(seq "$floor_runs"); do
  log "floor run $i: deploy 1 instance"
  deploy_fresh "floor-$i" 1
  log "  $(printf '%.2f' "$T_CLI") s (task end seen at $(printf '%.2f' "$T_TASK") s): $STAGES"
  if [ -z "$floor" ] || [ "$(calc "$T_CLI < $floor")" = 1 ]; then floor=$T_CLI floor_task=$T_TASK; fi
  delete_deployment "floor-$i"
  log "  delete: $(printf '%.2f' "$T_CLI") s (task end at $(printf '%.2f' "$T_TASK") s): $STAGES"
done
log "floor (best of $floor_runs): $(printf '%.2f' "$floor") s"

# ---- N instances ---------------------------------------------------------------------------

for n in $sizes; do
  log "deploy $n instances (max_in_flight 100%, canaries 0)"
  avail0=$(mem_available_mib)
  deploy_fresh "n$n" "$n"
  d_cli=$T_CLI d_task=$T_TASK d_cpu=$CPU d_raw=$CPU_RAW d_child=$CPU_CHILD d_stages=$STAGES
  rss=$(director_rss_mib)
  read -r vm_total vm_each <<<"$(vm_mem)"
  log "  the $n VMs take ${vm_total} MiB (PSS), ${vm_each} MiB each; MemAvailable went down by $((avail0 - $(mem_available_mib))) MiB (the whole machine: other work counts too)"
  log "  $(printf '%.2f' "$d_cli") s (task end at $(printf '%.2f' "$d_task") s), director CPU ${d_cpu} s (${d_raw} s with the poller; +${d_child} s children), RSS ${rss} MiB"
  log "  stages: $d_stages"
  delete_deployment "n$n"
  log "  delete: $(printf '%.2f' "$T_CLI") s (task end at $(printf '%.2f' "$T_TASK") s), director CPU $CPU s: $STAGES"
  rows+=("$(printf '| %s | %s | %s | %.2f s (%.2f s) | %.2f s (%.2f s) | %.2fx | %.1f | %.2f s | %.1f MiB | %.1f MiB | %.2f s (%.2f s) |' \
    "$today" "$machine" "$n" "$floor" "$floor_task" "$d_cli" "$d_task" "$(calc "$d_cli / $floor")" \
    "$(calc "$n / $d_cli")" "$d_cpu" "$rss" "$vm_each" "$T_CLI" "$T_TASK")")
done

# ---- planning: a zero-change deploy of PLANNING_N instances ---------------------------------

# kill -9 every running VM's init (with PID namespaces: the whole VM), then
# remove its pid file: the CPI keeps the VM's record (its own liveness check
# is pid + start time), and `local-director stop` must not signal the pid
# once the system has given it to another process.
vm_init_alive() { [ "$(cat "/proc/$1/comm" 2>/dev/null)" = bosh-vm-init ] && ! grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null; }
kill_vms() {
  local f pid pids=()
  for f in "$BOSH_LOCAL_DIR"/cpi/vms/*.pid; do
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if vm_init_alive "$pid"; then kill -9 "$pid" 2>/dev/null || true; pids+=("$pid"); fi
    rm -f "$f"
  done
  for _ in $(seq 100); do
    local alive=0
    for pid in "${pids[@]}"; do vm_init_alive "$pid" && alive=1; done
    [ "$alive" = 0 ] && return
    sleep 0.1
  done
  die "VMs still running after kill -9"
}

# zero_change N RUN: a deploy of the same manifest again, timed and checked.
zero_change() {
  log "planning: zero-change deploy of $1 instances (run $2)"
  timed "plan-zero-$1-$2" "$bosh" -n deploy "$(manifest plan "$1")"
  [ "$RC" = 0 ] || { tail -20 "$work/out/plan-zero-$1-$2.out"; die "zero-change deploy of $1 failed"; }
  local changed="" stage c verdict
  for stage in "Updating instance" "Deleting unneeded instances" "Compiling packages" "Running post-deploy scripts"; do
    c=$(count_events "$POLL" "$stage" started)
    [ "$c" = 0 ] || changed+="${changed:+, }$c x $stage"
  done
  if [ -z "$changed" ]; then verdict="yes (no instance updated)"; else verdict="NO: $changed"; fi
  log "  $(printf '%.2f' "$T_CLI") s (task end at $(printf '%.2f' "$T_TASK") s), director CPU $CPU s ($CPU_RAW s with the poller; +$CPU_CHILD s children); zero-change: $verdict"
  log "  stages: $STAGES"
  plan_rows+=("$(printf '| %s | %s | %s | %.2f s | %.2f s | %.2f s | %.2f s | %s | %s |' "$today" "$machine" \
    "$1" "$T_CLI" "$T_TASK" "$CPU" "$CPU_CHILD" "$STAGES" "$verdict")")
}

plan_rows=()
if [ "$planning_n" -gt 0 ]; then
  have=0
  while [ "$have" -lt "$planning_n" ]; do
    next=$((have + batch))
    [ "$next" -gt "$planning_n" ] && next=$planning_n
    log "planning: deploy instances $have..$((next - 1)) of $planning_n (then kill -9 their VMs)"
    timed "plan-batch-$next" "$bosh" -n deploy "$(manifest plan "$next")"
    updated=$(count_events "$POLL" "Updating instance" finished)
    [ "$updated" = $((next - have)) ] || { tail -20 "$work/out/plan-batch-$next.out"; die "batch $next: $updated instances updated, expected $((next - have))"; }
    if [ "$RC" != 0 ]; then
      # The VMs killed before answer no post-deploy: expected, and only that.
      failed=$(ruby "$work/events.rb" failed <"$POLL")
      [ "$failed" = "Running post-deploy scripts" ] || { tail -20 "$work/out/plan-batch-$next.out"; die "batch $next failed in: ${failed:-?}"; }
      log "  $(printf '%.2f' "$T_CLI") s; failed in post-deploy on the killed VMs, as expected: $(grep -m1 '^Error:' "$work/out/plan-batch-$next.out" | cut -c1-200)"
    else
      log "  $(printf '%.2f' "$T_CLI") s"
    fi
    kill_vms
    have=$next
    [ "$(vm_count)" = "$have" ] || die "planning: $(vm_count) VM records, expected $have"
    # The planning time at each size on the way (one run), then more runs at the full size.
    zero_change "$have" 1
  done
  for i in $(seq 2 "$plan_runs"); do zero_change "$planning_n" "$i"; done
fi

# ---- the tables ---------------------------------------------------------------------------

printf '\nfloor: a fresh deployment of 1 instance, best of %s: %.2f s (task end seen at %.2f s)\n' "$floor_runs" "$floor" "$floor_task"
echo
echo "times: \`bosh\` command wall time (in brackets: until the task was seen to end, polled every 0.1 s); ratio and VMs/s from the command times"
printf '\n| date | machine | instances | floor (1 VM) | deploy | ratio | VMs/s | director CPU | director RSS after | VM PSS each | delete |\n'
printf '|---|---|---|---|---|---|---|---|---|---|---|\n'
for r in "${rows[@]}"; do echo "$r"; done
if [ "${#plan_rows[@]}" -gt 0 ]; then
  printf '\n| date | machine | instances | zero-change deploy (CLI) | task end (polled) | director CPU | children CPU (renderer) | stages (arrival of events, 0.1 s polls) | zero-change |\n'
  printf '|---|---|---|---|---|---|---|---|---|\n'
  for r in "${plan_rows[@]}"; do echo "$r"; done
fi
