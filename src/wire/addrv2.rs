//! The payload of BIP155's `addrv2` message: a list of addresses, each tagged
//! with a network id, so that Tor v3, I2P and CJDNS addresses (which do not fit
//! the 16 bytes of `addr`) can be gossiped.
//!
//! Each entry is `time: u32 LE`, `services: CompactSize`, `network id: u8`,
//! `address length: CompactSize`, `address`, `port: u16 BE`. Decoding follows
//! Bitcoin Core (`CNetAddr::UnserializeV2Stream` and
//! `SetNetFromBIP155Network` in `src/netaddress.{h,cpp}`):
//!
//! - an address length over [`MAX_ADDRV2_ADDRESS_LEN`], or a length other than
//!   the one BIP155 fixes for a network id it defines, rejects the whole
//!   message;
//! - an address Core decodes but never uses comes back as
//!   [`NetworkAddr::Unknown`], its bytes consumed, so the caller skips it and
//!   the rest of the message still counts: network ids BIP155 does not define,
//!   the deprecated Tor v2 id, IPv6 addresses that embed IPv4
//!   (`::ffff:0:0/96`), Tor v2 (OnionCat `fd87:d87e:eb43::/48`) or Core's
//!   internal names (`fd6b:88c0:8724::/48`), and CJDNS addresses outside
//!   `fc00::/8`.
//!
//! Whether an address is worth connecting to (unspecified, documentation or
//! private ranges, ...) is not decided here, exactly as for `addr`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use bytes::Bytes;

use super::encoding::{write_compact_size, write_count, Reader};
use super::error::PayloadError;
use super::MAX_ADDR_ENTRIES;

/// Command name, used to label errors.
const COMMAND: &str = "addrv2";

/// Longest address field BIP155 allows (Core's `CNetAddr::MAX_ADDRV2_SIZE`).
pub const MAX_ADDRV2_ADDRESS_LEN: usize = 512;

// Network ids (BIP155's table, Core's `CNetAddr::BIP155Network`).
const NET_IPV4: u8 = 1;
const NET_IPV6: u8 = 2;
/// Tor v2: still in BIP155's table, but deprecated; Tor no longer serves them.
const NET_TORV2: u8 = 3;
const NET_TORV3: u8 = 4;
const NET_I2P: u8 = 5;
const NET_CJDNS: u8 = 6;

/// `::ffff:0:0/96`: IPv4 must travel as network id 1, not inside IPv6.
const IPV4_IN_IPV6_PREFIX: [u8; 12] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF];
/// `fd87:d87e:eb43::/48`: OnionCat, how `addr` carried Tor v2.
const TORV2_IN_IPV6_PREFIX: [u8; 6] = [0xFD, 0x87, 0xD8, 0x7E, 0xEB, 0x43];
/// `fd6b:88c0:8724::/48`: Core's encoding of internal (non-network) names.
const INTERNAL_IN_IPV6_PREFIX: [u8; 6] = [0xFD, 0x6B, 0x88, 0xC0, 0x87, 0x24];
/// First byte of every CJDNS address (`fc00::/8`).
const CJDNS_PREFIX: u8 = 0xFC;

/// The address field of an `addrv2` entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum NetworkAddr {
    Ipv4(Ipv4Addr),
    Ipv6(Ipv6Addr),
    /// A Tor v3 onion service: its 32-byte ed25519 public key.
    TorV3([u8; 32]),
    /// An I2P destination: the SHA-256 of it (the `.b32.i2p` name).
    I2p([u8; 32]),
    /// A CJDNS address; always starts with `0xFC` when decoded.
    Cjdns([u8; 16]),
    /// An entry to skip: a network id BIP155 does not define (or the
    /// deprecated Tor v2), or an address of a known network that Bitcoin Core
    /// ignores (see the module documentation). Its bytes are not kept, and
    /// [`write_addrv2`] leaves it out.
    Unknown {
        network_id: u8,
    },
}

impl NetworkAddr {
    /// The BIP155 network id this address travels under.
    pub fn network_id(&self) -> u8 {
        match self {
            NetworkAddr::Ipv4(_) => NET_IPV4,
            NetworkAddr::Ipv6(_) => NET_IPV6,
            NetworkAddr::TorV3(_) => NET_TORV3,
            NetworkAddr::I2p(_) => NET_I2P,
            NetworkAddr::Cjdns(_) => NET_CJDNS,
            NetworkAddr::Unknown { network_id } => *network_id,
        }
    }

