#!/usr/bin/python3
"""axolotl_peer.py: a Signal-protocol v3 peer built on Debian's python3-axolotl
(an implementation written by others), used by the interop test to talk to
the `ckv` command through files, in ckv's own JSON formats (docs/cli.md):

  bundle:   {"registration_id": N, "device_id": N, "identity_key": b64(33),
             "signed_prekey_id": N, "signed_prekey": b64(33),
             "signed_prekey_signature": b64(64), "prekey_id": N, "prekey": b64(33)}
  envelope: {"type": 3|2, "body": b64}

State lives in DIR/state.json (records serialised with their protobuf
encodings), rewritten atomically after every command, so that every command
is a fresh process like a ckv invocation.

usage: axolotl_peer.py DIR init
       axolotl_peer.py DIR bundle                 > bundle.json
       axolotl_peer.py DIR start CONTACT BUNDLE.json
       axolotl_peer.py DIR encrypt CONTACT        < plaintext > envelope.json
       axolotl_peer.py DIR decrypt CONTACT        < envelope.json > plaintext
       axolotl_peer.py DIR identity               (our identity key, base64)
Errors: one line on stderr, exit 1.
"""
import base64
import json
import os
import sys

from axolotl.ecc.curve import Curve
from axolotl.identitykey import IdentityKey
from axolotl.identitykeypair import IdentityKeyPair
from axolotl.protocol.prekeywhispermessage import PreKeyWhisperMessage
from axolotl.protocol.whispermessage import WhisperMessage
from axolotl.sessionbuilder import SessionBuilder
from axolotl.sessioncipher import SessionCipher
from axolotl.state.axolotlstore import AxolotlStore
from axolotl.state.prekeybundle import PreKeyBundle
from axolotl.state.prekeyrecord import PreKeyRecord
from axolotl.state.sessionrecord import SessionRecord
from axolotl.state.signedprekeyrecord import SignedPreKeyRecord
from axolotl.util.keyhelper import KeyHelper

DEVICE_ID = 1
PREKEY_TYPE = 3   # CiphertextMessage.PREKEY_TYPE
WHISPER_TYPE = 2  # CiphertextMessage.WHISPER_TYPE


def b64e(b):
    return base64.b64encode(bytes(b)).decode("ascii")


def b64d(s):
    return base64.b64decode(s.encode("ascii"), validate=True)


