#!/usr/bin/env bash
# End to end on the local CPI: the real bosh, bosh-director, bosh-blobstore,
# nats-server, agents and monit, deploying examples/kv-release. One CTest step
# per stage (tests/CMakeLists.txt), sharing one state dir, in this order:
#   setup deploy errand scale property package recreate canary kill9 delete teardown
# Usage: kv_e2e.sh <build dir> <source dir> <stage>
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
stage=$3
state=$build/e2e-kv
export BOSH_LOCAL_DIR=$state/local BOSH_BIN=$build/bin HOME=$state/home BOSH_LOCAL_HEARTBEAT=2
bosh() { "$build/bin/bosh" "$@"; }
fail() { echo "FAIL ($stage): $*" >&2; exit 1; }
rel=$state/kv-release

# The instances' IPs of a group, from `bosh instances`.
ips_of() { bosh instances | awk -v g="$1/" 'index($1, g) == 1 { print $4 }'; }
running_count() { bosh vms | awk '$2 == "running"' | wc -l; }
web() { echo "http://$(ips_of kv-web | head -1):8081"; }
# The last task's event log: "<state> <task>" lines of one stage.
events() { bosh task "$1" --event | grep "\"stage\":\"$2\"" | sed -E 's/.*"task":"([^"]*)".*"state":"([a-z_]*)".*/\2 \1/'; }
last_task() { bosh tasks --recent 1 | awk 'NR == 2 { print $1 }'; }
set_yaml() {  # file sed-expression
  sed -i -E "$2" "$1"
}
deploy() { bosh -n deploy "$rel/manifests/kv.yml" >"$state/deploy.out" 2>&1 || { cat "$state/deploy.out"; return 1; }; }

