#!/usr/bin/env python3
"""
A Telex client written from docs/protocol.md alone, in Python 3 with the standard library only
(socket, hmac, hashlib, json, struct; base64, threading, ssl for TLS). It is what a team writing
a client in another language would write: frames (section 2), the handshake on both sides (3),
heartbeats and fragments (4), the json and msgpack codecs (5), envelopes (6-8), incarnations
(9), invalid input (10), reliable channels (13) and sharded entities (14).

Usage: client.py --port N --cluster C --secret S SCENARIO [--args JSON]

Each scenario checks what the document says the node does and prints one line per check:
"PASS <name>" or "FAIL <name>: <detail>", then "DONE"; the exit status is 1 if a check failed.
test/protocol/python-client.test.ts runs every scenario against a real node.
"""
import argparse
import base64
import hashlib
import hmac
import json
import os
import socket
import struct
import sys
import threading
import time

# section 2: frame types
HELLO, CHALLENGE, AUTH, READY, REFUSE = 1, 2, 3, 4, 5
HEARTBEAT, MESSAGE, FRAGMENT = 16, 32, 33
MAX_FRAME = 262144  # the default maximum of the length field
MAX_UNAUTHENTICATED_FRAME = 16384  # the maximum of the length field before the proofs (section 2)
FRAGMENT_SIZE = 65536
SINGLE_FRAME_LIMIT = 131072  # encoded envelopes larger than this travel as fragments

# section 6: envelope kinds
TELL, ASK, REPLY = 0, 1, 2
LINK, UNLINK, EXIT, MONITOR, DEMONITOR, DOWN, STOP = 10, 11, 12, 13, 14, 15, 16
SPAWN, SPAWNED, LOOKUP, FOUND, PROTOCOLS, MEMBERS = 20, 21, 22, 23, 24, 25
HOLD, RELEASE = 30, 31


class Closed(Exception):
    pass


class Refused(Exception):
    def __init__(self, body):
        super().__init__(f"refused: {body}")
        self.code = body.get("code") if isinstance(body, dict) else None
        self.reason = body.get("reason") if isinstance(body, dict) else None


# ---------------------------------------------------------------------------------------------
# encodings (sections 2, 3.4, 5)
# ---------------------------------------------------------------------------------------------

def frame(ftype, body=b""):
    """u32 big-endian length (1 type byte + body), u8 type, body"""
    return struct.pack(">IB", len(body) + 1, ftype) + body


def encode_json(value):
    # JSON.stringify's form: no spaces; non-ASCII as UTF-8 (either form decodes the same); a
    # string with a lone surrogate (which UTF-8 cannot carry) is sent as \\u escapes
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, separators=(",", ":")).encode("ascii")


def utf8(key):
    """A key's UTF-8 bytes as Telex hashes them: a lone surrogate counts as U+FFFD (WHATWG TextEncoder)."""
    return "".join("\ufffd" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in key).encode("utf-8")


def js_number(n):
    """String(number) for the integers a node id carries"""
    if isinstance(n, float) and n.is_integer() and abs(n) < 1e21:
        return str(int(n))
    return str(n)


def node_key(node):
    return f"{node['name']}#{js_number(node['incarnation'])}"


def proof(secret, role, nonce_a, nonce_b, server, client):
    msg = "\n".join([f"telex/{role}", nonce_a, nonce_b, node_key(server), node_key(client)])
    return base64.b64encode(hmac.new(secret.encode("utf-8"), msg.encode("utf-8"), hashlib.sha256).digest()).decode()


def session_id(client_nonce, server_nonce):
    return hashlib.sha256(f"{client_nonce}\n{server_nonce}".encode("utf-8")).hexdigest()[:16]


def fnv1a32(key):
    h = 0x811C9DC5
    for b in utf8(key):
        h ^= b
        h = (h * 0x01000193) & 0xFFFFFFFF
    return h


def shard_of(key, shards):
    return fnv1a32(key) % shards


def mp_encode(v, big_ints_as="uint64"):
    """Standard MessagePack (section 5's `msgpack`): nil, booleans, ints, float 64, str, arrays, maps."""
    out = bytearray()

    def enc(v):
        if v is None:
            out.append(0xC0)
        elif v is True:
            out.append(0xC3)
        elif v is False:
            out.append(0xC2)
        elif isinstance(v, int):
            if 0 <= v < 128:
                out.append(v)
            elif -32 <= v < 0:
                out.append(v & 0xFF)
            elif 0 <= v < 2**32 and big_ints_as != "int64":
                out.extend(struct.pack(">BI", 0xCE, v) if v >= 2**16 else struct.pack(">BH", 0xCD, v) if v >= 256 else struct.pack(">BB", 0xCC, v))
            elif -2**31 <= v < 2**31:
                out.extend(struct.pack(">Bi", 0xD2, v))
            elif big_ints_as == "float64":
                out.extend(struct.pack(">Bd", 0xCB, float(v)))
            elif big_ints_as == "int64" or v < 0:
                out.extend(struct.pack(">Bq", 0xD3, v))
            else:
                out.extend(struct.pack(">BQ", 0xCF, v))
        elif isinstance(v, float):
            out.extend(struct.pack(">Bd", 0xCB, v))
        elif isinstance(v, str):
            b = v.encode("utf-8")
            n = len(b)
            out.extend(bytes([0xA0 | n]) if n < 32 else struct.pack(">BB", 0xD9, n) if n < 256 else struct.pack(">BH", 0xDA, n) if n < 65536 else struct.pack(">BI", 0xDB, n))
            out.extend(b)
        elif isinstance(v, (list, tuple)):
            n = len(v)
            out.extend(bytes([0x90 | n]) if n < 16 else struct.pack(">BH", 0xDC, n) if n < 65536 else struct.pack(">BI", 0xDD, n))
            for x in v:
                enc(x)
        elif isinstance(v, dict):
            n = len(v)
            out.extend(bytes([0x80 | n]) if n < 16 else struct.pack(">BH", 0xDE, n) if n < 65536 else struct.pack(">BI", 0xDF, n))
            for k, x in v.items():
                enc(k)
                enc(x)
        else:
            raise TypeError(type(v))

    enc(v)
    return bytes(out)


def mp_decode(b):
    pos = 0

    def take(n):
        nonlocal pos
        chunk = b[pos:pos + n]
        if len(chunk) != n:
            raise ValueError("truncated MessagePack")
        pos += n
        return chunk

    def dec():
        t = take(1)[0]
        if t < 0x80:
            return t
        if t >= 0xE0:
            return t - 256
        if 0x80 <= t <= 0x8F:
            return {dec(): dec() for _ in range(t & 0x0F)}
        if 0x90 <= t <= 0x9F:
            return [dec() for _ in range(t & 0x0F)]
        if 0xA0 <= t <= 0xBF:
            return take(t & 0x1F).decode("utf-8")
        simple = {0xC0: None, 0xC2: False, 0xC3: True}
        if t in simple:
            return simple[t]
        fixed = {0xCA: ">f", 0xCB: ">d", 0xCC: ">B", 0xCD: ">H", 0xCE: ">I", 0xCF: ">Q", 0xD0: ">b", 0xD1: ">h", 0xD2: ">i", 0xD3: ">q"}
        if t in fixed:
            fmt = fixed[t]
            return struct.unpack(fmt, take(struct.calcsize(fmt)))[0]
        lengths = {0xD9: ">B", 0xDA: ">H", 0xDB: ">I", 0xC4: ">B", 0xC5: ">H", 0xC6: ">I", 0xDC: ">H", 0xDD: ">I", 0xDE: ">H", 0xDF: ">I"}
        if t in lengths:
            fmt = lengths[t]
            n = struct.unpack(fmt, take(struct.calcsize(fmt)))[0]
            if t in (0xD9, 0xDA, 0xDB):
                return take(n).decode("utf-8")
            if t in (0xC4, 0xC5, 0xC6):
                return bytes(take(n))
            if t in (0xDC, 0xDD):
                return [dec() for _ in range(n)]
            return {dec(): dec() for _ in range(n)}
        raise ValueError(f"MessagePack type 0x{t:02x} not expected from a Telex node")

    v = dec()
    if pos != len(b):
        raise ValueError("trailing bytes after a MessagePack value")
    return v


def fragments(encoded, fragment_id, size=FRAGMENT_SIZE):
    """FRAGMENT bodies: u32 id, u32 total, u32 offset, piece (all big-endian)"""
    out = []
    for offset in range(0, len(encoded), size):
        out.append(struct.pack(">III", fragment_id, len(encoded), offset) + encoded[offset:offset + size])
    return out


# ---------------------------------------------------------------------------------------------
# a connection
# ---------------------------------------------------------------------------------------------