class FileStore(AxolotlStore):
    """All axolotl stores in one JSON file (base64 of each record)."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.d = json.load(f)

    def save(self):
        tmp = self.path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self.d, f)
        os.replace(tmp, self.path)

    # identity
    def getIdentityKeyPair(self):
        return IdentityKeyPair(serialized=b64d(self.d["identity"]))

    def getLocalRegistrationId(self):
        return self.d["registration_id"]

    def saveIdentity(self, recipientId, identityKey):
        self.d["trusted"][recipientId] = b64e(identityKey.serialize())

    def isTrustedIdentity(self, recipientId, identityKey):
        k = self.d["trusted"].get(recipientId)
        return k is None or b64d(k) == bytes(identityKey.serialize())

    # prekeys
    def loadPreKey(self, preKeyId):
        from axolotl.invalidkeyidexception import InvalidKeyIdException
        k = self.d["prekeys"].get(str(preKeyId))
        if k is None:
            raise InvalidKeyIdException("No such prekey: %d" % preKeyId)
        return PreKeyRecord(serialized=b64d(k))

    def storePreKey(self, preKeyId, record):
        self.d["prekeys"][str(preKeyId)] = b64e(record.serialize())

    def containsPreKey(self, preKeyId):
        return str(preKeyId) in self.d["prekeys"]

    def removePreKey(self, preKeyId):
        self.d["prekeys"].pop(str(preKeyId), None)

    # signed prekeys
    def loadSignedPreKey(self, signedPreKeyId):
        from axolotl.invalidkeyidexception import InvalidKeyIdException
        k = self.d["signed_prekeys"].get(str(signedPreKeyId))
        if k is None:
            raise InvalidKeyIdException("No such signed prekey: %d" % signedPreKeyId)
        return SignedPreKeyRecord(serialized=b64d(k))

    def loadSignedPreKeys(self):
        return [SignedPreKeyRecord(serialized=b64d(v)) for v in self.d["signed_prekeys"].values()]

    def storeSignedPreKey(self, signedPreKeyId, record):
        self.d["signed_prekeys"][str(signedPreKeyId)] = b64e(record.serialize())

    def containsSignedPreKey(self, signedPreKeyId):
        return str(signedPreKeyId) in self.d["signed_prekeys"]

    def removeSignedPreKey(self, signedPreKeyId):
        self.d["signed_prekeys"].pop(str(signedPreKeyId), None)

    # sessions
    def _skey(self, recipientId, deviceId):
        return "%s:%d" % (recipientId, deviceId)

    def loadSession(self, recipientId, deviceId):
        k = self.d["sessions"].get(self._skey(recipientId, deviceId))
        if k is None:
            return SessionRecord()
        return SessionRecord(serialized=b64d(k))

    def getSubDeviceSessions(self, recipientId):
        return [int(k.split(":")[1]) for k in self.d["sessions"]
                if k.split(":")[0] == recipientId and int(k.split(":")[1]) != 1]

    def storeSession(self, recipientId, deviceId, record):
        self.d["sessions"][self._skey(recipientId, deviceId)] = b64e(record.serialize())

    def containsSession(self, recipientId, deviceId):
        return self._skey(recipientId, deviceId) in self.d["sessions"]

    def deleteSession(self, recipientId, deviceId):
        self.d["sessions"].pop(self._skey(recipientId, deviceId), None)

    def deleteAllSessions(self, recipientId):
        for k in [k for k in self.d["sessions"] if k.split(":")[0] == recipientId]:
            del self.d["sessions"][k]


def cmd_init(statedir):
    os.makedirs(statedir, exist_ok=True)
    path = os.path.join(statedir, "state.json")
    if os.path.exists(path):
        raise RuntimeError("state exists already in " + statedir)
    ikp = KeyHelper.generateIdentityKeyPair()
    spk = KeyHelper.generateSignedPreKey(ikp, 1)
    d = {"identity": b64e(ikp.serialize()),
         "registration_id": KeyHelper.generateRegistrationId(),
         "prekeys": {}, "signed_prekeys": {}, "sessions": {}, "trusted": {},
         "next_bundle_prekey": 1}
    with open(path, "w") as f:
        json.dump(d, f)
    st = FileStore(path)
    for pk in KeyHelper.generatePreKeys(1, 20):
        st.storePreKey(pk.getId(), pk)
    st.storeSignedPreKey(spk.getId(), spk)
    st.save()


def cmd_bundle(st):
    ikp = st.getIdentityKeyPair()
    spk = st.loadSignedPreKey(1)
    # hand out each one-time prekey once, like a server would
    pid = st.d["next_bundle_prekey"]
    if not st.containsPreKey(pid):
        raise RuntimeError("no one-time prekey left")
    st.d["next_bundle_prekey"] = pid + 1
    pk = st.loadPreKey(pid)
    b = {"registration_id": st.getLocalRegistrationId(),
         "device_id": DEVICE_ID,
         "identity_key": b64e(ikp.getPublicKey().serialize()),
         "signed_prekey_id": spk.getId(),
         "signed_prekey": b64e(spk.getKeyPair().getPublicKey().serialize()),
         "signed_prekey_signature": b64e(spk.getSignature()),
         "prekey_id": pk.getId(),
         "prekey": b64e(pk.getKeyPair().getPublicKey().serialize())}
    json.dump(b, sys.stdout, indent=2)
    sys.stdout.write("\n")


def cmd_start(st, contact, bundle_path):
    with open(bundle_path) as f:
        b = json.load(f)
    has_pk = "prekey" in b
    bundle = PreKeyBundle(
        b["registration_id"], b["device_id"],
        b["prekey_id"] if has_pk else None,
        Curve.decodePoint(bytearray(b64d(b["prekey"])), 0) if has_pk else None,
        b["signed_prekey_id"],
        Curve.decodePoint(bytearray(b64d(b["signed_prekey"])), 0),
        b64d(b["signed_prekey_signature"]),
        IdentityKey(bytearray(b64d(b["identity_key"])), 0))
    SessionBuilder(st, st, st, st, contact, DEVICE_ID).processPreKeyBundle(bundle)


def cmd_encrypt(st, contact):
    pt = sys.stdin.buffer.read()
    if not st.containsSession(contact, DEVICE_ID):
        raise RuntimeError("no session with " + contact)
    msg = SessionCipher(st, st, st, st, contact, DEVICE_ID).encrypt(pt)
    json.dump({"type": msg.getType(), "body": b64e(msg.serialize())}, sys.stdout)
    sys.stdout.write("\n")


def cmd_decrypt(st, contact):
    env = json.load(sys.stdin)
    body = b64d(env["body"])
    cipher = SessionCipher(st, st, st, st, contact, DEVICE_ID)
    if env["type"] == PREKEY_TYPE:
        pt = cipher.decryptPkmsg(PreKeyWhisperMessage(serialized=body))
    elif env["type"] == WHISPER_TYPE:
        pt = cipher.decryptMsg(WhisperMessage(serialized=body))
    else:
        raise RuntimeError("unknown envelope type %r" % env["type"])
    if isinstance(pt, str):
        pt = pt.encode("utf-8")
    sys.stdout.buffer.write(bytes(pt))


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    statedir, cmd, args = argv[1], argv[2], argv[3:]
    if cmd == "init":
        cmd_init(statedir)
        return 0
    st = FileStore(os.path.join(statedir, "state.json"))
    if cmd == "bundle":
        cmd_bundle(st)
    elif cmd == "start" and len(args) == 2:
        cmd_start(st, args[0], args[1])
    elif cmd == "encrypt" and len(args) == 1:
        cmd_encrypt(st, args[0])
    elif cmd == "decrypt" and len(args) == 1:
        cmd_decrypt(st, args[0])
    elif cmd == "identity":
        print(b64e(st.getIdentityKeyPair().getPublicKey().serialize()))
        return 0
    else:
        sys.stderr.write(__doc__)
        return 2
    st.save()   # only after the command succeeded: a failure changes nothing
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception as e:  # one line, like ckv
        sys.stderr.write("axolotl_peer: %s: %s\n" % (type(e).__name__, e))
        sys.exit(1)
