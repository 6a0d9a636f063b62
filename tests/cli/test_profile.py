#!/usr/bin/python3
"""test_profile.py: profiles at rest. A wrong passphrase, a truncated and a
corrupted profile file each give one clear error, no crash, and the file is
not "repaired" silently; files are 0600; `passwd` re-seals and keeps
everything (messages still flow after); passphrase from a file; init twice
and a missing profile are errors."""
import os
import shutil
import sqlite3
import stat

import ckvtest
from ckvtest import check


def test(t):
    t.init("alice", "alice")
    t.init("bob", "bob")
    # the profile's files are private
    d = t.profile_dir("alice")
    check(stat.S_IMODE(os.stat(d).st_mode) & 0o077 == 0, "profile folder is private")
    for f in os.listdir(d):
        m = stat.S_IMODE(os.stat(os.path.join(d, f)).st_mode)
        check(m & 0o077 == 0, "%s has mode %o, want 0600" % (f, m))
    # init again: refused, nothing changed
    snap = t.snapshot("alice")
    t.fail("alice", "init", "--name", "alice", want=["exists"])
    check(t.snapshot("alice") == snap, "a second init changed the profile")
    # missing profile
    t.fail("nobody", "bundle")
    # the secret is not in the file in clear: the account's identity private key
    # cannot be checked from outside, but the bundle JSON works
    bfile, _ = t.bundle_file("bob")
    t.ok("alice", "start", "bob", bfile)
    t.decrypt("bob", "alice", t.encrypt("alice", "bob", "one"), "one")

    # wrong passphrase: clear error, file untouched
    snap = t.snapshot("alice")
    r = t.fail("alice", "contacts", passphrase="not the passphrase", want=["passphrase"])
    t.fail("alice", "encrypt", "bob", stdin="x", passphrase="not the passphrase",
           want=["passphrase"])
    check(t.snapshot("alice") == snap, "a wrong passphrase changed the profile")

    # passphrase from a file (first line, newline stripped); a missing file
    pf = t.write("pass.txt", "pass-alice\nignored second line\n")
    out = t.ok(None, "contacts", globals_=["--profile", "alice", "--passphrase-file", pf]).text
    check("bob" in out, "contacts via --passphrase-file")
    t.fail(None, "contacts", globals_=["--profile", "alice", "--passphrase-file", pf + ".none"])
    # an explicit file wins over the environment
    out = t.ok("alice", "contacts", passphrase="not the passphrase",
               globals_=["--profile", "alice", "--passphrase-file", pf]).text
    check("bob" in out, "--passphrase-file wins over CKV_PASSPHRASE")
    # both absent and no terminal: clear error
    t.fail("alice", "contacts", passphrase=False, want=["passphrase"])

    # passwd: new passphrase from env, everything kept
    t.ok("alice", "passwd", env={"CKV_NEW_PASSPHRASE": "new-alice"})
    t.fail("alice", "contacts", want=["passphrase"])  # the old one no longer opens it
    t.passphrases["alice"] = "new-alice"
    check("bob" in t.contacts("alice"), "contacts kept across passwd")
    t.decrypt("bob", "alice", t.encrypt("alice", "bob", "two"), "two")
    t.decrypt("alice", "bob", t.encrypt("bob", "alice", "three"), "three")
    # passwd with --new-passphrase-file
    nf = t.write("new.txt", "newer-alice\n")
    t.ok("alice", "passwd", "--new-passphrase-file", nf)
    t.passphrases["alice"] = "newer-alice"
    t.decrypt("bob", "alice", t.encrypt("alice", "bob", "four"), "four")
    t.decrypt("alice", "bob", t.encrypt("bob", "alice", "five"), "five")

    # damaged files: keep a good copy, damage, expect a clear error, and the
    # damaged bytes are left as they are (no silent reset or repair)
    pfile = t.profile_file("alice")
    good = open(pfile, "rb").read()
    size = len(good)

    def damaged(data, what):
        with open(pfile, "wb") as f:
            f.write(data)
        for extra in ("-wal", "-shm"):
            if os.path.exists(pfile + extra):
                os.unlink(pfile + extra)
        r = t.fail("alice", "contacts")
        t.fail("alice", "encrypt", "bob", stdin="x")
        t.fail("alice", "bundle")
        check(open(pfile, "rb").read() == data, "%s profile was modified" % what)
        return r

    damaged(good[: size // 2], "a truncated")
    damaged(good[:100], "a truncated")
    damaged(b"", "an empty")
    damaged(good[: size - 4096], "a truncated")  # the last page missing
    # the SQLite header destroyed
    c = bytearray(good)
    for i in range(0, 100):
        c[i] ^= 0xFF
    damaged(bytes(c), "a corrupted")
    # every b-tree page's type byte destroyed (page 1's header is at 100)
    c = bytearray(good)
    c[100] = 0x01
    for off in range(4096, size, 4096):
        c[off] = 0x01
    damaged(bytes(c), "a corrupted")

    # sealed values altered inside a valid SQLite file: authentication fails
    def tampered(table, cmds):
        with open(pfile, "wb") as f:
            f.write(good)
        db = sqlite3.connect(pfile)
        rows = db.execute("SELECT rowid, v FROM %s" % table).fetchall()
        check(rows, "table %s has rows" % table)
        for rowid, v in rows:
            b = bytearray(v)
            b[len(b) // 2] ^= 0x01
            db.execute("UPDATE %s SET v = ? WHERE rowid = ?" % table, (bytes(b), rowid))
        db.commit()
        db.close()
        data = open(pfile, "rb").read()
        for cmd in cmds:
            t.fail("alice", *cmd, stdin="x")
        check(open(pfile, "rb").read() == data, "a tampered %s was modified" % table)

    tampered("contacts", [["contacts"], ["encrypt", "bob"], ["code", "bob"]])
    tampered("sessions", [["encrypt", "bob"]])
    tampered("signed_prekeys", [["bundle"]])

    # the good copy still works after all that
    with open(pfile, "wb") as f:
        f.write(good)
    check("bob" in t.contacts("alice"), "the restored profile opens")
    t.decrypt("bob", "alice", t.encrypt("alice", "bob", "six"), "six")


if __name__ == "__main__":
    ckvtest.main(test)
