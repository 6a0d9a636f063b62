#!/bin/bash
# audit.sh: ckv-audit against logs written by ckv-log: a good log passes
# from a directory and over HTTP (python's http.server on 127.0.0.1), a
# growing log passes with state, and every kind of misbehaviour (tampered
# tile, bundle, checkpoint signature, rollback, fork with the same key and
# origin, missing tile) exits 1 with an evidence file; an unreachable log
# exits 3.
source "$(dirname "$0")/lib.sh" "$@"
SIGNCP=$4 # signs a checkpoint for any size and root (tests/tlog-tools/signcp.c)
DB=$T/log.db
KEY=$T/log.key
ORIGIN=audit.example/log

VKEY=$("$CKV_LOG" init --db "$DB" --origin $ORIGIN --key "$KEY") || fail init
append_lines "$DB" entry 1 700
"$CKV_LOG" publish --db "$DB" --key "$KEY" >/dev/null || fail publish
"$CKV_LOG" export --db "$DB" "$T/v700" >/dev/null || fail export
cp -r "$T/v700" "$T/v700.orig"

# ---- a good log, from a directory and over HTTP
expect 0 "audit directory (first run)" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/v700"
grep -q "size 700" "$T/out" || fail "summary: $(cat "$T/out")"
serve "$T/v700"
expect 0 "audit over HTTP" -- "$CKV_AUDIT" --state "$T/s2" --vkey "$VKEY" "http://127.0.0.1:$PORT/"
expect 0 "audit over HTTP without trailing slash, --full" -- "$CKV_AUDIT" --state "$T/s2" --full --vkey "$VKEY" "http://127.0.0.1:$PORT"
stop_server

# ---- the log grows; re-audit with state (incremental) and with --full
append_lines "$DB" entry 701 1300
"$CKV_LOG" publish --db "$DB" --key "$KEY" >/dev/null || fail publish
"$CKV_LOG" export --db "$DB" "$T/v1300" >/dev/null || fail export
expect 0 "re-audit grown log with state" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/v1300"
grep -q "consistent with size 700 accepted before" "$T/out" || fail "summary: $(cat "$T/out")"
expect 0 "re-audit grown log with --full" -- "$CKV_AUDIT" --state "$T/s1" --full --vkey "$VKEY" "$T/v1300"
grep -q "consistent with size 1300 accepted before" "$T/out" || fail "summary: $(cat "$T/out")"

# ---- a partial tile replaced by its full tile: the auditor falls back
cp -r "$T/v700.orig" "$T/fb"
cp "$T/v1300/tile/0/002" "$T/fb/tile/0/002"
cp "$T/v1300/tile/entries/002" "$T/fb/tile/entries/002"
rm "$T/fb/tile/0/002.p/188" "$T/fb/tile/entries/002.p/188"
expect 0 "partial tiles gone, full tiles used" -- "$CKV_AUDIT" --state "$T/sfb" --vkey "$VKEY" "$T/fb"

# ---- rollback: the old export after the grown one was accepted
expect 1 "rolled-back log" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/v700.orig"
expect_evidence rollback

