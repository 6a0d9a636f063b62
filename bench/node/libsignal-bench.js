// libsignal-bench.js: the reference for `ckv-bench core`: Signal's official
// libsignal (Rust) through its Node package @signalapp/libsignal-client, with
// in-memory stores (records kept as objects, not serialised), measured like bench/core.c: one_way and ping_pong
// (encrypt+decrypt of 100-byte messages, msgs/s), session_setup (bundle ->
// first message decrypted; today's libsignal always does PQXDH, so a Kyber
// prekey is part of it), safety_number (both 5200-iteration halves).
// Prints the same JSON lines with "store": "memory" and "impl": "libsignal".
// Install: cd bench/node && npm install (package.json); run:
//   node bench/node/libsignal-bench.js [--runs N] [--messages N] [--setups N] [--safety N]
'use strict';
const S = require('@signalapp/libsignal-client');

const args = process.argv.slice(2);
function opt(name, def) {
  const i = args.indexOf(name);
  return i >= 0 ? parseInt(args[i + 1], 10) : def;
}
const RUNS = opt('--runs', 5), MSGS = opt('--messages', 2000);
const SETUPS = opt('--setups', 200), SAFETY = opt('--safety', 200);

class Stores {
  constructor(name) {
    this.id = S.IdentityKeyPair.generate();
    this.reg = 1 + Math.floor(Math.random() * 16380);
    this.addr = S.ProtocolAddress.new(name, 1);
    const me = this;
    const sessions = new Map(), identities = new Map();
    this.prekeys = new Map(); this.signed = new Map(); this.kyber = new Map();
    this.session = new (class extends S.SessionStore {
      async saveSession(a, r) { sessions.set(a.toString(), r); }
      async getSession(a) { return sessions.get(a.toString()) || null; }
      async getExistingSessions(as) { return Promise.all(as.map((a) => this.getSession(a))); }
    })();
    this.identity = new (class extends S.IdentityKeyStore {
      async getIdentityKey() { return me.id.privateKey; }
      async getLocalRegistrationId() { return me.reg; }
      async saveIdentity(a, k) { identities.set(a.toString(), k.serialize()); return S.IdentityChange.NewOrUnchanged; }
      async isTrustedIdentity() { return true; }
      async getIdentity(a) { const b = identities.get(a.toString()); return b ? S.PublicKey.deserialize(b) : null; }
    })();
    const pk = this.prekeys, sk = this.signed, kk = this.kyber;
    this.pre = new (class extends S.PreKeyStore {
      async savePreKey(i, r) { pk.set(i, r.serialize()); }
      async getPreKey(i) { return S.PreKeyRecord.deserialize(pk.get(i)); }
      async removePreKey(i) { pk.delete(i); }
    })();
    this.spk = new (class extends S.SignedPreKeyStore {
      async saveSignedPreKey(i, r) { sk.set(i, r.serialize()); }
      async getSignedPreKey(i) { return S.SignedPreKeyRecord.deserialize(sk.get(i)); }
    })();
    this.kpk = new (class extends S.KyberPreKeyStore {
      async saveKyberPreKey(i, r) { kk.set(i, r.serialize()); }
      async getKyberPreKey(i) { return S.KyberPreKeyRecord.deserialize(kk.get(i)); }
      async markKyberPreKeyUsed() {}
    })();
    this.nextPre = 1;
    const s = S.PrivateKey.generate();
    this.signedRec = S.SignedPreKeyRecord.new(1, Date.now(), s.getPublicKey(), s,
      this.id.privateKey.sign(s.getPublicKey().serialize()));
    sk.set(1, this.signedRec.serialize());
    const kp = S.KEMKeyPair.generate();
    this.kyberRec = S.KyberPreKeyRecord.new(1, Date.now(), kp,
      this.id.privateKey.sign(kp.getPublicKey().serialize()));
    kk.set(1, this.kyberRec.serialize());
  }
  bundle() {   // a fresh one-time prekey each time, like ckv
    const id = this.nextPre++, k = S.PrivateKey.generate();
    this.prekeys.set(id, S.PreKeyRecord.new(id, k.getPublicKey(), k).serialize());
    return S.PreKeyBundle.new(this.reg, 1, id, k.getPublicKey(), 1, this.signedRec.publicKey(),
      this.signedRec.signature(), this.id.publicKey, 1, this.kyberRec.publicKey(),
      this.kyberRec.signature());
  }
}

const MSG = new Uint8Array(100).fill(97);
async function send(from, to, msg) {
  const c = await S.signalEncrypt(msg, to.addr, from.addr, from.session, from.identity);
  let pt;
  if (c.type() === S.CiphertextMessageType.PreKey)
    pt = await S.signalDecryptPreKey(S.PreKeySignalMessage.deserialize(c.serialize()), from.addr,
      to.addr, to.session, to.identity, to.pre, to.spk, to.kpk);
  else
    pt = await S.signalDecrypt(S.SignalMessage.deserialize(c.serialize()), from.addr, to.addr,
      to.session, to.identity);
  if (pt.length !== msg.length) throw new Error('decrypt mismatch');
}
async function pair() {
  const a = new Stores('alice'), b = new Stores('bob');
  await S.processPreKeyBundle(b.bundle(), b.addr, a.addr, a.session, a.identity);
  await send(a, b, MSG); await send(b, a, MSG);
  return [a, b];
}
const now = () => Number(process.hrtime.bigint()) / 1e9;
async function messages(pp, n) {
  const [a, b] = await pair(); const t0 = now();
  for (let i = 0; i < n; i++) { if (pp && (i & 1)) await send(b, a, MSG); else await send(a, b, MSG); }
  return n / (now() - t0);
}
async function setups(n) {
  const [a, b] = await pair(); const t0 = now();
  for (let i = 0; i < n; i++) {
    await S.processPreKeyBundle(b.bundle(), b.addr, a.addr, a.session, a.identity);
    await send(a, b, MSG);
  }
  return n / (now() - t0);
}
async function safety(n) {
  const a = S.IdentityKeyPair.generate().publicKey, b = S.IdentityKeyPair.generate().publicKey;
  const ida = new TextEncoder().encode('alice'), idb = new TextEncoder().encode('bob');
  const t0 = now();
  for (let i = 0; i < n; i++) S.Fingerprint.new(5200, 2, ida, a, idb, b).displayableFingerprint().toString();
  return n / (now() - t0);
}
function median(v) { v.sort((x, y) => x - y); return v[Math.ceil(v.length / 2) - 1]; }
function emit(name, value, n) {
  console.log(JSON.stringify({ name, value: Math.round(value * 1000) / 1000, unit: 'ops/s',
    store: 'memory', n, runs: RUNS, impl: 'libsignal' }));
}
(async () => {
  const tests = [['one_way', () => messages(false, MSGS), MSGS], ['ping_pong', () => messages(true, MSGS), MSGS],
    ['session_setup', () => setups(SETUPS), SETUPS], ['safety_number', () => safety(SAFETY), SAFETY]];
  for (const [name, fn, n] of tests) {
    const r = [];
    for (let i = 0; i < RUNS; i++) r.push(await fn());
    emit(name, median(r), n);
  }
  console.log(JSON.stringify({ name: 'peak_rss', value: Math.round(process.resourceUsage().maxRSS / 1024 * 1000) / 1000,
    unit: 'MiB', n: 1, runs: 1, impl: 'libsignal' }));
})().catch((e) => { console.error('libsignal-bench: ' + e); process.exit(1); });
