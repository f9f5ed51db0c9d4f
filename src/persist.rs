//! The engine's own files (address book, ban list): one envelope, one atomic write.
//!
//! Snapshots are made by the sans-IO parts ([`AddrMan::snapshot`],
//! [`BanList::snapshot`]) as complete file images; whoever owns the disk writes them
//! with [`write_atomic`] and reads them back with [`read`]. Only those two functions
//! touch the file system; [`encode`] and [`decode`] are pure.
//!
//! # Envelope
//!
//! Every file is a fixed 52-byte header followed by the payload:
//!
//! ```text
//! offset  size  field
//! 0       8     magic, one per kind of file: b"P2PNADDR" (peers.dat), b"P2PNBANS" (banlist.dat)
//! 8       4     format version of the payload, u32 little-endian
//! 12      8     payload length in bytes, u64 little-endian
//! 20      32    SHA-256 of bytes 0..20 followed by the payload
//! 52      n     payload: bincode 2 (standard config, serde), laid out as the kind's
//!               version says
//! ```
//!
//! [`decode`] checks, in this order, the magic ([`PersistError::WrongMagic`]), that
//! the header is complete ([`PersistError::Truncated`]), that the version is one the
//! kind can read ([`PersistError::UnsupportedVersion`]), that exactly `length` bytes
//! follow ([`PersistError::Truncated`], [`PersistError::TrailingData`]) and the
//! checksum ([`PersistError::ChecksumMismatch`]); only then is the payload handed to
//! the owner, which decodes it with a byte limit. The checksum covers the header
//! fields too, so damage that leaves them plausible (a version flipped to another
//! readable one) is caught as well.
//!
//! [`AddrMan::snapshot`]: crate::addrman::AddrMan::snapshot
//! [`BanList::snapshot`]: crate::banman::BanList::snapshot

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// Length of the magic at the start of every file.
pub const MAGIC_LEN: usize = 8;

/// Size of the envelope header: magic, version, payload length, SHA-256.
pub const HEADER_LEN: usize = MAGIC_LEN + 4 + 8 + 32;

/// A kind of file: its magic, the payload versions this build reads and writes, and
/// the largest payload it accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileKind {
    /// Name used in error messages ("address book", "ban list").
    pub name: &'static str,
    /// The first bytes of every file of this kind.
    pub magic: [u8; MAGIC_LEN],
    /// The oldest payload version [`decode`] accepts.
    pub oldest_version: u32,
    /// The version written today and the newest one [`decode`] accepts.
    pub version: u32,
    /// Largest payload accepted; [`read`] reads no more than `HEADER_LEN` plus this.
    pub max_payload: usize,
}

impl FileKind {
    /// The largest file of this kind [`read`] accepts.
    pub const fn max_file_len(&self) -> usize {
        HEADER_LEN.saturating_add(self.max_payload)
    }
}

/// Why a file could not be read or its envelope opened.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// The file could not be opened or read (including "not found").
    #[error("cannot read the file: {0}")]
    Io(#[from] io::Error),
    /// The file is larger than any valid file of its kind.
    #[error("file is larger than {max} bytes")]
    TooLarge {
        /// The size bound that was exceeded.
        max: usize,
    },
    /// The file does not start with the kind's magic.
    #[error("not a {kind} file (wrong magic)")]
    WrongMagic {
        /// The kind that was expected.
        kind: &'static str,
    },
    /// The format version is not one this build reads.
    #[error(
        "unsupported {kind} format version {found} (this build reads {})",
        readable_versions(*.oldest, *.newest)
    )]
    UnsupportedVersion {
        /// The kind of file.
        kind: &'static str,
        /// The version in the file.
        found: u32,
        /// The oldest version this build reads.
        oldest: u32,
        /// The newest version this build reads.
        newest: u32,
    },
    /// The file ends before its header or its payload does.
    #[error("file is truncated")]
    Truncated,
    /// There are bytes after the payload.
    #[error("{0} bytes after the end of the payload")]
    TrailingData(usize),
    /// The payload does not match its checksum.
    #[error("checksum mismatch")]
    ChecksumMismatch,
    /// The envelope is sound but its payload is not laid out as the kind says.
    #[error("malformed payload: {0}")]
    Malformed(String),
}

