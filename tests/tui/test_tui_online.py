"""test_tui_online.py: two ckv-chat users in tmux against a real ckvd on
127.0.0.1 (a free port, its own data directory): first runs that create and
register the profiles (one from flags, one walked through the prompts);
/add, chat both ways with delivery receipts; the verification screen with
the same 60 digits on both sides, a QR block and the log facts; marking
verified changes the mark; after a restart the stored history shows the
delivery marks of earlier runs; bob rotates his key and alice sees the banner,
her sending is blocked with the reason until /accept, then the held
message arrives and chat goes on; bob's old profile copy raises the red
"key under your name" alert; /monitor and /audit (its progress bar seen
while ckvd is paused) run; /log
shows both entries.

usage: test_tui_online.py CKV_CHAT CKVD TUI_ROTATE"""
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuidrive import Fail, Term, Tmux, has_qr, safety_groups  # noqa

CHAT, CKVD, ROTATE = sys.argv[1], sys.argv[2], sys.argv[3]
SHOTS = os.environ.get("CKV_TUI_SHOTS")
# How bob replaces his key: rotate (default) or reset (CKV_TUI_KEY_CHANGE);
# for alice both are a new key under bob's name in the log.
KEY_CHANGE = os.environ.get("CKV_TUI_KEY_CHANGE", "rotate")


def shot(name, text):
    if SHOTS:
        with open(os.path.join(SHOTS, name + ".txt"), "w") as f:
            f.write(text.rstrip("\n") + "\n")


