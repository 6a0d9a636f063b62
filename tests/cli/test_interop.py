#!/usr/bin/python3
"""test_interop.py: ckv talks with python3-axolotl (Debian's Python port of
libaxolotl, a Signal-protocol v3 implementation written by others) through
files in the JSON formats of docs/cli.md, in both directions:
  1. ckv starts a session from the axolotl peer's bundle, axolotl decrypts;
  2. axolotl starts from a ckv bundle, ckv decrypts (the PreKey message
     creates ckv's session);
then messages back and forth, including out of order and a duplicate.
Usage: test_interop.py PATH/TO/ckv"""
import json
import os
import subprocess

import ckvtest
from ckvtest import check

PEER = os.path.join(ckvtest.HERE, "axolotl_peer.py")


def peer(t, d, *args, stdin=b"", ok=True):
    p = subprocess.run([ckvtest.PY, PEER, t.path(d)] + list(args),
                       input=stdin.encode() if isinstance(stdin, str) else stdin,
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=120)
    if ok:
        check(p.returncode == 0, "axolotl peer %s failed: %s" % (args, p.stderr.decode()))
    return p


def test(t):
    # python3-axolotl must import with Debian's protobuf
    p = subprocess.run([ckvtest.PY, "-c", "import axolotl.sessioncipher"],
                       stderr=subprocess.PIPE)
    check(p.returncode == 0, "python3-axolotl does not import: %s" % p.stderr.decode())

    # --- 1. ckv (alice) starts from the axolotl bundle -----------------------
    t.init("alice", "alice")
    peer(t, "axo", "init")
    axb = peer(t, "axo", "bundle").stdout
    bf = t.write("axo-bundle.json", axb)
    t.ok("alice", "start", "axo", bf)
    m = t.encrypt("alice", "axo", "hello axolotl, from ckv")
    check(json.loads(m)["type"] == 3, "first ckv message is a PreKey message")
    out = peer(t, "axo", "decrypt", "alice", stdin=m).stdout
    check(out == b"hello axolotl, from ckv", "axolotl decrypted %r" % out)
    m2 = t.encrypt("alice", "axo", "second, still prekey")
    check(peer(t, "axo", "decrypt", "alice", stdin=m2).stdout == b"second, still prekey",
          "axolotl decrypts the second PreKey message")
    r = peer(t, "axo", "encrypt", "alice", stdin="hi ckv, from axolotl").stdout
    check(json.loads(r)["type"] == 2, "axolotl replies with a normal message")
    t.decrypt("alice", "axo", r, "hi ckv, from axolotl")
    for i in range(3):
        a = t.encrypt("alice", "axo", "ckv %d" % i)
        check(json.loads(a)["type"] == 2, "normal messages after the reply")
        check(peer(t, "axo", "decrypt", "alice", stdin=a).stdout == ("ckv %d" % i).encode(),
              "axolotl decrypts ckv %d" % i)
        b = peer(t, "axo", "encrypt", "alice", stdin="axo %d" % i).stdout
        t.decrypt("alice", "axo", b, "axo %d" % i)
    # out of order from axolotl to ckv, then a duplicate
    o = [peer(t, "axo", "encrypt", "alice", stdin="late %d" % i).stdout for i in range(3)]
    t.decrypt("alice", "axo", o[2], "late 2")
    t.decrypt("alice", "axo", o[0], "late 0")
    t.decrypt("alice", "axo", o[1], "late 1")
    t.fail("alice", "decrypt", "axo", stdin=o[1], want=["duplicate"])
    # out of order from ckv to axolotl
    o = [t.encrypt("alice", "axo", "c-late %d" % i) for i in range(3)]
    for i in (1, 2, 0):
        check(peer(t, "axo", "decrypt", "alice", stdin=o[i]).stdout == ("c-late %d" % i).encode(),
              "axolotl decrypts out of order")

    # --- 2. axolotl starts from a ckv bundle (bob) ---------------------------
    t.init("bob", "bob")
    peer(t, "axo2", "init")
    bfile, _ = t.bundle_file("bob")
    peer(t, "axo2", "start", "bob", bfile)
    a1 = peer(t, "axo2", "encrypt", "bob", stdin="hello ckv, axolotl starts").stdout
    check(json.loads(a1)["type"] == 3, "axolotl's first message is a PreKey message")
    a2 = peer(t, "axo2", "encrypt", "bob", stdin="and again").stdout
    t.decrypt("bob", "axo2", a1, "hello ckv, axolotl starts")
    check("axo2" in t.contacts("bob"), "the PreKey message created the contact")
    t.decrypt("bob", "axo2", a2, "and again")
    b1 = t.encrypt("bob", "axo2", "ckv answers")
    check(json.loads(b1)["type"] == 2, "ckv answers with a normal message")
    check(peer(t, "axo2", "decrypt", "bob", stdin=b1).stdout == b"ckv answers",
          "axolotl decrypts ckv's answer")
    for i in range(3):
        x = peer(t, "axo2", "encrypt", "bob", stdin="x%d" % i).stdout
        t.decrypt("bob", "axo2", x, "x%d" % i)
        y = t.encrypt("bob", "axo2", "y%d" % i)
        check(peer(t, "axo2", "decrypt", "bob", stdin=y).stdout == ("y%d" % i).encode(),
              "axolotl decrypts y%d" % i)
    # a longer binary message both ways
    blob = bytes(range(256)) * 8
    y = t.encrypt("bob", "axo2", blob)
    check(peer(t, "axo2", "decrypt", "bob", stdin=y).stdout == blob, "binary to axolotl")


if __name__ == "__main__":
    ckvtest.main(test)
