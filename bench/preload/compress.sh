#!/usr/bin/env bash
# A threaded compressor on a large generated file, for the preload runner:
#   ./bazelw run //bench:preload -- --env-lib RINGLOCK_PRELOAD_LIB \
#     --same-output 'sha256: (\w+)' -- bench/preload/compress.sh xz|zstd|pigz [MEGABYTES]
# Compresses (xz -T2, zstd -T0, pigz) to a file and prints the time that
# took (compress_s) and the output's sha256, which must be the same stock and
# preloaded, then checks (stock, untimed by compress_s) that it decompresses
# to the input. The input (seq output: text, compressible,
# the same every time) is made once and kept in /tmp.
set -euo pipefail
tool="${1:?xz, zstd or pigz}"
mb="${2:-64}"
input="/tmp/ringlock_preload_input_${mb}M.txt"
if [[ ! -s "$input" ]]; then
  { seq 1 100000000 || true; } | head -c "$((mb * 1024 * 1024))" > "$input.tmp"
  mv "$input.tmp" "$input"
fi
# Only the compressor gets the library ($RINGLOCK_PRELOAD_LIB, set by the
# runner for preloaded runs).
pre=()
if [[ -n "${RINGLOCK_PRELOAD_LIB:-}" ]]; then pre=(env "LD_PRELOAD=$RINGLOCK_PRELOAD_LIB"); fi
out=$(mktemp /tmp/ringlock_preload_out.XXXXXX)
trap 'rm -f "$out"' EXIT
t0=$(date +%s.%N)
case "$tool" in
  xz) "${pre[@]}" xz -T2 -3 -c "$input" > "$out"; dec=(xz -dc) ;;
  zstd) "${pre[@]}" zstd -q -T0 -3 -c "$input" > "$out"; dec=(zstd -dc) ;;
  pigz) "${pre[@]}" pigz -c "$input" > "$out"; dec=(pigz -dc) ;;
  *) echo "compress.sh: unknown tool $tool" >&2; exit 2 ;;
esac
t1=$(date +%s.%N)
echo "compress_s: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", b - a}')"
echo "sha256: $(sha256sum < "$out" | cut -d' ' -f1)"
echo "compressed_bytes: $(stat -c %s "$out")"
# Decompression is not timed separately; it must give the input back.
cmp -s <("${dec[@]}" "$out") "$input" || { echo "compress.sh: round trip differs" >&2; exit 1; }
