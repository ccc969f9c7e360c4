#!/usr/bin/env bash
# The installed Tandem as an integrator meets it. Installs the build tree into a fresh
# temporary prefix, then checks the installed files, the library's SONAME and export list,
# that the public headers stand alone and include no dependency's header, the CMake
# package's components and version rule, and builds and runs both API examples against the
# prefix: with CMake (find_package) and the C one also with pkg-config.
#
#   test_install.sh BUILD_DIR SOURCE_DIR VERSION LIBDIR "COMPONENTS" GENERATOR CXX CC
#
# COMPONENTS is the comma-separated list of optional parts the build contains (opencl,xrt,mpi). Run by
# ctest (tests/install/CMakeLists.txt); exits non-zero on the first failed check.
set -euo pipefail

build=$1 source=$2 version=$3 libdir=$4 components=$5 generator=$6 cxx=$7 cc=$8
major=${version%%.*}

work=$(mktemp -d "${TMPDIR:-/tmp}/tandem-install.XXXXXX")
trap 'rm -rf "$work"' EXIT
prefix=$work/prefix

fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }
step() { printf -- '-- %s\n' "$*"; }
has_component() { [[ ",$components," == *",$1,"* ]]; }

# Neither the user's nor the system's package registry may offer the build tree: the
# examples must find Tandem in the prefix or not at all.
no_registry=(-DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF -DCMAKE_FIND_USE_SYSTEM_PACKAGE_REGISTRY=OFF)

step "installing $build into $prefix"
cmake --install "$build" --prefix "$prefix" >"$work/install.log" || { cat "$work/install.log"; fail "cmake --install"; }

step "installed files"
lib=$prefix/$libdir
for f in include/tandem/tandem.hpp include/tandem/tandem.h include/tandem/export.hpp \
         "$libdir/libtandem.so.$version" "$libdir/libtandem.so.$major" "$libdir/libtandem.so" \
         "$libdir/cmake/Tandem/TandemConfig.cmake" "$libdir/cmake/Tandem/TandemConfigVersion.cmake" \
         "$libdir/cmake/Tandem/TandemTargets.cmake" "$libdir/pkgconfig/tandem.pc" bin/tandem; do
  [ -e "$prefix/$f" ] || fail "not installed: $f"
done
[ "$(readlink "$lib/libtandem.so")" = "libtandem.so.$major" ] || fail "libtandem.so does not link to libtandem.so.$major"
[ "$(readlink "$lib/libtandem.so.$major")" = "libtandem.so.$version" ] || fail "libtandem.so.$major does not link to libtandem.so.$version"
# Only the public headers: nothing from host/ (internal) may be installed.
extra=$(find "$prefix/include" -type f ! -path "$prefix/include/tandem/*")
[ -z "$extra" ] || fail "files outside include/tandem installed: $extra"
# The installed tree must not point back into the build or source tree.
if grep -rlF -e "$build" -e "$source/include" "$lib/cmake" "$lib/pkgconfig"; then
  fail "the package files above name the build or source tree"
fi
readelf -d "$lib/libtandem.so.$version" | grep -E 'R(UN)?PATH' | grep -qF "$build" && fail "libtandem.so keeps a build-tree RUNPATH"

step "SONAME and exported symbols"
soname=$(readelf -d "$lib/libtandem.so.$version" | sed -n 's/.*Library soname: \[\(.*\)\].*/\1/p')
[ "$soname" = "libtandem.so.$major" ] || fail "SONAME is '$soname', expected libtandem.so.$major"
nm -D --defined-only "$lib/libtandem.so.$version" | awk '{print $NF}' | sed 's/@.*//' | sort -u >"$work/symbols.txt"
c++filt <"$work/symbols.txt" >"$work/demangled.txt"
# Allowed: the C API (tandem_*), the C++ API (tandem::...), its type info, vtables and
# thunks, and the version node. Anything else (Eigen::, tbb::, std:: instantiations, cl*)
# is a leak of the implementation into the ABI.
leaks=$(grep -vE "^(tandem_|tandem::|TANDEM_$major\$|(typeinfo|typeinfo name|vtable|VTT|construction vtable) for tandem::|(non-)?virtual thunk to tandem::)" "$work/demangled.txt" || true)
[ -z "$leaks" ] || fail "symbols outside the Tandem API are exported:"$'\n'"$(head -20 <<<"$leaks")"
grep -qx 'tandem_version' "$work/demangled.txt" || fail "tandem_version is not exported"
grep -q '^tandem::v1::Model::load' "$work/demangled.txt" || fail "tandem::v1::Model::load is not exported"
grep -q '^typeinfo for tandem::v1::Error$' "$work/demangled.txt" || fail "typeinfo for tandem::Error is not exported (catching it would fail)"

