#!/usr/bin/env bash
# Benchmark: `bosh create release --with-tarball` on a generated release of
# ~200 MB in 50 packages, against the physical floor measured in the same
# run on the same tree: `tar czf` + `sha1sum` of the result.
# Usage: bench/create_release.sh [build dir] [packages] [MiB per package]
set -euo pipefail
build=$(cd "${1:-build}" && pwd)
packages=${2:-50}
mib=${3:-4}
bosh=$build/bin/bosh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
mkdir -p "$HOME"

now() { date +%s.%N; }
elapsed() { echo "$2 - $1" | bc; }

echo "generating $packages packages x ${mib} MiB in $work ..."
"$bosh" init release "$work/rel" >/dev/null
cd "$work/rel"
for i in $(seq -w 1 "$packages"); do
  mkdir -p "src/p$i" "packages/p$i"
  # 3/4 incompressible (like the vendored tarballs most packages carry),
  # 1/4 text-like (sources, scripts).
  head -c $((mib * 1024 * 768)) /dev/urandom >"src/p$i/vendor.tgz"
  head -c $((mib * 1024 * 192)) /dev/urandom | base64 -w 100 >"src/p$i/source.txt"
  printf -- '---\nname: p%s\nfiles: [p%s/*]\n' "$i" "$i" >"packages/p$i/spec"
  echo 'cp -a p*/* ${BOSH_INSTALL_TARGET}' >"packages/p$i/packaging"
done
mkdir -p jobs/app/templates
printf -- '---\nname: app\ntemplates: {ctl.erb: bin/ctl}\npackages: [p01]\n' >jobs/app/spec
echo 'exec app' >jobs/app/templates/ctl.erb
sync
size=$(du -sm src | cut -f1)

echo "floor: tar czf + sha1sum of the same tree"
t0=$(now)
tar czf "$work/floor.tgz" -C "$work/rel" jobs packages src
sha1sum "$work/floor.tgz" >/dev/null
t1=$(now)
floor=$(elapsed "$t0" "$t1")

echo "bosh create release --with-tarball (nothing built yet)"
t0=$(now)
"$bosh" create release --force --with-tarball >/dev/null 2>&1
t1=$(now)
create=$(elapsed "$t0" "$t1")

echo "bosh create release --with-tarball (everything reused)"
t0=$(now)
"$bosh" create release --force --with-tarball >/dev/null 2>&1
t1=$(now)
reuse=$(elapsed "$t0" "$t1")

printf '\n| release | floor (tar czf + sha1sum) | create, fresh | ratio | create, all reused | ratio | cores |\n'
printf '|---|---|---|---|---|---|---|\n'
printf '| %s packages, %s MiB | %.2f s | %.2f s | %.2fx | %.2f s | %.2fx | %s |\n' "$packages" "$size" "$floor" \
  "$create" "$(echo "$create / $floor" | bc -l)" "$reuse" "$(echo "$reuse / $floor" | bc -l)" "$(nproc)"
