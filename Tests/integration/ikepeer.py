#!/usr/bin/env python3
"""A minimal IKEv2 initiator (RFC 7296) that sends hostile input to a lab gateway.

It negotiates AES-CBC-128, HMAC-SHA-256, PRF-HMAC-SHA-256 and group 19 with a
pre-shared key, then builds protected requests and SKF fragments (RFC 7383)
by hand so that each field can be wrong on purpose. Run it inside a lab
namespace; it talks to the gateway at --gateway from --local on UDP 500.
"""

import argparse
import hashlib
import hmac
import json
import os
import select
import socket
import struct
import sys
import time

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA, INFORMATIONAL = 34, 35, 36, 37
FLAG_INITIATOR, FLAG_RESPONSE = 0x08, 0x20
SA, KE, IDI, IDR, AUTH, NONCE, NOTIFY, DELETE = 33, 34, 35, 36, 39, 40, 41, 42
TSI, TSR, SK, SKF = 44, 45, 46, 53
COOKIE, FRAGMENTATION_SUPPORTED = 16390, 16430
NOTIFY_NAMES = {
    7: "INVALID_SYNTAX", 9: "INVALID_MESSAGE_ID", 14: "NO_PROPOSAL_CHOSEN",
    17: "INVALID_KE_PAYLOAD", 24: "AUTHENTICATION_FAILED", 34: "SINGLE_PAIR_REQUIRED",
    35: "NO_ADDITIONAL_SAS", 38: "TS_UNACCEPTABLE", 43: "TEMPORARY_FAILURE",
    44: "CHILD_SA_NOT_FOUND", COOKIE: "COOKIE", FRAGMENTATION_SUPPORTED: "FRAG_SUPPORTED",
}


def prf(key, data):
    return hmac.new(key, data, hashlib.sha256).digest()


def prf_plus(key, seed, length):
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = prf(key, block + seed + bytes([counter]))
        out += block
        counter += 1
    return out[:length]


def payload(next_type, body):
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def chain(payloads):
    """Encodes [(type, body), ...]; returns (first type, bytes)."""
    data = b""
    for index, (_, body) in enumerate(payloads):
        following = payloads[index + 1][0] if index + 1 < len(payloads) else 0
        data += payload(following, body)
    return (payloads[0][0] if payloads else 0), data


def transform(last, kind, ident, attributes=b""):
    body = struct.pack("!BBH", kind, 0, ident) + attributes
    return struct.pack("!BBH", 0 if last else 3, 0, 4 + len(body)) + body


def proposal(protocol, spi, transforms):
    data = b"".join(transform(i == len(transforms) - 1, *t) for i, t in enumerate(transforms))
    body = struct.pack("!BBBB", 1, protocol, len(spi), len(transforms)) + spi + data
    return struct.pack("!BBH", 0, 0, 4 + len(body)) + body


KEY_LENGTH_128 = struct.pack("!HH", 0x800E, 128)
IKE_TRANSFORMS = [(1, 12, KEY_LENGTH_128), (2, 5), (3, 12), (4, 19)]


def esp_transforms(pfs_group=None):
    transforms = [(1, 20, KEY_LENGTH_128)]
    if pfs_group:
        transforms.append((4, pfs_group))
    transforms.append((5, 0))
    return transforms


def notify_body(kind, data=b"", protocol=0, spi=b""):
    return struct.pack("!BBH", protocol, len(spi), kind) + spi + data


def ts_body(start, end):
    ts = struct.pack("!BBHHH", 7, 0, 16, 0, 65535) + socket.inet_aton(start) + socket.inet_aton(end)
    return struct.pack("!B3x", 1) + ts


def parse_chain(first, data):
    found, offset, kind = [], 0, first
    while kind and offset + 4 <= len(data):
        following, _, length = struct.unpack_from("!BBH", data, offset)
        if length < 4 or offset + length > len(data):
            break
        found.append((kind, data[offset + 4 : offset + length]))
        offset += length
        kind = following
    return found


def notifies(payloads):
    names = []
    for kind, body in payloads:
        if kind == NOTIFY and len(body) >= 4:
            number = struct.unpack_from("!H", body, 2)[0]
            names.append(NOTIFY_NAMES.get(number, str(number)))
    return names


