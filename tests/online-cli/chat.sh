#!/bin/bash
# chat.sh: two accounts chat both ways through a real ckvd with the online
# `ckv` commands: init (key given inline and as @FILE), register, lookup
# (the checked entry), send (adding the contact from the directory; TEXT
# and stdin), recv (SENDER: TEXT lines, receipts on stderr), and the error
# contract (one line on stderr, nothing on stdout, non-zero exit).
source "$(dirname "$0")/lib.sh" "$@"
start_ckvd

# ---- init: pinning, and its refusals (no profile is left behind)
fails x init --name xavier --server "$URL"
[ "$RC" = 2 ] || fail "init without --log-key: exit $RC"
fails x init --name xavier --server "$URL" --log-key "not+a+key"
has_err "--log-key"
fails x init --name xavier --server "ftp://127.0.0.1:1" --log-key "$VKEY"
[ ! -e "$XDG_DATA_HOME/ckv/x" ] || fail "a refused init left a profile behind"
fails x init --name xavier --server "$URL" --log-key "@$T/missing.vkey"

ok alice init --name Alice --server "$URL" --log-key "$VKEY"
ok bob init --name bob --server "$URL/" --log-key "@$DATA/log.vkey"
ok offline init --name carol
fails offline register
has_err "has no server"

# ---- register, lookup
fails alice lookup bob          # bob is not registered yet
ok alice register
has_err "'alice' is registered"
ok alice register               # again: re-uploads prekeys only
ok bob register
ok alice lookup bob
has_out "name: bob"
has_out "version: 1"
has_out "type: register"
grep -Eq '^key: 05[0-9a-f]{64}$' "$T/out" || fail "lookup key: $(cat "$T/out")"
grep -Eq '^fingerprint: ([0-9]{5} ){5}[0-9]{5}$' "$T/out" || fail "lookup fingerprint: $(cat "$T/out")"
grep -Eq '^leaf-index: [0-9]+$' "$T/out" || fail "lookup leaf: $(cat "$T/out")"
grep -Eq '^checkpoint-size: [1-9][0-9]*$' "$T/out" || fail "lookup size: $(cat "$T/out")"
# bob's public code, as bob computes it, is the fingerprint alice printed
FP=$(sed -n 's/^fingerprint: //p' "$T/out")
ok bob code --mine
grep -qF "$FP" "$T/out" || fail "lookup fingerprint $FP differs from bob's code $(cat "$T/out")"
fails alice lookup nobody
fails alice lookup 'Bad Name!'
[ "$RC" = 2 ] || fail "bad name: exit $RC"

# ---- chat both ways
ok alice send bob "hello bob"
has_err "sent message 1"
has_err "added contact"
ok bob recv --wait 10
[ "$(cat "$T/out")" = "alice: hello bob" ] || fail "bob got: $(cat "$T/out")"
run_in bob "hi alice, from stdin" send alice
[ "$RC" = 0 ] || fail "send from stdin: $(cat "$T/err")"
ok alice recv --wait 10
grep -qx "bob: hi alice, from stdin" "$T/out" || fail "alice got: $(cat "$T/out")"
ok alice send bob second message with   several words
ok bob recv --wait 10
grep -qx "alice: second message with several words" "$T/out" || fail "bob got: $(cat "$T/out")"
ok alice send bob -- -5 degrees
ok bob recv --wait 10
grep -qx "alice: -5 degrees" "$T/out" || fail "bob got: $(cat "$T/out")"
# end-to-end receipts come back as notes
: > "$T/notes.alice"
for _ in 1 2 3 4 5; do
    ok alice recv --wait 2
    [ ! -s "$T/out" ] || fail "alice got an unexpected message: $(cat "$T/out")"
    cat "$T/err" >> "$T/notes.alice"
    grep -q "bob received message 3" "$T/notes.alice" && break
done
grep -q "bob received message 3" "$T/notes.alice" || fail "no receipt: $(cat "$T/notes.alice")"
# a terminal escape from a sender is not passed through
ok alice send bob $'esc \033[31m red'
ok bob recv --wait 10
grep -qF 'alice: esc ?[31m red' "$T/out" || fail "control characters: $(od -c "$T/out")"
# nor a C1 control in UTF-8 (CSI, OSC, ST: xterm acts on them) or a
# right-to-left override; other UTF-8 (an accent, CJK) is kept
ok alice send bob "$(printf 'A\xc2\x9b2J\xc2\x9d0;x\xc2\x9c B\xe2\x80\xae r \xc3\xa9\xe4\xb8\xad')"
ok bob recv --wait 10
grep -qF "alice: A?2J?0;x? B? r $(printf '\xc3\xa9\xe4\xb8\xad')" "$T/out" || fail "C1 or bidi: $(od -c "$T/out")"
# nothing queued: recv prints nothing and succeeds
ok bob recv
[ ! -s "$T/out" ] || fail "empty recv printed: $(cat "$T/out")"

fails alice send alice "to myself"
has_err "own account"
fails alice add alice
printf '\xff\xfe' > "$T/bad"
"$CKV" --profile alice send bob < "$T/bad" > "$T/out" 2> "$T/err"; RC=$?
check_failed "send bob < invalid UTF-8"
has_err "UTF-8"

# text over ckvd's envelope limit is refused before anything is queued, and
# the conversation goes on
head -c 40000 /dev/zero | tr '\0' a > "$T/big"
"$CKV" --profile alice send bob < "$T/big" > "$T/out" 2> "$T/err"; RC=$?
check_failed "send bob < 40000 bytes"
has_err "32768"
head -c 30000 /dev/zero | tr '\0' b > "$T/max"
"$CKV" --profile alice send bob < "$T/max" > "$T/out" 2> "$T/err" || fail "30000 bytes: $(cat "$T/err")"
ok alice send bob "after the big ones"
ok bob recv --wait 10
[ "$(grep -c '^alice: ' "$T/out")" = 2 ] || fail "bob got: $(cut -c1-80 "$T/out")"
grep -qx "alice: after the big ones" "$T/out" || fail "bob got: $(cut -c1-80 "$T/out")"

# ---- usage errors and --help
for c in register send recv lookup add monitor rotate reset; do
    ok alice "$c" --help
    grep -q "^usage: ckv" "$T/out" || fail "$c --help: $(cat "$T/out")"
done
fails alice recv --wait -1
[ "$RC" = 2 ] || fail "recv --wait -1: exit $RC"
fails alice send
fails alice send bob --max-age 0 x
fails alice lookup
fails alice send bob ""
[ "$RC" = 2 ] || fail "an empty message: exit $RC"
grep -q "the message is empty" "$T/err" || fail "empty message: $(cat "$T/err")"
fails alice send bob < /dev/null
[ "$RC" = 2 ] || fail "an empty message on stdin: exit $RC"
fails alice verify bob --code 123
[ "$RC" = 2 ] || fail "a malformed --code: exit $RC"

# ---- the server is gone: one line that says so
kill_ckvd TERM
fails alice send bob "into the void"
fails alice recv
echo "chat: ok"
