//! IPv4 and IPv6 subnets in CIDR notation, as used by the ban list.
//!
//! A [`Subnet`] is always normalised:
//!
//! * host bits below the prefix are cleared (`1.2.3.4/24` is stored as `1.2.3.0/24`);
//! * IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are stored as IPv4, so
//!   `::ffff:1.2.3.0/120` is the same subnet as `1.2.3.0/24`, and an address is
//!   canonicalised the same way before it is matched.
//!
//! After canonicalisation the two families are separate, as in Bitcoin Core's `CSubNet`:
//! an IPv6 subnet never contains an IPv4 address and vice versa. In particular `::/0`
//! matches every IPv6 address but no IPv4 address (nor any `::ffff:a.b.c.d`).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The longest piece of user input that is quoted back in an error message.
const MAX_QUOTED_LEN: usize = 64;

/// Why a string or an (address, prefix) pair is not a valid subnet.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SubnetError {
    /// The input was empty (or only whitespace).
    #[error("empty subnet")]
    Empty,
    /// The address part is not an IPv4 or IPv6 address.
    #[error("invalid IP address {0:?}")]
    InvalidAddress(String),
    /// Something other than a decimal number follows the `/`.
    #[error("invalid prefix length {0:?}: expected a decimal number")]
    InvalidPrefix(String),
    /// The prefix length is larger than the address has bits.
    #[error("prefix length {prefix} is too long for {family} (at most {max})")]
    PrefixTooLong {
        /// The prefix length as written (digits only; shortened if very long).
        prefix: String,
        /// `"IPv4"` or `"IPv6"`.
        family: &'static str,
        /// 32 or 128.
        max: u8,
    },
    /// Brackets around something other than an IPv6 address, or unbalanced brackets.
    #[error(
        "brackets are only allowed around an IPv6 address, as in \"[::1]\" or \"[2001:db8::]/32\""
    )]
    InvalidBrackets,
}

/// An IPv4 or IPv6 network: an address with all bits below `prefix_len` cleared.
///
/// Ordered by family (IPv4 first), then network address, then prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Subnet {
    network: IpAddr,
    prefix_len: u8,
}

impl Subnet {
    /// The subnet of `prefix_len` bits containing `addr`. Host bits are cleared and an
    /// IPv4-mapped IPv6 subnet of at least 96 bits becomes the equivalent IPv4 subnet.
    pub fn new(addr: IpAddr, prefix_len: u8) -> Result<Subnet, SubnetError> {
        match addr {
            IpAddr::V4(a) => {
                if prefix_len > 32 {
                    return Err(too_long(&prefix_len.to_string(), 32));
                }
                Ok(Subnet::v4_masked(a, prefix_len))
            }
            IpAddr::V6(a) => {
                if prefix_len > 128 {
                    return Err(too_long(&prefix_len.to_string(), 128));
                }
                Ok(Subnet::v6_masked(a, prefix_len))
            }
        }
    }

    /// The subnet holding exactly `addr`: `/32` for IPv4 (including IPv4-mapped IPv6
    /// addresses), `/128` for IPv6.
    pub fn single(addr: IpAddr) -> Subnet {
        match addr.to_canonical() {
            IpAddr::V4(a) => Subnet::v4_masked(a, 32),
            IpAddr::V6(a) => Subnet::v6_masked(a, 128),
        }
    }

    /// Parses `"1.2.3.4"`, `"1.2.3.0/24"`, `"::1"`, `"2001:db8::/32"`, `"[::1]"` or
    /// `"[2001:db8::]/32"`. Surrounding whitespace is ignored; a bare address is a
    /// single-address subnet. The prefix length is a decimal number (leading zeros
    /// allowed, no sign).
    pub fn parse(s: &str) -> Result<Subnet, SubnetError> {
        let s = s.trim();
        if s.is_empty() {
            return Err(SubnetError::Empty);
        }
        let (addr_part, prefix_part) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr = parse_addr(addr_part)?;
        let Some(prefix_text) = prefix_part else {
            return Ok(Subnet::single(addr));
        };
        // A mapped address with a prefix is written as IPv6: "::ffff:1.2.3.0/120".
        let (family, max) = if addr.is_ipv6() {
            ("IPv6", 128u8)
        } else {
            ("IPv4", 32u8)
        };
        let prefix = parse_prefix(prefix_text, family, max)?;
        Subnet::new(addr, prefix)
    }

