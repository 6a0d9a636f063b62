#!/bin/bash
# dir_chain.sh: ckv-audit --directory on logs written with ckv-log from
# directory entries made by mkentries: a good directory passes with the
# right report; each broken chain (a rotation signed by another key, a
# second version 2, a skipped version, a second register, a leaf that is
# no entry) exits 1 with broken_chain evidence naming the leaf, which
# verify-evidence accepts as a proof (exit 0); a copy without inclusion
# proofs, with a swapped proof or a flipped signature bit is refused; and a
# server that changes a tile on a repeat fetch gets no false proof into the
# evidence (a 300-entry log, the break in its full first tile).
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

# A server that answers a repeat fetch of a level-0 tile differently (here
# tile 0, full, which holds the break at leaf 3: the first answer is right,
# later ones have leaf 200's hash altered) gets no false inclusion proof
# into the evidence: the proofs are checked against the signed root before
# they are written, so the entries go in without one.
mklog big_bad_rotation
cat >"$T/liar.py" <<'PY'
import http.server, sys
seen = {}
class H(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **k):
        super().__init__(*a, directory=sys.argv[2], **k)
    def do_GET(self):
        seen[self.path] = seen.get(self.path, 0) + 1
        if self.path.rstrip("/").endswith("/tile/0/000") and seen[self.path] > 1:
            data = bytearray(open(sys.argv[2] + "/tile/0/000", "rb").read())
            data[200 * 32] ^= 1
            self.send_response(200)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(bytes(data))
            return
        super().do_GET()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
for try in 1 2 3; do
    PORT=$(free_port)
    /usr/bin/python3 "$T/liar.py" "$PORT" "$T/big_bad_rotation.www" >"$T/http.log" 2>&1 &
    SERVER_PID=$!
    for i in $(seq 50); do
        curl -s -o /dev/null "http://127.0.0.1:$PORT/checkpoint" && break
        sleep 0.1
    done
    curl -s -o /dev/null "http://127.0.0.1:$PORT/checkpoint" && break
    stop_server
done
[ -n "$SERVER_PID" ] || fail "the lying http server did not start"
expect 1 "broken chain behind a tile that changes on a repeat fetch" -- \
    "$CKV_AUDIT" --state "$T/s.liar" --directory --vkey "$VKEY" "http://127.0.0.1:$PORT/"
grep -q "leaf 3" "$T/err" || fail "liar: the message does not name leaf 3: $(cat "$T/err")"
path=$(sed -n 's/.*evidence written to \(.*\)$/\1/p' "$T/err" | tail -1)
[ -f "$path" ] || fail "liar: no evidence file: $(cat "$T/err")"
/usr/bin/python3 - "$path" <<'PY' || fail "liar: the evidence carries an inclusion proof built from the altered tile"
import json, sys
e = json.load(open(sys.argv[1]))
assert e["kind"] == "broken_chain", e["kind"]
assert e["entries"], e
assert all("inclusion_proof" not in x for x in e["entries"]), e["entries"]
PY
ok "liar: the evidence names the entries, without proofs the server could falsify"
stop_server
echo "dir_chain: ok ($NCHECK checks)"
