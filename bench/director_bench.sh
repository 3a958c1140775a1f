#!/usr/bin/env bash
# Benchmark of bosh-director (SQLite, as scripts/local-director runs it), each
# figure against a floor measured in the same run (figures in bench/README.md):
#  1. release upload: a generated release of ~N MiB POSTed to /releases
#     (accepted = the 302; imported = its task done) and uploaded again with
#     `bosh upload release`, against `curl -T` of the same tarball to a
#     bosh-blobstore over TLS on the same host (the same bytes through TLS on
#     loopback to disk);
#  2. with T finished tasks in the database: GET /tasks, /tasks?limit=1000,
#     /deployments (median of 20), against GET /info (no database);
#  3. task pickup: POST /cleanup, then GET /tasks/ID back to back until it is
#     not "queued" (median and max of 20).
# Everything runs in a temp dir on free 127.0.0.1 ports and is stopped at the end.
# Usage: bench/director_bench.sh [build dir] [release MiB] [tasks]
# DIRECTOR_BENCH_KEEP=1 keeps the temp dir (logs, raw figures) after the run.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${1:-build}" && pwd)
mib=${2:-1024}
ntasks=${3:-10000}
bin=$build/bin
for b in bosh bosh-director bosh-blobstore bosh_bench_director; do
  [ -x "$bin/$b" ] || { echo "director_bench: $bin/$b is missing (cmake --build $build --target $b)" >&2; exit 1; }
done
for c in curl jq openssl bc; do
  command -v "$c" >/dev/null || { echo "director_bench: $c is not installed" >&2; exit 1; }
done

work=$(mktemp -d)
export HOME=$work/home BOSH_LOCAL_DIR=$work/local BOSH_BIN=$bin
mkdir -p "$HOME"
floor_pid=
cleanup() {
  "$here/scripts/local-director" stop "$BOSH_LOCAL_DIR" >/dev/null 2>&1 || true
  if [ -n "$floor_pid" ]; then kill "$floor_pid" 2>/dev/null || true; wait "$floor_pid" 2>/dev/null || true; fi
  if [ -n "${DIRECTOR_BENCH_KEEP:-}" ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

now() { date +%s.%N; }
calc() { echo "$*" | bc -l; }
median() { sort -n | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
port_taken() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
  local p
  for _ in $(seq 200); do
    p=$((20000 + RANDOM % 30000))
    port_taken "$p" || { echo "$p"; return; }
  done
  echo "director_bench: no free port" >&2
  exit 1
}
# Same curl flags for the floor and the director: no "Expect: 100-continue"
# round trip, the body streamed from the file (-T; --data-binary would read
# it all into memory first).
put_flags=(-sS -k -H 'Expect:' -o /dev/null)

# ---- the release ------------------------------------------------------------------
packages=4
bytes_each=$((mib * 1024 * 1024 / packages))
echo "generating a release of $packages packages x $((bytes_each / 1024)) KiB of random data in $work ..."
"$bin/bosh" init release "$work/rel" >/dev/null
(
  cd "$work/rel"
  for i in $(seq 1 "$packages"); do
    "$bin/bosh" generate package "p$i" >/dev/null
    mkdir -p "src/p$i"
    head -c "$bytes_each" /dev/urandom >"src/p$i/vendor.bin"
    printf -- '---\nname: p%s\nfiles: [p%s/*]\n' "$i" "$i" >"packages/p$i/spec"
    # shellcheck disable=SC2016 # expanded by the packaging script
    echo 'cp -a p*/* ${BOSH_INSTALL_TARGET}' >"packages/p$i/packaging"
  done
  "$bin/bosh" generate job app >/dev/null
  printf -- '---\nname: app\ntemplates: {}\npackages: [p1]\n' >jobs/app/spec
  "$bin/bosh" create release --force --with-tarball --name bench >"$work/create-release.log" 2>&1 ||
    { cat "$work/create-release.log" >&2; exit 1; }
)
tarball=$(ls "$work"/rel/dev_releases/bench/bench-*.tgz)
size=$(stat -c %s "$tarball")
size_mib=$(calc "$size / 1048576")

# ---- the tasks (before the director starts: nobody claims them) -------------------
echo "filling the director's database with $ntasks finished tasks ..."
fill_s=$("$bin/bosh_bench_director" fill "$BOSH_LOCAL_DIR/director/director.db" "$ntasks")

# ---- the director, and the floor's blobstore --------------------------------------
echo "starting nats-server, bosh-blobstore and bosh-director (scripts/local-director) ..."
env_out=$("$here/scripts/local-director" start "$BOSH_LOCAL_DIR")
url=$(sed -n 's/^BOSH_LOCAL_DIRECTOR=//p' <<<"$env_out")
password=$(sed -n 's/^BOSH_LOCAL_PASSWORD=//p' <<<"$env_out")
auth=(-u "admin:$password")

mkdir -p "$work/floor/blobs"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/floor/key.pem" -out "$work/floor/cert.pem" -days 1 \
  -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null
floor_port=$(free_port)
cat >"$work/floor/blobstore.yml" <<EOF
address: 127.0.0.1
port: $floor_port
root: $work/floor/blobs
writer: {name: bench, password: bench}
tls: {cert: $work/floor/cert.pem, key: $work/floor/key.pem}
EOF
chmod 600 "$work/floor/blobstore.yml"
"$bin/bosh-blobstore" --config "$work/floor/blobstore.yml" --log-level warn >"$work/floor/log" 2>&1 &
floor_pid=$!
for _ in $(seq 100); do port_taken "$floor_port" && break; sleep 0.1; done
port_taken "$floor_port" || { echo "director_bench: the floor's blobstore did not start: $(cat "$work/floor/log")" >&2; exit 1; }

# ---- 1. release upload --------------------------------------------------------------
echo "floor: curl -T of the tarball to bosh-blobstore over TLS"
read -r floor_s code < <(curl "${put_flags[@]}" -u bench:bench -T "$tarball" -w '%{time_total} %{http_code}\n' \
  "https://127.0.0.1:$floor_port/floor-blob")
[ "$code" = 201 ] || [ "$code" = 200 ] || [ "$code" = 204 ] || { echo "director_bench: floor PUT: HTTP $code" >&2; exit 1; }
curl -sS -k -u bench:bench -X DELETE -o /dev/null "https://127.0.0.1:$floor_port/floor-blob"

task_state() { curl -sS -k "${auth[@]}" "$url/tasks/$1" | jq -r .state; }
wait_task() {  # id -> prints the end time; fails unless done
  local state
  while :; do
    state=$(task_state "$1")
    # Every 0.1 s: each poll is a curl process, a TLS handshake and a password
    # check, CPU taken from the import on a small machine.
    case "$state" in queued | processing | cancelling) sleep 0.1 ;; *) break ;; esac
  done
  now
  [ "$state" = "done" ] || { echo "director_bench: task $1 ended $state" >&2; curl -sS -k "${auth[@]}" "$url/tasks/$1" >&2; exit 1; }
}

