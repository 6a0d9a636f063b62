#!/bin/bash
# dir_audit.sh: `ckv-audit --directory` on a live ckvd's log while
# accounts register, rotate and reset through the online `ckv` commands:
# every entry parses, every chain holds, and the report (stdout text and
# --report JSON) counts the accounts, key changes and resets exactly.
#   usage: dir_audit.sh CKV CKVD CKV_AUDIT
source "$(dirname "$0")/lib.sh" "$@"
[ -x "$CKV_AUDIT" ] || fail "ckv-audit not found: '$CKV_AUDIT'"
start_ckvd

daudit() {  # daudit LABEL ARGS...: must pass
    local label=$1; shift
    "$CKV_AUDIT" --state "$T/audit" --directory --quiet "$@" --vkey "$VKEY" "$URL" \
        >"$T/aout" 2>"$T/aerr"
    local rc=$?
    [ "$rc" = 0 ] || fail "ckv-audit --directory ($label) -> $rc: $(cat "$T/aout" "$T/aerr")"
}

new_user alice alice
new_user bob bob
new_user carol carol
ok alice rotate
ok alice rotate
ok bob rotate
# bob lost his device: a new profile resets the account
ok bob2 init --name bob --server "$URL" --log-key "$VKEY"
ok bob2 reset
await_size 7

daudit "report as JSON" --report "$T/report.json"
[ "$(stat -c %a "$T/report.json")" = 600 ] || fail "report is not mode 0600"
/usr/bin/python3 - "$T/report.json" <<'PY' || fail "report: $(cat "$T/report.json")"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["format"] == "ckv-audit-directory-report/1"
assert r["tree_size"] == 7 and r["entries"] == 7, r
assert r["account_count"] == 3 and r["rotations"] == 3 and r["resets"] == 1, r
a = {x["name"]: x for x in r["accounts"]}
assert sorted(a) == ["alice", "bob", "carol"], a
assert (a["alice"]["version"], a["alice"]["key_changes"], a["alice"]["rotations"], a["alice"]["resets"]) == (3, 2, 2, 0), a["alice"]
assert (a["bob"]["version"], a["bob"]["key_changes"], a["bob"]["rotations"], a["bob"]["resets"]) == (3, 2, 1, 1), a["bob"]
assert (a["carol"]["version"], a["carol"]["key_changes"]) == (1, 0), a["carol"]
assert a["alice"]["first_leaf"] == 0 and a["carol"]["latest_leaf"] == 2
PY
echo "ok - directory report (JSON)"

# the text report on stdout (not --quiet), incremental state: still every entry
"$CKV_AUDIT" --state "$T/audit" --directory --vkey "$VKEY" "$URL" >"$T/aout" 2>"$T/aerr" \
    || fail "ckv-audit --directory (text) -> $?: $(cat "$T/aerr")"
grep -q "^directory: 7 entries, 3 accounts, 3 key rotations, 1 resets; every chain holds" "$T/aout" \
    || fail "text report: $(cat "$T/aout")"
grep -q "^account bob: version 3 (latest at leaf 6), 2 key changes (1 rotation, 1 reset)" "$T/aout" \
    || fail "text report: $(cat "$T/aout")"
echo "ok - directory report (text)"

new_user dave dave
await_size 8
daudit "after one more account" --report "$T/report2.json"
/usr/bin/python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); assert r["account_count"]==4 and r["entries"]==8, r' \
    "$T/report2.json" || fail "report2: $(cat "$T/report2.json")"
"$CKV_AUDIT" --state "$T/audit" --report "$T/x.json" --vkey "$VKEY" "$URL" >/dev/null 2>"$T/aerr"
[ $? = 2 ] || fail "--report without --directory must be a usage error"
echo "dir_audit: ok"
