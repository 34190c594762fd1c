#!/bin/bash
# Every Lua example of the README runs as printed: each ```lua block is a whole script that
# provium runs, and all its tests pass.
. "$(dirname "$0")/../integration/lib.sh"
PROVIUM=${PROVIUM:-provium}
command -v qemu-system-x86_64 >/dev/null || skip "qemu-system-x86 is not installed"

awk -v dir="$WORK" '
    /^```lua$/ { n++; file = sprintf("%s/readme-%d.lua", dir, n); inside = 1; next }
    /^```$/ && inside { inside = 0; close(file); next }
    inside { print > file }' "$SOURCE_DIR/README.md"
count=$(ls "$WORK"/readme-*.lua 2>/dev/null | wc -l)
check "the README has Lua examples ($count)" at_least 3 "$count"
for script in "$WORK"/readme-*.lua; do
    out=$(cd "$WORK" && "$PROVIUM" "$script" 2>&1)
    status=$?
    summary=$(tail -1 <<<"$out")
    check "$(basename "$script") runs as printed: $summary" \
        bash -c "[ $status -eq 0 ] && [[ '$summary' =~ ^[1-9][0-9]*\ passed,\ 0\ failed$ ]]"
    [ $status -eq 0 ] || echo "$out" | tail -20
done

finish