case "$stage" in
  setup)
    # A previous run's leftovers go first.
    [ -d "$state" ] && "$src/scripts/local-director" stop "$BOSH_LOCAL_DIR" >/dev/null 2>&1 || true
    rm -rf "$state"
    mkdir -p "$state/home"
    "$src/scripts/local-director" start >"$state/env" || fail "local director did not start"
    bosh upload stemcell "$BOSH_LOCAL_DIR/stemcell.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload stemcell"; }
    bosh stemcells | grep -q "bosh-local-go_agent" || fail "stemcells: $(bosh stemcells)"
    cp -r "$src/examples/kv-release" "$rel"
    rm -rf "$rel/dev_releases" "$rel/.dev_builds"
    (cd "$rel" && bosh create release --force --with-tarball >/dev/null)
    bosh upload release "$rel/dev_releases/kv/kv-0+dev.1.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload release"; }
    # Its own loopback subnet, so a quickstart deployment on 127.0.10.0/24 can run beside it.
    sed -i 's/127\.0\.10\./127.0.77./g' "$rel/manifests/cloud-config.yml"
    bosh update cloud-config "$rel/manifests/cloud-config.yml" >/dev/null
    bosh deployment "$rel/manifests/kv.yml" >/dev/null
    echo PASS
    ;;

  deploy)
    deploy || fail "deploy"
    grep -q "compiling packages > kvlib/" "$state/deploy.out" || fail "kvlib was not compiled"
    [ "$(running_count)" = 3 ] || fail "not 3 running VMs: $(bosh vms)"
    url=$(web)
    curl -sf -X PUT --data "hello e2e" "$url/kv/greeting" >/dev/null || fail "PUT through kv-web"
    [ "$(curl -sf "$url/kv/greeting")" = "hello e2e" ] || fail "GET through kv-web"
    page=$(curl -sf "$url/")
    [ "$(grep -cE ':[0-9]+ up$' <<<"$page")" = 2 ] || fail "kv-web does not see 2 backends up: $page"
    # Each kv-store has its persistent disk at store/.
    for vm in "$BOSH_LOCAL_DIR"/cpi/vms/vm-*/; do
      [ -d "$vm/jobs/kv-store" ] || continue
      [ -L "$vm/store" ] || fail "$vm has no persistent disk at store/"
    done
    # What a deployment uses cannot be deleted.
    if bosh -n delete stemcell "bosh-local-go_agent/$(bosh stemcells | awk '/^bosh-local/ { sub(/\*$/, "", $2); print $2 }')" >"$state/out" 2>&1; then
      fail "a stemcell in use was deleted"
    fi
    grep -q "is still in use by: kv" "$state/out" || fail "delete stemcell: $(cat "$state/out")"
    if bosh -n delete release kv >"$state/out" 2>&1; then fail "a release in use was deleted"; fi
    grep -q "is still in use by: kv" "$state/out" || fail "delete release: $(cat "$state/out")"
    # A zero-change deploy updates nothing.
    deploy || fail "second deploy"
    ! grep -q "updating instance" "$state/deploy.out" || fail "a deploy without changes updated instances"
    echo PASS
    ;;

  errand)
    out=$(bosh run errand smoke-tests 2>&1) || { echo "$out"; fail "run errand"; }
    grep -q "smoke-tests: PASSED" <<<"$out" || fail "errand output: $out"
    [ "$(running_count)" = 3 ] || fail "the errand VM was not deleted: $(bosh vms)"
    echo PASS
    ;;

  scale)
    set_yaml "$rel/manifests/kv.yml" '0,/instances: 2/s//instances: 3/'
    deploy || fail "scale up"
    [ "$(ips_of kv-store | wc -l)" = 3 ] || fail "not 3 kv-store instances: $(bosh instances)"
    [ "$(grep -cE ':[0-9]+ up$' <<<"$(curl -sf "$(web)/")")" = 3 ] || fail "kv-web did not get the third backend"
    set_yaml "$rel/manifests/kv.yml" '0,/instances: 3/s//instances: 2/'
    deploy || fail "scale down"
    grep -q "deleting unneeded instances" "$state/deploy.out" || fail "no instance was deleted: $(cat "$state/deploy.out")"
    [ "$(running_count)" = 3 ] || fail "not back to 3 VMs: $(bosh vms)"
    bosh disks | grep -q "kv-store/" || fail "the deleted instance's disk is not orphaned: $(bosh disks)"
    [ "$(curl -sf "$(web)/kv/greeting")" = "hello e2e" ] || fail "data lost while scaling"
    echo PASS
    ;;

  property)
    # A rolling update: one canary, then one at a time.
    set_yaml "$rel/manifests/kv.yml" 's/max_value_bytes: 1048576/max_value_bytes: 2097152/; s/max_in_flight: 2/max_in_flight: 1/'
    deploy || fail "property change"
    task=$(last_task)
    order=$(events "$task" "Updating instance" | grep 'kv-store/')
    first=$(head -1 <<<"$order")
    [[ "$first" == "started kv-store/"*"(canary)" ]] || fail "the first update is not a canary: $order"
    [ "$(sed -n 2p <<<"$order")" = "finished ${first#started }" ] || fail "the canary did not finish first: $order"
    in_flight=0 worst=0
    while read -r st _; do
      [ "$st" = started ] && in_flight=$((in_flight + 1))
      [ "$st" = finished ] && in_flight=$((in_flight - 1))
      [ "$in_flight" -gt "$worst" ] && worst=$in_flight
    done <<<"$order"
    [ "$worst" = 1 ] || fail "max_in_flight 1 not respected ($worst at once): $order"
    [ "$(grep -c '^finished' <<<"$order")" = 2 ] || fail "not both kv-store instances updated: $order"
    ! events "$task" "Updating instance" | grep -q 'kv-web/' || fail "kv-web was updated for a kv-store property"
    echo PASS
    ;;

  package)
    echo "/* e2e: a change to the kvd package */" >>"$rel/src/kvd/main.c"
    (cd "$rel" && bosh create release --force --with-tarball >"$state/out" 2>&1) || { cat "$state/out"; fail "create release"; }
    bosh upload release "$rel/dev_releases/kv/kv-0+dev.2.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload release"; }
    deploy || fail "package change"
    compiled=$(events "$(last_task)" "Compiling packages" | awk '$1 == "finished" { print $2 }')
    [ "$(wc -l <<<"$compiled")" = 1 ] && [[ "$compiled" == kvd/* ]] || fail "expected only kvd to compile, got: $compiled"
    bosh deployments | grep -q "kv/0+dev.2" || fail "deployments: $(bosh deployments)"
    echo PASS
    ;;

  recreate)
    before=$(bosh vms | awk '/^kv-store/ { print $5 }' | sort)
    bosh -n recreate kv-store >"$state/out" 2>&1 || { cat "$state/out"; fail "recreate"; }
    after=$(bosh vms | awk '/^kv-store/ { print $5 }' | sort)
    [ -n "$after" ] && [ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ] || fail "VMs not replaced: $before / $after"
    [ "$(curl -sf "$(web)/kv/greeting")" = "hello e2e" ] || fail "data lost across recreate"
    echo PASS
    ;;

  canary)
    # A job that cannot start fails the canary; the other instances are untouched.
    canary_ip=$(ips_of kv-store | head -1)
    other_ip=$(ips_of kv-store | tail -1)
    kvd=$(ls "$BOSH_LOCAL_DIR"/cpi/vms/vm-*/data/packages/kvd/*/bin/kvd | head -1)
    mkdir -p "$state/blocker"
    "$kvd" store --listen "$canary_ip:9090" --data "$state/blocker" >/dev/null 2>&1 &
    blocker=$!
    trap 'kill $blocker 2>/dev/null || true' EXIT
    cp "$rel/manifests/kv.yml" "$state/kv-good.yml"
    set_yaml "$rel/manifests/kv.yml" 's/port: 8080/port: 9090/; s/canary_watch_time: 1000-30000/canary_watch_time: 1000-4000/'
    if deploy; then fail "a deploy whose canary cannot start succeeded"; fi
    grep -q "is not running after update" "$state/deploy.out" || fail "no canary failure: $(cat "$state/deploy.out")"
    task=$(last_task)
    updated=$(events "$task" "Updating instance" | awk '$1 == "started"' | wc -l)
    [ "$updated" = 1 ] || fail "the deploy went on after the canary failed: $(events "$task" "Updating instance")"
    curl -sf "http://$other_ip:8080/health" >/dev/null || fail "the other kv-store ($other_ip) was touched"
    kill $blocker
    cp "$state/kv-good.yml" "$rel/manifests/kv.yml"
    deploy || fail "deploy after the failed canary"
    [ "$(running_count)" = 3 ] || fail "not 3 running after recovery: $(bosh vms)"
    echo PASS
    ;;

  kill9)
    ip=$(ips_of kv-store | head -1)
    pid=$(pgrep -f "kvd store --listen $ip:8080" | head -1)
    [ -n "$pid" ] || fail "no kvd process for $ip"
    kill -9 "$pid"
    for _ in $(seq 60); do
      new=$(pgrep -f "kvd store --listen $ip:8080" | head -1 || true)
      [ -n "$new" ] && [ "$new" != "$pid" ] && curl -sf "http://$ip:8080/health" >/dev/null && break
      sleep 0.5
    done
    [ -n "${new:-}" ] && [ "$new" != "$pid" ] || fail "monit did not restart kvd after kill -9"
    # monit reports the process running again on its next cycle.
    for _ in $(seq 30); do [ "$(running_count)" = 3 ] && break; sleep 0.5; done
    [ "$(running_count)" = 3 ] || fail "not all running after the restart: $(bosh vms)"
    echo PASS
    ;;

  delete)
    bosh -n delete deployment kv >"$state/out" 2>&1 || { cat "$state/out"; fail "delete deployment"; }
    bosh deployments | grep -q "No deployments" || fail "deployments: $(bosh deployments)"
    [ -z "$(ls -A "$BOSH_LOCAL_DIR/cpi/vms")" ] || fail "VMs left: $(ls "$BOSH_LOCAL_DIR/cpi/vms")"
    [ -z "$(ls -A "$BOSH_LOCAL_DIR/cpi/disks")" ] || fail "disks left: $(ls "$BOSH_LOCAL_DIR/cpi/disks")"
    for _ in $(seq 50); do pgrep -f "$BOSH_LOCAL_DIR/cpi/stemcells" >/dev/null || break; sleep 0.1; done
    ! pgrep -fa "$BOSH_LOCAL_DIR/cpi/stemcells" || fail "VM processes left"
    ! pgrep -f "kvd .*127\.0\.77\." >/dev/null || fail "kvd processes left: $(pgrep -fa 'kvd .*127.0.77.')"
    echo PASS
    ;;

  teardown)
    "$src/scripts/local-director" stop >/dev/null 2>&1 || true
    ! pgrep -fa "$BOSH_LOCAL_DIR/cpi/stemcells" || fail "VM processes left after stop"
    echo PASS
    ;;

  *) fail "unknown stage" ;;
esac