echo "POST /releases with curl -T (the same flags), then its task"
t0=$(now)
read -r accept_s code < <(curl "${put_flags[@]}" "${auth[@]}" -X POST -T "$tarball" \
  -H 'Content-Type: application/x-compressed' -D "$work/headers" -w '%{time_total} %{http_code}\n' "$url/releases")
[ "$code" = 302 ] || { echo "director_bench: POST /releases: HTTP $code" >&2; exit 1; }
task=$(tr -d '\r' <"$work/headers" | sed -n 's|^[Ll]ocation: */tasks/||p')
t1=$(wait_task "$task")
import_s=$(calc "$t1 - $t0")

echo "bosh upload release (after bosh delete release)"
"$bin/bosh" -n delete release bench >/dev/null
t0=$(now)
"$bin/bosh" upload release "$tarball" >"$work/cli-upload.log" 2>&1 || { cat "$work/cli-upload.log" >&2; exit 1; }
t1=$(now)
cli_s=$(calc "$t1 - $t0")

# ---- 2. GETs with the tasks in the database -----------------------------------------
# One curl per figure, 21 requests on one keep-alive connection; the first
# (the TLS handshake) is dropped, the median of the other 20 kept.
get_median_ms() {  # path [curl args...]
  local path=$1 args=()
  shift
  for _ in $(seq 21); do args+=(-o /dev/null "$url$path"); done
  curl -sS -k "$@" -w '%{http_code} %{time_total} %{num_connects}\n' "${args[@]}" >"$work/get.txt"
  if awk '$1 != 200 {bad = 1} END {exit !bad}' "$work/get.txt"; then
    echo "director_bench: GET $path: $(awk '$1 != 200' "$work/get.txt" | head -1)" >&2
    exit 1
  fi
  local connects
  connects=$(awk '{n += $3} END {print n}' "$work/get.txt")
  [ "$connects" = 1 ] || echo "note: GET $path used $connects connections for 21 requests (no keep-alive?)" >&2
  tail -n +2 "$work/get.txt" | awk '{print $2 * 1000}' | median
}
n30=$(curl -sS -k "${auth[@]}" "$url/tasks" | jq length)
n1000=$(curl -sS -k "${auth[@]}" "$url/tasks?limit=1000" | jq length)
echo "GET /info, /tasks ($n30 tasks), /tasks?limit=1000 ($n1000 tasks), /deployments: median of 20 each"
info_ms=$(get_median_ms /info "${auth[@]}")
info_anon_ms=$(get_median_ms /info)
tasks_ms=$(get_median_ms /tasks "${auth[@]}")
tasks1000_ms=$(get_median_ms "/tasks?limit=1000" "${auth[@]}")
deployments_ms=$(get_median_ms /deployments "${auth[@]}")

