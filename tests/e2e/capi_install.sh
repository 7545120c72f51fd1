#!/bin/bash
# e2e: the installed C API. `cmake --install` the build into a temp prefix, then as a user would:
# compile examples/simple.c with `pkg-config --cflags --libs latte` and run it on the tiny Q4_K_M model; build the
# same file in a tiny CMake project through find_package(latte); check that liblatte.so exports only latte_*
# symbols, carries the SONAME liblatte.so.0, and that latte.h compiles as C99 and as C++.
# Usage: capi_install.sh LATTE_BINARY SHARED_DIR   (the build dir is the binary's directory)
set -u
LATTE="$1"
SHARED="$2"
BUILD=$(cd "$(dirname "$LATTE")" && pwd)
SRC=$(cd "$(dirname "$0")/../.." && pwd)
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
pass() { echo "ok: $*"; }
die() { echo "FAIL: $*"; exit 1; }

prefix="$tmp/prefix"
cmake --install "$BUILD" --prefix "$prefix" >"$tmp/install.log" 2>&1 || die "cmake --install failed: $(tail -5 "$tmp/install.log")"
[ -f "$prefix/include/latte.h" ] && pass "latte.h installed" || fail "latte.h not installed"
pc=$(find "$prefix" -name latte.pc | head -1)
[ -n "$pc" ] || die "latte.pc not installed"
lib=$(find "$prefix" -name 'liblatte.so.0' | head -1)
[ -n "$lib" ] || die "liblatte.so.0 not installed"
libdir=$(dirname "$lib")

# ---- pkg-config
export PKG_CONFIG_PATH="$(dirname "$pc")"
flags=$(pkg-config --cflags --libs latte) || die "pkg-config cannot read latte.pc"
if cc -std=c99 -Wall -Wextra -pedantic -Werror "$SRC/examples/simple.c" $flags -o "$tmp/simple" 2>"$tmp/cc.log"; then
  pass "simple.c built with: pkg-config --cflags --libs latte = $flags"
else
  fail "simple.c does not build with pkg-config flags '$flags': $(head -5 "$tmp/cc.log")"
fi
if [ -x "$tmp/simple" ]; then
  LD_LIBRARY_PATH="$libdir" ldd "$tmp/simple" | grep -q "$libdir/liblatte.so.0" \
    && pass "simple links the installed liblatte.so.0" || fail "simple does not use the installed library"
  if LD_LIBRARY_PATH="$libdir" "$tmp/simple" "$Q4" "The" 8 >"$tmp/out" 2>"$tmp/err"; then
    [ "$(wc -c <"$tmp/out")" -gt 4 ] && pass "simple generated: $(head -c 80 "$tmp/out" | tr '\n' ' ')" \
      || fail "simple printed nothing"
  else
    fail "simple failed: $(cat "$tmp/err")"
  fi
  LD_LIBRARY_PATH="$libdir" "$tmp/simple" "$tmp/missing.gguf" >/dev/null 2>"$tmp/err"
  [ $? -ne 0 ] && grep -q "missing.gguf" "$tmp/err" && pass "missing model: $(head -1 "$tmp/err")" \
    || fail "missing model not reported: $(cat "$tmp/err")"
fi

# ---- find_package(latte)
mkdir -p "$tmp/consumer"
cp "$SRC/examples/simple.c" "$tmp/consumer/"
cat >"$tmp/consumer/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(latte_consumer C)
find_package(latte REQUIRED)
if(TARGET latte::latte)
  set(LATTE_TARGET latte::latte)
else()
  set(LATTE_TARGET latte::latte_shared)
endif()
add_executable(consumer simple.c)
target_link_libraries(consumer PRIVATE ${LATTE_TARGET})
set_target_properties(consumer PROPERTIES C_STANDARD 99 C_STANDARD_REQUIRED ON)
EOF
if cmake -S "$tmp/consumer" -B "$tmp/consumer/build" -DCMAKE_PREFIX_PATH="$prefix" >"$tmp/cm.log" 2>&1 &&
   cmake --build "$tmp/consumer/build" >>"$tmp/cm.log" 2>&1; then
  LD_LIBRARY_PATH="$libdir" "$tmp/consumer/build/consumer" "$Q4" "The" 4 >"$tmp/out2" 2>/dev/null \
    && pass "find_package(latte) project builds and runs: $(head -c 60 "$tmp/out2" | tr '\n' ' ')" \
    || fail "find_package(latte) consumer does not run"
else
  fail "find_package(latte) project failed: $(grep -i -m5 error "$tmp/cm.log")"
fi

# ---- exported symbols and SONAME
others=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -v '^latte_' | head -5)
n_api=$(nm -D --defined-only "$lib" | awk '{print $NF}' | grep -c '^latte_')
if [ -z "$others" ] && [ "$n_api" -gt 20 ]; then pass "liblatte.so exports only latte_* ($n_api symbols)"
else fail "liblatte.so exports non-API symbols, e.g.: $(echo "$others" | head -3 | tr '\n' ' ')"; fi
objdump -p "$lib" | grep -q 'SONAME *liblatte.so.0' && pass "SONAME liblatte.so.0" || fail "no SONAME liblatte.so.0"

# ---- the header alone, as C99 and as C++
printf '#include <latte.h>\nint main(void){ return latte_version()[0] == 0; }\n' >"$tmp/h.c"
cc -std=c99 -Wall -Wextra -pedantic -Werror -I"$prefix/include" -c "$tmp/h.c" -o "$tmp/h.o" \
  && pass "latte.h compiles as C99" || fail "latte.h does not compile as C99"
c++ -std=c++17 -Wall -Wextra -Werror -I"$prefix/include" -x c++ -c "$tmp/h.c" -o "$tmp/hpp.o" \
  && pass "latte.h compiles as C++" || fail "latte.h does not compile as C++"

echo "capi_install: $failures failure(s)"
[ $failures -eq 0 ]
