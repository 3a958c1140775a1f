#!/usr/bin/env bash
# The real Go bosh CLI (v7.4.1, built from ../shared/peers) driving our
# director on the local CPI. Nothing here uses our own CLI against the
# director: every request is the Go CLI's, every assertion on what it printed
# (--json tables where it has them). One CTest step per stage
# (tests/CMakeLists.txt), sharing one state dir, in this order:
#   setup env auth stemcell release release-dir configs deploy instances tasks events
#   errands logs ssh lifecycle snapshots variables cleanup export curl delete teardown
# Usage: gocli_compat.sh <build dir> <source dir> <Go CLI source tgz> <stage>
set -euo pipefail
build=$(cd "$1" && pwd)
src=$(cd "$2" && pwd)
gocli_tgz=$3
stage=$4
state=$build/compat
gocli=$build/gocli/bosh-go
export BOSH_LOCAL_DIR=$state/local BOSH_BIN=$build/bin HOME=$state/home BOSH_LOCAL_HEARTBEAT=2
export BOSH_NON_INTERACTIVE=true BOSH_LOG_LEVEL=none
fail() { echo "FAIL ($stage): $*" >&2; exit 1; }
rel=$state/kv-release

# The Go CLI as a user has it: the 'compat' alias, logged in (setup).
g() { "$gocli" -e compat "$@"; }
gd() { "$gocli" -e compat -d kv "$@"; }
# The first table's rows of a --json answer, one JSON object per line.
rows() { jq -c '.Tables[0].Rows[]' <<<"$1"; }
# Seconds since the epoch, for waits with a deadline.
now() { date +%s; }
wait_for() {  # seconds description command...
  local until=$(( $(now) + $1 )) what=$2
  shift 2
  until "$@"; do
    [ "$(now)" -lt "$until" ] || fail "timed out after waiting for $what"
    sleep 0.2
  done
}
last_task() { g tasks --recent=1 --all --json | jq -r '.Tables[0].Rows[0].id'; }
deploy() { gd --tty deploy "$rel/manifests/kv.yml" "$@" >"$state/deploy.out" 2>&1 || { cat "$state/deploy.out"; return 1; }; }

