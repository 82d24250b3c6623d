#!/usr/bin/env python3
"""Sends a known byte stream over TCP and checks it arrived intact.

    tcp-transfer.py serve PORT          accept one connection, print the
                                        SHA-256 and byte count received
    tcp-transfer.py send ADDR PORT N    send N pseudo-random bytes, print
                                        their SHA-256 and count

Run `serve` in one namespace and `send` in another; equal digests mean the
stream crossed the tunnel intact.
"""
import hashlib
import random
import socket
import sys


def serve(port: int) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(1)
    listener.settimeout(30)
    print("listening", flush=True)
    connection, _ = listener.accept()
    connection.settimeout(30)
    digest = hashlib.sha256()
    total = 0
    while True:
        chunk = connection.recv(65536)
        if not chunk:
            break
        digest.update(chunk)
        total += len(chunk)
    print(f"{total} {digest.hexdigest()}", flush=True)


def send(address: str, port: int, count: int) -> None:
    # The stream is generated chunk by chunk while it is sent, so a large
    # transfer neither waits for the whole stream nor keeps it in memory.
    generator = random.Random(20261204)
    digest = hashlib.sha256()
    remaining = count
    with socket.create_connection((address, port), timeout=30) as connection:
        while remaining > 0:
            size = min(remaining, 65536)
            chunk = generator.randbytes(size)
            digest.update(chunk)
            connection.sendall(chunk)
            remaining -= size
        connection.shutdown(socket.SHUT_WR)
        connection.recv(1)
    print(f"{count} {digest.hexdigest()}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "serve":
        serve(int(sys.argv[2]))
    elif len(sys.argv) == 5 and sys.argv[1] == "send":
        send(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    else:
        sys.exit(__doc__)
