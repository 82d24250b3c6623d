"""Hostile IKEv2 inputs for ikepeer.py. Each case returns a dict of what it saw.

A case passes when the gateway responds with an error notify or drops the
input (a counted drop, checked by the caller), and the IKE SA that sent the
input still responds to a liveness check afterwards.
"""

import os
import struct
import time

from ikepeer import (
    CREATE_CHILD_SA, DELETE, INFORMATIONAL, KE, NONCE, NOTIFY, SA, TSI, TSR, Peer, chain,
    esp_transforms, notifies, parse_chain, proposal, ts_body,
)


def established(arguments, fragmentation=True):
    peer = Peer(arguments.local, arguments.gateway, arguments.psk, fragmentation)
    peer.sa_init()
    peer.auth()
    return peer


def fragment_reply(peer, fragments):
    """Sends SKF messages, given as (number, total, content, first payload type), with
    the next message ID. Returns the decrypted response, or None when none came."""
    for number, total, piece, first in fragments:
        peer.send(peer.seal(INFORMATIONAL, (first, piece), peer.message_id, fragment=(number, total)))
    return peer.open(peer.receive(1.0))


def fragments_bad_numbers(arguments):
    peer = established(arguments)
    results = {}
    cases = {
        "number 0": [(0, 2, b"x", 0)],
        "number above total": [(3, 2, b"x", 0)],
        "total 0": [(1, 0, b"x", 0)],
        "huge total": [(1, 65535, b"x", 0)],
        "total changes lower": [(1, 3, b"x", 0), (2, 2, b"x", 0)],
        "duplicate": [(2, 3, b"x", 0), (2, 3, b"x", 0)],
        "overlapping content": [(2, 3, b"abc", 0), (2, 3, b"zzzzzz", 0)],
    }
    for name, fragments in cases.items():
        reply = fragment_reply(peer, fragments)
        results[name] = "reply %s" % notifies(reply) if reply is not None else "silent"
    # An incomplete set followed by a higher total replaces the old buffer.
    reply = fragment_reply(peer, [(1, 4, b"", 0), (1, 5, b"", 0)])
    results["total changes higher"] = "reply" if reply is not None else "silent"
    # A complete set that decodes to an empty INFORMATIONAL gets a response.
    # It announces a higher total than the set before, which it replaces.
    reply = fragment_reply(peer, [(n, 6, b"", 0) for n in (6, 2, 5, 3, 4, 1)])
    results["complete out of order"] = "reply %s" % notifies(reply) if reply is not None else "silent"
    if reply is not None:
        peer.message_id += 1
    results["alive"] = peer.liveness()
    return results


def fragments_not_negotiated(arguments):
    peer = established(arguments, fragmentation=False)
    reply = fragment_reply(peer, [(1, 1, b"", 0)])
    return {"reply": notifies(reply) if reply is not None else "silent", "alive": peer.liveness()}


def replay(arguments):
    peer = established(arguments)
    results = {}
    peer.liveness()
    informational = peer.last_request
    child = [
        (SA, proposal(3, os.urandom(4), esp_transforms(19))),
        (NONCE, os.urandom(32)),
        (KE, struct.pack("!HH", 19, 0) + os.urandom(64)),
        (TSI, ts_body(arguments.local, arguments.local)),
        (TSR, ts_body("192.0.2.0", "192.0.2.255")),
    ]
    reply = peer.request(CREATE_CHILD_SA, child)
    results["create child"] = notifies(reply) if reply is not None else "silent"
    create_child = peer.last_request
    for name, data in (("informational", informational), ("create child", create_child)):
        answers = 0
        for _ in range(20):
            peer.send(data)
            answers += peer.receive(0.3) is not None
        results["replayed %s answered" % name] = answers
    results["alive"] = peer.liveness()
    return results


def delete_absurd(arguments):
    peer = established(arguments)
    results = {}
    cases = {
        "esp count 65535, 4 bytes": struct.pack("!BBH", 3, 4, 65535) + os.urandom(4),
        "esp count 16000, all present": struct.pack("!BBH", 3, 4, 16000) + os.urandom(64000),
        "esp spi size 0": struct.pack("!BBH", 3, 0, 3),
        "esp spi size 8": struct.pack("!BBH", 3, 8, 1) + os.urandom(8),
        "protocol 9": struct.pack("!BBH", 9, 4, 1) + os.urandom(4),
        # Last, so that a gateway taking it as a Delete of this IKE SA ends the case.
        "ike with count 5": struct.pack("!BBH", 1, 0, 5),
    }
    for name, body in cases.items():
        if len(body) > 60000:
            # Too large for one datagram, so it goes in 161 fragments, more than
            # the gateway reassembles: expected a drop.
            first, plain = chain([(DELETE, body)])
            step = 400
            pieces = [plain[i : i + step] for i in range(0, len(plain), step)]
            for number, piece in enumerate(pieces, 1):
                peer.send(peer.seal(
                    INFORMATIONAL, (first if number == 1 else 0, piece), peer.message_id,
                    fragment=(number, len(pieces))))
            reply = peer.open(peer.receive(1.0))
            if reply is not None:
                peer.message_id += 1
        else:
            reply = peer.request(INFORMATIONAL, [(DELETE, body)])
        results[name] = notifies(reply) if reply is not None else "silent"
    results["alive after ike delete"] = peer.liveness()
    return results


