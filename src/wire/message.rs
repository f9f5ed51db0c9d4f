//! Typed message payloads and their consensus encoding.
//!
//! Decoding follows Bitcoin Core: bytes left over after a fully parsed
//! fixed-layout payload are ignored (peers add fields in newer versions),
//! except in `reject`, where they are the `data` field. Block, transaction and
//! header bodies are kept as opaque, zero-copy slices of the frame payload:
//! validating them is the node's job, not the wire layer's.

use std::net::{IpAddr, Ipv6Addr, SocketAddr, SocketAddrV6};

use bytes::Bytes;

use super::addrv2::{read_addrv2, write_addrv2, AddrV2Entry};
use super::encoding::{write_count, write_var_bytes, Reader};
pub use super::error::PayloadError;
use super::frame::{Command, Frame, RawFrame};
use super::{
    Hash256, MAX_ADDR_ENTRIES, MAX_CUSTOM_COMMANDS, MAX_HEADERS, MAX_INV_ENTRIES,
    MAX_LOCATOR_HASHES, MAX_USER_AGENT_LEN,
};

/// Serialized size of a block header (without the trailing tx count).
pub const BLOCK_HEADER_LEN: usize = 80;

/// A peer address as carried in `version` (services + IPv6 + port).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct NetAddress {
    pub services: u64,
    /// IPv4 addresses travel IPv4-mapped (`::ffff:a.b.c.d`).
    pub ip: Ipv6Addr,
    pub port: u16,
}

impl NetAddress {
    /// Encoded size: services (8) + IP (16) + port (2).
    pub const ENCODED_LEN: usize = 26;

    /// The unspecified address with no services, what nodes commonly send
    /// for `addr_from`.
    pub const UNSPECIFIED: NetAddress = NetAddress {
        services: 0,
        ip: Ipv6Addr::UNSPECIFIED,
        port: 0,
    };

    /// Wire form of a socket address; IPv4 becomes IPv4-mapped IPv6.
    pub fn from_socket_addr(services: u64, addr: SocketAddr) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        NetAddress {
            services,
            ip,
            port: addr.port(),
        }
    }

    /// The socket address; IPv4-mapped addresses come back as IPv4 so they
    /// compare equal to what the OS reports for IPv4 peers.
    pub fn socket_addr(&self) -> SocketAddr {
        match self.ip.to_ipv4_mapped() {
            Some(v4) => SocketAddr::new(IpAddr::V4(v4), self.port),
            None => SocketAddr::V6(SocketAddrV6::new(self.ip, self.port, 0, 0)),
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        Ok(NetAddress {
            services: r.read_u64_le()?,
            ip: Ipv6Addr::from(r.read_array::<16>()?),
            port: r.read_u16_be()?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.services.to_le_bytes());
        out.extend_from_slice(&self.ip.octets());
        // The one big-endian integer in the protocol.
        out.extend_from_slice(&self.port.to_be_bytes());
    }
}

/// An `addr` entry: when the address was last seen, plus the address.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub struct TimestampedAddress {
    /// Unix time, seconds.
    pub time: u32,
    pub addr: NetAddress,
}

impl TimestampedAddress {
    /// Encoded size: time (4) + [`NetAddress::ENCODED_LEN`].
    pub const ENCODED_LEN: usize = 4 + NetAddress::ENCODED_LEN;

    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        Ok(TimestampedAddress {
            time: r.read_u32_le()?,
            addr: NetAddress::read(r)?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.time.to_le_bytes());
        self.addr.write(out);
    }
}

/// The `version` handshake message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct VersionMessage {
    pub version: i32,
    pub services: u64,
    /// Sender's Unix time, seconds.
    pub timestamp: i64,
    /// The receiving peer's address as the sender sees it (`addr_recv`).
    pub receiver: NetAddress,
    /// The sender's own address (`addr_from`); usually unspecified.
    pub sender: NetAddress,
    /// Random per-connection value used to detect connecting to ourselves.
    pub nonce: u64,
    /// BIP 14 sub-version string, at most [`MAX_USER_AGENT_LEN`] bytes.
    pub user_agent: String,
    pub start_height: i32,
    /// BIP 37 relay flag. Absent on the wire means `true`; always written.
    pub relay: bool,
}

