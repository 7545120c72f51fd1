#!/bin/bash
# e2e (issue 9): bad-input sweep. Every command that takes a model gets a missing file, a directory, an empty file,
# truncated copies of a real GGUF (several cut points), a flipped magic, architecture "deepseek9", a tensor with an
# unsupported type id (36); the prompt-taking commands get invalid UTF-8, a prompt longer than -c, -n -5, -t -1 and
# --temp nan. Each case must exit non-zero (never by a signal, exit >= 128, or a 20 s timeout) and print exactly one
# stderr line "latte: error: ..." naming the problem (flag-syntax cases may instead print CLI11's usage error:
# "--flag: ..." + "Run with --help for more information."). All failures are listed at the end.
# Usage: bad_input.sh LATTE_BINARY SHARED_DIR
set -u
LATTE="$1"
SHARED="$2"
Q8="$SHARED/models/tiny-dsv3/tiny-dsv3-q8_0.gguf"
Q4="$SHARED/models/tiny-dsv3/tiny-dsv3-q4_k_m.gguf"
VAL="$SHARED/models/validation/val.txt"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=()
n_cases=0

# ---- bad model files
mkdir -p "$tmp/adir"
: >"$tmp/empty.gguf"
python3 - "$Q8" "$tmp" <<'EOF' || { echo "FAIL: could not build the patched files"; exit 1; }
import struct, sys
src, out = sys.argv[1], sys.argv[2]
data = open(src, "rb").read()

# Minimal GGUF v3 walk (little-endian): header, key/values, tensor infos; records offsets we patch or cut at.
pos = 0
def take(fmt):
    global pos
    v = struct.unpack_from("<" + fmt, data, pos)
    pos += struct.calcsize("<" + fmt)
    return v[0]
def string():
    global pos
    n = take("Q"); s = data[pos:pos + n]; pos += n; return s
SIZES = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
def value(t):
    if t == 8: return string()
    if t == 9:
        et = take("I"); n = take("Q")
        return [value(et) for _ in range(n)]
    return take(SIZES[t])
assert data[:4] == b"GGUF"
pos = 4
version = take("I"); n_t = take("Q"); n_kv = take("Q")
arch_off = None
kv_start = pos
for _ in range(n_kv):
    key = string(); t = take("I")
    vstart = pos
    v = value(t)
    if key == b"general.architecture":
        arch_off = vstart + 8  # after the u64 length
kv_end = pos
type_offs = []
for _ in range(n_t):
    name = string(); nd = take("I")
    for _ in range(nd): take("Q")
    type_offs.append((name, pos)); take("I"); take("Q")
infos_end = pos

def write(name, b):
    open(f"{out}/{name}", "wb").write(b)