    /// False for [`NetworkAddr::Unknown`], the one kind never written.
    pub fn is_known(&self) -> bool {
        !matches!(self, NetworkAddr::Unknown { .. })
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        let network_id = r.read_u8()?;
        let len = r.read_length()?;
        if len > MAX_ADDRV2_ADDRESS_LEN {
            return Err(invalid_address(r));
        }
        if expected_len(network_id).is_some_and(|expected| expected != len) {
            return Err(invalid_address(r));
        }
        // From here on, a known network id implies `len` is its size.
        Ok(match network_id {
            NET_IPV4 => NetworkAddr::Ipv4(Ipv4Addr::from(r.read_array::<4>()?)),
            NET_IPV6 => {
                let octets = r.read_array::<16>()?;
                if octets.starts_with(&IPV4_IN_IPV6_PREFIX)
                    || octets.starts_with(&TORV2_IN_IPV6_PREFIX)
                    || octets.starts_with(&INTERNAL_IN_IPV6_PREFIX)
                {
                    NetworkAddr::Unknown { network_id }
                } else {
                    NetworkAddr::Ipv6(Ipv6Addr::from(octets))
                }
            }
            NET_TORV3 => NetworkAddr::TorV3(r.read_array()?),
            NET_I2P => NetworkAddr::I2p(r.read_array()?),
            NET_CJDNS => match r.read_array::<16>()? {
                octets @ [CJDNS_PREFIX, ..] => NetworkAddr::Cjdns(octets),
                _ => NetworkAddr::Unknown { network_id },
            },
            // Tor v2 and ids BIP155 does not define: skip the bytes (a
            // zero-copy slice, dropped at once).
            _ => {
                r.read_bytes(len)?;
                NetworkAddr::Unknown { network_id }
            }
        })
    }

    /// Appends network id, length and address; nothing for `Unknown`.
    fn write(&self, out: &mut Vec<u8>) {
        let mut put = |bytes: &[u8]| {
            out.push(self.network_id());
            write_count(out, bytes.len());
            out.extend_from_slice(bytes);
        };
        match self {
            NetworkAddr::Ipv4(ip) => put(&ip.octets()),
            NetworkAddr::Ipv6(ip) => put(&ip.octets()),
            NetworkAddr::TorV3(key) | NetworkAddr::I2p(key) => put(key),
            NetworkAddr::Cjdns(octets) => put(octets),
            NetworkAddr::Unknown { .. } => {}
        }
    }
}

/// The address length BIP155 fixes for a network id, if it defines the id.
fn expected_len(network_id: u8) -> Option<usize> {
    match network_id {
        NET_IPV4 => Some(4),
        NET_IPV6 | NET_CJDNS => Some(16),
        NET_TORV2 => Some(10),
        NET_TORV3 | NET_I2P => Some(32),
        _ => None,
    }
}

/// The error for an address field that rejects the whole message (too long,
/// or the wrong length for its network). `PayloadError` has no variant for it
/// yet, so this borrows `Truncated`: like truncation it means "the payload
/// does not parse", and the caller scores it the same way (malformed payload).
fn invalid_address(r: &Reader<'_>) -> PayloadError {
    r.truncated()
}

/// One `addrv2` entry.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct AddrV2Entry {
    /// Unix time, seconds: when the address was last seen.
    pub time: u32,
    /// Service bits (a CompactSize on the wire, unlike `addr`).
    pub services: u64,
    pub addr: NetworkAddr,
    /// Big endian on the wire.
    pub port: u16,
}

impl AddrV2Entry {
    /// Smallest possible entry: time (4), services (1), network id (1),
    /// length (1), an empty address and the port (2).
    pub const MIN_ENCODED_LEN: usize = 9;