class Peer:
    """One IKE SA, as initiator, over one UDP socket."""

    def __init__(self, local, gateway, psk, fragmentation=True):
        self.gateway = (gateway, 500)
        self.psk = psk.encode()
        self.local = local
        self.fragmentation = fragmentation
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((local, 0))
        self.spi_i, self.spi_r = os.urandom(8), bytes(8)
        self.message_id = 0

    def header(self, next_type, exchange, flags, message_id, length, spi_r=None):
        return (
            self.spi_i + (self.spi_r if spi_r is None else spi_r)
            + struct.pack("!BBBBII", next_type, 0x20, exchange, flags, message_id, length)
        )

    def send(self, data):
        self.sock.sendto(data, self.gateway)

    def receive(self, timeout=2.0):
        ready, _, _ = select.select([self.sock], [], [], timeout)
        if not ready:
            return None
        data, _ = self.sock.recvfrom(65535)
        return data

    def init_request(self, cookie=None, nonce=None, private=None):
        self.private = private or ec.generate_private_key(ec.SECP256R1())
        numbers = self.private.public_key().public_numbers()
        self.ke = numbers.x.to_bytes(32, "big") + numbers.y.to_bytes(32, "big")
        self.nonce_i = nonce or os.urandom(32)
        payloads = []
        if cookie:
            payloads.append((NOTIFY, notify_body(COOKIE, cookie)))
        payloads += [
            (SA, proposal(1, b"", IKE_TRANSFORMS)),
            (KE, struct.pack("!HH", 19, 0) + self.ke),
            (NONCE, self.nonce_i),
        ]
        if self.fragmentation:
            payloads.append((NOTIFY, notify_body(FRAGMENTATION_SUPPORTED)))
        first, body = chain(payloads)
        return self.header(first, IKE_SA_INIT, FLAG_INITIATOR, 0, 28 + len(body)) + body

    def sa_init(self):
        """Runs IKE_SA_INIT, repeating the request once with a COOKIE when the
        responder demands one. Returns the notifies seen."""
        request = self.init_request()
        self.send(request)
        response = self.receive()
        if response is None:
            raise RuntimeError("no IKE_SA_INIT response")
        payloads = parse_chain(response[16], response[28:])
        cookie = [b[4:] for k, b in payloads if k == NOTIFY and struct.unpack_from("!H", b, 2)[0] == COOKIE]
        if cookie:
            request = self.init_request(cookie=cookie[0], nonce=self.nonce_i, private=self.private)
            self.send(request)
            response = self.receive()
            payloads = parse_chain(response[16], response[28:])
        self.spi_r = response[8:16]
        ke = [b for k, b in payloads if k == KE]
        nonce = [b for k, b in payloads if k == NONCE]
        if not ke or not nonce:
            raise RuntimeError("IKE_SA_INIT rejected: %s" % notifies(payloads))
        self.init_request_bytes, self.init_response_bytes = request, response
        self.nonce_r = nonce[0]
        public = ke[0][4:]
        peer_key = ec.EllipticCurvePublicNumbers(
            int.from_bytes(public[:32], "big"), int.from_bytes(public[32:], "big"), ec.SECP256R1()
        ).public_key()
        shared = self.private.exchange(ec.ECDH(), peer_key)
        seed = prf(self.nonce_i + self.nonce_r, shared)
        keys = prf_plus(seed, self.nonce_i + self.nonce_r + self.spi_i + self.spi_r, 32 * 5 + 16 * 2)
        self.sk_d, self.sk_ai, self.sk_ar = keys[0:32], keys[32:64], keys[64:96]
        self.sk_ei, self.sk_er = keys[96:112], keys[112:128]
        self.sk_pi, self.sk_pr = keys[128:160], keys[160:192]
        self.message_id = 1
        return notifies(payloads)

    def seal(self, exchange, payloads, message_id, flags=FLAG_INITIATOR, fragment=None):
        """Builds an SK message, or an SKF message when fragment is (number, total)."""
        first, plain = chain(payloads) if isinstance(payloads, list) else payloads
        pad = 15 - len(plain) % 16
        plain += bytes(pad) + bytes([pad])
        iv = os.urandom(16)
        encryptor = Cipher(algorithms.AES(self.sk_ei), modes.CBC(iv)).encryptor()
        encrypted = encryptor.update(plain) + encryptor.finalize()
        extra = struct.pack("!HH", *fragment) if fragment else b""
        kind = SKF if fragment else SK
        body_length = 4 + len(extra) + 16 + len(encrypted) + 16
        total = 28 + body_length
        data = self.header(kind, exchange, flags, message_id, total)
        data += struct.pack("!BBH", first, 0, body_length) + extra + iv + encrypted
        return data + prf(self.sk_ai, data)[:16]

    def open(self, data):
        """Decrypts an SK response; returns its payloads, or None."""
        if data is None or len(data) < 28 + 4 + 32 or data[16] != SK:
            return None
        if prf(self.sk_ar, data[:-16])[:16] != data[-16:]:
            return None
        first = data[28]
        iv = data[32:48]
        decryptor = Cipher(algorithms.AES(self.sk_er), modes.CBC(iv)).decryptor()
        plain = decryptor.update(data[48:-16]) + decryptor.finalize()
        plain = plain[: len(plain) - plain[-1] - 1]
        return parse_chain(first, plain)

    def auth(self):
        identity = struct.pack("!B3x", 1) + socket.inet_aton(self.local)
        mac_id = prf(self.sk_pi, identity)
        signed = self.init_request_bytes + self.nonce_r + mac_id
        auth_data = prf(prf(self.psk, b"Key Pad for IKEv2"), signed)
        payloads = [
            (IDI, identity),
            (AUTH, struct.pack("!B3x", 2) + auth_data),
            (SA, proposal(3, os.urandom(4), esp_transforms())),
            (TSI, ts_body(self.local, self.local)),
            (TSR, ts_body("192.0.2.0", "192.0.2.255")),
        ]
        reply = self.request(IKE_AUTH, payloads)
        if reply is None or not any(k == AUTH for k, _ in reply):
            raise RuntimeError("IKE_AUTH failed: %s" % (reply and notifies(reply)))
        return notifies(reply)

    def request(self, exchange, payloads, timeout=2.0):
        """Sends a protected request with the next message ID; returns the response payloads."""
        data = self.seal(exchange, payloads, self.message_id)
        self.last_request = data
        self.send(data)
        reply = self.open(self.receive(timeout))
        if reply is not None:
            self.message_id += 1
        return reply

    def liveness(self):
        reply = self.request(INFORMATIONAL, [])
        return reply is not None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--local", required=True, help="source IPv4 address")
    parser.add_argument("--gateway", required=True, help="gateway IPv4 address")
    parser.add_argument("--psk", required=True, help="pre-shared key")
    parser.add_argument("case", help="test case name")
    arguments = parser.parse_args()
    import ikecases

    result = ikecases.CASES[arguments.case](arguments)
    print(json.dumps(result))


if __name__ == "__main__":
    sys.exit(main())
