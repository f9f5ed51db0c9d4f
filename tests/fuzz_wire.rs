//! Property-based fuzzing of the sans-IO wire codec: the frame decoder and the
//! payload parser of every message, fed arbitrary, mutated and valid input.
//!
//! Each target is a module named for what it fuzzes (`frame_decoder`,
//! `version`, ..., `unknown`), so one target runs with e.g.
//! `cargo test --test fuzz_wire version::`. Case counts are sized for CI (the
//! whole file in a few seconds in the dev profile); set `PROPTEST_CASES` to run
//! every property longer, e.g. `PROPTEST_CASES=100000 cargo test --release
//! --test fuzz_wire`.
//!
//! A counting global allocator measures what decoding allocates, so the
//! properties can check that no length field read off the wire sizes an
//! allocation on its own: memory follows the bytes that actually arrived.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::net::Ipv6Addr;

use bytes::{Bytes, BytesMut};
use p2pnet::wire::encoding::write_compact_size;
use p2pnet::wire::message::BLOCK_HEADER_LEN;
use p2pnet::wire::{
    encode_frame, BlockLocator, Command, DecodedFrame, FrameDecoder, FrameError, InvKind,
    Inventory, Message, NetAddress, PayloadError, RejectMessage, TimestampedAddress,
    VersionMessage, HEADER_LEN, MAINNET_MAGIC, MAX_ADDR_ENTRIES, MAX_HEADERS, MAX_INV_ENTRIES,
    MAX_LOCATOR_HASHES, MAX_USER_AGENT_LEN,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::Config as ProptestConfig;

// ------------------------------------------------------------ allocation meter

/// Counts live heap bytes per thread (proptest runs tests on parallel threads,
/// so a global counter would mix them up).
struct CountingAllocator;

thread_local! {
    static LIVE_BYTES: Cell<isize> = const { Cell::new(0) };
    static PEAK_BYTES: Cell<isize> = const { Cell::new(0) };
}

fn record_allocation(delta: isize) {
    // `try_with`: allocations also happen while thread-locals are torn down.
    let _ = LIVE_BYTES.try_with(|live| {
        let now = live.get().wrapping_add(delta);
        live.set(now);
        let _ = PEAK_BYTES.try_with(|peak| peak.set(peak.get().max(now)));
    });
}

fn signed(size: usize) -> isize {
    isize::try_from(size).unwrap_or(isize::MAX)
}

// SAFETY: every method forwards to the system allocator unchanged and only
// updates thread-local counters, which never allocate (const-initialised).
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            record_allocation(signed(layout.size()));
        }
        ptr
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: forwarded with the caller's layout.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            record_allocation(signed(layout.size()));
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from this allocator with this layout.
        unsafe { System.dealloc(ptr, layout) };
        record_allocation(-signed(layout.size()));
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: forwarded; `ptr` came from this allocator with `layout`.
        let new_ptr = unsafe { System.realloc(ptr, layout, new_size) };
        if !new_ptr.is_null() {
            record_allocation(signed(new_size) - signed(layout.size()));
        }
        new_ptr
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

/// Runs `f` and returns its result with the most heap memory it held at once
/// on this thread (above what was live when it started).
fn peak_heap_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let start = LIVE_BYTES.with(Cell::get);
    PEAK_BYTES.with(|peak| peak.set(start));
    let result = f();
    let peak = PEAK_BYTES.with(Cell::get);
    (result, usize::try_from(peak - start).unwrap_or(0))
}

/// Heap a decoded message may hold beyond twice its payload: the `Vec` and
/// `String` headers and a `Bytes` promotion are a few hundred bytes at most.
const DECODE_HEAP_SLACK: usize = 1024;

/// What one `FrameDecoder::decode` call may allocate: it splits the caller's
/// buffer zero-copy, so only `Bytes` bookkeeping, never payload-sized memory.
const FRAME_DECODE_HEAP_LIMIT: usize = 256;

#[test]
fn allocation_meter_sees_allocations() {
    let (buffer, peak) = peak_heap_during(|| vec![7u8; 10_000]);
    assert!(peak >= 10_000, "meter saw {peak} bytes");
    drop(buffer);
    let ((), peak) = peak_heap_during(|| ());
    assert_eq!(peak, 0);
}

// ------------------------------------------------------------ test settings

/// `default_cases` cases, unless `PROPTEST_CASES` is set (then it wins, so a
/// longer fuzzing run needs no code change).
fn cases(default_cases: u32) -> ProptestConfig {
    let config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_some() {
        config
    } else {
        ProptestConfig {
            cases: default_cases,
            ..config
        }
    }
}

