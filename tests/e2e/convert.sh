#!/usr/bin/env bash
# e2e: `latte convert` turns the shared HF checkpoints into GGUFs byte-identical to the shared bf16 files (tiny-dsv4:
# to the files its README records), the result inspects cleanly, and bad inputs give a one-line error with a non-zero
# exit. Args: $1 = latte binary, $2 = shared dir.
set -u
LATTE=${1:?latte binary}
SHARED=${2:?shared dir}
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

for m in tiny-dsv3 tiny-dsv2; do
  if ! "$LATTE" convert "$SHARED/models/$m/hf" "$tmp/$m.gguf" --outtype bf16 > "$tmp/out.txt" 2> "$tmp/err.txt"; then
    err "convert $m: $(cat "$tmp/err.txt")"; continue
  fi
  cmp -s "$tmp/$m.gguf" "$SHARED/models/$m/$m-bf16.gguf" || err "convert $m: output differs from $m-bf16.gguf"
  "$LATTE" inspect "$tmp/$m.gguf" > /dev/null || err "inspect of converted $m failed"
done
"$LATTE" convert "$SHARED/models/tiny-dsv2/hf" "$tmp/q8.gguf" --outtype q8_0 -q > /dev/null || err "convert q8_0"
"$LATTE" inspect --json "$tmp/q8.gguf" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert "Q8_0" in r["tensor_types"], r["tensor_types"]' \
  || err "q8_0 output has no Q8_0 tensors"

# deepseek4: tiny-dsv4's transformers checkpoint gives the f32 and bf16 files whose sha256 its README records (the
# trial files ik_llama.cpp loaded), byte for byte.
declare -A want=([f32]=5cebeb85a3688a0d29d4408a4d772578250845f68c97f589f8ed595847f88e83
                 [bf16]=61dcc9eceb2fed37af1a91dc888275490e1c0f37fbfe41a040811f0867caf0cb)
for t in f32 bf16; do
  if "$LATTE" convert "$SHARED/models/tiny-dsv4/hf" "$tmp/v4-$t.gguf" --outtype "$t" -q > /dev/null 2> "$tmp/err.txt"; then
    got=$(sha256sum "$tmp/v4-$t.gguf" | cut -d' ' -f1)
    [ "$got" = "${want[$t]}" ] || err "convert tiny-dsv4 $t: sha256 $got, README says ${want[$t]}"
    "$LATTE" inspect "$tmp/v4-$t.gguf" > /dev/null || err "inspect of converted tiny-dsv4 $t failed"
  else
    err "convert tiny-dsv4 $t: $(cat "$tmp/err.txt")"
  fi
done

check_error() {  # $1 = description, rest = command
  local what=$1; shift
  "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
  local rc=$?
  if [ $rc -eq 0 ]; then err "$what: exit 0"; return; fi
  if [ $rc -gt 128 ]; then err "$what: crashed (rc $rc)"; return; fi
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || err "$what: expected one line on stderr, got: $(cat "$tmp/err.txt")"
}
check_error "missing dir" "$LATTE" convert "$tmp/nope" "$tmp/x.gguf"
mkdir -p "$tmp/empty"
check_error "empty dir" "$LATTE" convert "$tmp/empty" "$tmp/x.gguf"
[ ! -e "$tmp/x.gguf" ] || err "a failed convert left $tmp/x.gguf behind"

if [ $fail -ne 0 ]; then echo "convert e2e: FAILED" >&2; exit 1; fi
echo "convert e2e: OK"
