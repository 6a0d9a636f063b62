#!/bin/bash
# audit.sh: ckv-audit (the C2SP tlog-tiles auditor from transparency-log/
# tools) follows a live ckvd's log while accounts register through the
# online `ckv` commands: it passes before and after more accounts register
# (and a rotation), and across a ckvd killed with -9 and restarted, each
# run checking consistency with the checkpoint it accepted before.
#   usage: audit.sh CKV CKVD CKV_AUDIT
source "$(dirname "$0")/lib.sh" "$@"
[ -x "$CKV_AUDIT" ] || fail "ckv-audit not found: '$CKV_AUDIT'"
start_ckvd

audit() {  # audit LABEL: must pass
    "$CKV_AUDIT" --state "$T/audit" --vkey "$VKEY" "$URL" >"$T/aout" 2>"$T/aerr"
    local rc=$?
    [ "$rc" = 0 ] || fail "ckv-audit ($1) -> $rc: $(cat "$T/aout" "$T/aerr")"
}

new_user alice alice
new_user bob bob
await_size 2
audit "two accounts"
grep -q "size 2 " "$T/aout" || fail "audit summary: $(cat "$T/aout")"

for u in carol dave erin frank grace; do new_user "$u" "$u"; done
ok alice rotate
await_size 8
audit "seven accounts and a rotation"
grep -q "size 8 .*consistent with size 2 accepted before" "$T/aout" || fail "audit summary: $(cat "$T/aout")"
ok alice send bob "hello"
ok bob recv --wait 5
kill_ckvd 9
start_ckvd
new_user heidi heidi
await_size 9
audit "after kill -9 and a restart"
grep -q "size 9 .*consistent with size 8 accepted before" "$T/aout" || fail "audit summary: $(cat "$T/aout")"
ok alice monitor
has_out "foreign-entries: 0"
echo "audit: ok"