/// Cases per message-parser property.
const PARSER_CASES: u32 = 512;
/// Cases per receive-limit property: the interesting values are few, and a
/// list at the `inv` limit is 1.8 MB.
const LIMIT_CASES: u32 = 24;
/// Cases per frame-decoder property (streams of several frames each).
const FRAME_CASES: u32 = 1024;

const MAGIC: u32 = MAINNET_MAGIC;

// ------------------------------------------------------------ strategies

fn any_hash() -> impl Strategy<Value = [u8; 32]> {
    any::<[u8; 32]>()
}

fn any_bytes(max_len: usize) -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..=max_len)
}

/// A CompactSize field with an interesting value (list limits, the 32 MiB
/// ceiling, tag boundaries) written in a possibly non-canonical width.
fn any_compact_size() -> impl Strategy<Value = Vec<u8>> {
    let value = prop_oneof![
        0u64..=0xFC,
        0xFDu64..=0xFFFF,
        prop::sample::select(vec![
            100u64,
            101,
            102,
            256,
            257,
            1_000,
            1_001,
            2_000,
            2_001,
            50_000,
            50_001,
            0x0200_0000,
            0x0200_0001,
        ]),
        any::<u64>(),
    ];
    let width = prop::sample::select(vec![None, Some(0xFDu8), Some(0xFE), Some(0xFF)]);
    (value, width).prop_map(|(value, width)| match width {
        Some(tag) => {
            let mut field = vec![tag];
            field.extend_from_slice(&value.to_le_bytes()[..compact_size_width(tag)]);
            field
        }
        None => {
            let mut field = Vec::new();
            write_compact_size(&mut field, value);
            field
        }
    })
}

/// Untrusted payloads: plain random bytes, or random bytes with a CompactSize
/// at an offset where a message keeps one (0: list counts and reject strings,
/// 4: block locators, 80: the version user agent), followed by random bytes
/// or by ASCII (which passes the UTF-8 check, so string limits are reached).
fn any_payload() -> impl Strategy<Value = Vec<u8>> {
    let tail = prop_oneof![any_bytes(300), prop::collection::vec(0x20u8..0x7F, 0..=300),];
    prop_oneof![
        any_bytes(400),
        (
            prop::sample::select(vec![0usize, 4, 80]),
            any::<[u8; 80]>(),
            any_compact_size(),
            tail,
        )
            .prop_map(|(offset, head, count, tail)| {
                let mut payload = head[..offset].to_vec();
                payload.extend_from_slice(&count);
                payload.extend_from_slice(&tail);
                payload
            }),
    ]
}

/// Text of at most `max_bytes` UTF-8 bytes, mixing ASCII and multi-byte chars.
fn any_text(max_bytes: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(any::<char>(), 0..=max_bytes).prop_map(move |chars| {
        let mut text = String::new();
        for c in chars {
            if text.len() + c.len_utf8() > max_bytes {
                break;
            }
            text.push(c);
        }
        text
    })
}

fn any_net_address() -> impl Strategy<Value = NetAddress> {
    (any::<u64>(), any::<[u8; 16]>(), any::<u16>()).prop_map(|(services, ip, port)| NetAddress {
        services,
        ip: Ipv6Addr::from(ip),
        port,
    })
}

fn any_version() -> impl Strategy<Value = VersionMessage> {
    (
        (any::<i32>(), any::<u64>(), any::<i64>()),
        (any_net_address(), any_net_address(), any::<u64>()),
        (any_text(MAX_USER_AGENT_LEN), any::<i32>(), any::<bool>()),
    )
        .prop_map(
            |(
                (version, services, timestamp),
                (receiver, sender, nonce),
                (user_agent, start_height, relay),
            )| VersionMessage {
                version,
                services,
                timestamp,
                receiver,
                sender,
                nonce,
                user_agent,
                start_height,
                relay,
            },
        )
}

fn any_inventory_list() -> impl Strategy<Value = Vec<Inventory>> {
    let kind = prop_oneof![
        Just(InvKind::TX),
        Just(InvKind::BLOCK),
        Just(InvKind::WITNESS_TX),
        any::<u32>().prop_map(InvKind),
    ];
    prop::collection::vec(
        (kind, any_hash()).prop_map(|(kind, hash)| Inventory { kind, hash }),
        0..40,
    )
}

fn any_addr_list() -> impl Strategy<Value = Vec<TimestampedAddress>> {
    prop::collection::vec(
        (any::<u32>(), any_net_address())
            .prop_map(|(time, addr)| TimestampedAddress { time, addr }),
        0..40,
    )
}

fn any_reject() -> impl Strategy<Value = RejectMessage> {
    (any_text(40), any::<u8>(), any_text(120), any_bytes(40)).prop_map(
        |(message, code, reason, data)| RejectMessage {
            message,
            code,
            reason,
            data: Bytes::from(data),
        },
    )
}