fn readable_versions(oldest: u32, newest: u32) -> String {
    if oldest == newest {
        format!("version {newest}")
    } else {
        format!("versions {oldest} to {newest}")
    }
}

impl PersistError {
    /// True when the file does not exist: on a first start that is normal, not damage.
    pub fn is_not_found(&self) -> bool {
        matches!(self, PersistError::Io(e) if e.kind() == io::ErrorKind::NotFound)
    }
}

/// The complete file image: header for `kind` at `version`, then `payload`.
pub fn encode(kind: &FileKind, version: u32, payload: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(HEADER_LEN.saturating_add(payload.len()));
    out.extend_from_slice(&kind.magic);
    out.extend_from_slice(&version.to_le_bytes());
    // usize fits in u64 on every supported target.
    out.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    let checksum = checksum(&out, payload);
    out.extend_from_slice(&checksum);
    out.extend_from_slice(payload);
    out
}

/// SHA-256 of the header fields before the checksum, then the payload.
fn checksum(fields: &[u8], payload: &[u8]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(fields);
    hasher.update(payload);
    hasher.finalize().into()
}

/// Opens the envelope of a `kind` file; returns the payload's version and the payload.
/// See the module documentation for the checks and their order.
pub fn decode<'a>(kind: &FileKind, bytes: &'a [u8]) -> Result<(u32, &'a [u8]), PersistError> {
    // A short file whose bytes so far match the magic is truncated, not foreign.
    let seen = bytes.len().min(MAGIC_LEN);
    if bytes.get(..seen) != kind.magic.get(..seen) {
        return Err(PersistError::WrongMagic { kind: kind.name });
    }
    let (Some(header), Some(payload)) = (bytes.get(..HEADER_LEN), bytes.get(HEADER_LEN..)) else {
        return Err(PersistError::Truncated);
    };
    let field = |at: usize| header.get(at..).unwrap_or_default();
    let version = u32::from_le_bytes(array(field(MAGIC_LEN)));
    if version < kind.oldest_version || version > kind.version {
        return Err(PersistError::UnsupportedVersion {
            kind: kind.name,
            found: version,
            oldest: kind.oldest_version,
            newest: kind.version,
        });
    }
    let declared = u64::from_le_bytes(array(field(MAGIC_LEN + 4)));
    let stored: [u8; 32] = array(field(MAGIC_LEN + 4 + 8));
    let actual = payload.len() as u64;
    if declared > actual {
        return Err(PersistError::Truncated);
    }
    if declared < actual {
        let extra = usize::try_from(actual - declared).unwrap_or(usize::MAX);
        return Err(PersistError::TrailingData(extra));
    }
    let fields = header.get(..MAGIC_LEN + 4 + 8).unwrap_or_default();
    if checksum(fields, payload) != stored {
        return Err(PersistError::ChecksumMismatch);
    }
    Ok((version, payload))
}

/// The first `N` bytes of `bytes`, zero-padded (callers pass slices long enough).
fn array<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    for (o, b) in out.iter_mut().zip(bytes) {
        *o = *b;
    }
    out
}

/// Reads a whole `kind` file, refusing to read more than [`FileKind::max_file_len`]
/// bytes. The envelope is not checked; pass the bytes to the owner's loader.
pub fn read(path: &Path, kind: &FileKind) -> Result<Vec<u8>, PersistError> {
    let max = kind.max_file_len();
    let file = File::open(path)?;
    let mut bytes = Vec::new();
    file.take(u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)?;
    if bytes.len() > max {
        return Err(PersistError::TooLarge { max });
    }
    Ok(bytes)
}

/// Moves a file that could not be loaded out of the way, to `<name>.bad` beside it
/// (replacing an older one), so the next save does not destroy what may still be
/// recovered. Returns where it went.
pub fn set_aside(path: &Path) -> io::Result<PathBuf> {
    if !path.is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    let mut name = path.as_os_str().to_owned();
    name.push(".bad");
    let aside = PathBuf::from(name);
    std::fs::rename(path, &aside)?;
    Ok(aside)
}

