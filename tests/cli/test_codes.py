#!/usr/bin/python3
"""test_codes.py: safety numbers and contact trust through the `ckv` command.
Both sides show the same 60 digits (12 groups of 5); `code --mine` is our
30-digit half and equals the contact's view of it; `verify --code` accepts
the right safety number or public code and refuses a wrong one naming the
group that differs; a changed identity key for a VERIFIED contact (who
re-creates their profile under the same name) blocks `encrypt` until
`verify` or `accept`, in both the outgoing (new bundle) and incoming (new
PreKey message) direction; for an unverified contact the change is reported,
not blocked."""
import re
import shutil

import ckvtest
from ckvtest import check

SN = re.compile(r"^(\d{5} ){11}\d{5}\n$")
PC = re.compile(r"^(\d{5} ){5}\d{5}\n$")


def state(t, profile, name):
    for line in t.contacts(profile).splitlines():
        f = line.split("\t")
        if f[0] == name:
            return f[1]
    raise ckvtest.TestFailure("%s not in %s's contacts" % (name, profile))


def flip_digit(code, group):
    """Change one digit in 1-based group `group` of a spaced code."""
    digits = code.replace(" ", "").strip()
    i = (group - 1) * 5 + 2
    d = str((int(digits[i]) + 1) % 10)
    return digits[:i] + d + digits[i + 1:]


def pair(t, a, b):
    """a starts a session from b's bundle; one message each way."""
    bf, _ = t.bundle_file(b)
    t.ok(a, "start", b, bf)
    t.decrypt(b, a, t.encrypt(a, b, "hi %s" % b), "hi %s" % b)
    t.decrypt(a, b, t.encrypt(b, a, "hi %s" % a), "hi %s" % a)


def recreate(t, profile, name):
    shutil.rmtree(t.profile_dir(profile))
    t.init(profile, name)