fn any_locator() -> impl Strategy<Value = BlockLocator> {
    (
        any::<u32>(),
        prop::collection::vec(any_hash(), 0..=MAX_LOCATOR_HASHES),
        any_hash(),
    )
        .prop_map(|(version, hashes, stop)| BlockLocator {
            version,
            hashes,
            stop,
        })
}

fn any_headers() -> impl Strategy<Value = Vec<Bytes>> {
    prop::collection::vec(
        any::<[u8; 80]>().prop_map(|h| Bytes::copy_from_slice(&h)),
        0..24,
    )
}

/// A command no known message uses (the empty name included).
fn any_unknown_command() -> impl Strategy<Value = Command> {
    prop::collection::vec(0x20u8..=0x7E, 0..=12).prop_filter_map("known command", |name| {
        let name = String::from_utf8(name).ok()?;
        let command = Command::new(&name)?;
        (!KNOWN_COMMANDS.contains(&command)).then_some(command)
    })
}

const KNOWN_COMMANDS: [Command; 16] = [
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
    Command::BLOCK,
    Command::TX,
];

/// Any command a peer may put in a header: the known ones and arbitrary names.
fn any_command() -> impl Strategy<Value = Command> {
    prop_oneof![
        prop::sample::select(KNOWN_COMMANDS.to_vec()),
        any_unknown_command(),
    ]
}

/// One edit applied to a valid encoding.
#[derive(Debug, Clone)]
enum Mutation {
    FlipBit(Index, u8),
    SetByte(Index, u8),
    Insert(Index, u8),
    Remove(Index),
    Truncate(Index),
    /// Overwrites bytes with a CompactSize prefix, the field most likely to
    /// confuse a parser (huge counts, non-canonical forms).
    SetCompactSize(Index, u8, u64),
}

fn any_mutations() -> impl Strategy<Value = Vec<Mutation>> {
    let mutation = prop_oneof![
        (any::<Index>(), 0u8..8).prop_map(|(i, bit)| Mutation::FlipBit(i, bit)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::SetByte(i, b)),
        (any::<Index>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<Index>().prop_map(Mutation::Remove),
        any::<Index>().prop_map(Mutation::Truncate),
        (
            any::<Index>(),
            prop::sample::select(vec![0xFDu8, 0xFE, 0xFF]),
            any::<u64>()
        )
            .prop_map(|(i, tag, value)| Mutation::SetCompactSize(i, tag, value)),
    ];
    prop::collection::vec(mutation, 1..4)
}

fn apply_mutations(mut data: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for mutation in mutations {
        let len = data.len();
        match *mutation {
            Mutation::FlipBit(i, bit) if len > 0 => data[i.index(len)] ^= 1 << bit,
            Mutation::SetByte(i, b) if len > 0 => data[i.index(len)] = b,
            Mutation::Insert(i, b) => data.insert(i.index(len + 1), b),
            Mutation::Remove(i) if len > 0 => {
                data.remove(i.index(len));
            }
            Mutation::Truncate(i) => data.truncate(i.index(len + 1)),
            Mutation::SetCompactSize(i, tag, value) if len > 0 => {
                let at = i.index(len);
                let mut field = vec![tag];
                field.extend_from_slice(&value.to_le_bytes()[..compact_size_width(tag)]);
                let end = (at + field.len()).min(len);
                data.splice(at..end, field);
            }
            _ => {}
        }
    }
    data
}

fn compact_size_width(tag: u8) -> usize {
    match tag {
        0xFD => 2,
        0xFE => 4,
        _ => 8,
    }
}

// ------------------------------------------------------------ shared checks

fn payload_of(message: &Message) -> Vec<u8> {
    let mut out = Vec::new();
    message.encode_payload(&mut out);
    out
}

/// The command name a payload error blames, for the variants that carry one.
fn blamed_command(error: &PayloadError) -> Option<&'static str> {
    match error {
        PayloadError::Truncated { command }
        | PayloadError::TooManyEntries { command, .. }
        | PayloadError::InvalidUtf8 { command }
        | PayloadError::InvalidCommandName { command } => Some(command),
        PayloadError::UserAgentTooLong { .. }
        | PayloadError::NonCanonicalCompactSize
        | PayloadError::CompactSizeTooLarge { .. } => None,
    }
}

/// The limits Bitcoin Core enforces on received messages.
fn within_receive_limits(message: &Message) -> bool {
    match message {
        Message::Version(version) => version.user_agent.len() <= MAX_USER_AGENT_LEN,
        Message::Addr(addrs) => addrs.len() <= MAX_ADDR_ENTRIES,
        Message::Inv(items) | Message::GetData(items) | Message::NotFound(items) => {
            items.len() <= MAX_INV_ENTRIES
        }
        Message::GetHeaders(locator) | Message::GetBlocks(locator) => {
            locator.hashes.len() <= MAX_LOCATOR_HASHES
        }
        Message::Headers(headers) => {
            headers.len() <= MAX_HEADERS
                && headers
                    .iter()
                    .all(|header| header.len() == BLOCK_HEADER_LEN)
        }
        _ => true,
    }
}

