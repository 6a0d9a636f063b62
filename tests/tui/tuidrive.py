"""tuidrive.py: drive ckv-chat in tmux for the tests (send-keys,
capture-pane), on a private tmux server socket so that nothing touches the
user's own tmux. Every wait has a deadline and fails with the last screen."""
import os
import re
import subprocess
import time


class Fail(Exception):
    pass


class Tmux:
    def __init__(self, tag):
        self.sock = "ckvtui-%s-%d" % (tag, os.getpid())

    def run(self, *args, check=True):
        p = subprocess.run(["tmux", "-L", self.sock] + list(args),
                           capture_output=True, text=True)
        if check and p.returncode != 0:
            raise Fail("tmux %s: %s" % (" ".join(args), p.stderr.strip()))
        return p.stdout

    def kill(self):
        self.run("kill-server", check=False)


class Term:
    """One ckv-chat in one tmux session."""

    def __init__(self, tmux, name, argv, env, w=100, h=30):
        self.t, self.name = tmux, name
        envs = " ".join("%s=%s" % (k, shq(v)) for k, v in sorted(env.items()))
        cmd = "env %s %s; echo EXIT=$?; sleep 600" % (envs, " ".join(shq(a) for a in argv))
        self.t.run("new-session", "-d", "-s", name, "-x", str(w), "-y", str(h), cmd)
        self.t.run("set-option", "-t", name, "window-size", "manual", check=False)

    def keys(self, *keys):
        self.t.run("send-keys", "-t", self.name, *keys)

    def type(self, text, enter=True):
        self.t.run("send-keys", "-t", self.name, "-l", text)
        if enter:
            self.keys("Enter")

    def screen(self):
        return self.t.run("capture-pane", "-p", "-t", self.name)

    def rows(self):
        return self.screen().split("\n")

    def size(self):
        out = self.t.run("display-message", "-p", "-t", self.name, "#{window_width}x#{window_height}")
        w, h = out.strip().split("x")
        return int(w), int(h)

    def resize(self, w, h):
        self.t.run("resize-window", "-t", self.name, "-x", str(w), "-y", str(h))

    def wait_qr(self, pattern, timeout=15):
        """Wait for the pattern, a whole QR block and a settled frame: a
        capture can catch a frame half drawn, so two captures in a row must
        agree (or the deadline passes and the caller's checks report it)."""
        deadline = time.time() + timeout
        while True:
            s = self.wait(pattern, max(1, deadline - time.time()))
            if time.time() > deadline:
                return s
            if has_qr(s):
                time.sleep(0.15)
                again = self.screen()
                if again == s:
                    return s
            time.sleep(0.1)

    def wait(self, pattern, timeout=15, absent=False):
        """Wait until the regex matches the screen (or no longer matches)."""
        deadline = time.time() + timeout
        rx = re.compile(pattern, re.M)
        while True:
            s = self.screen()
            if bool(rx.search(s)) != absent:
                return s
            if time.time() > deadline:
                raise Fail("%s: waited %ss for %s%r; screen:\n%s" %
                           (self.name, timeout, "absence of " if absent else "", pattern, s))
            time.sleep(0.1)


def shq(s):
    return "'" + str(s).replace("'", "'\\''") + "'"


def safety_groups(screen):
    """The 12 groups of the verification screen (4 rows of 3 at the top)."""
    groups = []
    for line in screen.split("\n")[1:8]:
        m = re.match(r"^  (\d{5}) (\d{5}) (\d{5})\b", line)
        if m:
            groups += m.groups()
    return groups


def public_code_after(screen, label):
    rows = screen.split("\n")
    for i, line in enumerate(rows):
        if label in line and i + 1 < len(rows):
            m = re.match(r"^    ((?:\d{5} ){5}\d{5})", rows[i + 1])
            if m:
                return m.group(1)
    return None


def has_qr(screen):
    """A QR block: at least 12 consecutive rows of half blocks (the
    smallest code, version 1 with its quiet zone, is 13 rows)."""
    run = best = 0
    for line in screen.split("\n"):
        if sum(line.count(c) for c in "\u2580\u2584\u2588") >= 10:
            run += 1
            best = max(best, run)
        else:
            run = 0
    return best >= 12


def check_whole(term, w, h, status_pat, input_pat, must=(), timeout=5):
    """The screen fits w x h and shows its frame: status bar on row h-2,
    input line on row h-1, nothing wider than w, and every string in
    `must`. Retried until `timeout` (a capture can catch a frame half
    drawn); the last failure is raised."""
    deadline = time.time() + timeout
    while True:
        try:
            return _check_whole(term, w, h, status_pat, input_pat, must)
        except Fail:
            if time.time() > deadline:
                raise
            time.sleep(0.2)


def _check_whole(term, w, h, status_pat, input_pat, must):
    rows = term.rows()
    s = "\n".join(rows)
    if len(rows) < h:
        raise Fail("capture has %d rows, want %d:\n%s" % (len(rows), h, s))
    for r in rows:
        if len(r) > w:
            raise Fail("row wider than %d: %r" % (w, r))
    if not re.search(status_pat, rows[h - 2]):
        raise Fail("row %d is not the status bar (%r):\n%s" % (h - 2, status_pat, s))
    if not re.search(input_pat, rows[h - 1]):
        raise Fail("row %d is not the input line (%r):\n%s" % (h - 1, input_pat, s))
    for m in must:
        if m not in s:
            raise Fail("%r missing:\n%s" % (m, s))
    return s