impl VersionMessage {
    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        let version = r.read_i32_le()?;
        let services = r.read_u64_le()?;
        let timestamp = r.read_i64_le()?;
        let receiver = NetAddress::read(r)?;
        let sender = NetAddress::read(r)?;
        let nonce = r.read_u64_le()?;
        let ua_len = r.read_length()?;
        if ua_len > MAX_USER_AGENT_LEN {
            return Err(PayloadError::UserAgentTooLong {
                length: u64::try_from(ua_len).unwrap_or(u64::MAX),
            });
        }
        let user_agent = r.read_string(ua_len)?;
        let start_height = r.read_i32_le()?;
        // Like Bitcoin Core: optional, any non-zero byte means true.
        let relay = r.is_empty() || r.read_u8()? != 0;
        Ok(VersionMessage {
            version,
            services,
            timestamp,
            receiver,
            sender,
            nonce,
            user_agent,
            start_height,
            relay,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.services.to_le_bytes());
        out.extend_from_slice(&self.timestamp.to_le_bytes());
        self.receiver.write(out);
        self.sender.write(out);
        out.extend_from_slice(&self.nonce.to_le_bytes());
        write_var_bytes(out, self.user_agent.as_bytes());
        out.extend_from_slice(&self.start_height.to_le_bytes());
        out.push(u8::from(self.relay));
    }
}

/// Inventory object type. Unknown values are kept, not rejected, so new
/// types from future protocol versions pass through.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct InvKind(pub u32);

impl InvKind {
    pub const ERROR: InvKind = InvKind(0);
    pub const TX: InvKind = InvKind(1);
    pub const BLOCK: InvKind = InvKind(2);
    pub const FILTERED_BLOCK: InvKind = InvKind(3);
    pub const CMPCT_BLOCK: InvKind = InvKind(4);
    /// A transaction by its wtxid (BIP339), asked for and served with witnesses.
    pub const WTX: InvKind = InvKind(5);
    pub const WITNESS_TX: InvKind = InvKind(0x4000_0001);
    pub const WITNESS_BLOCK: InvKind = InvKind(0x4000_0002);
}

/// An inventory vector: object type and hash (wire byte order).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Inventory {
    pub kind: InvKind,
    pub hash: Hash256,
}

impl Inventory {
    /// Encoded size: type (4) + hash (32).
    pub const ENCODED_LEN: usize = 36;

    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        Ok(Inventory {
            kind: InvKind(r.read_u32_le()?),
            hash: r.read_array()?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.kind.0.to_le_bytes());
        out.extend_from_slice(&self.hash);
    }
}

/// BIP 61 `reject` message (deprecated, still sent by older nodes).
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct RejectMessage {
    /// Command of the rejected message.
    pub message: String,
    pub code: u8,
    pub reason: String,
    /// Everything after `reason`, usually the 32-byte hash of the rejected
    /// object; kept raw because its meaning depends on `message`.
    pub data: Bytes,
}