/// The properties every decode of untrusted bytes must have, whatever the
/// bytes: no panic, heap bounded by the payload, a decoded message of the
/// right command that re-encodes to itself, or an error that names the
/// command and reads as a sentence.
fn check_untrusted_payload(command: Command, payload: &[u8]) -> Result<(), TestCaseError> {
    let bytes = Bytes::copy_from_slice(payload);
    let (decoded, peak_heap) = peak_heap_during(|| Message::decode(command, bytes));
    prop_assert!(
        peak_heap <= 2 * payload.len() + DECODE_HEAP_SLACK,
        "decoding {} payload bytes under {command} held {peak_heap} heap bytes",
        payload.len()
    );
    match decoded {
        Ok(message) => {
            prop_assert_eq!(message.command(), command);
            prop_assert!(
                within_receive_limits(&message),
                "accepted past a receive limit: {message:?}"
            );
            let reencoded = payload_of(&message);
            prop_assert!(reencoded.len() <= payload.len() + 1, "re-encoding grew");
            let again = Message::decode(command, Bytes::from(reencoded));
            prop_assert_eq!(again.as_ref(), Ok(&message), "re-encoding is not stable");
        }
        Err(error) => {
            if let Some(blamed) = blamed_command(&error) {
                prop_assert_eq!(blamed, command.as_str());
            }
            prop_assert!(!error.to_string().is_empty());
        }
    }
    Ok(())
}

/// A valid message survives payload encoding and a full frame unchanged.
fn check_round_trip(message: &Message) -> Result<(), TestCaseError> {
    let payload = payload_of(message);
    let decoded = Message::decode(message.command(), Bytes::from(payload.clone()));
    prop_assert_eq!(decoded.as_ref(), Ok(message));

    let frame = message.to_frame(MAGIC);
    prop_assert_eq!(frame.len(), HEADER_LEN + payload.len());
    let mut buf = BytesMut::from(&frame[..]);
    let mut decoder = FrameDecoder::with_default_limit(MAGIC);
    match decoder.decode(&mut buf) {
        Ok(Some(DecodedFrame::Frame(raw))) => {
            prop_assert_eq!(raw.command, message.command());
            let from_frame = raw.into_message();
            prop_assert_eq!(from_frame.as_ref(), Ok(message));
        }
        other => prop_assert!(false, "frame did not decode: {:?}", other),
    }
    prop_assert!(buf.is_empty());
    Ok(())
}

/// Feeding a valid message's frame one byte at a time yields exactly what
/// decoding it at once does, and nothing before the last byte.
fn check_byte_by_byte(message: &Message) -> Result<(), TestCaseError> {
    let frame = message.to_frame(MAGIC);
    let at_once = decode_stream(&frame, &[frame.len()], u32::MAX);
    let byte_by_byte = decode_stream(&frame, &[1], u32::MAX);
    prop_assert_eq!(&byte_by_byte, &at_once);
    prop_assert_eq!(at_once.outputs.len(), 1);
    Ok(())
}

// ------------------------------------------------------------ stream decoding

/// Everything a decoder produced from a stream.
#[derive(Debug, PartialEq, Eq)]
struct StreamOutcome {
    outputs: Vec<DecodedFrame>,
    error: Option<FrameError>,
    /// Bytes left in the buffer; only compared when there was no error (after
    /// an error the rest of the stream is never fed).
    leftover: Option<Vec<u8>>,
}

