//! Cross-module tests: published byte vectors, round trips, malformed input,
//! allocation behaviour and a dependency-free randomized no-panic check.

use std::net::{Ipv4Addr, Ipv6Addr};

use bytes::{Bytes, BytesMut};

use super::encoding::write_compact_size;
use super::frame::frame_header;
use super::*;

// ---------------------------------------------------------------- helpers

/// Hex to bytes, ignoring whitespace (vectors are pasted in their published
/// layout).
fn hex(s: &str) -> Vec<u8> {
    let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    assert!(digits.len().is_multiple_of(2), "odd hex length");
    digits
        .chunks(2)
        .map(|pair| {
            let text = std::str::from_utf8(pair).unwrap();
            u8::from_str_radix(text, 16).unwrap()
        })
        .collect()
}

fn hash_from_hex(s: &str) -> Hash256 {
    hex(s).try_into().unwrap()
}

fn mapped(a: u8, b: u8, c: u8, d: u8) -> Ipv6Addr {
    Ipv4Addr::new(a, b, c, d).to_ipv6_mapped()
}

/// Decodes exactly one frame from `bytes`, asserting nothing is left over.
fn decode_single_frame(magic: u32, bytes: &[u8]) -> RawFrame {
    let mut decoder = FrameDecoder::new(magic, DEFAULT_MAX_MESSAGE_SIZE as u32);
    let mut buf = BytesMut::from(bytes);
    let frame = match decoder.decode(&mut buf) {
        Ok(Some(DecodedFrame::Frame(frame))) => frame,
        other => panic!("expected a frame, got {other:?}"),
    };
    assert!(buf.is_empty(), "{} bytes left over", buf.len());
    frame
}

fn payload_of(msg: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    msg.encode_payload(&mut out);
    out
}

fn decode(command: Command, payload: &[u8]) -> Result<Message, PayloadError> {
    Message::decode(command, Bytes::copy_from_slice(payload))
}

fn count_prefix(count: u64) -> Vec<u8> {
    let mut out = Vec::new();
    write_compact_size(&mut out, count);
    out
}

fn inv(i: u32) -> Inventory {
    let mut hash = [0u8; 32];
    hash[..4].copy_from_slice(&i.to_le_bytes());
    hash[31] = 0xAB;
    Inventory {
        kind: if i.is_multiple_of(2) {
            InvKind::WITNESS_TX
        } else {
            InvKind::BLOCK
        },
        hash,
    }
}

fn ts_addr(i: u32) -> TimestampedAddress {
    TimestampedAddress {
        time: 1_700_000_000 + i,
        addr: NetAddress {
            services: u64::from(i) | 0x409,
            ip: if i.is_multiple_of(2) {
                mapped(10, 0, (i >> 8) as u8, i as u8)
            } else {
                Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, (i >> 16) as u16, i as u16)
            },
            port: 8333u16.wrapping_add(i as u16),
        },
    }
}

fn header(i: u32) -> Bytes {
    Bytes::from(
        (0..80u32)
            .map(|j| (i.wrapping_mul(31) ^ j) as u8)
            .collect::<Vec<u8>>(),
    )
}

fn hash(i: u32) -> Hash256 {
    let mut h = [0x11u8; 32];
    h[..4].copy_from_slice(&i.to_be_bytes());
    h
}

fn sample_version() -> VersionMessage {
    VersionMessage {
        version: 70016,
        services: 0x409,
        timestamp: 1_700_000_000,
        receiver: NetAddress::from_socket_addr(1, "198.51.100.7:8333".parse().unwrap()),
        sender: NetAddress::UNSPECIFIED,
        nonce: 0x0123_4567_89AB_CDEF,
        user_agent: "/p2pnet:0.1.0/".to_owned(),
        start_height: 840_000,
        relay: false,
    }
}

/// One message of every type, with lists of varied sizes, plus an unknown
/// command.
fn samples() -> Vec<Message> {
    vec![
        Message::Version(sample_version()),
        Message::Verack,
        Message::Ping(0xDEAD_BEEF_0BAD_F00D),
        Message::Pong(7),
        Message::Addr(vec![ts_addr(1), ts_addr(2)]),
        Message::GetAddr,
        // 300 entries: the count needs a 3-byte CompactSize.
        Message::Inv((0..300).map(inv).collect()),
        Message::GetData(vec![inv(5)]),
        Message::NotFound(vec![inv(6), inv(7)]),
        Message::Reject(RejectMessage {
            message: "tx".to_owned(),
            code: 0x10,
            reason: "mandatory-script-verify-flag-failed".to_owned(),
            data: Bytes::from_static(&[0x42; 32]),
        }),
        Message::GetHeaders(BlockLocator {
            version: 70016,
            hashes: (0..3).map(hash).collect(),
            stop: [0; 32],
        }),
        Message::GetBlocks(BlockLocator {
            version: 70016,
            hashes: vec![hash(9)],
            stop: hash(10),
        }),
        Message::Headers(vec![header(1), header(2)]),
        Message::SendHeaders,
        Message::SendAddrV2,
        Message::WtxidRelay,
        Message::SendCustom(vec![
            Command::new("chainvote").unwrap(),
            Command::new("x").unwrap(),
        ]),
        Message::FeeFilter(1000),
        Message::Block(Bytes::from_static(b"not really a block")),
        Message::Tx(Bytes::from_static(&[1, 0, 0, 0, 0])),
        Message::Unknown {
            command: Command::new("sendcmpct").unwrap(),
            payload: Bytes::from_static(&[0, 2, 0, 0, 0, 0, 0, 0, 0]),
        },
    ]
}