    /// An entry for an IP socket address. IPv4-mapped IPv6 becomes IPv4, as
    /// BIP155 requires (Core ignores IPv4 sent inside IPv6).
    pub fn from_socket_addr(time: u32, services: u64, addr: SocketAddr) -> Self {
        let ip = match addr.ip() {
            IpAddr::V4(v4) => NetworkAddr::Ipv4(v4),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => NetworkAddr::Ipv4(v4),
                None => NetworkAddr::Ipv6(v6),
            },
        };
        AddrV2Entry {
            time,
            services,
            addr: ip,
            port: addr.port(),
        }
    }

    /// The socket address, for IPv4 and IPv6 entries only.
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self.addr {
            NetworkAddr::Ipv4(ip) => Some(SocketAddr::V4(SocketAddrV4::new(ip, self.port))),
            NetworkAddr::Ipv6(ip) => Some(SocketAddr::V6(SocketAddrV6::new(ip, self.port, 0, 0))),
            _ => None,
        }
    }

    fn read(r: &mut Reader<'_>) -> Result<Self, PayloadError> {
        Ok(AddrV2Entry {
            time: r.read_u32_le()?,
            services: read_services(r)?,
            addr: NetworkAddr::read(r)?,
            port: r.read_u16_be()?,
        })
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.time.to_le_bytes());
        write_compact_size(out, self.services);
        self.addr.write(out);
        out.extend_from_slice(&self.port.to_be_bytes());
    }
}

/// Reads the services CompactSize. It must be minimally encoded, as every
/// CompactSize, but unlike a count or a length it is a bit field, so it is
/// not capped at `MAX_COMPACT_SIZE` (Core reads it with
/// `CompactSizeFormatter<false>`, no range check): a peer may set bits above
/// bit 25.
fn read_services(r: &mut Reader<'_>) -> Result<u64, PayloadError> {
    let (value, smallest) = match r.read_u8()? {
        tag @ 0..=0xFC => return Ok(u64::from(tag)),
        0xFD => (u64::from(r.read_u16_le()?), 0xFD),
        0xFE => (u64::from(r.read_u32_le()?), 0x1_0000),
        0xFF => (r.read_u64_le()?, 0x1_0000_0000),
    };
    if value < smallest {
        return Err(PayloadError::NonCanonicalCompactSize);
    }
    Ok(value)
}

/// Decodes an `addrv2` payload.
///
/// More than [`MAX_ADDR_ENTRIES`] entries is `TooManyEntries`, the error an
/// oversized `addr` gets; the list's initial capacity is bounded by the bytes
/// present, never by the claimed count alone. Entries to ignore come back as
/// [`NetworkAddr::Unknown`]. Bytes after the last entry are ignored, as for
/// `addr`.
pub fn read_addrv2(payload: &Bytes) -> Result<Vec<AddrV2Entry>, PayloadError> {
    Reader::new(payload, COMMAND).read_list(
        MAX_ADDR_ENTRIES,
        AddrV2Entry::MIN_ENCODED_LEN,
        AddrV2Entry::read,
    )
}