/// Feeds `stream` to a fresh decoder in pieces of the sizes in `piece_sizes`
/// (cycled), draining every frame after each piece, and checks at every step
/// that the decoder keeps no more than what arrived: the buffer is never
/// grown, `decode` allocates no payload-sized memory, and consumed bytes
/// equal the frames' sizes.
fn decode_stream(stream: &[u8], piece_sizes: &[usize], max_payload: u32) -> StreamOutcome {
    let mut decoder = FrameDecoder::new(MAGIC, max_payload);
    let mut buf = BytesMut::new();
    let mut outputs = Vec::new();
    let mut fed = 0;
    let mut sizes = piece_sizes.iter().copied().cycle();
    while fed < stream.len() {
        let piece = sizes.next().unwrap_or(1).max(1).min(stream.len() - fed);
        buf.extend_from_slice(&stream[fed..fed + piece]);
        fed += piece;
        loop {
            let before_len = buf.len();
            let before_capacity = buf.capacity();
            let (result, peak_heap) = peak_heap_during(|| decoder.decode(&mut buf));
            assert!(
                peak_heap <= FRAME_DECODE_HEAP_LIMIT,
                "decode allocated {peak_heap} bytes"
            );
            assert!(buf.capacity() <= before_capacity, "decode grew the buffer");
            match result {
                Ok(Some(frame)) => {
                    let frame_len = match &frame {
                        DecodedFrame::Frame(raw) => {
                            assert!(raw.payload.len() <= max_payload as usize);
                            HEADER_LEN + raw.payload.len()
                        }
                        DecodedFrame::BadChecksum { length, .. } => {
                            assert!(*length <= max_payload);
                            HEADER_LEN + *length as usize
                        }
                    };
                    assert_eq!(before_len - buf.len(), frame_len, "consumed != frame size");
                    outputs.push(frame);
                }
                Ok(None) => {
                    assert_eq!(buf.len(), before_len, "consumed bytes without a frame");
                    if let Some(needed) = decoder.pending_frame_len() {
                        assert!(needed > buf.len(), "a complete frame was not returned");
                        assert!(needed <= HEADER_LEN + max_payload as usize);
                    }
                    break;
                }
                Err(error) => {
                    return StreamOutcome {
                        outputs,
                        error: Some(error),
                        leftover: None,
                    };
                }
            }
        }
    }
    StreamOutcome {
        outputs,
        error: None,
        leftover: Some(buf.to_vec()),
    }
}

/// One piece of a generated byte stream.
#[derive(Debug, Clone)]
enum StreamPart {
    Frame(Command, Vec<u8>),
    BadChecksum(Command, Vec<u8>),
    /// A header announcing `length` bytes, with `sent` payload bytes after it.
    Announced {
        length: u32,
        sent: Vec<u8>,
    },
    Garbage(Vec<u8>),
    WrongMagic(u32),
}

fn any_stream_part() -> impl Strategy<Value = StreamPart> {
    prop_oneof![
        6 => (any_command(), any_bytes(200)).prop_map(|(c, p)| StreamPart::Frame(c, p)),
        2 => (any_command(), any_bytes(200)).prop_map(|(c, p)| StreamPart::BadChecksum(c, p)),
        1 => (any::<u32>(), any_bytes(32))
            .prop_map(|(length, sent)| StreamPart::Announced { length, sent }),
        1 => any_bytes(40).prop_map(StreamPart::Garbage),
        1 => any::<u32>().prop_map(StreamPart::WrongMagic),
    ]
}

fn render_stream(parts: &[StreamPart]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        match part {
            StreamPart::Frame(command, payload) => encode_frame(MAGIC, *command, payload, &mut out),
            StreamPart::BadChecksum(command, payload) => {
                let start = out.len();
                encode_frame(MAGIC, *command, payload, &mut out);
                out[start + 20] ^= 0xFF;
            }
            StreamPart::Announced { length, sent } => {
                out.extend_from_slice(&MAGIC.to_le_bytes());
                out.extend_from_slice(Command::BLOCK.bytes());
                out.extend_from_slice(&length.to_le_bytes());
                out.extend_from_slice(&[0; 4]);
                out.extend_from_slice(sent);
            }
            StreamPart::Garbage(bytes) => out.extend_from_slice(bytes),
            StreamPart::WrongMagic(magic) => out.extend_from_slice(&magic.to_le_bytes()),
        }
    }
    out
}

/// The frame field a byte offset falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FrameField {
    Magic,
    Command,
    Length,
    Checksum,
    Payload,
}

fn field_at(offset: usize) -> FrameField {
    match offset {
        0..=3 => FrameField::Magic,
        4..=15 => FrameField::Command,
        16..=19 => FrameField::Length,
        20..=23 => FrameField::Checksum,
        _ => FrameField::Payload,
    }
}

// ------------------------------------------------------------ frame decoder

mod frame_decoder {
    use super::*;

