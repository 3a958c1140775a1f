#!/usr/bin/env bash
# The director as a new user meets it: start bosh-director, target it with its
# CA, log in, upload a release made with `bosh create release`, see it listed,
# read the task's logs.
# Usage: director_workflow.sh <build dir>
set -euo pipefail
build=$(cd "$1" && pwd)
bosh=$build/bin/bosh
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
export HOME=$work/home
mkdir -p "$HOME"

port=$(( 20000 + RANDOM % 20000 ))
hash=$("$build/bin/bosh-director" hash-password s3cret)
cat >"$work/director.yml" <<YML
name: workflow-bosh
address: 127.0.0.1
port: $port
state_dir: $work/state
users:
- name: admin
  password_hash: "$hash"
cpi: {plugin: local, properties: {root: $work/cpi}}
YML
chmod 600 "$work/director.yml"
"$build/bin/bosh-director" --config "$work/director.yml" >"$work/director.log" 2>&1 &
pid=$!
for _ in $(seq 200); do grep -q listening "$work/director.log" && break; sleep 0.05; done
grep -q listening "$work/director.log" || fail "director did not start: $(cat "$work/director.log")"

echo "== trust on first use: the certificate is shown, kept only when the user says yes"
out=$(HOME=$work/tofu "$bosh" -n target "https://127.0.0.1:$port" 2>&1) && fail "-n trusted an unknown certificate"
grep -q "sha256 Fingerprint=" <<<"$out" || fail "no fingerprint shown: $out"
grep -q "not trusting an unknown certificate with -n" <<<"$out" || fail "-n refusal: $out"
mkdir -p "$work/tofu"
echo yes | HOME=$work/tofu "$bosh" target "https://127.0.0.1:$port" tofu >/dev/null 2>&1 || fail "trusting on first use"
HOME=$work/tofu "$bosh" -n login admin s3cret | grep -q "Logged in" || fail "login after trust on first use"

echo "== target with the director's CA, log in"
"$bosh" target "https://127.0.0.1:$port" wf --ca-cert "$work/state/tls/director.pem" >/dev/null
if "$bosh" -n login admin wrong 2>"$work/err"; then fail "a wrong password logged in"; fi
grep -q "wrong user or password" "$work/err" || fail "login error: $(cat "$work/err")"
"$bosh" -n login admin s3cret | grep -q "Logged in to 'workflow-bosh' as 'admin'" || fail "login"
"$bosh" status | grep -qE "^workflow-bosh +https://127.0.0.1:$port .* admin " || fail "status: $("$bosh" status)"

echo "== create and upload a release"
cd "$work"
"$bosh" init release demo >/dev/null && cd demo
"$bosh" generate package lib >/dev/null
mkdir -p src/lib && echo data >src/lib/data.txt
printf -- '---\nname: lib\nfiles: [lib/*]\n' >packages/lib/spec
"$bosh" create release --force --with-tarball >/dev/null
out=$("$bosh" upload release dev_releases/demo/demo-0+dev.1.tgz)
grep -q "creating new packages > lib/" <<<"$out" || fail "upload output: $out"
grep -q "^Task [0-9]* done" <<<"$out" || fail "upload state: $out"
grep -q "^Created release 'demo/0+dev.1'" <<<"$out" || fail "upload result: $out"
"$bosh" releases; rel=$("$bosh" releases 2>&1) && grep -qE "^demo +0\+dev\.1 " <<<"$rel" || fail "releases: $rel"
id=$("$bosh" tasks | awk '$2 == "done" { print $1; exit }')
[ -n "$id" ] || fail "tasks: $("$bosh" tasks)"
"$bosh" task "$id" --event | grep -q '"stage":"Release has been created"' || fail "task --event"
"$bosh" locks | grep -q "No locks." || fail "locks"
echo "== cloud config: checked, stored, printed; events"
printf 'azs:\n- name: z1\nnetworks:\n- name: default\n  type: manual\n' >"$work/cloud.yml"
"$bosh" update cloud-config "$work/cloud.yml" | grep -q "Updated cloud config 'default'" || fail "update cloud-config"
"$bosh" cloud-config | grep -q '^- name: z1$' || fail "cloud-config: $("$bosh" cloud-config)"
printf 'azs: []\nvm_typez: []\n' >"$work/bad.yml"
if "$bosh" update cloud-config "$work/bad.yml" 2>"$work/err"; then fail "a bad cloud config was stored"; fi
grep -q "$work/bad.yml: cloud config:2:1: unknown key 'vm_typez'" "$work/err" || fail "cloud-config error: $(cat "$work/err")"
ev=$("$bosh" events)
grep -qE "admin +update +cloud-config +default" <<<"$ev" || fail "events: $ev"
grep -qE "admin +create +release +demo/0\+dev\.1" <<<"$ev" || fail "events: $ev"
echo "== a stemcell: upload, list, delete; then the release goes"
"$build/bin/bosh-local-stemcell" --out "$work/stemcell.tgz" --version 3.1 >/dev/null
out=$("$bosh" upload stemcell "$work/stemcell.tgz")
grep -q "update stemcell > Uploading stemcell bosh-local-go_agent/3.1 to the cloud" <<<"$out" || fail "upload stemcell: $out"
st=$("$bosh" stemcells)
grep -qE "^bosh-local-go_agent +3\.1 +local +local +stemcell-" <<<"$st" || fail "stemcells: $st"
[ "$(ls "$work/cpi/stemcells" | wc -l)" = 1 ] || fail "the CPI has no stemcell"
"$bosh" upload stemcell "$work/stemcell.tgz" | grep -q "Stemcell 'bosh-local-go_agent/3.1' already exists" || fail "second upload"
echo "not a stemcell" >"$work/junk.tgz"
if "$bosh" upload stemcell "$work/junk.tgz" >"$work/out" 2>&1; then fail "a junk stemcell was accepted"; fi
grep -q "stemcell tarball is not valid" "$work/out" || fail "junk stemcell error: $(cat "$work/out")"
if "$bosh" -n delete stemcell nope >"$work/out" 2>&1; then fail "delete stemcell without a version"; fi
grep -q "expected the stemcell as NAME/VERSION" "$work/out" || fail "usage: $(cat "$work/out")"
"$bosh" -n delete stemcell bosh-local-go_agent/3.1 | grep -q "Deleted stemcell 'bosh-local-go_agent/3.1'" || fail "delete stemcell"
"$bosh" stemcells | grep -q "No stemcells." || fail "stemcell still listed"
[ -z "$(ls "$work/cpi/stemcells")" ] || fail "the CPI's copy of the stemcell was not deleted"
"$bosh" inspect release demo/0+dev.1 | grep -q "lib/" || fail "inspect release NAME/VERSION: $("$bosh" inspect release demo/0+dev.1)"
"$bosh" -n delete release demo | grep -q "Deleted release 'demo'" || fail "delete release"
"$bosh" releases | grep -q "No releases." || fail "release still listed"
echo PASS
