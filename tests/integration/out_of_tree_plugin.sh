#!/usr/bin/env bash
# A third party builds a plugin against the installed plugin_api headers with
# find_package(BoshPluginApi), out of this tree, and drops it into
# ~/.bosh/plugins. Then: the same plugin rebuilt for API major 2 is refused
# naming both versions, and a text file named x.so is refused while the CLI
# keeps working.
# Usage: out_of_tree_plugin.sh <build dir> <source dir>
set -euo pipefail
build=$1 src=$2
bosh=$build/bin/bosh
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export HOME=$work/home
unset BOSH_PLUGIN_PATH
mkdir -p "$HOME/.bosh/plugins"

fail() { echo "FAIL: $*" >&2; exit 1; }
expect() {  # expect <text> <output>
  grep -qF -- "$1" <<<"$2" || { printf 'FAIL: expected %q in:\n%s\n' "$1" "$2" >&2; exit 1; }
}

echo "== install the plugin API package"
cmake --install "$build" --prefix "$work/prefix" --component plugin_api >/dev/null
test -f "$work/prefix/lib/cmake/BoshPluginApi/BoshPluginApiConfig.cmake" || fail "no package config installed"
test -f "$work/prefix/include/bosh/plugin/cpi.hpp" || fail "no headers installed"

build_plugin() {  # build_plugin <prefix> <build dir>
  cp -r "$src/plugin_api/examples/cli_hello" "$work/example-$2"
  cmake -S "$work/example-$2" -B "$work/$2" -G Ninja -DCMAKE_PREFIX_PATH="$1" >"$work/$2.log" 2>&1 ||
    { cat "$work/$2.log"; fail "configure failed"; }
  cmake --build "$work/$2" >>"$work/$2.log" 2>&1 || { cat "$work/$2.log"; fail "build failed"; }
}

echo "== build it out of tree"
build_plugin "$work/prefix" good
so=$work/good/cli_greet.so
test -f "$so" || fail "no cli_greet.so"

echo "== it exports exactly its aliases"
exports=$(nm -D --defined-only "$so" | awk '{print $3}')
[ "$(sort <<<"$exports" | tr '\n' ' ')" = "bosh_create_cli bosh_plugin_info " ] ||
  fail "unexpected exports: $exports"

echo "== dropped into ~/.bosh/plugins it loads and runs"
cp "$so" "$HOME/.bosh/plugins/"
out=$("$bosh" plugins)
grep -qE "^cli +greet +1\.0\.0 +1\.0 +$HOME/\.bosh/plugins/cli_greet\.so$" <<<"$out" ||
  fail "greet not listed as loaded: $out"
out=$("$bosh" greet hello --name ops)
[ "$out" = "hello, ops (from bosh 0.1.0)" ] || fail "greet printed: $out"
expect "greet hello [OPTIONS]" "$("$bosh" help)"

echo "== rebuilt against plugin API 2.0 it is refused, naming both versions"
cp -r "$work/prefix" "$work/prefix2"
sed -i 's/^#define BOSH_PLUGIN_API_MAJOR 1$/#define BOSH_PLUGIN_API_MAJOR 2/' "$work/prefix2/include/bosh/plugin/plugin.hpp"
grep -q '^#define BOSH_PLUGIN_API_MAJOR 2$' "$work/prefix2/include/bosh/plugin/plugin.hpp" || fail "sed did not apply"
build_plugin "$work/prefix2" future
cp "$work/future/cli_greet.so" "$HOME/.bosh/plugins/cli_greet.so"
out=$("$bosh" plugins)
expect "$HOME/.bosh/plugins/cli_greet.so  built for plugin API 2.0, this host supports plugin API 1.0 (major versions must match: rebuild it against API 1.x)" "$out"
if "$bosh" greet hello >/dev/null 2>&1; then fail "a refused plugin's command ran"; fi

echo "== a text file named x.so is refused; the CLI still works"
rm "$HOME/.bosh/plugins/cli_greet.so"
echo "definitely not ELF" >"$HOME/.bosh/plugins/x.so"
out=$("$bosh" plugins)
expect "$HOME/.bosh/plugins/x.so  not a shared object (no ELF header)" "$out"
"$bosh" help >/dev/null || fail "bosh help failed next to a broken plugin"
echo "PASS"
