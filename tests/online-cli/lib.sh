#!/bin/bash
# lib.sh: shared by the online `ckv` integration tests. Each test drives the
# real `ckv` and `ckvd` binaries: ckvd on 127.0.0.1 (--listen 127.0.0.1:0,
# the port read from its "serving ... on http://127.0.0.1:PORT" log line),
# its verifier key from DATA/log.vkey, profiles in a temporary
# XDG_DATA_HOME, the weak test KDF (CKV_KDF=min).
#   usage: source lib.sh CKV CKVD [CKV_AUDIT]
set -u
CKV=$1
CKVD=$2
CKV_AUDIT=${3:-}
T=$(mktemp -d /tmp/ckv-online-cli-XXXXXX)
export XDG_DATA_HOME=$T/xdg CKV_KDF=min CKV_PASSPHRASE="online cli test passphrase"
unset CKV_PROFILE CKV_MAX_AGE CKV_CA_FILE
mkdir -p "$XDG_DATA_HOME"
PORT=0
SRV_PID=
DATA=$T/srv

cleanup() {
    if [ -n "$SRV_PID" ]; then kill -9 "$SRV_PID" 2>/dev/null; wait "$SRV_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT

fail() {
    echo "FAIL: $*" >&2
    [ -f "$T/srv.log" ] && { echo "--- ckvd log (tail)" >&2; tail -20 "$T/srv.log" >&2; }
    exit 1
}

# start_ckvd: first start on a free port; later starts reuse the port (the
# profiles pinned the URL).
start_ckvd() {
    : > "$T/srv.log"
    "$CKVD" --listen "127.0.0.1:$PORT" --data "$DATA" --checkpoint-interval 50 \
        >/dev/null 2>"$T/srv.log" &
    SRV_PID=$!
    for _ in $(seq 1 400); do
        if grep -q "on http://127.0.0.1:" "$T/srv.log"; then
            PORT=$(sed -n 's/.*on http:\/\/127\.0\.0\.1:\([0-9]*\).*/\1/p' "$T/srv.log" | head -1)
            URL=http://127.0.0.1:$PORT
            VKEY=$(head -1 "$DATA/log.vkey")
            return 0
        fi
        kill -0 "$SRV_PID" 2>/dev/null || fail "ckvd exited at start: $(cat "$T/srv.log")"
        sleep 0.025
    done
    fail "ckvd did not start"
}

# await_size N: wait (10 s at most) until the published checkpoint covers N
# entries
await_size() {
    local i
    for i in $(seq 1 200); do
        [ "$(curl -s "$URL/checkpoint" | sed -n 2p)" -ge "$1" ] 2>/dev/null && return 0
        sleep 0.05
    done
    fail "the checkpoint did not reach size $1: $(curl -s "$URL/checkpoint")"
}

kill_ckvd() {  # kill_ckvd SIGNAL
    kill "-$1" "$SRV_PID"
    wait "$SRV_PID" 2>/dev/null
    SRV_PID=
}

# run PROFILE ARGS...: ckv with that profile; stdout in $T/out, stderr in
# $T/err, exit status in $RC.
run() {
    local prof=$1; shift
    "$CKV" --profile "$prof" "$@" >"$T/out" 2>"$T/err" </dev/null
    RC=$?
}
run_in() {  # run_in PROFILE INPUT ARGS...
    local prof=$1 input=$2; shift 2
    printf '%s' "$input" | "$CKV" --profile "$prof" "$@" >"$T/out" 2>"$T/err"
    RC=$?
}

ok() {  # ok PROFILE ARGS...: must succeed
    run "$@"
    [ "$RC" = 0 ] || fail "ckv --profile $* -> $RC: $(cat "$T/err")"
}

# fails PROFILE ARGS...: must fail by the contract: non-zero exit, nothing on
# stdout, exactly one line on stderr starting with "ckv: ".
fails() {
    run "$@"
    check_failed "$*"
}
check_failed() {
    [ "$RC" != 0 ] || fail "ckv $1 succeeded; expected a failure: $(cat "$T/out")"
    [ ! -s "$T/out" ] || fail "ckv $1 failed but printed on stdout: $(cat "$T/out")"
    [ "$(wc -l < "$T/err")" = 1 ] || fail "ckv $1: expected one line on stderr: $(cat "$T/err")"
    grep -q '^ckv: ' "$T/err" || fail "ckv $1: stderr does not start with 'ckv: ': $(cat "$T/err")"
}

has_out() { grep -qF -- "$1" "$T/out" || fail "stdout lacks '$1': $(cat "$T/out") / $(cat "$T/err")"; }
has_err() { grep -qF -- "$1" "$T/err" || fail "stderr lacks '$1': $(cat "$T/err")"; }

# new_user PROFILE ACCOUNT: an online profile, registered.
new_user() {
    ok "$1" init --name "$2" --server "$URL" --log-key "$VKEY"
    ok "$1" register
}

# recv_until PROFILE N: receive until N message lines have arrived in total
# (appended to $T/got.PROFILE; notes appended to $T/notes.PROFILE).
recv_until() {
    local prof=$1 want=$2 i
    touch "$T/got.$prof" "$T/notes.$prof"
    for i in $(seq 1 20); do
        [ "$(wc -l < "$T/got.$prof")" -ge "$want" ] && return 0
        ok "$prof" recv --wait 2
        cat "$T/out" >> "$T/got.$prof"
        cat "$T/err" >> "$T/notes.$prof"
    done
    [ "$(wc -l < "$T/got.$prof")" -ge "$want" ] || fail "$prof got $(wc -l < "$T/got.$prof") of $want messages: $(cat "$T/got.$prof")"
}
