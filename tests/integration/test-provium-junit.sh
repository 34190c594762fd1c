#!/bin/bash
# provium --junit: the report validates against the JUnit schema Jenkins uses
# (tests/data/junit/jenkins-junit.xsd, see the README beside it) with every kind of
# result in it, and the check has teeth: an invalid report fails it.
. "$(dirname "$0")/lib.sh"
PROVIUM=${PROVIUM:-provium}
SOURCE_DIR=${SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
XSD=$SOURCE_DIR/tests/data/junit/jenkins-junit.xsd
command -v xmllint >/dev/null || skip "xmllint is not installed (apt-get install libxml2-utils)"

valid() { xmllint --noout --schema "$XSD" "$1" 2>"$WORK/xmllint.err" || { cat "$WORK/xmllint.err"; return 1; }; }
invalid() { ! xmllint --noout --schema "$XSD" "$1" 2>/dev/null; }

# Every kind of result, and text an XML writer can get wrong: markup, quotes, control
# characters and bytes that are no UTF-8 (a sector's raw data in a message).
cat >"$WORK/kinds.lua" <<'LUA'
test("passes", function(t) t:assert(true) end)
test("fails <with> \"markup\" & more", function(t) t:assert(false, "raw \255\254 bytes\0 and \1 control") end)
test("raises an error", function(t) error("boom <&>") end)
test("skips", function(t) t:skip("needs /dev/kvm") end)
test("skips without a reason", function(t) t:skip() end)
LUA
echo 'error("set-up failed")' >"$WORK/toplevel.lua"

"$PROVIUM" --junit "$WORK/report.xml" "$WORK/kinds.lua" "$WORK/toplevel.lua" >"$WORK/out" 2>&1
check "a run with failures exits 1" same "$?" 1
check "the summary counts the skipped tests" same "$(tail -1 "$WORK/out")" "1 passed, 3 failed, 2 skipped"
check "a skipped test has its line" grep -q '^skip - skips: needs /dev/kvm$' "$WORK/out"
check "the report validates against the Jenkins JUnit schema" valid "$WORK/report.xml"
check "<testsuites> counts all tests, without a skipped attribute the schema lacks" \
    grep -q '^<testsuites tests="6" failures="1" errors="2" time="[0-9.]*">$' "$WORK/report.xml"
check "each suite counts its skipped tests" \
    grep -Eq '<testsuite name="[^"]*kinds.lua" tests="5" failures="1" errors="1" skipped="2" ' "$WORK/report.xml"
check "a skipped test is a <skipped> with its reason as text" grep -q '<skipped>needs /dev/kvm</skipped>' "$WORK/report.xml"
check "the top-level error is an <error> of its own suite" \
    grep -q "<error message=\"$WORK/toplevel.lua:1: set-up failed\">" "$WORK/report.xml"
check "bytes that are no UTF-8 and control characters become '?'" \
    grep -q '<failure message="raw ?? bytes? and ? control (at ' "$WORK/report.xml"
check "markup is escaped" grep -q 'name="fails &lt;with&gt; &quot;markup&quot; &amp; more"' "$WORK/report.xml"
check "tracebacks keep the script's frames, not the runner's" \
    bash -c "grep -q 'kinds.lua:3: in function' '$WORK/report.xml' && ! grep -Eq 'provium(_runner)?:[0-9]+:' '$WORK/report.xml'"

"$PROVIUM" --shard 1/1 --junit "$WORK/props.xml" "$WORK/kinds.lua" >/dev/null 2>&1
check "a report with <properties> (the shard) validates" valid "$WORK/props.xml"
check "and names the shard" grep -q '<property name="shard" value="1/1"/>' "$WORK/props.xml"

"$PROVIUM" -j 2 --junit "$WORK/parallel.xml" "$WORK/kinds.lua" "$WORK/toplevel.lua" >/dev/null 2>&1
check "the one report of a -j run validates" valid "$WORK/parallel.xml"
check "and has the same results as a run in one process" same \
    "$(sed -E 's/ (time|timestamp)="[^"]*"//g' "$WORK/parallel.xml")" "$(sed -E 's/ (time|timestamp)="[^"]*"//g' "$WORK/report.xml")"

echo 'test("nothing", function(t) end)' >"$WORK/one.lua"
"$PROVIUM" --filter '^none$' --junit "$WORK/empty.xml" "$WORK/one.lua" >/dev/null 2>&1
check "a report of a run that ran no test validates" valid "$WORK/empty.xml"

# The check has teeth: reports the schema rejects, each one edit away from a valid one.
sed 's/^<testsuites tests="6"/<testsuites skipped="2" tests="6"/' "$WORK/report.xml" >"$WORK/bad-attr.xml"
sed 's|<skipped>needs /dev/kvm</skipped>|<skipped message="needs /dev/kvm"/>|' "$WORK/report.xml" >"$WORK/bad-skipped.xml"
sed 's/<testsuite name="[^"]*kinds.lua" tests="5"/<testsuite tests="5"/' "$WORK/report.xml" >"$WORK/bad-name.xml"
sed 's|</testsuites>||' "$WORK/report.xml" >"$WORK/bad-xml.xml"
check "(the edits changed the report)" bash -c "! cmp -s '$WORK/report.xml' '$WORK/bad-attr.xml' && ! cmp -s '$WORK/report.xml' '$WORK/bad-skipped.xml' && ! cmp -s '$WORK/report.xml' '$WORK/bad-name.xml'"
check "the schema rejects skipped on <testsuites>" invalid "$WORK/bad-attr.xml"
check "the schema rejects attributes on <skipped>" invalid "$WORK/bad-skipped.xml"
check "the schema rejects a suite without a name" invalid "$WORK/bad-name.xml"
check "a report that is no XML fails" invalid "$WORK/bad-xml.xml"

finish
