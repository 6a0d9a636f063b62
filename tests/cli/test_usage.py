#!/usr/bin/python3
"""test_usage.py: the command line itself. `--help` for the tool and every
command (on stdout, exit 0); usage errors (unknown command or option,
missing arguments) are one line on stderr, exit 2, nothing on stdout;
global options work before the command and after it; CKV_PROFILE selects the
profile; a bad profile name and bad input files are clear errors."""
import ckvtest
from ckvtest import check

COMMANDS = ["init", "bundle", "start", "encrypt", "decrypt", "code", "verify", "accept",
            "contacts", "passwd"]


def test(t):
    r = t.ok(None, "--help", globals_=[])
    for c in COMMANDS:
        check(("  " + c) in r.text, "ckv --help lists %s" % c)
    for c in COMMANDS:
        r = t.ok(None, c, "--help", globals_=[])
        check(r.text.startswith("usage: ckv"), "%s --help: %r" % (c, r))
    check(t.ok(None, "--version", globals_=[]).text.startswith("ckv "), "--version")
    r = t.run(None, globals_=[])
    check(r.rc == 2 and r.out == b"", "no command: usage on stderr, exit 2")
    for args in (["frobnicate"], ["--bogus", "contacts"], ["init"], ["init", "--name"],
                 ["start", "bob"], ["encrypt"], ["decrypt", "a", "b"], ["code"],
                 ["code", "bob", "--mine"], ["verify"], ["accept"], ["contacts", "x"],
                 ["verify", "bob", "--nope"], ["--profile"]):
        r = t.fail(None, *args, globals_=[])
        check(r.rc == 2, "usage error exits 2: %r" % r)

    # init and the global options before and after the command
    t.ok(None, "--profile", "alice", "init", "--name", "Alice@Example.org", globals_=[],
         env={"CKV_PASSPHRASE": "pass-alice"})
    t.ok(None, "init", "--profile", "bob", "--name", "bob", globals_=[],
         env={"CKV_PASSPHRASE": "pass-bob"})
    r = t.ok(None, "bundle", globals_=[], env={"CKV_PROFILE": "alice",
                                               "CKV_PASSPHRASE": "pass-alice"})
    check(r.json()["device_id"] == 1, "bundle via CKV_PROFILE")
    # --profile wins over CKV_PROFILE
    r = t.run(None, "--profile", "bob", "contacts", globals_=[],
              env={"CKV_PROFILE": "alice", "CKV_PASSPHRASE": "pass-bob"})
    check(r.rc == 0, "--profile over CKV_PROFILE: %r" % r)
    t.fail(None, "--profile", "../etc", "contacts", globals_=[],
           env={"CKV_PASSPHRASE": "x"}, want=["profile"])
    t.fail("bob", "init", "--name", "bad name!", want=["name"])
    t.fail("zed", "init", "--name", "zed", "--kdf", "cheap", want=["kdf"])
    # the account name is normalised
    t.passphrases["alice"] = "pass-alice"
    t.passphrases["bob"] = "pass-bob"
    bf, _ = t.bundle_file("alice")
    t.ok("bob", "start", "alice@example.org", bf)
    check("alice@example.org" in t.contacts("bob"), "normalised contact name")

    # bad bundle files
    t.fail("bob", "start", "x", t.path("missing.json"), want=["missing.json"])
    t.fail("bob", "start", "x", t.write("garbage.json", "{{{"))
    t.fail("bob", "start", "x", t.write("empty.json", ""))
    t.fail("bob", "start", "x", t.write("big.json", "[" + " " * 100000 + "]"))
    good = open(bf).read()
    t.fail("bob", "start", "x", t.write("badsig.json",
           good.replace('"signed_prekey_signature": "', '"signed_prekey_signature": "AA', 1)
           if '"signed_prekey_signature": "' in good else "{}"))
    # a bundle on stdin
    t.ok("bob", "start", "carl", "-", stdin=good)
    # an empty message encrypts and decrypts
    bf2, _ = t.bundle_file("bob")
    t.ok("alice", "start", "bob", bf2)
    e = t.encrypt("alice", "bob", b"")
    t.decrypt("bob", "alice@example.org", e, b"")
    # oversized plaintext: clear error
    t.fail("alice", "encrypt", "bob", stdin=b"x" * (2 << 20), want=["larger"])


if __name__ == "__main__":
    ckvtest.main(test)