def test(t):
    for p in ("alice", "bob", "carol"):
        t.init(p, p)
    pair(t, "alice", "bob")
    pair(t, "alice", "carol")

    # both sides show the same 60 digits
    a = t.ok("alice", "code", "bob").text
    b = t.ok("bob", "code", "alice").text
    check(SN.match(a), "safety number format: %r" % a)
    check(a == b, "both sides see the same safety number: %r vs %r" % (a, b))
    check(a != t.ok("alice", "code", "carol").text, "another contact, another number")
    # account names are normalised: " Bob " is bob
    check(t.ok("alice", "code", "BOB").text == a, "contact names are normalised")
    # public codes are the two halves
    am = t.ok("alice", "code", "--mine").text
    bm = t.ok("bob", "code", "--mine").text
    check(PC.match(am) and PC.match(bm), "public code format: %r %r" % (am, bm))
    halves = sorted([am.replace(" ", "").strip(), bm.replace(" ", "").strip()])
    check("".join(halves) == a.replace(" ", "").strip(),
          "the safety number is the two public codes sorted")
    check(t.ok("alice", "code", "--mine").text == am, "the public code is stable")
    sc = t.ok("alice", "code", "bob", "--scannable").text.strip()
    check(len(sc) > 40, "scannable fingerprint printed")
    t.fail("alice", "code", "nobody", want=["nobody"])
    t.fail("alice", "code")

    check(state(t, "alice", "bob") == "unverified", "bob starts unverified")
    # a wrong code: refused, names the group, state unchanged
    for g in (1, 7, 12):
        r = t.fail("alice", "verify", "bob", "--code", flip_digit(a, g), want=["group %d" % g])
    check(state(t, "alice", "bob") == "unverified", "a wrong code verifies nothing")
    t.fail("alice", "verify", "bob", "--code", "12345")  # neither 60 nor 30 digits
    t.fail("alice", "verify", "bob", "--code", "abcde" * 12)
    # a public code of someone else (carol's) is not bob's
    cm = t.ok("carol", "code", "--mine").text
    t.fail("alice", "verify", "bob", "--code", cm, want=["group"])
    # the right code, with spaces as printed
    t.ok("alice", "verify", "bob", "--code", a.strip())
    check(state(t, "alice", "bob") == "verified", "bob verified")
    # bob verifies alice against her public code
    t.ok("bob", "verify", "alice", "--code", am.strip())
    lines = [l for l in t.contacts("bob").splitlines() if l.startswith("alice\t")]
    check(lines and lines[0].split("\t")[1] == "verified", "alice verified by bob")
    check(lines[0].split("\t")[3] == "public-code", "verified by public code: %r" % lines)
    # verify without a code: the user says they compared
    t.ok("alice", "verify", "carol")
    check(state(t, "alice", "carol") == "verified", "carol verified")
    t.ok("carol", "verify", "alice")

    # ---- a verified contact changes key: outgoing direction (new bundle)
    recreate(t, "bob", "bob")
    nb, _ = t.bundle_file("bob", "bob-new.json")
    r = t.run("alice", "start", "bob", nb)
    check(r.out == b"", "start prints nothing on stdout")
    check("bob" in r.err and "changed" in r.err.lower(), "the key change is reported: %r" % r)
    check(state(t, "alice", "bob") == "changed", "state changed after a new key")
    t.fail("alice", "encrypt", "bob", stdin="blocked?", want=["blocked", "verify", "accept"])
    snap = t.snapshot("alice")
    t.fail("alice", "encrypt", "bob", stdin="blocked?")
    check(t.snapshot("alice") == snap, "a blocked encrypt changes nothing")
    # the old safety number no longer matches; the new one does
    a2 = t.ok("alice", "code", "bob").text
    check(a2 != a, "the safety number changed with the key")
    t.fail("alice", "verify", "bob", "--code", a.strip(), want=["group"])
    check(state(t, "alice", "bob") == "changed", "still blocked after a wrong code")
    t.fail("alice", "encrypt", "bob", stdin="still blocked?")
    # accept lifts the block; messages flow to the new bob
    t.ok("alice", "accept", "bob")
    check(state(t, "alice", "bob") == "unverified", "accepted key is unverified")
    t.decrypt("bob", "alice", t.encrypt("alice", "bob", "to new bob"), "to new bob")
    t.decrypt("alice", "bob", t.encrypt("bob", "alice", "from new bob"), "from new bob")
    t.fail("alice", "accept", "bob")  # nothing to accept now
    # re-verify with the new code
    a3 = t.ok("alice", "code", "bob").text
    check(a3 == t.ok("bob", "code", "alice").text, "new safety numbers agree")
    t.ok("alice", "verify", "bob", "--code", a3)
    check(state(t, "alice", "bob") == "verified", "bob verified again")

    # ---- a verified contact changes key: incoming direction (carol writes first)
    recreate(t, "carol", "carol")
    af, _ = t.bundle_file("alice")
    t.ok("carol", "start", "alice", af)
    m = t.encrypt("carol", "alice", "new carol here")
    t.fail("alice", "decrypt", "carol", stdin=m, want=["carol"])
    check(state(t, "alice", "carol") == "changed", "incoming new key: state changed")
    t.fail("alice", "encrypt", "carol", stdin="x", want=["blocked"])
    # verifying the new key with the new safety number lifts the block
    c2 = t.ok("alice", "code", "carol").text
    check(c2 == t.ok("carol", "code", "alice").text, "new safety numbers agree (carol)")
    t.ok("alice", "verify", "carol", "--code", c2)
    t.decrypt("alice", "carol", m, "new carol here")
    t.decrypt("carol", "alice", t.encrypt("alice", "carol", "welcome back"), "welcome back")

    # ---- an unverified contact changes key: reported, not blocked
    t.init("dave", "dave")
    pair(t, "alice", "dave")
    check(state(t, "alice", "dave") == "unverified", "dave unverified")
    recreate(t, "dave", "dave")
    nd, _ = t.bundle_file("dave", "dave-new.json")
    r = t.ok("alice", "start", "dave", nd)
    check("dave" in r.err and "changed" in r.err.lower(), "the change is reported: %r" % r)
    check(state(t, "alice", "dave") == "unverified", "dave stays unverified")
    t.decrypt("dave", "alice", t.encrypt("alice", "dave", "not blocked"), "not blocked")


if __name__ == "__main__":
    ckvtest.main(test)