    /// The network address (host bits cleared; IPv4 for IPv4-mapped subnets).
    pub fn network(&self) -> IpAddr {
        self.network
    }

    /// The prefix length: 0..=32 for IPv4, 0..=128 for IPv6.
    pub fn prefix_len(&self) -> u8 {
        self.prefix_len
    }

    /// True for an IPv4 subnet.
    pub fn is_ipv4(&self) -> bool {
        self.network.is_ipv4()
    }

    /// True if the subnet holds a single address (`/32` or `/128`).
    pub fn is_single(&self) -> bool {
        self.prefix_len == max_prefix(&self.network)
    }

    /// True if `addr` (canonicalised, so `::ffff:a.b.c.d` counts as IPv4) is in the subnet.
    pub fn contains(&self, addr: &IpAddr) -> bool {
        match (self.network, addr.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(a)) => {
                u32::from(a) & mask_v4(self.prefix_len) == u32::from(net)
            }
            (IpAddr::V6(net), IpAddr::V6(a)) => {
                u128::from(a) & mask_v6(self.prefix_len) == u128::from(net)
            }
            _ => false,
        }
    }

    fn v4_masked(a: Ipv4Addr, prefix_len: u8) -> Subnet {
        let prefix_len = prefix_len.min(32);
        Subnet {
            network: IpAddr::V4(Ipv4Addr::from(u32::from(a) & mask_v4(prefix_len))),
            prefix_len,
        }
    }

    fn v6_masked(a: Ipv6Addr, prefix_len: u8) -> Subnet {
        let prefix_len = prefix_len.min(128);
        let net = Ipv6Addr::from(u128::from(a) & mask_v6(prefix_len));
        match net.to_ipv4_mapped() {
            // Only a prefix of at least 96 bits keeps the ::ffff: marker intact.
            Some(v4) if prefix_len >= 96 => Subnet::v4_masked(v4, prefix_len - 96),
            _ => Subnet {
                network: IpAddr::V6(net),
                prefix_len,
            },
        }
    }
}

fn max_prefix(addr: &IpAddr) -> u8 {
    if addr.is_ipv4() {
        32
    } else {
        128
    }
}

fn mask_v4(prefix_len: u8) -> u32 {
    u32::MAX
        .checked_shl(32u32.saturating_sub(u32::from(prefix_len)))
        .unwrap_or(0)
}

fn mask_v6(prefix_len: u8) -> u128 {
    u128::MAX
        .checked_shl(128u32.saturating_sub(u32::from(prefix_len)))
        .unwrap_or(0)
}