/// Every command whose decoding round-trips (`addrv2` drops entries of unknown
/// networks when re-encoded, and has its own tests).
const ALL_COMMANDS: [Command; 20] = [
    Command::VERSION,
    Command::VERACK,
    Command::PING,
    Command::PONG,
    Command::ADDR,
    Command::GETADDR,
    Command::INV,
    Command::GETDATA,
    Command::NOTFOUND,
    Command::REJECT,
    Command::GETHEADERS,
    Command::GETBLOCKS,
    Command::HEADERS,
    Command::SENDHEADERS,
    Command::SENDADDRV2,
    Command::WTXIDRELAY,
    Command::SENDCUSTOM,
    Command::FEEFILTER,
    Command::BLOCK,
    Command::TX,
];

// ------------------------------------------------- published byte vectors

/// The empty `verack` frame; its checksum 5df6e0e2 is SHA-256d of nothing.
const VERACK_FRAME: &str = "f9beb4d9 76657261636b000000000000 00000000 5df6e0e2";

/// Full mainnet `version` frame. The payload is the annotated hexdump in the
/// Bitcoin developer reference (P2P networking, "version": protocol 70002,
/// user agent "/Satoshi:0.9.3/", start height 329167); the same bytes with
/// this header (checksum 5f1a69d2) are the NetworkEnvelope vector in
/// "Programming Bitcoin" (Song, ch. 10).
const VERSION_FRAME: &str = "
    f9beb4d9 76657273696f6e0000000000 65000000 5f1a69d2
    72110100
    0100000000000000
    bc8f5e5400000000
    0100000000000000 00000000000000000000ffffc61b6409 208d
    0100000000000000 00000000000000000000ffffcb0071c0 208d
    128035cbc97953f8
    0f 2f5361746f7368693a302e392e332f
    cf050500
    01";

/// Mainnet `inv` frame carrying the developer reference's two-entry MSG_TX
/// hexdump (the reference omits the header; this header, checksum 6467a090,
/// is the one published alongside it in independent implementations' tests).
const INV_FRAME: &str = "
    f9beb4d9 696e76000000000000000000 49000000 6467a090
    02
    01000000 de55ffd709ac1f5dc509a0925d0b1fc442ca034f224732e429081da1b621f55a
    01000000 91d36d997037e08018262978766f24b8a055aaf1d872e94ae85e9817b2c68dc7";

/// `getdata` payload from "Programming Bitcoin" (ch. 12): two
/// MSG_FILTERED_BLOCK requests.
const GETDATA_PAYLOAD: &str = "
    02
    03000000 30eb2540c41025690160a1014c577061596e32e426b712c7ca00000000000000
    03000000 1049847939585b0652fba793661c361223446b6fc41089b8be00000000000000";

/// `addr` frame from the Bitcoin wiki protocol documentation hexdump:
/// one entry, 10.0.0.1:8333, NODE_NETWORK, time 0x4d1015e2.
const ADDR_FRAME_WIKI: &str = "
    f9beb4d9 616464720000000000000000 1f000000 ed52399b
    01
    e215104d 0100000000000000 00000000000000000000ffff0a000001 208d";

/// Two-entry `addr` frame captured from Bitcoin Core on mainnet (published in
/// the ScaleChain project's codec tests).
const ADDR_FRAME_CAPTURED: &str = "
    f9beb4d9 616464720000000000000000 3d000000 831b149c
    02
    5634ab56 0100000000000000 00000000000000000000ffff3dae7ef8 208d
    5536ab56 0100000000000000 00000000000000000000ffff2d21553a 208d";

/// Mainnet `reject` frame from NBitcoin's test suite: "tx" rejected as
/// duplicate (0x12), reason "bad-txns-inputs-spent", data = the txid.
const REJECT_FRAME: &str = "
    f9beb4d9 72656a656374000000000000 3a000000 db7f7e78
    02 7478
    12
    15 6261642d74786e732d696e707574732d7370656e74
    577a9694da4ff41ae999f6591cff3749ad6a7db19435f3d8af5fecbcff824196";

/// `getheaders` payload from "Programming Bitcoin" (ch. 10): protocol 70015,
/// one locator hash, zero stop hash.
const GETHEADERS_PAYLOAD: &str = "7f11010001a35bd0ca2f4a88c4eda6d213e2378a5758dfcd6af437120000000000000000000000000000000000000000000000000000000000000000000000000000000000";

/// Block whose hash is the locator entry above, in display (reversed) order.
const GETHEADERS_START_BLOCK: &str =
    "0000000000000000001237f46acddf58578a37e213d2a6edc4884a2fcad05ba3";

/// `headers` payload from "Programming Bitcoin" (ch. 10): two testnet headers,
/// each followed by a zero tx count.
const HEADERS_PAYLOAD: &str = "0200000020df3b053dc46f162a9b00c7f0d5124e2676d47bbe7c5d0793a500000000000000ef445fef2ed495c275892206ca533e7411907971013ab83e3b47bd0d692d14d4dc7c835b67d8001ac157e670000000002030eb2540c41025690160a1014c577061596e32e426b712c7ca00000000000000768b89f07044e6130ead292a3f51951adbd2202df447d98789339937fd006bd44880835b67d8001ade09204600";

#[test]
fn vector_verack_frame() {
    let bytes = hex(VERACK_FRAME);
    let frame = decode_single_frame(MAINNET_MAGIC, &bytes);
    assert_eq!(frame.command, Command::VERACK);
    assert!(frame.payload.is_empty());
    assert_eq!(frame.into_message(), Ok(Message::Verack));
    assert_eq!(Message::Verack.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);
    assert_eq!(sha256d(&[])[..4], [0x5d, 0xf6, 0xe0, 0xe2]);
}

