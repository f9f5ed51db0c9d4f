#!/usr/bin/env python3
"""Regenerates reference_transcript.txt for src/encrypted/tests.rs.

Two BIP324 conversations between our code and a peer simulated with the BIP's
own reference implementation (bip-0324/reference.py in bitcoin/bips), so the
tests compare our bytes with an independent implementation, including the
handshake, garbage authentication, decoys, 1-byte and 12-byte message types and
the rekey after 224 packets.

Our side's ElligatorSwift keys below are what V2Handshake::with_secret_key
sends for secret keys 0x11..11 (initiator) and 0x22..22 (responder); the test
checks that. The simulated peer's key pairs are rows of
bip-0324/packet_encoding_test_vectors.csv (in_priv_ours, in_ellswift_ours).

Usage: python3 gen_reference_transcript.py PATH/TO/bips/bip-0324 > reference_transcript.txt
"""

import hashlib
import sys

sys.path.insert(0, sys.argv[1])
from reference import initialize_v2_transport, v2_ecdh, v2_enc_packet  # noqa: E402

OUR_INITIATOR_ELLSWIFT = bytes.fromhex(
    "f5962c51828e028546105360511635b8b63c6f94ea73d04e26f24eab63931c8e"
    "0ec1e646c878fced6c65171fd3997a6d0b8b1b15590876e846a51620cb096c59")
OUR_RESPONDER_ELLSWIFT = bytes.fromhex(
    "a35af1ea1dd30c1defe8e6349ee7d5b8bcaf292f9e834e077d043d5f781d1a1d"
    "90486b1ff7845917843489a5a19444865db2b5f3cfdfc2e561cef4f52c59c5fe")
# packet_encoding_test_vectors.csv, row in_idx=999 (a responder's key pair).
PEER_RESPONDER_PRIV = bytes.fromhex(
    "6f312890ec83bbb26798abaadd574684a53e74ccef7953b790fcc29409080246")
PEER_RESPONDER_ELLSWIFT = bytes.fromhex(
    "a8785af31c029efc82fa9fc677d7118031358d7c6a25b5779a9b900e5ccd94aa"
    "c97eb36a3c5dbcdb2ca5843cc4c2fe0aaa46d10eb3d233a81c3dde476da00eef")
# packet_encoding_test_vectors.csv, row in_idx=1 (an initiator's key pair).
PEER_INITIATOR_PRIV = bytes.fromhex(
    "61062ea5071d800bbfd59e2e8b53d47d194b095ae5a4df04936b49772ef0d4d7")
PEER_INITIATOR_ELLSWIFT = bytes.fromhex(
    "ec0adff257bbfe500c188c80b4fdd640f6b45a482bbc15fc7cef5931deff0aa1"
    "86f6eb9bba7b85dc4dcc28b28722de1e3d9108b985e2967045668f66098e475b")

# Mirrored in tests.rs.
OUR_INITIATOR_GARBAGE = b"p2pnet initiator garbage"
PEER_RESPONDER_GARBAGE = bytes((7 * i) & 0xFF for i in range(100))
PEER_INITIATOR_GARBAGE = bytes((13 * i + 5) & 0xFF for i in range(4095))


def long_type(name):
    return b"\x00" + name.encode() + b"\x00" * (12 - len(name))


def our_initiator_messages(peer):
    """What tests.rs sends as initiator after the handshake, encrypted by `peer`
    (the simulated responder's view of our sending direction)."""
    out = b""
    for i in range(230):
        if i % 50 == 7:
            out += v2_enc_packet(peer, long_type("sendaddrv2"))
        elif i % 50 == 13:
            out += v2_enc_packet(peer, bytes(i), ignore=True)
        else:
            out += v2_enc_packet(peer, bytes([18]) + i.to_bytes(8, "little"))
    return out


def as_sender_of(secret, initiating):
    """Key schedule of the side whose sending direction we want to reproduce."""
    return initialize_v2_transport(secret, initiating)


def emit(name, data):
    print(f"{name}={data.hex()}")


def conversation_initiator():
    """We initiate; the simulated peer responds."""
    secret = v2_ecdh(PEER_RESPONDER_PRIV, OUR_INITIATOR_ELLSWIFT, PEER_RESPONDER_ELLSWIFT, False)
    peer = initialize_v2_transport(secret, False)
    stream = PEER_RESPONDER_ELLSWIFT + PEER_RESPONDER_GARBAGE + peer["send_garbage_terminator"]
    # Packet 0: a decoy, so the garbage is authenticated with a decoy (BIP324).
    stream += v2_enc_packet(peer, b"decoy", aad=PEER_RESPONDER_GARBAGE, ignore=True)
    stream += v2_enc_packet(peer, b"")  # 1: version packet
    stream += v2_enc_packet(peer, bytes([18]) + bytes(range(1, 9)))  # 2: ping
    stream += v2_enc_packet(peer, long_type("sendaddrv2"))  # 3: long type
    stream += v2_enc_packet(peer, b"", ignore=True)  # 4: empty decoy
    stream += v2_enc_packet(peer, bytes([99]) + b"x")  # 5: undefined id, dropped
    for i in range(6, 231):
        if i == 223:
            stream += v2_enc_packet(peer, bytes([14]) + b"\x00")  # inv, last before rekey
        elif i == 224:
            stream += v2_enc_packet(peer, bytes([13]) + b"\x00")  # headers, first after
        elif i == 230:
            stream += v2_enc_packet(peer, bytes([19]) + b"\xff" * 8)  # pong
        else:
            stream += v2_enc_packet(peer, b"", ignore=True)
    emit("i_our_ellswift", OUR_INITIATOR_ELLSWIFT)
    emit("i_session_id", peer["session_id"])
    emit("i_peer_stream", stream)
    # What we must send: our terminator and version packet, then the messages.
    us = as_sender_of(secret, True)
    reply = us["send_garbage_terminator"] + v2_enc_packet(us, b"", aad=OUR_INITIATOR_GARBAGE)
    emit("i_our_reply", reply)
    emit("i_our_messages_sha256", hashlib.sha256(our_initiator_messages(us)).digest())


def conversation_responder():
    """The simulated peer initiates with 4095 bytes of garbage; we respond."""
    secret = v2_ecdh(PEER_INITIATOR_PRIV, OUR_RESPONDER_ELLSWIFT, PEER_INITIATOR_ELLSWIFT, True)
    peer = initialize_v2_transport(secret, True)
    stream = PEER_INITIATOR_ELLSWIFT + PEER_INITIATOR_GARBAGE + peer["send_garbage_terminator"]
    stream += v2_enc_packet(peer, b"", aad=PEER_INITIATOR_GARBAGE)  # version packet
    stream += v2_enc_packet(peer, bytes([2]) + bytes(range(100)))  # block
    emit("r_our_ellswift", OUR_RESPONDER_ELLSWIFT)
    emit("r_session_id", peer["session_id"])
    emit("r_peer_stream", stream)
    us = as_sender_of(secret, False)
    # No garbage on our side: the version packet has empty associated data.
    reply = us["send_garbage_terminator"] + v2_enc_packet(us, b"")
    reply_msg = v2_enc_packet(us, bytes([19]) + (0x0102030405060708).to_bytes(8, "little"))
    emit("r_our_reply", reply)
    emit("r_our_pong", reply_msg)


conversation_initiator()
conversation_responder()
