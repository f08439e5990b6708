#!/usr/bin/env bash
# fuzz: run each libFuzzer target for SECONDS (default 15, make fuzz: 300),
# seeded with the real guest images. A crash or sanitizer report fails it
# and leaves the input in build/fuzz/. Last line: "N passed, N failed".
set -u
build=${1:-build}
seconds=${2:-15}
cd "$(dirname "$0")/../.."
pass=0
fail=0
for target in elf; do
	bin=$build/bin/pvft-fuzz-$target
	corpus=$build/fuzz/$target-corpus
	mkdir -p "$corpus" "$build/fuzz"
	cp "$build"/guest/*.elf "$corpus/" 2>/dev/null
	if "$bin" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
		-artifact_prefix="$build/fuzz/$target-" "$corpus" \
		>"$build/fuzz/$target.log" 2>&1; then
		echo "PASS fuzz $target: $(grep -oE 'Done [0-9]+ runs.*' "$build/fuzz/$target.log" | tail -n 1)"
		pass=$((pass + 1))
	else
		echo "FAIL fuzz $target: see $build/fuzz/$target.log"
		grep -E 'ERROR|SUMMARY|Test unit written' "$build/fuzz/$target.log" | head -n 5
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