/// What became of a file that could not be loaded, for the warning.
pub fn set_aside_note(path: &Path) -> String {
    match set_aside(path) {
        Ok(aside) => format!("the file was kept as {}", aside.display()),
        Err(e) => format!("it could not be moved aside ({e}) and will be overwritten"),
    }
}

/// Replaces `path` with `bytes` atomically: the bytes go to a fresh temporary file in
/// the same directory, which is synced, renamed over `path`, and the directory synced
/// (where the platform can), so a crash leaves either the old file or the new one,
/// never a mix. The temporary file is removed if anything before the rename fails.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let Some(name) = path.file_name() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no file name", path.display()),
        ));
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let mut tmp_name = OsString::from(".");
    tmp_name.push(name);
    tmp_name.push(format!(
        ".tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let tmp = dir.join(tmp_name);

    let result = (|| {
        let mut file = OpenOptions::new().write(true).create_new(true).open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    // Make the rename itself durable. Best effort: not every platform can open or
    // sync a directory, and the data is in place either way.
    if let Ok(d) = File::open(&dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const KIND: FileKind = FileKind {
        name: "test",
        magic: *b"P2PNTEST",
        oldest_version: 2,
        version: 3,
        max_payload: 1024,
    };

    /// A directory under the system temp dir, removed on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(name: &str) -> TestDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "p2pnet-persist-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }

        fn names(&self) -> Vec<OsString> {
            let mut names: Vec<_> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name())
                .collect();
            names.sort();
            names
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn round_trip() {
        for payload in [&b""[..], b"x", &[0xA5; 1024]] {
            for version in [2, 3] {
                let bytes = encode(&KIND, version, payload);
                assert_eq!(bytes.len(), HEADER_LEN + payload.len());
                assert_eq!(&bytes[..8], b"P2PNTEST");
                let (v, p) = decode(&KIND, &bytes).unwrap();
                assert_eq!((v, p), (version, payload));
            }
        }
    }

    #[test]
    fn layout_is_as_documented() {
        let bytes = encode(&KIND, 3, b"abc");
        assert_eq!(&bytes[8..12], &[3, 0, 0, 0]);
        assert_eq!(&bytes[12..20], &[3, 0, 0, 0, 0, 0, 0, 0]);
        let mut covered = bytes[..20].to_vec();
        covered.extend_from_slice(b"abc");
        assert_eq!(&bytes[20..52], Sha256::digest(&covered).as_slice());
        assert_eq!(&bytes[52..], b"abc");
    }

    #[test]
    fn wrong_magic() {
        let mut bytes = encode(&KIND, 3, b"payload");
        bytes[3] ^= 1;
        let err = decode(&KIND, &bytes).unwrap_err();
        assert!(matches!(err, PersistError::WrongMagic { kind: "test" }));
        assert_eq!(err.to_string(), "not a test file (wrong magic)");
        // Another kind's file.
        let other = FileKind {
            magic: *b"P2PNELSE",
            ..KIND
        };
        assert!(matches!(
            decode(&other, &encode(&KIND, 3, b"")),
            Err(PersistError::WrongMagic { .. })
        ));
        assert!(matches!(
            decode(&KIND, b"hello"),
            Err(PersistError::WrongMagic { .. })
        ));
    }

    #[test]
    fn unsupported_version() {
        for version in [0, 1, 4, u32::MAX] {
            let err = decode(&KIND, &encode(&KIND, version, b"p")).unwrap_err();
            assert!(
                matches!(err, PersistError::UnsupportedVersion { found, oldest: 2, newest: 3, .. } if found == version),
                "{err}"
            );
        }
        let err = decode(&KIND, &encode(&KIND, 9, b"p")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported test format version 9 (this build reads versions 2 to 3)"
        );
        let one = FileKind {
            oldest_version: 3,
            ..KIND
        };
        let err = decode(&one, &encode(&KIND, 2, b"p")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unsupported test format version 2 (this build reads version 3)"
        );
    }

    #[test]
    fn truncated_at_every_length() {
        let bytes = encode(&KIND, 3, b"some payload");
        for n in 0..bytes.len() {
            assert!(
                matches!(decode(&KIND, &bytes[..n]), Err(PersistError::Truncated)),
                "length {n}"
            );
        }
        // A length field claiming more than is there.
        let mut long = bytes.clone();
        long[12] = 200;
        assert!(matches!(decode(&KIND, &long), Err(PersistError::Truncated)));
        long[19] = 0xff;
        assert!(matches!(decode(&KIND, &long), Err(PersistError::Truncated)));
    }

    #[test]
    fn trailing_data() {
        let mut bytes = encode(&KIND, 3, b"some payload");
        bytes.extend_from_slice(b"xy");
        assert!(matches!(
            decode(&KIND, &bytes),
            Err(PersistError::TrailingData(2))
        ));
    }

    #[test]
    fn bad_checksum() {
        let bytes = encode(&KIND, 3, b"some payload");
        for i in HEADER_LEN - 32..bytes.len() {
            let mut bad = bytes.clone();
            bad[i] ^= 0x40;
            assert!(
                matches!(decode(&KIND, &bad), Err(PersistError::ChecksumMismatch)),
                "byte {i}"
            );
        }
    }

    #[test]
    fn a_version_changed_to_another_readable_one_is_detected() {
        let mut bytes = encode(&KIND, 3, b"payload");
        bytes[8] = 2;
        assert!(matches!(
            decode(&KIND, &bytes),
            Err(PersistError::ChecksumMismatch)
        ));
    }

    #[test]
    fn every_flipped_bit_is_detected() {
        let bytes = encode(&KIND, 3, b"0123456789");
        for i in 0..bytes.len() {
            for bit in 0..8 {
                let mut bad = bytes.clone();
                bad[i] ^= 1 << bit;
                assert!(decode(&KIND, &bad).is_err(), "byte {i} bit {bit}");
            }
        }
    }

    #[test]
    fn write_atomic_replaces_whole_and_leaves_no_temporary() {
        let dir = TestDir::new("replace");
        let path = dir.0.join("state.dat");
        write_atomic(&path, &vec![b'a'; 10_000]).unwrap();
        assert_eq!(fs::read(&path).unwrap(), vec![b'a'; 10_000]);
        // A shorter file replaces the longer one entirely (no stale tail).
        write_atomic(&path, b"short").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"short");
        write_atomic(&path, b"").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"");
        assert_eq!(dir.names(), ["state.dat"]);
    }

    #[test]
    fn failed_write_keeps_the_old_file() {
        let dir = TestDir::new("fail");
        let path = dir.0.join("state.dat");
        write_atomic(&path, b"old contents").unwrap();
        // A directory in the way of the rename: the write fails after the temporary file
        // was written, and the temporary file is cleaned up.
        let blocked = dir.0.join("blocked");
        fs::create_dir(&blocked).unwrap();
        fs::write(blocked.join("inside"), b"keeps the directory non-empty").unwrap();
        assert!(write_atomic(&blocked, b"new").is_err());
        assert_eq!(fs::read(&path).unwrap(), b"old contents");
        assert_eq!(dir.names(), ["blocked", "state.dat"]);
        // No such directory, and no file name at all.
        assert!(write_atomic(&dir.0.join("missing").join("state.dat"), b"new").is_err());
        assert!(write_atomic(Path::new("/"), b"new").is_err());
        assert_eq!(dir.names(), ["blocked", "state.dat"]);
    }

    #[test]
    fn read_is_bounded() {
        let dir = TestDir::new("read");
        let path = dir.0.join("state.dat");
        let err = read(&path, &KIND).unwrap_err();
        assert!(err.is_not_found(), "{err}");

        let biggest = encode(&KIND, 3, &[7; 1024]);
        write_atomic(&path, &biggest).unwrap();
        assert_eq!(read(&path, &KIND).unwrap(), biggest);
        let mut too_big = biggest.clone();
        too_big.push(0);
        write_atomic(&path, &too_big).unwrap();
        let err = read(&path, &KIND).unwrap_err();
        assert!(matches!(err, PersistError::TooLarge { max } if max == HEADER_LEN + 1024));
        assert!(!err.is_not_found());
        // A directory is an I/O error, not a panic.
        assert!(matches!(read(&dir.0, &KIND), Err(PersistError::Io(_))));
    }
}