class Conn:
    names = __import__("itertools").count(1)

    def __init__(self, host, port, cluster, secret, name=None, incarnation=None, sock=None):
        self.cluster = cluster
        self.secret = secret
        self.me = {"name": name or f"py-{os.getpid()}-{next(Conn.names)}",  # unique: the same name would displace a connection (3.7)
                   "incarnation": incarnation if incarnation is not None else time.time_ns() // 1000}
        self.sock = sock if sock is not None else socket.create_connection((host, port), timeout=5)
        self.sock.settimeout(None)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.lock = threading.Lock()  # writes
        self.cond = threading.Condition()
        self.frames = []  # handshake frames
        self.envelopes = []  # decoded envelopes not taken yet
        self.heartbeats_received = 0
        self.established = False
        self.late_handshake_frames = []  # a REFUSE after our READY
        self.big_ints_as = "uint64"  # msgpack: how integers beyond 32 bits are sent
        self.closed = False
        self.close_reason = None
        self.last_received = time.monotonic()
        self.assembly = None  # (id, total, bytearray)
        self.interleaved = 0
        self.fragment_ids = []  # of the fragmented messages received, in order
        self.next_fragment_id = 1
        self.next_id = 1
        self.answer_lookups = True  # section 8.9: answer every Lookup with null
        self.keep_bodies = None  # {json of an ask id: the Reply's body as received}, when a dict
        self.lookups_answered = 0
        self.reading = threading.Event()
        self.reading.set()
        self.heartbeat_interval = 1.0
        self.acceptable_pause = 3.0
        self.heartbeating = False
        self.server = None
        self.server_ready = None
        self.codec = None
        self.session = None
        threading.Thread(target=self._read_loop, daemon=True).start()

    # --- reading --------------------------------------------------------------------------------

    def _read_loop(self):
        buf = b""
        try:
            while True:
                self.reading.wait()
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    return self._closed("end of stream")
                self.last_received = time.monotonic()
                buf += chunk
                while len(buf) >= 5:
                    length, ftype = struct.unpack(">IB", buf[:5])
                    if length == 0:
                        return self._closed("EmptyFrame from the node")
                    if length > MAX_FRAME:
                        return self._closed("FrameTooLarge from the node")
                    if len(buf) < 4 + length:
                        break
                    body = buf[5:4 + length]
                    buf = buf[4 + length:]
                    self._on_frame(ftype, body)
        except OSError as e:
            self._closed(f"socket error: {e}")
        except (ValueError, UnicodeDecodeError) as e:  # what the node sent does not decode: a failure of the node's
            self._closed(f"undecodable from the node: {e}")

    def _closed(self, reason):
        with self.cond:
            if not self.closed:
                self.closed = True
                self.close_reason = reason
            self.cond.notify_all()

    def _on_frame(self, ftype, body):
        if not self.established:
            with self.cond:
                self.frames.append((ftype, body))
                self.cond.notify_all()
            return
        if ftype == HEARTBEAT:
            self.heartbeats_received += 1
            return
        if ftype == MESSAGE:
            if self.assembly is not None:
                self.interleaved += 1  # section 4.3: Telex never sends one between the pieces of a message
            return self._deliver(body)
        if ftype == FRAGMENT:
            iden, total, offset = struct.unpack(">III", body[:12])
            piece = body[12:]
            if offset == 0:
                self.assembly = (iden, total, bytearray())
                self.fragment_ids.append(iden)
            a = self.assembly
            if a is None or a[0] != iden or a[1] != total or len(a[2]) != offset or offset + len(piece) > total:
                raise OSError("fragment out of sequence from the node")
            a[2].extend(piece)
            if len(a[2]) == total:
                self.assembly = None
                self._deliver(bytes(a[2]))
            return
        if ftype in (HELLO, CHALLENGE, AUTH, READY, REFUSE):
            self.late_handshake_frames.append((ftype, body))
        raise OSError(f"frame type {ftype} after the handshake")

    def _deliver(self, body):
        env = mp_decode(body) if self.codec == "msgpack" else json.loads(body.decode("utf-8"))
        if self.keep_bodies is not None and isinstance(env, list) and env and env[0] == REPLY:
            self.keep_bodies[json.dumps(env[1])] = bytes(body)
        if self.answer_lookups and isinstance(env, list) and len(env) >= 3 and env[0] == LOOKUP:
            self.send([FOUND, env[1], None])
            self.lookups_answered += 1
            return
        with self.cond:
            self.envelopes.append(env)
            self.cond.notify_all()

    def take(self, pred, timeout=5.0):
        """The first received envelope matching pred (removed), or None after timeout or closure."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for i, env in enumerate(self.envelopes):
                    if pred(env):
                        return self.envelopes.pop(i)
                if self.closed:
                    return None
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)

    def wait_closed(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.closed:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self.cond.wait(left)
            return True

    def _frame(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while not self.frames:
                if self.closed:
                    raise Closed(self.close_reason)
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError("no handshake frame")
                self.cond.wait(left)
            return self.frames.pop(0)

    # --- writing --------------------------------------------------------------------------------

    def raw(self, data):
        with self.lock:
            self.sock.sendall(data)

    def send_frame(self, ftype, body=b""):
        self.raw(frame(ftype, body))

    def send(self, envelope):
        """One envelope, json codec: a MESSAGE frame, or FRAGMENTs above 128 KiB."""
        encoded = mp_encode(envelope, self.big_ints_as) if self.codec == "msgpack" else encode_json(envelope)
        if len(encoded) <= SINGLE_FRAME_LIMIT:
            return self.send_frame(MESSAGE, encoded)
        fid = self.next_fragment_id
        self.next_fragment_id += 1
        with self.lock:  # no other frame between the pieces
            for piece in fragments(encoded, fid):
                self.sock.sendall(frame(FRAGMENT, piece))

    def send_together_codec(self, envelopes):
        """Envelopes in the connection's codec, in one socket write."""
        self.raw(b"".join(frame(MESSAGE, mp_encode(e, self.big_ints_as) if self.codec == "msgpack" else encode_json(e)) for e in envelopes))

    def send_together(self, envelopes):
        """Small envelopes in one socket write (one TCP segment: the node handles them in one go)."""
        self.raw(b"".join(frame(MESSAGE, encode_json(e)) for e in envelopes))

    def new_id(self):
        i = self.next_id
        self.next_id += 1
        return i

    def close(self):
        self.heartbeating = False
        try:
            self.sock.close()
        except OSError:
            pass
        self._closed("closed by the client")

    # --- the handshake (section 3) --------------------------------------------------------------

    def hello(self, **override):
        self.nonce = base64.b64encode(os.urandom(32)).decode()
        body = {"protocol": "telex", "version": 1, "cluster": self.cluster, "node": self.me,
                "listen": None, "codecs": ["json"], "nonce": self.nonce}
        body.update(override)
        self.nonce = body["nonce"]
        self.send_frame(HELLO, encode_json(body))

    def read_frame_or_close(self, timeout):
        """The next handshake frame as (type, body), or None if the socket closed or nothing came in time."""
        try:
            return self._frame(timeout)
        except (Closed, TimeoutError):
            return None

    def read_handshake(self, expected, timeout=5.0):
        ftype, body = self._frame(timeout)
        value = json.loads(body.decode("utf-8"))
        if ftype == REFUSE:
            raise Refused(value)
        if ftype != expected:
            raise ValueError(f"expected frame {expected}, got {ftype}")
        return value

    def handshake(self, codecs=("json",), auth_secret=None, ready=None, heartbeat=1.0, pause=3.0, hello=None):
        self.hello(codecs=list(codecs), **(hello or {}))
        c = self.read_handshake(CHALLENGE)
        self.challenge_received = True
        if c["codec"] not in codecs:
            self.send_frame(REFUSE, encode_json({"code": "codec", "reason": "not offered"}))
            raise ValueError("the server chose a codec we did not offer")
        expected = proof(self.secret, "server", self.nonce, c["nonce"], c["node"], self.me)
        if not hmac.compare_digest(expected, c["proof"]):
            self.send_frame(REFUSE, encode_json({"code": "auth", "reason": "bad server proof"}))
            raise ValueError("the server does not know the cluster secret")
        self.server = c["node"]
        self.codec = c["codec"]
        self.challenge = c
        self.send_frame(AUTH, encode_json({"proof": proof(auth_secret or self.secret, "client", c["nonce"], self.nonce, c["node"], self.me)}))
        self.server_ready = self.read_handshake(READY)
        self.session = session_id(self.nonce, c["nonce"])
        self.established = True
        if callable(ready):
            ready = ready(self.server_ready)
        self.send_frame(READY, encode_json(ready if ready is not None else {"protocols": {}}))
        self.heartbeat_interval = heartbeat
        self.acceptable_pause = pause
        self.start_heartbeats()
        return self

    def accept_handshake(self, listen=None):
        """The server's side (a node that advertised `listen` is dialled by the others)."""
        h = self.read_handshake(HELLO)
        self.hello_received = h
        codec = next((c for c in h["codecs"] if c == "json"), None)
        if codec is None:
            self.send_frame(REFUSE, encode_json({"code": "codec", "reason": "json only"}))
            raise Refused({"code": "codec"})
        self.nonce = base64.b64encode(os.urandom(32)).decode()
        self.server = h["node"]  # the peer
        self.send_frame(CHALLENGE, encode_json({"node": self.me, "listen": listen, "codec": codec, "nonce": self.nonce,
                                                "proof": proof(self.secret, "server", h["nonce"], self.nonce, self.me, h["node"])}))
        a = self.read_handshake(AUTH)
        if not hmac.compare_digest(a.get("proof", ""), proof(self.secret, "client", self.nonce, h["nonce"], self.me, h["node"])):
            self.send_frame(REFUSE, encode_json({"code": "auth", "reason": "bad proof"}))
            raise Refused({"code": "auth"})
        self.send_frame(READY, encode_json({"protocols": {}, "previous": None}))
        self.server_ready = self.read_handshake(READY)
        self.session = session_id(h["nonce"], self.nonce)
        self.established = True
        self.start_heartbeats()
        return self

    def start_heartbeats(self):
        self.heartbeating = True

        def loop():
            while self.heartbeating and not self.closed:
                try:
                    self.send_frame(HEARTBEAT)
                except OSError:
                    return
                # section 4.1: close a connection silent for more than the acceptable pause
                if self.reading.is_set() and time.monotonic() - self.last_received > self.acceptable_pause:
                    self.close()
                    self._closed_by_us = True
                    return
                time.sleep(self.heartbeat_interval)

        threading.Thread(target=loop, daemon=True).start()

    # --- requests -------------------------------------------------------------------------------

    def lookup(self, name, timeout=5.0):
        rid = self.new_id()
        self.send([LOOKUP, rid, name])
        found = self.take(lambda e: e[0] == FOUND and e[1] == rid, timeout)
        if found is None:
            raise Closed("no Found")
        return found[2]

    def ask(self, address, message, timeout=5.0, protocol=None, sender=None, extra=()):
        aid = self.new_id()
        self.send([ASK, address["id"], protocol or address["protocol"], message, aid, sender, *extra])
        reply = self.take(lambda e: e[0] == REPLY and e[1] == aid, timeout)
        if reply is None:
            raise Closed(f"no reply to ask {aid} ({self.close_reason or 'timeout'})")
        return [reply[2], reply[3]]

    def tell(self, address, message, protocol=None):
        self.send([TELL, address["id"], protocol or address["protocol"], message])

    def my_address(self, aid, protocol):
        return {"node": self.me, "id": aid, "protocol": protocol}


# ---------------------------------------------------------------------------------------------
# checks
# ---------------------------------------------------------------------------------------------

failures = 0


def check(name, ok, detail=""):
    global failures
    if ok:
        print(f"PASS {name}", flush=True)
    else:
        failures += 1
        print(f"FAIL {name}: {detail}", flush=True)


def expect(name, got, want):
    check(name, got == want, f"got {json.dumps(got)}, want {json.dumps(want)}")


def refusal(fn):
    """The REFUSE code fn's handshake ends with, 'closed' if the socket closed without one."""
    try:
        fn()
        return "admitted"
    except Refused as r:
        return r.code
    except Closed:
        return "closed"


class Ctx:
    def __init__(self, args):
        self.host = "127.0.0.1"
        self.port = args.port
        self.cluster = args.cluster
        self.secret = args.secret
        self.args = json.loads(args.args) if args.args else {}

    def conn(self, **kw):
        return Conn(self.host, self.port, self.cluster, self.secret, **kw)

    def connect(self, **kw):
        hs = {k: kw.pop(k) for k in list(kw) if k in ("codecs", "auth_secret", "ready", "heartbeat", "pause", "hello")}
        # a scenario's own acceptable pause for every connection (args "connPause"), else section 4.1's default
        if "pause" not in hs and "connPause" in self.args:
            hs["pause"] = self.args["connPause"]
        return self.conn(**kw).handshake(**hs)


# ---------------------------------------------------------------------------------------------
# scenarios
# ---------------------------------------------------------------------------------------------

def scenario_vectors(ctx):
    """Section 11's worked values and section 14.1's hash vectors, offline."""
    cn = "Y2xpZW50LW5vbmNlLWNsaWVudC1ub25jZS1jbGllbnQ="
    sn = "4afMfi77P/4YQdRdRsP+KgMXGqgUkw2uqMFwOv90nTw="
    b = {"name": "b", "incarnation": 1718000000000000}
    py = {"name": "py", "incarnation": 1}
    expect("11 server proof", proof("s3cret", "server", cn, sn, b, py), "GwfB9Y11sNqnsvroB68OwWu5///35j9gs227HhZ6CC0=")
    expect("11 client proof", proof("s3cret", "client", sn, cn, b, py), "3pBckQxiywuV4Ef1vPsgxtJ8rQZ0Bhs5Z0cwSZNSdn8=")
    msg = "\n".join(["telex/server", cn, sn, node_key(b), node_key(py)])
    expect("11 server proof input length", len(msg.encode()), 126)
    expect("11 session id", session_id(cn, sn), "8014245d837f5b4a")
    hello = {"protocol": "telex", "version": 1, "cluster": "demo", "node": py, "listen": None, "codecs": ["json"], "nonce": cn}
    expect("11 HELLO header", frame(HELLO, encode_json(hello))[:5].hex(), "000000ae01")
    tell = frame(MESSAGE, encode_json([0, 4, "Counter", {"_tag": "Increment", "by": 5}]))
    expect("11 tell frame bytes", tell.hex(),
           "0000002c205b302c342c22436f756e746572222c7b225f746167223a22496e6372656d656e74222c226279223a357d5d")
    expect("11 lookup header", frame(MESSAGE, encode_json([22, 1, "counter"]))[:5].hex(), "0000001120")
    expect("11 ask header", frame(MESSAGE, encode_json([1, 4, "Counter", {"_tag": "Get"}, 1, None]))[:5].hex(), "0000002620")
    expect("11 client READY header", frame(READY, encode_json({"protocols": {}}))[:5].hex(), "0000001104")
    # every other frame header of the worked session
    sess = [
        (CHALLENGE, {"node": b, "listen": {"host": "127.0.0.1", "port": 40593}, "codec": "json", "nonce": sn,
                     "proof": "GwfB9Y11sNqnsvroB68OwWu5///35j9gs227HhZ6CC0="}, "000000dd02"),
        (AUTH, {"proof": "3pBckQxiywuV4Ef1vPsgxtJ8rQZ0Bhs5Z0cwSZNSdn8="}, "0000003903"),
        (READY, {"protocols": {"telex/ReliableConsumer": "4b0099b641db9d80", "telex/ReliableProducer": "6bd9af5457d72289",
                               "telex/ShardRegion": "be2c080bd16a7826", "telex/ShardingNode": "e51403f7101c39f5",
                               "telex/Registry": "07698b92775e8174", "Counter": "2fec9bc119b83da4"}, "previous": None}, "0000010804"),
        (MESSAGE, [23, 1, {"node": b, "id": 4, "protocol": "Counter"}], "0000005820"),
        (MESSAGE, [0, 4, "Counter", {"_tag": "Increment", "by": "x"}], "0000002e20"),
        (MESSAGE, [2, 1, 0, 5], "0000000a20"),
        (MESSAGE, [1, 4, "Counter", {"_tag": "Increment", "by": "x"}, 2, None], "0000003520"),
        (MESSAGE, [2, 2, 2, {"_tag": "InvalidMessage", "actor": "Counter@b#1718000000000000/4", "protocol": "Counter",
                             "issue": "Expected number\n  at [\"by\"]"}], "0000008720"),
        (MESSAGE, [1, 42, "Counter", {"_tag": "Get"}, 3, None], "0000002720"),
        (MESSAGE, [2, 3, 2, {"_tag": "NoProc", "actor": "Counter@b#1718000000000000/42"}], "0000004220"),
        (HEARTBEAT, None, "0000000110"),
    ]
    for i, (t, body, header) in enumerate(sess):
        expect(f"11 frame header {i + 1}", frame(t, b"" if body is None else encode_json(body))[:5].hex(), header)
    expect("js String(incarnation)", node_key({"name": "b", "incarnation": 1718000000000000.0}), "b#1718000000000000")
    vectors = [("", 0x811C9DC5, 453, 5), ("a", 0xE40C292C, 300, 44), ("foobar", 0xBF9CF968, 360, 40),
               ("user-42", 0x026073AB, 939, 43), ("cart:1001", 0x1B471E21, 545, 33),
               ("\u00e9", 0x1E9DE8C1, 193, 1), ("\u65e5\u672c", 0x9F26EE51, 593, 17)]
    for key, h, s1024, s64 in vectors:
        expect(f"14.1 fnv1a32 {key!r}", [fnv1a32(key), shard_of(key, 1024), shard_of(key, 64)], [h, s1024, s64])


def scenario_handshake(ctx):
    """Section 3: a real handshake, the server's proof, READY, refusals and their order, admission."""
    c = ctx.connect()
    check("3.2 server proof verified, node id", isinstance(c.server["incarnation"], int) and c.server["name"] == ctx.args["server"],
          json.dumps(c.server))
    expect("3.2 the codec is the one offered", c.codec, "json")
    expect("3.2 listen of the server", c.challenge["listen"], {"host": "127.0.0.1", "port": ctx.port})
    protocols = c.server_ready.get("protocols")
    check("3.5 READY protocols: name -> 16 hex digits", isinstance(protocols, dict) and all(
        isinstance(v, str) and len(v) == 16 for v in protocols.values()) and "Counter" in protocols, json.dumps(protocols))
    check("3.5 READY previous is null for a new name", c.server_ready.get("previous") is None, json.dumps(c.server_ready))
    addr = c.lookup("counter")
    check("8.4 lookup after the handshake", isinstance(addr, dict) and addr["node"] == c.server, json.dumps(addr))
    # section 3.5: the previous session, as the server saw it, comes back in the next READY
    first_session = c.session
    c.lookup("nobody")
    c.lookup("nobody")  # three envelopes received by the server on this connection
    c.close()
    time.sleep(0.2)
    c2 = ctx.connect(name=c.me["name"], incarnation=c.me["incarnation"] + 1)
    expect("3.5 READY previous: the session id and the envelopes the server received", c2.server_ready.get("previous"),
           {"session": first_session, "received": 3})
    # section 3.7: the same name and incarnation dialling again displaces the old connection
    c3 = ctx.connect(name=c2.me["name"], incarnation=c2.me["incarnation"])
    check("3.7 same name again: admitted, the old connection closed", c2.wait_closed(3) and c3.lookup("counter") is not None)
    # a new incarnation of the same name displaces the old connection too
    c4 = ctx.connect(name=c3.me["name"], incarnation=c3.me["incarnation"] + 1)
    check("3.7 a new incarnation: admitted, the old connection closed", c3.wait_closed(3) and c4.lookup("counter") is not None)
    c4.close()
    c3.close()
    # READY and the first envelopes in one TCP segment
    k = ctx.conn()
    k.hello()
    ch = k.read_handshake(CHALLENGE)
    k.send_frame(AUTH, encode_json({"proof": proof(ctx.secret, "client", ch["nonce"], k.nonce, ch["node"], k.me)}))
    k.read_handshake(READY)
    k.established = True
    k.raw(frame(READY, encode_json({"protocols": {}})) + frame(MESSAGE, encode_json([LOOKUP, 1, "counter"])) + frame(HEARTBEAT))
    found = k.take(lambda e: e[0] == FOUND and e[1] == 1)
    check("3.5 envelopes in the same segment as the client's READY", found is not None and found[2] is not None, json.dumps(found))
    k.close()

    # names are hashed as UTF-8
    k = ctx.connect(name=f"p\u00fd-\u65e5\u672c-{os.getpid()}")
    check("3.4 a non-ASCII node name: the proofs over its UTF-8 bytes", k.lookup("counter") is not None)
    k.close()

    # a CHALLENGE names the first codec of the client's list that the server has
    for offer, want in ((["msgpack", "json"], "msgpack"), (["cbor", "json"], "json"), (["json", "msgpack"], "json")):
        k = ctx.conn()
        k.hello(codecs=offer)
        expect(f"3.2 codec chosen from {offer}", k.read_handshake(CHALLENGE)["codec"], want)
        k.close()

    # AUTH proofs: Node's lenient base64 (URL-safe alphabet, no padding) is accepted
    k = ctx.conn()
    k.hello()
    ch = k.read_handshake(CHALLENGE)
    p = proof(ctx.secret, "client", ch["nonce"], k.nonce, ch["node"], k.me).replace("+", "-").replace("/", "_").rstrip("=")
    k.send_frame(AUTH, encode_json({"proof": p}))
    check("3.4 a URL-safe unpadded proof is accepted", refusal(lambda: k.read_handshake(READY)) == "admitted")
    k.close()
    k = ctx.conn()
    k.hello()
    ch = k.read_handshake(CHALLENGE)
    p = proof(ctx.secret, "client", ch["nonce"], k.nonce, ch["node"], k.me)
    k.send_frame(AUTH, encode_json({"proof": " " + p[:10] + "\n" + p[10:] + "=junk"}))
    check("3.4 a proof with whitespace inside and text after its padding is accepted", refusal(lambda: k.read_handshake(READY)) == "admitted")
    k.close()

    # a nonce that is not base64 is used as it is
    k = ctx.conn()
    check("3.1 any nonce string", refusal(lambda: k.handshake(hello={"nonce": "n"})) == "admitted")
    k.close()

    def refused(name, want, says=None, **hello):
        k = ctx.conn()
        reason = []

        def run():
            try:
                k.hello(**hello)
                k.read_handshake(CHALLENGE)
            except Refused as r:
                reason.append(r.reason)
                raise
        got = refusal(run)
        expect(f"3.6 {name}", got, want)
        if says is not None:
            check(f"3.6 {name}: the reason says what is wrong", reason != [] and says in reason[0], json.dumps(reason))
        check(f"3.6 {name}: closed after REFUSE", k.wait_closed(3))
        k.close()

    refused("wrong cluster", "cluster", cluster="elsewhere")
    refused("version 2", "version", version=2)
    refused("version \"1\" (a string)", "version", 'ours 1, theirs "1"', version="1")
    refused("protocol not telex", "protocol", 'protocol must be "telex"', protocol="http")
    refused("order: protocol before version", "protocol", protocol="x", version=2)
    refused("order: version before cluster", "version", version=2, cluster="elsewhere")
    refused("order: cluster before shape", "cluster", cluster="elsewhere", nonce=5)
    refused("nonce not a string", "protocol", "malformed HELLO: nonce", nonce=5)
    refused("node without a name", "protocol", "malformed HELLO: node", node={"incarnation": 1})
    refused("node name empty", "protocol", node={"name": "", "incarnation": 1})
    refused("incarnation a string", "protocol", node={"name": "x", "incarnation": "1"})
    refused("listen port 0", "protocol", "malformed HELLO: listen", listen={"host": "127.0.0.1", "port": 0})
    refused("codecs not an array", "protocol", "malformed HELLO: codecs", codecs="json")
    refused("no common codec", "codec", codecs=["cbor"])
    refused("order: shape before codec", "protocol", codecs=["cbor"], nonce=5)
    refused("the server's own name", "name", node={"name": ctx.args["server"], "incarnation": 1})
    refused("order: codec before name", "codec", codecs=["cbor"], node={"name": ctx.args["server"], "incarnation": 1})

    # 3.6: a REFUSE is the sender's last frame, whatever its code (receivers accept unknown codes):
    # the node answers nothing, closes, and goes on serving
    for step, code in (("HELLO", "overloaded"), ("AUTH", "overloaded"), ("HELLO", 7)):
        k = ctx.conn()
        if step == "AUTH":
            k.hello()
            k.read_handshake(CHALLENGE)
        k.send_frame(REFUSE, encode_json({"code": code, "reason": "a client giving up"}))
        r = k.read_frame_or_close(3)
        check(f"3.6 a REFUSE with code {json.dumps(code)} in place of {step}: closed, nothing sent", r is None and k.closed, repr(r)[:200])
        k.close()
        k = ctx.connect()
        check(f"3.6 ...and the node serves the next client", k.lookup("counter") is not None)
        k.close()

    k = ctx.conn()
    check("3.6 wrong AUTH proof", refusal(lambda: k.handshake(auth_secret="not the secret")) == "auth")
    k.close()

    # 3.6 failed proofs: after 3 from this address, its AUTHs are verified at turns 100 ms apart
    # (doubling), so a guess right after another waits for its turn; a valid proof forgets them
    took = []
    for _ in range(4):
        k = ctx.conn()
        start = time.monotonic()
        code = refusal(lambda: k.handshake(auth_secret="not the secret"))
        took.append(time.monotonic() - start)
        k.close()
        check("3.6 a guessed secret: auth", code == "auth", code)
    check("3.6 the 5th failed proof in a row waited for its turn (>= 100 ms after the 4th)", took[3] >= 0.09, json.dumps(took))
    # 3.5: a READY sent right behind a valid AUTH (not waiting for the server's READY) arrives
    # while that AUTH waits for its turn: the handshake is refused with protocol
    k = ctx.conn()
    k.hello()
    ch = k.read_handshake(CHALLENGE)
    k.raw(frame(AUTH, encode_json({"proof": proof(ctx.secret, "client", ch["nonce"], k.nonce, ch["node"], k.me)}))
          + frame(READY, encode_json({"protocols": {}})))
    try:
        k.read_handshake(READY)
        check("3.5 a READY sent with a valid AUTH while the address is paced: REFUSE protocol", False, "admitted")
    except Refused as r:
        check("3.5 a READY sent with a valid AUTH while the address is paced: REFUSE protocol", r.code == "protocol"
              and "READY" in r.reason, r.reason)
    k.close()
    k = ctx.connect()
    check("3.6 then a valid proof from the same address is admitted", k.server_ready is not None)
    k.close()

    k = ctx.conn()
    k.send_frame(HEARTBEAT)
    try:
        k.read_handshake(CHALLENGE)
        check("3.5 a HEARTBEAT before the handshake: REFUSE protocol, saying a HELLO was expected", False, "admitted")
    except Refused as r:
        check("3.5 a HEARTBEAT before the handshake: REFUSE protocol, saying a HELLO was expected", r.code == "protocol"
              and "HEARTBEAT" in r.reason and "expected HELLO" in r.reason, r.reason)
    k.close()

    k = ctx.conn()
    k.send_frame(HELLO, b"[1,2]")
    expect("3.6 a HELLO body that is a JSON array", refusal(lambda: k.read_handshake(CHALLENGE)), "protocol")
    k.close()

    k = ctx.conn()
    k.send_frame(HELLO, encode_json({"protocol": "telex", "version": 1, "cluster": ctx.cluster, "node": {"name": "py-x", "incarnation": 1},
                                     "listen": None, "codecs": ["json"], "nonce": "n"}).replace(b"py-x", b"py-\xff"))
    expect("3.6 a HELLO body that is not UTF-8 (a name byte 0xff)", refusal(lambda: k.read_handshake(CHALLENGE)), "protocol")
    k.close()

    k = ctx.conn()
    k.send_frame(HELLO, b"{not json")
    expect("3.6 a HELLO body that is not JSON", refusal(lambda: k.read_handshake(CHALLENGE)), "protocol")
    k.close()

    k = ctx.conn()
    k.raw(struct.pack(">IB", 1, 7))
    expect("2 an unknown frame type during the handshake", refusal(lambda: k.read_handshake(CHALLENGE)), "protocol")
    k.close()

    k = ctx.conn()
    k.hello()
    k.read_handshake(CHALLENGE)
    k.send_frame(MESSAGE, encode_json([22, 1, "counter"]))
    expect("3.6 MESSAGE in place of AUTH", refusal(lambda: k.read_handshake(READY)), "protocol")
    k.close()

    # before the proofs, frames are limited to 16 KiB: a header announcing more is refused at once
    # (the node does not wait for, or make room for, its body)
    k = ctx.conn()
    k.raw(struct.pack(">IB", MAX_UNAUTHENTICATED_FRAME + 1, HELLO))
    r = k.read_frame_or_close(3)
    check("2 a HELLO header of 16 KiB + 1: REFUSE protocol at once", r is not None and r[0] == REFUSE and json.loads(r[1])["code"] == "protocol"
          and "exceeds" in json.loads(r[1])["reason"], repr(r)[:300])
    k.close()
    k = ctx.conn()
    k.raw(struct.pack(">IB", MAX_FRAME, HELLO))
    r = k.read_frame_or_close(3)
    check("2 a HELLO header of the maximum frame size: REFUSE protocol at once", r is not None and r[0] == REFUSE
          and json.loads(r[1])["code"] == "protocol", repr(r)[:300])
    k.close()
    k = ctx.conn()
    big = {"pad": "x" * (MAX_UNAUTHENTICATED_FRAME - 400)}
    k.hello(**big)
    check("3.1 a HELLO of almost 16 KiB (unknown fields ignored) is answered", k.read_handshake(CHALLENGE) is not None)
    k.close()
    k = ctx.conn()
    k.hello()
    k.read_handshake(CHALLENGE)
    k.raw(struct.pack(">IB", MAX_UNAUTHENTICATED_FRAME + 1, AUTH))
    expect("2 an AUTH header of 16 KiB + 1", refusal(lambda: k.read_handshake(READY)), "protocol")
    k.close()
    # once the client has proved itself, its READY may use the whole maximum frame
    protocols = {f"P{i:05d}": "0000000000000000" for i in range(5000)}
    k = ctx.connect(ready={"protocols": protocols})
    check("3.5 a READY larger than 16 KiB after the proofs", len(encode_json({"protocols": protocols})) > MAX_UNAUTHENTICATED_FRAME
          and k.lookup("counter") is not None)
    k.close()

    for name, ready, field in (("protocols missing", {}, "protocols"), ("a fingerprint not a string", {"protocols": {"A": 1}}, "protocols"),
                               ("protocols null", {"protocols": None}, "protocols"), ("protocols an array", {"protocols": []}, "protocols"),
                               ("previous.received negative", {"protocols": {}, "previous": {"session": "x", "received": -1}}, "previous"),
                               ("hold not an array", {"protocols": {}, "hold": {}}, "hold")):
        k = ctx.connect(ready=ready)
        closed = k.wait_closed(3)
        late = [(t, json.loads(b)) for t, b in k.late_handshake_frames]
        check(f"3.5 malformed READY ({name}): REFUSE protocol, closed, the reason names the field", closed and len(late) == 1
              and late[0][0] == REFUSE and late[0][1]["code"] == "protocol" and late[0][1]["reason"].startswith(f"malformed READY: {field} "),
              json.dumps(late))
        k.close()
    k = ctx.connect(ready={"protocols": {}, "previous": {"session": "0123456789abcdef", "received": 0}, "extra": True})
    check("3.5 READY with previous and an unknown field", k.lookup("counter") is not None)
    k.close()

    # the client verifies the server before proving itself
    k = ctx.conn()
    k.secret = "not the secret"
    try:
        k.handshake()
        check("3.2 an impostor server is detected", False, "admitted")
    except ValueError:
        check("3.2 an impostor server is detected", True)
    k.close()

    # 3.6 (last: it leaves this address refused for a while): AUTHs that come faster than the
    # address's turns take them all the same, so a valid proof behind them is refused at once
    for _ in range(3):
        k = ctx.conn()
        refusal(lambda: k.handshake(auth_secret="not the secret"))
        k.close()
    flood = []
    for _ in range(60):
        k = ctx.conn()
        k.hello()
        k.read_handshake(CHALLENGE)
        flood.append(k)
    good = ctx.conn()
    good.hello()
    ch = good.read_handshake(CHALLENGE)
    for k in flood:
        k.send_frame(AUTH, encode_json({"proof": "bm90IGEgcHJvb2Y="}))
    time.sleep(0.05)
    good.send_frame(AUTH, encode_json({"proof": proof(ctx.secret, "client", ch["nonce"], good.nonce, ch["node"], good.me)}))
    start = time.monotonic()
    try:
        good.read_handshake(READY)
        check("3.6 behind a flood of AUTHs, a valid proof is refused at once, unverified", False, "admitted")
    except Refused as r:
        check("3.6 behind a flood of AUTHs, a valid proof is refused at once, unverified", r.code == "auth"
              and r.reason.startswith("too many failed authentications") and time.monotonic() - start < 1, r.reason)
    good.close()
    for k in flood:
        k.close()


def scenario_handshake_timeout(ctx):
    k = ctx.conn()
    k.hello()
    k.read_handshake(CHALLENGE)
    got = refusal(lambda: k.read_handshake(READY, timeout=10))
    expect("3.6 no AUTH: REFUSE timeout", got, "timeout")
    k.close()


def scenario_messaging(ctx):
    """Sections 6-8: lookup, tell, ask, replies of every kind, runtime errors."""
    c = ctx.connect()
    inc = c.server["incarnation"]
    addr = c.lookup("counter")
    expect("8.4 Found: the address", addr, {"node": c.server, "id": addr["id"], "protocol": "Counter"})
    expect("8.4 not found: null", c.lookup("nobody"), None)
    expect("8.4 a name that is not a string: null", c.lookup(42), None)
    rid = "any value"
    c.send([LOOKUP, {"my": rid}, "counter"])
    got = c.take(lambda e: e[0] == FOUND and e[1] == {"my": rid})
    check("8.4 the request id is echoed unchanged", got is not None and got[2] == addr, json.dumps(got))
    c.tell(addr, {"_tag": "Increment", "by": 5})
    c.tell(addr, {"_tag": "Increment", "by": "x"})  # invalid: a dead letter, no reply
    c.tell({"id": 999999}, {"_tag": "Increment", "by": 1}, protocol="Counter")  # no such actor: nothing
    expect("8.2 ask Get after tells", c.ask(addr, {"_tag": "Get"}), [0, 5])
    kind, err = c.ask(addr, {"_tag": "Increment", "by": "x"})
    check("7.3 InvalidMessage for a field of the wrong type", kind == 2 and err.get("_tag") == "InvalidMessage"
          and err.get("actor") == f"Counter@{c.server['name']}#{inc}/{addr['id']}" and err.get("protocol") == "Counter"
          and isinstance(err.get("issue"), str), json.dumps([kind, err]))
    kind, err = c.ask(addr, {"_tag": "Nope"})
    check("7.3 InvalidMessage for an unknown tag, naming the protocol's tags", kind == 2 and err.get("_tag") == "InvalidMessage"
          and err.get("issue") == 'unknown message tag "Nope" for Counter (its tags: Decrement, Get, Increment)', json.dumps(err))
    kind, err = c.ask(addr, None)
    check("7.3 InvalidMessage for a message that is not an object, saying what one is", kind == 2 and err.get("_tag") == "InvalidMessage"
          and err.get("issue") == 'a message of Counter is an object {"_tag": one of Decrement, Get, Increment, ...fields}, not null', json.dumps(err))
    expect("7.3 NoProc for a missing actor", c.ask({"id": 999999, "protocol": "Counter"}, {"_tag": "Get"}),
           [2, {"_tag": "NoProc", "actor": f"Counter@{c.server['name']}#{inc}/999999"}])
    kind, err = c.ask(addr, {"_tag": "Get"}, protocol="Other")
    check("7.3 InvalidMessage for the wrong protocol name", kind == 2 and err.get("_tag") == "InvalidMessage"
          and err.get("protocol") == "Other" and err.get("actor") == f"Other@{c.server['name']}#{inc}/{addr['id']}",
          json.dumps(err))
    for aid in (1, 2, 3):
        kind, err = c.ask({"id": aid, "protocol": "telex/Supervisor"}, {"_tag": "CountChildren"})
        check(f"8.8 actor {aid}, a supervisor: its local protocol is not spoken across nodes (InvalidMessage)",
              kind == 2 and err.get("_tag") == "InvalidMessage" and "local to its node" in err.get("issue", ""), json.dumps(err))
    expect("6 reply kind 1: the declared error", c.ask(addr, {"_tag": "Decrement", "by": 100}), [1, {"_tag": "Overdrawn", "balance": 5}])
    expect("6 a tell-kind message asked: success null", c.ask(addr, {"_tag": "Increment", "by": 1}), [0, None])
    expect("6 reply kind 0", c.ask(addr, {"_tag": "Decrement", "by": 1}), [0, 5])
    # 5: a string holding a lone surrogate comes back as JSON.stringify writes it, a \u escape
    echo = c.lookup("echo")
    c.keep_bodies = {}
    c.send([ASK, echo["id"], "Echo", {"_tag": "Echo", "text": "a\ud800b"}, 5005, None])
    got = c.take(lambda e: e[0] == REPLY and e[1] == 5005)
    check("5 a lone surrogate in a string: echoed, as the escape \\ud800", got == [REPLY, 5005, 0, "a\ud800b"]
          and c.keep_bodies.get("5005") == b'[2,5005,0,"a\\ud800b"]', repr(c.keep_bodies.get("5005")))
    c.keep_bodies = None
    expect("5 fields a message's Schema does not declare are ignored", c.ask(addr, {"_tag": "Get", "unknown": [1, 2]}), [0, 5])
    expect("8.2 a sender that is not an address counts as null", c.ask(addr, {"_tag": "Get"}, sender="nobody"), [0, 5])
    expect("8.2 a traceparent appended", c.ask(addr, {"_tag": "Get"}, extra=["00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"]), [0, 5])
    expect("8.2 a traceparent that is not one is ignored", c.ask(addr, {"_tag": "Get"}, extra=[42]), [0, 5])
    expect("6 fields after the listed ones are ignored", c.ask(addr, {"_tag": "Get"}, extra=[None, "future", 1]), [0, 5])
    expect("6 an ask id that is a float is echoed", (c.send([ASK, addr["id"], "Counter", {"_tag": "Get"}, 0.5, None]),
                                                     c.take(lambda e: e[0] == REPLY and e[1] == 0.5))[1], [REPLY, 0.5, 0, 5])
    # runtime errors from a handler (section 7.3)
    crash = c.lookup("crasher")
    kind, err = c.ask(crash, {"_tag": "Undeclared"})
    check("7.3 InvalidMessage for an error outside the error schema", kind == 2 and err.get("_tag") == "InvalidMessage",
          json.dumps(err))
    kind, err = c.ask(crash, {"_tag": "BadReply"})
    check("7.3 InvalidMessage for a reply that does not encode", kind == 2 and err.get("_tag") == "InvalidMessage"
          and err.get("issue", "").startswith("reply: "), json.dumps(err))
    kind, err = c.ask(crash, {"_tag": "Nested"})
    check("7.3 a handler whose own ask timed out: AskTimeout", kind == 2 and err.get("_tag") == "AskTimeout"
          and err.get("message") == "Wait" and err.get("timeoutMillis") == 50 and isinstance(err.get("actor"), str), json.dumps(err))
    kind, err = c.ask(crash, {"_tag": "Crash"})
    check("7.3 ActorStopped for a handler that crashed", kind == 2 and err.get("_tag") == "ActorStopped"
          and isinstance(err.get("reason"), dict) and err["reason"].get("_tag") == "Error", json.dumps(err))
    kind, err = c.ask(crash, {"_tag": "BadReply"})
    check("7.3 the crashed actor is gone: NoProc", kind == 2 and err.get("_tag") == "NoProc", json.dumps(err))
    # 4.2: a tell then an ask to one actor are handled in that order
    for i in range(20):
        c.tell(addr, {"_tag": "Increment", "by": 1})
    expect("4.2 in order", c.ask(addr, {"_tag": "Get"}), [0, 25])
    check("the connection is still up", not c.closed)
    c.close()


def scenario_msgpack(ctx):
    """Section 5: the standard MessagePack codec; integers beyond 32 bits."""
    c = ctx.connect(codecs=("msgpack", "json"))
    expect("5 msgpack chosen (first of ours the node has)", c.codec, "msgpack")
    addr = c.lookup("counter")
    inc = addr["node"]["incarnation"]
    check("5 the incarnation arrives as a float 64 of an integer", isinstance(inc, float) and inc.is_integer()
          and int(inc) == c.server["incarnation"], repr(inc))
    c.tell(addr, {"_tag": "Increment", "by": 2})
    expect("5 ask over msgpack", c.ask(addr, {"_tag": "Get"}), [0, 2])
    big = 2**40 + 7
    for form in ("uint64", "int64", "float64"):
        c.big_ints_as = form
        c.send([ASK, addr["id"], "Counter", {"_tag": "Get"}, big, c.my_address(1, "Py")])
        got = c.take(lambda e: e[0] == REPLY and e[1] == big)
        check(f"5 an ask id and a sender incarnation beyond 2^32 sent as {form}", got is not None and got[2:] == [0, 2], repr(got))
    c.big_ints_as = "uint64"
    c.send([LOOKUP])
    got = c.take(lambda e: e[0] == FOUND, 2)
    expect("5 a Lookup without a request id: Found with nil for it (no MessagePack extension for `undefined`)", got, [FOUND, None, None])
    kind, err = c.ask(addr, {"_tag": "Increment", "by": 1.5})
    check("5 a float where the Schema wants an integer: InvalidMessage", kind == 2 and err.get("_tag") == "InvalidMessage", repr(err))
    echo = c.lookup("echo")
    big_text = "m\u00e9" * 100_000
    expect("4.3 fragments with msgpack", c.ask(echo, {"_tag": "Echo", "text": big_text}, timeout=10), [0, big_text])
    # section 5: an extension value msgpackr decodes (type 0x42, a BigInt 5) is a value of the wrong
    # type like any other: where a string is expected, the answer is the same as for the number 5
    bigint = b"\xd4\x42\x05"
    arr = lambda *parts: bytes([0x90 + len(parts)]) + b"".join(parts)  # noqa: E731
    c.send_frame(MESSAGE, arr(mp_encode(ASK), mp_encode(addr["id"]), mp_encode("Counter"), b"\x81" + mp_encode("_tag") + bigint,
                              mp_encode(4242), mp_encode(None)))
    got = c.take(lambda e: e[0] == REPLY and e[1] == 4242, 3)
    check("5 an ask whose _tag is an extension value: InvalidMessage, the connection up", got is not None and got[2] == 2
          and got[3].get("_tag") == "InvalidMessage" and "unknown message tag 5 " in got[3].get("issue", ""), f"{got} {c.close_reason}")
    c.send_frame(MESSAGE, arr(mp_encode(TELL), mp_encode(addr["id"]), mp_encode("Counter"), b"\x81" + mp_encode("_tag") + bigint))
    c.send_frame(MESSAGE, arr(mp_encode(SPAWN), mp_encode("sx"), bigint, mp_encode(None)))
    got = c.take(lambda e: e[0] == SPAWNED and e[1] == "sx", 3)
    expect("5 a tell whose _tag, then a Spawn whose module, is an extension value: a dead letter, then a Spawned error",
           got, [SPAWNED, "sx", None, f"module 5 is not spawnable on {c.server['name']}"])
    c.send_frame(MESSAGE, b"\xc1")
    check("10 a body that is not MessagePack closes the connection", c.wait_closed(3))
    c.close()
    for name, body in (("an envelope nested 200 000 deep", b"\x91" * 200_000 + b"\xc0"),
                       ("a tell whose message is nested 200 000 deep", b"\x94\x00\x01\xa7Counter" + b"\x91" * 200_000 + b"\xc0"),
                       ("an ext type (timestamp) as the actor id", b"\x94\x00\xd6\xff\x00\x00\x00\x01\xa7Counter\x80")):
        k = ctx.connect(codecs=("msgpack",))
        k.send_frame(MESSAGE, body)
        rid = k.new_id()
        k.send([LOOKUP, rid, "counter"])
        found = k.take(lambda e: e[0] == FOUND and e[1] == rid, 3)
        check(f"10 msgpack: {name}: closed, or answered and up; never a crash",
              (found is None and k.wait_closed(3)) or (found is not None and not k.closed), f"{found} {k.close_reason}")
        k.close()
    k = ctx.connect()
    check("the node still serves after the msgpack cases", k.lookup("counter") is not None)
    k.close()


def scenario_heartbeats(ctx):
    """Section 4.1: heartbeats both ways; a silent client is dropped."""
    interval = ctx.args["heartbeat"]
    pause = ctx.args["pause"]
    c = ctx.connect(heartbeat=interval / 2, pause=pause * 3)
    time.sleep(pause * 4)
    check("4.1 the node heartbeats", c.heartbeats_received >= 2, str(c.heartbeats_received))
    check("4.1 answering heartbeats keeps the connection", not c.closed and c.lookup("counter") is not None)
    c.heartbeating = False
    start = time.monotonic()
    closed = c.wait_closed(pause * 10 + 2)
    took = time.monotonic() - start
    check("4.1 a silent client is dropped", closed)
    check("4.1 ...not before the acceptable pause", took >= pause * 0.5, f"{took:.2f} s")
    print(f"INFO dropped {took:.2f} s after the client fell silent (pause {pause} s, interval {interval} s)", flush=True)
    c.close()
    # a client that sends envelopes but no HEARTBEAT is alive too (any frame counts)
    c = ctx.connect(heartbeat=interval / 2, pause=pause * 3)
    c.heartbeating = False
    addr = c.lookup("counter")
    ok = True
    for _ in range(int(pause * 4 / (interval / 2))):
        time.sleep(interval / 2)
        try:
            c.ask(addr, {"_tag": "Get"}, timeout=2)
        except Closed:
            ok = False
            break
    check("4.1 any frame counts as a sign of life", ok and not c.closed)
    # no half-close: the node ends the connection when it reads our FIN
    c.sock.shutdown(socket.SHUT_WR)
    check("4.1 a FIN from the client closes the connection", c.wait_closed(3))
    c.close()


def scenario_fragments(ctx):
    """Section 4.3: fragments both ways, the single-frame limit, odd piece sizes."""
    c = ctx.connect()
    echo = c.lookup("echo")
    big = "x" * 300_000 + "\u00e9\u65e5\U0001F600" * 1000
    kind, value = c.ask(echo, {"_tag": "Echo", "text": big}, timeout=10)
    check("4.3 a 300 KB ask goes as fragments and comes back as fragments", kind == 0 and value == big,
          f"kind {kind}, {len(value) if isinstance(value, str) else value}")
    expect("4.3 the first fragmented message of the connection has id 1", c.fragment_ids, [1])
    # two large replies and small ones at once: each large one comes as pieces with no MESSAGE between them
    ids = [c.new_id() for _ in range(6)]
    c.send_together([[ASK, echo["id"], "Echo", {"_tag": "Big", "bytes": 200_000 + i} if i % 3 == 0 else {"_tag": "Size", "text": "s"}, aid, None]
                     for i, aid in enumerate(ids)])
    got = [c.take(lambda e: e[0] == REPLY and e[1] == aid, 10) for aid in ids]
    check("4.3 replies as fragments and as MESSAGEs at once: all arrive, no MESSAGE between the pieces of one",
          all(g is not None and g[2] == 0 for g in got) and c.interleaved == 0, f"interleaved {c.interleaved}")
    # one MESSAGE frame right at the maximum frame size (length field = 262 144)
    head = encode_json([ASK, echo["id"], "Echo", {"_tag": "Size", "text": ""}, 999, None])
    pad = MAX_FRAME - 1 - len(head)
    env = [ASK, echo["id"], "Echo", {"_tag": "Size", "text": "y" * pad}, 999, None]
    body = encode_json(env)
    c.send_frame(MESSAGE, body)
    got = c.take(lambda e: e[0] == REPLY and e[1] == 999)
    check("2 a MESSAGE frame of exactly the maximum size", len(body) == MAX_FRAME - 1 and got == [REPLY, 999, 0, pad],
          json.dumps(got)[:200])
    # small pieces, heartbeats and a MESSAGE between them
    encoded = encode_json([ASK, echo["id"], "Echo", {"_tag": "Echo", "text": "z" * 5000}, 1000, None])
    pieces = fragments(encoded, 77, 1000)
    for i, piece in enumerate(pieces):
        c.send_frame(FRAGMENT, piece)
        if i == 1:
            c.send_frame(HEARTBEAT)
            c.send([LOOKUP, 1001, "echo"])
    found = c.take(lambda e: e[0] == FOUND and e[1] == 1001)
    got = c.take(lambda e: e[0] == REPLY and e[1] == 1000)
    check("4.3 a MESSAGE between pieces is delivered at once", found is not None and found[2] == echo)
    check("4.3 1000-byte pieces with a heartbeat and a message between", got == [REPLY, 1000, 0, "z" * 5000], json.dumps(got)[:200])
    # a small envelope may travel as one fragment too
    c.send_frame(FRAGMENT, fragments(encode_json([LOOKUP, 1002, "echo"]), 78)[0])
    check("4.3 a small envelope as one fragment", c.take(lambda e: e[0] == FOUND and e[1] == 1002) is not None)
    # a reply larger than the largest message (64 MiB) is not sent: InvalidMessage instead, and the
    # connection goes on
    kind, value = c.ask(echo, {"_tag": "Big", "bytes": 64 * 1024 * 1024 + 1}, timeout=30)
    check("4.5 a reply over 64 MiB: InvalidMessage, nothing sent that the client would have to refuse",
          kind == 2 and value.get("_tag") == "InvalidMessage" and "exceeds" in value.get("issue", ""), json.dumps(value)[:300])
    kind, value = c.ask(echo, {"_tag": "Size", "text": "still up"})
    check("4.5 the connection goes on after the refused reply", kind == 0 and value == 8 and not c.closed)
    c.close()


def closes(ctx, name, send, want_closed=True):
    """Sends bad input on a fresh connection; the connection must close without an answer (or stay up)."""
    c = ctx.connect()
    send(c)
    rid = c.new_id()
    try:
        c.send([LOOKUP, rid, "counter"])
    except OSError:
        pass
    found = c.take(lambda e: e[0] == FOUND and e[1] == rid, 3)
    if want_closed:
        check(f"10 closes: {name}", found is None and c.wait_closed(3) and not c.envelopes,
              f"found {found}, closed {c.closed}, envelopes {c.envelopes}")
    else:
        check(f"10 stays up: {name}", found is not None and not c.closed, f"closed: {c.close_reason}")
    c.close()
    return c


def scenario_invalid(ctx):
    """Section 10: invalid messages keep the connection; malformed envelopes close it."""
    c = ctx.connect()
    addr = c.lookup("counter")
    other = {"node": {"name": "someone-else", "incarnation": 1}, "id": 1, "protocol": "Py"}
    sm = lambda env: lambda k: k.send(env)  # noqa: E731
    mine = lambda f: lambda k: k.send(f(k.my_address(1, "Py")))  # noqa: E731  an envelope with our own address
    raw = lambda body: lambda k: k.send_frame(MESSAGE, body)  # noqa: E731
    c.close()
    # stays up
    closes(ctx, "an unknown kind", sm([99, "from the future"]), False)
    closes(ctx, "a kind that is not an integer", sm([0.5, 1]), False)
    closes(ctx, "a tell to no actor", sm([TELL, 424242, "Counter", {"_tag": "Get"}]), False)
    closes(ctx, "a tell whose message fails its Schema", sm([TELL, addr["id"], "Counter", {"_tag": "Increment", "by": []}]), False)
    closes(ctx, "a tell without a message", sm([TELL, addr["id"], "Counter"]), False)
    for tag in ("constructor", "toString", "__proto__", "hasOwnProperty", "valueOf"):
        closes(ctx, f"a tell whose _tag is {tag}", sm([TELL, addr["id"], "Counter", {"_tag": tag}]), False)

    deep = b"[" * 60000 + b"]" * 60000  # 120 KB: fits one frame
    closes(ctx, "a tell whose field is nested 60 000 deep", raw(b'[0,' + str(addr["id"]).encode() + b',"Counter",{"_tag":"Increment","by":' + deep + b'}]'), False)

    def deep_ask(k):
        k.send_frame(MESSAGE, b'[1,' + str(addr["id"]).encode() + b',"Counter",{"_tag":"Increment","by":' + deep + b'},78,null]')
        got = k.take(lambda e: e[0] == REPLY and e[1] == 78, 3)
        check("7.3 an ask whose field is nested 60 000 deep: InvalidMessage", got is not None and got[3].get("_tag") == "InvalidMessage",
              json.dumps(got)[:300])
    closes(ctx, "an ask whose field is nested 60 000 deep", deep_ask, False)
    closes(ctx, "an envelope nested 60 000 deep", raw(deep), True)

    def ask_tag(tag):
        def run(k):
            k.send([ASK, addr["id"], "Counter", {"_tag": tag}, 77, None])
            got = k.take(lambda e: e[0] == REPLY and e[1] == 77, 3)
            check(f"7.3 an ask whose _tag is {tag}: InvalidMessage", got is not None and got[2] == 2 and got[3].get("_tag") == "InvalidMessage",
                  json.dumps(got))
        return run
    for tag in ("constructor", "toString", "__proto__"):
        closes(ctx, f"an ask whose _tag is {tag}", ask_tag(tag), False)
    closes(ctx, "a Spawn whose module is not a string", sm([SPAWN, 1, 5, None]), False)
    closes(ctx, "a Demonitor of garbage", sm([DEMONITOR, "x", "y"]), False)
    closes(ctx, "a Found for no request", sm([FOUND, 12345, None]), False)
    closes(ctx, "a Spawned for no request", sm([SPAWNED, "x", None, None]), False)
    closes(ctx, "a Spawned for no request whose error is an object with a toString field", sm([SPAWNED, "x", None, {"toString": 1}]), False)
    closes(ctx, "a Reply for no ask", sm([REPLY, 12345, 0, 1]), False)
    closes(ctx, "a Down for no monitor", sm([DOWN, 12345, None, "not a reason"]), False)
    closes(ctx, "an Unlink for no actor", mine(lambda me: [UNLINK, me, 424242]), False)
    closes(ctx, "an Exit for no actor, reason undecodable", mine(lambda me: [EXIT, me, 424242, "??", False]), False)
    closes(ctx, "an Exit for no link, reason undecodable", mine(lambda me: [EXIT, me, addr["id"], "??", False]), False)
    closes(ctx, "a Members list with bad entries", sm([MEMBERS, [1, {"name": "x"}]]), False)
    closes(ctx, "a Protocols table", sm([PROTOCOLS, {"Py": "0000000000000000"}]), False)
    closes(ctx, "a Hold with an unknown policy", sm([HOLD, 1, "whatever", "x"]), False)
    closes(ctx, "a Release with a bad credit", sm([RELEASE, 1, -3]), False)
    # closes
    closes(ctx, "not an array", sm("hello"))
    closes(ctx, "an empty array", sm([]))
    closes(ctx, "a kind that is a string", sm(["0", addr["id"], "Counter", {"_tag": "Get"}]))
    closes(ctx, "invalid JSON", raw(b"[0,1,"))
    closes(ctx, "invalid UTF-8", raw(b'[22,1,"\xff"]'))
    closes(ctx, "an empty MESSAGE", raw(b""))
    closes(ctx, "a tell whose id is a string", sm([TELL, str(addr["id"]), "Counter", {"_tag": "Get"}]))
    closes(ctx, "a tell whose protocol is not a string", sm([TELL, addr["id"], 1, {"_tag": "Get"}]))
    closes(ctx, "an ask whose ask id is a string", sm([ASK, addr["id"], "Counter", {"_tag": "Get"}, "1", None]))
    closes(ctx, "an ask without an ask id", sm([ASK, addr["id"], "Counter", {"_tag": "Get"}]))
    closes(ctx, "a reply whose kind is a string", sm([REPLY, 1, "0", 1]))
    closes(ctx, "a Link whose from is not an address", sm([LINK, {"id": 1}, addr["id"]]))
    closes(ctx, "a Link from an actor of another node", sm([LINK, other, addr["id"]]))
    closes(ctx, "a Monitor whose watcher is on another node", sm([MONITOR, other, addr["id"], 1]))
    closes(ctx, "an Exit from an actor of another node", sm([EXIT, other, addr["id"], {"_tag": "Normal"}, False]))
    closes(ctx, "a direct Exit with an undecodable reason", mine(lambda me: [EXIT, me, addr["id"], {"_tag": "Sleepy"}, False, True]))
    closes(ctx, "a Monitor whose id is missing", mine(lambda me: [MONITOR, me, addr["id"]]))
    closes(ctx, "a Stop whose reason is not an exit reason", sm([STOP, 424242, "bye"]))
    closes(ctx, "a Stop whose id is a string", sm([STOP, "1", {"_tag": "Normal"}]))
    closes(ctx, "a Stop whose reason has an optional field set to null", sm([STOP, 424242, {"_tag": "Shutdown", "detail": None}]))
    closes(ctx, "a Protocols table that is null", sm([PROTOCOLS, None]))
    closes(ctx, "a Protocols table that is an array", sm([PROTOCOLS, []]))
    closes(ctx, "a Members list that is not an array", sm([MEMBERS, {}]))
    closes(ctx, "a Hold whose actor is not a number", sm([HOLD, "1", "backpressure", 4]))
    closes(ctx, "a Release whose actor is not a number", sm([RELEASE, None]))
    closes(ctx, "a handshake frame after the handshake", lambda k: k.send_frame(HELLO, b"{}"))
    closes(ctx, "an unknown frame type", lambda k: k.send_frame(7, b""))
    closes(ctx, "a frame of length 0", lambda k: k.raw(b"\x00\x00\x00\x00"))
    closes(ctx, "a frame larger than the maximum", lambda k: k.raw(struct.pack(">IB", MAX_FRAME + 1, MESSAGE)))
    closes(ctx, "a fragment shorter than its header", lambda k: k.send_frame(FRAGMENT, b"\x00" * 11))
    closes(ctx, "a fragment whose total is past 64 MiB", lambda k: k.send_frame(FRAGMENT, struct.pack(">III", 1, 64 * 1024 * 1024 + 1, 0)))
    closes(ctx, "a fragment that does not start at 0", lambda k: k.send_frame(FRAGMENT, struct.pack(">III", 1, 10, 5) + b"abc"))
    closes(ctx, "a fragment past its total", lambda k: k.send_frame(FRAGMENT, struct.pack(">III", 1, 2, 0) + b"abc"))
    closes(ctx, "a new fragmented message before the previous one ended",
           lambda k: (k.send_frame(FRAGMENT, struct.pack(">III", 1, 10, 0) + b"[22"), k.send_frame(FRAGMENT, struct.pack(">III", 2, 10, 0) + b"[22")))
    closes(ctx, "a reassembled message that is not JSON", lambda k: k.send_frame(FRAGMENT, struct.pack(">III", 1, 3, 0) + b"abc"))
    closes(ctx, "a piece at offset 0 while a message with the same id is in progress",
           lambda k: (k.send_frame(FRAGMENT, struct.pack(">III", 5, 10, 0) + b"[22"), k.send_frame(FRAGMENT, struct.pack(">III", 5, 10, 0) + b"[22")))

    def any_ids(k):  # 4.3: a fragment id is only compared with the message in progress
        for fid in (7, 7, 0, 0xFFFFFFFF, 3):
            rid = k.new_id()
            for piece in fragments(encode_json([LOOKUP, rid, "counter"]), fid, 5):
                k.send_frame(FRAGMENT, piece)
            found = k.take(lambda e: e[0] == FOUND and e[1] == rid, 3)
            if found is None or found[2] != addr:
                return check("4.3 fragment ids of any value, reused, out of order", False, f"id {fid}: {found}")
        check("4.3 fragment ids of any value, reused, out of order", True)
    closes(ctx, "fragmented messages whose ids repeat and go down", any_ids, False)

    # 5: a json body (or handshake body) may start with a UTF-8 byte order mark, which is skipped
    def bom(k):
        rid = k.new_id()
        k.send_frame(MESSAGE, b"\xef\xbb\xbf" + encode_json([LOOKUP, rid, "counter"]))
        expect("5 a json body after a byte order mark is decoded", k.take(lambda e: e[0] == FOUND and e[1] == rid, 3), [FOUND, rid, addr])
    closes(ctx, "a json body that starts with a byte order mark", bom, False)
    closes(ctx, "a json body with a byte order mark after its value", raw(encode_json([LOOKUP, 1, "counter"]) + b"\xef\xbb\xbf"))
    k = ctx.conn()
    plain = k.send_frame
    k.send_frame = lambda t, b=b"": plain(t, b"\xef\xbb\xbf" + b if t in (HELLO, AUTH, READY) else b)
    expect("5 HELLO, AUTH and READY bodies after a byte order mark: admitted", refusal(lambda: k.handshake()), "admitted")
    k.send_frame = plain
    check("...and the connection serves", not k.closed and k.lookup("counter") == addr)
    k.close()
    # 3.1: codec names the server does not have, of any type, are skipped
    k = ctx.conn()
    expect("3.1 codecs [1, null, {}, \"nope\", \"json\"]: json chosen", refusal(lambda: k.handshake(codecs=(1, None, {}, "nope", "json"))), "admitted")
    check("...json", k.codec == "json", str(k.codec))
    k.close()


def encode(c, envelope):
    return mp_encode(envelope, c.big_ints_as) if c.codec == "msgpack" else encode_json(envelope)


def size_ask(c, echo, aid, length):
    """A MESSAGE frame of exactly `length` bytes (header included): an Echo Size ask of an ASCII
    text (with a field the Schema ignores where MessagePack's string headers skip the size)."""
    for extra in ({}, {"p": ""}):
        build = lambda n: frame(MESSAGE, encode(c, [ASK, echo["id"], "Echo", {"_tag": "Size", "text": "s" * n, **extra}, aid, None]))  # noqa: E731
        base = len(build(0))
        for n in range(max(0, length - base - 5), max(0, length - base + 1)):
            data = build(n)
            if len(data) == length:
                return data, n
    raise ValueError(f"no frame of {length} bytes")


def scenario_framing(ctx):
    """Section 2: frames split anywhere, many in one write, a large frame trickled, frames across
    the receiver's read boundaries, a header announcing more than the maximum; section 4.3's
    fragments in any chunking. The node must reassemble by the length prefix, whatever the reads."""
    import random
    seed = ctx.args.get("seed", random.randrange(1 << 30))
    print(f"INFO framing seed {seed}", flush=True)
    rnd = random.Random(seed)
    for codec in ctx.args.get("codecs", ["json", "msgpack"]):
        framing(ctx, codec, rnd)


def framing(ctx, codec, rnd):
    c = ctx.connect(codecs=(codec,))
    echo = c.lookup("echo")
    want = {}  # ask id -> the Size it must answer

    def ask(length):
        aid = c.new_id()
        data, n = size_ask(c, echo, aid, length)
        want[aid] = n
        return data

    def answered(name, timeout=10):
        got = {aid: c.take(lambda e, aid=aid: e[0] == REPLY and e[1] == aid, timeout) for aid in list(want)}
        bad = {aid: g for aid, g in got.items() if g != [REPLY, aid, 0, want[aid]]}
        check(name, not bad and not c.closed, f"{len(bad)} of {len(want)} wrong, e.g. {json.dumps(list(bad.items())[:2])[:300]}; closed: {c.close_reason}")
        want.clear()

    # many frames in one write, heartbeats between them
    c.raw(b"".join(ask(rnd.randrange(70, 300)) + (frame(HEARTBEAT) if i % 7 == 0 else b"") for i in range(300)))
    answered("2 300 frames and heartbeats in one write")

    # more frames in one write than the node handles in one go (it reads 1 024, then the rest after
    # pending I/O): all handled, in order (4.2), a fragmented message among them
    a = spawn(c)
    aid, get = c.new_id(), c.new_id()
    want[aid] = 200_000
    big = b"".join(frame(FRAGMENT, p) for p in fragments(encode(c, [ASK, echo["id"], "Echo", {"_tag": "Size", "text": "g" * 200_000}, aid, None]), 11))
    tell = frame(MESSAGE, encode(c, [TELL, a["id"], "Counter", {"_tag": "Increment", "by": 1}]))
    c.raw(b"".join((tell + frame(HEARTBEAT) if i % 100 == 0 else tell) + (big if i == 1500 else b"") for i in range(3000))
          + frame(MESSAGE, encode(c, [ASK, a["id"], "Counter", {"_tag": "Get"}, get, None])))
    expect("4.2 3 000 tells in one write, then an ask: all handled first, in order", c.take(lambda e: e[0] == REPLY and e[1] == get, 10), [REPLY, get, 0, 3000])
    answered("4.3 a fragmented message among them")

    # the 1 024th frame ends early in the node's read buffer and an unfinished frame fills its end:
    # the frames left for later are not overwritten when the unfinished one moves to the front
    hb = frame(HEARTBEAT) * 1100
    fill = 65536 - 12000 - len(hb)
    body = [ask(200) for _ in range(fill // 200 - 1)]
    body.append(ask(fill - 200 * len(body)))
    c.raw(hb + b"".join(body) + ask(16383) + ask(90))
    answered("2 frames left for after pending I/O while an unfinished frame moves to the front of the read buffer")

    # one stream of every size of frame, and a fragmented message, written in random chunks
    big = "f" * 300_000
    aid = c.new_id()
    want[aid] = len(big)
    pieces = b"".join(frame(FRAGMENT, p) for p in fragments(encode(c, [ASK, echo["id"], "Echo", {"_tag": "Size", "text": big}, aid, None]), 9))
    parts = [ask(80), frame(HEARTBEAT), ask(16383), ask(16384), ask(16385), ask(100_000), ask(MAX_FRAME + 4), ask(70), pieces, ask(65536), ask(65541), ask(80)]
    rnd.shuffle(parts)
    stream = b"".join(parts)
    at = 0
    while at < len(stream):
        n = rnd.choice((rnd.randrange(1, 8), rnd.randrange(8, 5000), rnd.randrange(5000, 70000)))
        c.raw(stream[at:at + n])
        at += n
        if rnd.random() < 0.3:
            time.sleep(0.001)
    answered(f"2/4.3 {len(stream)} bytes of frames of every size and a fragmented message, in random chunks")

    # the node reads into a 64 KiB buffer: frames across its end, the header cut at each byte.
    # The first part arrives alone (10 ms), so the node has read it before the rest comes.
    slab = 65536
    for name, before, length in [("a large frame's header cut after 1 byte", slab - 1, MAX_FRAME + 4),
                                 ("...after 3 bytes", slab - 3, MAX_FRAME + 4),
                                 ("...after 4 bytes (the type byte in the next read)", slab - 4, MAX_FRAME + 4),
                                 ("a large frame starting at the end of the buffer", slab, 20_000),
                                 ("a large frame whose header and part of its body end the buffer", slab - 100, 17_000),
                                 ("a small frame across the end of the buffer", slab - 700, 1000),
                                 ("a frame of 16 KiB - 1 across the end of the buffer", slab - 5000, 16383),
                                 ("a frame of 16 KiB across the end of the buffer", slab - 5000, 16384)]:
        prefix = []
        rem = before - 8000 * ((before - 8000) // 8000) if before > 16000 else before
        prefix = [ask(8000) for _ in range((before - rem) // 8000)] + [ask(rem // 2), ask(rem - rem // 2)]
        cut = slab - (before % slab) if before < slab else 0
        head = b"".join(prefix)
        assert len(head) == before, (len(head), before)
        rest = ask(length) + ask(80)
        c.raw(head + rest[:cut] if cut else head)
        time.sleep(0.01)
        c.raw(rest[cut:] if cut else rest)
        answered(f"2 {name}")

    # a frame of the maximum size trickled: its first and last bytes one at a time, the next frame
    # right after its last byte
    data = ask(MAX_FRAME + 4) + ask(80)
    end = MAX_FRAME + 4
    for i in range(3000):
        c.raw(data[i:i + 1])
    for i in range(3000, end - 3000, 4096):
        c.raw(data[i:min(i + 4096, end - 3000)])
    for i in range(end - 3000, end - 1):
        c.raw(data[i:i + 1])
    c.raw(data[end - 1:])
    answered("2 a frame of the maximum size trickled byte by byte at both ends, the next frame in the same write as its last byte")
    c.close()

    # a header announcing more than the maximum, cut across two writes after a valid frame: the
    # valid frame is handled, then the connection closes without the body being sent. The rest of
    # the header goes once the reply has come: the close drops what the node has not written yet
    # (section 10: closed at once), and the actor answers when it gets to the ask
    for split in (2, 4):
        k = ctx.connect(codecs=(codec,))
        aid = k.new_id()
        bad = struct.pack(">IB", MAX_FRAME + 1, MESSAGE)
        k.raw(frame(MESSAGE, encode(k, [ASK, echo["id"], "Echo", {"_tag": "Size", "text": "ok"}, aid, None])) + bad[:split])
        got = k.take(lambda e: e[0] == REPLY and e[1] == aid, 3)
        k.raw(bad[split:])
        check(f"2 a header announcing {MAX_FRAME + 1} bytes, cut after {split}: the frame before it is answered, then closed",
              got == [REPLY, aid, 0, 2] and k.wait_closed(3), f"{got} {k.close_reason}")
        k.close()
    # 3.5: MESSAGE frames in the write of the client's READY, the last one cut (in its header, in
    # the body of a large frame, near its end): the node reads the rest after the handshake
    for cut in (3, 1000, -10):
        k = ctx.conn()
        parts = {}

        def ready_and_more(t, b=b"", k=k, plain=k.send_frame, cut=cut):
            if t != READY:
                return plain(t, b)
            more = frame(MESSAGE, encode(k, [LOOKUP, 901, "x" * 250_000])) + frame(MESSAGE, encode(k, [LOOKUP, 902, "echo"]))
            n = cut if cut > 0 else len(more) + cut
            k.raw(frame(READY, b) + more[:n])
            parts["rest"] = more[n:]
        k.send_frame = ready_and_more
        k.start_heartbeats = lambda: None  # nothing between the two parts
        k.handshake(codecs=(codec,))
        time.sleep(0.01)
        k.raw(parts["rest"])
        found = [k.take(lambda e, rid=rid: e[0] == FOUND and e[1] == rid, 5) for rid in (901, 902)]
        expect(f"3.5 frames in the READY's write, cut at {cut}: both answered", found, [[FOUND, 901, None], [FOUND, 902, echo]])
        k.close()
    k = ctx.connect(codecs=(codec,))
    check("the node still serves after the framing cases", k.lookup("echo") == echo)
    k.close()


def scenario_refusals(ctx):
    """Sections 7.3 and 8.2: each ask the node refuses gets exactly the runtime error of the
    table, field for field (and, with json, byte for byte as JSON.stringify writes it)."""
    for codec in ctx.args.get("codecs", ["json", "msgpack"]):
        refusals(ctx, codec)


def refusals(ctx, codec):
    c = ctx.connect(codecs=(codec,))
    c.keep_bodies = {}
    srv = f"{c.server['name']}#{js_number(c.server['incarnation'])}"
    counter = c.lookup("counter")
    strict = c.lookup("strict")
    stopping = c.lookup(f"slow-stop-{codec}")

    def refused(name, to, protocol, message, value, before=()):
        aid = c.new_id()
        c.send_together_codec([*before, [ASK, to, protocol, message, aid, None]])
        got = c.take(lambda e: e[0] == REPLY and e[1] == aid, 5)
        ok = got == [REPLY, aid, 2, value] and list(got[3].keys()) == list(value.keys())
        if ok and codec == "json":
            ok = c.keep_bodies.get(json.dumps(aid)) == encode_json([REPLY, aid, 2, value])
        check(f"7.3 {codec}: {name}", ok, f"got {json.dumps(got)} ({c.keep_bodies.get(json.dumps(aid))}), want {json.dumps(value)}")

    cid = counter["id"]
    refused("no such actor: NoProc", 424242, "Counter", {"_tag": "Get"}, {"_tag": "NoProc", "actor": f"Counter@{srv}/424242"})
    refused("another protocol: InvalidMessage", cid, "Other", {"_tag": "Get"},
            {"_tag": "InvalidMessage", "actor": f"Other@{srv}/{cid}", "protocol": "Other", "issue": f"actor {cid} speaks Counter, not Other"})
    refused("a protocol local to the node: InvalidMessage", 1, "telex/Supervisor", {"_tag": "CountChildren"},
            {"_tag": "InvalidMessage", "actor": f"telex/Supervisor@{srv}/1", "protocol": "telex/Supervisor",
             "issue": "actor 1 speaks telex/Supervisor, which is local to its node (not advertised)"})
    refused("an unknown tag: InvalidMessage", cid, "Counter", {"_tag": "Nope"},
            {"_tag": "InvalidMessage", "actor": f"Counter@{srv}/{cid}", "protocol": "Counter",
             "issue": 'unknown message tag "Nope" for Counter (its tags: Decrement, Get, Increment)'})
    refused("a field that fails the Schema: InvalidMessage", cid, "Counter", {"_tag": "Increment", "by": "x"},
            {"_tag": "InvalidMessage", "actor": f"Counter@{srv}/{cid}", "protocol": "Counter", "issue": 'Expected number\n  at ["by"]'})
    refused("a full mailbox under `fail`: MailboxFull", strict["id"], "Counter", {"_tag": "Get"},
            {"_tag": "MailboxFull", "actor": f"Counter@{srv}/{strict['id']}", "capacity": 1},
            before=[[TELL, strict["id"], "Counter", {"_tag": "Increment", "by": 1}] for _ in range(3)])
    # an ask in the mailbox when the actor stops: ActorStopped with the Stop's reason; an actor that
    # is stopping (its finalizer runs) is still found, and refuses asks: NoProc
    queued = c.new_id()
    c.send_together_codec([[TELL, stopping["id"], "Counter", {"_tag": "Increment", "by": 1}],  # its handler sleeps
                           [ASK, stopping["id"], "Counter", {"_tag": "Get"}, queued, None],
                           [STOP, stopping["id"], {"_tag": "Shutdown", "detail": "stop"}]])
    time.sleep(0.1)
    expect(f"8.4 {codec}: an actor that is stopping is still found", c.lookup(f"slow-stop-{codec}"), stopping)
    refused("an actor that is stopping: NoProc", stopping["id"], "Counter", {"_tag": "Get"},
            {"_tag": "NoProc", "actor": f"Counter@{srv}/{stopping['id']}"})
    expect(f"8.2 {codec}: an ask in the mailbox when the actor stops: ActorStopped, the Stop's reason",
           c.take(lambda e: e[0] == REPLY and e[1] == queued, 5),
           [REPLY, queued, 2, {"_tag": "ActorStopped", "actor": f"Counter@{srv}/{stopping['id']}", "reason": {"_tag": "Shutdown", "detail": "stop"}}])
    check("the connection is still up", not c.closed)

    # exit reasons on the wire (7.2): a crash, as Down, Exit and ActorStopped, has exactly _tag and message
    me = c.my_address(1, "Py/Watcher")
    crasher = c.lookup(f"crasher-{codec}")
    c.send([MONITOR, me, crasher["id"], 5])
    c.send([LINK, me, crasher["id"]])
    kind, err = c.ask(crasher, {"_tag": "Crash"})
    down = c.take(lambda e: e[0] == DOWN and e[1] == 5)
    ex = c.take(lambda e: e[0] == EXIT and e[1] == crasher)
    crash = lambda r: isinstance(r, dict) and list(r.keys()) == ["_tag", "message"] and r["_tag"] == "Error" \
        and isinstance(r["message"], str) and "crash on purpose" in r["message"]  # noqa: E731
    check(f"7.3 {codec}: ActorStopped for a crash: actor and an Error reason",
          kind == 2 and list(err.keys()) == ["_tag", "actor", "reason"] and err["_tag"] == "ActorStopped"
          and err["actor"] == f"Crasher@{srv}/{crasher['id']}" and crash(err["reason"]), json.dumps(err)[:300])
    check(f"7.2 {codec}: the Down of a crashed actor: Error with its message", down is not None and down[2] == crasher and crash(down[3]),
          json.dumps(down)[:300])
    check(f"7.2 {codec}: the Exit of a crashed linked actor: Error with its message, not untrappable",
          ex is not None and ex[2] == me["id"] and crash(ex[3]) and ex[4] is False and len(ex) == 5, json.dumps(ex)[:300])
    # a supervisor's children: stopped with the supervisor, as Shutdown; a child the supervisor restarts
    child = c.lookup(f"sup-child-{codec}")
    sup = c.lookup(f"sup-{codec}")
    c.send([MONITOR, me, child["id"], 6])
    c.send([STOP, child["id"], {"_tag": "Error", "message": "stopped by the client"}])
    down = c.take(lambda e: e[0] == DOWN and e[1] == 6)
    expect(f"7.2 {codec}: a supervised child stopped with Error: Down with that reason", down and down[3], {"_tag": "Error", "message": "stopped by the client"})
    again = None
    for _ in range(50):
        again = c.lookup(f"sup-child-{codec}")
        if again is not None and again["id"] != child["id"]:
            break
        time.sleep(0.02)
    check(f"{codec}: the supervisor restarted the child (a new id)", again is not None and again["id"] != child["id"], json.dumps(again))
    c.send([MONITOR, me, again["id"], 7])
    c.send([MONITOR, me, sup["id"], 8])
    c.send([STOP, sup["id"], {"_tag": "Shutdown", "detail": "by the client"}])
    d7 = c.take(lambda e: e[0] == DOWN and e[1] == 7)
    d8 = c.take(lambda e: e[0] == DOWN and e[1] == 8)
    expect(f"7.2 {codec}: a child stopped with its supervisor: Down Shutdown", d7 and d7[3], {"_tag": "Shutdown"})
    expect(f"7.2 {codec}: the supervisor: Down with the Stop's reason", d8 and d8[3], {"_tag": "Shutdown", "detail": "by the client"})
    check("the connection is still up", not c.closed)
    c.close()


def scenario_signals(ctx):
    """Section 8.5-8.6: remote spawn, monitors, links, stop, exit reasons."""
    c = ctx.connect()
    me = c.my_address(1, "Py/Watcher")
    rid = c.new_id()
    c.send([SPAWN, rid, "Counter", None])
    sp = c.take(lambda e: e[0] == SPAWNED and e[1] == rid)
    check("8.6 spawn: an address", sp is not None and isinstance(sp[2], dict) and sp[2]["protocol"] == "Counter" and sp[3] is None,
          json.dumps(sp))
    spawned = sp[2]
    expect("8.6 the spawned actor answers", c.ask(spawned, {"_tag": "Get"}), [0, 0])
    name = f"spawned-{c.me['name']}"
    c.send([SPAWN, "r1", "Counter", name])
    sp1 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r1")
    check("8.6 spawn with a name, registered", sp1 is not None and sp1[2] is not None and c.lookup(name) == sp1[2], json.dumps(sp1))
    c.send([SPAWN, "r2", "Counter", name])
    sp2 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r2")
    check("8.6 a taken name: an error", sp2 is not None and sp2[2] is None and isinstance(sp2[3], str), json.dumps(sp2))
    c.send([SPAWN, "r3", "Nope", None])
    sp3 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r3")
    expect("8.6 a module not spawnable", sp3, [SPAWNED, "r3", None, f"module \"Nope\" is not spawnable on {c.server['name']}"])
    c.send([SPAWN, "r4", "Counter", 42])
    sp4 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r4")
    expect("8.6 a name neither a string nor null: an error, nothing spawned", sp4,
           [SPAWNED, "r4", None, "the spawn name must be a string or null, not number"])
    c.send([SPAWN, "r5", "Counter", {"name": "x"}])
    sp5 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r5")
    expect("8.6 ...an object name too", sp5, [SPAWNED, "r5", None, "the spawn name must be a string or null, not object"])
    c.send([SPAWN, "r6", "Counter"])
    sp6 = c.take(lambda e: e[0] == SPAWNED and e[1] == "r6")
    check("8.6 no name element: spawned without a name, as with null", sp6 is not None and isinstance(sp6[2], dict)
          and sp6[2]["protocol"] == "Counter" and sp6[3] is None, json.dumps(sp6))

    # monitor, then stop with a reason: Down with that reason
    c.send([MONITOR, me, spawned["id"], 7])
    c.send([STOP, spawned["id"], {"_tag": "Shutdown", "detail": "by the client"}])
    down = c.take(lambda e: e[0] == DOWN and e[1] == 7)
    expect("8.5 Down after Stop, the reason as sent", down, [DOWN, 7, spawned, {"_tag": "Shutdown", "detail": "by the client"}])
    c.send([MONITOR, me, spawned["id"], 8])
    down = c.take(lambda e: e[0] == DOWN and e[1] == 8)
    expect("8.5 Monitor of a dead actor: Down NoProc at once", down,
           [DOWN, 8, {"node": c.server, "id": spawned["id"], "protocol": "unknown"}, {"_tag": "NoProc"}])
    c.send([LINK, me, spawned["id"]])
    ex = c.take(lambda e: e[0] == EXIT)
    expect("8.5 Link to a dead actor: Exit NoProc", ex,
           [EXIT, {"node": c.server, "id": spawned["id"], "protocol": me["protocol"]}, me["id"], {"_tag": "NoProc"}, False])

    # demonitor: no Down
    a = spawn(c)
    c.send([MONITOR, me, a["id"], 9])
    c.send([DEMONITOR, a["id"], 9])
    c.send([STOP, a["id"], {"_tag": "Normal"}])
    check("8.5 Demonitor: no Down", c.take(lambda e: e[0] == DOWN and e[1] == 9, 0.5) is None)

    # a monitor id used again names the new monitor: the earlier one is dropped
    a, b = spawn(c), spawn(c)
    reused = 1_000_001
    c.send([MONITOR, me, a["id"], reused])
    c.send([MONITOR, me, b["id"], reused])
    c.send([STOP, a["id"], {"_tag": "Normal"}])
    check("8.5 a Monitor whose id is in use replaces that monitor: no Down for the first actor",
          c.take(lambda e: e[0] == DOWN and e[1] == reused, 0.5) is None)
    c.send([DEMONITOR, b["id"], reused])
    c.send([STOP, b["id"], {"_tag": "Normal"}])
    check("8.5 ...and a Demonitor of that id cancels the monitor it names now: no Down",
          c.take(lambda e: e[0] == DOWN and e[1] == reused, 0.5) is None)
    a = spawn(c)
    c.send([MONITOR, me, a["id"], reused])
    c.send([MONITOR, me, a["id"], reused])
    c.send([STOP, a["id"], {"_tag": "Normal"}])
    first = c.take(lambda e: e[0] == DOWN and e[1] == reused, 2)
    check("8.5 two Monitors of one actor with one id: one Down", first is not None
          and c.take(lambda e: e[0] == DOWN and e[1] == reused, 0.5) is None, json.dumps(first))

    # every exit reason of 7.2, through Stop and Down
    for reason in ({"_tag": "Normal"}, {"_tag": "Shutdown"}, {"_tag": "Killed"}, {"_tag": "Error", "message": "line 1\nline 2"},
                   {"_tag": "NoProc"}, {"_tag": "NoConnection"}, {"_tag": "NoConnection", "node": "elsewhere"}):
        a = spawn(c)
        mid = c.new_id()
        c.send([MONITOR, me, a["id"], mid])
        c.send([STOP, a["id"], reason])
        down = c.take(lambda e: e[0] == DOWN and e[1] == mid)
        expect(f"7.2 exit reason {reason['_tag']}{'/' + reason.get('node', reason.get('message', ''))[:6] if len(reason) > 1 else ''}",
               down and down[3], reason)

    # a link: the actor's exit comes back as Exit; our Exit stops the actor
    a = spawn(c)
    c.send([LINK, me, a["id"]])
    expect("8.5 linked actor answers", c.ask(a, {"_tag": "Get"}), [0, 0])
    c.send([STOP, a["id"], {"_tag": "Error", "message": "stopped"}])
    ex = c.take(lambda e: e[0] == EXIT and e[1]["id"] == a["id"])
    expect("8.5 the linked actor's end comes back as Exit", ex, [EXIT, a, me["id"], {"_tag": "Error", "message": "stopped"}, False])
    b = spawn(c)
    c.send([LINK, me, b["id"]])
    mid = c.new_id()
    c.send([MONITOR, me, b["id"], mid])
    c.send([EXIT, me, b["id"], {"_tag": "Error", "message": "from python"}, False])
    down = c.take(lambda e: e[0] == DOWN and e[1] == mid)
    expect("8.5 an Exit from a linked actor stops it", down and down[3], {"_tag": "Error", "message": "from python"})
    b = spawn(c)
    mid = c.new_id()
    c.send([MONITOR, me, b["id"], mid])
    c.send([EXIT, me, b["id"], {"_tag": "Error", "message": "no link"}, False])
    check("8.5 an Exit that is not direct, with no link between the two: ignored", c.take(lambda e: e[0] == DOWN and e[1] == mid, 0.5) is None)
    c.send([EXIT, me, b["id"], {"_tag": "Killed"}, True, True])
    down = c.take(lambda e: e[0] == DOWN and e[1] == mid)
    expect("8.5 a direct untrappable Exit without a link", down and down[3], {"_tag": "Killed"})
    b = spawn(c)
    mid = c.new_id()
    c.send([MONITOR, me, b["id"], mid])
    c.send([EXIT, me, b["id"], {"_tag": "Normal"}, False, True])
    check("8.5 a direct Exit Normal is ignored by an actor that does not trap", c.take(lambda e: e[0] == DOWN and e[1] == mid, 0.5) is None)
    # `direct` counts only when it is true: a 1 makes a link's Exit, ignored without a link; the
    # Stop after it (handled after it, 4.2) is what ends the actor
    b = spawn(c)
    mid = c.new_id()
    c.send([MONITOR, me, b["id"], mid])
    c.send([EXIT, me, b["id"], {"_tag": "Error", "message": "direct 1"}, False, 1])
    c.send([STOP, b["id"], {"_tag": "Shutdown", "detail": "after"}])
    down = c.take(lambda e: e[0] == DOWN and e[1] == mid)
    expect("8.5 an Exit whose direct is 1, not true, with no link: ignored", down and down[3], {"_tag": "Shutdown", "detail": "after"})
    # the incarnation in our addresses: a Down goes back under its monitor id whatever the watcher's
    # incarnation; an Exit is sent only to an address of this connection's incarnation
    stale = {"node": {"name": c.me["name"], "incarnation": c.me["incarnation"] - 1}, "id": 1, "protocol": "Py/Watcher"}
    b = spawn(c)
    mid = c.new_id()
    c.send([MONITOR, stale, b["id"], mid])
    c.send([STOP, b["id"], {"_tag": "Normal"}])
    check("8.5 a Monitor whose watcher has another incarnation of us gets its Down",
          c.take(lambda e: e[0] == DOWN and e[1] == mid, 2) is not None)
    c.send([LINK, stale, 424242])
    check("8.5/9 a Link from another incarnation of us to no actor: no Exit NoProc comes back", c.take(lambda e: e[0] == EXIT, 0.5) is None)
    b = spawn(c)
    c.send([LINK, stale, b["id"]])
    c.send([STOP, b["id"], {"_tag": "Error", "message": "x"}])
    check("8.5 a Link from another incarnation of us: no Exit comes back", c.take(lambda e: e[0] == EXIT and e[1]["id"] == b["id"], 0.5) is None)

    # closing the connection: a Telex actor linked to us gets NoConnection; it was watched by the test
    watched = c.lookup("linked-to-client")
    c.send([LINK, me, watched["id"]])
    expect("8.5 linked", c.ask(watched, {"_tag": "Get"}), [0, 0])
    c.close()
    print("INFO closed with a link to linked-to-client", flush=True)


def spawn(c):
    rid = c.new_id()
    c.send([SPAWN, rid, "Counter", None])
    sp = c.take(lambda e: e[0] == SPAWNED and e[1] == rid)
    return sp[2]


def scenario_protocols(ctx):
    """Section 8.8: a client that hosts an actor receives tells once it advertises the server's fingerprint."""
    c = ctx.connect()
    relay = c.lookup("relay")
    mine = c.my_address(5, "Counter")
    expect("8.8 without the fingerprint: the sender fails locally with ProtocolMismatch",
           c.ask(relay, {"_tag": "Forward", "to": mine, "by": 2}), [0, "ProtocolMismatch"])
    fp = c.server_ready["protocols"]["Counter"]
    c.send([PROTOCOLS, {"Counter": fp}])
    expect("8.7 after Protocols: the tell is sent", c.ask(relay, {"_tag": "Forward", "to": mine, "by": 2}), [0, "sent"])
    tell = c.take(lambda e: e[0] == TELL)
    expect("8.1 the tell the relay sent to our actor", tell, [TELL, 5, "Counter", {"_tag": "Increment", "by": 2}])
    c.send([PROTOCOLS, {"Counter": "0000000000000000"}])
    expect("8.8 a different fingerprint: ProtocolMismatch", c.ask(relay, {"_tag": "Forward", "to": mine, "by": 2}), [0, "ProtocolMismatch"])
    c.close()
    c = ctx.connect(ready={"protocols": {"Counter": fp}})
    mine = c.my_address(6, "Counter")
    expect("8.8 the fingerprint in READY", c.ask(relay, {"_tag": "Forward", "to": mine, "by": 3}), [0, "sent"])
    expect("8.1 the tell", c.take(lambda e: e[0] == TELL), [TELL, 6, "Counter", {"_tag": "Increment", "by": 3}])
    # asks to our actor: the node asks, we reply
    stale = {"node": {"name": c.me["name"], "incarnation": c.me["incarnation"] + 1}, "id": 6, "protocol": "Counter"}
    expect("9 an address of another incarnation of us: NoProc on the sender's side",
           c.ask(relay, {"_tag": "AskGet", "to": stale}), [0, "NoProc"])
    expect("9 ...and a tell to it is a dead letter there (the tell itself does not fail)",
           c.ask(relay, {"_tag": "Forward", "to": stale, "by": 1}), [0, "sent"])
    check("9 ...nothing is sent to us", c.take(lambda e: e[0] == TELL, 0.2) is None)
    rid = c.new_id()
    c.send([ASK, relay["id"], "Relay", {"_tag": "AskGet", "to": mine}, rid, None])
    ask = c.take(lambda e: e[0] == ASK)
    check("8.2 the node asks our actor", ask is not None and ask[1] == 6 and ask[2] == "Counter" and ask[3] == {"_tag": "Get"}
          and isinstance(ask[4], (int, float)), json.dumps(ask))
    # replies whose ask ids no ask of the node has (0, negative, fractional, a reused id): ignored
    for bogus in [0, -1, -2, 0.5, ask[4] + 0.5, ask[4] + 1000] * 40:
        c.send([REPLY, bogus, 0, 40])
    c.send([REPLY, ask[4], 0, 41])
    expect("8.3 our reply reaches the asker (replies to ask ids the node never used were ignored)",
           c.take(lambda e: e[0] == REPLY and e[1] == rid), [REPLY, rid, 0, "41"])
    c.send([REPLY, ask[4], 0, 42])
    rids = [c.new_id() for _ in range(80)]
    for r in rids:
        c.send([ASK, relay["id"], "Relay", {"_tag": "AskGet", "to": mine}, r, None])
    asks = [c.take(lambda e: e[0] == ASK, 3) for _ in rids]
    check("8.2 80 asks of the node to our actor at once, each with its own id", all(a is not None for a in asks)
          and len(set(a[4] for a in asks)) == 80, json.dumps([a and a[4] for a in asks][:10]))
    for a in reversed(asks):
        if a is not None:
            c.send([REPLY, a[4], 0, a[4]])
    got = [c.take(lambda e, r=r: e[0] == REPLY and e[1] == r, 3) for r in rids]
    check("8.3 ...each reply reaches its asker", all(g is not None and g[2] == 0 and g[3] == str(a[4]) for g, a in zip(got, asks)),
          json.dumps(got[:3]))
    rid = c.new_id()
    c.send([ASK, relay["id"], "Relay", {"_tag": "AskGet", "to": mine}, rid, None])
    ask = c.take(lambda e: e[0] == ASK)
    c.send([REPLY, ask[4], 0, "not a number"])
    kind, err = c.take(lambda e: e[0] == REPLY and e[1] == rid)[2:]
    expect("8.3 a reply that does not decode fails the ask with InvalidMessage", [kind, err], [0, "InvalidMessage"])
    c.close()


def scenario_flow(ctx):
    """Section 4.4: Hold and Release for a full mailbox; a client that honours them loses nothing."""
    c = ctx.connect()
    slow = c.lookup("slow")
    total = ctx.args["tells"]
    state = {"holds": 0, "releases": 0, "held": False, "credit": None, "waited": 0}

    def honour(timeout):
        e = c.take(lambda e: e[0] in (HOLD, RELEASE) and e[1] == slow["id"], timeout)
        if e is None:
            return False
        if e[0] == HOLD:
            state["holds"] += 1
            if state["holds"] == 1:
                expect("4.4 Hold: actor, policy, capacity", e, [HOLD, slow["id"], "backpressure", ctx.args["capacity"]])
            state["held"] = True
        else:
            state["releases"] += 1
            state["held"] = False
            state["credit"] = e[2] if len(e) > 2 else None
            check(f"4.4 Release {state['releases']}: a credit is a positive integer when present",
                  state["credit"] is None or (isinstance(state["credit"], int) and state["credit"] > 0), json.dumps(e))
        return True

    sent = 0
    deadline = time.monotonic() + 20
    while sent < total and time.monotonic() < deadline:
        while honour(0):
            pass
        if state["held"] or state["credit"] == 0:
            state["waited"] += 1
            honour(1)  # stop sending to it until Release
            continue
        c.tell(slow, {"_tag": "Increment", "by": 1})
        sent += 1
        if state["credit"] is not None:
            state["credit"] -= 1
        time.sleep(0.002)
    check("4.4 all tells sent", sent == total, f"{sent}/{total}")
    value = None
    for _ in range(100):
        kind, value = c.ask(slow, {"_tag": "Get"}, timeout=10)
        if value == total:
            break
        time.sleep(0.1)
    while honour(0.2):
        pass
    check("4.4 the node sent Hold, then Release", state["holds"] >= 1 and state["releases"] >= 1 and not state["held"], json.dumps(state))
    check("4.4 the client waited while held", state["waited"] >= 1, json.dumps(state))
    expect("4.4 nothing lost", value, total)
    c.close()

    # 3.5 `hold`: a client that connects again (same name and incarnation) while the actor it was
    # held on is still more than half full is held from the server's READY, then released
    name, incarnation = f"py-hold-{os.getpid()}", time.time_ns() // 1000
    d = ctx.connect(name=name, incarnation=incarnation)
    check("3.5 no `hold` in a first READY", "hold" not in d.server_ready, json.dumps(d.server_ready))
    slow = d.lookup("slow")
    d.send_together([[TELL, slow["id"], "Counter", {"_tag": "Increment", "by": 1}] for _ in range(12)])
    hold = d.take(lambda e: e[0] == HOLD and e[1] == slow["id"], 2)
    check("4.4 a flood without honouring Hold: Hold", hold is not None)
    d.close()
    e = ctx.connect(name=name, incarnation=incarnation)
    expect("3.5 READY `hold`: the actor still full is held from the start", e.server_ready.get("hold"),
           [[slow["id"], "backpressure", ctx.args["capacity"]]])
    release = e.take(lambda x: x[0] == RELEASE and x[1] == slow["id"], 5)
    check("4.4 a hold from the READY ends with a Release", release is not None, json.dumps(release))
    e.close()


def scenario_overflow(ctx):
    """Sections 4.4, 7.3, 8.1, 8.2: a full mailbox under the `fail` policy."""
    c = ctx.connect()
    strict = c.lookup("strict")
    aid = c.new_id()
    c.send_together([[TELL, strict["id"], "Counter", {"_tag": "Increment", "by": 1}] for _ in range(4)]
                    + [[ASK, strict["id"], "Counter", {"_tag": "Get"}, aid, None]])
    kind, err = c.take(lambda e: e[0] == REPLY and e[1] == aid)[2:]
    expect("8.2 an ask to a full `fail` mailbox: MailboxFull", [kind, err],
           [2, {"_tag": "MailboxFull", "actor": f"Counter@{c.server['name']}#{js_number(c.server['incarnation'])}/{strict['id']}", "capacity": 1}])
    hold = c.take(lambda e: e[0] == HOLD, 2)
    expect("4.4 Hold with the `fail` policy", hold, [HOLD, strict["id"], "fail", 1])
    release = c.take(lambda e: e[0] == RELEASE, 5)
    check("4.4 Release once it drained", release is not None and release[1] == strict["id"], json.dumps(release))
    # dropNewest: the newest (this ask) is refused; dropOldest: the oldest waiting ask is evicted
    for name, policy in (("newest", "dropNewest"), ("oldest", "dropOldest")):
        a = c.lookup(f"drop-{name}")
        c.tell(a, {"_tag": "Increment", "by": 1})  # the handler sleeps on this one
        time.sleep(0.05)
        first, second = c.new_id(), c.new_id()
        # one write: nothing runs on the node between these three
        c.send_together([[TELL, a["id"], "Counter", {"_tag": "Increment", "by": 1}],  # fills the mailbox (capacity 1)
                         [ASK, a["id"], "Counter", {"_tag": "Get"}, first, None],
                         [ASK, a["id"], "Counter", {"_tag": "Get"}, second, None]])
        r1 = c.take(lambda e: e[0] == REPLY and e[1] == first, 5)
        r2 = c.take(lambda e: e[0] == REPLY and e[1] == second, 5)
        full = {"_tag": "MailboxFull", "actor": f"Counter@{c.server['name']}#{js_number(c.server['incarnation'])}/{a['id']}", "capacity": 1}
        if policy == "dropNewest":
            ok = r1 == [REPLY, first, 2, full] and r2 == [REPLY, second, 2, full]
        else:
            ok = r1 == [REPLY, first, 2, full] and r2 is not None and r2[2] == 0
        check(f"7.3 {policy}: every ask answered, the one dropped with MailboxFull", ok, json.dumps([r1, r2]))
        hold = c.take(lambda e: e[0] == HOLD and e[1] == a["id"], 2)
        expect(f"4.4 Hold with the `{policy}` policy", hold, [HOLD, a["id"], policy, 1])
    c.close()


def scenario_outbound(ctx):
    """Section 4.5: a client that heartbeats but does not read is disconnected."""
    c = ctx.connect()
    echo = c.lookup("echo")
    c.reading.clear()
    text = "w" * 60_000
    for i in range(300):
        c.send([ASK, echo["id"], "Echo", {"_tag": "Echo", "text": text}, 10_000 + i, None])
    time.sleep(ctx.args["stall"] + 2)
    c.heartbeating = False
    c.reading.set()
    check("4.5 disconnected for not reading", c.wait_closed(15), c.close_reason or "still open")
    c.close()


def scenario_sharding(ctx):
    """Section 14: key -> shard, asking entities through the region, NotOwner, Deliver, direct asks."""
    a = ctx.args
    shards = a["shards"]
    own = {"a": set(a["ownedA"]), "b": set(a["ownedB"])}
    conns = {"a": Conn("127.0.0.1", ctx.port, ctx.cluster, ctx.secret).handshake()}
    # the other node's address: from the Members envelope a sends right after the handshake
    members = conns["a"].take(lambda e: e[0] == MEMBERS, 2)
    entry = next((m for m in (members or [None, []])[1] if m.get("name") == a["nameB"]), None)
    expect("8.7a Members from a: b with its address", entry, {"name": a["nameB"], "host": "127.0.0.1", "port": a["portB"]})
    conns["b"] = Conn(entry["host"], entry["port"], ctx.cluster, ctx.secret).handshake()
    nodes = {n: conns[n].lookup("telex/sharding") for n in conns}
    regions = {n: conns[n].lookup(f"telex/sharding/{a['type']}") for n in conns}
    check("14.2 regions found", all(r is not None and r["protocol"] == "telex/ShardRegion" for r in regions.values()), json.dumps(regions))
    owner_ids = {}
    for n in conns:
        kind, owner = conns[n].ask(nodes[n], {"_tag": "Owner"})
        owner_ids[n] = owner
        expect(f"14.2 Owner of {n}", owner, node_key(conns[n].server))
    keys = ["", "a", "user-42", "\u00e9", "\u65e5\u672c", "\u043a\u043b\u044e\u0447-7", "\U0001F600 emoji", "x" * 200,
            "tab\tnew\nline", "\u0000nul", "\ufffd"] + [f"k{i}" for i in range(40)]
    bad = []
    saw = {"a": 0, "b": 0}
    for key in keys:
        shard = shard_of(key, shards)
        home = "a" if shard in own["a"] else "b" if shard in own["b"] else None
        if home is None:
            bad.append(f"{key!r}: shard {shard} owned by nobody")
            continue
        saw[home] += 1
        away = "b" if home == "a" else "a"
        # NotOwner null until the other node's next lease read (14.2): ask again a little later
        for _ in range(40):
            kind, rep = conns[away].ask(regions[away], {"_tag": "Ask", "key": key, "message": {"_tag": "Key"}, "timeoutMillis": 3000})
            if not (kind == 0 and rep == {"_tag": "NotOwner", "owner": None}):
                break
            time.sleep(0.1)
        # "name#incarnation": the node to ask is the one named before the last '#'
        if not (kind == 0 and rep.get("_tag") == "NotOwner" and rep.get("owner") == owner_ids[home]
                and rep["owner"].rsplit("#", 1)[0] == conns[home].server["name"]):
            bad.append(f"{key!r} (shard {shard}) at {away}: {json.dumps([kind, rep])}")
            continue
        kind, rep = conns[home].ask(regions[home], {"_tag": "Ask", "key": key, "message": {"_tag": "Key"}, "timeoutMillis": 3000})
        if not (kind == 0 and rep.get("_tag") == "Ok" and rep.get("value") == key):
            bad.append(f"{key!r} (shard {shard}) at {home}: {json.dumps([kind, rep])}")
    check("14.1 every key's shard, as computed here, is the one the nodes route by (NotOwner elsewhere, Ok at home)",
          not bad and saw["a"] > 0 and saw["b"] > 0, "; ".join(bad[:5]) + f" {saw}")

    # a key with a lone surrogate (JSON "\ud800") has no UTF-8 form: refused by every region
    hf = "a" if shard_of("\ufffd", shards) in own["a"] else "b"
    get_fffd = lambda: conns[hf].ask(regions[hf], {"_tag": "Ask", "key": "\ufffd", "message": {"_tag": "Get"}, "timeoutMillis": 3000})  # noqa: E731
    fffd_before = get_fffd()
    for key in ("lone \ud800 surrogate", "\udfff", "\ud800"):
        for n in conns:
            kind, rep = conns[n].ask(regions[n], {"_tag": "Ask", "key": key, "message": {"_tag": "Get"}, "timeoutMillis": 3000})
            check(f"14.1 a key with a lone surrogate {key!r} at {n}: Runtime InvalidMessage", kind == 0 and rep.get("_tag") == "Runtime"
                  and rep["error"].get("_tag") == "InvalidMessage", json.dumps(rep))
            conns[n].send([TELL, regions[n]["id"], "telex/ShardRegion", {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": 100}, "hops": 0}])
    time.sleep(0.3)
    fffd_after = get_fffd()
    check("14.1 ...and a Deliver with such a key reaches no entity (U+FFFD's is untouched)",
          fffd_before[0] == 0 and fffd_before[1].get("_tag") == "Ok" and fffd_before[1].get("value") == fffd_after[1].get("value"),
          json.dumps([fffd_before, fffd_after]))

    key = "\u65e5\u672c"
    home = "a" if shard_of(key, shards) in own["a"] else "b"
    away = "b" if home == "a" else "a"
    c, region = conns[home], regions[home]
    ask = lambda m, t=3000: c.ask(region, {"_tag": "Ask", "key": key, "message": m, "timeoutMillis": t})  # noqa: E731
    kind, rep = ask({"_tag": "Get"})
    check("14.2 Ok with the entity's address", kind == 0 and rep.get("_tag") == "Ok" and isinstance(rep.get("entity"), dict)
          and rep["entity"]["protocol"] == a["protocol"] and rep["entity"]["node"] == c.server, json.dumps(rep))
    entity = rep.get("entity")
    base = rep.get("value")
    expect("14.2 Fail: the typed error", ask({"_tag": "Fail", "reason": "no"}), [0, {"_tag": "Fail", "error": "no"}])
    kind, rep = ask({"_tag": "Add", "by": 1})
    check("14.2 a tell-kind message asked: Runtime InvalidMessage", kind == 0 and rep.get("_tag") == "Runtime"
          and rep["error"].get("_tag") == "InvalidMessage", json.dumps(rep))
    kind, rep = ask({"_tag": "Get", "extra": 1, "by": "x"})
    check("14.2 extra fields are ignored", kind == 0 and rep.get("_tag") == "Ok", json.dumps(rep))
    kind, rep = ask({"_tag": "Add", "by": "x"})
    check("14.2 a message its Schema refuses: Runtime InvalidMessage", kind == 0 and rep.get("_tag") == "Runtime"
          and rep["error"].get("_tag") == "InvalidMessage", json.dumps(rep))
    kind, rep = c.ask(region, {"_tag": "Ask", "key": 5, "message": {"_tag": "Get"}, "timeoutMillis": 3000})
    check("14.2 a region message its own Schema refuses: reply kind 2 InvalidMessage", kind == 2 and rep.get("_tag") == "InvalidMessage",
          json.dumps(rep))
    # tells through the regions: at home, and forwarded from the other node
    c.send([TELL, region["id"], "telex/ShardRegion", {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": 3}, "hops": 0}])
    conns[away].send([TELL, regions[away]["id"], "telex/ShardRegion",
                      {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": 4}, "hops": 0}])
    conns[away].send([TELL, regions[away]["id"], "telex/ShardRegion",
                      {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": "bad"}, "hops": 0}])
    for hops in (-1, 0.5):  # hops is an integer >= 0: these are dead letters
        c.send([TELL, region["id"], "telex/ShardRegion", {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": 1000}, "hops": hops}])
    for t in (-1, 1e308, 2147483648):
        kind, rep = c.ask(region, {"_tag": "Ask", "key": key, "message": {"_tag": "Get"}, "timeoutMillis": t})
        check(f"14.2 an Ask whose timeoutMillis is {t}: reply kind 2 InvalidMessage", kind == 2 and rep.get("_tag") == "InvalidMessage", json.dumps(rep))
    kind, rep = c.ask(region, {"_tag": "Ask", "key": key, "message": {"_tag": "Get"}, "timeoutMillis": 2147483647})
    check("14.2 an Ask whose timeoutMillis is 2^31 - 1: Ok", kind == 0 and rep.get("_tag") == "Ok", json.dumps(rep))
    value = None
    for _ in range(50):
        kind, rep = ask({"_tag": "Get"})
        value = rep.get("value")
        if value == base + 7:
            break
        time.sleep(0.05)
    expect("14.2 Deliver at the owner and forwarded by the other region (a bad message, a bad hops: dropped)", value, base + 7)
    if entity is not None:
        expect("14.2 a direct ask to the entity's address", c.ask(entity, {"_tag": "Get"}), [0, base + 7])
        # the entity passivates when idle: a direct ask is then NoProc (not delivered), and the region activates it again
        time.sleep(a["passivateMillis"] / 1000 * 2.5)
        kind, err = c.ask(entity, {"_tag": "Get"})
        check("14.2 after passivation a direct ask is NoProc", kind == 2 and err.get("_tag") == "NoProc", json.dumps(err))
        kind, rep = ask({"_tag": "Get"})
        check("14.2 ...and the region activates it again, with its state", kind == 0 and rep.get("value") == base + 7
              and rep.get("entity") is not None and rep["entity"]["id"] != entity["id"], json.dumps(rep))
    check("the connections are up", not conns["a"].closed and not conns["b"].closed)
    for k in conns.values():
        k.close()


def scenario_listen(ctx):
    """Section 3.1 / 8.7a: an advertised listen address is passed on in Members, and other nodes dial it."""
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    port = server.getsockname()[1]
    me = {"name": f"py-listener-{os.getpid()}", "incarnation": time.time_ns() // 1000}
    c = ctx.conn(name=me["name"], incarnation=me["incarnation"]).handshake(hello={"listen": {"host": "127.0.0.1", "port": port}})
    check("3.1 admitted with a listen address", c.lookup("counter") is not None)
    print("WAITING", flush=True)  # the test now starts another node that joins the server
    server.settimeout(10)
    try:
        sock, _ = server.accept()
    except socket.timeout:
        check("8.7a the node that joined dials the advertised address", False, "nobody dialled")
        return
    check("8.7a the node that joined dials the advertised address", True)
    d = Conn(None, None, ctx.cluster, ctx.secret, name=me["name"], incarnation=me["incarnation"], sock=sock)
    d.accept_handshake(listen={"host": "127.0.0.1", "port": port})
    h = d.hello_received
    check("3.1 Telex's HELLO", h["protocol"] == "telex" and h["version"] == 1 and h["cluster"] == ctx.cluster
          and h["node"]["name"] == ctx.args["joiner"] and "json" in h["codecs"] and isinstance(h["nonce"], str)
          and len(base64.b64decode(h["nonce"])) == 32, json.dumps(h))
    expect("3.3/3.5 handshake as the server: Telex's READY previous", d.server_ready.get("previous"), None)
    addr = d.lookup("counter")
    check("8.4 lookup on the connection the joiner dialled", addr is not None and addr["node"]["name"] == ctx.args["joiner"], json.dumps(addr))
    print("CONNECTED", flush=True)
    time.sleep(0.5)
    d.close()
    c.close()


def scenario_admission(ctx):
    """Section 3.7: a simultaneous connect between the node and a client that advertises an
    address: the connection dialled by the node with the smaller name wins. Telex as the dialler
    refuses its losing connection with `duplicate` in place of its READY; with the smaller name,
    it refuses the client's connection with `duplicate` while its own is in the handshake."""
    for prefix, want in (("a", "duplicate"), ("zz", "admitted")):
        server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        listen = {"host": "127.0.0.1", "port": port}
        me = {"name": f"{prefix}-py-admit-{os.getpid()}", "incarnation": time.time_ns() // 1000}
        print(f"DIAL {me['name']} {port}", flush=True)  # the test now makes the node dial us
        server.settimeout(10)
        try:
            sock, _ = server.accept()
        except socket.timeout:
            check(f"3.7 {prefix}: the node dials", False, "nobody dialled")
            return
        d = Conn(None, None, ctx.cluster, ctx.secret, name=me["name"], incarnation=me["incarnation"], sock=sock)
        # while the node's dial waits for our CHALLENGE, we dial it
        ours = {}

        def dial():
            ours["c"] = ctx.conn(name=me["name"], incarnation=me["incarnation"])
            ours["c"].handshake(hello={"listen": listen})
        mine = refusal(dial)
        got = refusal(lambda: d.accept_handshake(listen=listen))
        c = ours["c"]
        if want == "duplicate":
            expect(f"3.7 {me['name']} < server: ours is admitted", mine, "admitted")
            expect(f"3.7 ...the node's connection loses, refused `duplicate` in place of the node's READY", got, "duplicate")
            check("3.7 ...and ours stays", not c.closed and c.lookup("counter") is not None, str(c.close_reason))
        else:
            expect(f"3.7 {me['name']} > server: ours is refused `duplicate` while the node's is in its handshake", mine, "duplicate")
            expect("3.7 ...the node's connection wins", got, "admitted")
            check("3.7 ...and it serves", d.lookup("counter") is not None, "")
        d.close()
        c.close()
        server.close()


def tls_session(ctx, cert_key=None, tls=True):
    """Section 1: one synchronous session over TLS (or plain TCP to a TLS node): the Found it got, or why not."""
    import ssl
    raw = socket.create_connection(("127.0.0.1", ctx.port), timeout=5)
    try:
        if tls:
            sc = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # verifies the server's chain...
            sc.check_hostname = False  # ...against the cluster CA, not its host name
            sc.load_verify_locations(ctx.args["ca"])
            if cert_key is not None:
                sc.load_cert_chain(*cert_key)
            sock = sc.wrap_socket(raw)
        else:
            sock = raw
        buf = bytearray()

        def read_frame():
            while True:
                if len(buf) >= 5:
                    length, ftype = struct.unpack(">IB", bytes(buf[:5]))
                    if len(buf) >= 4 + length:
                        body = bytes(buf[5:4 + length])
                        del buf[:4 + length]
                        if ftype != HEARTBEAT:
                            return ftype, body
                        continue
                chunk = sock.recv(65536)
                if not chunk:
                    raise Closed("end of stream")
                buf.extend(chunk)

        me = {"name": f"py-tls-{os.getpid()}", "incarnation": time.time_ns() // 1000}
        nonce = base64.b64encode(os.urandom(32)).decode()
        sock.sendall(frame(HELLO, encode_json({"protocol": "telex", "version": 1, "cluster": ctx.cluster, "node": me, "listen": None,
                                                "codecs": ["json"], "nonce": nonce})))
        t, body = read_frame()
        if t != CHALLENGE:
            return f"frame {t}"
        c = json.loads(body)
        if c["proof"] != proof(ctx.secret, "server", nonce, c["nonce"], c["node"], me):
            return "bad server proof"
        sock.sendall(frame(AUTH, encode_json({"proof": proof(ctx.secret, "client", c["nonce"], nonce, c["node"], me)})))
        t, body = read_frame()
        if t != READY:
            return f"frame {t}"
        sock.sendall(frame(READY, encode_json({"protocols": {}})) + frame(MESSAGE, encode_json([LOOKUP, 1, "counter"])))
        while True:
            t, body = read_frame()
            env = json.loads(body)
            if env[0] == FOUND:
                return env
    except (OSError, Closed) as e:
        return f"failed: {type(e).__name__}"
    finally:
        raw.close()


def scenario_tls(ctx):
    a = ctx.args
    found = tls_session(ctx, (a["clientCert"], a["clientKey"]))
    check("1 mutual TLS with a certificate of the cluster CA (server verified by CA, not host name)",
          isinstance(found, list) and found[2] is not None and found[2]["protocol"] == "Counter", str(found))
    got = tls_session(ctx, None)
    check("1 no client certificate: no Telex frame", isinstance(got, str) and got.startswith("failed"), str(got))
    got = tls_session(ctx, (a["otherCert"], a["otherKey"]))
    check("1 a certificate of another CA: no Telex frame", isinstance(got, str) and got.startswith("failed"), str(got))
    got = tls_session(ctx, None, tls=False)
    check("1 plain TCP to a TLS node: no Telex frame", isinstance(got, str) and got.startswith("failed"), str(got))


def scenario_registry(ctx):
    """Sections 8.9 and 3.7: a node's registry asks peers that advertise an address for their registry;
    a partitioned name is refused after AUTH."""
    spare = socket.socket()
    spare.bind(("127.0.0.1", 0))  # an address to advertise (nobody dials it here)
    listen = {"host": "127.0.0.1", "port": spare.getsockname()[1]}
    c = ctx.connect(hello={"listen": listen})
    deadline = time.monotonic() + 5
    while c.lookups_answered == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    check("8.9 a client with a listen address: the registry's Lookup, answered with null", c.lookups_answered >= 1, str(c.lookups_answered))
    check("8.9 the connection stays up after the null answer", c.lookup("counter") is not None and not c.closed)
    c.close()
    c = ctx.conn()
    c.answer_lookups = False
    c.handshake(hello={"listen": listen})
    reg = c.take(lambda e: e[0] == LOOKUP, 5)
    check("8.9 the registry's Lookup: [22, id, \"telex/registry\"]", reg is not None and reg[2] == "telex/registry" and len(reg) == 3,
          json.dumps(reg))
    check("8.9 unanswered, the connection works", c.lookup("counter") is not None and not c.closed)
    c.close()
    c = ctx.conn()
    c.answer_lookups = False
    c.handshake()
    check("8.9 a client without a listen address is not asked", c.take(lambda e: e[0] == LOOKUP, 1.5) is None)
    c.close()
    spare.close()
    k = ctx.conn(name=ctx.args["cut"])
    expect("3.6/3.7 a name under a simulated partition: refused after AUTH", refusal(lambda: k.handshake()), "partitioned")
    k.close()


def scenario_gap(ctx):
    """Section 3.5: READY previous in both directions; the node reports the envelopes we never received."""
    name = ctx.args["name"]
    c = ctx.connect(name=name, incarnation=1)
    for _ in range(3):
        c.lookup("counter")
    session = c.session
    c.close()
    time.sleep(0.2)
    # we claim to have received only 1 of the node's 3 envelopes on that connection
    c2 = ctx.connect(name=name, incarnation=2, ready={"protocols": {}, "previous": {"session": session, "received": 1}})
    expect("3.5 the node's previous: our session and the 3 envelopes it received", c2.server_ready.get("previous"),
           {"session": session, "received": 3})
    check("3.5 connected after sending previous", c2.lookup("counter") is not None)
    print(f"SESSION {session}", flush=True)
    c2.close()


def scenario_reliable(ctx):
    """Section 13: a consumer of a Telex producer's reliable channel, with a lost delivery."""
    c = ctx.connect(ready=lambda r: {"protocols": {"telex/ReliableConsumer": r["protocols"]["telex/ReliableConsumer"]}})
    me = c.my_address(1, "telex/ReliableConsumer")
    print("ADDR " + json.dumps(me), flush=True)  # the test starts a producer for this address
    total = ctx.args["messages"]
    window = 8
    state = {}  # channel -> {session, processed}
    received = []
    lost_once = resent = duplicates = acks = past_grant = 0
    monitors = 0
    deadline = time.monotonic() + 20
    while len(received) < total and time.monotonic() < deadline:
        e = c.take(lambda e: e[0] in (TELL, MONITOR), 1)
        if e is None:
            continue
        if e[0] == MONITOR:  # the producer watches its consumer: fine to leave unanswered while we live
            monitors += 1
            continue
        m = e[3]
        if e[1] != 1 or e[2] != "telex/ReliableConsumer" or m.get("_tag") not in ("Deliver", "DeliverBatch"):
            continue
        ch = state.get(m["channel"])
        if ch is None or m["session"] > ch["session"]:
            ch = state[m["channel"]] = {"session": m["session"], "processed": 0, "asked": None}
        elif m["session"] < ch["session"]:
            continue  # an older session is refused
        ch["processed"] = max(ch["processed"], m["floor"])
        items = [(m["seq"], m["payload"])] if m["_tag"] == "Deliver" else [(m["seq"] + i, p) for i, p in enumerate(m["payloads"])]
        last_seq = items[-1][0] if items else 0
        if ch.get("grant") is not None and last_seq > ch["grant"]:
            past_grant += 1
        for seq, payload in items:
            if seq == 3 and lost_once == 0:
                lost_once = 1  # as if this delivery were lost: what follows is a gap
                continue
            if seq <= ch["processed"]:
                duplicates += 1
            elif seq == ch["processed"] + 1:
                ch["processed"] = seq
                received.append(payload)
            elif ch["asked"] != ch["processed"] + 1:
                ch["asked"] = ch["processed"] + 1  # one Resend per hole
                resent += 1
                c.tell(m["replyTo"], {"_tag": "Resend", "channel": m["channel"], "session": m["session"], "from": ch["processed"] + 1})
        acks += 1
        ch["grant"] = max(ch.get("grant") or 0, ch["processed"] + window)
        c.tell(m["replyTo"], {"_tag": "Ack", "channel": m["channel"], "consumer": "py", "session": m["session"],
                              "processed": ch["processed"], "grant": ch["grant"], "rejected": []})
    expect("13 every message processed once, in order, after a lost delivery", received, list(range(1, total + 1)))
    check("13 a Resend was needed and sent", lost_once == 1 and resent >= 1, f"lost {lost_once}, resent {resent}")
    check("13 the producer sent nothing past the last grant", past_grant == 0 and acks > total // window, f"{past_grant} past, {acks} acks")
    print(f"INFO acks {acks}, duplicates {duplicates}, monitors {monitors}", flush=True)
    time.sleep(0.3)  # the last Ack reaches the producer
    c.close()


def scenario_producer(ctx):
    """Section 13: a producer feeding a Telex consumer: grants, a duplicate, a gap and its Resend, a rejected payload."""
    c = ctx.connect(ready=lambda r: {"protocols": {"telex/ReliableProducer": r["protocols"]["telex/ReliableProducer"]}})
    consumer = c.lookup("billing")
    me = c.my_address(2, "telex/ReliableProducer")
    total = ctx.args["messages"]
    channel, session = f"py-{os.getpid()}", time.time_ns() // 1000000
    payload = lambda seq: "not an int" if seq == 10 else seq  # noqa: E731  seq 10 fails the consumer's Schema
    state = {"grant": 4, "processed": 0, "floor": 0, "resend_from": None, "rejected": []}  # 4: our window before the first Ack

    def deliver(seq):
        c.tell(consumer, {"_tag": "Deliver", "channel": channel, "to": "billing", "session": session, "seq": seq,
                          "floor": state["floor"], "payload": payload(seq), "replyTo": me})

    def batch(first, last):
        c.tell(consumer, {"_tag": "DeliverBatch", "channel": channel, "to": "billing", "session": session, "seq": first,
                          "floor": state["floor"], "payloads": [payload(s) for s in range(first, last + 1)], "replyTo": me})

    def absorb(timeout):
        e = c.take(lambda e: e[0] == TELL and e[1] == 2, timeout)
        if e is None:
            return False
        m = e[3]
        if m.get("channel") != channel or m.get("session") != session:
            return True
        if m["_tag"] == "Ack":
            state["processed"] = max(state["processed"], m["processed"])
            state["grant"] = max(state["grant"], m["grant"])
            for r in m["rejected"]:
                if r not in state["rejected"]:
                    state["rejected"].append(r)
                state["floor"] = max(state["floor"], r["seq"])  # reported: the next deliveries carry it as the floor
        elif m["_tag"] == "Resend":
            state["resend_from"] = m["from"]
        return True

    sent = 0
    gap_done = dup_done = False
    deadline = time.monotonic() + 20
    while state["processed"] < total and time.monotonic() < deadline:
        while absorb(0):
            pass
        if state["resend_from"] is not None:
            sent = state["resend_from"] - 1
            state["resend_from"] = None
        if sent >= min(total, state["grant"]):
            absorb(0.5)
            if sent >= total and state["processed"] < total:
                sent = max(state["processed"], state["floor"])  # silence: resend from what is confirmed
            continue
        nxt = sent + 1
        if nxt == 7 and not gap_done:
            gap_done = True  # as if 7 were lost: 8 arrives first
            deliver(8)
            sent = 8
            continue
        if nxt >= 11:
            last = min(total, state["grant"], nxt + 4)
            batch(nxt, last)
            sent = last
            continue
        deliver(nxt)
        if nxt == 5 and not dup_done:
            dup_done = True
            deliver(5)  # a duplicate
        sent = nxt
    expect("13 the consumer processed every message", state["processed"], total)
    check("13 the gap was reported with Resend from 7", gap_done and state["resend_from"] is None, json.dumps(state))
    check("13 the payload its Schema refused: reported in Ack.rejected", [r["seq"] for r in state["rejected"]] == [10]
          and isinstance(state["rejected"][0].get("issue"), str), json.dumps(state["rejected"]))
    # a delivery of an older session is not processed: the consumer answers with an Ack of its own session
    while absorb(0.2):
        pass
    c.tell(consumer, {"_tag": "Deliver", "channel": channel, "to": "billing", "session": session - 5, "seq": 1,
                      "floor": 0, "payload": 999, "replyTo": me})
    ack = c.take(lambda e: e[0] == TELL and e[1] == 2 and e[3].get("_tag") == "Ack", 3)
    expect("13 an older session: refused with an Ack of the consumer's session", ack and ack[3],
           {"_tag": "Ack", "channel": channel, "consumer": "billing", "session": session, "processed": total, "grant": total, "rejected": []})
    # `to` names the consumer meant: one for another consumer is refused (not processed, no Ack); "" means any
    other = channel + "-to"
    c.tell(consumer, {"_tag": "Deliver", "channel": other, "to": "someone-else", "session": session, "seq": 1,
                      "floor": 0, "payload": 666, "replyTo": me})
    ack = c.take(lambda e: e[0] == TELL and e[1] == 2 and e[3].get("channel") == other, 0.5)
    check("13 a delivery addressed to another consumer: refused, no Ack", ack is None, json.dumps(ack))
    c.tell(consumer, {"_tag": "Deliver", "channel": other, "to": "", "session": session, "seq": 1,
                      "floor": 0, "payload": 777, "replyTo": me})
    ack = c.take(lambda e: e[0] == TELL and e[1] == 2 and e[3].get("channel") == other, 3)
    expect("13 `to` \"\": any consumer processes it", ack and [ack[3]["processed"], ack[3]["consumer"]], [1, "billing"])
    c.close()


def scenario_sharding_errors(ctx):
    """Section 14.2: the ShardingError reasons a region's Ask answers with, as Runtime (reply kind 0)."""
    a = ctx.args
    c = ctx.connect()
    region = c.lookup(f"telex/sharding/{a['type']}")
    kind, rep = c.ask(region, {"_tag": "Ask", "key": "k-1", "message": {"_tag": "Get"}, "timeoutMillis": 3000})
    err = rep.get("error") if isinstance(rep, dict) else None
    check("14.2 an entity that cannot start: Runtime ShardingError ActivationFailed {_tag, reason, entityType, key, message}",
          kind == 0 and rep.get("_tag") == "Runtime" and isinstance(err, dict) and err.get("_tag") == "ShardingError"
          and err.get("reason") == "ActivationFailed" and err.get("entityType") == a["type"] and err.get("key") == "k-1"
          and isinstance(err.get("message"), str), json.dumps([kind, rep]))
    c.close()


def scenario_sharding_move(ctx):
    """Section 14.2: shards move to a node that joins; the old owner answers NotOwner naming the new one."""
    a = ctx.args
    shards = a["shards"]
    conns = {"a": ctx.connect(), "b": Conn("127.0.0.1", a["ports"]["b"], ctx.cluster, ctx.secret).handshake()}
    regions = {n: conns[n].lookup(f"telex/sharding/{a['type']}") for n in conns}
    keys = [f"move-{i}" for i in range(120)]
    home = {}
    for key in keys:
        shard = shard_of(key, shards)
        home[key] = "a" if shard in a["ownedA"] else "b"
        kind, rep = conns[home[key]].ask(regions[home[key]], {"_tag": "Ask", "key": key, "message": {"_tag": "Add", "by": 0}, "timeoutMillis": 3000})
    print("JOIN", flush=True)  # the test starts node c and waits until the shards are placed again
    moved = json.loads(sys.stdin.readline())  # {"c": port, "ownedC": [...], "idC": "c#inc"}
    conns["c"] = Conn("127.0.0.1", moved["c"], ctx.cluster, ctx.secret).handshake()
    regions["c"] = conns["c"].lookup(f"telex/sharding/{a['type']}")
    to_c = [k for k in keys if shard_of(k, shards) in moved["ownedC"]]
    answers = {"hint": 0, "null": 0, "other": []}
    for key in to_c:
        old = home[key]
        kind, rep = conns[old].ask(regions[old], {"_tag": "Ask", "key": key, "message": {"_tag": "Key"}, "timeoutMillis": 3000})
        if kind == 0 and rep == {"_tag": "NotOwner", "owner": moved["idC"]}:
            answers["hint"] += 1
        elif kind == 0 and rep == {"_tag": "NotOwner", "owner": None}:
            answers["null"] += 1
        else:
            answers["other"].append([key, kind, rep])
        kind, rep = conns["c"].ask(regions["c"], {"_tag": "Ask", "key": key, "message": {"_tag": "Key"}, "timeoutMillis": 3000})
        if not (kind == 0 and rep.get("_tag") == "Ok" and rep.get("value") == key):
            answers["other"].append([key, "at c", kind, rep])
    check("14.2 keys moved to the new node: the old owner answers NotOwner (naming it, or null), the new one Ok",
          len(to_c) > 0 and not answers["other"] and answers["hint"] + answers["null"] == len(to_c), json.dumps(answers)[:500])
    print(f"INFO {len(to_c)} keys moved: {answers['hint']} NotOwner naming c, {answers['null']} NotOwner null", flush=True)
    # the old owner learns the new holder at its next lease read (every renewInterval: 150 ms here)
    deadline = time.monotonic() + 8
    pending = list(to_c)
    later = []
    while pending and time.monotonic() < deadline:
        time.sleep(0.3)
        later = []
        for key in pending:
            kind, rep = conns[home[key]].ask(regions[home[key]], {"_tag": "Ask", "key": key, "message": {"_tag": "Key"}, "timeoutMillis": 3000})
            if not (kind == 0 and rep == {"_tag": "NotOwner", "owner": moved["idC"]}):
                later.append([key, kind, rep])
        pending = [k for k, *_ in later]
    check("14.2 a lease read later, NotOwner names the new holder", not later, json.dumps(later)[:500])
    for k in conns.values():
        k.close()


# ---------------------------------------------------------------------------------------------
# section 10 as a model: what the node does with any frame after the handshake, and a fuzzer
# that checks the node against it
# ---------------------------------------------------------------------------------------------

def is_num(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def is_obj(v):
    """a JavaScript object that is not null (JSON arrays are objects there too)"""
    return isinstance(v, (dict, list))


def is_address(v):
    """7.1"""
    return (isinstance(v, dict) and is_num(v.get("id")) and isinstance(v.get("protocol"), str)
            and is_obj(v.get("node")) and isinstance(v["node"], dict) and isinstance(v["node"].get("name"), str)
            and is_num(v["node"].get("incarnation")))


def is_reason(v):
    """7.2 (fields a reason does not declare are ignored; an optional field is absent or a string, never null)"""
    if not isinstance(v, dict):
        return False
    tag = v.get("_tag")
    if tag in ("Normal", "Killed", "NoProc"):
        return True
    if tag == "Shutdown":
        return "detail" not in v or isinstance(v["detail"], str)
    if tag == "Error":
        return isinstance(v.get("message"), str)
    if tag == "NoConnection":
        return "node" not in v or isinstance(v["node"], str)
    return False


def js_value(v, codec="json"):
    """A value as the node sends it back: a double (no Infinity in JSON), which JSON.stringify writes
    with the fewest digits that read back as it (a large integer: its digits then zeros) and
    MessagePack as the double itself."""
    if isinstance(v, bool) or v is None or isinstance(v, str):
        return v
    if isinstance(v, (int, float)):
        if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
            return None if codec == "json" else v
        if abs(v) <= 2**53 or (isinstance(v, float) and not v.is_integer()):
            return v
        d = float(v)
        if codec != "json" or abs(d) >= 1e21:
            return d
        import decimal
        return int(decimal.Decimal(repr(d)))  # Python's repr is the shortest round trip, as JavaScript's
    if isinstance(v, list):
        return [js_value(x, codec) for x in v]
    return {k: js_value(x, codec) for k, x in v.items()}


def js_string(v):
    """JavaScript's String(v) for the numbers and strings an error text quotes"""
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e21:
        return str(int(v))
    return str(v)


def js_stringify(v):
    """JSON.stringify(v): no spaces, non-ASCII as it is, a lone surrogate escaped"""
    text = json.dumps(js_value(v), separators=(",", ":"), ensure_ascii=False)
    return "".join(f"\\u{ord(ch):04x}" if 0xD800 <= ord(ch) <= 0xDFFF else ch for ch in text)


def strict_json(body):
    """JSON.parse(new TextDecoder("utf-8", {fatal: true}).decode(body)), or ValueError."""
    text = body.decode("utf-8")  # strict: invalid UTF-8 raises
    if text.startswith("\ufeff"):
        text = text[1:]  # TextDecoder drops a byte order mark

    def no_constants(name):
        raise ValueError(f"{name} is not JSON")
    return json.loads(text, parse_constant=no_constants)


class Model:
    """
    The receiving node after the handshake, as sections 2, 4.3, 8 and 10 describe it, for a peer
    `me` (the client) connected to `server`. `actors`: ids of live actors and their protocols;
    `names`: registered names and their addresses. feed() returns "close" or the answers due.
    """

    def __init__(self, me, server, actors, names, spawnable=(), codec="json"):
        self.codec = codec
        self.me = me
        self.server = server
        self.actors = actors
        self.names = names
        self.spawnable = spawnable
        self.assembly = None  # (id, total, filled)
        self.closed = None

    def js(self, v):
        """a value the node echoes, as it arrives here"""
        return js_value(v, self.codec)

    def copy(self):
        m = Model(self.me, self.server, self.actors, self.names, self.spawnable, self.codec)
        m.assembly = self.assembly
        m.closed = self.closed
        return m

    def close(self, why):
        self.closed = why
        return "close"

    def feed(self, ftype, body):
        if self.closed:
            return "close"
        if ftype == HEARTBEAT:
            return []
        if ftype == MESSAGE:
            return self.message(body)
        if ftype == FRAGMENT:
            if len(body) < 12:
                return self.close("fragment shorter than its header")
            fid, total, offset = struct.unpack(">III", body[:12])
            n = len(body) - 12
            if offset == 0:
                if total > 64 * 1024 * 1024:
                    return self.close("total past 64 MiB")
                if self.assembly is not None:
                    return self.close("a new fragmented message before the previous one ended")
                self.assembly = (fid, total, 0, b"")
            a = self.assembly
            if a is None or a[0] != fid or a[1] != total or a[2] != offset or offset + n > total:
                return self.close("fragment out of sequence")
            data = a[3] + body[12:]
            if len(data) == total:
                self.assembly = None
                return self.message(data)
            self.assembly = (fid, total, len(data), data)
            return []
        return self.close(f"frame type {ftype} after the handshake")

    def message(self, body):
        try:
            env = mp_decode(body) if self.codec == "msgpack" else strict_json(body)
        except (ValueError, RecursionError, UnicodeDecodeError):
            return self.close("undecodable")
        return self.envelope(env)

    def envelope(self, e):
        if not isinstance(e, list) or len(e) == 0 or not is_num(e[0]):
            return self.close("not an array with a kind")
        at = lambda i: e[i] if i < len(e) else None  # noqa: E731  (a missing field is `undefined`: no type check passes)
        has = lambda i: i < len(e)  # noqa: E731
        kind = e[0]
        node = self.server
        if kind == TELL:
            if not (is_num(at(1)) and isinstance(at(2), str)):
                return self.close("malformed tell")
            return []
        if kind == ASK:
            if not (is_num(at(1)) and isinstance(at(2), str) and is_num(at(4))):
                return self.close("malformed ask")
            to, protocol = at(1), at(2)
            if to not in self.actors:
                return [[REPLY, self.js(at(4)), 2, {"_tag": "NoProc", "actor": f"{protocol}@{node_key(node)}/{js_string(js_value(to))}"}]]
            return [("reply", self.js(at(4)))]
        if kind == REPLY:
            return [] if is_num(at(1)) and is_num(at(2)) else self.close("malformed reply")
        if kind in (LINK, UNLINK, EXIT):
            if not (is_address(at(1)) and is_num(at(2))):
                return self.close("malformed link signal")
            frm, to = at(1), at(2)
            if frm["node"]["name"] != self.me["name"]:
                return self.close("link signal from another node")
            if to in self.actors:
                raise ValueError("the fuzzer does not link or exit the node's actors")
            if kind == LINK and frm["node"]["incarnation"] == self.me["incarnation"]:
                return [[EXIT, {"node": node, "id": self.js(to), "protocol": frm["protocol"]}, self.js(frm["id"]), {"_tag": "NoProc"}, False]]
            return []
        if kind == MONITOR:
            if not (is_address(at(1)) and is_num(at(2)) and is_num(at(3))):
                return self.close("malformed monitor")
            if at(1)["node"]["name"] != self.me["name"]:
                return self.close("monitor from another node")
            if at(2) in self.actors:
                raise ValueError("the fuzzer does not monitor the node's actors")
            return [[DOWN, self.js(at(3)), {"node": node, "id": self.js(at(2)), "protocol": "unknown"}, {"_tag": "NoProc"}]]
        if kind in (DEMONITOR, DOWN, SPAWNED, FOUND):
            return []  # no monitors, requests or watches of the node's on this connection
        if kind == STOP:
            if not (is_num(at(1)) and is_reason(at(2))):
                return self.close("malformed stop")
            if at(1) in self.actors:
                raise ValueError("the fuzzer does not stop the node's actors")
            return []
        if kind == SPAWN:
            module = at(2)
            if isinstance(module, str) and module in self.spawnable:
                raise ValueError("the fuzzer does not spawn")
            quoted = "undefined" if not has(2) else js_stringify(module)
            return [[SPAWNED, self.js(at(1)), None, f"module {quoted} is not spawnable on {node['name']}"]]
        if kind == LOOKUP:
            name = at(2)
            return [[FOUND, self.js(at(1)), self.names.get(name) if isinstance(name, str) else None]]
        if kind == PROTOCOLS:
            return [] if isinstance(at(1), dict) else self.close("malformed protocol table")
        if kind == MEMBERS:
            return [] if isinstance(at(1), list) else self.close("malformed member list")
        if kind in (HOLD, RELEASE):
            return [] if is_num(at(1)) else self.close("malformed hold/release")
        return []  # an unknown kind: ignored


class Fuzz:
    """Random envelopes and frames, the values a buggy or hostile client might send."""

    def __init__(self, rnd, me, server, existing, codec="json"):
        self.codec = codec
        self.r = rnd
        self.me = me
        self.server = server
        self.existing = existing  # an actor id that exists, for tells and asks: (id, protocol)

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]

    def missing_id(self):
        return self.pick([10**6 + self.r.randrange(10**6), -3, 0.5, 2**53 + 1, 1e21, 0])

    def anything(self, depth=0):
        choices = [None, True, False, 0, -1, 7, 0.25, 2**40, 2**53 + 1, 1e300, "", "x", "\u00e9\u65e5", "\ud800", "0",
                   {"_tag": "Normal"}, {"_tag": "Shutdown", "detail": None}, {"_tag": "Error"}, {}, []]
        if depth < 2 and self.r.random() < 0.2:
            return [self.anything(depth + 1) for _ in range(self.r.randrange(3))]
        if depth < 2 and self.r.random() < 0.1:
            return {self.pick(["_tag", "id", "node", "x"]): self.anything(depth + 1)}
        return self.pick(choices)

    def address(self):
        mine = {"node": dict(self.me), "id": self.pick([1, 2, 0.5, 2**40]), "protocol": self.pick(["Py", "Counter", ""])}
        r = self.r.random()
        if r < 0.6:
            return mine
        if r < 0.7:
            mine["node"]["incarnation"] = self.me["incarnation"] - 1  # another incarnation of us
            return mine
        if r < 0.8:
            return {"node": {"name": "someone-else", "incarnation": 1}, "id": 1, "protocol": "Py"}
        if r < 0.9:
            broken = dict(mine)
            del broken[self.pick(["id", "protocol", "node"])]
            return broken
        return self.anything()

    def reason(self):
        good = [{"_tag": "Normal"}, {"_tag": "Shutdown"}, {"_tag": "Shutdown", "detail": "d"}, {"_tag": "Killed"},
                {"_tag": "Error", "message": "m"}, {"_tag": "NoProc"}, {"_tag": "NoConnection"}, {"_tag": "NoConnection", "node": "n"},
                {"_tag": "Normal", "extra": 1}]
        bad = [{"_tag": "Shutdown", "detail": None}, {"_tag": "Error"}, {"_tag": "Sleepy"}, "Normal", None, [], {"_tag": "NoConnection", "node": 5}]
        return self.pick(good) if self.r.random() < 0.6 else self.pick(bad)

    def field(self, good):
        return good() if self.r.random() < 0.75 else self.anything()

    def envelope(self):
        f, r = self.field, self.r
        kind = self.pick([TELL, ASK, REPLY, LINK, UNLINK, EXIT, MONITOR, DEMONITOR, DOWN, STOP, SPAWN, SPAWNED, LOOKUP, FOUND,
                          PROTOCOLS, MEMBERS, HOLD, RELEASE, 99, 0.5, -1, "0", None])
        existing_id, existing_protocol = self.existing
        to = lambda: self.missing_id()  # noqa: E731
        msg_to = lambda: existing_id if r.random() < 0.3 else self.missing_id()  # noqa: E731
        ask_id = lambda: self.pick([r.randrange(1, 2**31), 0.5, -7, 2**52])  # noqa: E731
        fields = {
            TELL: [lambda: msg_to(), lambda: self.pick([existing_protocol, "Other"]), lambda: {"_tag": self.pick(["Get", "Increment", "Nope"])}],
            ASK: [lambda: msg_to(), lambda: self.pick([existing_protocol, "Other"]),
                  lambda: {"_tag": self.pick(["Get", "Increment", "Nope", "constructor"]), "by": self.pick([1, "x"])},
                  ask_id, lambda: self.pick([None, self.address()]), lambda: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"],
            REPLY: [ask_id, lambda: self.pick([0, 1, 2, 3]), lambda: self.anything()],
            LINK: [self.address, to], UNLINK: [self.address, to],
            EXIT: [self.address, to, self.reason, lambda: self.pick([True, False]), lambda: self.pick([True, False])],
            MONITOR: [self.address, to, ask_id], DEMONITOR: [to, ask_id], DOWN: [ask_id, self.address, self.reason],
            STOP: [to, self.reason],
            SPAWN: [lambda: self.anything(), lambda: self.pick(["Nope", "Echo", 5, None, "\u00e9\"q"]), lambda: self.pick([None, "n"])],
            SPAWNED: [lambda: self.anything(), lambda: self.address(), lambda: None],
            LOOKUP: [lambda: self.anything(), lambda: self.pick(["counter", "nobody", 5, None, ""])],
            FOUND: [lambda: self.anything(), lambda: self.address()],
            PROTOCOLS: [lambda: self.pick([{"Fuzz": "0000000000000000"}, {"Fuzz": 1}, {}])],
            # never a well-formed member: the node would dial it
            MEMBERS: [lambda: self.pick([[], [{"name": "x", "host": "127.0.0.1", "port": 0}], [1, "x"]])],
            HOLD: [to, lambda: self.pick(["backpressure", "fail", "whatever"]), lambda: self.pick([4, "x"])],
            RELEASE: [to, lambda: self.pick([3, -1, "x"])],
        }.get(kind, [lambda: self.anything()])
        e = [kind] + [f(g) for g in fields]
        if r.random() < 0.15:
            e = e[:r.randrange(1, len(e) + 1)]  # fields missing
        elif r.random() < 0.1:
            e.append(self.anything())  # a field from a newer version
        return e if r.random() > 0.03 else self.anything()

    def mutate(self, body):
        b = bytearray(body)
        for _ in range(self.r.randrange(1, 4)):
            op = self.r.random()
            i = self.r.randrange(len(b) + 1)
            if op < 0.4 and len(b) > 0:
                b[min(i, len(b) - 1)] = self.r.randrange(256)
            elif op < 0.7:
                b[i:i] = bytes([self.pick([0x5b, 0x5d, 0x2c, 0x22, 0x7b, 0x7d, 0x30, 0x20, 0xc3, 0xff])])
            elif len(b) > 0:
                del b[min(i, len(b) - 1)]
        return bytes(b)

    def encode(self, envelope):
        if self.codec != "msgpack":
            return encode_json(envelope)
        try:
            return mp_encode(envelope)
        except UnicodeEncodeError:  # a lone surrogate has no UTF-8 form (MessagePack strings are UTF-8)
            return mp_encode([LOOKUP, "surrogate", "counter"])

    def case(self, model):
        """A list of frames: one envelope (maybe mangled), a fragmented one, or a frame of any type."""
        r = self.r.random()
        if r < 0.6 or (r < 0.75 and self.codec == "msgpack"):  # (msgpackr decodes mangled MessagePack by its own rules, 5)
            return [(MESSAGE, self.encode(self.envelope()))]
        if r < 0.75:
            return [(MESSAGE, self.mutate(encode_json(self.envelope())))]
        if r < 0.9:
            encoded = self.encode(self.envelope())
            fid = self.r.randrange(2**32)
            frames = []
            offset = 0
            while offset < len(encoded):
                n = self.r.randrange(1, max(2, len(encoded) // 2))
                frames.append((FRAGMENT, struct.pack(">III", fid, len(encoded), offset) + encoded[offset:offset + n]))
                offset += n
            if self.r.random() < 0.3:
                frames = frames[:-1]  # left incomplete: the connection goes on
            if self.r.random() < 0.3 and frames:
                i = self.r.randrange(len(frames))
                fields = list(struct.unpack(">III", frames[i][1][:12]))
                fields[self.r.randrange(3)] = self.pick([0, 1, 2**32 - 1, fields[1] + 1, 64 * 1024 * 1024 + 1])
                frames[i] = (FRAGMENT, struct.pack(">III", *fields) + frames[i][1][12:])
            if self.r.random() < 0.3 and len(frames) > 1:
                frames.insert(1, (MESSAGE, self.encode([LOOKUP, "between", "counter"])))
            if self.r.random() < 0.2:
                frames.insert(self.r.randrange(len(frames) + 1), (HEARTBEAT, b""))
            return frames
        ftype = self.pick([0, 6, 7, 15, 17, 31, 34, 255, HELLO, READY, REFUSE, HEARTBEAT, FRAGMENT])
        body = self.pick([b"", b"{}", b"\x00" * 11, b"[22,1,\"x\"]"])
        return [(ftype, body)]


def answers_match(got, want):
    """got: received envelopes; want: exact envelopes and ("reply", askId) for a Reply of any kind"""
    rest = list(got)
    for w in want:
        for i, g in enumerate(rest):
            if (isinstance(w, tuple) and g[0] == REPLY and g[1] == w[1]) or g == w:
                del rest[i]
                break
        else:
            return False
    return not rest


def scenario_fuzz(ctx):
    """Section 10 (and 2, 4.3, 8): random and mangled frames and envelopes get exactly the documented
    outcome, never stop the node, and never disturb another connection."""
    import random
    seed = ctx.args.get("seed", random.randrange(2**32))
    cases = ctx.args.get("cases", 300)
    codec = ctx.args.get("codec", "json")
    print(f"INFO fuzz seed {seed}, {codec} (run again with --args '{{\"seed\": {seed}, \"codec\": \"{codec}\"}}')", flush=True)
    rnd = random.Random(seed)
    witness = ctx.connect()
    counter = witness.lookup("counter")
    names = {n: witness.lookup(n) for n in ("counter", "echo", "hang", "crasher", "relay")}
    # and the node's own actors (its supervisors and services), spawned before the test's: ids
    # are given in order from 1
    named = {a["id"] for a in names.values()}
    actors = named | set(range(1, min(named)))

    def fresh():
        c = ctx.connect(codecs=(codec,))
        c.answer_lookups = False
        return c, Model(c.me, c.server, actors, names, ("Counter",), codec)

    shared, model = fresh()
    fuzz = Fuzz(rnd, shared.me, shared.server, (counter["id"], "Counter"), codec)
    bad = []
    counts = {"close": 0, "up": 0}
    for n in range(cases):
        state = rnd.getstate()
        fuzz.me = shared.me
        frames = fuzz.case(model)
        c, m = shared, model.copy()
        try:
            outcome = [m.feed(t, b) for t, b in frames]
            if "close" in outcome:
                # on a connection of its own, the same case with that connection's node id
                c, m = fresh()
                rnd.setstate(state)
                fuzz.me = c.me
                frames = fuzz.case(m)
                outcome = [m.feed(t, b) for t, b in frames]
        except ValueError:
            if c is not shared:
                c.close()
            continue  # a case the fuzzer must not send (it would touch the node's own actors)
        closing = "close" in outcome
        want = [a for o in outcome if o != "close" for a in o]
        data = b"".join(frame(t, b) for t, b in frames)
        try:
            if rnd.random() < 0.2:  # in pieces cut anywhere, headers too (2: frames split across reads)
                cuts = sorted(rnd.randrange(len(data) + 1) for _ in range(rnd.randrange(1, 5)))
                with c.lock:  # no heartbeat from our other thread between the pieces
                    for a, b in zip([0] + cuts, cuts + [len(data)]):
                        c.sock.sendall(data[a:b])
                        time.sleep(0.001)
            else:
                c.raw(data)
            c.send([LOOKUP, f"probe-{n}", "counter"])  # in the connection's codec
        except OSError:
            pass
        found = c.take(lambda e: e[0] == FOUND and e[1] == f"probe-{n}", 3)
        desc = f"case {n} ({c.me['name']}): {[(t, b[:160]) for t, b in frames]!r}"
        if closing:
            counts["close"] += 1
            if found is not None or not c.wait_closed(3):
                bad.append(f"{desc}: want closed at frame {outcome.index('close')} ({m.closed}), got up")
        else:
            counts["up"] += 1
            if found is None or c.closed:
                bad.append(f"{desc}: want up, got closed ({c.close_reason})")
            else:
                # answers to asks to a live actor come once it has handled them; the others came before the probe's
                deadline = time.monotonic() + 2
                due = sum(1 for w in want if isinstance(w, tuple) or w[0] == REPLY)
                while time.monotonic() < deadline and sum(1 for e in c.envelopes if e[0] == REPLY) < due:
                    time.sleep(0.005)
                with c.cond:
                    got = [e for e in c.envelopes if e[0] != MEMBERS]
                    c.envelopes.clear()
                if not answers_match(got, want):
                    bad.append(f"{desc}: answers {json.dumps(got)[:400]}, want {json.dumps(want)[:400]}")
        if c is shared and (closing or c.closed):
            shared, model = fresh()
        elif c is shared:
            model = m
        else:
            c.close()
        if n % 25 == 0:
            kind, value = witness.ask(counter, {"_tag": "Get"}, timeout=3)
            if kind != 0 or witness.closed:
                bad.append(f"case {n}: the witness connection got {kind} {value} ({witness.close_reason})")
    for b in bad[:12]:
        check("10 fuzz case", False, b)
    check(f"10 fuzz: {counts['close']} cases closed the connection, {counts['up']} kept it, each as documented",
          not bad and counts["close"] > cases // 10 and counts["up"] > cases // 3, f"{len(bad)} cases not as documented (seed {seed})")
    check("10 fuzz: another connection kept working throughout", not witness.closed and witness.ask(counter, {"_tag": "Get"})[0] == 0)
    shared.close()
    witness.close()

def scenario_worked(ctx):
    """Section 11 against a real node `b` (cluster demo, secret s3cret, the counter registered first):
    every frame of the worked session, byte for byte, but for what is new at each run (the server's
    incarnation, port, nonce and proof)."""
    cn = "Y2xpZW50LW5vbmNlLWNsaWVudC1ub25jZS1jbGllbnQ="
    c = ctx.conn(name="py", incarnation=1)
    sent = []  # the frames as the client wrote them
    c.raw = (lambda raw: lambda data: (sent.append(data), raw(data)))(c.raw)
    c.hello(nonce=cn)
    expect("11 HELLO, byte for byte", sent[0].hex(), "000000ae01" + (
        '{"protocol":"telex","version":1,"cluster":"demo","node":{"name":"py","incarnation":1},'
        '"listen":null,"codecs":["json"],"nonce":"Y2xpZW50LW5vbmNlLWNsaWVudC1ub25jZS1jbGllbnQ="}').encode().hex())
    t, body = c._frame()
    ch = json.loads(body)
    inc, port, sn = ch["node"]["incarnation"], ch["listen"]["port"], ch["nonce"]
    sp = proof("s3cret", "server", cn, sn, ch["node"], c.me)
    want = (f'{{"node":{{"name":"b","incarnation":{inc}}},"listen":{{"host":"127.0.0.1","port":{port}}},'
            f'"codec":"json","nonce":"{sn}","proof":"{sp}"}}').encode()
    expect("11 CHALLENGE, byte for byte (the server's proof as computed here)", [t, body.decode()], [CHALLENGE, want.decode()])
    # the worked example's header 00 00 00 dd holds for a 16-digit incarnation and a 5-digit port
    check("11 CHALLENGE header", len(str(inc)) != 16 or len(str(port)) != 5 or len(body) + 1 == 0xdd, f"{len(body) + 1}")
    c.send_frame(AUTH, encode_json({"proof": proof("s3cret", "client", sn, cn, ch["node"], c.me)}))
    t, body = c._frame()
    ready = json.loads(body)
    check("11 READY: the server's protocols and previous null", t == READY and ready.get("previous") is None, body.decode()[:300])
    # the fingerprints of the example: protocols as the running code describes them (section 8.8)
    example = {"telex/ReliableConsumer": "4b0099b641db9d80", "telex/ReliableProducer": "6bd9af5457d72289",
               "telex/ShardRegion": "be2c080bd16a7826", "telex/ShardingNode": "e51403f7101c39f5",
               "telex/Registry": "07698b92775e8174", "Counter": "2fec9bc119b83da4"}
    expect("11 READY: the example's fingerprints (a process with more modules lists more)",
           {k: ready["protocols"].get(k) for k in example}, example)
    expect("11 READY header for the example's table", frame(READY, encode_json({"protocols": example, "previous": None}))[:5].hex(), "0000010804")
    check("11 READY: local protocols (supervisors, links) are not advertised",
          "telex/Supervisor" not in ready["protocols"] and "telex/Link" not in ready["protocols"], body.decode()[:300])
    c.server, c.codec, c.established = ch["node"], "json", True
    c.send_frame(READY, encode_json({"protocols": {}}))
    expect("11 client READY, byte for byte", sent[-1].hex(), "0000001104" + b'{"protocols":{}}'.hex())
    received = []  # the MESSAGE bodies as the server wrote them
    deliver = c._deliver
    c._deliver = lambda b: (received.append(bytes(b)), deliver(b))
    session = [
        ("0000001120", b'[22,1,"counter"]',
         f'[23,1,{{"node":{{"name":"b","incarnation":{inc}}},"id":4,"protocol":"Counter"}}]'),
        ("0000002c20", b'[0,4,"Counter",{"_tag":"Increment","by":5}]', None),
        ("0000002e20", b'[0,4,"Counter",{"_tag":"Increment","by":"x"}]', None),
        ("0000002620", b'[1,4,"Counter",{"_tag":"Get"},1,null]', "[2,1,0,5]"),
        ("0000003520", b'[1,4,"Counter",{"_tag":"Increment","by":"x"},2,null]',
         f'[2,2,2,{{"_tag":"InvalidMessage","actor":"Counter@b#{inc}/4","protocol":"Counter","issue":"Expected number\\n  at [\\"by\\"]"}}]'),
        ("0000002720", b'[1,42,"Counter",{"_tag":"Get"},3,null]', f'[2,3,2,{{"_tag":"NoProc","actor":"Counter@b#{inc}/42"}}]'),
    ]
    for header, out, back in session:
        c.raw(frame(MESSAGE, out))
        expect(f"11 {out.decode()[:40]}: byte for byte", sent[-1][:5].hex(), header)
        if back is None:
            continue
        deadline = time.monotonic() + 5
        while not received and time.monotonic() < deadline:
            time.sleep(0.005)
        got = received.pop(0).decode() if received else None
        expect(f"11 the answer to {out.decode()[:40]}, byte for byte", got, back)
    expect("11 the answer headers", [frame(MESSAGE, (b or "").encode())[:5].hex() for _, _, b in session if b],
           ["0000005820", "0000000a20", "0000008720", "0000004220"] if len(str(inc)) == 16 else None)
    c.close()


def scenario_credit(ctx):
    """Section 4.4 from the sender's side: a Release's credit, the Hold when it is used up, the
    Release without credit when the actor caught up, and the hold slack of a peer ignoring Hold."""
    c = ctx.connect()
    slow = c.lookup("slow")
    cap = ctx.args["capacity"]
    tell = [TELL, slow["id"], "Counter", {"_tag": "Increment", "by": 1}]
    flow = lambda t: c.take(lambda e: e[0] in (HOLD, RELEASE) and e[1] == slow["id"], t)  # noqa: E731
    c.send_together([tell] * (cap + 2))
    expect("4.4 a full mailbox: Hold", flow(2), [HOLD, slow["id"], "backpressure", cap])
    release = flow(5)
    check("4.4 drained to half: Release with a credit of the room left (a positive integer, at least half the capacity)",
          release is not None and len(release) == 3 and isinstance(release[2], int) and cap // 2 <= release[2] <= cap, json.dumps(release))
    credit = release[2]
    # the credit used up at once: the mailbox is full again, so the node holds us again with a Hold
    c.send_together([tell] * credit)
    expect("4.4 the credit used up on a full mailbox: Hold again", flow(2), [HOLD, slow["id"], "backpressure", cap])
    release = flow(5)
    check("4.4 ...and a Release with a credit", release is not None and len(release) == 3, json.dumps(release))
    # the credit used up by asks each answered before the next: the actor keeps up, so the node
    # sends a Release without a credit (back to plain sending) rather than a Hold
    for _ in range(release[2]):
        c.ask(slow, tell[3])
    expect("4.4 the credit used up while the actor keeps up: Release without a credit", flow(2), [RELEASE, slow["id"]])
    check("4.4 no Hold or Release more", flow(0.3) is None)
    # a peer that ignores Hold: what it sends past the capacity is accepted within the hold slack
    # (bytes), then each ask is answered MailboxFull (and each tell is a dead letter)
    base = c.next_id
    c.send_together([[ASK, slow["id"], "Counter", {"_tag": "Get"}, base + i, None] for i in range(40)])
    c.next_id += 40
    replies = [c.take(lambda e: e[0] == REPLY and e[1] == base + i, 10) for i in range(40)]
    full = [r for r in replies if r is not None and r[2] == 2 and r[3].get("_tag") == "MailboxFull" and r[3].get("capacity") == cap]
    ok = [r for r in replies if r is not None and r[2] == 0]
    check("4.4 past the hold slack: MailboxFull; within it: handled; every ask answered once",
          len(full) + len(ok) == 40 and len(full) > 0 and len(ok) > cap, f"{len(ok)} handled, {len(full)} MailboxFull, {replies[-1]}")
    c.close()


def scenario_hosting(ctx):
    """Sections 8.5 and 9 for a client that hosts actors: the node monitors and links to them, the
    client answers with Down and Exit, and a restart of the client (a new incarnation) fires them."""
    name = f"py-host-{os.getpid()}"
    inc = time.time_ns() // 1000
    c = ctx.connect(name=name, incarnation=inc)
    watcher = c.lookup("watcher")
    signals = lambda k: k.ask(watcher, {"_tag": "Signals"})[1]  # noqa: E731
    mine = lambda k, aid: k.my_address(aid, "Py/Thing")  # noqa: E731
    kind, mid = c.ask(watcher, {"_tag": "Monitor", "other": mine(c, 5)})
    mon = c.take(lambda e: e[0] == MONITOR, 2)
    check("8.5 the node monitors our actor: [13, watcher, to, monitorId]", mon is not None and mon[1] == watcher and mon[2] == 5
          and is_num(mon[3]), json.dumps(mon))
    c.send([DOWN, mon[3], mine(c, 5), {"_tag": "Error", "message": "py crash"}])
    expect("8.5 our Down reaches the watcher with its reason", signals(c), ['Down {"_tag":"Error","message":"py crash"}'])
    c.send([DOWN, mon[3], mine(c, 5), {"_tag": "Normal"}])
    expect("8.5 a second Down for the same monitor id: ignored", signals(c), [])
    c.ask(watcher, {"_tag": "Monitor", "other": mine(c, 6)})
    mon = c.take(lambda e: e[0] == MONITOR, 2)
    c.send([DOWN, mon[3], mine(c, 6), {"_tag": "Shutdown", "detail": None}])
    check("10 a Down with an undecodable reason for a monitor that exists closes the connection", c.wait_closed(3))
    c.close()
    expect("8.5 ...and the watcher is told NoConnection", signals(ctx.connect()), [f'Down {{"_tag":"NoConnection","node":"{name}"}}'])

    c = ctx.connect(name=name, incarnation=inc)
    c.ask(watcher, {"_tag": "Link", "other": mine(c, 7)})
    link = c.take(lambda e: e[0] == LINK, 2)
    expect("8.5 the node links to our actor: [10, from, to]", link, [LINK, watcher, 7])
    c.send([EXIT, mine(c, 7), watcher["id"], {"_tag": "Shutdown", "detail": "py"}, False])
    expect("8.5 our Exit reaches the linked (trapping) actor", signals(c), ['Exit {"_tag":"Shutdown","detail":"py"}'])
    c.send([EXIT, mine(c, 7), watcher["id"], {"_tag": "Killed"}, False])
    expect("8.5 an Exit of a link that ended: ignored", signals(c), [])
    # the node's actor monitors and links to our actors; then we restart (a new incarnation)
    c.ask(watcher, {"_tag": "Monitor", "other": mine(c, 8)})
    c.ask(watcher, {"_tag": "Link", "other": mine(c, 9)})
    d = ctx.connect(name=name, incarnation=inc + 1)
    check("3.7/9 a new incarnation of us: the old connection is closed", c.wait_closed(3))
    got = sorted(signals(d))
    expect("9 ...which fires the old incarnation's monitors and links with NoConnection", got,
           sorted([f'Down {{"_tag":"NoConnection","node":"{name}"}}', f'Exit {{"_tag":"NoConnection","node":"{name}"}}']))
    kind, err = d.ask(watcher, {"_tag": "Monitor", "other": mine(c, 10)})
    check("9 a monitor on an actor of our old incarnation: Down NoProc at once, nothing sent to us",
          d.take(lambda e: e[0] == MONITOR, 0.3) is None and signals(d) == ['Down {"_tag":"NoProc"}'], json.dumps(signals(d)))
    d.close()


def scenario_leases(ctx):
    """Section 14.4: a client that routes by the SQLite lease table alone (it never writes it)."""
    import sqlite3
    a = ctx.args
    db = sqlite3.connect(f"file:{a['db']}?mode=ro", uri=True)
    cols = lambda t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")]  # noqa: E731
    expect("14.4 telex_shard_lease's columns", cols("telex_shard_lease"), ["shard", "owner", "epoch", "expires_at"])
    expect("14.4 telex_entity_state's columns", cols("telex_entity_state"), ["entity_type", "key", "state", "shard", "epoch"])
    now = int(time.time() * 1000)
    leases = {s: (o, e) for s, o, e in db.execute("SELECT shard, owner, epoch FROM telex_shard_lease WHERE expires_at > ?", (now,))}
    expect("14.4 every shard has a current lease (expires_at later than the host's clock in ms)", sorted(leases), list(range(a["shards"])))
    conns = {"a": ctx.connect(), "b": Conn("127.0.0.1", a["portB"], ctx.cluster, ctx.secret).handshake()}
    by_owner = {}
    for k in conns.values():
        kind, owner = k.ask(k.lookup("telex/sharding"), {"_tag": "Owner"})
        by_owner[owner] = k
    check("14.3 owners are name#incarnation, one per node", set(o for o, _ in leases.values()) == set(by_owner), json.dumps(list(by_owner)))
    regions = {o: k.lookup(f"telex/sharding/{a['type']}") for o, k in by_owner.items()}
    bad = []
    for i in range(12):
        key = f"lease-{i}"
        shard = shard_of(key, a["shards"])
        owner, epoch = leases[shard]
        k = by_owner[owner]
        k.send([TELL, regions[owner]["id"], "telex/ShardRegion", {"_tag": "Deliver", "key": key, "message": {"_tag": "Add", "by": i + 1}, "hops": 0}])
        kind, rep = k.ask(regions[owner], {"_tag": "Ask", "key": key, "message": {"_tag": "Get"}, "timeoutMillis": 3000})
        if not (kind == 0 and rep.get("_tag") == "Ok" and rep.get("value") == i + 1):
            bad.append(f"{key} (shard {shard}, {owner}): {json.dumps([kind, rep])}")
            continue
        row = db.execute("SELECT state, shard, epoch FROM telex_entity_state WHERE entity_type = ? AND key = ?", (a["type"], key)).fetchone()
        if row != (json.dumps(i + 1), shard, epoch):
            bad.append(f"{key}: state row {row}, want {(json.dumps(i + 1), shard, epoch)}")
    check("14.4 routed by the lease table: Ok at the owner; the state row is the encoded state (JSON text), its shard and lease epoch",
          not bad, "; ".join(bad[:4]))
    for k in conns.values():
        k.close()


def scenario_client_holds(ctx):
    """Sections 3.5 and 4.4 with the client as the receiver: its READY `hold` and its Hold/Release
    envelopes stop and resume the node's sends to its actors, per overflow policy."""
    def forward(c, relay, aid, timeout=5.0):
        rid = c.new_id()
        c.send([ASK, relay["id"], "Relay", {"_tag": "Forward", "to": c.my_address(aid, "Counter"), "by": aid}, rid, None])
        got = c.take(lambda e: e[0] == REPLY and e[1] == rid, timeout)
        return rid, got
    fp = lambda r: {"protocols": {"Counter": r["protocols"]["Counter"]}, "hold": [[5, "backpressure", 1], [6, "fail", 1]]}  # noqa: E731
    c = ctx.connect(ready=fp)
    relay = c.lookup("relay")
    rid, got = forward(c, relay, 5, 0.25)
    check("3.5 our READY holds actor 5 (backpressure): the node's tell to it waits", got is None and c.take(lambda e: e[0] == TELL, 0) is None,
          json.dumps(got))
    c.send([RELEASE, 5])
    got = c.take(lambda e: e[0] == REPLY and e[1] == rid, 3)
    tell = c.take(lambda e: e[0] == TELL, 3)
    check("4.4 our Release: the tell is sent", got is not None and got[3] == "sent" and tell == [TELL, 5, "Counter", {"_tag": "Increment", "by": 5}],
          json.dumps([got, tell]))
    rid, got = forward(c, relay, 6)
    check("3.5/4.4 held under `fail`: the node's tell fails at once with MailboxFull, nothing sent",
          got is not None and got[3] == "MailboxFull" and c.take(lambda e: e[0] == TELL, 0.1) is None, json.dumps(got))
    c.send([HOLD, 7, "backpressure", 1])
    rid, got = forward(c, relay, 7, 0.25)
    check("4.4 our Hold: the node's tell waits", got is None, json.dumps(got))
    c.send([RELEASE, 7, 1])
    got = c.take(lambda e: e[0] == REPLY and e[1] == rid, 3)
    check("4.4 a Release with credit 1: the tell is sent", got is not None and got[3] == "sent" and c.take(lambda e: e[0] == TELL, 3) is not None,
          json.dumps(got))
    rid, got = forward(c, relay, 7, 0.25)
    check("4.4 ...and the next waits: the credit is used up, held again without a Hold", got is None, json.dumps(got))
    c.send([RELEASE, 7])
    got = c.take(lambda e: e[0] == REPLY and e[1] == rid, 3)
    check("4.4 a Release without credit: sent, and sending is unlimited again", got is not None and got[3] == "sent"
          and forward(c, relay, 7)[1] is not None, json.dumps(got))
    c.close()


def hello_outcome(ftype, body, cluster, server_name):
    """The REFUSE code a server answers a first frame with, in the order of section 3.6, or "admitted"."""
    if ftype == REFUSE:
        return "closed without REFUSE"  # 3.6: a REFUSE of any code, or body, ends the handshake unanswered
    try:
        h = strict_json(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return "protocol"
    if not isinstance(h, dict) or ftype != HELLO or h.get("protocol") != "telex":
        return "protocol"
    if not (is_num(h.get("version")) and h["version"] == 1):
        return "version"
    if h.get("cluster") != cluster:
        return "cluster"
    node, listen = h.get("node"), h.get("listen")
    finite = lambda v: is_num(v) and abs(v) != float("inf")  # noqa: E731
    node_ok = isinstance(node, dict) and isinstance(node.get("name"), str) and node["name"] != "" and finite(node.get("incarnation"))
    listen_ok = listen is None or (isinstance(listen, dict) and isinstance(listen.get("host"), str) and finite(listen.get("port"))
                                   and float(listen["port"]).is_integer() and 0 < listen["port"] < 65536)
    if not (node_ok and listen_ok and isinstance(h.get("nonce"), str) and isinstance(h.get("codecs"), list)):
        return "protocol"
    if not any(c in ("msgpackr-records", "msgpack", "json") for c in h["codecs"] if isinstance(c, str)):
        return "codec"
    if node["name"] == server_name:
        return "name"
    return "admitted"


def scenario_hello_fuzz(ctx):
    """Section 3.6: random HELLOs get the REFUSE code of the first rule they break, in the documented order."""
    import random
    seed = ctx.args.get("seed", random.randrange(2**32))
    cases = ctx.args.get("cases", 100)
    print(f"INFO hello fuzz seed {seed}", flush=True)
    r = random.Random(seed)
    server = ctx.args["server"]
    pool = [None, True, 0, 1, 1.0, 2, -1, 1.5, 65535, 65536, 2**53 + 1, 1e300, "", "1", "telex", ctx.cluster, server, "json",
            "msgpack", "cbor", "127.0.0.1", [], {}, ["json"], ["cbor", "msgpack"], [5, "json"], {"name": "x", "incarnation": 1},
            {"name": "", "incarnation": 1}, {"name": server, "incarnation": 1}, {"name": "x", "incarnation": "1"},
            {"host": "127.0.0.1", "port": 1}, {"host": "h", "port": 0}, {"host": 5, "port": 80}, {"host": "h", "port": 80.5}]
    bad = []
    counts = {}
    for n in range(cases):
        h = {"protocol": "telex", "version": 1, "cluster": ctx.cluster, "node": {"name": f"py-h{n}", "incarnation": 1},
             "listen": None, "codecs": ["json"], "nonce": "n"}
        for _ in range(r.randrange(1, 4)):
            field = r.choice(list(h) + ["extra"])
            if r.random() < 0.2:
                h.pop(field, None)
            else:
                h[field] = r.choice(pool)
        body = encode_json(h)
        if r.random() < 0.1:
            body = Fuzz(r, None, None, None).mutate(body)
        ftype = HELLO if r.random() < 0.9 else r.choice([AUTH, READY, MESSAGE, REFUSE])
        if ftype == REFUSE and r.random() < 0.8:
            body = encode_json({"code": r.choice(pool + ["overloaded", "auth", "protocol"]), "reason": r.choice(pool)})
        want = hello_outcome(ftype, body, ctx.cluster, server)
        k = ctx.conn()
        k.send_frame(ftype, body)
        got = k.read_frame_or_close(3)
        if got is None:
            outcome = "closed without REFUSE"
        elif got[0] == REFUSE:
            outcome = json.loads(got[1]).get("code")
        elif got[0] == CHALLENGE:
            outcome = "admitted"
            ch = json.loads(got[1])
            chosen = next((c for c in h["codecs"] if c in ("msgpackr-records", "msgpack", "json")), None)
            if ch.get("codec") != chosen:
                bad.append(f"case {n} {body!r}: codec {ch.get('codec')}, want {chosen}")
        else:
            outcome = f"frame {got[0]}"
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != want:
            bad.append(f"case {n}: frame type {ftype} {body[:300]!r}: got {outcome}, want {want}")
        k.close()
    for b in bad[:12]:
        check("3.6 hello fuzz case", False, b)
    check(f"3.6 hello fuzz: each HELLO refused with the code of the first rule it breaks, or admitted {json.dumps(counts)}",
          not bad and len(counts) >= 4, f"{len(bad)} not as documented (seed {seed})")


def ready_outcome(ftype, body):
    """What a server answers the client's READY (section 3.5) with: "admitted" or the REFUSE code."""
    try:
        r = strict_json(body)
    except (ValueError, RecursionError, UnicodeDecodeError):
        return "protocol"
    if not isinstance(r, dict) or ftype != READY:
        return "protocol"
    p, prev, hold = r.get("protocols"), r.get("previous"), r.get("hold", [])
    if not (isinstance(p, dict) and all(isinstance(v, str) for v in p.values())):
        return "protocol"
    if not (prev is None or (isinstance(prev, dict) and isinstance(prev.get("session"), str) and is_num(prev.get("received"))
                             and abs(prev["received"]) != float("inf") and float(prev["received"]).is_integer() and prev["received"] >= 0)):
        return "protocol"
    if not (isinstance(hold, list) and all(isinstance(h, list) for h in hold)) or ("hold" in r and r["hold"] is None):
        return "protocol"
    return "admitted"


def scenario_ready_fuzz(ctx):
    """Section 3.5: random client READYs are admitted or refused with protocol exactly as documented."""
    import random
    seed = ctx.args.get("seed", random.randrange(2**32))
    cases = ctx.args.get("cases", 50)
    print(f"INFO ready fuzz seed {seed}", flush=True)
    r = random.Random(seed)
    pool = [None, 0, -1, 1.5, 1e300, -0.0, "", "s", [], {}, [[]], [[5, "fail", 1]], [5], {"A": "f"}, {"A": 1}, {"A": None},
            {"session": "s", "received": 3}, {"session": 1, "received": 3}, {"session": "s", "received": -1},
            {"session": "s", "received": 2.5}, {"session": "s"}]
    bad = []
    counts = {}
    for n in range(cases):
        ready = {"protocols": {}, "previous": None}
        for _ in range(r.randrange(1, 3)):
            field = r.choice(["protocols", "previous", "hold", "extra"])
            if r.random() < 0.2:
                ready.pop(field, None)
            else:
                ready[field] = r.choice(pool)
        body = encode_json(ready)
        if r.random() < 0.1:
            body = Fuzz(r, None, None, None).mutate(body)
        ftype = READY if r.random() < 0.9 else r.choice([HELLO, AUTH, MESSAGE, HEARTBEAT])
        want = ready_outcome(ftype, body)
        k = ctx.conn()
        k.hello()
        ch = k.read_handshake(CHALLENGE)
        k.send_frame(AUTH, encode_json({"proof": proof(ctx.secret, "client", ch["nonce"], k.nonce, ch["node"], k.me)}))
        k.read_handshake(READY)
        k.established = True
        k.send_frame(ftype, body)
        k.send_frame(MESSAGE, encode_json([LOOKUP, "probe", "counter"]))
        found = k.take(lambda e: e[0] == FOUND and e[1] == "probe", 3)
        if found is not None:
            outcome = "admitted"
        else:
            k.wait_closed(3)
            late = [json.loads(b) for t, b in k.late_handshake_frames if t == REFUSE]
            outcome = late[0].get("code") if late else "closed without REFUSE"
        counts[outcome] = counts.get(outcome, 0) + 1
        if outcome != want:
            bad.append(f"case {n}: frame type {ftype} {body[:300]!r}: got {outcome}, want {want}")
        k.close()
    for b in bad[:12]:
        check("3.5 ready fuzz case", False, b)
    check(f"3.5 ready fuzz: each client READY admitted or refused as documented {json.dumps(counts)}", not bad and len(counts) == 2,
          f"{len(bad)} not as documented (seed {seed})")


SCENARIOS = {
    "ready-fuzz": scenario_ready_fuzz,
    "hello-fuzz": scenario_hello_fuzz,
    "client-holds": scenario_client_holds,
    "leases": scenario_leases,
    "hosting": scenario_hosting,
    "credit": scenario_credit,
    "worked": scenario_worked,
    "fuzz": scenario_fuzz,
    "sharding-move": scenario_sharding_move,
    "sharding-errors": scenario_sharding_errors,
    "producer": scenario_producer,
    "reliable": scenario_reliable,
    "gap": scenario_gap,
    "registry": scenario_registry,
    "tls": scenario_tls,
    "overflow": scenario_overflow,
    "msgpack": scenario_msgpack,
    "listen": scenario_listen,
    "admission": scenario_admission,
    "vectors": scenario_vectors,
    "handshake": scenario_handshake,
    "handshake-timeout": scenario_handshake_timeout,
    "messaging": scenario_messaging,
    "heartbeats": scenario_heartbeats,
    "fragments": scenario_fragments,
    "invalid": scenario_invalid,
    "signals": scenario_signals,
    "framing": scenario_framing,
    "refusals": scenario_refusals,
    "protocols": scenario_protocols,
    "flow": scenario_flow,
    "outbound": scenario_outbound,
    "sharding": scenario_sharding,
}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("scenario", choices=sorted(SCENARIOS))
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--cluster", default="demo")
    p.add_argument("--secret", default="s3cret")
    p.add_argument("--args", default="")
    args = p.parse_args()
    try:
        SCENARIOS[args.scenario](Ctx(args))
    except Exception as e:  # a scenario that cannot go on is one failure
        import traceback
        traceback.print_exc()
        check(f"{args.scenario} ran to the end", False, f"{type(e).__name__}: {e}")
    print("DONE", flush=True)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