def stop_ckvd(p):
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def start_ckvd(tmp, port=0):
    errpath = os.path.join(tmp, "ckvd.stderr")
    err = open(errpath, "w")
    p = subprocess.Popen([CKVD, "--listen", "127.0.0.1:%d" % port, "--data", os.path.join(tmp, "srv"),
                          "--checkpoint-interval", "50"], stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 15
    while time.time() < deadline:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", open(errpath).read())
        if m:
            vkey = open(os.path.join(tmp, "srv", "log.vkey")).read().strip()
            return p, "http://127.0.0.1:%s" % m.group(1), vkey
        if p.poll() is not None:
            break
        time.sleep(0.05)
    raise Fail("ckvd did not start:\n" + open(errpath).read())


def pane_text(screen):
    """The right pane's lines joined into one, so that a sentence the
    window wrapped can be matched whole."""
    text = " ".join(l.split("\u2502", 1)[-1].strip() for l in screen.splitlines())
    return re.sub(r"\s+", " ", text)


def wait_joined(term, pattern, timeout=10):
    """Wait until the regex matches the right pane's joined text."""
    deadline = time.time() + timeout
    rx = re.compile(pattern)
    while True:
        s = term.screen()
        if rx.search(pane_text(s)):
            return s
        if time.time() > deadline:
            raise Fail("%s: waited %ss for %r (joined); screen:\n%s" % (term.name, timeout,
                                                                         pattern, s))
        time.sleep(0.1)


def main():
    tmp = tempfile.mkdtemp(prefix="ckvtui-on-")
    tmux = Tmux("on")
    srv = None
    try:
        srv, url, vkey = start_ckvd(tmp)
        data = os.path.join(tmp, "data")
        env = {"CKV_PASSPHRASE": "pass phrase", "XDG_DATA_HOME": data, "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "TERM": "screen-256color", "HOME": tmp, "CKV_KDF": "min"}

        # alice: first run from flags.
        a = Term(tmux, "alice", [CHAT, "--profile", "alice", "--name", "Alice", "--server", url,
                                 "--log-key", vkey], env)
        a.wait(r"registered: your key is in the server's transparency log", 30)
        # bob: first run walked through the prompts.
        b = Term(tmux, "bob", [CHAT, "--profile", "bob"], env)
        b.wait(r"Account name")
        b.type("bob")
        b.wait(r"Server URL")
        b.type(url)
        b.wait(r"Log verifier key:")
        b.type(vkey)
        b.wait(r"registered: your key is in the server's transparency log", 30)
        b.wait(r"^ bob \| http://127\.0\.0\.1:\d+ \| online \| log [12] \| checkpoint \d+s")

        # Keep a copy of the server as it is now (log of 2 entries), to roll
        # it back at the end.
        stop_ckvd(srv)
        shutil.copytree(os.path.join(tmp, "srv"), os.path.join(tmp, "srv-old"))
        srv, url2, _ = start_ckvd(tmp, int(url.rsplit(":", 1)[1]))
        if url2 != url:
            raise Fail("ckvd restarted on %s, not %s" % (url2, url))

        # They add each other and chat both ways.
        a.type("/add bob")
        a.wait(r"bob added; /msg bob to talk", 20)
        a.wait("^ \u2022 bob")  # logged
        b.type("/add alice")
        b.wait(r"alice added; /msg alice to talk", 20)
        b.wait("^ \u2022 alice")
        a.type("/msg bob")
        a.type("hello bob, it's alice")
        b.wait(r"^ \S alice \(1\)", 20)
        b.type("/msg alice")
        b.wait(r"alice: hello bob, it's alice")
        a.wait("alice: hello bob, it's alice \u2713\u2713", 20)  # delivered (receipt)
        b.type("hi alice, bob here")
        s = a.wait(r"bob: hi alice, bob here", 20)
        b.wait("bob: hi alice, bob here \u2713\u2713", 20)
        shot("online-main", s)
        print("chatted both ways with receipts")

        # A multi-line paste (bracketed, as terminals send it) waits in the
        # input line as one line: it neither sends each line nor runs the
        # pasted "/quit"; Enter sends it as one message.
        tmux.run("set-buffer", "-b", "ckvpaste", "pasted one\n/quit\npasted three")
        tmux.run("paste-buffer", "-p", "-d", "-b", "ckvpaste", "-t", b.name)
        b.wait(r"pasted one /quit pasted three", 10)
        time.sleep(0.3)
        if "EXIT=" in b.screen():
            raise Fail("a pasted /quit ran:\n" + b.screen())
        b.keys("Enter")
        a.wait(r"bob: pasted one /quit pasted three", 20)
        print("a multi-line paste is one line, no command runs")

        # The server away: a message typed now is queued (kept in the
        # outbox, marked with U+21BB), not shown as failed; once ckvd is
        # back it goes out and its receipt marks it delivered.
        stop_ckvd(srv)
        a.type("while the server is away")
        a.wait("alice: while the server is away \u21bb", 20)
        wait_joined(a, r"queued: .*kept in the outbox", 20)
        s = a.screen()
        if "while the server is away \u2717" in s:
            raise Fail("a queued message is shown as not sent:\n" + s)
        srv, url2, _ = start_ckvd(tmp, int(url.rsplit(":", 1)[1]))
        b.wait(r"alice: while the server is away", 40)
        a.wait("alice: while the server is away \u2713\u2713", 40)
        print("a message typed while ckvd was away: queued, then delivered")

        # Messages typed while the worker is stuck (ckvd paused: requests
        # hang until the client's timeout), then /quit at once: ckv-chat
        # sends them before it exits (into the outbox, the server being
        # unreachable), says so, and they reach bob once ckvd is back.
        srv.send_signal(signal.SIGSTOP)
        try:
            time.sleep(1.0)  # the worker's next poll is now stuck in ckvd's queue
            a.type("typed before quitting, one")
            a.type("typed before quitting, two")
            a.type("/quit")
            a.wait(r"sending the \d+ messages? typed before quitting", 20)
            a.wait(r"EXIT=0", 90)
        finally:
            srv.send_signal(signal.SIGCONT)
        a = Term(tmux, "alice1b", [CHAT, "--profile", "alice"], env)
        a.wait(r"profile of alice unlocked")
        a.type("/msg bob")
        b.wait(r"alice: typed before quitting, two", 40)
        s = b.screen()
        if "alice: typed before quitting, one" not in s:
            raise Fail("the first message typed before /quit is missing:\n" + s)
        a.wait("alice: typed before quitting, two \u2713\u2713", 40)
        print("messages typed just before /quit were sent, not dropped")

        # The verification screen on both sides.
        a.type("/verify bob")
        sa = a.wait_qr(r"Log: entry #\d+, key version 1.*\n\s+checkpoint size", 20)
        b.type("/verify alice")
        sb = b.wait_qr(r"Log: entry #\d+, key version 1.*\n\s+checkpoint size", 20)
        ga, gb = safety_groups(sa), safety_groups(sb)
        if len(ga) != 12 or ga != gb:
            raise Fail("safety numbers: alice %s, bob %s" % (ga, gb))
        if not has_qr(sa) or not has_qr(sb):
            raise Fail("no QR block:\n" + sa + "\n" + sb)
        if not re.search(r"checkpoint size \d+, verified \d+s ago", sa):
            raise Fail("no checkpoint facts:\n" + sa)
        # gossip: each got the other's checkpoint inside a message
        for who, scr in (("alice", sa), ("bob", sb)):
            if not re.search(r"Log views: agree \(size \d+\)", scr):
                raise Fail("%s's verification screen lacks 'Log views: agree':\n%s" % (who, scr))
        shot("online-verify", sa)
        a.keys("v")
        a.wait(r"bob marked verified")
        a.keys("Escape")
        a.wait("^ \u2714 bob")
        b.keys("v")
        b.wait(r"alice marked verified")
        b.keys("Escape")
        b.wait("^ \u2714 alice")
        print("same 60 digits: %s; both marked verified" % " ".join(ga))

        # bob rotates his key (his ckv-chat closed), keeping a copy of the old profile.
        b.type("/quit")
        b.wait(r"EXIT=0")
        shutil.copytree(os.path.join(data, "ckv", "bob"), os.path.join(data, "ckv", "bobold"))
        out = subprocess.run([ROTATE, KEY_CHANGE, os.path.join(data, "ckv", "bob")], env=dict(os.environ, **env),
                             capture_output=True, text=True)
        if out.returncode != 0:
            raise Fail("rotate failed: " + out.stderr)
        b = Term(tmux, "bob2", [CHAT, "--profile", "bob"], env)
        b.wait(r"profile of bob unlocked")
        b.type("/msg alice")
        b.type("new key, same bob")
        # alice: banner, mark, blocked input line with the reason.
        s = a.wait(r"KEY CHANGED: bob has a new identity key", 30)
        a.wait(r"^ ! bob")
        s = a.wait(r"^\[bob\] blocked: bob's key changed; /verify bob or /accept bob")
        shot("online-alert", s)
        if "new key, same bob" in s:
            raise Fail("a message under the changed key was shown before a decision:\n" + s)
        a.type("are you still bob?")
        a.wait(r"not sent: blocked: bob's key changed")
        a.type("/verify bob")
        sv = a.wait(r"State: ! CHANGED", 20)
        if safety_groups(sv) == ga:
            raise Fail("safety number unchanged after the rotation")
        a.keys("Escape")
        a.type("/accept bob")
        a.wait(r"new key of bob accepted")
        s = a.wait(r"bob: new key, same bob", 30)
        if re.search(r"^\[bob\] blocked", s, re.M):
            raise Fail("still blocked after /accept:\n" + s)
        a.type("welcome back")
        b.wait(r"alice: welcome back", 30)
        a.wait("alice: welcome back \u2713\u2713", 30)
        print("rotation: banner, blocked, accepted, chat resumed")

        # A message dropped by the server shows as a gap in bob's numbers.
        a.type("/quit")
        a.wait(r"EXIT=0")
        for t in ("gap one", "gap two", "gap three"):
            b.type(t)
        b.wait("bob: gap three \u2713", 20)  # stored by the server
        db = sqlite3.connect(os.path.join(tmp, "srv", "ckvd.db"), timeout=10)
        ids = [r[0] for r in db.execute("SELECT id FROM messages WHERE sender = 'bob' ORDER BY id")]
        if len(ids) != 3:
            raise Fail("expected bob's 3 queued messages for alice, found %d" % len(ids))
        db.execute("DELETE FROM messages WHERE id = ?", (ids[1],))
        db.commit()
        db.close()
        a = Term(tmux, "alice3", [CHAT, "--profile", "alice"], env)
        a.wait(r"profile of alice unlocked")
        a.type("/msg bob")
        s = a.wait(r"bob: gap three", 30)
        s = a.wait(r"a message is missing \(number \d+ from bob never arrived\)")
        if "gap two" in s or "gap one" not in s:
            raise Fail("gap: wrong messages shown:\n" + s)
        print("a dropped message shows as a gap")
        # Delivery state is stored: after the restart the history loaded
        # from the profile shows the receipts that arrived in earlier runs.
        s = a.wait("alice: hello bob, it's alice \u2713\u2713\\s*$", 10)
        if not re.search("alice: welcome back \u2713\u2713\\s*$", s, re.M):
            raise Fail("no stored delivery mark after a restart:\n" + s)
        if not re.search(r"bob: hi alice, bob here\s*$", s, re.M):
            raise Fail("a received message with a delivery mark:\n" + s)
        b.wait("bob: gap three \u2713\u2713", 30)  # alice's receipt reached bob
        print("stored delivery marks after a restart")

        # /log, /monitor, /audit on alice's side.
        a.type("/log bob")
        a.wait(r"bob: 2 entries in the log, each proof checked", 20)
        a.wait(r"v2 %s +entry #\d+" % ("rotate" if KEY_CHANGE == "rotate" else "RESET"))
        a.type("/monitor")
        a.wait(r"monitor: log read up to tree size \d+", 20)
        # /audit with ckvd paused: the worker is held in the audit's first
        # step (the monitor's request waits in ckvd's listen queue), so the
        # progress bar is on screen for as long as we need to see it.
        srv.send_signal(signal.SIGSTOP)
        try:
            time.sleep(0.3)
            a.type("/audit")
            s = a.wait(r"audit \[\.{10,}\] 0/2$", 25)
            if not re.search(r"\| auditing", s):
                raise Fail("no 'auditing' in the status bar:\n" + s)
        finally:
            srv.send_signal(signal.SIGCONT)
        a.wait(r"audit done: 1 contact checked against the log, 0 problems", 30)
        a.wait(r"audit \[", 10, absent=True)
        print("log, monitor, audit ok")

        # The old copy of bob's profile sees a key under its name it did not make.
        o = Term(tmux, "bobold", [CHAT, "--profile", "bobold"], env)
        banner = r"\u2502 KEY UNDER YOUR NAME: the log holds 1 entry under your name"
        s = o.wait(banner, 30)
        shot("online-foreign", s)
        # a wrong leaf is refused and the banner stays
        m = re.search(r"if it was you, /ack (\d+) ends the alarm", pane_text(s))
        if not m:
            raise Fail("the banner does not say how to end the alarm:\n" + s)
        o.type("/ack %d" % (int(m.group(1)) - 1))
        wait_joined(o, r"cannot acknowledge: .*\(the alert stays\)")
        o.wait(banner)
        o.type("/ack")
        o.wait(banner, absent=True)
        o.wait(r"!! KEY UNDER YOUR NAME")  # stays in the status window
        o.type("/monitor")  # says it again, without raising the acknowledged banner
        o.wait(r"monitor: still 1 entry under your name that this profile did not create")
        o.wait(banner, absent=True)
        # /ack LEAF acknowledges it for good: the banner names the leaf; an
        # older leaf is refused with the latest one named
        m = re.search(r"if it was you, /ack (\d+) ends the alarm", pane_text(s))
        if not m:
            raise Fail("the banner does not say how to end the alarm:\n" + s)
        leaf = int(m.group(1))
        o.type("/ack %d" % (leaf - 1))
        wait_joined(o, r"cannot acknowledge: .*leaf %d is not the latest entry under 'bob'.*"
                       r"\(that is leaf %d\)" % (leaf - 1, leaf))
        o.type("/ack %d" % leaf)
        wait_joined(o, r"the entries under your name up to entry #%d are acknowledged: the "
                       r"alarm comes back only for a newer one" % leaf)
        o.type("/monitor")
        wait_joined(o, r"monitor: log read up to tree size \d+ \(\d+ new entries\); \d+ "
                       r"entries under your name: \d+ made by this profile, 0 older ones its "
                       r"reset replaced, 1 acknowledged")
        o.wait(banner, absent=True)
        print("key under your name: banner, /ack, /ack LEAF")
        o.type("/quit")
        o.wait(r"EXIT=0")

        # A split view: the server goes back to its older state and grows a
        # different log to the same size alice has seen (carol registers
        # where bob's rotation was): the same tree size with another root.
        stop_ckvd(srv)
        shutil.rmtree(os.path.join(tmp, "srv"))
        shutil.copytree(os.path.join(tmp, "srv-old"), os.path.join(tmp, "srv"))
        srv, _, _ = start_ckvd(tmp, int(url.rsplit(":", 1)[1]))
        # (carol's first run also asks for a recovery code: shown once)
        c = Term(tmux, "carol", [CHAT, "--profile", "carol", "--name", "carol", "--server", url,
                                 "--log-key", vkey, "--new-recovery-code"], env)
        c.wait(r"!! RECOVERY CODE: ([0-9a-f]{4}-){7}[0-9a-f]{4} -- write it", 30)
        c.wait(r"registered: your key is in the server's transparency log", 30)
        c.wait(r"\| log 3 \|", 10)
        c.type("/quit")
        c.wait(r"EXIT=0")
        a.type("/monitor")
        s = a.wait(r"\u2502 LOG INCONSISTENT: the server showed a log that contradicts", 30)
        if not re.search(r"\u2502 .*/ack hides this banner", s):
            raise Fail("the log alert is cut short:\n" + s)
        a.wait(r"!! log check failed: the server's log is inconsistent")
        shot("online-log-alert", s)
        print("forked log: red banner")
        a.type("/quit")
        a.wait(r"EXIT=0")
        b.type("/quit")
        b.wait(r"EXIT=0")
        print("ok")
    finally:
        tmux.kill()
        if srv:
            stop_ckvd(srv)
        if os.environ.get("CKV_TUI_KEEP"):
            print("kept", tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL:", e)
        sys.exit(1)