/// Quotes user input in an error message, shortened so hostile input cannot flood logs.
fn quote(s: &str) -> String {
    if s.len() <= MAX_QUOTED_LEN {
        return s.to_owned();
    }
    let mut end = MAX_QUOTED_LEN;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

fn too_long(prefix: &str, max: u8) -> SubnetError {
    SubnetError::PrefixTooLong {
        prefix: quote(prefix),
        family: if max == 32 { "IPv4" } else { "IPv6" },
        max,
    }
}

fn parse_addr(s: &str) -> Result<IpAddr, SubnetError> {
    if let Some(inner) = s.strip_prefix('[') {
        let inner = inner
            .strip_suffix(']')
            .ok_or(SubnetError::InvalidBrackets)?;
        return match inner.parse::<Ipv6Addr>() {
            Ok(a) => Ok(IpAddr::V6(a)),
            Err(_) if inner.parse::<Ipv4Addr>().is_ok() => Err(SubnetError::InvalidBrackets),
            Err(_) => Err(SubnetError::InvalidAddress(quote(inner))),
        };
    }
    if s.contains(['[', ']']) {
        return Err(SubnetError::InvalidBrackets);
    }
    if s.is_empty() {
        return Err(SubnetError::InvalidAddress(String::new()));
    }
    s.parse::<IpAddr>()
        .map_err(|_| SubnetError::InvalidAddress(quote(s)))
}

fn parse_prefix(s: &str, family: &'static str, max: u8) -> Result<u8, SubnetError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SubnetError::InvalidPrefix(quote(s)));
    }
    // Digits only, so this cannot fail except by overflow, which saturates.
    let value = s.bytes().fold(0u32, |acc, b| {
        acc.saturating_mul(10).saturating_add(u32::from(b - b'0'))
    });
    if value > u32::from(max) {
        let digits = s.trim_start_matches('0');
        return Err(SubnetError::PrefixTooLong {
            prefix: quote(digits),
            family,
            max,
        });
    }
    u8::try_from(value).map_err(|_| too_long(s, max))
}

impl fmt::Display for Subnet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.network, self.prefix_len)
    }
}

impl FromStr for Subnet {
    type Err = SubnetError;

    fn from_str(s: &str) -> Result<Subnet, SubnetError> {
        Subnet::parse(s)
    }
}

impl From<IpAddr> for Subnet {
    fn from(addr: IpAddr) -> Subnet {
        Subnet::single(addr)
    }
}

/// Human-readable formats (JSON, TOML) use the CIDR string; binary formats (bincode)
/// use an `(IpAddr, u8)` pair. Both are validated and normalised when deserialised.
impl Serialize for Subnet {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.collect_str(self)
        } else {
            (self.network, self.prefix_len).serialize(serializer)
        }
    }
}