impl RejectMessage {
    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        // The var_str lengths are bounded only by the bytes present: the
        // reader checks each length against the remaining payload before
        // allocating.
        let message = r.read_var_string()?;
        let code = r.read_u8()?;
        let reason = r.read_var_string()?;
        let data = r.read_rest();
        Ok(RejectMessage {
            message,
            code,
            reason,
            data,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        write_var_bytes(out, self.message.as_bytes());
        out.push(self.code);
        write_var_bytes(out, self.reason.as_bytes());
        out.extend_from_slice(&self.data);
    }
}

/// Body of `getheaders` and `getblocks`: "send what follows the first of
/// these hashes you know, up to `stop` (all zeros = as many as allowed)".
#[derive(Clone, PartialEq, Eq, Debug)]
pub struct BlockLocator {
    pub version: u32,
    pub hashes: Vec<Hash256>,
    pub stop: Hash256,
}

impl BlockLocator {
    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        Ok(BlockLocator {
            version: r.read_u32_le()?,
            hashes: r.read_list(MAX_LOCATOR_HASHES, 32, Reader::read_array)?,
            stop: r.read_array()?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.version.to_le_bytes());
        write_count(out, self.hashes.len());
        for hash in &self.hashes {
            out.extend_from_slice(hash);
        }
        out.extend_from_slice(&self.stop);
    }
}

/// A decoded P2P message.
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum Message {
    Version(VersionMessage),
    Verack,
    Ping(u64),
    Pong(u64),
    Addr(Vec<TimestampedAddress>),
    GetAddr,
    Inv(Vec<Inventory>),
    GetData(Vec<Inventory>),
    NotFound(Vec<Inventory>),
    Reject(RejectMessage),
    GetHeaders(BlockLocator),
    GetBlocks(BlockLocator),
    /// Serialized 80-byte block headers (the per-header tx count is dropped).
    Headers(Vec<Bytes>),
    SendHeaders,
    /// BIP133: the sender's fee floor in satoshis per 1,000 vbytes; transactions
    /// paying less need not be announced to it.
    FeeFilter(i64),
    /// BIP155: the sender can take addresses as `addrv2` (sent before `verack`).
    SendAddrV2,
    /// BIP339: the sender announces and requests transactions by wtxid (sent before
    /// `verack`).
    WtxidRelay,
    /// The node-defined commands the sender accepts (sent before `verack`, only by
    /// engines whose node registered some): p2pnet's own negotiation, so that a peer
    /// never receives a command it did not ask for.
    SendCustom(Vec<Command>),
    /// BIP155 addresses, any network.
    AddrV2(Vec<AddrV2Entry>),
    /// Serialized block, undecoded.
    Block(Bytes),
    /// Serialized transaction, undecoded.
    Tx(Bytes),
    /// Any other command, passed through untouched so the protocol can grow
    /// without this codec failing on it.
    Unknown {
        command: Command,
        payload: Bytes,
    },
}

impl RawFrame {
    /// Decodes the payload; shorthand for [`Message::decode`].
    pub fn into_message(self) -> Result<Message, PayloadError> {
        Message::decode(self.command, self.payload)
    }
}

impl Message {
    /// The frame command this message travels under.
    pub fn command(&self) -> Command {
        match self {
            Message::Version(_) => Command::VERSION,
            Message::Verack => Command::VERACK,
            Message::Ping(_) => Command::PING,
            Message::Pong(_) => Command::PONG,
            Message::Addr(_) => Command::ADDR,
            Message::GetAddr => Command::GETADDR,
            Message::Inv(_) => Command::INV,
            Message::GetData(_) => Command::GETDATA,
            Message::NotFound(_) => Command::NOTFOUND,
            Message::Reject(_) => Command::REJECT,
            Message::GetHeaders(_) => Command::GETHEADERS,
            Message::GetBlocks(_) => Command::GETBLOCKS,
            Message::Headers(_) => Command::HEADERS,
            Message::SendHeaders => Command::SENDHEADERS,
            Message::SendAddrV2 => Command::SENDADDRV2,
            Message::WtxidRelay => Command::WTXIDRELAY,
            Message::SendCustom(_) => Command::SENDCUSTOM,
            Message::FeeFilter(_) => Command::FEEFILTER,
            Message::AddrV2(_) => Command::ADDRV2,
            Message::Block(_) => Command::BLOCK,
            Message::Tx(_) => Command::TX,
            Message::Unknown { command, .. } => *command,
        }
    }

