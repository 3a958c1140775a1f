#!/usr/bin/env bash
# The release-engineering workflow as a new user runs it, with the real bosh
# binary and git: init a release, add a package with a source file and a blob,
# a job with a template and properties, create a dev release, change one file,
# create again (only that package's version changes), upload blobs, create a
# final release, inspect and verify its tarball, sync blobs back.
# Usage: release_workflow.sh <build dir>
set -euo pipefail
bosh=$1/bin/bosh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
mkdir -p "$HOME"
export GIT_AUTHOR_NAME=test GIT_AUTHOR_EMAIL=test@example.com GIT_COMMITTER_NAME=test GIT_COMMITTER_EMAIL=test@example.com
cd "$work"

fail() { echo "FAIL: $*" >&2; exit 1; }
# version_of <table output> <name>: the fingerprint column of a row
fingerprint_of() { awk -v n="$2" '$1 == n { print $2 }' <<<"$1"; }

"$bosh" init release demo --git >/dev/null
cd demo
sed -i "s|blobstore_path: .*|blobstore_path: $work/blobstore|" config/final.yml
"$bosh" generate package greeter >/dev/null
"$bosh" generate package base >/dev/null
"$bosh" generate job web >/dev/null
mkdir -p src/greeter src/base
echo 'echo hello' >src/greeter/greet.sh
echo 'base library' >src/base/base.txt
head -c 300000 /dev/urandom >"$work/data.bin"
"$bosh" add blob "$work/data.bin" vendor >/dev/null
printf -- '---\nname: greeter\ndependencies: [base]\nfiles:\n- greeter/*.sh\n- vendor/data.bin\n' >packages/greeter/spec
printf -- '---\nname: base\nfiles: [base/*]\n' >packages/base/spec
cat >jobs/web/spec <<'SPEC'
---
name: web
templates:
  ctl.erb: bin/ctl
packages: [greeter]
properties:
  web.port:
    description: Port to listen on
    default: 8080
SPEC
echo 'exec greeter --port <%= p("web.port") %>' >jobs/web/templates/ctl.erb
git add -A && git commit -qm "first"

echo "== dev release"
out=$("$bosh" create release)
grep -q '^Version: 0+dev.1$' <<<"$out" || fail "first dev version: $out"
greeter1=$(fingerprint_of "$out" greeter) base1=$(fingerprint_of "$out" base) web1=$(fingerprint_of "$out" web)
[ -n "$greeter1" ] && [ -n "$base1" ] && [ -n "$web1" ] || fail "no fingerprints in: $out"

echo "== a dirty tree needs --force"
echo 'echo hello, world' >src/greeter/greet.sh
if "$bosh" create release >/dev/null 2>"$work/err"; then fail "dirty tree accepted"; fi
grep -q 'uncommitted changes' "$work/err" || fail "dirty message: $(cat "$work/err")"
git commit -qam "change greeter"

echo "== only the changed package gets a new version"
out=$("$bosh" create release)
grep -q '^Version: 0+dev.2$' <<<"$out" || fail "second dev version: $out"
[ "$(fingerprint_of "$out" greeter)" != "$greeter1" ] || fail "greeter did not change"
[ "$(fingerprint_of "$out" base)" = "$base1" ] || fail "base changed"
[ "$(fingerprint_of "$out" web)" = "$web1" ] || fail "web changed"
grep -E '^base .*reused \(dev\)' <<<"$out" >/dev/null || fail "base not reused: $out"

echo "== upload blobs, final release, inspect, verify"
"$bosh" upload blobs >/dev/null
grep -q object_id config/blobs.yml || fail "blob not uploaded"
git commit -qam "blobs uploaded"
out=$("$bosh" create release --final --with-tarball)
grep -q '^Version: 1$' <<<"$out" || fail "final version: $out"
tarball=releases/demo/demo-1.tgz
[ -f "$tarball" ] || fail "no final tarball"
inspect=$("$bosh" inspect release "$tarball")
grep -qE "^greeter +$(fingerprint_of "$out" greeter) " <<<"$inspect" || fail "inspect: $inspect"
"$bosh" verify release "$tarball" | grep -q 'is a valid release tarball: demo/1, 1 jobs, 2 packages' || fail "verify"
grep -q blobstore_id ".final_builds/packages/greeter/index.yml" || fail "final build not recorded"

echo "== a tampered tarball fails verification"
mkdir "$work/t" && tar xzf "$tarball" -C "$work/t" && echo junk >>"$work/t/packages/base.tgz"
tar czf "$work/bad.tgz" -C "$work/t" .
if "$bosh" verify release "$work/bad.tgz" 2>"$work/err"; then fail "tampered tarball verified"; fi
grep -q 'packages/base.tgz has sha256' "$work/err" || fail "verify message: $(cat "$work/err")"

echo "== sync blobs brings back what is missing"
rm -rf blobs
"$bosh" sync blobs | grep -q 'Downloaded 1 blob' || fail "sync blobs"
cmp blobs/vendor/data.bin "$work/data.bin" || fail "synced blob differs"

echo "== the next dev release builds on the final one"
git add -A && git commit -qm "final release 1"
"$bosh" create release | grep -q '^Version: 1+dev.1$' || fail "dev after final"
echo PASS
