#!/bin/bash
# crash.sh: kill -9 of ckv-log during large appends and during publish,
# ITER (20) times each, with delays calibrated on this machine (a share of
# a measured whole append / publish, so that kills land before, inside and
# after the commit also under ASan or load). Every checkpoint a publish
# printed before a kill is recorded. After every kill the log must reopen,
# its latest checkpoint must verify, its size must be at least the largest
# recorded one, and it must be consistent with every recorded checkpoint:
# the recorded checkpoints form a chain (each one is proved consistent with
# the previous largest when it is recorded, `ckv-log prove --old --new`
# verified by proofcheck against both signed roots), so a verified proof
# from the largest recorded to the current checkpoint covers them all
# (consistency is transitive). At the end the exported survivor is audited
# by ckv-audit once per recorded checkpoint (each seeded as "accepted
# before": a direct consistency check with every one) and with --full.
source "$(dirname "$0")/lib.sh" "$@"
ITER=${CKV_CRASH_ITER:-20}
DB=$T/log.db
KEY=$T/log.key
VKEY=$("$CKV_LOG" init --db "$DB" --origin crash.example/log --key "$KEY") || fail init
seq -f "crash-entry-%g" 1 5000 >"$T/input"
declare -A REC   # size -> checkpoint file (one per size: a log signs one root per size)
declare -A PAIR  # "old:new" -> 1 once that consistency proof was produced and verified
pairs=0
MAXSIZE=0
kills=0

# prove_pair OLD_SIZE NEW_FILE: ckv-log proves OLD_SIZE -> NEW_FILE's size
# and proofcheck verifies it against both signed checkpoints (once a pair)
prove_pair() {
    local old=$1 newf=$2 new
    new=$(sed -n 2p "$newf")
    [ -n "${PAIR[$old:$new]:-}" ] && return 0
    "$CKV_LOG" prove --db "$DB" --old "$old" --new "$new" >"$T/proof" 2>"$T/err" ||
        fail "prove --old $old --new $new after kill $kills: $(cat "$T/err")"
    "$PROOFCHECK" consistency "$VKEY" "${REC[$old]}" "$newf" "$T/proof" ||
        fail "after kill $kills: size $new is not consistent with published size $old"
    PAIR[$old:$new]=1
    pairs=$((pairs + 1))
}

record() { # FILE [verified]: a checkpoint a publish printed
    local size
    size=$(sed -n 2p "$1")
    # the same bytes as a recorded checkpoint: nothing new to learn
    [ -n "${REC[$size]:-}" ] && cmp -s "$1" "${REC[$size]}" && return 0
    [ "${2:-}" = verified ] || "$PROOFCHECK" checkpoint "$VKEY" "$1" >/dev/null ||
        fail "a published checkpoint does not verify"
    if [ -n "${REC[$size]:-}" ]; then
        [ "$("$PROOFCHECK" checkpoint "$VKEY" "$1")" = "$("$PROOFCHECK" checkpoint "$VKEY" "${REC[$size]}")" ] ||
            fail "two checkpoints of size $size with different roots"
        return 0
    fi
    [ "$size" -ge "$MAXSIZE" ] || fail "published size $size is below the published $MAXSIZE"
    cp "$1" "$T/rec.$size"
    [ "$MAXSIZE" -ge 0 ] && [ -n "${REC[$MAXSIZE]:-}" ] && prove_pair "$MAXSIZE" "$T/rec.$size"
    REC[$size]=$T/rec.$size
    MAXSIZE=$size
    return 0
}

check_reopen() { # after a kill
    "$CKV_LOG" checkpoint --db "$DB" >"$T/cur" 2>"$T/err" || fail "reopen after kill $kills: $(cat "$T/err")"
    # verify each distinct checkpoint once (same bytes, same verdict)
    if ! cmp -s "$T/cur" "$T/cur.verified"; then
        "$PROOFCHECK" checkpoint "$VKEY" "$T/cur" >/dev/null || fail "checkpoint after kill $kills does not verify"
        cp "$T/cur" "$T/cur.verified"
    fi
    local cur
    cur=$(sed -n 2p "$T/cur")
    [ "$cur" -ge "$MAXSIZE" ] || fail "after kill $kills the checkpoint size $cur < published $MAXSIZE"
    prove_pair "$MAXSIZE" "$T/cur"
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }
secs() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }

"$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/pub" || fail "first publish (size 0)"
record "$T/pub"
# calibrate the kill delays on this machine (ASan, load): one whole append
# of the input and one whole publish
t0=$(now_ms)
"$CKV_LOG" append --db "$DB" <"$T/input" >/dev/null || fail "calibration append"
t1=$(now_ms)
"$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/pub" || fail "calibration publish"
t2=$(now_ms)
record "$T/pub"
APPEND_MS=$((t1 - t0 > 20 ? t1 - t0 : 20))
PUBLISH_MS=$((t2 - t1 > 10 ? t2 - t1 : 10))
echo "# append of $(wc -l <"$T/input") lines: ${APPEND_MS} ms; publish: ${PUBLISH_MS} ms"
in_publish=0
for i in $(seq 1 "$ITER"); do
    # 1. a large append, killed at 5%..95% of its calibrated duration
    d=$((APPEND_MS * (5 + RANDOM % 91) / 100))
    "$CKV_LOG" append --db "$DB" <"$T/input" >/dev/null 2>"$T/aerr" &
    pid=$!
    sleep "$(secs $d)"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    kills=$((kills + 1))
    check_reopen
    # 2. a publish, killed at 0%..90% of its calibrated duration (before,
    #    while or just after it signs)
    d=$((PUBLISH_MS * (RANDOM % 91) / 100))
    "$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/pub" 2>"$T/perr" &
    pid=$!
    sleep "$(secs $d)"
    kill -9 "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    rc=$?
    kills=$((kills + 1))
    # a checkpoint printed whole is published, even if the kill came
    # before exit; a half-printed one does not verify and was not seen
    if [ -s "$T/pub" ] && "$PROOFCHECK" checkpoint "$VKEY" "$T/pub" >/dev/null 2>&1; then
        record "$T/pub" verified
    else
        [ "$rc" != 0 ] || fail "publish exited 0 without a valid checkpoint"
        in_publish=$((in_publish + 1))
    fi
    check_reopen
    # the current checkpoint was published too (and verified by check_reopen)
    record "$T/cur" verified
    # every fourth round a publish that completes, so that there are many
    # checkpoints to stay consistent with
    if [ $((i % 4)) = 0 ]; then
        "$CKV_LOG" publish --db "$DB" --key "$KEY" >"$T/pub" || fail "publish after kill $kills"
        record "$T/pub"
    fi
done
echo "# kill rounds done at $(($(now_ms) - t0)) ms"
ok "$kills kills ($ITER during append, $ITER during publish of which $in_publish before it printed); ${#REC[@]} checkpoints recorded; every reopen verified, not smaller, and consistent ($pairs consistency proofs verified)"

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
echo "# audits done at $(($(now_ms) - t0)) ms"
ok "ckv-audit passes against each of the ${#REC[@]} recorded checkpoints"
"$CKV_AUDIT" --quiet --full --state "$T/fullstate" --vkey "$VKEY" "$T/www" || fail "full audit"
ok "full audit of the survivor ($(sed -n 2p "$T/final") entries)"
echo "ALL PASSED ($NCHECK checks)"