impl<'de> Deserialize<'de> for Subnet {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Subnet, D::Error> {
        if deserializer.is_human_readable() {
            let s = String::deserialize(deserializer)?;
            Subnet::parse(&s).map_err(D::Error::custom)
        } else {
            let (addr, prefix_len) = <(IpAddr, u8)>::deserialize(deserializer)?;
            Subnet::new(addr, prefix_len).map_err(D::Error::custom)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn sn(s: &str) -> Subnet {
        Subnet::parse(s).unwrap()
    }

    #[test]
    fn parses_single_addresses() {
        assert_eq!(sn("1.2.3.4").to_string(), "1.2.3.4/32");
        assert_eq!(sn("::1").to_string(), "::1/128");
        assert_eq!(sn("[::1]").to_string(), "::1/128");
        assert_eq!(sn("  10.0.0.1 \n").to_string(), "10.0.0.1/32");
        assert!(sn("1.2.3.4").is_single());
        assert!(sn("::1").is_single());
        assert!(!sn("1.2.3.0/24").is_single());
    }

    #[test]
    fn parses_cidr_and_masks_host_bits() {
        let s = sn("1.2.3.4/24");
        assert_eq!(s.network(), ip("1.2.3.0"));
        assert_eq!(s.prefix_len(), 24);
        assert_eq!(s.to_string(), "1.2.3.0/24");
        assert_eq!(sn("1.2.3.4/24"), sn("1.2.3.0/24"));
        assert_eq!(sn("2001:db8:ffff::1/32").to_string(), "2001:db8::/32");
        assert_eq!(sn("[2001:db8::]/32").to_string(), "2001:db8::/32");
        assert_eq!(sn("10.1.2.3/8").to_string(), "10.0.0.0/8");
        assert_eq!(sn("1.2.3.4/024").prefix_len(), 24);
        assert!(sn("1.2.3.0/24").is_ipv4());
        assert!(!sn("::/0").is_ipv4());
    }

    #[test]
    fn localhost_slash_24() {
        let s = sn("127.0.0.0/24");
        assert!(s.contains(&ip("127.0.0.2")));
        assert!(s.contains(&ip("127.0.0.0")));
        assert!(s.contains(&ip("127.0.0.255")));
        assert!(!s.contains(&ip("127.0.1.2")));
        assert!(!s.contains(&ip("128.0.0.2")));
    }

    #[test]
    fn v4_edges() {
        let all = sn("0.0.0.0/0");
        assert_eq!(sn("9.9.9.9/0"), all);
        assert!(all.contains(&ip("255.255.255.255")));
        assert!(all.contains(&ip("0.0.0.0")));
        assert!(all.contains(&ip("::ffff:8.8.8.8")));
        assert!(!all.contains(&ip("::1")));
        let one = sn("1.2.3.4/32");
        assert!(one.contains(&ip("1.2.3.4")));
        assert!(!one.contains(&ip("1.2.3.5")));
        let odd = sn("192.168.0.0/23");
        assert!(odd.contains(&ip("192.168.1.77")));
        assert!(!odd.contains(&ip("192.168.2.0")));
    }

    #[test]
    fn v6_edges() {
        let all = sn("::/0");
        assert!(all.contains(&ip("::1")));
        assert!(all.contains(&ip("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff")));
        // Families stay separate after canonicalisation (Bitcoin Core's rule).
        assert!(!all.contains(&ip("1.2.3.4")));
        assert!(!all.contains(&ip("::ffff:1.2.3.4")));
        let one = sn("2001:db8::1/128");
        assert!(one.contains(&ip("2001:db8::1")));
        assert!(!one.contains(&ip("2001:db8::2")));
        let doc = sn("2001:db8::/32");
        assert!(doc.contains(&ip("2001:db8:1234::5")));
        assert!(!doc.contains(&ip("2001:db9::")));
        let odd = sn("2001:db8::/33");
        assert!(odd.contains(&ip("2001:db8:7fff::1")));
        assert!(!odd.contains(&ip("2001:db8:8000::1")));
    }

    #[test]
    fn mapped_addresses_are_ipv4() {
        // A mapped address is the IPv4 address.
        assert_eq!(sn("::ffff:1.2.3.4"), sn("1.2.3.4"));
        assert_eq!(sn("[::ffff:1.2.3.4]"), sn("1.2.3.4/32"));
        assert_eq!(sn("::ffff:1.2.3.4/120"), sn("1.2.3.0/24"));
        assert_eq!(sn("::ffff:1.2.3.4/128"), sn("1.2.3.4"));
        assert_eq!(sn("::ffff:0:0/96"), sn("0.0.0.0/0"));
        assert_eq!(Subnet::single(ip("::ffff:7.7.7.7")), sn("7.7.7.7"));
        assert!(Subnet::single(ip("::ffff:7.7.7.7")).is_ipv4());
        // Both directions of matching.
        assert!(sn("1.2.3.0/24").contains(&ip("::ffff:1.2.3.9")));
        assert!(!sn("1.2.3.0/24").contains(&ip("::ffff:1.2.4.9")));
        assert!(sn("::ffff:1.2.3.0/120").contains(&ip("1.2.3.9")));
        // Below 96 bits the ::ffff: marker is masked away: a plain IPv6 subnet.
        let wide = sn("::ffff:1.2.3.4/80");
        assert_eq!(wide.to_string(), "::/80");
        assert!(!wide.is_ipv4());
        // Subnet::new does the same normalisation.
        assert_eq!(
            Subnet::new(ip("::ffff:10.0.0.1"), 104).unwrap(),
            sn("10.0.0.0/8")
        );
        // IPv4-compatible (deprecated ::a.b.c.d) addresses are ordinary IPv6.
        assert!(!sn("::1.2.3.4").is_ipv4());
    }

    #[test]
    fn new_and_single() {
        assert_eq!(Subnet::new(ip("1.2.3.4"), 16).unwrap(), sn("1.2.0.0/16"));
        assert_eq!(Subnet::single(ip("1.2.3.4")).prefix_len(), 32);
        assert_eq!(Subnet::single(ip("::2")).prefix_len(), 128);
        assert_eq!(Subnet::from(ip("::2")), sn("::2/128"));
        assert_eq!(
            Subnet::new(ip("1.2.3.4"), 33).unwrap_err().to_string(),
            "prefix length 33 is too long for IPv4 (at most 32)"
        );
        assert!(Subnet::new(ip("::"), 129).is_err());
        assert!(Subnet::new(ip("::"), 255).is_err());
        assert!(Subnet::new(ip("::"), 128).is_ok());
        assert_eq!("1.2.3.4/8".parse::<Subnet>().unwrap(), sn("1.0.0.0/8"));
    }

    #[test]
    fn rejects_invalid_input() {
        let bad = [
            "",
            "   ",
            "/",
            "/24",
            "1.2.3.4/",
            "1.2.3.4/-1",
            "1.2.3.4/+1",
            "1.2.3.4/ 24",
            "1.2.3.4/24/",
            "1.2.3.4/24/8",
            "1.2.3.4/33",
            "1.2.3.4/99999999999999999999999999999999",
            "::/129",
            "::/1000",
            "::/4294967296",
            "1.2.3.4/0x10",
            "1.2.3.4/2.5",
            "1.2.3",
            "1.2.3.256",
            "1.2.3.4.5",
            "01.2.3.4",
            "garbage",
            "localhost",
            "1.2.3.4:8333",
            "[::1]:8333",
            "[::1",
            "::1]",
            "[[::1]]",
            "[1.2.3.4]",
            "[]",
            "[]/8",
            "fe80::1%eth0",
            ":::",
            "1.2.3.4/２４",
            "١.٢.٣.٤",
            "\0",
            "1.2.3.4\0",
        ];
        for s in bad {
            assert!(Subnet::parse(s).is_err(), "{s:?} should be rejected");
        }
    }

    #[test]
    fn error_messages() {
        let msg = |s: &str| Subnet::parse(s).unwrap_err().to_string();
        assert_eq!(
            msg("1.2.3.4/33"),
            "prefix length 33 is too long for IPv4 (at most 32)"
        );
        assert_eq!(
            msg("::1/129"),
            "prefix length 129 is too long for IPv6 (at most 128)"
        );
        assert_eq!(
            msg("::ffff:1.2.3.4/129"),
            "prefix length 129 is too long for IPv6 (at most 128)"
        );
        assert_eq!(
            msg("1.2.3.4/0033"),
            "prefix length 33 is too long for IPv4 (at most 32)"
        );
        assert_eq!(Subnet::parse("").unwrap_err(), SubnetError::Empty);
        assert_eq!(
            msg("1.2.3.4/-1"),
            "invalid prefix length \"-1\": expected a decimal number"
        );
        assert_eq!(
            msg("1.2.3.4/"),
            "invalid prefix length \"\": expected a decimal number"
        );
        assert_eq!(msg("garbage"), "invalid IP address \"garbage\"");
        assert!(msg("[1.2.3.4]").contains("brackets"));
        // Hostile input is not echoed back in full.
        let long = "x".repeat(100_000);
        assert!(msg(&long).len() < 200);
        let long_prefix = format!("1.2.3.4/{}", "9".repeat(100_000));
        assert!(msg(&long_prefix).len() < 200);
        let multibyte = "é".repeat(50_000);
        assert!(msg(&multibyte).len() < 200);
    }

    #[test]
    fn ordering_and_hash() {
        use std::collections::HashSet;
        let mut v = [sn("::1"), sn("10.0.0.0/8"), sn("1.2.3.4"), sn("1.2.3.0/24")];
        v.sort();
        let shown: Vec<String> = v.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["1.2.3.0/24", "1.2.3.4/32", "10.0.0.0/8", "::1/128"]);
        let set: HashSet<Subnet> = [sn("1.2.3.4/24"), sn("1.2.3.0/24"), sn("::ffff:1.2.3.0/120")]
            .into_iter()
            .collect();
        assert_eq!(set.len(), 1);
    }

