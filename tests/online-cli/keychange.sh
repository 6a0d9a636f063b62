#!/bin/bash
# keychange.sh: key changes through the online commands. A rotation (signed
# by the old key) and a reset (from a new profile, without it) are seen by
# the contact as a key change; for a contact who verified the key, sending
# is blocked until `ckv accept` or `ckv verify`; a contact who had not
# verified is told but not blocked. `ckv monitor` is quiet for our own
# rotation and raises the alarm (exit 3, one line) for the reset made by
# someone else under our name, until `--acknowledge` of that entry; the
# device that made the reset counts the entries before it as earlier
# history, not as an alarm.
source "$(dirname "$0")/lib.sh" "$@"
start_ckvd
new_user alice alice
new_user bob bob
new_user carol carol

ok alice send bob "before"
recv_until bob 1
ok carol send alice "hi from carol"
recv_until alice 1
ok bob verify alice
ok bob contacts
grep -q "^alice	verified" "$T/out" || fail "bob's contacts: $(cat "$T/out")"
ok alice monitor
has_out "foreign-entries: 0"
has_out "own-entries: 1"

# ---- rotation
ok alice lookup alice
OLDKEY=$(sed -n 's/^key: //p' "$T/out")
ok alice rotate
grep -Eq '^public-code: ([0-9]{5} ){5}[0-9]{5}$' "$T/out" || fail "rotate output: $(cat "$T/out")"
ok alice monitor
has_out "foreign-entries: 0"
has_out "own-entries: 2"
ok bob lookup alice
has_out "version: 2"
has_out "type: rotate"
grep -q "^key: $OLDKEY" "$T/out" && fail "the lookup still shows the old key"
sleep 2
# bob verified alice: blocked, with the way out in the sentence
fails bob send alice --max-age 1 "to the new key?"
has_err "ckv verify alice"
has_err "ckv accept alice"
ok bob contacts
grep -q "^alice	changed" "$T/out" || fail "bob's contacts after rotation: $(cat "$T/out")"
# carol had not verified alice: told, not blocked
ok carol send alice --max-age 1 "carol after rotation"
has_err "alice's identity key changed"
ok bob accept alice
ok bob send alice "accepted"
recv_until alice 3
grep -qx "bob: accepted" "$T/got.alice" || fail "alice got: $(cat "$T/got.alice")"
grep -qx "carol: carol after rotation" "$T/got.alice" || fail "alice got: $(cat "$T/got.alice")"
ok alice send bob "after rotate"
recv_until bob 2
grep -qx "alice: after rotate" "$T/got.bob" || fail "bob got: $(cat "$T/got.bob")"

# ---- reset from another device: the name is taken, a reset is allowed
ok bob verify alice
ok mallory init --name alice --server "$URL" --log-key "$VKEY"
fails mallory register
has_err "registered already"
ok mallory reset
grep -q '^public-code: ' "$T/out" || fail "reset output: $(cat "$T/out")"
# the real alice's monitor sees an entry under her name she did not make
fails alice monitor
[ "$RC" = 3 ] || fail "monitor alarm: exit $RC"
has_err "ALARM"
has_err "'alice'"
# the new device's own monitor: the older entries are the history its
# reset replaced, no alarm
ok mallory monitor
has_out "earlier-entries: 2"
has_out "foreign-entries: 0"
sleep 2
fails bob send alice --max-age 1 "to the reset key?"
has_err "ckv verify alice"
ok bob lookup alice
has_out "type: reset"
has_out "version: 3"
ok bob verify alice
ok bob send alice "after reset"
recv_until mallory 1
grep -qx "bob: after reset" "$T/got.mallory" || fail "mallory got: $(cat "$T/got.mallory")"

# ---- acknowledging the alarm: only the latest foreign entry, for good,
# until another one appears
fails alice monitor
[ "$RC" = 3 ] || fail "monitor alarm again: exit $RC"
LEAF=$(sed -n 's/.*--acknowledge \([0-9]*\)`.*/\1/p' "$T/err")
[ -n "$LEAF" ] || fail "the alarm does not say how to acknowledge: $(cat "$T/err")"
fails alice monitor --acknowledge $((LEAF - 1))
[ "$RC" = 1 ] || fail "acknowledge of an older leaf: exit $RC"
has_err "leaf $LEAF"
fails alice monitor --acknowledge nine
[ "$RC" = 2 ] || fail "acknowledge nine: exit $RC"
ok alice monitor --acknowledge "$LEAF"
has_out "foreign-acknowledged: 1"
has_out "last-foreign-leaf: $LEAF"
ok alice monitor
has_out "foreign-entries: 1"
ok mallory rotate
fails alice monitor
[ "$RC" = 3 ] || fail "a new foreign entry after the acknowledgement: exit $RC"
has_err "1 such entry not acknowledged"
echo "keychange: ok"