#[test]
fn vector_version_frame() {
    let bytes = hex(VERSION_FRAME);
    assert_eq!(bytes.len(), HEADER_LEN + 101);
    let frame = decode_single_frame(MAINNET_MAGIC, &bytes);
    assert_eq!(frame.command, Command::VERSION);
    let msg = frame.into_message().unwrap();
    let Message::Version(v) = &msg else {
        panic!("not a version: {msg:?}")
    };
    assert_eq!(v.version, 70002);
    assert_eq!(v.services, 1);
    assert_eq!(v.timestamp, 1_415_483_324);
    assert_eq!(
        v.receiver,
        NetAddress {
            services: 1,
            ip: mapped(198, 27, 100, 9),
            port: 8333
        }
    );
    assert_eq!(
        v.receiver.socket_addr(),
        "198.27.100.9:8333".parse().unwrap()
    );
    assert_eq!(
        v.sender,
        NetAddress {
            services: 1,
            ip: mapped(203, 0, 113, 192),
            port: 8333
        }
    );
    assert_eq!(v.nonce, 0xf853_79c9_cb35_8012);
    assert_eq!(v.user_agent, "/Satoshi:0.9.3/");
    assert_eq!(v.start_height, 329_167);
    assert!(v.relay);
    assert_eq!(msg.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);
}

#[test]
fn vector_inv_frame() {
    let bytes = hex(INV_FRAME);
    let frame = decode_single_frame(MAINNET_MAGIC, &bytes);
    assert_eq!(frame.command, Command::INV);
    let msg = frame.into_message().unwrap();
    assert_eq!(
        msg,
        Message::Inv(vec![
            Inventory {
                kind: InvKind::TX,
                hash: hash_from_hex(
                    "de55ffd709ac1f5dc509a0925d0b1fc442ca034f224732e429081da1b621f55a"
                ),
            },
            Inventory {
                kind: InvKind::TX,
                hash: hash_from_hex(
                    "91d36d997037e08018262978766f24b8a055aaf1d872e94ae85e9817b2c68dc7"
                ),
            },
        ])
    );
    assert_eq!(msg.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);
}

#[test]
fn vector_getdata() {
    let payload = hex(GETDATA_PAYLOAD);
    let msg = decode(Command::GETDATA, &payload).unwrap();
    let expected = Message::GetData(vec![
        Inventory {
            kind: InvKind::FILTERED_BLOCK,
            hash: hash_from_hex("30eb2540c41025690160a1014c577061596e32e426b712c7ca00000000000000"),
        },
        Inventory {
            kind: InvKind::FILTERED_BLOCK,
            hash: hash_from_hex("1049847939585b0652fba793661c361223446b6fc41089b8be00000000000000"),
        },
    ]);
    assert_eq!(msg, expected);
    assert_eq!(payload_of(&msg), payload);

    // As a frame: same body, getdata header.
    let frame = msg.to_frame(MAINNET_MAGIC);
    assert_eq!(&frame[..16], &hex("f9beb4d9 676574646174610000000000")[..]);
    assert_eq!(&frame[16..20], &(payload.len() as u32).to_le_bytes());
    assert_eq!(&frame[20..24], &sha256d(&payload)[..4]);
    assert_eq!(&frame[24..], &payload[..]);
    assert_eq!(
        decode_single_frame(MAINNET_MAGIC, &frame).into_message(),
        Ok(expected)
    );
}

#[test]
fn vector_addr_frames() {
    let bytes = hex(ADDR_FRAME_WIKI);
    let msg = decode_single_frame(MAINNET_MAGIC, &bytes)
        .into_message()
        .unwrap();
    assert_eq!(
        msg,
        Message::Addr(vec![TimestampedAddress {
            time: 0x4d10_15e2,
            addr: NetAddress {
                services: 1,
                ip: mapped(10, 0, 0, 1),
                port: 8333
            },
        }])
    );
    assert_eq!(msg.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);

    let bytes = hex(ADDR_FRAME_CAPTURED);
    let msg = decode_single_frame(MAINNET_MAGIC, &bytes)
        .into_message()
        .unwrap();
    let Message::Addr(addrs) = &msg else {
        panic!("not addr: {msg:?}")
    };
    assert_eq!(addrs.len(), 2);
    assert_eq!(addrs[0].time, 0x56ab_3456);
    assert_eq!(
        addrs[0].addr.socket_addr(),
        "61.174.126.248:8333".parse().unwrap()
    );
    assert_eq!(
        addrs[1].addr.socket_addr(),
        "45.33.85.58:8333".parse().unwrap()
    );
    assert_eq!(msg.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);
}

#[test]
fn vector_reject_frame() {
    let bytes = hex(REJECT_FRAME);
    let msg = decode_single_frame(MAINNET_MAGIC, &bytes)
        .into_message()
        .unwrap();
    let Message::Reject(reject) = &msg else {
        panic!("not reject: {msg:?}")
    };
    assert_eq!(reject.message, "tx");
    assert_eq!(reject.code, 0x12);
    assert_eq!(reject.reason, "bad-txns-inputs-spent");
    assert_eq!(
        reject.data.as_ref(),
        &hex("577a9694da4ff41ae999f6591cff3749ad6a7db19435f3d8af5fecbcff824196")[..]
    );
    assert_eq!(msg.to_frame(MAINNET_MAGIC).as_ref(), &bytes[..]);
}

#[test]
fn vector_getheaders_and_headers() {
    let payload = hex(GETHEADERS_PAYLOAD);
    let msg = decode(Command::GETHEADERS, &payload).unwrap();
    assert_eq!(
        msg,
        Message::GetHeaders(BlockLocator {
            version: 70015,
            hashes: vec![{
                let mut h = hash_from_hex(GETHEADERS_START_BLOCK);
                h.reverse();
                h
            }],
            stop: [0; 32],
        })
    );
    assert_eq!(payload_of(&msg), payload);

    let payload = hex(HEADERS_PAYLOAD);
    let shared = Bytes::from(payload.clone());
    let msg = Message::decode(Command::HEADERS, shared.clone()).unwrap();
    let Message::Headers(headers) = &msg else {
        panic!("not headers: {msg:?}")
    };
    assert_eq!(headers.len(), 2);
    assert_eq!(headers[0].as_ref(), &payload[1..81]);
    assert_eq!(headers[1].as_ref(), &payload[82..162]);
    // Zero-copy: the headers point into the received payload.
    assert_eq!(headers[0].as_ptr(), shared[1..].as_ptr());
    assert_eq!(payload_of(&msg), payload);
}

