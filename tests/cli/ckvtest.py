"""ckvtest.py: helpers shared by the ckv command's integration tests.

Each test drives the real `ckv` binary (path in argv[1]) as a fresh process
per step, with profiles in a private temporary XDG_DATA_HOME, and checks the
command's contract on every call:
  - success: exit 0;
  - failure: a non-zero exit, NOTHING on stdout, exactly one line on stderr
    starting with "ckv: " (what failed and what to do).
"""
import base64
import glob
import json
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
PY = "/usr/bin/python3"


class TestFailure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


class Result:
    def __init__(self, args, rc, out, err):
        self.args, self.rc, self.out, self.err = args, rc, out, err

    def __repr__(self):
        return "ckv %s -> rc=%d stdout=%r stderr=%r" % (
            " ".join(self.args), self.rc, self.out[:300], self.err[:600])

    @property
    def text(self):
        return self.out.decode("utf-8")

    def json(self):
        return json.loads(self.out.decode("utf-8"))


class Env:
    """A temporary XDG_DATA_HOME and the ckv binary."""

    def __init__(self, ckv):
        self.ckv = os.path.abspath(ckv)
        self.tmp = tempfile.mkdtemp(prefix="ckv-cli-test-")
        self.data = os.path.join(self.tmp, "data")
        os.makedirs(self.data)
        self.passphrases = {}

    def close(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def path(self, name):
        return os.path.join(self.tmp, name)

    def write(self, name, data):
        p = self.path(name)
        with open(p, "wb") as f:
            f.write(data if isinstance(data, bytes) else data.encode())
        return p

    def profile_dir(self, profile):
        return os.path.join(self.data, "ckv", profile)

    def profile_file(self, profile):
        """The profile's SQLite file (the largest regular file in its folder)."""
        files = [f for f in glob.glob(os.path.join(self.profile_dir(profile), "*"))
                 if os.path.isfile(f) and not f.endswith(("-wal", "-shm", "-journal"))]
        check(files, "no profile file in " + self.profile_dir(profile))
        return max(files, key=os.path.getsize)

    def snapshot(self, profile):
        """Bytes of every file in the profile's folder, to prove nothing changed."""
        out = {}
        for f in sorted(glob.glob(os.path.join(self.profile_dir(profile), "*"))):
            if f.endswith(("-wal", "-shm", "-journal")):
                continue
            with open(f, "rb") as fh:
                out[os.path.basename(f)] = fh.read()
        return out

    def run(self, profile, *args, stdin=b"", passphrase=None, env=None, globals_=None):
        e = {"PATH": "/usr/bin:/bin", "HOME": self.tmp, "XDG_DATA_HOME": self.data,
             "LC_ALL": "C", "CKV_KDF": "min"}
        for k in ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"):
            if k in os.environ:
                e[k] = os.environ[k]
        if profile is not None:
            pw = passphrase if passphrase is not None else self.passphrases.get(
                profile, "pass-" + profile)
            if pw is not False:
                e["CKV_PASSPHRASE"] = pw
        if env:
            e.update(env)
        argv = [self.ckv]
        if globals_ is not None:
            argv += globals_
        elif profile is not None:
            argv += ["--profile", profile]
        argv += list(args)
        if isinstance(stdin, str):
            stdin = stdin.encode()
        p = subprocess.run(argv, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           env=e, timeout=120, stdin=None if stdin is not None else subprocess.DEVNULL)
        r = Result(list(args), p.returncode, p.stdout, p.stderr.decode("utf-8", "replace"))
        check(p.returncode >= 0, "ckv was killed by a signal: %r" % r)
        check("AddressSanitizer" not in r.err and "runtime error" not in r.err,
              "sanitizer report: %r" % r)
        return r

    def ok(self, profile, *args, **kw):
        r = self.run(profile, *args, **kw)
        check(r.rc == 0, "expected success: %r" % r)
        return r

    def fail(self, profile, *args, want=None, **kw):
        """Run a command that must fail cleanly; want: substrings (any case)
        the one error line must contain."""
        r = self.run(profile, *args, **kw)
        check(r.rc != 0, "expected failure: %r" % r)
        check(r.out == b"", "stdout must be empty on error: %r" % r)
        lines = [l for l in r.err.split("\n") if l]
        errs = [l for l in lines if not l.startswith("ckv: warning:")]
        check(len(errs) == 1, "expected exactly one error line: %r" % r)
        check(errs[0].startswith("ckv: "), "error line must start with 'ckv: ': %r" % r)
        for w in (want or []):
            check(w.lower() in errs[0].lower(), "error line lacks %r: %r" % (w, r))
        return r

    # conveniences
    def init(self, profile, name):
        return self.ok(profile, "init", "--name", name)

    def bundle_file(self, profile, fname=None):
        r = self.ok(profile, "bundle")
        b = r.json()
        return self.write(fname or ("bundle-%s.json" % profile), r.out), b

    def encrypt(self, profile, contact, text):
        r = self.ok(profile, "encrypt", contact, stdin=text)
        env = r.json()
        check(set(env) == {"type", "body"}, "envelope fields: %r" % env)
        check(env["type"] in (2, 3), "envelope type: %r" % env)
        base64.b64decode(env["body"], validate=True)
        return r.out

    def decrypt(self, profile, contact, envelope, expect):
        r = self.ok(profile, "decrypt", contact, stdin=envelope)
        exp = expect.encode() if isinstance(expect, str) else expect
        check(r.out == exp, "decrypted %r, expected %r" % (r.out, exp))
        return r

    def contacts(self, profile):
        return self.ok(profile, "contacts").text


def main(test_fn):
    """Run test_fn(env) with a fresh Env; print the result; exit status."""
    if len(sys.argv) < 2:
        sys.stderr.write("usage: %s PATH/TO/ckv\n" % sys.argv[0])
        sys.exit(2)
    env = Env(sys.argv[1])
    try:
        test_fn(env)
    except TestFailure as e:
        import traceback
        tb = [f for f in traceback.extract_tb(e.__traceback__) if f.filename != __file__]
        where = " at line %d" % tb[-1].lineno if tb else ""
        print("FAIL%s: %s" % (where, e))
        sys.exit(1)
    finally:
        if os.environ.get("CKV_TEST_KEEP"):
            print("kept", env.tmp)
        else:
            env.close()
    print("PASS")
    sys.exit(0)