def truncated_ke(arguments):
    peer = established(arguments)
    results = {}
    for name, ke in (
        ("10 bytes", struct.pack("!HH", 19, 0) + os.urandom(6)),
        ("header only", struct.pack("!HH", 19, 0)),
        ("2 bytes", struct.pack("!H", 19)),
        ("point not on curve", struct.pack("!HH", 19, 0) + bytes(64)),
    ):
        child = [
            (SA, proposal(3, os.urandom(4), esp_transforms(19))),
            (NONCE, os.urandom(32)),
            (KE, ke),
            (TSI, ts_body(arguments.local, arguments.local)),
            (TSR, ts_body("192.0.2.0", "192.0.2.255")),
        ]
        reply = peer.request(CREATE_CHILD_SA, child)
        results[name] = notifies(reply) if reply is not None else "silent"
    results["alive"] = peer.liveness()
    return results


def init_flood(arguments):
    """Sends `INIT_COUNT` IKE_SA_INIT requests from new SPIs and counts the responses
    by kind, then tries a forged COOKIE, the COOKIE of another SPI and a real one."""
    count = int(os.environ.get("INIT_COUNT", "300"))
    seen = {"cookie": 0, "response": 0, "other": 0, "silent": 0}
    peers = []
    for _ in range(count):
        peer = Peer(arguments.local, arguments.gateway, arguments.psk)
        peer.send(peer.init_request())
        data = peer.receive(0.5)
        kind = "silent"
        if data is None:
            seen["silent"] += 1
        else:
            payloads = parse_chain(data[16], data[28:])
            if "COOKIE" in notifies(payloads):
                kind = "cookie"
            elif any(k == KE for k, _ in payloads):
                kind = "response"
            else:
                kind = "other"
            seen[kind] += 1
            if kind == "cookie":
                peers.append((peer, [b[4:] for k, b in payloads if k == NOTIFY and b[2:4] == b"\x40\x06"][0]))
        if kind != "cookie":
            peer.sock.close()
    # Forged cookie, replayed cookie on another SPI, and the right cookie.
    if peers:
        peer, cookie = peers[0]
        forged = Peer(arguments.local, arguments.gateway, arguments.psk)
        forged.send(forged.init_request(cookie=os.urandom(len(cookie))))
        data = forged.receive(0.5)
        seen["forged cookie"] = "silent" if data is None else notifies(parse_chain(data[16], data[28:]))
        forged.send(forged.init_request(cookie=cookie))
        data = forged.receive(0.5)
        seen["cookie of another SPI"] = "silent" if data is None else notifies(parse_chain(data[16], data[28:]))
        good = Peer(arguments.local, arguments.gateway, arguments.psk)
        try:
            good.sa_init()
            good.auth()
            seen["cookie exchange then auth"] = good.liveness()
        except RuntimeError as error:
            seen["cookie exchange then auth"] = str(error)
    return seen


CASES = {
    "fragments_bad_numbers": fragments_bad_numbers,
    "fragments_not_negotiated": fragments_not_negotiated,
    "replay": replay,
    "delete_absurd": delete_absurd,
    "truncated_ke": truncated_ke,
    "init_flood": init_flood,
}


def half_open_fragment_memory(arguments):
    """Opens `HALF_OPEN` IKE SAs without authenticating, and on each sends 63 of
    64 fragments of 1000 bytes as IKE_AUTH requests and 63 more as responses.
    The keys come from IKE_SA_INIT alone, so no PSK is needed."""
    from ikepeer import FLAG_INITIATOR, FLAG_RESPONSE, IKE_AUTH

    count = int(os.environ.get("HALF_OPEN", "1000"))
    piece = os.urandom(1000)
    opened = 0
    for _ in range(count):
        peer = Peer(arguments.local, arguments.gateway, "unknown")
        try:
            peer.sa_init()
        except (RuntimeError, TypeError):
            peer.sock.close()
            continue
        opened += 1
        for flags, message_id in ((FLAG_INITIATOR, 1), (FLAG_INITIATOR | FLAG_RESPONSE, 7)):
            for number in range(1, 64):
                peer.send(peer.seal(
                    IKE_AUTH, (0, piece), message_id, flags=flags, fragment=(number, 64)))
        peer.sock.close()
    return {"half-open SAs filled": opened}


CASES["half_open_fragment_memory"] = half_open_fragment_memory