case "$stage" in
  setup)
    [ -f "$gocli_tgz" ] || fail "the Go bosh CLI source ($gocli_tgz) is missing: the compat tier needs ../shared/peers/bosh-cli-7.4.1-src.tgz"
    command -v go >/dev/null || fail "go is not installed (scripts/install-deps installs golang-go)"
    if [ ! -x "$gocli" ] || [ "$gocli_tgz" -nt "$gocli" ]; then
      rm -rf "$build/gocli/src"
      mkdir -p "$build/gocli/src"
      tar xzf "$gocli_tgz" -C "$build/gocli/src"
      (cd "$build/gocli/src" && GOFLAGS=-mod=vendor GOTOOLCHAIN=local GOCACHE="$build/gocli/cache" \
        go build -ldflags "-X github.com/cloudfoundry/bosh-cli/v7/cmd.VersionLabel=7.4.1" -o "$gocli.tmp" .) ||
        fail "building the Go CLI"
      mv "$gocli.tmp" "$gocli"
      rm -rf "$build/gocli/src"
    fi
    "$gocli" --version | grep -q "version 7.4.1" || fail "not the Go CLI 7.4.1: $("$gocli" --version)"
    # A previous run's leftovers go first.
    for p in www blocker; do [ -f "$state/$p.pid" ] && kill "$(cat "$state/$p.pid")" 2>/dev/null || true; done
    [ -d "$state/other" ] && BOSH_LOCAL_DIR=$state/other "$src/scripts/local-director" stop >/dev/null 2>&1 || true
    [ -d "$state" ] && "$src/scripts/local-director" stop "$BOSH_LOCAL_DIR" >/dev/null 2>&1 || true
    rm -rf "$state"
    mkdir -p "$state/home"
    "$src/scripts/local-director" start >"$state/env" || fail "local director did not start"
    # shellcheck disable=SC1091
    . <(sed 's/^/export /' "$state/env")
    "$gocli" alias-env compat -e "$BOSH_LOCAL_DIRECTOR" --ca-cert "$BOSH_LOCAL_CA" >"$state/out" 2>&1 ||
      { cat "$state/out"; fail "alias-env"; }
    BOSH_CLIENT=admin BOSH_CLIENT_SECRET=$BOSH_LOCAL_PASSWORD g log-in >"$state/out" 2>&1 || { cat "$state/out"; fail "log-in"; }
    [ "$(g env --json | jq -r '.Tables[0].Rows[0].user')" = admin ] || fail "log-in did not log in: $(g env)"
    cp -r "$src/examples/kv-release" "$rel"
    rm -rf "$rel/dev_releases" "$rel/.dev_builds"
    # Its own loopback subnet, beside the e2e (127.0.77) and quickstart (127.0.10) ones.
    sed -i 's/127\.0\.10\./127.0.99./g' "$rel/manifests/cloud-config.yml"
    printf 'variables:\n- name: compat_password\n  type: password\n' >>"$rel/manifests/kv.yml"
    echo PASS
    ;;

  env)
    out=$(g env --json) || fail "env: $out"
    info=$(jq -c '.Tables[0].Rows[0]' <<<"$out")
    [ "$(jq -r .name <<<"$info")" = local ] || fail "env name: $info"
    [ "$(jq -r .cpi <<<"$info")" = local ] || fail "env cpi: $info"
    [ "$(jq -r .user <<<"$info")" = admin ] || fail "env user: $info"
    . /etc/os-release
    [ "$(jq -r .director_stemcell <<<"$info")" = "$ID/$VERSION_ID" ] || fail "the director stemcell row: $info"
    out=$(g env --details --json) || fail "env --details: $out"
    jq -e '.Tables[1].Rows[0].certificate == "director.ssl.certificate"' <<<"$out" >/dev/null || fail "certificate expiry: $out"
    echo PASS
    ;;

  auth)
    # A wrong secret: the CLI's usual 401 message, and log-in refuses.
    out=$(BOSH_CLIENT=admin BOSH_CLIENT_SECRET=wrong "$gocli" -e compat deployments 2>&1) && fail "a wrong secret was let in"
    grep -q "Director responded with non-successful status code '401'" <<<"$out" || fail "401: $out"
    out=$(BOSH_CLIENT=admin BOSH_CLIENT_SECRET=wrong "$gocli" -e compat log-in 2>&1) && fail "log-in with a wrong secret"
    grep -q "Invalid credentials" <<<"$out" || fail "log-in: $out"
    g deployments --json >/dev/null || fail "the saved login stopped working"
    echo PASS
    ;;

  stemcell)
    stemcell=$BOSH_LOCAL_DIR/stemcell.tgz
    g upload-stemcell "$stemcell" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload-stemcell"; }
    out=$(g stemcells --json)
    [ "$(rows "$out" | jq -r '.name' | sort -u)" = bosh-local-go_agent ] || fail "stemcells: $out"
    # Again: the director says it has it (POST /stemcell_uploads), no task runs.
    before=$(last_task)
    out=$(g --tty upload-stemcell "$stemcell" 2>&1) || fail "second upload-stemcell: $out"
    grep -q "Stemcell 'bosh-local-go_agent/.*' already exists" <<<"$out" || fail "second upload-stemcell: $out"
    [ "$(last_task)" = "$before" ] || fail "a task ran for a stemcell the director has"
    # --fix uploads anyway.
    g upload-stemcell --fix "$stemcell" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload-stemcell --fix"; }
    [ "$(last_task)" != "$before" ] || fail "--fix ran no task"
    # From a URL, checked against --sha1.
    mkdir -p "$state/www"
    cp "$stemcell" "$state/www/stemcell.tgz"
    python3 -m http.server --bind 127.0.0.1 0 --directory "$state/www" >"$state/www.log" 2>&1 &
    echo $! >"$state/www.pid"
    wait_for 10 "the HTTP server" grep -q "Serving HTTP" "$state/www.log"
    port=$(sed -nE 's/.*port ([0-9]+).*/\1/p' "$state/www.log" | head -1)
    echo "$port" >"$state/www.port"
    url="http://127.0.0.1:$port/stemcell.tgz"
    out=$(g upload-stemcell "$url" --sha1 "sha256:$(printf '0%.0s' $(seq 64))" --fix 2>&1) && fail "a wrong --sha1 was accepted"
    grep -q "expected digest 'sha256:0000" <<<"$out" || fail "wrong --sha1: $out"
    g upload-stemcell "$url" --sha1 "sha256:$(sha256sum "$stemcell" | cut -d' ' -f1)" --fix >"$state/out" 2>&1 ||
      { cat "$state/out"; fail "upload-stemcell URL"; }
    grep -q "Downloading remote file" "$state/out" || fail "URL upload: $(cat "$state/out")"
    echo PASS
    ;;

  release)
    (cd "$rel" && "$build/bin/bosh" create release --force --with-tarball >/dev/null) || fail "create release"
    tarball=$rel/dev_releases/kv/kv-0+dev.1.tgz
    g upload-release "$tarball" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload-release"; }
    out=$(g releases --json)
    [ "$(rows "$out" | jq -r '.name + "/" + .version')" = "kv/0+dev.1" ] || fail "releases: $out"
    # A new version with one job changed sends only what the director lacks (POST /packages/matches).
    echo "# a change" >>"$rel/jobs/kv-web/templates/bin/ctl.erb"
    (cd "$rel" && "$build/bin/bosh" create release --force --with-tarball >/dev/null) || fail "create release dev.2"
    # First, a conflicting re-upload (dev.2's content as version 0+dev.1) shows its reason.
    mkdir -p "$state/conflict"
    tar xzf "$rel/dev_releases/kv/kv-0+dev.2.tgz" -C "$state/conflict"
    sed -i 's/^version: .*/version: "0+dev.1"/' "$state/conflict/release.MF"
    tar czf "$state/conflict.tgz" -C "$state/conflict" .
    out=$(g upload-release "$state/conflict.tgz" 2>&1) && fail "a conflicting re-upload was accepted"
    grep -q "already uploaded with different jobs or packages" <<<"$out" || fail "conflict: $out"
    g upload-release "$rel/dev_releases/kv/kv-0+dev.2.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload dev.2"; }
    # The same packages in another release: the CLI leaves them out, the director copies its own.
    (cd "$rel" && "$build/bin/bosh" create release --force --name kv-copy --with-tarball >/dev/null) || fail "create kv-copy"
    g upload-release "$rel/dev_releases/kv-copy/kv-copy-0+dev.1.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload kv-copy"; }
    debug=$(g task "$(last_task)" --debug)
    [ "$(grep -c "is not in the tarball: copied from the director's own" <<<"$debug")" = 2 ] ||
      fail "the CLI sent packages the director has (POST /packages/matches): $debug"
    g delete-release kv-copy >/dev/null || fail "delete-release kv-copy"
    g --tty inspect-release kv/0+dev.2 >"$state/out" 2>&1 || { cat "$state/out"; fail "inspect-release"; }
    grep -q "name: kv" "$state/out" || fail "inspect-release shows no links: $(cat "$state/out")"
    # From a URL with --sha1 (a re-upload of dev.2: nothing new), and --fix.
    cp "$rel/dev_releases/kv/kv-0+dev.2.tgz" "$state/www/kv.tgz"
    url="http://127.0.0.1:$(cat "$state/www.port")/kv.tgz"
    g upload-release "$url" --sha1 "$(sha1sum "$state/www/kv.tgz" | cut -d' ' -f1)" >"$state/out" 2>&1 ||
      { cat "$state/out"; fail "upload-release URL"; }
    g upload-release --fix "$rel/dev_releases/kv/kv-0+dev.2.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload-release --fix"; }
    grep -q "Creating new jobs: kv-web" "$state/out" || fail "--fix stored nothing again: $(cat "$state/out")"
    echo PASS
    ;;

  release-dir)
    # One release directory, both CLIs taking turns: each reuses the other's
    # builds (.dev_builds/.final_builds indexes, the ~/.bosh/cache layout),
    # versions follow on, and the manifests agree on every name, fingerprint
    # and digest. Our CLI is $build/bin/bosh; no director is involved.
    ours() { "$build/bin/bosh" "$@"; }
    same() {  # a.yml b.yml [--no-job-packages]: the same release but for version, commit_hash, uncommitted_changes
      python3 - "$@" <<'PY' || fail "$1 and $2 differ"
import json, sys, yaml
def load(p):
    m = yaml.safe_load(open(p))
    for k in ("version", "commit_hash", "uncommitted_changes"):
        m.pop(k, None)
    if len(sys.argv) > 3:  # --no-job-packages
        for j in m.get("jobs", []):
            j.pop("packages", None)
    return m
a, b = load(sys.argv[1]), load(sys.argv[2])
if a != b:
    print(json.dumps(a, indent=1, sort_keys=True)); print(json.dumps(b, indent=1, sort_keys=True)); sys.exit(1)
PY
    }
    d=$state/rd
    rm -rf "$d" "$state/rd-blobs" "$state/rd-other-blobs" "$state/rd-home-ours" && mkdir -p "$d"
    cp -r "$src/examples/kv-release" "$d/kv" && rm -rf "$d/kv/dev_releases" "$d/kv/.dev_builds" "$d/kv/.final_builds"
    sed -i "s|blobstore_path: .*|blobstore_path: $state/rd-blobs|" "$d/kv/config/final.yml"
    # Release directories are git work trees of their own (as public releases are).
    commit() { git -C "$1" add -A && git -C "$1" -c user.name=t -c user.email=t@t commit -qm "$2"; }
    git init -q "$d/kv" && commit "$d/kv" initial
    # Go first, then ours: ours builds nothing, names it 0+dev.2.
    "$gocli" create-release --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "Go create-release"; }
    [ -f "$d/kv/dev_releases/kv/kv-0+dev.1.yml" ] || fail "Go made no kv-0+dev.1: $(cat "$state/out")"
    ours create release --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "our create release after Go's"; }
    [ -f "$d/kv/dev_releases/kv/kv-0+dev.2.yml" ] || fail "ours did not follow on with 0+dev.2: $(cat "$state/out")"
    same "$d/kv/dev_releases/kv/kv-0+dev.1.yml" "$d/kv/dev_releases/kv/kv-0+dev.2.yml"
    hash_of() { sed -n 's/^commit_hash: //p' "$1" | tr -d "'\""; }
    [ "$(hash_of "$d/kv/dev_releases/kv/kv-0+dev.2.yml")" = "$(hash_of "$d/kv/dev_releases/kv/kv-0+dev.1.yml")" ] ||
      fail "the commit hashes differ: $(grep -h commit_hash "$d"/kv/dev_releases/kv/*.yml)"
    # A change, built by ours (sha256 digests, as Go's default), then Go reuses ours.
    echo "# a change" >>"$d/kv/jobs/kv-web/templates/bin/ctl.erb"
    commit "$d/kv" change
    ours create release --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "our create release dev.3"; }
    "$gocli" create-release --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "Go create-release after ours"; }
    same "$d/kv/dev_releases/kv/kv-0+dev.3.yml" "$d/kv/dev_releases/kv/kv-0+dev.4.yml"
    grep -q "sha1: sha256:" "$d/kv/dev_releases/kv/kv-0+dev.3.yml" || fail "ours did not default to sha256"
    # Final releases: Go's kv/1 uploads; ours (kv/2) uploads nothing more.
    "$gocli" create-release --final --force --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "Go --final"; }
    blobs=$(find "$state/rd-blobs" -type f | wc -l)
    [ "$blobs" -ge 5 ] || fail "Go's final release uploaded $blobs blobs"
    ours create release --final --force --dir "$d/kv" >"$state/out" 2>&1 || { cat "$state/out"; fail "our --final after Go's"; }
    same "$d/kv/releases/kv/kv-1.yml" "$d/kv/releases/kv/kv-2.yml"
    [ "$(find "$state/rd-blobs" -type f | wc -l)" = "$blobs" ] || fail "ours uploaded again what Go had uploaded"
    # kv/1's tarball from its manifest alone, with an empty cache and no dev builds:
    # everything comes from the release blobstore; both CLIs write the same release.MF.
    rm -rf "$d/kv/.dev_builds"
    HOME=$state/rd-home-ours ours create release "$d/kv/releases/kv/kv-1.yml" --dir "$d/kv" --tarball "$d/ours-1.tgz" \
      >"$state/out" 2>&1 || { cat "$state/out"; fail "our tarball from releases/kv/kv-1.yml"; }
    "$gocli" create-release "$d/kv/releases/kv/kv-1.yml" --dir "$d/kv" --tarball "$d/go-1.tgz" >"$state/out" 2>&1 ||
      { cat "$state/out"; fail "Go tarball from kv-1.yml"; }
    tar xzOf "$d/ours-1.tgz" ./release.MF >"$d/ours-1.MF" 2>/dev/null || tar xzOf "$d/ours-1.tgz" release.MF >"$d/ours-1.MF"
    tar xzOf "$d/go-1.tgz" ./release.MF >"$d/go-1.MF" 2>/dev/null || tar xzOf "$d/go-1.tgz" release.MF >"$d/go-1.MF"
    # Go's tarball from a manifest lists no packages for its jobs (it never
    # opens their job.MF); ours keeps the manifest's, as a tarball made directly has.
    same "$d/ours-1.MF" "$d/go-1.MF" --no-job-packages
    same "$d/ours-1.MF" "$d/kv/releases/kv/kv-1.yml"
    ours verify release "$d/ours-1.tgz" >"$state/out" 2>&1 || { cat "$state/out"; fail "our kv/1 tarball does not verify"; }
    # A release vendoring kvlib from kv (Go's vendor-package writes spec.lock),
    # with a LICENSE, a package folder named apart from its package, and spec
    # keys neither CLI knows: ours then Go (sharing ~/.bosh/cache) agree.
    o=$d/other
    mkdir -p "$o/config" "$o/jobs/hello/templates" "$o/packages/greet-dir" "$o/src" "$o/blobs"
    printf -- '---\nname: other\nblobstore:\n  provider: local\n  options:\n    blobstore_path: %s\n' "$state/rd-other-blobs" >"$o/config/final.yml"
    printf -- '--- {}\n' >"$o/config/blobs.yml"
    printf 'MIT, for the test\n' >"$o/LICENSE"
    printf -- '---\nname: hello\ntemplates:\n  ctl.erb: bin/ctl\npackages: [greet, kvlib]\nproperties: {}\nfrobnicate: yes\n' >"$o/jobs/hello/spec"
    printf 'check process hello\n' >"$o/jobs/hello/monit"
    printf '#!/bin/bash\necho <%%= spec.name %%>\n' >"$o/jobs/hello/templates/ctl.erb"
    printf -- '---\nname: greet\ndependencies: [kvlib]\nfiles: [greet/**/*]\nsomething_new: 1\n' >"$o/packages/greet-dir/spec"
    printf 'cp -a greet/* "${BOSH_INSTALL_TARGET}"\n' >"$o/packages/greet-dir/packaging"
    mkdir -p "$o/src/greet/sub" && printf 'hi\n' >"$o/src/greet/sub/hi.txt"
    "$gocli" vendor-package kvlib "$d/kv" --dir "$o" >"$state/out" 2>&1 || { cat "$state/out"; fail "Go vendor-package"; }
    [ -f "$o/packages/kvlib/spec.lock" ] || fail "vendor-package wrote no spec.lock"
    cp "$src/examples/kv-release/.gitignore" "$o/" && git init -q "$o" && commit "$o" initial
    ours create release --dir "$o" >"$state/out" 2>&1 || { cat "$state/out"; fail "ours on the vendoring release"; }
    "$gocli" create-release --dir "$o" >"$state/out" 2>&1 || { cat "$state/out"; fail "Go on the vendoring release"; }
    same "$o/dev_releases/other/other-0+dev.1.yml" "$o/dev_releases/other/other-0+dev.2.yml"
    grep -q "^license:" "$o/dev_releases/other/other-0+dev.1.yml" || fail "ours has no license entry"
    [ "$(grep -A3 'name: kvlib' "$o/dev_releases/other/other-0+dev.1.yml" | sed -n 's/.*fingerprint: //p')" = \
      "$(grep -A3 'name: kvlib' "$d/kv/releases/kv/kv-1.yml" | sed -n 's/.*fingerprint: //p')" ] ||
      fail "the vendored kvlib's fingerprint is not kv/1's"
    echo PASS
    ;;

  configs)
    out=$(g --tty update-cloud-config "$rel/manifests/cloud-config.yml" 2>&1) || fail "update-cloud-config: $out"
    grep -q "^+ azs:" <<<"$out" || fail "the first cloud config diff is not all added: $out"
    sed -i 's/workers: 2/workers: 3/' "$rel/manifests/cloud-config.yml"
    out=$(g --tty update-cloud-config "$rel/manifests/cloud-config.yml" 2>&1) || fail "update-cloud-config 2: $out"
    grep -q "^-   workers: 2" <<<"$out" && grep -q "^+   workers: 3" <<<"$out" || fail "the diff: $out"
    [ "$(grep -n '^-   workers: 2' <<<"$out" | cut -d: -f1)" -lt "$(grep -n '^+   workers: 3' <<<"$out" | cut -d: -f1)" ] ||
      fail "removed lines come after added ones: $out"
    # A named cloud config, merged into what deploys see.
    printf 'vm_extensions:\n- name: compat-extra\n  cloud_properties: {}\n' >"$state/extra.yml"
    g update-cloud-config --name=compat-extra "$state/extra.yml" >/dev/null || fail "update-cloud-config --name"
    g cloud-config --name=compat-extra | grep -q compat-extra || fail "cloud-config --name"
    out=$(g configs --json)
    [ "$(rows "$out" | jq -r 'select(.type == "cloud") | .name' | sort | tr '\n' ' ')" = "compat-extra default " ] ||
      fail "configs: $out"
    id=$(rows "$out" | jq -r 'select(.name == "compat-extra") | .id' | tr -d '*')
    g config "$id" --json | jq -e '.Tables[0].Rows[0].content | test("compat-extra")' >/dev/null || fail "config $id"
    [ "$(g configs --recent=10 --type=cloud --json | jq '.Tables[0].Rows | length')" = 3 ] || fail "configs --recent"
    # Any type, update-config / diff-config / delete-config.
    printf 'a: 1\n' >"$state/c1.yml"
    printf 'a: 2\n' >"$state/c2.yml"
    g update-config --type compat --name one "$state/c1.yml" >/dev/null || fail "update-config"
    id1=$(g configs --type=compat --json | jq -r '.Tables[0].Rows[0].id' | tr -d '*')
    out=$(g --tty update-config --type compat --name one "$state/c2.yml" 2>&1) || fail "update-config 2: $out"
    grep -q "^- a: 1" <<<"$out" && grep -q "^+ a: 2" <<<"$out" || fail "update-config diff: $out"
    id2=$(g configs --type=compat --json | jq -r '.Tables[0].Rows[0].id' | tr -d '*')
    out=$(g --tty diff-config --from-id "$id1" --to-id "$id2" 2>&1) || fail "diff-config: $out"
    grep -q "+ a: 2" <<<"$out" || fail "diff-config: $out"
    g delete-config --type compat --name one >/dev/null || fail "delete-config"
    [ "$(g configs --type=compat --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "the config was not deleted"
    out=$(g delete-config --type compat --name one 2>&1) || fail "deleting nothing: $out"
    # cpi and runtime configs.
    printf 'cpis: []\n' >"$state/cpi.yml"
    g update-cpi-config "$state/cpi.yml" >/dev/null || fail "update-cpi-config"
    g cpi-config | grep -q "cpis: \[\]" || fail "cpi-config: $(g cpi-config)"
    printf 'releases: []\naddons: []\n' >"$state/runtime.yml"
    g update-runtime-config --name=compat "$state/runtime.yml" >/dev/null || fail "update-runtime-config"
    g runtime-config --name=compat | grep -q "addons: \[\]" || fail "runtime-config"
    echo PASS
    ;;

  deploy)
    # --dry-run changes nothing: no VM.
    deploy --dry-run || fail "deploy --dry-run"
    [ -z "$(ls -A "$BOSH_LOCAL_DIR/cpi/vms" 2>/dev/null)" ] || fail "--dry-run made VMs"
    deploy || fail "deploy"
    [ "$(gd vms --json | jq '[.Tables[0].Rows[] | select(.process_state == "running")] | length')" = 3 ] ||
      fail "not 3 running VMs: $(gd vms)"
    # A zero-change deploy updates nothing.
    deploy || fail "second deploy"
    ! grep -q "Updating instance" "$state/deploy.out" || fail "a deploy without changes updated instances"
    # A property change: the diff lists the removed line before the added one; canaries and max_in_flight hold.
    sed -i 's/max_value_bytes: 1048576/max_value_bytes: 2097152/' "$rel/manifests/kv.yml"
    deploy --canaries 2 --max-in-flight 1 --no-redact || fail "deploy --canaries --max-in-flight"
    removed=$(grep -n '^-.*max_value_bytes: 1048576' "$state/deploy.out" | cut -d: -f1)
    added=$(grep -n '^+.*max_value_bytes: 2097152' "$state/deploy.out" | cut -d: -f1)
    [ -n "$removed" ] && [ -n "$added" ] && [ "$removed" -lt "$added" ] || fail "the diff: $(cat "$state/deploy.out")"
    [ "$(grep -c 'Updating instance kv-store: .*(canary)' "$state/deploy.out")" = 2 ] || fail "--canaries 2: $(cat "$state/deploy.out")"
    # --recreate: new VMs; --skip-drain and --fix are accepted and converge.
    before=$(gd vms --json | jq -r '.Tables[0].Rows[].vm_cid' | sort)
    deploy --recreate --skip-drain || fail "deploy --recreate --skip-drain"
    after=$(gd vms --json | jq -r '.Tables[0].Rows[].vm_cid' | sort)
    [ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ] || fail "--recreate kept VMs: $before / $after"
    deploy --fix || fail "deploy --fix"
    gd manifest | grep -q "max_value_bytes: 2097152" || fail "manifest: $(gd manifest)"
    echo PASS
    ;;

  instances)
    out=$(gd instances --ps --details --vitals --json) || fail "instances: $out"
    [ "$(rows "$out" | jq -r 'select(.process == "") | .instance' | wc -l)" = 3 ] || fail "instances: $out"
    rows "$out" | jq -e 'select(.process == "kvd" or .process == "kv-store" or .process == "kv-web")' >/dev/null ||
      fail "--ps shows no processes: $out"
    first=$(rows "$out" | jq -c 'select(.process == "")' | head -1)
    [[ "$(jq -r .vm_created_at <<<"$first")" =~ ^[A-Z][a-z]{2}\ [A-Z][a-z]{2} ]] || fail "vm_created_at: $first"
    [ -n "$(jq -r .agent_id <<<"$first")" ] && [ "$(jq -r .bootstrap <<<"$first")" != "" ] || fail "--details: $first"
    out=$(gd vms --vitals --json) || fail "vms: $out"
    [ "$(rows "$out" | jq -r .stemcell | sort -u)" = "bosh-local-go_agent/$(g stemcells --json | jq -r '.Tables[0].Rows[0].version' | tr -d '*')" ] ||
      fail "vms stemcell: $out"
    rows "$out" | jq -e 'select(.memory_usage != "" and .load_1m_5m_15m != "")' >/dev/null || fail "vms --vitals: $out"
    echo PASS
    ;;

  tasks)
    t=$(last_task)
    g task "$t" >/dev/null || fail "task $t"
    g task "$t" --event | jq -e 'select(.stage)' >/dev/null || fail "task --event"
    g task "$t" --debug | grep -q "started by" || fail "task --debug"
    g task "$t" --cpi >/dev/null || fail "task --cpi"
    recent=$(g tasks --recent=3 --json)
    [ "$(jq '.Tables[0].Rows | length' <<<"$recent")" = 3 ] || fail "tasks --recent=3: $recent"
    ! rows "$recent" | jq -r .description | grep -q "retrieve vm-stats" || fail "--recent shows internal tasks: $recent"
    g tasks --recent=10 --all --json | jq -e '.Tables[0].Rows[] | select(.description == "retrieve vm-stats")' >/dev/null ||
      fail "--all does not show internal tasks"
    # A failed task ends with its reason, shown by the CLI.
    sed 's/port: 8080/port: 99999/' "$rel/manifests/kv.yml" >"$state/bad.yml"
    out=$(gd deploy "$state/bad.yml" 2>&1) && fail "a deploy of kv-store on port 99999 succeeded"
    grep -q "Error: Unable to render jobs for instance group 'kv-store'" <<<"$out" &&
      grep -q "kv.port must be from 1 to 65535, not 99999" <<<"$out" || fail "no reason shown: $out"
    # cancel-task: a deploy waiting for a job that never runs (its port is taken on
    # the canary's address), cancelled while it holds the lock.
    canary_ip=$(gd instances --json | jq -r '.Tables[0].Rows[] | select(.instance | startswith("kv-store/")) | .ips' | sort | head -1)
    python3 -m http.server --bind "$canary_ip" 9090 >"$state/blocker.log" 2>&1 &
    echo $! >"$state/blocker.pid"
    wait_for 10 "the port blocker" bash -c "(exec 3<>/dev/tcp/$canary_ip/9090) 2>/dev/null"
    sed 's/port: 8080/port: 9090/; s/canary_watch_time: 1000-30000/canary_watch_time: 600000/' "$rel/manifests/kv.yml" >"$state/slow.yml"
    gd deploy "$state/slow.yml" >"$state/slow.out" 2>&1 &
    deployer=$!
    running() { g tasks --json | jq -r '.Tables[0].Rows[0].id // empty'; }
    has_running() { [ -n "$(running)" ]; }
    wait_for 60 "the slow deploy to start" has_running
    slow=$(running)
    # (bosh task N would follow the task to its end: the event log is read with curl instead.)
    wait_for 60 "the slow deploy to update a canary" bash -c "\"$gocli\" -e compat curl '/tasks/$slow/output?type=event' | grep -q 'Updating instance'"
    # The canary's job was started and does not run: the deploy is watching it
    # (an agent action still under way when a task is cancelled carries on).
    canary_failing() {
      gd instances --json | jq -e --arg ip "$canary_ip" \
        '.Tables[0].Rows[] | select(.ips == $ip) | select(.process_state == "failing")' >/dev/null
    }
    wait_for 60 "the canary to be started and not running" canary_failing
    g locks --json | jq -e --arg t "$slow" '.Tables[0].Rows[] | select(.task_id == $t and .type == "deployment")' >/dev/null ||
      fail "locks: $(g locks)"
    g cancel-task "$slow" >/dev/null || fail "cancel-task"
    kill "$(cat "$state/blocker.pid")"
    wait_for 60 "task $slow to be cancelled" bash -c "\"$gocli\" -e compat tasks --recent=20 --all --json | jq -e --arg t $slow '.Tables[0].Rows[] | select(.id == \$t and .state == \"cancelled\")' >/dev/null"
    wait "$deployer" && fail "the cancelled deploy exited 0"
    deploy || fail "deploy after the cancel"
    echo PASS
    ;;

  events)
    out=$(g events -d kv --object-type vm --json)
    [ "$(rows "$out" | jq -r .action | sort -u | tr '\n' ' ')" = "create delete " ] || fail "vm events: $out"
    vm_event=$(rows "$out" | jq -c 'select(.action == "create")' | head -1)
    [ -n "$(jq -r .instance <<<"$vm_event")" ] || fail "a vm event without its instance: $vm_event"
    id=$(jq -r .id <<<"$vm_event" | sed 's/ .*//')
    g event "$id" --json | jq -e '.Tables[0].Rows[0].object_type == "vm"' >/dev/null || fail "event $id"
    [[ "$(jq -r .id <<<"$vm_event")" == *"<- "* ]] || fail "instance events have no parent: $vm_event"
    instance=$(jq -r .instance <<<"$vm_event")
    [ "$(g events --instance "$instance" --json | jq -r '[.Tables[0].Rows[].instance] | unique | .[]')" = "$instance" ] ||
      fail "events --instance"
    task=$(jq -r .task_id <<<"$vm_event")
    [ "$(g events --task "$task" --json | jq -r '[.Tables[0].Rows[].task_id] | unique | .[]')" = "$task" ] || fail "events --task"
    g events --action update --object-type deployment --object-name kv --event-user admin --json |
      jq -e '.Tables[0].Rows | length > 0' >/dev/null || fail "events --action --object-name --event-user"
    n=$(g events --before-id "$id" --json | jq '[.Tables[0].Rows[] | select((.id | split(" ")[0] | tonumber) >= '"$id"')] | length')
    [ "$n" = 0 ] || fail "--before-id $id listed later events"
    [ "$(g events --before "2000-01-01 00:00:00" --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "--before"
    [ "$(g events --after "2000-01-01 00:00:00" --json | jq '.Tables[0].Rows | length')" -gt 0 ] || fail "--after"
    echo PASS
    ;;

  errands)
    [ "$(gd errands --json | jq -r '.Tables[0].Rows[].name')" = smoke-tests ] || fail "errands"
    mkdir -p "$state/errand-logs"
    out=$(gd run-errand smoke-tests --download-logs --logs-dir "$state/errand-logs" --json) || fail "run-errand: $out"
    jq -e '.Tables[0].Rows[0].exit_code == "0"' <<<"$out" >/dev/null || fail "errand result: $out"
    jq -r '.Tables[0].Rows[0].stdout' <<<"$out" | grep -q "smoke-tests: PASSED" || fail "errand stdout: $out"
    ls "$state/errand-logs"/smoke-tests-*.tgz >/dev/null || fail "--download-logs got nothing"
    # --when-changed: nothing changed since the last successful run, so it does not run.
    before=$(g events -d kv --object-type vm --json | jq '.Tables[0].Rows | length')
    gd run-errand smoke-tests --when-changed >"$state/out" 2>&1 || { cat "$state/out"; fail "--when-changed"; }
    [ "$(g events -d kv --object-type vm --json | jq '.Tables[0].Rows | length')" = "$before" ] ||
      fail "--when-changed made a VM for an unchanged errand"
    # --keep-alive keeps the errand's VM; --instance picks it.
    gd run-errand smoke-tests --keep-alive --instance smoke-tests/0 >"$state/out" 2>&1 || { cat "$state/out"; fail "--keep-alive"; }
    gd vms --json | jq -e '.Tables[0].Rows[] | select(.instance | startswith("smoke-tests/"))' >/dev/null ||
      fail "--keep-alive: no smoke-tests VM"
    gd run-errand smoke-tests >"$state/out" 2>&1 || { cat "$state/out"; fail "run-errand after --keep-alive"; }
    ! gd vms --json | jq -e '.Tables[0].Rows[] | select(.instance | startswith("smoke-tests/"))' >/dev/null ||
      fail "the errand VM was kept without --keep-alive"
    echo PASS
    ;;

  logs)
    dir=$state/logs
    rm -rf "$dir" && mkdir -p "$dir"
    gd logs kv-store/0 --dir "$dir" >/dev/null || fail "logs kv-store/0"
    tar tzf "$dir"/kv.kv-store.0-*.tgz | grep -q "kv-store/" || fail "one instance's logs: $(tar tzf "$dir"/kv.kv-store.0-*.tgz)"
    gd logs kv-store --dir "$dir" >/dev/null || fail "logs kv-store"
    [ "$(tar tzf "$dir"/kv.kv-store-*.tgz | grep -c '^./kv-store\.')" = 2 ] || fail "a group's logs"
    gd logs --dir "$dir" >/dev/null || fail "logs of the deployment"
    [ "$(tar tzf "$dir"/kv-*.tgz | grep -c '\.tgz$')" = 3 ] || fail "the deployment's logs: $(tar tzf "$dir"/kv-*.tgz)"
    gd logs kv-web/0 --agent --dir "$dir" >/dev/null || fail "logs --agent"
    tar tzf "$dir"/kv.kv-web.0-*.tgz | grep -q "current" || fail "--agent: no agent log"
    rm -f "$dir"/kv.kv-web.0-*.tgz
    gd logs kv-web/0 --only kv-web/ctl.log --dir "$dir" >/dev/null || fail "logs --only"
    [ "$(tar tzf "$dir"/kv.kv-web.0-*.tgz | grep -v '/$')" = "./kv-web/ctl.log" ] || fail "--only: $(tar tzf "$dir"/kv.kv-web.0-*.tgz)"
    gd logs kv-web --all-logs --dir "$dir" >/dev/null || fail "logs --all-logs"
    echo PASS
    ;;

  ssh)
    host_users=$(sha1sum </etc/passwd)
    out=$(gd ssh kv-web/0 -c 'id -un; cat /var/vcap/jobs/kv-web/bin/ctl | head -1; hostname' 2>&1) || fail "ssh: $out"
    grep -q "stdout | bosh_" <<<"$out" || fail "ssh did not log in as a bosh_ user: $out"
    grep -q "stdout | #!/bin/bash" <<<"$out" || fail "ssh does not see the VM's /var/vcap: $out"
    [ "$(sha1sum </etc/passwd)" = "$host_users" ] || fail "the host's /etc/passwd changed"
    out=$(gd scp kv-web/0:/var/vcap/jobs/kv-web/bin/ctl "$state/ctl" 2>&1) || fail "scp: $out"
    grep -q "^#!/bin/bash" "$state/ctl" || fail "scp copied: $(head -2 "$state/ctl")"
    echo "from the host" >"$state/up.txt"
    # As on BOSH's VMs, ssh users (group vcap) may write the VM's data/tmp.
    gd scp "$state/up.txt" kv-web/0:/var/vcap/data/tmp/up.txt >"$state/out" 2>&1 || { cat "$state/out"; fail "scp to the VM"; }
    vm=$(gd vms --json | jq -r '.Tables[0].Rows[] | select(.instance | startswith("kv-web/")) | .vm_cid')
    [ "$(cat "$BOSH_LOCAL_DIR/cpi/vms/$vm/data/tmp/up.txt")" = "from the host" ] || fail "the uploaded file"
    out=$(gd ssh kv-web/0 -c 'cat /var/vcap/data/tmp/up.txt' 2>&1) || fail "ssh cat: $out"
    grep -q "stdout | from the host" <<<"$out" || fail "the uploaded file through ssh: $out"
    # Every session's user is cleaned up afterwards (the CLI does not wait: the VM's own passwd is checked).
    wait_for 30 "the ssh users to be removed" bash -c "! grep -q '^bosh_' '$BOSH_LOCAL_DIR/cpi/vms/$vm/bosh/etc/passwd'"
    echo PASS
    ;;

  lifecycle)
    state_of() { gd instances --details --json | jq -r --arg i "$1" '.Tables[0].Rows[] | select(.instance | startswith($i)) | .state'; }
    gd stop kv-web/0 >/dev/null || fail "stop"
    [ "$(state_of kv-web/)" = stopped ] || fail "after stop: $(state_of kv-web/)"
    gd start kv-web/0 >/dev/null || fail "start"
    [ "$(state_of kv-web/)" = started ] || fail "after start"
    gd restart kv-web >/dev/null || fail "restart"
    gd stop --hard kv-web/0 >/dev/null || fail "stop --hard"
    [ "$(state_of kv-web/)" = detached ] || fail "after stop --hard: $(state_of kv-web/)"
    ! gd vms --json | jq -e '.Tables[0].Rows[] | select(.instance | startswith("kv-web/"))' >/dev/null || fail "stop --hard kept the VM"
    gd start kv-web/0 >/dev/null || fail "start after --hard"
    gd vms --json | jq -e '.Tables[0].Rows[] | select(.instance | startswith("kv-web/")) | select(.process_state == "running")' >/dev/null ||
      fail "no running kv-web VM after start"
    before=$(gd vms --json | jq -r '.Tables[0].Rows[] | select(.instance | startswith("kv-store/")) | .vm_cid' | sort)
    gd recreate kv-store >/dev/null || fail "recreate"
    after=$(gd vms --json | jq -r '.Tables[0].Rows[] | select(.instance | startswith("kv-store/")) | .vm_cid' | sort)
    [ -z "$(comm -12 <(echo "$before") <(echo "$after"))" ] || fail "recreate kept VMs"
    # ignore / unignore.
    gd ignore kv-store/0 >/dev/null || fail "ignore"
    gd instances --details --json | jq -e '.Tables[0].Rows[] | select(.instance | startswith("kv-store/")) | select(.ignore == "true")' >/dev/null ||
      fail "ignore: not shown"
    gd unignore kv-store/0 >/dev/null || fail "unignore"
    ! gd instances --details --json | jq -e '.Tables[0].Rows[] | select(.ignore == "true")' >/dev/null || fail "unignore: still ignored"
    echo PASS
    ;;

  snapshots)
    gd take-snapshot >/dev/null || fail "take-snapshot"
    gd take-snapshot kv-store/0 >/dev/null || fail "take-snapshot kv-store/0"
    out=$(gd snapshots --json)
    [ "$(jq '.Tables[0].Rows | length' <<<"$out")" = 3 ] || fail "snapshots: $out"
    cid=$(rows "$out" | jq -r .cid | head -1)
    [ -d "$BOSH_LOCAL_DIR/cpi/snapshots/$cid" ] || fail "no snapshot $cid in the cloud"
    gd delete-snapshot "$cid" >/dev/null || fail "delete-snapshot"
    [ ! -e "$BOSH_LOCAL_DIR/cpi/snapshots/$cid" ] || fail "delete-snapshot left $cid in the cloud"
    [ "$(gd snapshots --json | jq '.Tables[0].Rows | length')" = 2 ] || fail "after delete-snapshot"
    gd delete-snapshots >/dev/null || fail "delete-snapshots"
    [ "$(gd snapshots --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "after delete-snapshots"
    echo PASS
    ;;

  variables)
    out=$(gd variables --json)
    [ "$(rows "$out" | jq -r .name)" = "/local/kv/compat_password" ] || fail "variables: $out"
    [ -n "$(rows "$out" | jq -r .id)" ] || fail "variables: no id"
    echo PASS
    ;;

  cleanup)
    # Scale kv-store down: its disk is orphaned.
    sed -i '0,/instances: 2/s//instances: 1/' "$rel/manifests/kv.yml"
    deploy || fail "scale down"
    out=$(g disks --orphaned --json)
    [ "$(jq '.Tables[0].Rows | length' <<<"$out")" = 1 ] || fail "disks --orphaned: $out"
    [ "$(rows "$out" | jq -r .az)" = z1 ] || fail "orphaned disk az: $out"
    [[ "$(rows "$out" | jq -r .orphaned_at)" =~ ^[A-Z][a-z]{2}\  ]] || fail "orphaned_at: $out"
    [ "$(g orphaned-vms --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "orphaned-vms"
    [ "$(g networks --orphaned --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "networks --orphaned"
    out=$(g clean-up --all --dry-run --json) || fail "clean-up --dry-run: $out"
    jq -e '[.Tables[] | select(.Header.disk_cid) | .Rows[]] | length == 1' <<<"$out" >/dev/null ||
      fail "the dry run does not list the orphaned disk: $out"
    [ "$(g disks --orphaned --json | jq '.Tables[0].Rows | length')" = 1 ] || fail "--dry-run deleted the disk"
    g clean-up --all >/dev/null || fail "clean-up --all"
    [ "$(g disks --orphaned --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "clean-up --all left the disk"
    [ "$(g releases --json | jq -r '.Tables[0].Rows[].version' | tr -d '*')" = "0+dev.2" ] || fail "clean-up kept unused releases"
    echo PASS
    ;;

  export)
    version=$(g stemcells --json | jq -r '.Tables[0].Rows[0].version' | tr -d '*')
    mkdir -p "$state/export"
    gd export-release kv/0+dev.2 "local/$version" --dir "$state/export" >"$state/out" 2>&1 || { cat "$state/out"; fail "export-release"; }
    tarball=$(ls "$state/export"/kv-0+dev.2-local-*.tgz)
    tar xzOf "$tarball" ./release.MF | grep -q "compiled_packages:" || fail "not a compiled release"
    # Another director takes it.
    other=$state/other
    BOSH_LOCAL_DIR=$other "$src/scripts/local-director" start >"$state/other.env" || fail "a second director"
    . <(sed 's/^/export /' "$state/other.env")
    "$gocli" alias-env other -e "$BOSH_LOCAL_DIRECTOR" --ca-cert "$BOSH_LOCAL_CA" >/dev/null || fail "alias-env other"
    BOSH_CLIENT=admin BOSH_CLIENT_SECRET=$BOSH_LOCAL_PASSWORD "$gocli" -e other log-in >/dev/null || fail "log-in other"
    "$gocli" -e other upload-release "$tarball" >"$state/out" 2>&1 || { cat "$state/out"; fail "upload the exported release"; }
    out=$("$gocli" -e other --tty inspect-release kv/0+dev.2 2>&1) || fail "inspect on the other director: $out"
    grep -q "local/$version" <<<"$out" || fail "the other director has no compiled packages: $out"
    BOSH_LOCAL_DIR=$other "$src/scripts/local-director" stop >/dev/null
    echo PASS
    ;;

  curl)
    g curl /info | jq -e '.name == "local"' >/dev/null || fail "curl /info"
    g curl -X POST -H 'Content-Type: application/json' --body <(echo '{"stemcell":{"name":"nope","version":"1"}}') /stemcell_uploads |
      jq -e '.needed == true' >/dev/null || fail "curl -X POST"
    out=$(g curl /no/such/endpoint 2>&1) && fail "curl of a missing endpoint succeeded"
    grep -q "404" <<<"$out" || fail "curl 404: $out"
    echo PASS
    ;;

  delete)
    gd delete-deployment >/dev/null || fail "delete-deployment"
    [ "$(g deployments --json | jq '.Tables[0].Rows | length')" = 0 ] || fail "deployments after delete"
    [ -z "$(ls -A "$BOSH_LOCAL_DIR/cpi/vms")" ] || fail "VMs left: $(ls "$BOSH_LOCAL_DIR/cpi/vms")"
    echo PASS
    ;;

  teardown)
    for p in www blocker; do [ -f "$state/$p.pid" ] && kill "$(cat "$state/$p.pid")" 2>/dev/null || true; done
    BOSH_LOCAL_DIR=$state/other "$src/scripts/local-director" stop >/dev/null 2>&1 || true
    "$src/scripts/local-director" stop >/dev/null 2>&1 || true
    echo PASS
    ;;

  *) fail "unknown stage" ;;
esac