    proptest! {
        #![proptest_config(cases(FRAME_CASES))]

        /// Arbitrary bytes, with and without a valid magic in front.
        #[test]
        fn arbitrary_bytes_never_panic_and_stay_bounded(
            with_magic in any::<bool>(),
            bytes in any_bytes(600),
            max_payload in prop_oneof![Just(u32::MAX), 0u32..2_000],
            piece in 1usize..64,
        ) {
            let mut stream = Vec::new();
            if with_magic {
                stream.extend_from_slice(&MAGIC.to_le_bytes());
            }
            stream.extend_from_slice(&bytes);
            decode_stream(&stream, &[piece], max_payload);
        }

        /// Mixed streams of valid frames, bad checksums, partial and oversized
        /// announcements and garbage: fed in random pieces or one byte at a
        /// time, the decoder produces exactly what it does from the whole
        /// stream at once.
        #[test]
        fn byte_by_byte_equals_all_at_once(
            parts in prop::collection::vec(any_stream_part(), 1..6),
            pieces in prop::collection::vec(1usize..100, 1..8),
            max_payload in prop_oneof![Just(32u32 * 1024 * 1024), 0u32..300],
        ) {
            let stream = render_stream(&parts);
            let at_once = decode_stream(&stream, &[stream.len().max(1)], max_payload);
            let byte_by_byte = decode_stream(&stream, &[1], max_payload);
            let in_pieces = decode_stream(&stream, &pieces, max_payload);
            prop_assert_eq!(&byte_by_byte, &at_once);
            prop_assert_eq!(&in_pieces, &at_once);
        }

        /// Valid frames of any command and payload decode to exactly what
        /// was encoded, back to back, with nothing left over.
        #[test]
        fn encoded_frames_round_trip(
            frames in prop::collection::vec((any_command(), any_bytes(300)), 0..6),
        ) {
            let mut stream = Vec::new();
            for (command, payload) in &frames {
                encode_frame(MAGIC, *command, payload, &mut stream);
            }
            let outcome = decode_stream(&stream, &[stream.len().max(1)], u32::MAX);
            prop_assert_eq!(outcome.error, None);
            prop_assert_eq!(outcome.leftover, Some(Vec::new()));
            let decoded: Vec<(Command, Vec<u8>)> = outcome
                .outputs
                .into_iter()
                .map(|output| match output {
                    DecodedFrame::Frame(raw) => (raw.command, raw.payload.to_vec()),
                    DecodedFrame::BadChecksum { command, .. } => (command, b"bad checksum".to_vec()),
                })
                .collect();
            prop_assert_eq!(decoded, frames);
        }

        /// One corrupted byte in a valid frame has the outcome the header
        /// layout predicts: wrong magic and bad command names are fatal,
        /// a bad checksum or payload drops the frame, a changed length
        /// waits, drops or refuses, and a frame never decodes to a payload
        /// other than the one sent.
        #[test]
        fn corrupted_frames_give_defined_outcomes(
            command in any_command(),
            payload in any_bytes(200),
            offset in any::<Index>(),
            xor in 1u8..=255,
        ) {
            let mut frame = Vec::new();
            encode_frame(MAGIC, command, &payload, &mut frame);
            let at = offset.index(frame.len());
            let mut corrupted = frame.clone();
            corrupted[at] ^= xor;
            let max_payload = 1_000;
            let outcome = decode_stream(&corrupted, &[corrupted.len()], max_payload);
            match field_at(at) {
                FrameField::Magic => prop_assert!(
                    matches!(outcome.error, Some(FrameError::WrongMagic { .. })),
                    "{:?}", outcome
                ),
                FrameField::Command => match (&outcome.error, outcome.outputs.as_slice()) {
                    (Some(FrameError::MalformedCommand), []) => {}
                    (None, [DecodedFrame::Frame(raw)]) => {
                        prop_assert_ne!(raw.command, command);
                        prop_assert_eq!(&raw.payload[..], &payload[..]);
                    }
                    other => prop_assert!(false, "command corruption gave {:?}", other),
                },
                FrameField::Length => {
                    let length = u32::from_le_bytes(corrupted[16..20].try_into().unwrap());
                    if length > max_payload {
                        prop_assert!(
                            matches!(outcome.error, Some(FrameError::Oversized { .. })),
                            "{:?}", outcome
                        );
                    } else if length as usize > payload.len() {
                        prop_assert!(outcome.outputs.is_empty() && outcome.error.is_none());
                    } else {
                        // A shorter frame is cut off whose checksum cannot match;
                        // what follows it is no longer aligned to a header.
                        prop_assert_eq!(
                            outcome.outputs.first(),
                            Some(&DecodedFrame::BadChecksum { command, length })
                        );
                    }
                }
                FrameField::Checksum | FrameField::Payload => prop_assert_eq!(
                    outcome.outputs,
                    vec![DecodedFrame::BadChecksum {
                        command,
                        length: payload.len() as u32
                    }]
                ),
            }
        }

        /// A header announcing a huge payload followed by a trickle of bytes
        /// never makes the decoder (or its buffer) hold more than arrived.
        #[test]
        fn huge_announced_lengths_are_not_reserved(
            length in 1_000_000u32..=32 * 1024 * 1024,
            sent in any_bytes(512),
            piece in 1usize..50,
        ) {
            let stream = render_stream(&[StreamPart::Announced { length, sent }]);
            let outcome = decode_stream(&stream, &[piece], 32 * 1024 * 1024);
            prop_assert!(outcome.outputs.is_empty());
            prop_assert_eq!(outcome.leftover.map(|rest| rest.len()), Some(stream.len()));
        }
    }
}

