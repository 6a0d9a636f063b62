#!/bin/bash
# witness.sh: `ckv` with witnesses, through a real ckvd that pushes its
# checkpoints to two real ckv-witness processes: init --witness/--quorum
# (and its refusals), register, chat, the log views column of `contacts`
# (gossip), and the freeze rule: when a witness stops, its last
# cosignature ages and `send --max-view-age` refuses while `recv` works.
#   usage: witness.sh CKV CKVD CKV_WITNESS
source "$(dirname "$0")/lib.sh" "$1" "$2"
CKVW=$3
W_PIDS=()
cleanup_w() {
    for p in "${W_PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    cleanup
}
trap cleanup_w EXIT

# start_witness N: ckv-witness on a free port; sets WURL_N and WKEY_N.
start_witness() {
    local n=$1 d=$T/w$1
    rm -rf "$d"
    {
        "$CKVW" --listen 127.0.0.1:0 --data "$d" --log "$VKEY" --name "w$n.test" \
            >/dev/null 2>"$T/w$n.log" &
        local pid=$!
        for _ in $(seq 1 200); do
            grep -q "on http://127.0.0.1:" "$T/w$n.log" && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.025
        done
        if grep -q "on http://127.0.0.1:" "$T/w$n.log"; then
            W_PIDS[$n]=$pid
            eval "WURL_$n=http://127.0.0.1:$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/w$n.log" | head -1)"
            eval "WKEY_$n=\$(head -1 \"$d/witness.vkey\")"
            return 0
        fi
    }
    fail "ckv-witness did not start: $(cat "$T/w$n.log")"
}

start_ckvd            # creates the log key
kill_ckvd TERM
start_witness 1
start_witness 2
echo "$WKEY_2" > "$T/w2.vkey"
: > "$T/srv.log"
"$CKVD" --listen "127.0.0.1:$PORT" --data "$DATA" --checkpoint-interval 50 \
    --witness "$WKEY_1,$WURL_1" --witness "$WKEY_2,$WURL_2" --witness-quorum 2 \
    --witness-refresh 1 >/dev/null 2>"$T/srv.log" &
SRV_PID=$!
for _ in $(seq 1 400); do grep -q "on http://127.0.0.1:" "$T/srv.log" && break; sleep 0.025; done
grep -q "on http://127.0.0.1:" "$T/srv.log" || fail "ckvd with witnesses did not start"

# ---- init: the refusals leave no profile behind
fails x init --name xavier --server "$URL" --log-key "$VKEY" --witness "$VKEY"
[ "$RC" = 2 ] || fail "a log key as witness: exit $RC"
has_err "--witness"
fails x init --name xavier --server "$URL" --log-key "$VKEY" --witness "$WKEY_1" \
    --witness "$WKEY_2" --quorum 3
has_err "--quorum 3"
fails x init --name xavier --server "$URL" --log-key "$VKEY" --witness "$WKEY_1" --quorum 0
fails x init --name xavier --server "$URL" --log-key "$VKEY" --quorum 1
has_err "needs at least one --witness"
fails x init --name xavier --witness "$WKEY_1"
has_err "needs --server"
fails x init --name xavier --server "$URL" --log-key "$VKEY" --witness "$WKEY_1" \
    --witness "$WKEY_1"
[ ! -e "$XDG_DATA_HOME/ckv/x" ] || fail "a refused init left a profile behind"

ok alice init --name alice --server "$URL" --log-key "$VKEY" --witness "$WKEY_1" \
    --witness "@$T/w2.vkey"
has_err "2 of 2 pinned witnesses"
ok bob init --name bob --server "$URL" --log-key "$VKEY" --witness "$WKEY_1" \
    --witness "$WKEY_2" --quorum 2
ok alice register
ok bob register

# ---- chat; gossip makes the log views agree
ok alice send bob "witnessed hello"
recv_until bob 1
grep -qx "alice: witnessed hello" "$T/got.bob" || fail "bob got: $(cat "$T/got.bob")"
ok bob contacts
grep -qP '^alice\t.*\tagree$' "$T/out" || fail "bob's contacts: $(cat "$T/out")"
has_err "witnesses: 2 of 2"
ok bob send alice "queued for alice"

# ---- freeze: witness 2 stops; its cosignature on what ckvd serves ages
kill "${W_PIDS[2]}"; wait "${W_PIDS[2]}" 2>/dev/null; W_PIDS[2]=
sleep 6
fails alice send bob "late" --max-view-age 3
has_err "freezing"
grep -q "KT_VIEW_FROZEN\|freezing our view" "$T/err" || fail "freeze message: $(cat "$T/err")"
# receiving still works
recv_until alice 1
grep -qx "bob: queued for alice" "$T/got.alice" || fail "alice got: $(cat "$T/got.alice")"
# a generous max view age still sends
ok alice send bob "patient" --max-view-age 3600
echo "PASS witness.sh"