step "public headers"
# No public header may include a dependency's header: users compile against the standard
# library and include/tandem only.
if grep -nE '^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](Eigen/|unsupported/Eigen|CL/|xrt|experimental/xrt|tbb/|oneapi/|mpi|nlohmann/|CLI/|valijson/|unicode/)' \
    "$prefix"/include/tandem/*; then
  fail "a public header above includes a dependency's header"
fi
# Each header compiles on its own from the installed include dir; tandem.h also as C99.
for h in "$prefix"/include/tandem/*.hpp; do
  printf '#include <tandem/%s>\n' "$(basename "$h")" |
    "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I "$prefix/include" -x c++ - ||
    fail "include/tandem/$(basename "$h") does not compile on its own"
done
printf '#include <tandem/tandem.h>\n' | "$cc" -std=c99 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I "$prefix/include" -x c - ||
  fail "include/tandem/tandem.h does not compile as C99"
printf '#include <tandem/tandem.h>\n' | "$cxx" -std=c++20 -fsyntax-only -Wall -Wextra -Wpedantic -Werror -I "$prefix/include" -x c++ - ||
  fail "include/tandem/tandem.h does not compile as C++"

step "find_package components and version"
mkdir -p "$work/probe"
cat >"$work/probe/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.25)
project(probe LANGUAGES NONE)
find_package(Tandem ${PROBE_VERSION} CONFIG ${PROBE_ARGS})
if(TARGET Tandem::tandem)
  set(target_state defined)
else()
  set(target_state undefined)
endif()
message(STATUS "probe: Tandem_FOUND=${Tandem_FOUND} opencl=${Tandem_opencl_FOUND} target=${target_state}")
EOF
# probe PREFIX VERSION ARGS: configures the probe project; its output is in $work/probe.log.
probe() {
  rm -rf "$work/probe/build"
  cmake -S "$work/probe" -B "$work/probe/build" "${no_registry[@]}" -DCMAKE_PREFIX_PATH="$1" \
    -DPROBE_VERSION="$2" "-DPROBE_ARGS=$3" >"$work/probe.log" 2>&1
}
expect_probe() {  # expect_probe PREFIX VERSION ARGS "expected text"...
  local p=$1 v=$2 a=$3 text
  shift 3
  probe "$p" "$v" "$a" || true
  for text in "$@"; do
    grep -qF -- "$text" "$work/probe.log" || { cat "$work/probe.log"; fail "find_package(Tandem $v $a): no '$text'"; }
  done
}
expect_probe "$prefix" "" "" "probe: Tandem_FOUND=1" "target=defined"
expect_probe "$prefix" "$major.0" "" "probe: Tandem_FOUND=1"
expect_probe "$prefix" "$((major + 1)).0" "" "probe: Tandem_FOUND=0" "target=undefined"
expect_probe "$prefix" "" "COMPONENTS;cuda" "probe: Tandem_FOUND=0" "unknown component 'cuda'" "target=undefined"
if probe "$prefix" "" "REQUIRED;COMPONENTS;cuda"; then
  cat "$work/probe.log"
  fail "find_package(Tandem REQUIRED COMPONENTS cuda) did not stop the configure"
fi
grep -qF "unknown component 'cuda'" "$work/probe.log" || { cat "$work/probe.log"; fail "REQUIRED COMPONENTS cuda: no reason given"; }
for c in opencl xrt mpi; do
  if has_component "$c"; then
    expect_probe "$prefix" "" "COMPONENTS;$c" "probe: Tandem_FOUND=1" "target=defined"
  else
    expect_probe "$prefix" "" "COMPONENTS;$c" "probe: Tandem_FOUND=0" "component '$c' was not built"
  fi
done
# The not-built path whatever this build contains: a copy of the package that says it was
# built without optional parts.
fake=$work/fake/$libdir/cmake/Tandem
mkdir -p "$fake"
cp "$lib"/cmake/Tandem/*.cmake "$fake/"
ln -s "$lib"/libtandem.so* "$work/fake/$libdir/"
sed -i 's/^set(_tandem_built_components .*)$/set(_tandem_built_components "")/' "$fake/TandemConfig.cmake"
grep -q '^set(_tandem_built_components "")$' "$fake/TandemConfig.cmake" || fail "TandemConfig.cmake has no _tandem_built_components line to edit"
expect_probe "$work/fake" "" "COMPONENTS;opencl" "probe: Tandem_FOUND=0" "component 'opencl' was not built" "built components: none" "target=undefined"
expect_probe "$work/fake" "" "OPTIONAL_COMPONENTS;opencl" "probe: Tandem_FOUND=1 opencl=FALSE" "target=defined"

step "a small fine-tuning corpus from the installed CLI"
"$prefix/bin/tandem" corpus --kind b --paragraphs 40 --seed 1 --out "$work/data.txt" >/dev/null
model=$source/examples/tiny-gpt2
devices=cpu
has_component opencl && devices=cpu,opencl

# check_adapter DIR: the example saved a PEFT adapter there.
check_adapter() {
  [ -s "$1/adapter_model.safetensors" ] || fail "no adapter_model.safetensors in $1"
  [ -s "$1/adapter_config.json" ] || fail "no adapter_config.json in $1"
}

for lang in cpp c; do
  step "examples/api/$lang with CMake against the prefix"
  b=$work/build-$lang
  cmake -S "$source/examples/api/$lang" -B "$b" -G "$generator" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$prefix" "${no_registry[@]}" \
    >"$work/configure-$lang.log" 2>&1 || { cat "$work/configure-$lang.log"; fail "configuring examples/api/$lang"; }
  found=$(sed -n 's/^Tandem_DIR:PATH=//p' "$b/CMakeCache.txt")
  [ "$found" = "$lib/cmake/Tandem" ] || fail "examples/api/$lang found Tandem in '$found', not in the prefix"
  cmake --build "$b" >"$work/build-$lang.log" 2>&1 || { cat "$work/build-$lang.log"; fail "building examples/api/$lang"; }
  "$b/app" "$model" "$work/data.txt" "$work/out-$lang" "$devices" >"$work/run-$lang.log" 2>&1 ||
    { cat "$work/run-$lang.log"; fail "examples/api/$lang exited non-zero"; }
  cat "$work/run-$lang.log"
  check_adapter "$work/out-$lang"
done

step "examples/api/c/main.c with pkg-config"
pc=$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --cflags --libs tandem)
[ "$(PKG_CONFIG_PATH="$lib/pkgconfig" pkg-config --modversion tandem)" = "$version" ] || fail "tandem.pc has the wrong version"
# The prefix is not on the loader's path: the program records it (rpath), as an integrator
# installing to a private prefix would.
# shellcheck disable=SC2086
"$cc" -std=c99 -Wall -Wextra -Werror "$source/examples/api/c/main.c" -o "$work/app-pc" $pc -Wl,-rpath,"$lib" ||
  fail "cc main.c \$(pkg-config --cflags --libs tandem) failed (flags: $pc)"
"$work/app-pc" "$model" "$work/data.txt" "$work/out-pc" cpu >"$work/run-pc.log" 2>&1 ||
  { cat "$work/run-pc.log"; fail "the pkg-config build of main.c exited non-zero"; }
check_adapter "$work/out-pc"
step "all checks passed"
