#!/bin/bash
# dir_chain.sh: ckv-audit --directory on logs written with ckv-log from
# directory entries made by mkentries: a good directory passes with the
# right report; each broken chain (a rotation signed by another key, a
# second version 2, a skipped version, a second register, a leaf that is
# no entry) exits 1 with broken_chain evidence naming the leaf, which
# verify-evidence accepts as a proof (exit 0); a copy without inclusion
# proofs, with a swapped proof or a flipped signature bit is refused.
#   usage: dir_chain.sh CKV_LOG CKV_AUDIT PROOFCHECK MKENTRIES
source "$(dirname "$0")/lib.sh" "$1" "$2" "$3"
MKENTRIES=$4
ORIGIN=dir.example/log

mklog() {  # mklog SCENARIO: the exported log in $T/$1.www, VKEY set
    rm -rf "$T/$1.e" && mkdir "$T/$1.e"
    "$MKENTRIES" $ORIGIN "$T/$1.e" "$1" || fail "mkentries $1"
    VKEY=$("$CKV_LOG" init --db "$T/$1.db" --origin $ORIGIN --key "$T/$1.key") || fail "init $1"
    "$CKV_LOG" append --db "$T/$1.db" "$T/$1.e"/e* >/dev/null || fail "append $1"
    "$CKV_LOG" publish --db "$T/$1.db" --key "$T/$1.key" >/dev/null || fail "publish $1"
    "$CKV_LOG" export --db "$T/$1.db" "$T/$1.www" >/dev/null || fail "export $1"
}

mklog good
expect 0 "good directory" -- "$CKV_AUDIT" --state "$T/s.good" --directory --vkey "$VKEY" "$T/good.www"
grep -q "^directory: 5 entries, 3 accounts, 2 key rotations, 0 resets" "$T/out" || fail "report: $(cat "$T/out")"
grep -q "^account alice: version 2 (latest at leaf 2), 1 key change (1 rotation, 0 resets)" "$T/out" \
    || fail "report: $(cat "$T/out")"
expect 0 "the same log without --directory" -- "$CKV_AUDIT" --state "$T/s.good2" --vkey "$VKEY" "$T/good.www"
grep -q "^directory:" "$T/out" && fail "a report without --directory"

for sc in bad_rotation dup_version taken not_entry skip_version; do
    mklog $sc
    expect 1 "broken chain: $sc" -- "$CKV_AUDIT" --state "$T/s.$sc" --directory --vkey "$VKEY" "$T/$sc.www"
    grep -q "leaf 3" "$T/err" || fail "$sc: the message does not name leaf 3: $(cat "$T/err")"
    expect_evidence broken_chain
    expect 0 "verify-evidence $sc with the pinned key" -- "$CKV_AUDIT" verify-evidence --vkey "$VKEY" "$EVIDENCE"
    grep -q "proven by the log's signatures" "$T/out" || fail "verify: $(cat "$T/out")"
    grep -q "is leaf 3 of the log" "$T/out" || fail "verify: $(cat "$T/out")"
    # without its inclusion proofs, or with a swapped proof, it proves nothing
    verify_tampered "$EVIDENCE" 'for x in e["entries"]: x.pop("inclusion_proof")'
    verify_tampered "$EVIDENCE" '
x = e["entries"][-1]["inclusion_proof"]["path"]; x[0], x[1] = x[1], x[0]'
    verify_tampered "$EVIDENCE" '
c = e["checkpoints"][0]; raw = bytearray(base64.b64decode(c["base64"])); raw[-3] ^= 4
c["base64"] = base64.b64encode(bytes(raw)).decode(); c.pop("text", None)'
done
echo "dir_chain: ok ($NCHECK checks)"
