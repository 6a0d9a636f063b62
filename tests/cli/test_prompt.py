#!/usr/bin/python3
"""test_prompt.py: the passphrase prompt on a terminal. ckv runs on a
pseudo-terminal (its controlling terminal) without CKV_PASSPHRASE: `init`
asks twice, other commands once; what is typed is not echoed; two different
entries are refused; passwd asks for the new passphrase twice."""
import os
import pty
import select
import time

import ckvtest
from ckvtest import check


def on_tty(t, args, answers, timeout=60):
    """Run ckv on a new pty; type each answer after each prompt. Returns
    (exit status, everything the terminal showed)."""
    env = {"PATH": "/usr/bin:/bin", "HOME": t.tmp, "XDG_DATA_HOME": t.data, "LC_ALL": "C",
           "CKV_KDF": "min"}
    for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
        if k in os.environ:
            env[k] = os.environ[k]
    pid, fd = pty.fork()
    if pid == 0:
        os.execve(t.ckv, [t.ckv] + args, env)
    shown = b""
    pending = list(answers)
    deadline = time.time() + timeout
    while time.time() < deadline:
        r, _, _ = select.select([fd], [], [], 0.2)
        if r:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
            if pending and shown.rstrip().endswith(b":"):
                time.sleep(0.1)
                os.write(fd, pending.pop(0).encode() + b"\n")
                shown += b"<typed>"
    _, status = os.waitpid(pid, 0)
    os.close(fd)
    return os.waitstatus_to_exitcode(status), shown.decode("utf-8", "replace")


def test(t):
    rc, shown = on_tty(t, ["--profile", "alice", "init", "--name", "alice"],
                       ["secret-one", "secret-one"])
    check(rc == 0, "init with a prompted passphrase: %r" % shown)
    check(shown.count("assphrase") >= 2, "asked twice: %r" % shown)
    check("secret-one" not in shown, "the passphrase was echoed: %r" % shown)
    rc, shown = on_tty(t, ["--profile", "alice", "bundle"], ["secret-one"])
    check(rc == 0 and "identity_key" in shown, "bundle after a prompt: %r" % shown)
    check("secret-one" not in shown, "the passphrase was echoed: %r" % shown)
    rc, shown = on_tty(t, ["--profile", "alice", "contacts"], ["wrong"])
    check(rc != 0 and "passphrase" in shown.lower(), "a wrong typed passphrase: %r" % shown)
    rc, shown = on_tty(t, ["--profile", "bob", "init", "--name", "bob"], ["one", "two"])
    check(rc != 0 and "differ" in shown, "two different entries are refused: %r" % shown)
    check(not os.path.exists(os.path.join(t.profile_dir("bob"), "profile.db")),
          "no profile after a refused init")
    rc, shown = on_tty(t, ["--profile", "alice", "passwd"],
                       ["secret-one", "secret-two", "secret-two"])
    check(rc == 0, "passwd with prompts: %r" % shown)
    t.passphrases["alice"] = "secret-two"
    t.ok("alice", "contacts")


if __name__ == "__main__":
    ckvtest.main(test)
