#!/usr/bin/env bash
# e2e: `latte inspect` (text and --json) on every shared GGUF; missing and truncated files give one-line errors.
# Args: $1 = latte binary, $2 = shared dir.
set -u
LATTE=${1:?latte binary}
SHARED=${2:?shared dir}
fail=0
err() { echo "FAIL: $*" >&2; fail=1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

files=$(find "$SHARED/models" -name '*.gguf' | sort)
[ -n "$files" ] || { echo "FAIL: no GGUF files under $SHARED/models" >&2; exit 1; }
n=0
for f in $files; do
  n=$((n + 1))
  if ! "$LATTE" inspect "$f" > "$tmp/out.txt" 2> "$tmp/err.txt"; then err "inspect $f: $(cat "$tmp/err.txt")"; continue; fi
  grep -q '^architecture: *deepseek2' "$tmp/out.txt" || err "inspect $f: no architecture line"
  grep -q 'chat template: ' "$tmp/out.txt" || err "inspect $f: no chat template line"
  if ! "$LATTE" inspect --json --tensors "$f" > "$tmp/out.json" 2> "$tmp/err.txt"; then err "inspect --json $f"; continue; fi
  python3 -m json.tool "$tmp/out.json" > /dev/null || { err "inspect --json $f: not valid JSON"; continue; }
  # Cross-check the JSON against the file: tensor count, per-type byte sums, KV-cache arithmetic.
  python3 - "$f" "$tmp/out.json" <<'PY' || err "inspect --json $f: content check"
import json, os, sys
path, out = sys.argv[1], sys.argv[2]
r = json.load(open(out))
assert r["file_bytes"] == os.path.getsize(path), "file_bytes"
assert r["architecture"] == "deepseek2"
assert r["tensor_count"] == len(r["tensors"])
assert sum(t["count"] for t in r["tensor_types"].values()) == r["tensor_count"]
assert sum(t["bytes"] for t in r["tensor_types"].values()) == r["weight_bytes"] == sum(t["bytes"] for t in r["tensors"])
tok = r["tokenizer"]
assert tok["vocab_size"] in (4096, 129280) and tok["merges"] > 0 and tok["chat_template"] is True
hp = r["hparams"]
kv = r["kv_cache"]
vals = hp["block_count"] * (hp["attention.kv_lora_rank"] + hp["rope.dimension_count"])
assert kv["values_per_token"] == vals and kv["f16_bytes_per_token"] == 2 * vals
assert kv["q8_0_bytes_per_token"] == (vals * 34 + 31) // 32
if r["tensor_count"]:
    exps = sum(t["bytes"] for t in r["tensors"] if t["name"].endswith("_exps.weight"))
    p = r["weight_bytes_per_token"]
    assert p["routed_expert_bytes_total"] == exps
    assert p["routed_expert_bytes_used"] * hp["expert_count"] == exps * hp["expert_used_count"]
    assert p["bytes"] < r["weight_bytes"]
PY
done
[ "$n" -ge 11 ] || err "expected at least 11 GGUF files, found $n"

# Error paths: one line on stderr, non-zero exit, no crash.
check_error() {  # $1 = description, rest = command
  local what=$1; shift
  "$@" > "$tmp/out.txt" 2> "$tmp/err.txt"
  local rc=$?
  if [ $rc -eq 0 ]; then err "$what: exit 0"; return; fi
  if [ $rc -gt 128 ]; then err "$what: crashed (rc $rc)"; return; fi
  [ "$(wc -l < "$tmp/err.txt")" -eq 1 ] || err "$what: expected one line on stderr, got: $(cat "$tmp/err.txt")"
  grep -q '^latte: error: ' "$tmp/err.txt" || err "$what: no 'latte: error:' prefix: $(cat "$tmp/err.txt")"
}
check_error "missing file" "$LATTE" inspect "$tmp/does-not-exist.gguf"
check_error "missing file (json)" "$LATTE" inspect --json "$tmp/does-not-exist.gguf"
src="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_0.gguf"
for cut in 0 10 100 5000 100000 1000000; do
  head -c $cut "$src" > "$tmp/cut.gguf"
  check_error "truncated at $cut" "$LATTE" inspect "$tmp/cut.gguf"
done
printf 'not a gguf file at all, just text\n' > "$tmp/text.gguf"
check_error "not a GGUF" "$LATTE" inspect "$tmp/text.gguf"
check_error "directory" "$LATTE" inspect "$tmp"

if [ $fail -ne 0 ]; then echo "inspect e2e: FAILED" >&2; exit 1; fi
echo "inspect e2e: OK ($n files)"