// ------------------------------------------------------------ round trips

#[test]
fn every_sample_round_trips_through_payload_and_frame() {
    let mut stream = BytesMut::new();
    for msg in samples() {
        let payload = payload_of(&msg);
        assert_eq!(
            decode(msg.command(), &payload).as_ref(),
            Ok(&msg),
            "{}",
            msg.command()
        );
        let frame = msg.to_frame(TESTNET4_MAGIC);
        let mut via_encode_frame = Vec::new();
        encode_frame(
            TESTNET4_MAGIC,
            msg.command(),
            &payload,
            &mut via_encode_frame,
        );
        assert_eq!(frame.as_ref(), &via_encode_frame[..]);
        stream.extend_from_slice(&frame);
    }
    // All frames back to back in one buffer decode in order.
    let mut decoder = FrameDecoder::with_default_limit(TESTNET4_MAGIC);
    for msg in samples() {
        match decoder.decode(&mut stream) {
            Ok(Some(DecodedFrame::Frame(frame))) => assert_eq!(frame.into_message(), Ok(msg)),
            other => panic!("expected a frame, got {other:?}"),
        }
    }
    assert_eq!(decoder.decode(&mut stream), Ok(None));
    assert!(stream.is_empty());
}

#[test]
fn empty_and_max_size_lists_round_trip() {
    let messages = vec![
        Message::Addr(vec![]),
        Message::Addr((0..MAX_ADDR_ENTRIES as u32).map(ts_addr).collect()),
        Message::Inv(vec![]),
        Message::Inv((0..MAX_INV_ENTRIES as u32).map(inv).collect()),
        Message::GetData(vec![]),
        Message::GetData((0..MAX_INV_ENTRIES as u32).map(inv).collect()),
        Message::NotFound(vec![]),
        Message::NotFound((0..MAX_INV_ENTRIES as u32).map(inv).collect()),
        Message::Headers(vec![]),
        Message::Headers((0..MAX_HEADERS as u32).map(header).collect()),
        Message::GetHeaders(BlockLocator {
            version: 1,
            hashes: vec![],
            stop: hash(1),
        }),
        Message::GetHeaders(BlockLocator {
            version: 1,
            hashes: (0..MAX_LOCATOR_HASHES as u32).map(hash).collect(),
            stop: [0; 32],
        }),
        Message::GetBlocks(BlockLocator {
            version: 2,
            hashes: (0..MAX_LOCATOR_HASHES as u32).map(hash).collect(),
            stop: hash(2),
        }),
        Message::Version(VersionMessage {
            user_agent: "x".repeat(MAX_USER_AGENT_LEN),
            relay: true,
            ..sample_version()
        }),
        Message::Version(VersionMessage {
            user_agent: String::new(),
            ..sample_version()
        }),
        Message::Reject(RejectMessage {
            message: String::new(),
            code: 0,
            reason: String::new(),
            data: Bytes::new(),
        }),
        Message::Block(Bytes::new()),
        Message::Tx(Bytes::new()),
    ];
    for msg in messages {
        let frame = msg.to_frame(MAINNET_MAGIC);
        let decoded = decode_single_frame(MAINNET_MAGIC, &frame).into_message();
        assert_eq!(decoded.as_ref(), Ok(&msg), "{}", msg.command());
    }
}

#[test]
fn block_and_tx_payloads_are_not_copied() {
    let payload = Bytes::from(vec![7u8; 1000]);
    for command in [Command::BLOCK, Command::TX] {
        match Message::decode(command, payload.clone()) {
            Ok(Message::Block(body) | Message::Tx(body)) => {
                assert_eq!(body.as_ptr(), payload.as_ptr());
                assert_eq!(body.len(), payload.len());
            }
            other => panic!("{command}: {other:?}"),
        }
    }
}

#[test]
fn unknown_commands_pass_through_and_never_error() {
    for name in ["", "sendcmpct", "cmpctblock", "version2", "VERSION", "x y"] {
        let command = Command::new(name).unwrap();
        let payload = Bytes::from_static(&[0xFF, 0xFE, 0xFD]);
        assert_eq!(
            Message::decode(command, payload.clone()),
            Ok(Message::Unknown { command, payload })
        );
    }
}

#[test]
fn trailing_bytes_after_fixed_payloads_are_ignored() {
    for msg in samples() {
        if matches!(
            msg,
            Message::Reject(_) | Message::Block(_) | Message::Tx(_) | Message::Unknown { .. }
        ) {
            continue;
        }
        let mut payload = payload_of(&msg);
        payload.extend_from_slice(&[0xFF, 0x00, 0x13, 0x37]);
        assert_eq!(
            decode(msg.command(), &payload).as_ref(),
            Ok(&msg),
            "{}",
            msg.command()
        );
    }
}

// ------------------------------------------------------- malformed frames

#[test]
fn short_frame_waits_until_complete() {
    let bytes = hex(VERSION_FRAME);
    let mut decoder = FrameDecoder::new(MAINNET_MAGIC, 1_000);
    let mut buf = BytesMut::new();
    for (i, &byte) in bytes.iter().enumerate() {
        assert_eq!(decoder.decode(&mut buf), Ok(None), "prefix of {i} bytes");
        assert_eq!(buf.len(), i, "nothing consumed while incomplete");
        let expect_pending = (i >= HEADER_LEN).then_some(bytes.len());
        assert_eq!(decoder.pending_frame_len(), expect_pending);
        buf.extend_from_slice(&[byte]);
    }
    match decoder.decode(&mut buf) {
        Ok(Some(DecodedFrame::Frame(frame))) => assert_eq!(frame.command, Command::VERSION),
        other => panic!("expected the frame, got {other:?}"),
    }
    assert!(buf.is_empty());
    assert_eq!(decoder.pending_frame_len(), None);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
}

