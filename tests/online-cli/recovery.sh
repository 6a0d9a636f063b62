#!/bin/bash
# recovery.sh: recovery codes through the online commands. An account
# registered with --new-recovery-code prints its code once; a reset from
# another profile without the code, or with a wrong or malformed one, is
# refused with one line that says what to give, and logs nothing; with the
# code it goes through (and the old device's monitor raises the alarm, as
# for any foreign reset). A rotation can set a new code, which replaces the
# old one. An account without a code can still be reset by anyone (public
# in the log): the default is unchanged.
source "$(dirname "$0")/lib.sh" "$@"
start_ckvd

code_of() { sed -n 's/^recovery-code: //p' "$T/out"; }

ok alice init --name alice --server "$URL" --log-key "$VKEY"
ok alice register --new-recovery-code
CODE=$(code_of)
echo "$CODE" | grep -Eq '^([0-9a-f]{4}-){7}[0-9a-f]{4}$' || fail "recovery code: '$CODE'"
has_err "keep it offline"
# registered already: a code can no longer be set by register
fails alice register --new-recovery-code
has_err "rotate --new-recovery-code"

ok mallory init --name alice --server "$URL" --log-key "$VKEY"
fails mallory reset
has_err "recovery code"
has_err "--recovery-code"
fails mallory reset --recovery-code 0000-0000-0000-0000-0000-0000-0000-0000
has_err "the one given is wrong"
fails mallory reset --recovery-code nonsense
has_err "32 hex digits"
fails mallory reset --recovery-code
[ "$RC" = 2 ] || fail "reset --recovery-code without a value: exit $RC"
# nothing was logged by the refused resets
ok alice monitor
has_out "foreign-entries: 0"
has_out "own-entries: 1"

# the owner, on a new device, with the code (upper case, from stdin)
ok alice2 init --name alice --server "$URL" --log-key "$VKEY"
run_in alice2 "$(echo "$CODE" | tr a-f A-F)
" reset --recovery-code -
[ "$RC" = 0 ] || fail "reset with the code: $RC: $(cat "$T/err")"
has_out "public-code: "
fails alice monitor
[ "$RC" = 3 ] || fail "the old device's monitor after the reset: exit $RC"

# a rotation with a new code: the old code no longer resets
ok alice2 rotate --new-recovery-code
CODE2=$(code_of)
[ -n "$CODE2" ] && [ "$CODE2" != "$CODE" ] || fail "new code: '$CODE2' (old '$CODE')"
ok alice3 init --name alice --server "$URL" --log-key "$VKEY"
fails alice3 reset --recovery-code "$CODE"
has_err "the one given is wrong"
ok alice3 reset --recovery-code "$CODE2"

# without a code the account is open to a reset by anyone (logged)
new_user bob bob
ok eve init --name bob --server "$URL" --log-key "$VKEY"
ok eve reset
fails bob monitor
[ "$RC" = 3 ] || fail "bob's monitor after eve's reset: exit $RC"
echo "recovery: ok"