// ------------------------------------------------------------ message parsers

/// One module per message: arbitrary payloads, mutated valid encodings,
/// round trips and byte-by-byte framing of the valid messages `$strategy`
/// generates; with `limits`, encodings around the message's receive limits;
/// `extra` adds properties specific to the message.
macro_rules! message_fuzz_target {
    (
        $target:ident,
        $command:expr,
        $strategy:expr
        $(, limits: $near_limits:expr)?
        $(, extra: { $($extra:tt)* })?
        $(,)?
    ) => {
        mod $target {
            use super::*;

            proptest! {
                #![proptest_config(cases(PARSER_CASES))]

                #[test]
                fn arbitrary_payload_never_panics(payload in any_payload()) {
                    check_untrusted_payload($command, &payload)?;
                }

                #[test]
                fn mutated_encodings_decode_or_fail_cleanly(
                    message in $strategy,
                    mutations in any_mutations(),
                ) {
                    let payload = apply_mutations(payload_of(&message), &mutations);
                    check_untrusted_payload($command, &payload)?;
                }

                #[test]
                fn valid_messages_round_trip(message in $strategy) {
                    prop_assert_eq!(message.command(), $command);
                    check_round_trip(&message)?;
                }

                #[test]
                fn frame_byte_by_byte_equals_all_at_once(message in $strategy) {
                    check_byte_by_byte(&message)?;
                }
            }

            $(
                proptest! {
                    #![proptest_config(cases(LIMIT_CASES))]

                    /// Well-formed encodings just under, at and over the limit
                    /// decode exactly when they are within it.
                    #[test]
                    fn receive_limits_hold_at_the_boundary(message in $near_limits) {
                        let decoded = Message::decode($command, Bytes::from(payload_of(&message)));
                        match decoded {
                            Ok(decoded) => {
                                prop_assert!(within_receive_limits(&message));
                                prop_assert_eq!(decoded, message);
                            }
                            Err(error) => prop_assert!(
                                !within_receive_limits(&message),
                                "rejected within the limits: {}", error
                            ),
                        }
                    }
                }
            )?

            $($($extra)*)?
        }
    };
}

/// `n` copies of one generated entry, for `n` in `limit - 2 ..= limit + 2`
/// (copies keep lists of 50,000 entries cheap to generate).
fn near_limit_list<T: Clone + std::fmt::Debug>(
    entry: impl Strategy<Value = T>,
    limit: usize,
) -> impl Strategy<Value = Vec<T>> {
    (entry, limit - 2..=limit + 2).prop_map(|(entry, n)| vec![entry; n])
}

/// Version messages whose user agent is a few bytes either side of the
/// limit, in one- to four-byte characters (the limit counts bytes).
fn version_near_ua_limit() -> impl Strategy<Value = Message> {
    (
        any_version(),
        any::<char>(),
        MAX_USER_AGENT_LEN - 3..=MAX_USER_AGENT_LEN + 3,
    )
        .prop_map(|(mut version, c, target_bytes)| {
            version.user_agent =
                std::iter::repeat_n(c, target_bytes.div_ceil(c.len_utf8())).collect();
            Message::Version(version)
        })
}

fn locator_near_limit() -> impl Strategy<Value = BlockLocator> {
    (
        any::<u32>(),
        prop::collection::vec(any_hash(), MAX_LOCATOR_HASHES - 2..=MAX_LOCATOR_HASHES + 2),
        any_hash(),
    )
        .prop_map(|(version, hashes, stop)| BlockLocator {
            version,
            hashes,
            stop,
        })
}

fn any_inventory() -> impl Strategy<Value = Inventory> {
    (any::<u32>(), any_hash()).prop_map(|(kind, hash)| Inventory {
        kind: InvKind(kind),
        hash,
    })
}

fn any_timestamped_address() -> impl Strategy<Value = TimestampedAddress> {
    (any::<u32>(), any_net_address()).prop_map(|(time, addr)| TimestampedAddress { time, addr })
}