#[test]
fn wrong_magic_is_fatal() {
    let frame = Message::Verack.to_frame(TESTNET3_MAGIC);
    let mut decoder = FrameDecoder::with_default_limit(MAINNET_MAGIC);
    let err = decoder.decode(&mut BytesMut::from(&frame[..])).unwrap_err();
    assert_eq!(
        err,
        FrameError::WrongMagic {
            expected: MAINNET_MAGIC,
            got: TESTNET3_MAGIC
        }
    );
    assert_eq!(
        err.to_string(),
        "wrong network magic: expected 0xd9b4bef9, got 0x0709110b"
    );
}

#[test]
fn bad_checksum_drops_the_frame_and_decoding_continues() {
    let mut first = Message::Ping(1).to_frame(MAINNET_MAGIC).to_vec();
    first[HEADER_LEN] ^= 0x01; // corrupt the payload, not the header
    let second = Message::Pong(2).to_frame(MAINNET_MAGIC);
    let mut buf = BytesMut::new();
    buf.extend_from_slice(&first);
    buf.extend_from_slice(&second);

    let mut decoder = FrameDecoder::with_default_limit(MAINNET_MAGIC);
    assert_eq!(
        decoder.decode(&mut buf),
        Ok(Some(DecodedFrame::BadChecksum {
            command: Command::PING,
            length: 8
        }))
    );
    assert_eq!(buf.len(), second.len());
    match decoder.decode(&mut buf) {
        Ok(Some(DecodedFrame::Frame(frame))) => {
            assert_eq!(frame.into_message(), Ok(Message::Pong(2)))
        }
        other => panic!("expected pong, got {other:?}"),
    }
    assert!(buf.is_empty());
}

#[test]
fn oversized_length_is_fatal_from_the_header_alone() {
    let mut header = Message::Verack.to_frame(MAINNET_MAGIC).to_vec();
    header[16..20].copy_from_slice(&1_001u32.to_le_bytes());
    let mut decoder = FrameDecoder::new(MAINNET_MAGIC, 1_000);
    let err = decoder
        .decode(&mut BytesMut::from(&header[..]))
        .unwrap_err();
    assert_eq!(
        err,
        FrameError::Oversized {
            length: 1_001,
            max: 1_000
        }
    );
    assert_eq!(
        err.to_string(),
        "frame payload of 1001 bytes exceeds the 1000-byte limit"
    );

    // Exactly at the limit is allowed (it just waits for the payload).
    header[16..20].copy_from_slice(&1_000u32.to_le_bytes());
    let mut decoder = FrameDecoder::new(MAINNET_MAGIC, 1_000);
    assert_eq!(decoder.decode(&mut BytesMut::from(&header[..])), Ok(None));
    assert_eq!(decoder.pending_frame_len(), Some(1_024));

    // One past the default (Bitcoin Core's MAX_SIZE) is refused too.
    header[16..20].copy_from_slice(&(DEFAULT_MAX_MESSAGE_SIZE as u32 + 1).to_le_bytes());
    let mut decoder = FrameDecoder::with_default_limit(MAINNET_MAGIC);
    assert!(matches!(
        decoder.decode(&mut BytesMut::from(&header[..])),
        Err(FrameError::Oversized { .. })
    ));
}

#[test]
fn malformed_command_bytes_are_fatal() {
    let bad_commands: [&[u8; 12]; 5] = [
        b"ver\xe4ck\0\0\0\0\0\0", // non-ASCII
        b"verack\0\0\0\0\0x",     // junk after the NUL padding
        b"\0verack\0\0\0\0\0",    // name after a leading NUL
        b"ver\nack\0\0\0\0\0",    // control character
        b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff",
    ];
    for command in bad_commands {
        let mut frame = Message::Verack.to_frame(MAINNET_MAGIC).to_vec();
        frame[4..16].copy_from_slice(command);
        let mut decoder = FrameDecoder::with_default_limit(MAINNET_MAGIC);
        assert_eq!(
            decoder.decode(&mut BytesMut::from(&frame[..])),
            Err(FrameError::MalformedCommand),
            "{command:02x?}"
        );
    }
}

// ----------------------------------------------------- malformed payloads