/// Encodes an `addrv2` payload. [`NetworkAddr::Unknown`] entries are left
/// out (the count covers only the entries written). Keeping to
/// [`MAX_ADDR_ENTRIES`] is the caller's job, as for `addr`.
pub fn write_addrv2(out: &mut Vec<u8>, entries: &[AddrV2Entry]) {
    let known = || entries.iter().filter(|entry| entry.addr.is_known());
    write_count(out, known().count());
    for entry in known() {
        entry.write(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        let digits: Vec<u8> = s.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
        assert!(digits.len().is_multiple_of(2), "odd hex length");
        digits
            .chunks(2)
            .map(|pair| u8::from_str_radix(std::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    fn read_hex(s: &str) -> Result<Vec<AddrV2Entry>, PayloadError> {
        read_addrv2(&Bytes::from(hex(s)))
    }

    fn encode(entries: &[AddrV2Entry]) -> Vec<u8> {
        let mut out = Vec::new();
        write_addrv2(&mut out, entries);
        out
    }

    fn truncated() -> PayloadError {
        PayloadError::Truncated { command: "addrv2" }
    }

    fn array<const N: usize>(s: &str) -> [u8; N] {
        hex(s).try_into().unwrap()
    }

    // Fixed fields wrapped around each single-address vector below: time
    // 0x4966bc61, services NODE_NETWORK (CompactSize 01), port 8333.
    const TIME: u32 = 0x4966_bc61;
    const TIME_HEX: &str = "61bc6649";
    const PORT_HEX: &str = "208d";

    fn entry(addr: NetworkAddr) -> AddrV2Entry {
        AddrV2Entry {
            time: TIME,
            services: 1,
            addr,
            port: 8333,
        }
    }

    /// A one-entry payload around a network id + length + address vector.
    fn one_entry_hex(addr_hex: &str) -> String {
        format!("01 {TIME_HEX} 01 {addr_hex} {PORT_HEX}")
    }

    /// The network id, length and address bytes of each network, from
    /// Bitcoin Core's `src/test/net_tests.cpp` (`cnetaddr_serialize_v2` and
    /// `cnetaddr_unserialize_v2`, bitcoin/bitcoin at 2d500ee5; the same bytes
    /// are in current Core).
    fn core_address_vectors() -> Vec<(&'static str, NetworkAddr)> {
        vec![
            // LookupHost("1.2.3.4").
            (
                "01 04 01020304",
                NetworkAddr::Ipv4(Ipv4Addr::new(1, 2, 3, 4)),
            ),
            // LookupHost("1a1b:2a2b:3a3b:4a4b:5a5b:6a6b:7a7b:8a8b").
            (
                "02 10 1a1b2a2b3a3b4a4b5a5b6a6b7a7b8a8b",
                NetworkAddr::Ipv6("1a1b:2a2b:3a3b:4a4b:5a5b:6a6b:7a7b:8a8b".parse().unwrap()),
            ),
            // "Valid IPv6": 102:304:506:708:90a:b0c:d0e:f10.
            (
                "02 10 0102030405060708090a0b0c0d0e0f10",
                NetworkAddr::Ipv6("102:304:506:708:90a:b0c:d0e:f10".parse().unwrap()),
            ),
            // kpgvmscirrdqpekbqjsvw5teanhatztpp2gl6eee4zkowvwfxwenqaid.onion
            (
                "04 20 53cd5648488c4707914182655b7664034e09e66f7e8cbf1084e654eb56c5bd88",
                NetworkAddr::TorV3(array(
                    "53cd5648488c4707914182655b7664034e09e66f7e8cbf1084e654eb56c5bd88",
                )),
            ),
            // pg6mmjiyjmcrsslvykfwnntlaru7p5svn6y2ymmju6nubxndf4pscryd.onion
            (
                "04 20 79bcc625184b05194975c28b66b66b0469f7f6556fb1ac3189a79b40dda32f1f",
                NetworkAddr::TorV3(array(
                    "79bcc625184b05194975c28b66b66b0469f7f6556fb1ac3189a79b40dda32f1f",
                )),
            ),
            // ukeu3k5oycgaauneqgtnvselmt4yemvoilkln7jpvamvfx7dnkdq.b32.i2p
            (
                "05 20 a2894dabaec08c0051a481a6dac88b64f98232ae42d4b6fd2fa81952dfe36a87",
                NetworkAddr::I2p(array(
                    "a2894dabaec08c0051a481a6dac88b64f98232ae42d4b6fd2fa81952dfe36a87",
                )),
            ),
            // fc00:1:2:3:4:5:6:7
            (
                "06 10 fc000001000200030004000500060007",
                NetworkAddr::Cjdns(array("fc000001000200030004000500060007")),
            ),
        ]
    }

    #[test]
    fn each_network_matches_core_bytes_both_ways() {
        for (addr_hex, addr) in core_address_vectors() {
            let payload = hex(&one_entry_hex(addr_hex));
            assert_eq!(encode(&[entry(addr)]), payload, "{addr:?}");
            assert_eq!(
                read_addrv2(&Bytes::from(payload)),
                Ok(vec![entry(addr)]),
                "{addr:?}"
            );
        }
    }

    /// Bitcoin Core's `stream_addrv2_hex`, a whole three-entry payload
    /// (`src/test/netbase_tests.cpp`, bitcoin/bitcoin at 2edbe032), and its
    /// `fixture_addresses`.
    const CORE_STREAM_ADDRV2_HEX: &str = "
        03
        61bc6649 00     02 10 00000000000000000000000000000001 0000
        79627683 01     02 10 00000000000000000000000000000001 00f1
        ffffffff fd4804 02 10 00000000000000000000000000000001 f1f2";

    fn core_fixture_addresses() -> Vec<AddrV2Entry> {
        let at = |time, services, port| AddrV2Entry {
            time,
            services,
            addr: NetworkAddr::Ipv6(Ipv6Addr::LOCALHOST),
            port,
        };
        vec![
            at(0x4966_bc61, 0, 0),
            at(0x8376_6279, 1, 0x00f1),
            // NODE_WITNESS | NODE_COMPACT_FILTERS | NODE_NETWORK_LIMITED
            at(0xffff_ffff, (1 << 3) | (1 << 6) | (1 << 10), 0xf1f2),
        ]
    }

    #[test]
    fn core_stream_addrv2_round_trips() {
        assert_eq!(
            read_hex(CORE_STREAM_ADDRV2_HEX),
            Ok(core_fixture_addresses())
        );
        assert_eq!(
            encode(&core_fixture_addresses()),
            hex(CORE_STREAM_ADDRV2_HEX)
        );
    }

    #[test]
    fn addresses_core_ignores_are_skipped_and_parsing_continues() {
        // Each is followed by a valid IPv4 entry, which must still be read.
        // The first five are Core's (net_tests.cpp `cnetaddr_unserialize_v2`).
        let ignored = [
            ("02 10 00000000000000000000ffff01020304", 2), // IPv4 in IPv6
            ("02 10 fd87d87eeb430102030405060708090a", 2), // OnionCat (Tor v2) in IPv6
            ("02 10 fd6b88c08724ca978112ca1bbdcafac2", 2), // Core's "internal" name
            ("03 0a f1f2f3f4f5f6f7f8f9fa", 3),             // Tor v2, deprecated
            ("aa 04 01020304", 0xaa),                      // unknown id
            ("aa 00", 0xaa),                               // unknown id, empty
            ("06 10 aa000001000200030004000500060007", 6), // CJDNS outside fc00::/8
            ("07 07 01020304050607", 7),                   // unknown id, odd length
            ("ff 01 ff", 0xff),                            // unknown id, one byte
        ];
        let next = entry(NetworkAddr::Ipv4(Ipv4Addr::new(1, 2, 3, 4)));
        for (addr_hex, network_id) in ignored {
            let payload = format!(
                "02 {TIME_HEX} 01 {addr_hex} {PORT_HEX} {TIME_HEX} 01 01 04 01020304 {PORT_HEX}"
            );
            let skipped = entry(NetworkAddr::Unknown { network_id });
            assert_eq!(read_hex(&payload), Ok(vec![skipped, next]), "{addr_hex}");
        }
    }

    #[test]
    fn unknown_network_of_the_largest_length_is_skipped() {
        let mut payload = hex(&format!("01 {TIME_HEX} 01 2a fd0002"));
        payload.extend([0x5a; MAX_ADDRV2_ADDRESS_LEN]);
        payload.extend(hex(PORT_HEX));
        assert_eq!(
            read_addrv2(&Bytes::from(payload)),
            Ok(vec![entry(NetworkAddr::Unknown { network_id: 0x2a })])
        );
    }

    #[test]
    fn wrong_length_for_a_known_network_rejects_the_message() {
        // Core's "bogus length" vectors (net_tests.cpp), each completed with
        // enough bytes that only the length can be at fault.
        let wrong = [
            "01 05 0102030405",                       // IPv4, 5
            "02 04 00000000",                         // IPv6, 4
            "03 07 00000000000000",                   // Tor v2, 7 (Core before v22)
            "04 00",                                  // Tor v3, 0
            "05 03 000000",                           // I2P, 3
            "06 01 fc",                               // CJDNS, 1
            "01 10 0102030405060708090a0b0c0d0e0f10", // IPv4, 16
        ];
        for addr_hex in wrong {
            let mut payload = one_entry_hex(addr_hex);
            // Plenty of bytes follow, so without the length check the entry
            // would decode: the error cannot be a real truncation.
            payload.push_str(&"00".repeat(64));
            assert_eq!(
                read_hex(&payload),
                Err(invalid_address_error()),
                "{addr_hex}"
            );
        }
    }

    /// The error `invalid_address` gives (the same whatever the reader's
    /// position, so a fresh reader will do).
    fn invalid_address_error() -> PayloadError {
        let empty = Bytes::new();
        invalid_address(&Reader::new(&empty, COMMAND))
    }

    #[test]
    fn address_over_512_bytes_rejects_the_message() {
        // Core's vector: IPv4 with length 513 (fd0102).
        let mut payload = hex(&format!("01 {TIME_HEX} 01 01 fd0102"));
        payload.extend([0u8; 600]);
        assert_eq!(
            read_addrv2(&Bytes::from(payload)),
            Err(invalid_address_error())
        );
        // Unknown network, 513 bytes present: still rejected.
        let mut payload = hex(&format!("01 {TIME_HEX} 01 aa fd0102"));
        payload.extend([0u8; 515]);
        assert_eq!(
            read_addrv2(&Bytes::from(payload)),
            Err(invalid_address_error())
        );
        // Core's vector: unknown network, length MAX_SIZE (fe00000002).
        assert_eq!(
            read_hex(&format!(
                "01 {TIME_HEX} 01 aa fe00000002 01020304050607 {PORT_HEX}"
            )),
            Err(invalid_address_error())
        );
        // Over MAX_SIZE: the CompactSize itself is refused.
        assert_eq!(
            read_hex(&format!("01 {TIME_HEX} 01 aa fe01000002")),
            Err(PayloadError::CompactSizeTooLarge { value: 0x0200_0001 })
        );
    }

    #[test]
    fn non_canonical_compact_sizes_are_refused() {
        // Services 1 written in three bytes.
        assert_eq!(
            read_hex(&format!("01 {TIME_HEX} fd0100 01 04 01020304 {PORT_HEX}")),
            Err(PayloadError::NonCanonicalCompactSize)
        );
        // Address length 4 written in three bytes.
        assert_eq!(
            read_hex(&format!("01 {TIME_HEX} 01 01 fd0400 01020304 {PORT_HEX}")),
            Err(PayloadError::NonCanonicalCompactSize)
        );
        // Services 2^32 - 1 written in nine bytes.
        assert_eq!(
            read_hex(&format!(
                "01 {TIME_HEX} ffffffffff00000000 01 04 01020304 {PORT_HEX}"
            )),
            Err(PayloadError::NonCanonicalCompactSize)
        );
    }

    #[test]
    fn services_above_max_compact_size_are_accepted() {
        // A bit field, not a size: Core does not range-check it.
        for services in [1 << 26, 0xFFFF_FFFF, 1 << 40, u64::MAX] {
            let mut e = entry(NetworkAddr::Ipv4(Ipv4Addr::new(1, 2, 3, 4)));
            e.services = services;
            let bytes = encode(&[e]);
            assert_eq!(
                read_addrv2(&Bytes::from(bytes)),
                Ok(vec![e]),
                "{services:#x}"
            );
        }
    }

    #[test]
    fn more_than_1000_entries_is_too_many() {
        let entries: Vec<AddrV2Entry> = (0..=MAX_ADDR_ENTRIES as u32)
            .map(|i| entry(NetworkAddr::Ipv4(Ipv4Addr::from(i))))
            .collect();
        let bytes = encode(&entries);
        assert_eq!(
            read_addrv2(&Bytes::from(bytes)),
            Err(PayloadError::TooManyEntries {
                command: "addrv2",
                count: 1_001,
                max: MAX_ADDR_ENTRIES,
            })
        );
        // The count alone decides, before any entry is read.
        assert_eq!(
            read_hex("fd e903"),
            Err(PayloadError::TooManyEntries {
                command: "addrv2",
                count: 1_001,
                max: MAX_ADDR_ENTRIES,
            })
        );
        // Exactly 1,000 is fine.
        let bytes = encode(&entries[..MAX_ADDR_ENTRIES]);
        assert_eq!(
            read_addrv2(&Bytes::from(bytes)).map(|v| v.len()),
            Ok(MAX_ADDR_ENTRIES)
        );
    }

    #[test]
    fn a_large_claimed_count_without_the_bytes_is_truncated() {
        assert_eq!(read_hex(&format!("fd e803 {TIME_HEX}")), Err(truncated()));
    }

    /// Every network, a skipped entry and a multi-byte services field.
    fn multi_entry_payload() -> Vec<u8> {
        let mut payload = hex(&format!(
            "{:02x} {TIME_HEX} 01 07 03 abcdef {PORT_HEX}",
            core_address_vectors().len() + 2
        ));
        for (addr_hex, _) in core_address_vectors() {
            payload.extend(hex(&format!("{TIME_HEX} fd4804 {addr_hex} {PORT_HEX}")));
        }
        payload.extend(hex(&format!(
            "{TIME_HEX} ff0000000001000000 01 04 01020304 {PORT_HEX}"
        )));
        payload
    }

    #[test]
    fn truncation_at_every_byte_is_an_error() {
        let payload = multi_entry_payload();
        let full = read_addrv2(&Bytes::from(payload.clone())).unwrap();
        assert_eq!(full.len(), core_address_vectors().len() + 2);
        for len in 0..payload.len() {
            let prefix = Bytes::copy_from_slice(&payload[..len]);
            assert_eq!(read_addrv2(&prefix), Err(truncated()), "cut at {len}");
        }
    }

    #[test]
    fn write_leaves_out_unknown_entries() {
        let v4 = entry(NetworkAddr::Ipv4(Ipv4Addr::new(1, 2, 3, 4)));
        let skipped = entry(NetworkAddr::Unknown { network_id: 3 });
        assert_eq!(encode(&[skipped, v4, skipped]), encode(&[v4]));
        assert_eq!(encode(&[skipped]), [0]);
        assert_eq!(read_hex("00"), Ok(vec![]));
        assert!(!skipped.addr.is_known() && v4.addr.is_known());
        assert_eq!(skipped.addr.network_id(), 3);
    }

    #[test]
    fn trailing_bytes_after_the_list_are_ignored() {
        let mut payload = hex(CORE_STREAM_ADDRV2_HEX);
        payload.extend([1, 2, 3]);
        assert_eq!(
            read_addrv2(&Bytes::from(payload)),
            Ok(core_fixture_addresses())
        );
    }

    #[test]
    fn socket_address_conversions() {
        let v4: SocketAddr = "203.0.113.7:8333".parse().unwrap();
        let e = AddrV2Entry::from_socket_addr(5, 9, v4);
        assert_eq!(
            e,
            AddrV2Entry {
                time: 5,
                services: 9,
                addr: NetworkAddr::Ipv4(Ipv4Addr::new(203, 0, 113, 7)),
                port: 8333,
            }
        );
        assert_eq!(e.socket_addr(), Some(v4));

        // IPv4-mapped IPv6 travels as IPv4.
        let mapped: SocketAddr = "[::ffff:203.0.113.7]:8333".parse().unwrap();
        assert_eq!(AddrV2Entry::from_socket_addr(5, 9, mapped), e);

        let v6: SocketAddr = "[2001:db8::1]:18333".parse().unwrap();
        let e = AddrV2Entry::from_socket_addr(0, 0, v6);
        assert_eq!(e.addr, NetworkAddr::Ipv6("2001:db8::1".parse().unwrap()));
        assert_eq!(e.socket_addr(), Some(v6));
        assert_eq!(hex("02 10 20010db8000000000000000000000001"), {
            let mut out = Vec::new();
            e.addr.write(&mut out);
            out
        });

        for addr in [
            NetworkAddr::TorV3([1; 32]),
            NetworkAddr::I2p([2; 32]),
            NetworkAddr::Cjdns([0xFC; 16]),
            NetworkAddr::Unknown { network_id: 9 },
        ] {
            assert_eq!(entry(addr).socket_addr(), None, "{addr:?}");
        }
    }

    #[test]
    fn network_ids_are_bip155s() {
        let ids: Vec<u8> = core_address_vectors()
            .iter()
            .map(|(_, addr)| addr.network_id())
            .collect();
        assert_eq!(ids, [1, 2, 2, 4, 4, 5, 6]);
    }

    /// Every single-byte change of a valid payload: no panic, and whatever
    /// decodes re-encodes to something that decodes to the same known entries.
    #[test]
    fn byte_mutations_never_panic_and_decoded_entries_round_trip() {
        let payload = multi_entry_payload();
        for pos in 0..payload.len() {
            for value in [
                0x00, 0x01, 0x02, 0x06, 0x10, 0x20, 0x7f, 0xfc, 0xfd, 0xfe, 0xff,
            ] {
                let mut mutated = payload.clone();
                mutated[pos] = value;
                if let Ok(entries) = read_addrv2(&Bytes::from(mutated)) {
                    let known: Vec<AddrV2Entry> =
                        entries.into_iter().filter(|e| e.addr.is_known()).collect();
                    assert_eq!(
                        read_addrv2(&Bytes::from(encode(&known))),
                        Ok(known),
                        "byte {pos} = {value:#04x}"
                    );
                }
            }
        }
    }
}
