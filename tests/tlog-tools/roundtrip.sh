#!/bin/bash
# roundtrip.sh: ckv-log init / append / publish / checkpoint / prove /
# export, checked by an independent verifier (proofcheck) and by
# ckv-audit; usage errors exit 2; failures exit 1 with one line on stderr.
source "$(dirname "$0")/lib.sh" "$@"
DB=$T/log.db
KEY=$T/log.key

# ---- usage errors: exit 2, one line that says what to do
expect 2 "no command" -- "$CKV_LOG"
grep -q "try" "$T/err" || fail "usage error without a hint"
expect 2 "unknown command" -- "$CKV_LOG" frobnicate
expect 2 "init without --origin" -- "$CKV_LOG" init --db "$DB" --key "$KEY"
expect 2 "unknown option" -- "$CKV_LOG" append --db "$DB" --bogus
expect 2 "prove without index" -- "$CKV_LOG" prove --db "$DB"
expect 2 "prove index and old" -- "$CKV_LOG" prove --db "$DB" --index 1 --old 1 --new 2
expect 2 "prove bad number" -- "$CKV_LOG" prove --db "$DB" --index 01
expect 2 "prove old > new" -- "$CKV_LOG" prove --db "$DB" --old 5 --new 2
expect 2 "export without DIR" -- "$CKV_LOG" export --db "$DB"
expect 2 "audit without vkey" -- "$CKV_AUDIT" "$T"
expect 2 "audit bad vkey" -- "$CKV_AUDIT" --vkey "a+b+c" "$T"
expect 2 "audit two sources" -- "$CKV_AUDIT" --vkey "a+b+c" "$T" "$T"
expect 0 "ckv-log --help" -- "$CKV_LOG" --help
grep -q "ckv-log prove" "$T/out" || fail "help lacks prove"
expect 0 "ckv-log prove --help" -- "$CKV_LOG" prove --help
expect 0 "ckv-audit --help" -- "$CKV_AUDIT" --help
grep -q "Exit status" "$T/out" || fail "audit help lacks exit status"

# ---- operations on a missing log: exit 1, one line
expect 1 "append to missing db" -- "$CKV_LOG" append --db "$T/none.db"
[ "$(wc -l <"$T/err")" -eq 1 ] || fail "error is not one line"
grep -q "ckv-log init" "$T/err" || fail "error does not say what to do"

# ---- init
expect 0 "init" -- "$CKV_LOG" init --db "$DB" --origin example.org/testlog --key "$KEY"
VKEY=$(cat "$T/out")
[[ "$VKEY" == example.org/testlog+????????+* ]] || fail "verifier key looks wrong: $VKEY"
[ "$(stat -c %a "$KEY")" = 600 ] || fail "key file mode is $(stat -c %a "$KEY")"
grep -q PRIVATE "$T/out" && fail "init printed the private key"
expect 1 "init over existing db" -- "$CKV_LOG" init --db "$DB" --origin example.org/testlog --key "$T/other.key"
[ -e "$T/other.key" ] && fail "failed init left a key file"
expect 1 "init over existing key" -- "$CKV_LOG" init --db "$T/other.db" --origin example.org/testlog --key "$KEY"

# ---- append from stdin and files, publish, checkpoint
printf 'alpha\nbeta\n\ngamma' | "$CKV_LOG" append --db "$DB" >"$T/out" || fail "append stdin"
grep -q "appended 4 entries (index 0 to 3)" "$T/out" || fail "append said: $(cat "$T/out")"
printf 'file one\n' >"$T/e1"
printf 'file two' >"$T/e2"
expect 0 "append files" -- "$CKV_LOG" append --db "$DB" "$T/e1" "$T/e2"
grep -q "index 4 to 5" "$T/out" || fail "append files said: $(cat "$T/out")"
expect 1 "append missing file" -- "$CKV_LOG" append --db "$DB" "$T/nope"
head -c 70000 /dev/zero >"$T/big"
expect 1 "append too large file" -- "$CKV_LOG" append --db "$DB" "$T/big"

expect 1 "checkpoint before publish" -- "$CKV_LOG" checkpoint --db "$DB"
chmod 644 "$KEY"
expect 1 "publish with a world-readable key" -- "$CKV_LOG" publish --db "$DB" --key "$KEY"
grep -q "chmod 600" "$T/err" || fail "no chmod hint: $(cat "$T/err")"
chmod 600 "$KEY"
expect 0 "publish" -- "$CKV_LOG" publish --db "$DB" --key "$KEY"
cp "$T/out" "$T/cp6"
[ "$(sed -n 1p "$T/cp6")" = example.org/testlog ] || fail "origin line"
[ "$(sed -n 2p "$T/cp6")" = 6 ] || fail "size line: $(sed -n 2p "$T/cp6")"
expect 0 "checkpoint" -- "$CKV_LOG" checkpoint --db "$DB"
cmp -s "$T/out" "$T/cp6" || fail "checkpoint differs from the published one"
expect 0 "proofcheck verifies the checkpoint" -- "$PROOFCHECK" checkpoint "$VKEY" "$T/cp6"
expect 0 "publish with nothing new" -- "$CKV_LOG" publish --db "$DB" --key "$KEY"
cmp -s "$T/out" "$T/cp6" || fail "re-publish did not print the latest checkpoint"