    #[test]
    fn display_round_trips() {
        for s in [
            "0.0.0.0/0",
            "1.2.3.4/32",
            "192.168.0.0/16",
            "::/0",
            "::1/128",
            "2001:db8::/32",
            "fe80::/10",
        ] {
            assert_eq!(sn(s).to_string(), s);
            assert_eq!(sn(&sn(s).to_string()), sn(s));
        }
    }

    #[test]
    fn contains_agrees_with_new() {
        // For every prefix, an address is in the subnet built from it, and flipping the
        // bit just inside the prefix takes it out.
        let a4 = Ipv4Addr::new(0xa5, 0x5a, 0xc3, 0x3c);
        for p in 0..=32u8 {
            let s = Subnet::new(IpAddr::V4(a4), p).unwrap();
            assert!(s.contains(&IpAddr::V4(a4)), "/{p}");
            if p > 0 {
                let flipped = Ipv4Addr::from(u32::from(a4) ^ (1u32 << (32 - p)));
                assert!(!s.contains(&IpAddr::V4(flipped)), "/{p}");
            }
        }
        let a6: Ipv6Addr = "2a01:dead:beef:1234:5678:9abc:def0:1357".parse().unwrap();
        for p in 0..=128u8 {
            let s = Subnet::new(IpAddr::V6(a6), p).unwrap();
            assert!(s.contains(&IpAddr::V6(a6)), "/{p}");
            if p > 0 {
                let flipped = Ipv6Addr::from(u128::from(a6) ^ (1u128 << (128 - p)));
                assert!(!s.contains(&IpAddr::V6(flipped)), "/{p}");
            }
        }
    }

