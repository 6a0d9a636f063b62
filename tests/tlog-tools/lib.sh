# lib.sh: helpers for the ckv-log / ckv-audit integration tests (sourced).
# Usage in a test: source lib.sh "$CKV_LOG" "$CKV_AUDIT" "$PROOFCHECK"
set -u
CKV_LOG=$1
CKV_AUDIT=$2
PROOFCHECK=$3
T=$(mktemp -d "${TMPDIR:-/tmp}/ckv-tlog-tools.XXXXXX")
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; fi
    rm -rf "$T"
}
trap cleanup EXIT
NCHECK=0
fail() {
    echo "FAIL: $*" >&2
    if [ -s "$T/http.log" ]; then echo "--- http server log (tail):" >&2; tail -5 "$T/http.log" >&2; fi
    exit 1
}
ok() { NCHECK=$((NCHECK + 1)); echo "ok $NCHECK - $*"; }

# expect CODE DESCRIPTION -- CMD...: run CMD, its stderr into $T/err, stdout $T/out
expect() {
    local want=$1 what=$2; shift 3
    "$@" >"$T/out" 2>"$T/err"
    local got=$?
    if [ "$got" != "$want" ]; then
        echo "--- stdout:" >&2; cat "$T/out" >&2; echo "--- stderr:" >&2; cat "$T/err" >&2
        fail "$what: exit $got, expected $want ($*)"
    fi
    ok "$what (exit $want)"
}

# The evidence file named on stderr must exist and be of kind $1
# (ckv-evidence/1, docs/evidence.md); `ckv-audit verify-evidence` must say
# it proves the misbehaviour (exit 0) for the kinds that carry a proof
# (fork, rollback, broken_chain), and "not proven" (exit 1) for the tile
# kinds, which the auditor only reports. $EVIDENCE is set to its path.
expect_evidence() {
    local kind=$1 path
    path=$(sed -n 's/.*evidence written to \(.*\)$/\1/p' "$T/err" | tail -1)
    [ -n "$path" ] || fail "no evidence path on stderr: $(cat "$T/err")"
    [ -f "$path" ] || fail "evidence file $path does not exist"
    [ "$(wc -l <"$T/err")" -eq 1 ] || fail "stderr is not one line: $(cat "$T/err")"
    [ "$(stat -c %a "$path")" = 600 ] || fail "evidence $path is not mode 0600"
    /usr/bin/python3 - "$path" "$kind" <<'PY' || fail "evidence $path is not valid $kind evidence"
import json, sys, base64
e = json.load(open(sys.argv[1]))
assert e["format"] == "ckv-evidence/1", e
assert e["kind"] == sys.argv[2], (e["kind"], sys.argv[2])
assert e["summary"] and e["log"]["verifier_key"] and e["log"]["source"]
assert e["reporter"] == "ckv-audit"
for n in e["checkpoints"]:
    raw = base64.b64decode(n["base64"], validate=True)
    if "text" in n:
        assert n["text"].encode() == raw
if e["kind"] in ("fork", "rollback"):
    roles = [n["role"] for n in e["checkpoints"]]
    assert roles == ["accepted_before", "served_now"], roles
if e["kind"] in ("bad_tile", "bad_bundle"):
    o = e["object"]
    assert o["path"].startswith("tile/"), o
    assert len(base64.b64decode(o["base64"])) == o["length"]
PY
    local want=1
    case $kind in fork|rollback|broken_chain) want=0 ;; esac
    "$CKV_AUDIT" verify-evidence "$path" >"$T/verify.out" 2>&1
    local got=$?
    [ "$got" = "$want" ] || { cat "$T/verify.out" >&2; fail "verify-evidence $kind: exit $got, expected $want"; }
    EVIDENCE=$path
    ok "evidence $kind in $path (verify-evidence exit $want)"
}

# verify_tampered FILE PYTHON: apply the python edit (e is the evidence
# object) to a copy of FILE; verify-evidence must then exit $3 (default 1).
verify_tampered() {
    local src=$1 edit=$2 want=${3:-1}
    /usr/bin/python3 - "$src" "$T/tampered.json" "$edit" <<'PY' || fail "cannot tamper $src"
import json, sys, base64
e = json.load(open(sys.argv[1]))
exec(sys.argv[3])
json.dump(e, open(sys.argv[2], "w"), indent=2)
PY
    "$CKV_AUDIT" verify-evidence "$T/tampered.json" >"$T/verify.out" 2>&1
    local got=$?
    [ "$got" = "$want" ] || { cat "$T/verify.out" >&2; fail "tampered evidence ($edit): exit $got, expected $want"; }
    ok "tampered evidence refused (exit $want): $(echo $edit)"
}

free_port() {
    /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# serve DIR over http on 127.0.0.1; sets PORT and SERVER_PID. A free port
# can be taken by someone else before the server binds it: try another.
serve() {
    local attempt
    for attempt in 1 2 3; do
        PORT=$(free_port)
        /usr/bin/python3 -m http.server --bind 127.0.0.1 --directory "$1" "$PORT" >"$T/http.log" 2>&1 &
        SERVER_PID=$!
        # generous: python starts slowly on a loaded machine
        for _ in $(seq 1 300); do
            if curl -s -o /dev/null "http://127.0.0.1:$PORT/checkpoint"; then return 0; fi
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=
    done
    fail "http server did not start (3 ports tried)"
}

stop_server() {
    kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; SERVER_PID=
}

# append N numbered lines "PREFIX-i" (from FROM) to DB
append_lines() {
    local db=$1 prefix=$2 from=$3 to=$4
    seq "$from" "$to" | sed "s/^/$prefix-/" | "$CKV_LOG" append --db "$db" >/dev/null ||
        fail "append $prefix $from..$to"
}