#[test]
fn list_counts_over_the_limits_are_rejected() {
    let cases: [(Command, &'static str, usize, usize); 7] = [
        (Command::INV, "inv", MAX_INV_ENTRIES, Inventory::ENCODED_LEN),
        (
            Command::GETDATA,
            "getdata",
            MAX_INV_ENTRIES,
            Inventory::ENCODED_LEN,
        ),
        (
            Command::NOTFOUND,
            "notfound",
            MAX_INV_ENTRIES,
            Inventory::ENCODED_LEN,
        ),
        (
            Command::ADDR,
            "addr",
            MAX_ADDR_ENTRIES,
            TimestampedAddress::ENCODED_LEN,
        ),
        (Command::HEADERS, "headers", MAX_HEADERS, 81),
        (Command::GETHEADERS, "getheaders", MAX_LOCATOR_HASHES, 32),
        (Command::GETBLOCKS, "getblocks", MAX_LOCATOR_HASHES, 32),
    ];
    for (command, name, max, entry_len) in cases {
        let over = max as u64 + 1;
        let locator = matches!(name, "getheaders" | "getblocks");
        let mut payload = if locator {
            70016u32.to_le_bytes().to_vec()
        } else {
            Vec::new()
        };
        payload.extend(count_prefix(over));
        // Count alone, and count with every entry (all-zero entries are
        // well-formed for every list type) actually present.
        let expected = Err(PayloadError::TooManyEntries {
            command: name,
            count: over,
            max,
        });
        assert_eq!(decode(command, &payload), expected, "{name}, count only");
        payload.resize(payload.len() + (max + 1) * entry_len + 32, 0);
        assert_eq!(
            decode(command, &payload),
            expected,
            "{name}, entries present"
        );
        // The same layout at exactly the limit decodes.
        let mut at_limit = if locator {
            70016u32.to_le_bytes().to_vec()
        } else {
            Vec::new()
        };
        at_limit.extend(count_prefix(max as u64));
        at_limit.resize(at_limit.len() + max * entry_len + 32, 0);
        assert!(decode(command, &at_limit).is_ok(), "{name} at the limit");
    }
    let err = decode(Command::INV, &count_prefix(50_001)).unwrap_err();
    assert_eq!(err.to_string(), "inv has 50001 entries, limit 50000");
}

#[test]
fn non_canonical_and_oversized_compact_sizes_are_rejected() {
    // 1 encoded in three bytes, as a list count.
    let mut inv_payload = vec![0xFD, 0x01, 0x00];
    inv_payload.extend_from_slice(&[0u8; 36]);
    for command in [
        Command::INV,
        Command::GETDATA,
        Command::NOTFOUND,
        Command::ADDR,
        Command::HEADERS,
    ] {
        assert_eq!(
            decode(command, &inv_payload),
            Err(PayloadError::NonCanonicalCompactSize),
            "{command}"
        );
    }
    let mut locator = 1u32.to_le_bytes().to_vec();
    locator.extend_from_slice(&[0xFE, 0x01, 0x00, 0x00, 0x00]);
    assert_eq!(
        decode(Command::GETHEADERS, &locator),
        Err(PayloadError::NonCanonicalCompactSize)
    );

    // Non-canonical user-agent length.
    let mut version = payload_of(&Message::Version(VersionMessage {
        user_agent: String::new(),
        ..sample_version()
    }));
    version.splice(80..81, [0xFD, 0x00, 0x00]);
    assert_eq!(
        decode(Command::VERSION, &version),
        Err(PayloadError::NonCanonicalCompactSize)
    );

    // Non-canonical tx count after a header.
    let mut headers = vec![0x01];
    headers.extend_from_slice(&[0u8; 80]);
    headers.extend_from_slice(&[0xFD, 0x00, 0x00]);
    assert_eq!(
        decode(Command::HEADERS, &headers),
        Err(PayloadError::NonCanonicalCompactSize)
    );

    // Non-canonical reject string length.
    assert_eq!(
        decode(Command::REJECT, &[0xFD, 0x02, 0x00, b't', b'x', 0x10, 0x00]),
        Err(PayloadError::NonCanonicalCompactSize)
    );

    // Above MAX_SIZE: reported as too large before any limit check.
    assert_eq!(
        decode(Command::INV, &[0xFE, 0x01, 0x00, 0x00, 0x02]),
        Err(PayloadError::CompactSizeTooLarge { value: 0x0200_0001 })
    );
    assert_eq!(
        decode(Command::INV, &[0xFF, 0, 0, 0, 0, 0, 0, 0, 0x80]),
        Err(PayloadError::CompactSizeTooLarge { value: 1 << 63 })
    );
}

/// Where a payload of each sample stops being a valid message when cut
/// short: the full length for most, one byte less for `version` (the relay
/// flag is optional) and the end of `reason` for `reject` (data is whatever
/// remains). `None` for messages without structure.
fn shortest_valid_len(msg: &Message) -> Option<usize> {
    let full = payload_of(msg).len();
    match msg {
        Message::Verack
        | Message::GetAddr
        | Message::SendHeaders
        | Message::SendAddrV2
        | Message::WtxidRelay => None,
        Message::Block(_) | Message::Tx(_) | Message::Unknown { .. } => None,
        Message::Version(_) => Some(full - 1),
        Message::Reject(reject) => Some(full - reject.data.len()),
        _ => Some(full),
    }
}

#[test]
fn truncated_payloads_of_every_message_type_are_errors() {
    let mut structured = 0;
    for msg in samples() {
        let Some(shortest) = shortest_valid_len(&msg) else {
            continue;
        };
        structured += 1;
        let payload = Bytes::from(payload_of(&msg));
        let name = msg.command().as_str().to_owned();
        for len in 0..payload.len() {
            let result = Message::decode(msg.command(), payload.slice(..len));
            if len < shortest {
                match result {
                    Err(PayloadError::Truncated { command }) => assert_eq!(command, name),
                    other => panic!("{name} cut to {len} bytes: expected Truncated, got {other:?}"),
                }
            } else {
                assert!(result.is_ok(), "{name} cut to {len} bytes: {result:?}");
            }
        }
    }
    assert_eq!(structured, 13, "every structured message type was covered");
}

#[test]
fn user_agent_over_256_bytes_is_rejected() {
    let long = Message::Version(VersionMessage {
        user_agent: "u".repeat(MAX_USER_AGENT_LEN + 1),
        ..sample_version()
    });
    let payload = payload_of(&long);
    let err = decode(Command::VERSION, &payload).unwrap_err();
    assert_eq!(err, PayloadError::UserAgentTooLong { length: 257 });
    assert_eq!(err.to_string(), "user agent is 257 bytes, limit 256");

    // The length is checked before the bytes: a huge claim with nothing
    // behind it is still "too long", not an allocation.
    let mut claim = payload[..80].to_vec();
    claim.extend_from_slice(&[0xFE, 0x00, 0x00, 0x00, 0x01]);
    assert_eq!(
        decode(Command::VERSION, &claim),
        Err(PayloadError::UserAgentTooLong {
            length: 0x0100_0000
        })
    );
}

#[test]
fn strings_must_be_valid_utf8() {
    let mut version = payload_of(&Message::Version(sample_version()));
    version[81] = 0xFF; // first user-agent byte
    assert_eq!(
        decode(Command::VERSION, &version),
        Err(PayloadError::InvalidUtf8 { command: "version" })
    );
    assert_eq!(
        decode(Command::REJECT, &[2, 0xC3, 0x28, 0x10, 0]),
        Err(PayloadError::InvalidUtf8 { command: "reject" })
    );
    assert_eq!(
        decode(Command::REJECT, &[2, b't', b'x', 0x10, 1, 0x80]),
        Err(PayloadError::InvalidUtf8 { command: "reject" })
    );
}

#[test]
fn reject_string_lengths_are_bounded_by_the_payload() {
    assert_eq!(
        decode(Command::REJECT, &[0x20, b't', b'x']),
        Err(PayloadError::Truncated { command: "reject" })
    );
    assert_eq!(
        decode(
            Command::REJECT,
            &[2, b't', b'x', 0x10, 0xFD, 0x00, 0x01, b'x']
        ),
        Err(PayloadError::Truncated { command: "reject" })
    );
}

// ------------------------------------------------------------- allocation

#[test]
fn inv_claiming_50000_entries_with_three_present_is_truncated() {
    let three = payload_of(&Message::Inv((0..3).map(inv).collect()));
    let mut payload = count_prefix(MAX_INV_ENTRIES as u64);
    payload.extend_from_slice(&three[1..]);
    assert_eq!(payload.len(), 3 + 3 * 36);
    for command in [Command::INV, Command::GETDATA, Command::NOTFOUND] {
        assert_eq!(
            decode(command, &payload),
            Err(PayloadError::Truncated {
                command: match command.as_str() {
                    "inv" => "inv",
                    "getdata" => "getdata",
                    _ => "notfound",
                }
            })
        );
    }
    // The list was sized from the bytes present, not from the claim.
    assert_eq!(encoding::capacity_hint(MAX_INV_ENTRIES, 3 * 36, 36), 3);
}

#[test]
fn frame_header_claiming_32_mib_does_not_reserve_it() {
    let mut bytes = frame_header(MAINNET_MAGIC, Command::BLOCK, &[]).to_vec();
    bytes[16..20].copy_from_slice(&(DEFAULT_MAX_MESSAGE_SIZE as u32).to_le_bytes());
    bytes.extend_from_slice(&[0u8; 10]);
    let mut buf = BytesMut::from(&bytes[..]);
    let mut decoder = FrameDecoder::with_default_limit(MAINNET_MAGIC);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(
        buf.capacity() < 1024 * 1024,
        "capacity grew to {}",
        buf.capacity()
    );
    assert_eq!(buf.len(), HEADER_LEN + 10);
    assert_eq!(
        decoder.pending_frame_len(),
        Some(HEADER_LEN + DEFAULT_MAX_MESSAGE_SIZE)
    );
    // Still waiting after more (but not all) bytes arrive.
    buf.extend_from_slice(&[0u8; 1000]);
    assert_eq!(decoder.decode(&mut buf), Ok(None));
    assert!(buf.capacity() < 1024 * 1024);
}

// ------------------------------------------------ randomized no-panic test

/// xorshift64* — deterministic, dependency-free, good enough to shake out
/// panics.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next() as u8).collect()
    }

    /// Random bytes biased toward the values parsers branch on.
    fn interesting_bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| match self.below(8) {
                0 => 0,
                1 => 0xFD,
                2 => 0xFE,
                3 => 0xFF,
                4 => self.below(4) as u8,
                _ => self.next() as u8,
            })
            .collect()
    }
}