b = bytearray(data); b[0] ^= 0xFF
write("badmagic.gguf", bytes(b))
assert data[arch_off:arch_off + 9] == b"deepseek2", data[arch_off:arch_off + 9]
b = bytearray(data); b[arch_off + 8] = ord("9")
write("arch9.gguf", bytes(b))
# a weight matrix (not a norm) gets type 36
name, off = next((n, o) for n, o in type_offs if n.endswith(b"attn_output.weight"))
b = bytearray(data); struct.pack_into("<I", b, off, 36)
write("type36.gguf", bytes(b))
# truncated copies: inside the header, inside the key/values, inside the tensor infos, inside the data, last byte
cuts = {"hdr": 10, "kv": (kv_start + kv_end) // 2, "infos": (kv_end + infos_end) // 2,
        "data": (infos_end + len(data)) // 2, "last": len(data) - 1}
for k, c in cuts.items():
    write(f"trunc_{k}.gguf", data[:c])
EOF

# ---- the check
# run_case NAME PATTERN MODE -- CMD...   (MODE: strict | cli11 (usage error allowed) | may_succeed)
# PATTERN: extended regex (case-insensitive) the error line must match.
run_case() {
  local name="$1" pattern="$2" mode="$3"
  shift 4
  n_cases=$((n_cases + 1))
  local rc
  timeout 20 "$@" </dev/null >"$tmp/out" 2>"$tmp/err"
  rc=$?
  report "$name" "$pattern" "$mode" "$rc" "$*"
}
# Same with stdin from a file (chat).
run_case_stdin() {
  local name="$1" pattern="$2" mode="$3" input="$4"
  shift 5
  n_cases=$((n_cases + 1))
  local rc
  timeout 20 "$@" <"$input" >"$tmp/out" 2>"$tmp/err"
  rc=$?
  report "$name" "$pattern" "$mode" "$rc" "$*"
}
report() {
  local name="$1" pattern="$2" mode="$3" rc="$4" cmd="$5" why=""
  local lines first
  lines=$(grep -c '' "$tmp/err")
  first=$(head -n 1 "$tmp/err")
  if [ "$rc" -eq 124 ]; then why="timed out after 20 s"
  elif [ "$rc" -ge 128 ]; then why="killed by signal $((rc - 128))"
  elif [ "$rc" -eq 0 ]; then
    [ "$mode" = may_succeed ] && { echo "ok: $name (accepted)"; return; }
    why="exit 0 (expected an error)"
  elif [ "$mode" = cli11 ] && [ "$lines" -eq 2 ] && sed -n 2p "$tmp/err" | grep -q '^Run with --help' \
       && echo "$first" | grep -qiE -- "$pattern"; then
    echo "ok: $name (usage error: $first)" | cut -c1-200
    return
  elif [ "$lines" -ne 1 ]; then why="$lines lines on stderr (expected 1)"
  elif ! echo "$first" | grep -q '^latte: error: '; then why="stderr line does not start with 'latte: error:'"
  elif ! echo "$first" | grep -qiE -- "$pattern"; then why="error does not match /$pattern/"
  fi
  if [ -z "$why" ]; then
    echo "ok: $name: $first" | cut -c1-200
  else
    echo "FAIL: $name: $why"
    failures+=("$name: $why
    command: $cmd
    exit: $rc
    stderr: $(head -c 600 "$tmp/err" | sed 's/^/      /')")
  fi
}

# Commands that load a model, as functions of the model path (small, fast settings).
cmd_run() { echo "$LATTE" run -m "$1" -p hi -n 4 -t 1 -c 64; }
cmd_chat() { echo "$LATTE" chat -m "$1" -n 4 -t 1 -c 64; }
cmd_perplexity() { echo "$LATTE" perplexity -m "$1" -f "$VAL" --chunks 1 -c 64 -t 1; }
cmd_bench() { echo "$LATTE" bench -m "$1" -p 8 -n 4 -r 1 --no-bandwidth -t 1; }
cmd_logits() { echo "$LATTE" logits -m "$1" --text hi --out "$tmp/logits.f32" -t 1; }
cmd_tokenize() { echo "$LATTE" tokenize -m "$1" --text hi; }
cmd_inspect() { echo "$LATTE" inspect "$1"; }
cmd_quantize() { echo "$LATTE" quantize -q -t 1 "$1" "$tmp/quant-out.gguf" q8_0; }
cmd_serve() { echo "$LATTE" serve -m "$1" --port 0 -t 1 -c 64; }
commands=""
for c in run chat perplexity bench logits tokenize inspect quantize serve; do
  "$LATTE" "$c" --help >/dev/null 2>&1 && commands="$commands $c"
done
echo "commands: $commands"

echo hi >"$tmp/hi.txt"
for c in $commands; do
  for f in "missing:$tmp/no-such-file.gguf:no-such-file|no such|not found|cannot open" \
           "directory:$tmp/adir:adir|director" \
           "empty:$tmp/empty.gguf:empty.gguf" \
           "trunc_hdr:$tmp/trunc_hdr.gguf:trunc_hdr.gguf" \
           "trunc_kv:$tmp/trunc_kv.gguf:trunc_kv.gguf" \
           "trunc_infos:$tmp/trunc_infos.gguf:trunc_infos.gguf" \
           "trunc_data:$tmp/trunc_data.gguf:trunc_data.gguf" \
           "trunc_last:$tmp/trunc_last.gguf:trunc_last.gguf" \
           "badmagic:$tmp/badmagic.gguf:magic" \
           "arch9:$tmp/arch9.gguf:deepseek9|architecture" \
           "type36:$tmp/type36.gguf:36|type"; do
    IFS=: read -r what path pattern <<<"$f"
    mode=strict
    # File-level tools may accept a well-formed file of another architecture; they must not crash on it.
    if [ "$what" = arch9 ] && { [ "$c" = inspect ] || [ "$c" = tokenize ] || [ "$c" = quantize ]; }; then
      mode=may_succeed
    fi
    # shellcheck disable=SC2046
    if [ "$c" = chat ]; then
      run_case_stdin "$c/$what" "$pattern" "$mode" "$tmp/hi.txt" -- $(cmd_chat "$path")
    else
      run_case "$c/$what" "$pattern" "$mode" -- $("cmd_$c" "$path")
    fi
  done
done

# ---- bad prompts and flags on a valid model
printf 'caf\xe9 \xff\xfe broken' >"$tmp/bad_utf8.txt"
bad=$(cat "$tmp/bad_utf8.txt")
long=$(for i in $(seq 1 200); do printf 'word%d ' "$i"; done)
printf '%s\n' "$long" >"$tmp/long.txt"
printf '%s\n' "$bad" >"$tmp/bad_utf8_line.txt"
u8='utf-?8'
ctx='context|ctx|-c|n_ctx|too long|longer'

run_case "run/invalid-utf8" "$u8" strict -- "$LATTE" run -m "$Q4" -p "$bad" -n 4 -t 1
run_case "run/invalid-utf8-file" "$u8" strict -- "$LATTE" run -m "$Q4" -f "$tmp/bad_utf8.txt" -n 4 -t 1
run_case "logits/invalid-utf8" "$u8" strict -- "$LATTE" logits -m "$Q4" --text "$bad" --out "$tmp/l.f32" -t 1
run_case "tokenize/invalid-utf8" "$u8" strict -- "$LATTE" tokenize -m "$Q4" --text "$bad"
run_case_stdin "chat/invalid-utf8" "$u8" strict "$tmp/bad_utf8_line.txt" -- "$LATTE" chat -m "$Q4" -n 4 -t 1

run_case "run/prompt-longer-than-ctx" "$ctx" strict -- "$LATTE" run -m "$Q4" -p "$long" -c 32 -n 4 -t 1
run_case "logits/prompt-longer-than-ctx" "$ctx" strict -- "$LATTE" logits -m "$Q4" --text "$long" -c 32 \
  --out "$tmp/l.f32" -t 1
run_case_stdin "chat/prompt-longer-than-ctx" "$ctx" strict "$tmp/long.txt" -- "$LATTE" chat -m "$Q4" -c 32 -n 4 -t 1

run_case "run/n=-5" "-n|n-predict" cli11 -- "$LATTE" run -m "$Q4" -p hi -n -5 -t 1
run_case_stdin "chat/n=-5" "-n|n-predict" cli11 "$tmp/hi.txt" -- "$LATTE" chat -m "$Q4" -n -5 -t 1
run_case "bench/n=-5" "-n|n-gen" cli11 -- "$LATTE" bench -m "$Q4" -p 8 -n -5 -r 1 --no-bandwidth -t 1

for c in $commands; do
  case $c in
    inspect) continue ;;
    quantize) run_case "quantize/t=-1" "thread|-t" cli11 -- "$LATTE" quantize -t -1 "$Q4" "$tmp/q.gguf" q8_0 ;;
    chat) run_case_stdin "chat/t=-1" "thread|-t" cli11 "$tmp/hi.txt" -- "$LATTE" chat -m "$Q4" -t -1 -n 4 ;;
    *) run_case "$c/t=-1" "thread|-t" cli11 -- $(cmd_"$c" "$Q4" | sed 's/ -t 1//') -t -1 ;;
  esac
