"""test_tui_offline.py: ckv-chat in tmux on profiles seeded through core
(no server): start-up with CKV_PASSPHRASE, a wrong one, and a prompt; a 2,000-message
history that scrolls with PageUp/PageDown; Tab completion; the verification
screen (12 groups, the same 60 digits and public codes on both sides, a QR
block), a compared code that differs in one group, marking verified (the
mark changes); resizing to 80x24 and back; a key change after
verification (mark, banner, sending blocked with the reason, /accept
unblocks); /help; /quit.

usage: test_tui_offline.py CKV_CHAT TUI_SEED
With CKV_TUI_SHOTS=DIR the screens are also written to DIR (docs/tui.md)."""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuidrive import Fail, Term, Tmux, check_whole, has_qr, public_code_after, safety_groups  # noqa

CHAT, SEED = sys.argv[1], sys.argv[2]
SHOTS = os.environ.get("CKV_TUI_SHOTS")


def shot(name, text):
    if SHOTS:
        with open(os.path.join(SHOTS, name + ".txt"), "w") as f:
            f.write(text.rstrip("\n") + "\n")


def main():
    tmp = tempfile.mkdtemp(prefix="ckvtui-")
    tmux = Tmux("off")
    try:
        data = os.path.join(tmp, "data")
        env = {"CKV_PASSPHRASE": "correct horse", "XDG_DATA_HOME": data,
               "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8", "TERM": "screen-256color",
               "HOME": tmp}
        senv = dict(os.environ, **env)
        t0 = time.time()
        subprocess.run([SEED, "pair", data + "/ckv/alice", "alice", data + "/ckv/bob", "bob",
                        "1000"], env=senv, check=True)
        print("seeded 2,000 messages in %.1fs" % (time.time() - t0))

        # A wrong passphrase: a clear error, exit status 1, nothing drawn over it.
        bad = Term(tmux, "bad", [CHAT, "--profile", "alice"], dict(env, CKV_PASSPHRASE="nope"))
        s = bad.wait(r"EXIT=1")
        if "passphrase" not in s:
            raise Fail("wrong passphrase: no explanation:\n" + s)

        # The passphrase from a prompt (no echo) when CKV_PASSPHRASE is unset.
        noenv = {k: v for k, v in env.items() if k != "CKV_PASSPHRASE"}
        p = Term(tmux, "prompt", [CHAT, "--profile", "alice"], noenv)
        p.wait(r"^Passphrase:")
        p.type("correct horse")
        s = p.wait(r"profile of alice unlocked")
        if "correct horse" in s:
            raise Fail("the passphrase was echoed:\n" + s)
        p.type("/quit")
        p.wait(r"EXIT=0")

        a = Term(tmux, "alice", [CHAT, "--profile", "alice"], env)
        a.wait(r"profile of alice unlocked")
        a.wait(r"^ \? bob")  # unverified mark
        a.type("/msg bob")
        s = a.wait(r"bob: reply 1000 from bob")
        if "reply 0001 from bob" in s:
            raise Fail("the whole history fits on one screen?")
        shot("main", s)

        # Scrolling: one page up hides the newest, enough pages show the oldest.
        a.keys("PPage")
        a.wait(r"reply 1000 from bob", absent=True)
        a.wait(r"scrolled up \d+ rows")
        for _ in range(12):
            a.keys(*(["PPage"] * 10))
        s = a.wait(r"alice: message 0001 from alice")
        if "reply 1000" in s:
            raise Fail("top and bottom of 2,000 messages on one screen")
        top = [r for r in s.split("\n") if "message 0001 from alice" in r]
        a.keys("PPage")  # at the top already: stays
        a.wait(r"alice: message 0001 from alice")
        for _ in range(12):
            a.keys(*(["NPage"] * 10))
        a.wait(r"bob: reply 1000 from bob")
        a.wait(r"scrolled up", absent=True)
        print("scrolled 2,000 messages: top row %r" % top[0].strip())

        # Tab completion, then the verification screen.
        a.type("/ver", enter=False)
        a.keys("Tab")
        a.wait(r"^\[bob\] /verify$")
        a.type("bob")
        sa = a.wait_qr(r"Verify bob: safety number")
        ga = safety_groups(sa)
        if len(ga) != 12:
            raise Fail("alice: %d groups of 5 digits, want 12:\n%s" % (len(ga), sa))
        if not has_qr(sa):
            raise Fail("alice: no QR block on the verification screen:\n" + sa)
        shot("verify", sa)

        b = Term(tmux, "bob", [CHAT, "--profile", "bob"], env)
        b.wait(r"profile of bob unlocked")
        b.type("/verify alice")
        sb = b.wait_qr(r"Verify alice: safety number")
        gb = safety_groups(sb)
        if ga != gb:
            raise Fail("the safety numbers differ:\nalice %s\nbob   %s" % (ga, gb))
        if not has_qr(sb):
            raise Fail("bob: no QR block:\n" + sb)
        mine_a = public_code_after(sa, "Your public code (alice)")
        theirs_b = public_code_after(sb, "alice's public code")
        if not mine_a or mine_a != theirs_b:
            raise Fail("alice's public code differs: %r vs %r" % (mine_a, theirs_b))
        print("same 60 digits on both sides: %s" % " ".join(ga))

        # A code that differs in group 7 only: named exactly; nothing marked.
        wrong = list(ga)
        wrong[6] = "%05d" % ((int(wrong[6]) + 1) % 100000)
        a.keys("c")
        a.wait(r"^code for bob>")
        a.type(" ".join(wrong))
        a.wait(r"MISMATCH: group 7 of 12 differs \(digits 31-35\)")
        a.wait(r"State: \? unverified")
        # The right code, pasted without spaces: match, marked verified.
        a.keys("c")
        a.wait(r"^code for bob>")
        a.type("".join(ga))
        a.wait(r"codes match \(all 12 groups\): bob marked verified")
        a.wait("State: \u2714 verified")
        a.keys("Escape")
        s = a.wait("^ \u2714 bob")
        if re.search(r"^ \? bob", s, re.M):
            raise Fail("old mark still shown:\n" + s)
        # bob marks alice with v (in person).
        b.keys("v")
        b.wait(r"alice marked verified")
        b.keys("Escape")
        b.wait("^ \u2714 alice")

        # Resize to 80x24 and back: the frame stays whole.
        w0, h0 = a.size()
        a.resize(80, 24)
        time.sleep(0.3)
        a.wait(r"^ alice \| no server")
        s = check_whole(a, 80, 24, r"^ alice \| no server \| offline", r"^\[bob\]",
                        must=("\u2714 bob", "reply 1000 from bob", "Contacts"))
        shot("main-80x24", s)
        a.type("/verify bob")
        s = a.wait_qr(r"Verify bob")
        if not has_qr(s) or len(safety_groups(s)) != 12:
            raise Fail("verification screen incomplete at 80x24:\n" + s)
        a.keys("Escape")
        a.resize(w0, h0)
        time.sleep(0.3)
        a.wait(r"reply 1000 from bob")
        check_whole(a, w0, h0, r"^ alice \| no server \| offline", r"^\[bob\]",
                    must=("\u2714 bob", "reply 1000 from bob", "Contacts"))
        print("resized to 80x24 and back to %dx%d" % (w0, h0))

        # /code: our public code (the same 30 digits) and its QR code.
        a.type("/code")
        s = a.wait_qr(r"Your public code \(alice\)")
        rows = s.split("\n")
        code = " ".join(re.findall(r"\d{5}", rows[2] + " " + rows[3]))
        if code != mine_a or not has_qr(s):
            raise Fail("/code shows %r (want %r) or no QR:\n%s" % (code, mine_a, s))
        a.keys("Escape")

        # /help, then quit.
        a.type("/help")
        a.wait(r"/verify \[NAME\] safety number")
        a.keys("Escape")
        a.type("/quit")
        a.wait(r"EXIT=0")
        b.type("/quit")
        b.wait(r"EXIT=0")

        # No UTF-8, no colours (vt100, C locale): ASCII marks, no QR code.
        m = Term(tmux, "mono", [CHAT, "--profile", "alice"],
                 dict(env, LANG="C", LC_ALL="C", TERM="vt100"), w=80, h=24)
        m.wait(r"^ V bob")
        m.type("/verify bob")
        s = m.wait(r"\(the QR code needs a UTF-8 terminal\)")
        if safety_groups(s) != ga or "State: V verified" not in s:
            raise Fail("ASCII verification screen:\n" + s)
        m.keys("Escape")
        m.type("/quit")
        m.wait(r"EXIT=0")

        # bob's key changes after alice verified it.
        out = subprocess.run([SEED, "rekey", data + "/ckv/alice", "bob", data + "/ckv/bob2"],
                             env=senv, check=True, capture_output=True, text=True).stdout
        if "state=changed" not in out:
            raise Fail("seed: key change not blocked: " + out)
        a = Term(tmux, "alice2", [CHAT, "--profile", "alice"], env)
        a.wait(r"^ ! bob")
        a.type("/msg bob")
        s = a.wait(r"KEY CHANGED: bob has a new identity key")
        if not re.search(r"^\[bob\] blocked: bob's key changed; /verify bob or /accept bob",
                         s, re.M):
            raise Fail("the input line does not say why sending is blocked:\n" + s)
        shot("alert", s)
        a.type("are you there?")
        a.wait(r"not sent: blocked: bob's key changed")
        a.type("/verify bob")
        s = a.wait(r"State: ! CHANGED")
        if safety_groups(s) == ga:
            raise Fail("the safety number did not change with the key")
        a.keys("Escape")
        a.type("/accept bob")
        a.wait(r"new key of bob accepted")
        s = a.wait(r"^ \? bob")
        if "KEY CHANGED" in s:
            raise Fail("banner stays after /accept:\n" + s)
        if re.search(r"^\[bob\] blocked", s, re.M):
            raise Fail("still blocked after /accept:\n" + s)
        a.type("/quit")
        a.wait(r"EXIT=0")
        print("ok")
    finally:
        tmux.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except Fail as e:
        print("FAIL:", e)
        sys.exit(1)
