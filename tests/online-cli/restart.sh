#!/bin/bash
# restart.sh: ckvd is killed with -9 and restarted (same data, same port)
# in the middle of a conversation: every message whose send was answered
# arrives, exactly once, and nothing already received comes again.
source "$(dirname "$0")/lib.sh" "$@"
start_ckvd
new_user alice alice
new_user bob bob

# a first exchange, received and acknowledged
for i in 1 2 3; do ok alice send bob "a$i"; done
recv_until bob 3

# more messages queued, then the server dies without a chance to flush
for i in 4 5 6; do ok alice send bob "a$i"; done
ok bob send alice "b1"
kill_ckvd 9
# refused while down: the error says the message is kept in the outbox,
# and it goes out (once) with the next send
fails alice send bob "a-kept"
has_err "outbox"
start_ckvd
ok alice send bob "a7"
recv_until bob 8
recv_until alice 1

# once more: kill right after bob's sends were answered, restart, receive
ok bob send alice "b2"
ok bob send alice "b3"
kill_ckvd 9
start_ckvd
recv_until alice 3
# a receive after a restart delivers nothing twice
kill_ckvd 9
start_ckvd
ok bob recv --wait 1
cat "$T/out" >> "$T/got.bob"
ok alice recv --wait 1
cat "$T/out" >> "$T/got.alice"

printf 'alice: a%s\n' 1 2 3 4 5 6 -kept 7 > "$T/want.bob"
printf 'bob: b%s\n' 1 2 3 > "$T/want.alice"
diff "$T/want.bob" "$T/got.bob" || fail "bob's messages differ (lost, doubled or reordered)"
diff "$T/want.alice" "$T/got.alice" || fail "alice's messages differ (lost, doubled or reordered)"
grep -q "did not arrive" "$T/notes.bob" "$T/notes.alice" && fail "a gap was reported: $(cat "$T/notes.bob" "$T/notes.alice")"
echo "restart: ok"