# ---- inclusion proofs for every entry, verified independently
i=0
for e in alpha beta "" gamma "file one
" "file two"; do
    "$CKV_LOG" prove --db "$DB" --index $i >"$T/p" || fail "prove --index $i"
    grep -q '"leaf_index":' "$T/p" && grep -q '"path":' "$T/p" || fail "proof JSON: $(cat "$T/p")"
    "$PROOFCHECK" inclusion "$VKEY" "$T/cp6" "$T/p" "$e" || fail "inclusion proof $i"
    i=$((i + 1))
done
ok "inclusion proofs of all 6 entries verify"
"$CKV_LOG" prove --db "$DB" --index 1 >"$T/p"
! "$PROOFCHECK" inclusion "$VKEY" "$T/cp6" "$T/p" "alpha" 2>/dev/null || fail "proof of entry 1 accepted for alpha"
ok "a proof does not verify for another entry"
expect 1 "prove index out of range" -- "$CKV_LOG" prove --db "$DB" --index 6
expect 1 "prove size over log" -- "$CKV_LOG" prove --db "$DB" --index 0 --size 7
expect 0 "prove --size" -- "$CKV_LOG" prove --db "$DB" --index 2 --size 4
grep -q '"tree_size":4' "$T/out" || fail "prove --size 4: $(cat "$T/out")"

# ---- grow, publish, consistency proofs between every published pair
append_lines "$DB" line 1 600
expect 0 "publish 606" -- "$CKV_LOG" publish --db "$DB" --key "$KEY"
cp "$T/out" "$T/cp606"
append_lines "$DB" more 1 1000
"$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/cp1606" || fail "publish 1606"
for pair in "cp6 cp606" "cp6 cp1606" "cp606 cp1606" "cp1606 cp1606"; do
    set -- $pair
    o=$(sed -n 2p "$T/$1"); n=$(sed -n 2p "$T/$2")
    "$CKV_LOG" prove --db "$DB" --old "$o" --new "$n" >"$T/c" || fail "prove --old $o --new $n"
    "$PROOFCHECK" consistency "$VKEY" "$T/$1" "$T/$2" "$T/c" || fail "consistency $o -> $n"
done
ok "consistency proofs between published sizes verify"
"$CKV_LOG" prove --db "$DB" --old 6 --new 606 >"$T/c"
! "$PROOFCHECK" consistency "$VKEY" "$T/cp6" "$T/cp1606" "$T/c" 2>/dev/null || fail "wrong-size proof accepted"
ok "a consistency proof for other sizes is rejected"
"$CKV_LOG" prove --db "$DB" --index 700 >"$T/p"
"$PROOFCHECK" inclusion "$VKEY" "$T/cp1606" "$T/p" "more-95" || fail "inclusion of entry 700"
ok "inclusion proof in a multi-tile tree"

# ---- export and audit
expect 0 "export" -- "$CKV_LOG" export --db "$DB" "$T/www"
cmp -s "$T/www/checkpoint" "$T/cp1606" || fail "exported checkpoint differs"
for f in tile/0/000 tile/0/005 tile/0/006.p/70 tile/1/000.p/6 tile/entries/000 tile/entries/006.p/70; do
    [ -f "$T/www/$f" ] || fail "export lacks $f"
done
[ "$(stat -c %s "$T/www/tile/0/000")" = 8192 ] || fail "tile/0/000 size"
ok "export wrote full and partial tiles and bundles"
expect 0 "audit the export" -- "$CKV_AUDIT" --state "$T/state" --vkey "$VKEY" "$T/www"
grep -q "^ok: example.org/testlog size 1606" "$T/out" || fail "audit summary: $(cat "$T/out")"
echo "$VKEY" >"$T/vkey.txt"
expect 0 "audit with --vkey @file" -- "$CKV_AUDIT" --state "$T/state" --full --vkey "@$T/vkey.txt" "$T/www"
expect 0 "audit with --vkey path" -- "$CKV_AUDIT" --state "$T/state" --vkey "$T/vkey.txt" "$T/www"
expect 2 "audit with a missing vkey file" -- "$CKV_AUDIT" --vkey "@$T/none" "$T/www"
echo "ALL PASSED ($NCHECK checks)"
