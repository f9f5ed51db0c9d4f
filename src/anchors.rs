//! The anchors file (`anchors.dat`): the block-relay-only peers of the last run, saved
//! at stop and dialled first at the next start (Bitcoin Core's anchors), so that an
//! attacker who fills the address book while the node is down still finds it connected
//! to peers it already trusted.
//!
//! The file is read once at start and removed, as Core does: a node that crashes in a
//! loop does not keep dialling the same anchors.
//!
//! Payload (in the [`persist`] envelope, magic `P2PNANCH`): one count byte, then per
//! anchor its IPv6 address (IPv4 mapped) in 16 bytes and its port, big endian.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::Path;

use crate::persist::{self, FileKind, PersistError};

/// Block-relay-only peers saved as anchors at stop (Bitcoin Core's
/// `MAX_BLOCK_RELAY_ONLY_ANCHORS`).
pub(crate) const MAX_ANCHORS: usize = 2;

const ENTRY_LEN: usize = 18;

pub const FILE: FileKind = FileKind {
    name: "anchors",
    magic: *b"P2PNANCH",
    oldest_version: 1,
    version: 1,
    max_payload: 1 + MAX_ANCHORS * ENTRY_LEN,
};

/// The complete file for `anchors` (at most [`MAX_ANCHORS`] are kept).
pub fn snapshot(anchors: &[SocketAddr]) -> Vec<u8> {
    let kept = &anchors[..anchors.len().min(MAX_ANCHORS)];
    let mut payload = Vec::with_capacity(1 + kept.len() * ENTRY_LEN);
    payload.push(kept.len() as u8);
    for anchor in kept {
        let ip = match anchor.ip() {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        payload.extend_from_slice(&ip.octets());
        payload.extend_from_slice(&anchor.port().to_be_bytes());
    }
    persist::encode(&FILE, FILE.version, &payload)
}

/// The anchors in a file made by [`snapshot`]; any damage fails the whole file.
pub fn from_snapshot(bytes: &[u8]) -> Result<Vec<SocketAddr>, PersistError> {
    let (_version, payload) = persist::decode(&FILE, bytes)?;
    let malformed = || PersistError::Malformed("anchors payload does not match its count".into());
    let (&count, entries) = payload.split_first().ok_or_else(malformed)?;
    if usize::from(count) > MAX_ANCHORS || entries.len() != usize::from(count) * ENTRY_LEN {
        return Err(malformed());
    }
    Ok(entries
        .chunks_exact(ENTRY_LEN)
        .map(|entry| {
            let mut ip = [0u8; 16];
            ip.copy_from_slice(&entry[..16]);
            let ip = Ipv6Addr::from(ip).to_canonical();
            SocketAddr::new(ip, u16::from_be_bytes([entry[16], entry[17]]))
        })
        .collect())
}

/// Reads the anchors file at `path` and removes it. A missing file gives no anchors and
/// no warning; a damaged one gives no anchors and a warning.
pub fn take(path: &Path) -> (Vec<SocketAddr>, Option<String>) {
    let anchors = match persist::read(path, &FILE) {
        Err(e) if e.is_not_found() => return (Vec::new(), None),
        Err(e) => Err(e),
        Ok(bytes) => from_snapshot(&bytes),
    };
    let removed = std::fs::remove_file(path);
    match (anchors, removed) {
        (Ok(anchors), Ok(())) => (anchors, None),
        // A file that cannot be removed would be dialled again after a crash loop.
        (Ok(_), Err(e)) => (
            Vec::new(),
            Some(format!(
                "ignoring anchors {}: cannot remove it: {e}",
                path.display()
            )),
        ),
        (Err(e), _) => (
            Vec::new(),
            Some(format!("ignoring anchors {}: {e}", path.display())),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn anchors_round_trip_and_damage_is_refused() {
        let anchors: Vec<SocketAddr> = vec![
            "11.2.0.1:18444".parse().unwrap(),
            "[2001:db8::7]:8333".parse().unwrap(),
        ];
        let bytes = snapshot(&anchors);
        assert_eq!(&bytes[..8], b"P2PNANCH");
        assert_eq!(from_snapshot(&bytes).unwrap(), anchors);
        let three = [anchors.clone(), vec!["1.2.3.4:1".parse().unwrap()]].concat();
        assert_eq!(
            from_snapshot(&snapshot(&three)).unwrap(),
            anchors,
            "two kept"
        );
        assert!(from_snapshot(&snapshot(&[])).unwrap().is_empty());
        let mut flipped = bytes.clone();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(from_snapshot(&flipped).is_err());
        assert!(from_snapshot(&bytes[..bytes.len() - 1]).is_err());
    }

    #[test]
    fn taking_the_file_removes_it() {
        let dir = std::env::temp_dir().join(format!("p2pnet-anchors-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("anchors.dat");
        assert_eq!(take(&path), (Vec::new(), None), "missing: nothing, quietly");
        let anchors: Vec<SocketAddr> = vec!["11.2.0.1:18444".parse().unwrap()];
        persist::write_atomic(&path, &snapshot(&anchors)).unwrap();
        assert_eq!(take(&path), (anchors, None));
        assert!(!path.exists());
        std::fs::write(&path, b"not an anchors file").unwrap();
        let (none, warning) = take(&path);
        assert!(none.is_empty());
        assert!(warning.unwrap().contains("ignoring anchors"));
        assert!(!path.exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