message_fuzz_target!(
    version,
    Command::VERSION,
    any_version().prop_map(Message::Version),
    limits: version_near_ua_limit(),
);
message_fuzz_target!(verack, Command::VERACK, Just(Message::Verack));
message_fuzz_target!(ping, Command::PING, any::<u64>().prop_map(Message::Ping));
message_fuzz_target!(pong, Command::PONG, any::<u64>().prop_map(Message::Pong));
message_fuzz_target!(
    addr,
    Command::ADDR,
    any_addr_list().prop_map(Message::Addr),
    limits: near_limit_list(any_timestamped_address(), MAX_ADDR_ENTRIES).prop_map(Message::Addr),
);
message_fuzz_target!(getaddr, Command::GETADDR, Just(Message::GetAddr));
message_fuzz_target!(
    inv,
    Command::INV,
    any_inventory_list().prop_map(Message::Inv),
    limits: near_limit_list(any_inventory(), MAX_INV_ENTRIES).prop_map(Message::Inv),
);
message_fuzz_target!(
    getdata,
    Command::GETDATA,
    any_inventory_list().prop_map(Message::GetData),
    limits: near_limit_list(any_inventory(), MAX_INV_ENTRIES).prop_map(Message::GetData),
);
message_fuzz_target!(
    notfound,
    Command::NOTFOUND,
    any_inventory_list().prop_map(Message::NotFound),
    limits: near_limit_list(any_inventory(), MAX_INV_ENTRIES).prop_map(Message::NotFound),
);
message_fuzz_target!(
    reject,
    Command::REJECT,
    any_reject().prop_map(Message::Reject)
);
message_fuzz_target!(
    getheaders,
    Command::GETHEADERS,
    any_locator().prop_map(Message::GetHeaders),
    limits: locator_near_limit().prop_map(Message::GetHeaders),
);
message_fuzz_target!(
    getblocks,
    Command::GETBLOCKS,
    any_locator().prop_map(Message::GetBlocks),
    limits: locator_near_limit().prop_map(Message::GetBlocks),
);
message_fuzz_target!(
    headers,
    Command::HEADERS,
    any_headers().prop_map(Message::Headers),
    limits: near_limit_list(
        any::<[u8; 80]>().prop_map(|h| Bytes::copy_from_slice(&h)),
        MAX_HEADERS,
    )
    .prop_map(Message::Headers),
    extra: {
        /// The tx count after each header is any canonical CompactSize on
        /// the wire (Core only writes 0); it is skipped whatever its width.
        fn headers_with_tx_counts() -> impl Strategy<Value = (Vec<Bytes>, Vec<u8>)> {
            prop::collection::vec((any::<[u8; 80]>(), 0u64..=0x0200_0000), 0..12).prop_map(
                |entries| {
                    let mut payload = Vec::new();
                    write_compact_size(&mut payload, entries.len() as u64);
                    let mut headers = Vec::new();
                    for (header, tx_count) in entries {
                        payload.extend_from_slice(&header);
                        write_compact_size(&mut payload, tx_count);
                        headers.push(Bytes::copy_from_slice(&header));
                    }
                    (headers, payload)
                },
            )
        }

        proptest! {
            #![proptest_config(cases(PARSER_CASES))]

            #[test]
            fn any_canonical_tx_count_is_skipped((headers, payload) in headers_with_tx_counts()) {
                let decoded = Message::decode(Command::HEADERS, Bytes::from(payload));
                prop_assert_eq!(decoded, Ok(Message::Headers(headers)));
            }
        }
    },
);
message_fuzz_target!(
    sendheaders,
    Command::SENDHEADERS,
    Just(Message::SendHeaders)
);
message_fuzz_target!(
    block,
    Command::BLOCK,
    any_bytes(1_000).prop_map(|b| Message::Block(Bytes::from(b)))
);
message_fuzz_target!(
    tx,
    Command::TX,
    any_bytes(500).prop_map(|b| Message::Tx(Bytes::from(b)))
);

/// Unknown commands: the generated message carries its own command, so the
/// parser properties run under that command rather than a fixed one.
mod unknown {
    use super::*;

    fn any_unknown() -> impl Strategy<Value = Message> {
        (any_unknown_command(), any_bytes(300)).prop_map(|(command, payload)| Message::Unknown {
            command,
            payload: Bytes::from(payload),
        })
    }

    proptest! {
        #![proptest_config(cases(PARSER_CASES))]

        #[test]
        fn arbitrary_payload_never_panics(
            command in any_unknown_command(),
            payload in any_payload(),
        ) {
            check_untrusted_payload(command, &payload)?;
            let decoded = Message::decode(command, Bytes::from(payload.clone()));
            prop_assert_eq!(decoded, Ok(Message::Unknown { command, payload: Bytes::from(payload) }));
        }

        #[test]
        fn mutated_encodings_decode_or_fail_cleanly(
            message in any_unknown(),
            mutations in any_mutations(),
        ) {
            let payload = apply_mutations(payload_of(&message), &mutations);
            check_untrusted_payload(message.command(), &payload)?;
        }

        #[test]
        fn valid_messages_round_trip(message in any_unknown()) {
            check_round_trip(&message)?;
        }

        #[test]
        fn frame_byte_by_byte_equals_all_at_once(message in any_unknown()) {
            check_byte_by_byte(&message)?;
        }
    }
}
