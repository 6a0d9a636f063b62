#!/bin/bash
# go_audit.sh: a live ckvd's log audited by an implementation others wrote:
# tests/interop/gotlog, built on Go's golang.org/x/mod/sumdb/tlog and
# sumdb/note (Debian's golang-golang-x-mod-dev). It must pass before and
# after more accounts register (and a rotation), and across a ckvd killed
# with -9 and restarted, each run proving consistency with the tree it
# accepted before. And it must refuse: a tree accepted before that this log
# does not extend (exit 1, "not consistent"), and the checkpoint under
# another log's key (exit 1). (Lying logs in more ways are the adversarial
# suite's, against ckv's own auditor.)
#   usage: go_audit.sh CKV CKVD GOTLOG
source "$(dirname "$0")/lib.sh" "$@"
GOTLOG=$3
[ -x "$GOTLOG" ] || fail "gotlog not found: '$GOTLOG'"
start_ckvd

audit() {  # audit LABEL: must pass
    "$GOTLOG" --state "$T/gostate" --vkey "$VKEY" "$URL" >"$T/aout" 2>"$T/aerr"
    local rc=$?
    [ "$rc" = 0 ] || fail "gotlog ($1) -> $rc: $(cat "$T/aout" "$T/aerr")"
}

new_user alice alice
new_user bob bob
await_size 2
audit "two accounts"
grep -q "size 2 .*2 entries verified" "$T/aout" || fail "gotlog: $(cat "$T/aout")"

for u in $(seq 1 40); do new_user "u$u" "u$u"; done
ok alice rotate
await_size 43
audit "forty more accounts and a rotation"
grep -q "size 43 .*consistent with size 2 accepted before" "$T/aout" ||
    fail "gotlog: $(cat "$T/aout")"
kill_ckvd 9
start_ckvd
new_user heidi heidi
await_size 44
audit "after kill -9 and a restart"
grep -q "size 44 .*consistent with size 43 accepted before" "$T/aout" ||
    fail "gotlog: $(cat "$T/aout")"

# a tree it accepted before that this log does not extend (another root at
# size 2): refused, exit 1
printf '2 %s\n' "$(head -c 32 /dev/urandom | base64)" >"$T/badstate"
"$GOTLOG" --state "$T/badstate" --vkey "$VKEY" "$URL" >"$T/aout" 2>"$T/aerr"
rc=$?
[ "$rc" = 1 ] || fail "gotlog from a foreign tree -> $rc (want 1): $(cat "$T/aout" "$T/aerr")"
grep -q "not consistent with size 2" "$T/aerr" || fail "gotlog: $(cat "$T/aerr")"

# another log's key (a second ckvd's, the same origin): refused, exit 1
"$CKVD" --listen 127.0.0.1:0 --data "$T/other" >/dev/null 2>"$T/other.log" &
OTHER=$!
for _ in $(seq 1 400); do [ -s "$T/other/log.vkey" ] && break; sleep 0.025; done
kill -9 "$OTHER" 2>/dev/null; wait "$OTHER" 2>/dev/null
OVKEY=$(head -1 "$T/other/log.vkey")
[ -n "$OVKEY" ] && [ "$OVKEY" != "$VKEY" ] || fail "no second log key: $(cat "$T/other.log")"
"$GOTLOG" --vkey "$OVKEY" "$URL" >"$T/aout" 2>"$T/aerr"
rc=$?
[ "$rc" = 1 ] || fail "gotlog under another log's key -> $rc (want 1): $(cat "$T/aout" "$T/aerr")"
grep -q "does not open with the log's key" "$T/aerr" || fail "gotlog: $(cat "$T/aerr")"
echo "go_audit: ok"
