#!/usr/bin/python3
"""test_talk.py: two profiles talk through the `ckv` command in both
directions, every step a fresh process (state survives restarts at every
step); out-of-order delivery; a duplicate, a tampered and a malformed message
each give their own clear error, nothing on stdout, and change no state."""
import base64
import json

import ckvtest
from ckvtest import check


def tamper(envelope, where):
    env = json.loads(envelope)
    body = bytearray(base64.b64decode(env["body"]))
    body[where] ^= 0x01
    env["body"] = base64.b64encode(bytes(body)).decode()
    return json.dumps(env).encode()


def test(t):
    t.init("alice", "alice")
    t.init("bob", "bob")
    bfile, b = t.bundle_file("bob")
    for k in ("registration_id", "device_id", "identity_key", "signed_prekey_id",
              "signed_prekey", "signed_prekey_signature", "prekey_id", "prekey"):
        check(k in b, "bundle lacks %s: %r" % (k, b))
    check(len(base64.b64decode(b["identity_key"])) == 33, "identity_key is 33 bytes")
    check(base64.b64decode(b["identity_key"])[0] == 5, "identity_key has the 0x05 prefix")

    # each bundle hands out another one-time prekey
    _, b2 = t.bundle_file("bob", "bundle-bob-2.json")
    check(b2["prekey_id"] != b["prekey_id"], "two bundles share a one-time prekey")
    check(b2["identity_key"] == b["identity_key"], "same identity in every bundle")
    t.ok("alice", "start", "bob", bfile)
    check("bob" in t.contacts("alice"), "bob listed after start")

    # alice -> bob, first message creates bob's session; PreKey messages until bob replies
    m1 = t.encrypt("alice", "bob", "hello bob")
    check(json.loads(m1)["type"] == 3, "first message is a PreKey message")
    m2 = t.encrypt("alice", "bob", "second")
    check(json.loads(m2)["type"] == 3, "still PreKey before any reply")
    t.decrypt("bob", "alice", m1, "hello bob")
    check("alice" in t.contacts("bob"), "alice listed after her first message")
    t.decrypt("bob", "alice", m2, "second")
    # a replayed PreKey message is a duplicate and changes nothing
    snap = t.snapshot("bob")
    t.fail("bob", "decrypt", "alice", stdin=m1, want=["already"])
    check(t.snapshot("bob") == snap, "a replayed PreKey message changed the profile")

    # bob -> alice
    r1 = t.encrypt("bob", "alice", "hi alice")
    check(json.loads(r1)["type"] == 2, "bob's reply is a normal message")
    t.decrypt("alice", "bob", r1, "hi alice")
    m3 = t.encrypt("alice", "bob", "after reply")
    check(json.loads(m3)["type"] == 2, "after a reply alice sends normal messages")
    t.decrypt("bob", "alice", m3, "after reply")

    # binary and empty-ish payloads survive
    blob = bytes(range(256)) * 4
    e = t.encrypt("bob", "alice", blob)
    t.decrypt("alice", "bob", e, blob)

    # out of order: 3 messages delivered 3, 1, 2
    o = [t.encrypt("alice", "bob", "ooo %d" % i) for i in range(3)]
    t.decrypt("bob", "alice", o[2], "ooo 2")
    t.decrypt("bob", "alice", o[0], "ooo 0")
    t.decrypt("bob", "alice", o[1], "ooo 1")
    # and across a ratchet step: bob replies, alice's old-chain message arrives late
    late = t.encrypt("alice", "bob", "late one")
    rr = t.encrypt("bob", "alice", "bob ratchets")
    t.decrypt("alice", "bob", rr, "bob ratchets")
    fresh = t.encrypt("alice", "bob", "new chain")
    t.decrypt("bob", "alice", fresh, "new chain")
    t.decrypt("bob", "alice", late, "late one")

    # error cases on bob's side: each its own error, no output, no state change
    contacts_before = t.contacts("bob")
    snap = t.snapshot("bob")
    dup = t.fail("bob", "decrypt", "alice", stdin=o[1], want=["duplicate"])
    check(t.snapshot("bob") == snap, "a duplicate changed the profile")
    nxt = t.encrypt("alice", "bob", "next legit")
    tam = t.fail("bob", "decrypt", "alice", stdin=tamper(nxt, -3))   # in the MAC
    check(t.snapshot("bob") == snap, "a tampered message changed the profile")
    tam2 = t.fail("bob", "decrypt", "alice", stdin=tamper(nxt, -20))  # in the ciphertext
    check(t.snapshot("bob") == snap, "a tampered message changed the profile")
    bad = t.fail("bob", "decrypt", "alice", stdin=b'{"type": 2, "body": "!!!"}')
    bad2 = t.fail("bob", "decrypt", "alice", stdin=b'not json at all')
    bad3 = t.fail("bob", "decrypt", "alice", stdin=b'{"type": 7, "body": "AAAA"}')
    bad4 = t.fail("bob", "decrypt", "alice", stdin=b'{"type": 2, "body": "AAAA"}')
    check(t.snapshot("bob") == snap, "a malformed message changed the profile")
    msgs = {"duplicate": dup.err, "tampered": tam.err, "malformed": bad.err}
    check(len(set(msgs.values())) == len(msgs),
          "each error must have its own message: %r" % msgs)
    check("duplicate" in dup.err.lower() or "already" in dup.err.lower(), "duplicate: %r" % dup)
    check(bad2.err == bad.err and bad3.err == bad.err, "malformed envelopes: one error")
    check(tam.err == tam2.err, "tampering gives one stable error")
    check(bad4.rc != 0, "short body fails")
    check(t.contacts("bob") == contacts_before, "contacts changed by bad messages")
    # the next legitimate message still decrypts
    t.decrypt("bob", "alice", nxt, "next legit")

    # unknown contact, no session
    t.fail("alice", "encrypt", "carol", stdin="x")
    # a normal message from someone we have no session with
    t.fail("alice", "decrypt", "carol", stdin=r1)

    # many more exchanges both ways, every step a restart
    for i in range(4):
        t.decrypt("bob", "alice", t.encrypt("alice", "bob", "a%d" % i), "a%d" % i)
        t.decrypt("alice", "bob", t.encrypt("bob", "alice", "b%d" % i), "b%d" % i)


if __name__ == "__main__":
    ckvtest.main(test)
