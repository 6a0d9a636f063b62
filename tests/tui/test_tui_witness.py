"""test_tui_witness.py: ckv-chat with witnesses. A real ckvd pushes its
checkpoints to two real ckv-witness processes and serves what both
cosigned; two ckv-chat users start from flags (--witness twice, --quorum 2,
--max-view-age 4), chat, and the verification screen says the log views
agree (gossip). Then one witness stops: its last cosignature ages, and a
message typed after more than 4 s is not sent, with the freeze reason in
the conversation.

usage: test_tui_witness.py CKV_CHAT CKVD CKV_WITNESS"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from tuidrive import Fail, Term, Tmux  # noqa

CHAT, CKVD, WITNESS = sys.argv[1], sys.argv[2], sys.argv[3]


def stop(p):
    if p is None or p.poll() is not None:
        return
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()


def start(argv, errpath, what):
    """Start a program that prints 'on http://127.0.0.1:PORT' on stderr."""
    err = open(errpath, "w")
    p = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=err)
    deadline = time.time() + 15
    while time.time() < deadline:
        m = re.search(r"on http://127\.0\.0\.1:(\d+)", open(errpath).read())
        if m:
            return p, "http://127.0.0.1:%s" % m.group(1)
        if p.poll() is not None:
            return None, open(errpath).read()
        time.sleep(0.05)
    stop(p)
    raise Fail("%s did not start:\n%s" % (what, open(errpath).read()))


def start_witness(tmp, n, log_vkey):
    data = os.path.join(tmp, "w%d" % n)
    p, url = start([WITNESS, "--listen", "127.0.0.1:0", "--data", data, "--log", log_vkey,
                    "--name", "w%d.test" % n], os.path.join(tmp, "w%d.err" % n), "ckv-witness")
    if p is None:
        raise Fail("ckv-witness did not start: %s" % url.strip())
    return p, url, open(os.path.join(data, "witness.vkey")).read().strip()


def main():
    tmp = tempfile.mkdtemp(prefix="ckvtui-w-")
    tmux = Tmux("wit")
    procs = []
    try:
        srvdata = os.path.join(tmp, "srv")
        srv, url = start([CKVD, "--listen", "127.0.0.1:0", "--data", srvdata],
                         os.path.join(tmp, "ckvd0.err"), "ckvd")
        if srv is None:
            raise Fail("ckvd: " + url)
        stop(srv)
        vkey = open(os.path.join(srvdata, "log.vkey")).read().strip()
        w1, u1, k1 = start_witness(tmp, 1, vkey)
        procs.append(w1)
        w2, u2, k2 = start_witness(tmp, 2, vkey)
        procs.append(w2)
        srv, url = start([CKVD, "--listen", "127.0.0.1:0", "--data", srvdata,
                          "--checkpoint-interval", "50", "--witness", "%s,%s" % (k1, u1),
                          "--witness", "%s,%s" % (k2, u2), "--witness-quorum", "2",
                          "--witness-refresh", "1"], os.path.join(tmp, "ckvd.err"), "ckvd")
        if srv is None:
            raise Fail("ckvd with witnesses: " + url)
        procs.append(srv)
        data = os.path.join(tmp, "data")
        env = {"CKV_PASSPHRASE": "pass phrase", "XDG_DATA_HOME": data, "LANG": "C.UTF-8",
               "LC_ALL": "C.UTF-8", "TERM": "screen-256color", "HOME": tmp, "CKV_KDF": "min"}
        flags = ["--server", url, "--log-key", vkey, "--witness", k1, "--witness", k2,
                 "--quorum", "2", "--max-view-age", "4"]
        a = Term(tmux, "alice", [CHAT, "--profile", "alice", "--name", "alice"] + flags, env)
        b = Term(tmux, "bob", [CHAT, "--profile", "bob", "--name", "bob"] + flags, env)
        a.wait(r"registered: your key is in the server's transparency log", 30)
        b.wait(r"registered: your key is in the server's transparency log", 30)

        a.type("/add bob")
        a.wait(r"bob added; /msg bob to talk", 20)
        a.type("/msg bob")
        a.type("witnessed hello")
        b.wait(r"^ \S alice \(1\)", 20)
        b.type("/msg alice")
        b.wait(r"alice: witnessed hello")
        b.type("hi alice")
        a.wait(r"bob: hi alice", 20)
        a.type("/verify bob")
        s = a.wait_qr(r"Log views: agree \(size \d+\)", 20)
        a.keys("Escape")
        b.type("/verify alice")
        b.wait_qr(r"Log views: agree \(size \d+\)", 20)
        b.keys("Escape")
        print("chatted through a witnessed log; log views agree")

        stop(w2)
        time.sleep(7)
        a.type("late message")
        s = a.wait(r"not sent", 30)
        flat = re.sub(r"\s+", " ", s.replace("\u2502", " "))
        if "freezing our view" not in flat:
            raise Fail("the refused send does not say why:\n" + s)
        print("frozen view: the send is refused with the reason")
        a.type("/quit")
        a.wait(r"EXIT=0")
        b.type("/quit")
        b.wait(r"EXIT=0")
        print("ok")
    finally:
        tmux.kill()
        for p in procs:
            stop(p)
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
