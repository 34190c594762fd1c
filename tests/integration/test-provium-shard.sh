#!/bin/bash
# provium --shard K/N: shards 1/N..N/N together run every test exactly once, each gets
# its share of every script, the deal does not depend on where the scripts sit, and a
# bad K/N is a usage error.
. "$(dirname "$0")/lib.sh"
PROVIUM=${PROVIUM:-provium}

mkdir -p "$WORK/suite/sub"
# 10 + 5 + 1 tests, one script in a subdirectory; each test prints its own name.
for spec in alpha:10 beta:5 sub/gamma:1; do
    name=${spec%%:*} n=${spec##*:}
    echo "for k = 1, $n do test('${name##*/} ' .. k, function(t) end) end" >"$WORK/suite/$name.lua"
done
scripts=(alpha.lua beta.lua sub/gamma.lua)

# tests_run ARGS...: the names of the tests a run passed, one a line.
tests_run() { (cd "$WORK/suite" && "$PROVIUM" "$@") | sed -n 's/^ok - \(.*\) ([0-9]* ms)$/\1/p'; }

all=$(tests_run "${scripts[@]}" | sort)
check "(the whole suite is 16 tests)" same "$(wc -l <<<"$all")" 16
: >"$WORK/union"
for k in 1 2 3; do
    tests_run --shard $k/3 "${scripts[@]}" >"$WORK/shard$k"
    cat "$WORK/shard$k" >>"$WORK/union"
    check "shard $k/3 runs 5 or 6 tests" bash -c "n=\$(wc -l <'$WORK/shard$k'); [ \$n -ge 5 ] && [ \$n -le 6 ]"
    check "shard $k/3 gets 3 or 4 of alpha's 10" bash -c "n=\$(grep -c '^alpha ' '$WORK/shard$k'); [ \$n -ge 3 ] && [ \$n -le 4 ]"
done
check "shards 1/3, 2/3 and 3/3 together run every test exactly once" same "$(sort "$WORK/union")" "$all"
check "(no test twice)" same "$(sort "$WORK/union" | uniq -d)" ""
check "--shard 1/1 runs everything" same "$(tests_run --shard 1/1 "${scripts[@]}" | sort)" "$all"

# The same deal from elsewhere: other directory, absolute paths, other order, one script alone.
cp -r "$WORK/suite" "$WORK/elsewhere"
check "the deal is the same for a copy of the suite named by absolute paths" same \
    "$(cd / && "$PROVIUM" --shard 2/3 "$WORK/elsewhere/sub/gamma.lua" "$WORK/elsewhere/beta.lua" "$WORK/elsewhere/alpha.lua" |
        sed -n 's/^ok - \(.*\) ([0-9]* ms)$/\1/p' | sort)" "$(sort "$WORK/shard2")"
check "and for a script run alone" same "$(tests_run --shard 2/3 beta.lua)" "$(grep '^beta ' "$WORK/shard2")"
check "-j 3 runs the same shard" same "$(tests_run -j 3 --shard 3/3 "${scripts[@]}" | sort)" "$(sort "$WORK/shard3")"
check "--list lists the shard's tests" same \
    "$(cd "$WORK/suite" && "$PROVIUM" --list --shard 1/3 "${scripts[@]}" | sed -n 's/^[^#][^:]*: //p' | sort)" "$(sort "$WORK/shard1")"

# --filter first, then the shard deals what is left.
: >"$WORK/union"
for k in 1 2; do tests_run --filter '^alpha' --shard $k/2 "${scripts[@]}" >>"$WORK/union"; done
check "with --filter the shards split the filtered tests" same "$(sort "$WORK/union")" "$(grep '^alpha ' <<<"$all")"
check "evenly" same "$(tests_run --filter '^alpha' --shard 1/2 "${scripts[@]}" | wc -l)" 5

check "a shard with no tests of a script prints no test line for it" \
    bash -c "(cd '$WORK/suite' && '$PROVIUM' --shard 1/2 sub/gamma.lua; '$PROVIUM' --shard 2/2 sub/gamma.lua) | grep -c '^ok - ' | grep -qx 1"

for bad in 0/3 4/3 x 3 1/0 -1/3 2/3x; do
    check "--shard $bad is refused, naming the value" fails_with \
        "provium: --shard: expected K/N with 1 <= K <= N (e.g. 2/3), got '$bad'" "$PROVIUM" --shard "$bad" "$WORK/suite/alpha.lua"
    "$PROVIUM" --shard "$bad" "$WORK/suite/alpha.lua" >/dev/null 2>&1
    check "(exit 2)" same "$?" 2
done
check "--shard without a value is refused" fails_with "provium: --shard needs a value" "$PROVIUM" --shard

finish