    /// Decodes a payload received under `command`. Unrecognised commands
    /// become [`Message::Unknown`], never an error. `block`, `tx` and the
    /// entries of `headers` are zero-copy slices of `payload`.
    pub fn decode(command: Command, payload: Bytes) -> Result<Message, PayloadError> {
        let name = command.as_str();
        let message = match name {
            "version" => {
                Message::Version(VersionMessage::read(&mut Reader::new(&payload, "version"))?)
            }
            // Payload-less messages: any bytes present are ignored, as Core does.
            "verack" => Message::Verack,
            "getaddr" => Message::GetAddr,
            "sendheaders" => Message::SendHeaders,
            "sendaddrv2" => Message::SendAddrV2,
            "wtxidrelay" => Message::WtxidRelay,
            "sendcustom" => Message::SendCustom(Reader::new(&payload, "sendcustom").read_list(
                MAX_CUSTOM_COMMANDS,
                2,
                |r| {
                    let name = r.read_var_string()?;
                    Command::new(&name).ok_or(PayloadError::InvalidCommandName {
                        command: "sendcustom",
                    })
                },
            )?),
            "feefilter" => Message::FeeFilter(Reader::new(&payload, "feefilter").read_i64_le()?),
            "addrv2" => Message::AddrV2(read_addrv2(&payload)?),
            "ping" => Message::Ping(Reader::new(&payload, "ping").read_u64_le()?),
            "pong" => Message::Pong(Reader::new(&payload, "pong").read_u64_le()?),
            "addr" => Message::Addr(Reader::new(&payload, "addr").read_list(
                MAX_ADDR_ENTRIES,
                TimestampedAddress::ENCODED_LEN,
                TimestampedAddress::read,
            )?),
            "inv" => Message::Inv(read_inventory(&payload, "inv")?),
            "getdata" => Message::GetData(read_inventory(&payload, "getdata")?),
            "notfound" => Message::NotFound(read_inventory(&payload, "notfound")?),
            "reject" => Message::Reject(RejectMessage::read(&mut Reader::new(&payload, "reject"))?),
            "getheaders" => Message::GetHeaders(BlockLocator::read(&mut Reader::new(
                &payload,
                "getheaders",
            ))?),
            "getblocks" => {
                Message::GetBlocks(BlockLocator::read(&mut Reader::new(&payload, "getblocks"))?)
            }
            "headers" => Message::Headers(Reader::new(&payload, "headers").read_list(
                MAX_HEADERS,
                BLOCK_HEADER_LEN + 1,
                |r| {
                    let header = r.read_bytes(BLOCK_HEADER_LEN)?;
                    // Headers carry a tx count that is always 0; it must still
                    // be a well-formed CompactSize, as Core requires.
                    r.read_compact_size()?;
                    Ok(header)
                },
            )?),
            "block" => Message::Block(payload),
            "tx" => Message::Tx(payload),
            _ => Message::Unknown { command, payload },
        };
        Ok(message)
    }

    /// Appends the payload encoding (no frame header) to `out`.
    ///
    /// Encoding does not enforce the receive limits: the caller is trusted
    /// not to build lists longer than the peer will accept or headers that
    /// are not [`BLOCK_HEADER_LEN`] bytes.
    pub fn encode_payload(&self, out: &mut Vec<u8>) {
        match self {
            Message::Version(version) => version.write(out),
            Message::Verack
            | Message::GetAddr
            | Message::SendHeaders
            | Message::SendAddrV2
            | Message::WtxidRelay => {}
            Message::AddrV2(entries) => write_addrv2(out, entries),
            Message::SendCustom(commands) => {
                write_count(out, commands.len());
                for command in commands {
                    write_var_bytes(out, command.as_str().as_bytes());
                }
            }
            Message::FeeFilter(rate) => out.extend_from_slice(&rate.to_le_bytes()),
            Message::Ping(nonce) | Message::Pong(nonce) => {
                out.extend_from_slice(&nonce.to_le_bytes())
            }
            Message::Addr(addrs) => {
                write_count(out, addrs.len());
                for addr in addrs {
                    addr.write(out);
                }
            }
            Message::Inv(items) | Message::GetData(items) | Message::NotFound(items) => {
                write_count(out, items.len());
                for item in items {
                    item.write(out);
                }
            }
            Message::Reject(reject) => reject.write(out),
            Message::GetHeaders(locator) | Message::GetBlocks(locator) => locator.write(out),
            Message::Headers(headers) => {
                write_count(out, headers.len());
                for header in headers {
                    out.extend_from_slice(header);
                    out.push(0); // tx count
                }
            }
            Message::Block(raw) | Message::Tx(raw) => out.extend_from_slice(raw),
            Message::Unknown { payload, .. } => out.extend_from_slice(payload),
        }
    }