done

run_case "run/temp=nan" "temp|nan" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --temp nan
run_case_stdin "chat/temp=nan" "temp|nan" cli11 "$tmp/hi.txt" -- "$LATTE" chat -m "$Q4" -n 4 -t 1 --temp nan
run_case "run/top-p=nan" "top-p|nan" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --top-p nan
run_case "run/min-p=nan" "min-p|min_p|nan" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --min-p nan
run_case "run/repeat-penalty=nan" "repeat|nan" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --repeat-penalty nan
run_case "run/top-k=-3" "top-k|top_k" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --top-k -3
run_case "run/cache-type=q9" "cache" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 --cache-type q9
run_case "run/prompt-file-missing" "nope.txt" strict -- "$LATTE" run -m "$Q4" -f "$tmp/nope.txt" -n 4 -t 1
run_case "perplexity/text-missing" "nope.txt" strict -- "$LATTE" perplexity -m "$Q4" -f "$tmp/nope.txt" -t 1
run_case "perplexity/c=4" "ctx|-c|context|chunk|short" may_succeed -- "$LATTE" perplexity -m "$Q4" -f "$VAL" -c 4 \
  --chunks 1 -t 1
run_case "perplexity/empty-text" "empty|short|token|chunk" strict -- "$LATTE" perplexity -m "$Q4" \
  -f "$tmp/empty.gguf" -t 1
run_case "logits/ids-out-of-range" "vocab|range|99999" strict -- "$LATTE" logits -m "$Q4" --ids 0,99999 \
  --out "$tmp/l.f32" -t 1
run_case "logits/ids-garbage" "ids|abc" strict -- "$LATTE" logits -m "$Q4" --ids 1,abc --out "$tmp/l.f32" -t 1
run_case "logits/out-unwritable" "adir|director|cannot|write" strict -- "$LATTE" logits -m "$Q4" --text hi \
  --out "$tmp/adir" -t 1
run_case "tokenize/ids-out-of-range" "vocab|range|99999" strict -- "$LATTE" tokenize -m "$Q4" --ids 99999
run_case "quantize/bad-type" "q9_9|type" cli11 -- "$LATTE" quantize -q -t 1 "$Q4" "$tmp/q.gguf" q9_9
run_case "quantize/out-unwritable" "no-dir|cannot|write|director" strict -- "$LATTE" quantize -q -t 1 \
  "$SHARED/models/tiny-dsv3/tiny-dsv3-f32.gguf" "$tmp/no-dir/q.gguf" q8_0
run_case "run/c=0" "ctx|-c|context" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 -c 0
run_case "run/c=-7" "ctx|-c|context" cli11 -- "$LATTE" run -m "$Q4" -p hi -n 4 -t 1 -c -7

echo
echo "bad_input: $n_cases cases, ${#failures[@]} failures"
if [ ${#failures[@]} -gt 0 ]; then
  for f in "${failures[@]}"; do echo "FAIL: $f"; done
  exit 1
fi
exit 0