# ---- 3. task pickup ------------------------------------------------------------------
echo "task pickup: POST /cleanup, then GET /tasks/ID until not queued, 20 times"
"$bin/bosh_bench_director" pickup "$url" admin "$password" 20 >"$work/pickup.txt"
pickup_median=$(grep -v '^poll' "$work/pickup.txt" | awk '{print $1}' | median)
pickup_max=$(grep -v '^poll' "$work/pickup.txt" | awk '{print $1}' | sort -n | tail -1)
poll_ms=$(sed -n 's/^poll //p' "$work/pickup.txt")
first_poll=$(grep -v '^poll' "$work/pickup.txt" | awk '$2 == 1 {n++} END {print n + 0}')

# ---- the tables ------------------------------------------------------------------------
day=$(date +%F)
machine="$(nproc) cores"
mibs() { calc "$size_mib / $1"; }
printf '\nfilled %s tasks (enqueue + finish, one commit each) in %.1f s: %.0f tasks/s\n' "$ntasks" "$fill_s" \
  "$(calc "$ntasks / $fill_s")"
printf 'basic-auth check per request: GET /info %.2f ms with credentials, %.2f ms without\n' "$info_ms" "$info_anon_ms"
printf '\nratios are time / floor (1.00x = as fast as the floor)\n'
printf '\n| date | machine | release | floor: curl -T to bosh-blobstore (TLS) | upload accepted (302) | ratio | imported (task done) | ratio | bosh upload release | ratio |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
printf '| %s | %s | %d packages, %.0f MiB | %.2f s, %.0f MiB/s | %.2f s, %.0f MiB/s | %.2fx | %.2f s, %.0f MiB/s | %.2fx | %.2f s, %.0f MiB/s | %.2fx |\n' \
  "$day" "$machine" "$packages" "$size_mib" "$floor_s" "$(mibs "$floor_s")" \
  "$accept_s" "$(mibs "$accept_s")" "$(calc "$accept_s / $floor_s")" \
  "$import_s" "$(mibs "$import_s")" "$(calc "$import_s / $floor_s")" \
  "$cli_s" "$(mibs "$cli_s")" "$(calc "$cli_s / $floor_s")"
printf '\n| date | machine | tasks in DB | floor: GET /info | GET /tasks (30) | ratio | GET /tasks?limit=1000 | ratio | GET /deployments | ratio |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
printf '| %s | %s | %s | %.2f ms | %.2f ms | %.2fx | %.2f ms | %.2fx | %.2f ms | %.2fx |\n' \
  "$day" "$machine" "$ntasks" "$info_ms" "$tasks_ms" "$(calc "$tasks_ms / $info_ms")" \
  "$tasks1000_ms" "$(calc "$tasks1000_ms / $info_ms")" "$deployments_ms" "$(calc "$deployments_ms / $info_ms")"
printf '\n| date | machine | tasks | poll interval (GET /tasks/ID, back to back) | pickup, median | pickup, max | seen at the 1st poll |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %s | %s | 20 x POST /cleanup | %.2f ms | %.2f ms | %.2f ms | %d of 20 |\n' "$day" "$machine" "$poll_ms" \
  "$pickup_median" "$pickup_max" "$first_poll"