fn mutate(rng: &mut XorShift, mut data: Vec<u8>) -> Vec<u8> {
    for _ in 0..=rng.below(4) {
        match rng.below(5) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            1 => data.truncate(rng.below(data.len() + 1)),
            2 => {
                let i = rng.below(data.len() + 1);
                let extra_len = rng.below(12);
                let extra = rng.interesting_bytes(extra_len);
                data.splice(i..i, extra);
            }
            3 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            _ => {}
        }
    }
    data
}

#[test]
fn random_payloads_never_panic_and_decoded_messages_round_trip() {
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let seeds: Vec<Vec<u8>> = samples().iter().map(payload_of).collect();
    let unknown = Command::new("unknown").unwrap();
    let mut decoded_ok = 0usize;
    for round in 0..4_000 {
        let data = match round % 3 {
            0 => {
                let len = rng.below(160);
                rng.bytes(len)
            }
            1 => {
                let len = rng.below(160);
                rng.interesting_bytes(len)
            }
            _ => {
                let seed = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, seed)
            }
        };
        let payload = Bytes::from(data);
        for command in ALL_COMMANDS.into_iter().chain([unknown]) {
            if let Ok(msg) = Message::decode(command, payload.clone()) {
                decoded_ok += 1;
                assert_eq!(msg.command(), command);
                let again = Message::decode(command, Bytes::from(payload_of(&msg)));
                assert_eq!(again.as_ref(), Ok(&msg), "re-decode of {command}");
            }
        }
    }
    assert!(
        decoded_ok > 10_000,
        "the generator reaches successful decodes ({decoded_ok})"
    );
}