# ---- fork: another log, same origin, signed with the same key
DB2=$T/fork.db
"$CKV_LOG" init --db "$DB2" --origin $ORIGIN --key "$T/fork.key" >/dev/null || fail init fork
append_lines "$DB2" entry 1 700
append_lines "$DB2" other 701 1400
"$CKV_LOG" publish --db "$DB2" --key "$KEY" >/dev/null || fail "publish fork with the log's key"
"$CKV_LOG" export --db "$DB2" "$T/fork" >/dev/null || fail export fork
expect 1 "forked log (larger, same key and origin)" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/fork"
expect_evidence fork
# sizes 1300 < 1400: the proof computed from the forked tiles reproduces the
# signed root 1400 and yields another root for 1300
grep -q '"consistency_proof"' "$EVIDENCE" || fail "fork evidence without a consistency proof"
expect 0 "fork evidence verifies with the pinned key" -- "$CKV_AUDIT" verify-evidence --vkey "$VKEY" "$EVIDENCE"
grep -q "verdict: PROVEN" "$T/out" || fail "verify output: $(cat "$T/out")"
grep -q "a fork" "$T/out" || fail "verify output: $(cat "$T/out")"
FORK_EV=$EVIDENCE
OTHER_VKEY=$("$CKV_LOG" init --db "$T/other.db" --origin $ORIGIN --key "$T/other.key") || fail init other
expect 1 "fork evidence against another log key" -- "$CKV_AUDIT" verify-evidence --vkey "$OTHER_VKEY" "$EVIDENCE"
grep -q "not the one given" "$T/err" || fail "wrong key message: $(cat "$T/err")"
verify_tampered "$FORK_EV" '
c = e["checkpoints"][1]; raw = bytearray(base64.b64decode(c["base64"])); raw[-10] ^= 1
c["base64"] = base64.b64encode(bytes(raw)).decode(); c.pop("text", None)'
verify_tampered "$FORK_EV" '
p = e["consistency_proof"]["path"]; p[0], p[-1] = p[-1], p[0]'
verify_tampered "$FORK_EV" 'e["consistency_proof"]["path"].pop()'
verify_tampered "$FORK_EV" 'del e["consistency_proof"]'
verify_tampered "$FORK_EV" 'e["kind"] = "forked"'
verify_tampered "$FORK_EV" 'e["checkpoints"][0]["text"] = "x"' 2
verify_tampered "$FORK_EV" 'e["extra"] = 1' 2
echo '{"format": "ckv-evid' >"$T/trunc.json"
expect 2 "truncated evidence" -- "$CKV_AUDIT" verify-evidence "$T/trunc.json"
expect 2 "missing evidence file" -- "$CKV_AUDIT" verify-evidence "$T/nonexistent.json"
expect 2 "verify-evidence without FILE" -- "$CKV_AUDIT" verify-evidence
DB3=$T/fork3.db
"$CKV_LOG" init --db "$DB3" --origin $ORIGIN --key "$T/fork3.key" >/dev/null || fail init fork3
append_lines "$DB3" x 1 1300
"$CKV_LOG" publish --db "$DB3" --key "$KEY" >/dev/null || fail "publish fork3"
"$CKV_LOG" export --db "$DB3" "$T/fork3" >/dev/null || fail export fork3
expect 1 "forked log (same size)" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/fork3"
expect_evidence fork
expect 0 "the real log still passes after the fork reports" -- "$CKV_AUDIT" --state "$T/s1" --vkey "$VKEY" "$T/v1300"

# ---- tampering (each on a fresh copy, fresh state)
tamper() { # DIR FILE OFFSET: flip one byte
    /usr/bin/python3 - "$1/$2" "$3" <<'PY'
import sys
p, off = sys.argv[1], int(sys.argv[2])
b = bytearray(open(p, "rb").read()); b[off] ^= 0x01; open(p, "wb").write(bytes(b))
PY
}
for what in "tile/0/001 100 bad_tile" "tile/1/000.p/5 40 bad_root" "tile/0/005.p/20 0 bad_root" \
            "tile/entries/001 300 bad_bundle" "tile/entries/005.p/20 2 bad_bundle"; do
    set -- $what
    rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
    tamper "$T/t" "$1" "$2"
    expect 1 "tampered $1" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
    expect_evidence "$3"
done
# a large bundle (150 entries of 20 KB: 3 MB) tampered: the evidence is
# still written (objects used to be capped at 2 MiB, and then no file was)
DBL=$T/large.db
VKEYL=$("$CKV_LOG" init --db "$DBL" --origin large.example/log --key "$T/large.key") || fail init large
/usr/bin/python3 - "$T/large-in" <<'PY'
import sys
with open(sys.argv[1], "w") as f:
    for i in range(150):
        f.write(("%05d-" % i) + "x" * 20000 + "\n")
PY
"$CKV_LOG" append --db "$DBL" <"$T/large-in" >/dev/null || fail "append large"
"$CKV_LOG" publish --db "$DBL" --key "$T/large.key" >/dev/null || fail "publish large"
"$CKV_LOG" export --db "$DBL" "$T/large" >/dev/null || fail "export large"
tamper "$T/large" tile/entries/000.p/150 2500000
expect 1 "tampered 3 MB bundle" -- "$CKV_AUDIT" --state "$T/sl" --vkey "$VKEYL" "$T/large"
expect_evidence bad_bundle
# an empty checkpoint: misbehaviour with evidence, not a silent exit 1
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
: >"$T/t/checkpoint"
expect 1 "empty checkpoint" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
EVK=$(sed -n 's/.*evidence written to \(.*\)$/\1/p' "$T/err" | tail -1)
[ -n "$EVK" ] && [ -f "$EVK" ] || fail "empty checkpoint: no evidence: $(cat "$T/err")"

