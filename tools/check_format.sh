#!/usr/bin/env bash
# Checks that every C++ file in the tree is clang-format clean (.clang-format).
# With --fix, rewrites the files instead.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=(--dry-run -Werror)
if [[ "${1:-}" == "--fix" ]]; then mode=(-i); fi
mapfile -t files < <(git ls-files -co --exclude-standard '*.h' '*.cc')
if ((${#files[@]} == 0)); then exit 0; fi
bad=0
for f in "${files[@]}"; do
  [[ -f "$f" ]] || continue
  if ! clang-format "${mode[@]}" "$f" >/dev/null 2>&1; then
    echo "not clang-format clean: $f" >&2
    bad=1
  fi
done
exit "$bad"
