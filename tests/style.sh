#!/usr/bin/env bash
# House style, checked: every C file is as clang-format (the checked-in
# .clang-format) would write it. `make format` fixes what this reports.
# Last line: "N passed, N failed" (one test per file).
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0
for f in $(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*'); do
	if clang-format --dry-run --Werror "$f" >/dev/null 2>&1; then
		pass=$((pass + 1))
	else
		echo "FAIL style: $f is not clang-formatted (run: make format)"
		fail=$((fail + 1))
	fi
done
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