#[test]
fn random_streams_never_panic_the_frame_decoder() {
    let mut rng = XorShift(0xD1B5_4A32_D192_ED03);
    let frames: Vec<Bytes> = samples()
        .iter()
        .map(|m| m.to_frame(MAINNET_MAGIC))
        .collect();
    let mut outcomes = [0usize; 4]; // frames, bad checksums, errors, waits
    for _ in 0..3_000 {
        // Build a stream from valid frames, corrupted frames and garbage.
        let mut stream = Vec::new();
        for _ in 0..=rng.below(4) {
            match rng.below(6) {
                0 => {
                    let len = rng.below(40);
                    stream.extend(rng.bytes(len));
                }
                1 => {
                    let frame = frames[rng.below(frames.len())].to_vec();
                    stream.extend(mutate(&mut rng, frame));
                }
                2 => {
                    // A header with random fields behind the right magic.
                    stream.extend_from_slice(&MAINNET_MAGIC.to_le_bytes());
                    let len = rng.below(40);
                    stream.extend(rng.interesting_bytes(len));
                }
                _ => stream.extend_from_slice(&frames[rng.below(frames.len())]),
            }
        }
        let max_payload = if rng.below(2) == 0 {
            64
        } else {
            DEFAULT_MAX_MESSAGE_SIZE as u32
        };
        let mut decoder = FrameDecoder::new(MAINNET_MAGIC, max_payload);
        let mut buf = BytesMut::new();
        let mut fed = 0;
        'stream: while fed < stream.len() {
            let chunk = (1 + rng.below(64)).min(stream.len() - fed);
            buf.extend_from_slice(&stream[fed..fed + chunk]);
            fed += chunk;
            loop {
                let before = buf.len();
                match decoder.decode(&mut buf) {
                    Ok(Some(decoded)) => {
                        assert!(
                            before - buf.len() >= HEADER_LEN,
                            "a frame consumes its header"
                        );
                        match decoded {
                            DecodedFrame::Frame(frame) => {
                                outcomes[0] += 1;
                                let _ = frame.into_message();
                            }
                            DecodedFrame::BadChecksum { .. } => outcomes[1] += 1,
                        }
                    }
                    Ok(None) => {
                        assert_eq!(buf.len(), before, "waiting consumes nothing");
                        outcomes[3] += 1;
                        break;
                    }
                    Err(_) => {
                        outcomes[2] += 1;
                        break 'stream;
                    }
                }
            }
        }
    }
    assert!(
        outcomes.iter().all(|&n| n > 0),
        "every outcome was exercised: {outcomes:?}"
    );
}

#[test]
fn valid_streams_split_at_random_points_decode_every_frame() {
    let mut rng = XorShift(42);
    let msgs = samples();
    for _ in 0..200 {
        let picked: Vec<&Message> = (0..1 + rng.below(6))
            .map(|_| &msgs[rng.below(msgs.len())])
            .collect();
        let stream: Vec<u8> = picked
            .iter()
            .flat_map(|m| m.to_frame(REGTEST_MAGIC).to_vec())
            .collect();
        let mut decoder = FrameDecoder::with_default_limit(REGTEST_MAGIC);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut fed = 0;
        while fed < stream.len() {
            let chunk = (1 + rng.below(100)).min(stream.len() - fed);
            buf.extend_from_slice(&stream[fed..fed + chunk]);
            fed += chunk;
            while let Some(decoded) = decoder.decode(&mut buf).unwrap() {
                match decoded {
                    DecodedFrame::Frame(frame) => out.push(frame.into_message().unwrap()),
                    DecodedFrame::BadChecksum { .. } => panic!("valid stream had a bad checksum"),
                }
            }
        }
        assert!(buf.is_empty());
        assert_eq!(out.iter().collect::<Vec<_>>(), picked);
    }
}

#[test]
fn feefilter_is_eight_bytes_of_satoshis_per_kvb() {
    let message = Message::FeeFilter(1_000);
    let frame = message.to_frame(0xDAB5_BFFA);
    assert_eq!(&frame[HEADER_LEN..], &1_000i64.to_le_bytes());
    let payload = frame.slice(HEADER_LEN..);
    assert_eq!(
        Message::decode(Command::FEEFILTER, payload.clone()),
        Ok(message)
    );
    assert!(Message::decode(Command::FEEFILTER, payload.slice(..7)).is_err());
}

// ---------------------------------------------------------------- streaming checksum

/// Feeds `bytes` to one decoder `chunk` bytes at a time, as reads would deliver them.
fn decode_in_chunks(bytes: &[u8], chunk: usize) -> Vec<DecodedFrame> {
    let mut decoder = FrameDecoder::new(0xDAB5_BFFA, DEFAULT_MAX_MESSAGE_SIZE as u32);
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for piece in bytes.chunks(chunk) {
        buf.extend_from_slice(piece);
        while let Some(decoded) = decoder.decode(&mut buf).unwrap() {
            out.push(decoded);
        }
    }
    assert!(buf.is_empty());
    out
}

#[test]
fn large_payloads_are_checked_as_they_arrive_with_the_same_outcome() {
    let payload: Vec<u8> = (0..300_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    let mut stream = Vec::new();
    encode_frame(0xDAB5_BFFA, Command::BLOCK, &payload, &mut stream);
    let small = b"a small one after it".to_vec();
    encode_frame(0xDAB5_BFFA, Command::TX, &small, &mut stream);
    for chunk in [1_000, 4_096, 65_536, 299_999, stream.len()] {
        let frames = decode_in_chunks(&stream, chunk);
        let [DecodedFrame::Frame(big), DecodedFrame::Frame(tx)] = &frames[..] else {
            panic!("two valid frames expected with {chunk}-byte reads: {frames:?}");
        };
        assert_eq!(big.payload, payload);
        assert_eq!(
            big.to_frame().to_bytes(),
            stream[..HEADER_LEN + payload.len()],
            "kept as received"
        );
        assert_eq!(tx.payload, small);
    }
    // A flipped byte anywhere in the payload is caught, in any chunking.
    for at in [
        HEADER_LEN,
        HEADER_LEN + 150_000,
        HEADER_LEN + payload.len() - 1,
    ] {
        let mut damaged = stream.clone();
        damaged[at] ^= 0x20;
        for chunk in [777, 65_536] {
            let frames = decode_in_chunks(&damaged, chunk);
            assert!(
                matches!(
                    &frames[..],
                    [
                        DecodedFrame::BadChecksum {
                            length: 300_000,
                            ..
                        },
                        DecodedFrame::Frame(_)
                    ]
                ),
                "byte {at}, {chunk}-byte reads: {frames:?}"
            );
        }
    }
}
