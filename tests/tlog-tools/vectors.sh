#!/bin/bash
# vectors.sh: the 70,000-entry tree of tests/vectors/tlog.json built with
# the command line (`seq 0 69999 | ckv-log append`, publish, export) gives
# exactly the vector's files: every tile and bundle path, size and SHA-256,
# and no other file; the export then passes ckv-audit --full.
# Usage: vectors.sh CKV_LOG CKV_AUDIT PROOFCHECK VECTORS_JSON
source "$(dirname "$0")/lib.sh" "$1" "$2" "$3"
VECTORS=$4
DB=$T/log.db
VKEY=$("$CKV_LOG" init --db "$DB" --origin vectors.example/log --key "$T/k") || fail init
seq 0 69999 | "$CKV_LOG" append --db "$DB" >/dev/null || fail append
"$CKV_LOG" publish --db "$DB" --key "$T/k" >/dev/null || fail publish
"$CKV_LOG" export --db "$DB" "$T/www" >/dev/null || fail export
/usr/bin/python3 - "$VECTORS" "$T/www" <<'PY' || fail "export differs from the vector"
import hashlib, json, os, sys
want = {f["path"]: f for f in json.load(open(sys.argv[1]))["tiles_large_tree_70000"]["files"]}
root = sys.argv[2]
have = set()
for d, _, files in os.walk(os.path.join(root, "tile")):
    for name in files:
        have.add(os.path.relpath(os.path.join(d, name), root))
missing, extra = set(want) - have, have - set(want)
assert not missing, sorted(missing)[:5]
assert not extra, sorted(extra)[:5]
for p, f in want.items():
    b = open(os.path.join(root, p), "rb").read()
    assert len(b) == f["size"], (p, len(b), f["size"])
    assert hashlib.sha256(b).hexdigest() == f["sha256"], p
print("all %d tiles and bundles match" % len(want))
PY
ok "export of the 70,000-entry tree is byte-identical to the vector"
expect 0 "full audit of the vector tree" -- "$CKV_AUDIT" --full --state "$T/st" --vkey "$VKEY" "$T/www"
"$CKV_LOG" prove --db "$DB" --index 69999 >"$T/p" || fail prove
"$PROOFCHECK" inclusion "$VKEY" "$T/www/checkpoint" "$T/p" 69999 || fail "inclusion of the last entry"
ok "inclusion proof of entry 69999"
echo "ALL PASSED ($NCHECK checks)"
