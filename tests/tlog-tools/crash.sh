#!/bin/bash
# crash.sh: kill -9 of ckv-log during large appends and during publish,
# ITER times with varied delays. Every checkpoint a publish printed before
# a kill is recorded. After every kill the log must reopen, its latest
# checkpoint must verify, its size must be at least the largest recorded
# one, and it must be consistent with every recorded checkpoint (ckv-log
# prove --old --new, verified independently by proofcheck). At the end the
# exported log is audited by ckv-audit with --full, once per recorded
# checkpoint as the "accepted before" state.
source "$(dirname "$0")/lib.sh" "$@"
ITER=${CKV_CRASH_ITER:-24}
DB=$T/log.db
KEY=$T/log.key
VKEY=$("$CKV_LOG" init --db "$DB" --origin crash.example/log --key "$KEY") || fail init
seq -f "crash-entry-%g" 1 40000 >"$T/input"
declare -A REC   # size -> checkpoint file (one per size: a log signs one root per size)
MAXSIZE=0
kills=0

record() { # FILE: a checkpoint a publish printed
    local size
    size=$(sed -n 2p "$1")
    "$PROOFCHECK" checkpoint "$VKEY" "$1" >/dev/null || fail "a published checkpoint does not verify"
    if [ -n "${REC[$size]:-}" ]; then
        cmp -s "$1" "${REC[$size]}" || {
            # same size, must be the same root
            [ "$("$PROOFCHECK" checkpoint "$VKEY" "$1")" = "$("$PROOFCHECK" checkpoint "$VKEY" "${REC[$size]}")" ] ||
                fail "two checkpoints of size $size with different roots"
        }
        return
    fi
    cp "$1" "$T/rec.$size"
    REC[$size]=$T/rec.$size
    [ "$size" -gt "$MAXSIZE" ] && MAXSIZE=$size
    return 0
}

check_reopen() { # after a kill
    "$CKV_LOG" checkpoint --db "$DB" >"$T/cur" 2>"$T/err" || fail "reopen after kill $kills: $(cat "$T/err")"
    "$PROOFCHECK" checkpoint "$VKEY" "$T/cur" >/dev/null || fail "checkpoint after kill $kills does not verify"
    local cur
    cur=$(sed -n 2p "$T/cur")
    [ "$cur" -ge "$MAXSIZE" ] || fail "after kill $kills the checkpoint size $cur < published $MAXSIZE"
    # the database's tree may be larger than its checkpoint (appends after it)
    local tree
    tree=$("$CKV_LOG" append --db "$DB" </dev/null | sed -n 's/.*tree size \([0-9]*\).*/\1/p')
    [ -n "$tree" ] && [ "$tree" -ge "$cur" ] || fail "tree size '$tree' below checkpoint $cur"
    for size in "${!REC[@]}"; do
        "$CKV_LOG" prove --db "$DB" --old "$size" --new "$cur" >"$T/proof" 2>"$T/err" ||
            fail "prove --old $size --new $cur after kill $kills: $(cat "$T/err")"
        "$PROOFCHECK" consistency "$VKEY" "${REC[$size]}" "$T/cur" "$T/proof" ||
            fail "after kill $kills: not consistent with published size $size"
    done
}

for i in $(seq 1 "$ITER"); do
    # 1. a large append, killed after 5..300 ms
    d=$(printf '0.%03d' $((5 + RANDOM % 295)))
    "$CKV_LOG" append --db "$DB" <"$T/input" >/dev/null 2>"$T/aerr" &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    check_reopen
    # 2. a publish, killed after 0..15 ms (sometimes before, sometimes after it signed)
    d=$(printf '0.%03d' $((RANDOM % 16)))
    "$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/pub" 2>"$T/perr" &
    pid=$!
    sleep "$d"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    kills=$((kills + 1))
    if [ "$rc" = 0 ] && [ -s "$T/pub" ]; then record "$T/pub"; fi
    check_reopen
    # the current checkpoint was published too: record it
    record "$T/cur"
done
ok "$kills kills ($ITER during append, $ITER during publish); ${#REC[@]} checkpoints recorded; every reopen verified and consistent"

# the survivor as tiles, audited against every recorded checkpoint
"$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/final" || fail "final publish"
"$CKV_LOG" export --db "$DB" "$T/www" >/dev/null || fail export
for size in "${!REC[@]}"; do
    st=$T/state.$size
    mkdir -p "$st"
    # seed the state (<DIR>/<origin with / as _>-<key hash>/checkpoint, see
    # docs/transparency-log-tools.md) with the recorded checkpoint, then audit
    kid=${VKEY#*+}; kid=${kid%%+*}
    sub=$st/crash.example_log-$kid
    mkdir -p "$sub"
    cp "${REC[$size]}" "$sub/checkpoint"
    "$CKV_AUDIT" --quiet --state "$st" --vkey "$VKEY" "$T/www" || fail "audit against recorded size $size"
done
ok "ckv-audit passes against each of the ${#REC[@]} recorded checkpoints"
"$CKV_AUDIT" --quiet --full --state "$T/fullstate" --vkey "$VKEY" "$T/www" || fail "full audit"
ok "full audit of the survivor ($(sed -n 2p "$T/final") entries)"
echo "ALL PASSED ($NCHECK checks)"