    #[test]
    fn human_readable_deserialize_parses_cidr() {
        use serde::de::value::{Error, StrDeserializer};
        use serde::de::IntoDeserializer;
        let de: StrDeserializer<'_, Error> = "::ffff:1.2.3.4/120".into_deserializer();
        assert_eq!(Subnet::deserialize(de).unwrap(), sn("1.2.3.0/24"));
        let de: StrDeserializer<'_, Error> = "1.2.3.4/33".into_deserializer();
        assert!(Subnet::deserialize(de).is_err());
    }

    #[test]
    fn bincode_round_trip_and_validation() {
        let config = bincode::config::standard();
        for s in ["1.2.3.0/24", "::/0", "2001:db8::1/128", "0.0.0.0/0"] {
            let bytes = bincode::serde::encode_to_vec(sn(s), config).unwrap();
            let (back, _): (Subnet, usize) =
                bincode::serde::decode_from_slice(&bytes, config).unwrap();
            assert_eq!(back, sn(s));
        }
        // A hand-made pair with a bad prefix is rejected; host bits are masked.
        let bytes = bincode::serde::encode_to_vec((ip("1.2.3.4"), 40u8), config).unwrap();
        assert!(bincode::serde::decode_from_slice::<Subnet, _>(&bytes, config).is_err());
        let bytes = bincode::serde::encode_to_vec((ip("1.2.3.4"), 24u8), config).unwrap();
        let (back, _): (Subnet, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, sn("1.2.3.0/24"));
        let bytes = bincode::serde::encode_to_vec((ip("::ffff:1.2.3.4"), 128u8), config).unwrap();
        let (back, _): (Subnet, usize) = bincode::serde::decode_from_slice(&bytes, config).unwrap();
        assert_eq!(back, sn("1.2.3.4"));
        // Truncations never panic.
        let bytes = bincode::serde::encode_to_vec(sn("2001:db8::/32"), config).unwrap();
        for n in 0..bytes.len() {
            assert!(bincode::serde::decode_from_slice::<Subnet, _>(&bytes[..n], config).is_err());
        }
    }
}