# a signed checkpoint of an absurd size (2^40, 2^62-1) over the real tiles:
# the missing tiles are misbehaviour with evidence (exit 1), not "out of
# memory" (exit 3, which cron would retry for ever)
for big in 1099511627776 4611686018427387903; do
    rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
    ROOT=abababababababababababababababababababababababababababababababab
    "$SIGNCP" "$KEY" "$big" "$ROOT" >"$T/t/checkpoint" || fail "signcp $big"
    expect 1 "a signed tree of size $big" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
    grep -q "evidence written to" "$T/err" || fail "size $big: no evidence: $(cat "$T/err")"
done

# a tampered bundle is found by an incremental audit too when it is new
rm -rf "$T/t"; cp -r "$T/v1300" "$T/t"
tamper "$T/t" tile/entries/004 10
rm -rf "$T/s700"; "$CKV_AUDIT" --quiet --state "$T/s700" --vkey "$VKEY" "$T/v700.orig" || fail "baseline"
expect 1 "tampered new bundle, incremental" -- "$CKV_AUDIT" --state "$T/s700" --vkey "$VKEY" "$T/t"
expect_evidence bad_bundle

# checkpoint: altered text (signature no longer verifies), altered signature
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
sed -i '2s/.*/1299/' "$T/t/checkpoint"
expect 1 "checkpoint with altered size" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence bad_signature
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
/usr/bin/python3 - "$T/t/checkpoint" <<'PY'
import sys, base64
p = sys.argv[1]; lines = open(p, encoding="utf-8").read().split("\n")
for i, l in enumerate(lines):
    if l.startswith("\u2014 "):
        name, sig = l[2:].rsplit(" ", 1)
        raw = bytearray(base64.b64decode(sig)); raw[-1] ^= 1
        lines[i] = "\u2014 " + name + " " + base64.b64encode(bytes(raw)).decode()
open(p, "w", encoding="utf-8").write("\n".join(lines))
PY
expect 1 "checkpoint with a bad signature" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence bad_signature
# signed by another key only
rm -rf "$T/t" "$T/st"
"$CKV_LOG" export --db "$DB2" "$T/t" >/dev/null
append_lines "$DB3" y 1 1
"$CKV_LOG" publish --db "$DB3" --key "$T/fork3.key" >/dev/null || fail "publish with own key"
OTHER=$("$CKV_LOG" checkpoint --db "$DB3")
printf '%s\n' "$OTHER" >"$T/t/checkpoint"
expect 1 "checkpoint not signed by the key" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence bad_signature

# an oversized checkpoint and an oversized tile (bounded reads)
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
head -c 100000 /dev/zero | tr '\0' 'a' >"$T/t/checkpoint"
expect 1 "oversized checkpoint" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence oversized
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
head -c 9000 /dev/zero >>"$T/t/tile/0/000"
expect 1 "oversized tile" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence oversized
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
head -c 32 /dev/zero >>"$T/t/tile/0/005.p/20"
expect 1 "partial tile with extra bytes" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence bad_tile
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
printf 'x' >>"$T/t/tile/entries/002"
expect 1 "bundle with trailing bytes" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence bad_bundle

# a tile the checkpoint needs is missing
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
rm "$T/t/tile/0/003"
expect 1 "missing tile" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/t"
expect_evidence missing_data

# ---- tampering over HTTP too
rm -rf "$T/t" "$T/st"; cp -r "$T/v1300" "$T/t"
tamper "$T/t" tile/0/002 64
serve "$T/t"
expect 1 "tampered tile over HTTP" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "http://127.0.0.1:$PORT/"
expect_evidence bad_tile
stop_server

# ---- unreachable
PORT=$(free_port)
expect 3 "nothing listening" -- "$CKV_AUDIT" --timeout 5 --state "$T/st" --vkey "$VKEY" "http://127.0.0.1:$PORT/"
expect 3 "no such directory" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/does-not-exist"
mkdir "$T/empty"
expect 3 "directory without checkpoint" -- "$CKV_AUDIT" --state "$T/st" --vkey "$VKEY" "$T/empty"
echo "ALL PASSED ($NCHECK checks)"