    /// The payload's size where it is known without encoding (items, inventories).
    fn payload_size_hint(&self) -> usize {
        match self {
            Message::Block(raw) | Message::Tx(raw) => raw.len(),
            Message::Unknown { payload, .. } => payload.len(),
            Message::Inv(items) | Message::GetData(items) | Message::NotFound(items) => {
                9 + items.len() * Inventory::ENCODED_LEN
            }
            _ => 0,
        }
    }

    /// The message framed for network `magic`, as the runtime queues it: header and
    /// payload apart. The payload buffer is exactly its size: a frame waiting in a send
    /// queue is counted by its length, and spare capacity would hold memory the count
    /// misses.
    pub fn frame(&self, magic: u32) -> Frame {
        let mut payload = Vec::with_capacity(self.payload_size_hint());
        self.encode_payload(&mut payload);
        payload.shrink_to_fit();
        Frame::new(magic, self.command(), Bytes::from(payload))
    }

    /// The complete frame (header + payload) for network `magic` in one buffer, for
    /// writing to a plain socket.
    pub fn to_frame(&self, magic: u32) -> Bytes {
        self.frame(magic).to_bytes()
    }
}

fn read_inventory(payload: &Bytes, command: &'static str) -> Result<Vec<Inventory>, PayloadError> {
    Reader::new(payload, command).read_list(
        MAX_INV_ENTRIES,
        Inventory::ENCODED_LEN,
        Inventory::read,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    #[test]
    fn net_address_maps_ipv4() {
        let v4: SocketAddr = "203.0.113.192:8333".parse().unwrap();
        let addr = NetAddress::from_socket_addr(1, v4);
        assert_eq!(addr.ip, Ipv4Addr::new(203, 0, 113, 192).to_ipv6_mapped());
        assert_eq!(addr.socket_addr(), v4);

        let v6: SocketAddr = "[2001:db8::1]:18333".parse().unwrap();
        let addr = NetAddress::from_socket_addr(9, v6);
        assert_eq!(addr.services, 9);
        assert_eq!(addr.socket_addr(), v6);

        let mut out = Vec::new();
        NetAddress::from_socket_addr(1, v4).write(&mut out);
        assert_eq!(out.len(), NetAddress::ENCODED_LEN);
        assert_eq!(&out[20..], &[203, 0, 113, 192, 0x20, 0x8D]);
    }

    #[test]
    fn error_messages_read_as_english() {
        let e = PayloadError::TooManyEntries {
            command: "inv",
            count: 50_001,
            max: 50_000,
        };
        assert_eq!(e.to_string(), "inv has 50001 entries, limit 50000");
        assert_eq!(
            PayloadError::UserAgentTooLong { length: 300 }.to_string(),
            "user agent is 300 bytes, limit 256"
        );
        assert_eq!(
            PayloadError::Truncated { command: "ping" }.to_string(),
            "ping payload is truncated"
        );
        assert_eq!(
            PayloadError::CompactSizeTooLarge { value: 33_554_433 }.to_string(),
            "CompactSize value 33554433 exceeds the limit of 33554432"
        );
    }

    #[test]
    fn relay_flag_is_optional_and_any_nonzero_is_true() {
        let msg = Message::Version(VersionMessage {
            version: 70016,
            services: 0,
            timestamp: 0,
            receiver: NetAddress::UNSPECIFIED,
            sender: NetAddress::UNSPECIFIED,
            nonce: 0,
            user_agent: String::new(),
            start_height: 0,
            relay: false,
        });
        let mut payload = Vec::new();
        msg.encode_payload(&mut payload);
        let relay_of =
            |bytes: &[u8]| match Message::decode(Command::VERSION, Bytes::copy_from_slice(bytes)) {
                Ok(Message::Version(v)) => v.relay,
                other => panic!("unexpected {other:?}"),
            };
        assert!(!relay_of(&payload));
        let (without_relay, _) = payload.split_at(payload.len() - 1);
        assert!(relay_of(without_relay));
        let mut two = payload.clone();
        *two.last_mut().unwrap() = 2;
        assert!(relay_of(&two));
    }
}
