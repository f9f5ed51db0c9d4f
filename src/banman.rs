//! The ban list: sans-IO, with thin file helpers on top.
//!
//! [`BanList`] maps [`Subnet`]s to [`BanEntry`]s with an expiry time in unix seconds.
//! The caller passes `now` to every time-dependent call, so the list never reads the
//! clock. It is bounded by `max_entries`; see [`BanList::ban`] for the eviction rule.
//! Misbehaviour scores, which lead to bans, are in [`crate::misbehaviour`].
//!
//! Persistence is split the same way: [`BanList::snapshot`] returns the complete file
//! image and [`BanList::from_snapshot`] rebuilds a list from one, neither touching the
//! disk; [`BanList::take_dirty`] tells the owner when a new snapshot is due. Whoever owns
//! the disk writes the image with [`persist::write_atomic`]. [`BanList::load`],
//! [`BanList::load_or_new`], [`BanList::save`] and [`BanList::save_if_dirty`] are
//! wrappers that do both steps on a path.
//!
//! # File format
//!
//! The [`persist`] envelope with magic `b"P2PNBANS"` ([`FILE`]), format version 2, and
//! as payload bincode 2 (standard config, serde) of `Vec<(Subnet, BanEntry)>` sorted by
//! subnet, expired entries included. Version 1 files (same payload, but a checksum that
//! did not cover the header) are refused as an unsupported version, which
//! [`BanList::load_or_new`] turns into a warning and an empty list.
//!
//! A file is read with a size bound ([`FileKind::max_file_len`]) and decoded with a byte
//! limit, so a hostile or corrupt file can neither crash the process nor make it
//! allocate without limit.

use std::collections::{BTreeSet, HashMap};
#[cfg(test)]
use std::io;
use std::net::IpAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::persist::{self, FileKind, PersistError};
use crate::subnet::Subnet;

/// Default bound on the number of entries in a [`BanList`].
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// The largest `max_entries` accepted; larger values are clamped to this. It keeps the
/// largest possible file within [`MAX_BODY_LEN`].
pub const HARD_MAX_ENTRIES: usize = 100_000;

/// Longest stored ban reason in bytes; longer reasons are cut at a character boundary.
pub const MAX_REASON_LEN: usize = 256;

/// Upper bound on the bincode encoding of one `(Subnet, BanEntry)` with a reason of at
/// most [`MAX_REASON_LEN`] bytes: address variant (1) + IPv6 octets (16) + prefix (1) +
/// two varint u64s (9 each) + reason length varint (9) + reason bytes.
pub const MAX_ENTRY_ENCODED_LEN: usize = 1 + 16 + 1 + 9 + 9 + 9 + MAX_REASON_LEN;

/// Longest bincode varint (the entry count prefix).
const MAX_VARINT_LEN: usize = 9;

/// Byte limit handed to bincode when decoding a payload.
pub const MAX_BODY_LEN: usize = 32 * 1024 * 1024;

/// The ban file (`banlist.dat`) in the [`persist`] envelope.
pub const FILE: FileKind = FileKind {
    name: "ban list",
    magic: *b"P2PNBANS",
    oldest_version: 2,
    version: 2,
    // The largest payload a list of `HARD_MAX_ENTRIES` can produce.
    max_payload: HARD_MAX_ENTRIES * MAX_ENTRY_ENCODED_LEN + MAX_VARINT_LEN,
};
const _: () = assert!(FILE.max_payload <= MAX_BODY_LEN);

fn bincode_config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<MAX_BODY_LEN>()
}

/// One ban: when it was made, when it ends (both unix seconds) and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct BanEntry {
    /// When the ban was created or last extended.
    pub created: u64,
    /// The ban is in force while `now < until`.
    pub until: u64,
    /// Human-readable reason, at most [`MAX_REASON_LEN`] bytes, no control characters.
    pub reason: String,
}

/// What [`BanList::ban`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BanOutcome {
    /// A new entry was stored; there was room.
    Added,
    /// A new entry was stored after evicting this one (the list was full).
    AddedEvicting(Subnet),
    /// The subnet was already banned until earlier; the entry was replaced.
    Extended,
    /// The subnet was already banned until at least `until`; nothing changed.
    Unchanged,
    /// The list is full of live bans that all outlast this one, so this ban, being the
    /// soonest to expire, was not stored.
    Rejected,
    /// `until <= now`: the ban would already be over, so nothing was stored.
    AlreadyExpired,
}

impl BanOutcome {
    /// True if, after the call, the subnet is banned until at least the requested time.
    pub fn is_in_force(self) -> bool {
        matches!(
            self,
            BanOutcome::Added
                | BanOutcome::AddedEvicting(_)
                | BanOutcome::Extended
                | BanOutcome::Unchanged
        )
    }
}

/// Why a ban file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read, or its envelope is damaged or of another version.
    #[error(transparent)]
    File(#[from] PersistError),
    /// The payload is not a valid encoding of the entry list.
    #[error("payload is malformed: {0}")]
    Decode(String),
    /// The payload declares more entries than any list may hold.
    #[error("{count} entries, more than the hard maximum of {max}")]
    TooManyEntries {
        /// Entries declared by the payload.
        count: u64,
        /// [`HARD_MAX_ENTRIES`].
        max: usize,
    },
    /// There are bytes after the entry list inside the payload.
    #[error("payload has trailing data")]
    TrailingData,
    /// The same subnet appears twice.
    #[error("{0} is listed twice")]
    DuplicateEntry(Subnet),
}

/// A bounded set of banned subnets.
///
/// Lookups cost one hash probe per distinct prefix length in use (at most 33 for IPv4
/// and 129 for IPv6), independent of the number of entries; eviction and pruning use an
/// index ordered by expiry.
#[derive(Clone, Debug)]
pub struct BanList {
    entries: HashMap<Subnet, BanEntry>,
    /// `(until, subnet)` for every entry, soonest expiry first.
    by_expiry: BTreeSet<(u64, Subnet)>,
    /// Number of IPv4 entries per prefix length.
    v4_prefixes: [usize; 33],
    /// Number of IPv6 entries per prefix length.
    v6_prefixes: [usize; 129],
    max_entries: usize,
    dirty: bool,
    /// Stored bans that gave way on load because the file held more than `max_entries`.
    trimmed_on_load: usize,
}

impl Default for BanList {
    fn default() -> Self {
        BanList::new(DEFAULT_MAX_ENTRIES)
    }
}

impl BanList {
    /// An empty list holding at most `max_entries` entries (clamped to
    /// [`HARD_MAX_ENTRIES`]; 0 means every ban is rejected).
    pub fn new(max_entries: usize) -> BanList {
        BanList {
            entries: HashMap::new(),
            by_expiry: BTreeSet::new(),
            v4_prefixes: [0; 33],
            v6_prefixes: [0; 129],
            max_entries: max_entries.min(HARD_MAX_ENTRIES),
            dirty: false,
            trimmed_on_load: 0,
        }
    }

    /// Bans `subnet` until `until` (unix seconds, exclusive) for `reason`, which is cut
    /// to [`MAX_REASON_LEN`] bytes with control characters replaced by spaces.
    ///
    /// * An existing ban on the same subnet is replaced only if the new one ends later
    ///   (so the later `until` always wins); otherwise nothing changes.
    /// * Bans with `until <= now` are ignored.
    /// * **Eviction rule.** When the list holds `max_entries` entries and `subnet` is
    ///   new, expired entries are pruned first. If it is still full, the entry that
    ///   expires soonest is dropped, counting the new ban as a candidate: the stored
    ///   entry with the smallest `until` (ties broken by the smallest subnet) is evicted
    ///   if it ends no later than the new ban, otherwise the new ban is the soonest to
    ///   expire and is not stored ([`BanOutcome::Rejected`]). Long or permanent bans can
    ///   therefore not be pushed out by a flood of shorter ones, and the list never grows
    ///   beyond `max_entries`.
    pub fn ban(&mut self, subnet: Subnet, until: u64, reason: &str, now: u64) -> BanOutcome {
        if until <= now {
            return BanOutcome::AlreadyExpired;
        }
        if let Some(existing) = self.entries.get(&subnet) {
            if existing.until >= until {
                return BanOutcome::Unchanged;
            }
            let entry = BanEntry {
                created: now,
                until,
                reason: sanitize_reason(reason),
            };
            self.insert_entry(subnet, entry);
            self.dirty = true;
            return BanOutcome::Extended;
        }
        let mut evicted = None;
        if self.entries.len() >= self.max_entries {
            self.prune(now);
        }
        if self.entries.len() >= self.max_entries {
            match self.by_expiry.first().copied() {
                Some((soonest, victim)) if soonest <= until => {
                    self.remove_entry(&victim);
                    self.dirty = true;
                    tracing::debug!(%victim, %subnet, "ban list full: evicted the ban expiring soonest");
                    evicted = Some(victim);
                }
                _ => {
                    tracing::debug!(%subnet, "ban list full of longer bans: new ban not stored");
                    return BanOutcome::Rejected;
                }
            }
        }
        let entry = BanEntry {
            created: now,
            until,
            reason: sanitize_reason(reason),
        };
        self.insert_entry(subnet, entry);
        self.dirty = true;
        match evicted {
            Some(victim) => BanOutcome::AddedEvicting(victim),
            None => BanOutcome::Added,
        }
    }

    /// Removes the ban on exactly `subnet` (not on subnets inside or around it).
    /// Returns true if there was one.
    pub fn unban(&mut self, subnet: &Subnet) -> bool {
        let removed = self.remove_entry(subnet).is_some();
        self.dirty |= removed;
        removed
    }

    /// True if any subnet containing `addr` is banned with `until > now`.
    /// IPv4-mapped IPv6 addresses are treated as IPv4 (see [`Subnet::contains`]).
    pub fn is_banned(&self, addr: &IpAddr, now: u64) -> bool {
        let addr = addr.to_canonical();
        let counts: &[usize] = if addr.is_ipv4() {
            &self.v4_prefixes
        } else {
            &self.v6_prefixes
        };
        counts
            .iter()
            .enumerate()
            .rev()
            .filter(|(_, &count)| count > 0)
            .filter_map(|(prefix, _)| u8::try_from(prefix).ok())
            .filter_map(|prefix| Subnet::new(addr, prefix).ok())
            .any(|subnet| self.entries.get(&subnet).is_some_and(|e| e.until > now))
    }

    /// Bans in force at `now`, sorted by subnet.
    pub fn list(&self, now: u64) -> Vec<(Subnet, BanEntry)> {
        let mut out: Vec<(Subnet, BanEntry)> = self
            .entries
            .iter()
            .filter(|(_, e)| e.until > now)
            .map(|(s, e)| (*s, e.clone()))
            .collect();
        out.sort_unstable_by_key(|(s, _)| *s);
        out
    }

    /// Removes every entry.
    pub fn clear(&mut self) {
        if !self.entries.is_empty() {
            self.dirty = true;
        }
        self.entries.clear();
        self.by_expiry.clear();
        self.v4_prefixes = [0; 33];
        self.v6_prefixes = [0; 129];
    }

    /// Removes entries with `until <= now`; returns how many.
    pub fn prune(&mut self, now: u64) -> usize {
        let mut removed = 0;
        while let Some(&(until, subnet)) = self.by_expiry.first() {
            if until > now {
                break;
            }
            self.remove_entry(&subnet);
            removed += 1;
        }
        if removed > 0 {
            self.dirty = true;
        }
        removed
    }

    /// Returns whether the list changed since it was created, loaded or last asked, and
    /// clears the flag: when it returns true, a [`snapshot`](Self::snapshot) is due.
    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    /// The complete ban file (envelope and payload) holding every stored entry, expired
    /// ones included ([`from_snapshot`](Self::from_snapshot) drops them). Deterministic:
    /// the same entries always give the same bytes. Touches neither the disk nor the
    /// dirty flag.
    pub fn snapshot(&self) -> Vec<u8> {
        let mut entries: Vec<(&Subnet, &BanEntry)> = self.entries.iter().collect();
        entries.sort_unstable_by_key(|(s, _)| **s);
        // Encoding plain in-memory values into a Vec has no failure case; the size is
        // within `FILE.max_payload` because the list holds at most `HARD_MAX_ENTRIES`.
        let payload = bincode::serde::encode_to_vec(&entries, bincode_config())
            .expect("a ban list always encodes");
        persist::encode(&FILE, FILE.version, &payload)
    }

    /// Rebuilds a list from a [`snapshot`](Self::snapshot), dropping entries with
    /// `until <= now`.
    ///
    /// Fails on any damage: a bad envelope (see [`persist::decode`]), a malformed
    /// payload, trailing bytes, duplicate subnets, or more than [`HARD_MAX_ENTRIES`]
    /// entries. Reasons are re-sanitised. If more than `max_entries` (clamped to
    /// [`HARD_MAX_ENTRIES`]) bans remain, the ones expiring soonest give way, as they do
    /// in [`ban`](Self::ban), so lowering the limit keeps the longest bans. The list
    /// comes back dirty only if entries were dropped.
    pub fn from_snapshot(bytes: &[u8], now: u64, max_entries: usize) -> Result<BanList, LoadError> {
        let (_version, payload) = persist::decode(&FILE, bytes)?;
        let mut list = BanList::new(max_entries);
        let entries = decode_payload(payload)?;
        let mut expired = 0usize;
        for (subnet, mut entry) in entries {
            if list.entries.contains_key(&subnet) {
                return Err(LoadError::DuplicateEntry(subnet));
            }
            if entry.until <= now {
                expired += 1;
                continue;
            }
            entry.reason = sanitize_reason(&entry.reason);
            list.insert_entry(subnet, entry);
        }
        if expired > 0 {
            tracing::debug!(expired, "dropped expired bans while loading the ban list");
            list.dirty = true;
        }
        // The file may come from a run with a larger `max_entries`: keep the bans that
        // expire last, as `ban` would have.
        let mut given_way = 0usize;
        while list.entries.len() > list.max_entries {
            let Some(&(_, soonest)) = list.by_expiry.first() else {
                break;
            };
            list.remove_entry(&soonest);
            given_way += 1;
        }
        if given_way > 0 {
            list.trimmed_on_load = given_way;
            list.dirty = true;
        }
        Ok(list)
    }

    #[cfg(test)]
    /// Saves the list if it is dirty, then marks it clean. Returns whether it saved; on
    /// error the list stays dirty.
    pub fn save_if_dirty(&mut self, path: impl AsRef<Path>) -> io::Result<bool> {
        if !self.take_dirty() {
            return Ok(false);
        }
        if let Err(e) = self.save(path) {
            self.dirty = true;
            return Err(e);
        }
        Ok(true)
    }

    #[cfg(test)]
    /// Writes [`snapshot`](Self::snapshot) to `path` with [`persist::write_atomic`].
    /// Does not clear the dirty flag.
    pub fn save(&self, path: impl AsRef<Path>) -> io::Result<()> {
        persist::write_atomic(path.as_ref(), &self.snapshot())
    }

    /// Reads `path` with [`persist::read`] and rebuilds the list with
    /// [`from_snapshot`](Self::from_snapshot).
    pub fn load(
        path: impl AsRef<Path>,
        now: u64,
        max_entries: usize,
    ) -> Result<BanList, LoadError> {
        let bytes = persist::read(path.as_ref(), &FILE)?;
        BanList::from_snapshot(&bytes, now, max_entries)
    }

    /// [`load`](Self::load), falling back to an empty list. A missing file is normal
    /// (no warning); any other failure, an old format included, yields an empty list
    /// and a warning to log, and the file is moved aside rather than overwritten.
    pub fn load_or_new(
        path: impl AsRef<Path>,
        now: u64,
        max_entries: usize,
    ) -> (BanList, Option<String>) {
        let path = path.as_ref();
        match BanList::load(path, now, max_entries) {
            Ok(list) if list.trimmed_on_load > 0 => {
                let warning = format!(
                    "ban list {} holds {} more bans than the limit of {}: the ones expiring \
                     soonest gave way, and the file will be rewritten without them",
                    path.display(),
                    list.trimmed_on_load,
                    list.max_entries
                );
                (list, Some(warning))
            }
            Ok(list) => (list, None),
            Err(LoadError::File(e)) if e.is_not_found() => (BanList::new(max_entries), None),
            Err(e) => (
                BanList::new(max_entries),
                Some(format!(
                    "ignoring ban list {}: {e}; starting with no bans ({})",
                    path.display(),
                    persist::set_aside_note(path)
                )),
            ),
        }
    }

    fn insert_entry(&mut self, subnet: Subnet, entry: BanEntry) {
        self.remove_entry(&subnet);
        self.by_expiry.insert((entry.until, subnet));
        if let Some(count) = self.prefix_count(&subnet) {
            *count = count.saturating_add(1);
        }
        self.entries.insert(subnet, entry);
    }

    fn remove_entry(&mut self, subnet: &Subnet) -> Option<BanEntry> {
        let entry = self.entries.remove(subnet)?;
        self.by_expiry.remove(&(entry.until, *subnet));
        if let Some(count) = self.prefix_count(subnet) {
            *count = count.saturating_sub(1);
        }
        Some(entry)
    }

    fn prefix_count(&mut self, subnet: &Subnet) -> Option<&mut usize> {
        let index = usize::from(subnet.prefix_len());
        if subnet.is_ipv4() {
            self.v4_prefixes.get_mut(index)
        } else {
            self.v6_prefixes.get_mut(index)
        }
    }
}

/// Decodes the entry list of a payload whose envelope was checked.
fn decode_payload(payload: &[u8]) -> Result<Vec<(Subnet, BanEntry)>, LoadError> {
    // The payload is a bincode sequence, which starts with its length: check it before
    // decoding anything else.
    let (count, _): (u64, usize) = bincode::serde::decode_from_slice(payload, bincode_config())
        .map_err(|e| LoadError::Decode(e.to_string()))?;
    if count > HARD_MAX_ENTRIES as u64 {
        return Err(LoadError::TooManyEntries {
            count,
            max: HARD_MAX_ENTRIES,
        });
    }
    let (entries, used): (Vec<(Subnet, BanEntry)>, usize) =
        bincode::serde::decode_from_slice(payload, bincode_config())
            .map_err(|e| LoadError::Decode(e.to_string()))?;
    if used != payload.len() {
        return Err(LoadError::TrailingData);
    }
    Ok(entries)
}

/// Cuts `reason` to [`MAX_REASON_LEN`] bytes at a character boundary and replaces
/// control characters (newlines, escapes) with spaces. Reads no more of the input than
/// it keeps.
fn sanitize_reason(reason: &str) -> String {
    let mut out = String::with_capacity(reason.len().min(MAX_REASON_LEN));
    for c in reason.chars() {
        let c = if c.is_control() { ' ' } else { c };
        if out.len() + c.len_utf8() > MAX_REASON_LEN {
            break;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    use sha2::{Digest, Sha256};

    /// Read-only views for assertions.
    impl BanList {
        /// The entry for exactly `subnet`, expired or not.
        fn get(&self, subnet: &Subnet) -> Option<&BanEntry> {
            self.entries.get(subnet)
        }

        /// Number of stored entries, including expired ones not yet pruned.
        fn len(&self) -> usize {
            self.entries.len()
        }

        fn is_empty(&self) -> bool {
            self.entries.is_empty()
        }

        fn max_entries(&self) -> usize {
            self.max_entries
        }

        fn is_dirty(&self) -> bool {
            self.dirty
        }
    }

    fn sn(s: &str) -> Subnet {
        Subnet::parse(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn v4(bits: u32) -> IpAddr {
        IpAddr::V4(bits.into())
    }

    fn v6(bits: u128) -> IpAddr {
        IpAddr::V6(bits.into())
    }

    /// A directory under the system temp dir, removed on drop.
    struct TestDir(PathBuf);

    impl TestDir {
        fn new(name: &str) -> TestDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "p2pnet-banman-{name}-{}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            let _ = fs::remove_dir_all(&dir);
            fs::create_dir_all(&dir).unwrap();
            TestDir(dir)
        }

        fn path(&self, file: &str) -> PathBuf {
            self.0.join(file)
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// Tiny deterministic generator for test data.
    struct Lcg(u64);

    impl Lcg {
        fn next(&mut self) -> u64 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            self.0 >> 16
        }
    }

    fn sample_list() -> BanList {
        let mut list = BanList::default();
        list.ban(sn("1.2.3.4"), 1_000, "spam", 10);
        list.ban(sn("10.0.0.0/8"), 2_000, "manual", 10);
        list.ban(sn("2001:db8::/32"), u64::MAX, "forever", 10);
        list.ban(sn("::1"), 500, "", 10);
        list
    }

    #[test]
    fn ban_and_is_banned() {
        let mut list = BanList::default();
        assert!(!list.is_dirty());
        assert_eq!(list.ban(sn("1.2.3.4"), 100, "x", 0), BanOutcome::Added);
        assert!(list.is_dirty());
        assert!(list.is_banned(&ip("1.2.3.4"), 0));
        assert!(list.is_banned(&ip("::ffff:1.2.3.4"), 0));
        assert!(!list.is_banned(&ip("1.2.3.5"), 0));

        list.ban(sn("127.0.0.0/24"), 100, "local", 0);
        assert!(list.is_banned(&ip("127.0.0.2"), 0));
        assert!(!list.is_banned(&ip("127.0.1.2"), 0));

        list.ban(sn("2001:db8::/32"), 100, "v6", 0);
        assert!(list.is_banned(&ip("2001:db8::dead"), 0));
        assert!(!list.is_banned(&ip("2001:db9::"), 0));
        assert!(!list.is_banned(&ip("::1"), 0));

        // A mapped subnet bans IPv4 addresses.
        list.ban(sn("::ffff:192.168.0.0/112"), 100, "mapped", 0);
        assert!(list.is_banned(&ip("192.168.44.1"), 0));
        assert_eq!(list.get(&sn("192.168.0.0/16")).unwrap().reason, "mapped");

        // ::/0 covers IPv6 only.
        list.ban(sn("::/0"), 100, "all v6", 0);
        assert!(list.is_banned(&ip("fe80::1"), 0));
        assert!(!list.is_banned(&ip("8.8.8.8"), 0));
        list.ban(sn("0.0.0.0/0"), 100, "all v4", 0);
        assert!(list.is_banned(&ip("8.8.8.8"), 0));
        assert_eq!(list.len(), 6);
    }

    #[test]
    fn expiry_is_exclusive_at_until() {
        let mut list = BanList::default();
        list.ban(sn("1.2.3.4"), 100, "x", 0);
        list.ban(sn("5.0.0.0/8"), 100, "x", 0);
        assert!(list.is_banned(&ip("1.2.3.4"), 99));
        assert!(!list.is_banned(&ip("1.2.3.4"), 100));
        assert!(list.is_banned(&ip("5.6.7.8"), 99));
        assert!(!list.is_banned(&ip("5.6.7.8"), 100));
        assert_eq!(list.list(99).len(), 2);
        assert!(list.list(100).is_empty());
        // Expired entries are still stored until pruned.
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.ban(sn("9.9.9.9"), 100, "x", 100),
            BanOutcome::AlreadyExpired
        );
        assert_eq!(
            list.ban(sn("9.9.9.9"), 5, "x", 100),
            BanOutcome::AlreadyExpired
        );
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn unban() {
        let mut list = BanList::default();
        list.ban(sn("1.2.3.0/24"), 100, "x", 0);
        list.take_dirty();
        assert!(
            !list.unban(&sn("1.2.3.4")),
            "only the exact subnet is removed"
        );
        assert!(!list.is_dirty());
        assert!(list.unban(&sn("1.2.3.0/24")));
        assert!(list.is_dirty());
        assert!(!list.is_banned(&ip("1.2.3.4"), 0));
        assert!(!list.unban(&sn("1.2.3.0/24")));
        assert!(list.is_empty());
    }

    #[test]
    fn extending_keeps_later_until() {
        let mut list = BanList::default();
        list.ban(sn("1.2.3.4"), 200, "first", 0);
        list.take_dirty();
        assert_eq!(
            list.ban(sn("1.2.3.4"), 150, "shorter", 10),
            BanOutcome::Unchanged
        );
        assert_eq!(
            list.ban(sn("1.2.3.4"), 200, "same", 10),
            BanOutcome::Unchanged
        );
        assert!(!list.is_dirty());
        assert_eq!(list.get(&sn("1.2.3.4")).unwrap().until, 200);
        assert_eq!(list.get(&sn("1.2.3.4")).unwrap().reason, "first");
        assert_eq!(
            list.ban(sn("1.2.3.4"), 300, "longer", 20),
            BanOutcome::Extended
        );
        assert!(list.is_dirty());
        let entry = list.get(&sn("1.2.3.4")).unwrap();
        assert_eq!(
            entry,
            &BanEntry {
                created: 20,
                until: 300,
                reason: "longer".into()
            }
        );
        assert_eq!(list.len(), 1);
        assert!(list.is_banned(&ip("1.2.3.4"), 250));
    }

    #[test]
    fn list_is_sorted_and_omits_expired() {
        let list = sample_list();
        let shown: Vec<String> = list.list(600).iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(shown, ["1.2.3.4/32", "10.0.0.0/8", "2001:db8::/32"]);
        let shown: Vec<String> = list.list(0).iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(
            shown,
            ["1.2.3.4/32", "10.0.0.0/8", "::1/128", "2001:db8::/32"]
        );
        assert_eq!(list.list(0)[0].1.reason, "spam");
    }

    #[test]
    fn prune_and_clear() {
        let mut list = sample_list();
        list.take_dirty();
        assert_eq!(list.prune(499), 0);
        assert!(!list.is_dirty());
        assert_eq!(list.prune(1_000), 2);
        assert!(list.is_dirty());
        assert_eq!(list.len(), 2);
        assert!(!list.is_banned(&ip("1.2.3.4"), 0));
        assert!(list.is_banned(&ip("10.1.1.1"), 0));
        list.take_dirty();
        list.clear();
        assert!(list.is_dirty());
        assert!(list.is_empty());
        assert!(!list.is_banned(&ip("10.1.1.1"), 0));
        assert!(!list.is_banned(&ip("2001:db8::1"), 0));
        list.take_dirty();
        list.clear();
        assert!(!list.is_dirty());
    }

    #[test]
    fn cap_holds_with_20000_inserts() {
        let mut list = BanList::default();
        assert_eq!(list.max_entries(), DEFAULT_MAX_ENTRIES);
        let now = 1_000;
        for i in 0..20_000u32 {
            let addr = v4(0x0a00_0000u32 + i);
            let outcome = list.ban(Subnet::single(addr), now + 100 + u64::from(i), "flood", now);
            assert!(list.len() <= DEFAULT_MAX_ENTRIES);
            if i < 10_000 {
                assert_eq!(outcome, BanOutcome::Added);
            } else {
                // The soonest-expiring entry is the oldest one.
                let victim = Subnet::single(v4(0x0a00_0000u32 + i - 10_000));
                assert_eq!(outcome, BanOutcome::AddedEvicting(victim));
            }
        }
        assert_eq!(list.len(), DEFAULT_MAX_ENTRIES);
        for i in [0u32, 5_000, 9_999] {
            assert!(!list.is_banned(&v4(0x0a00_0000u32 + i), now));
        }
        for i in [10_000u32, 15_000, 19_999] {
            assert!(list.is_banned(&v4(0x0a00_0000u32 + i), now));
        }
    }

    #[test]
    fn cap_keeps_the_longest_bans_in_any_order() {
        let max = 500;
        let mut list = BanList::new(max);
        let mut rng = Lcg(7);
        let mut all = Vec::new();
        for i in 0..5_000u32 {
            let until = 10 + rng.next() % 100_000;
            let subnet = Subnet::single(v4(0xc000_0000u32 + i));
            list.ban(subnet, until, "r", 0);
            all.push((until, subnet));
            assert!(list.len() <= max);
        }
        // What is kept is exactly the `max` latest-expiring bans (ties: larger subnet).
        all.sort();
        let expected: BTreeSet<Subnet> = all[all.len() - max..].iter().map(|&(_, s)| s).collect();
        let kept: BTreeSet<Subnet> = list.list(0).into_iter().map(|(s, _)| s).collect();
        assert_eq!(kept, expected);
    }

    #[test]
    fn full_list_prunes_expired_before_evicting() {
        let mut list = BanList::new(3);
        list.ban(sn("1.1.1.1"), 50, "short", 0);
        list.ban(sn("2.2.2.2"), 500, "long", 0);
        list.ban(sn("3.3.3.3"), 600, "long", 0);
        // At t=60 the first ban has expired: it is pruned, nothing live is evicted.
        assert_eq!(list.ban(sn("4.4.4.4"), 100, "new", 60), BanOutcome::Added);
        assert_eq!(list.len(), 3);
        assert!(list.get(&sn("1.1.1.1")).is_none());
        // Full of live bans: the soonest-expiring (4.4.4.4 until 100) is evicted.
        assert_eq!(
            list.ban(sn("5.5.5.5"), 700, "newer", 60),
            BanOutcome::AddedEvicting(sn("4.4.4.4"))
        );
        // A new ban that would expire before all stored ones is the one dropped.
        assert_eq!(
            list.ban(sn("6.6.6.6"), 400, "brief", 60),
            BanOutcome::Rejected
        );
        assert!(!BanOutcome::Rejected.is_in_force());
        assert!(!list.is_banned(&ip("6.6.6.6"), 60));
        // Equal expiry: the stored one gives way.
        assert_eq!(
            list.ban(sn("7.7.7.7"), 500, "tie", 60),
            BanOutcome::AddedEvicting(sn("2.2.2.2"))
        );
        // Extending an existing entry needs no room.
        assert_eq!(
            list.ban(sn("3.3.3.3"), 900, "ext", 60),
            BanOutcome::Extended
        );
        assert_eq!(list.len(), 3);
    }

    #[test]
    fn zero_capacity_rejects_everything() {
        let mut list = BanList::new(0);
        assert_eq!(list.ban(sn("1.1.1.1"), 50, "x", 0), BanOutcome::Rejected);
        assert!(list.is_empty());
        assert!(!list.is_dirty());
        assert_eq!(BanList::new(usize::MAX).max_entries(), HARD_MAX_ENTRIES);
    }

    #[test]
    fn lookup_matches_brute_force() {
        let mut list = BanList::new(HARD_MAX_ENTRIES);
        let mut rng = Lcg(42);
        let mut bans = Vec::new();
        for _ in 0..300 {
            let r = rng.next();
            let subnet = if r.is_multiple_of(2) {
                let a = v4(0x0a00_0000u32 | (rng.next() as u32 & 0x00ff_ffff));
                Subnet::new(a, 8 + (rng.next() % 25) as u8).unwrap()
            } else {
                let a = v6(0x2001_0db8_0000_0000_0000_0000_0000_0000u128
                    | u128::from(rng.next()) << 40
                    | u128::from(rng.next()));
                Subnet::new(a, 32 + (rng.next() % 97) as u8).unwrap()
            };
            let until = 1 + rng.next() % 200;
            if list.ban(subnet, until, "", 0).is_in_force() {
                let until = list.get(&subnet).unwrap().until;
                bans.retain(|&(s, _)| s != subnet);
                bans.push((subnet, until));
            }
        }
        for _ in 0..3_000 {
            let addr = if rng.next().is_multiple_of(2) {
                v4(0x0a00_0000u32 | (rng.next() as u32 & 0x00ff_ffff))
            } else {
                v6(0x2001_0db8_0000_0000_0000_0000_0000_0000u128
                    | u128::from(rng.next() % 4) << 80
                    | u128::from(rng.next()))
            };
            let now = rng.next() % 200;
            let expected = bans
                .iter()
                .any(|(s, until)| s.contains(&addr) && *until > now);
            assert_eq!(list.is_banned(&addr, now), expected, "{addr} at {now}");
        }
        // And every banned network address is found.
        for (s, until) in &bans {
            assert!(list.is_banned(&s.network(), until - 1));
        }
    }

    #[test]
    fn reasons_are_bounded_and_sanitised() {
        let mut list = BanList::default();
        list.ban(sn("1.1.1.1"), 50, &"x".repeat(10_000), 0);
        assert_eq!(
            list.get(&sn("1.1.1.1")).unwrap().reason.len(),
            MAX_REASON_LEN
        );
        // Multi-byte characters are not split.
        list.ban(sn("2.2.2.2"), 50, &"é".repeat(1_000), 0);
        let r = &list.get(&sn("2.2.2.2")).unwrap().reason;
        assert!(r.len() <= MAX_REASON_LEN && r.len() >= MAX_REASON_LEN - 1);
        assert!(r.chars().all(|c| c == 'é'));
        list.ban(sn("3.3.3.3"), 50, "line\nbreak\x1b[31m\0", 0);
        assert_eq!(list.get(&sn("3.3.3.3")).unwrap().reason, "line break [31m ");
    }

    #[test]
    fn entry_encoding_bound_holds() {
        let entry = BanEntry {
            created: u64::MAX,
            until: u64::MAX,
            reason: "\u{10ffff}".repeat(MAX_REASON_LEN / 4),
        };
        assert_eq!(entry.reason.len(), MAX_REASON_LEN);
        let item = (sn("ffff::1"), entry);
        let bytes = bincode::serde::encode_to_vec(&item, bincode_config()).unwrap();
        assert!(bytes.len() <= MAX_ENTRY_ENCODED_LEN, "{}", bytes.len());
    }

    #[test]
    fn snapshot_round_trip_without_disk() {
        let mut list = sample_list();
        assert!(list.take_dirty());
        assert!(!list.take_dirty());
        let bytes = list.snapshot();
        assert_eq!(&bytes[..8], b"P2PNBANS");
        assert!(
            !list.is_dirty(),
            "a snapshot does not clear or set the flag"
        );
        let restored = BanList::from_snapshot(&bytes, 10, DEFAULT_MAX_ENTRIES).unwrap();
        assert_eq!(restored.list(10), list.list(10));
        assert_eq!(restored.len(), 4);
        assert_eq!(restored.max_entries(), DEFAULT_MAX_ENTRIES);
        assert!(!restored.is_dirty());
        assert!(restored.is_banned(&ip("10.9.9.9"), 10));
        // Deterministic: the same entries give the same bytes, whatever the history.
        assert_eq!(restored.snapshot(), bytes);
        let empty = BanList::default().snapshot();
        assert!(BanList::from_snapshot(&empty, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn take_dirty_follows_changes() {
        let mut list = BanList::new(10);
        assert!(!list.take_dirty());
        list.ban(sn("1.1.1.1"), 100, "r", 0);
        assert!(list.take_dirty());
        assert_eq!(list.ban(sn("1.1.1.1"), 50, "r", 0), BanOutcome::Unchanged);
        assert!(!list.take_dirty());
        assert!(list.unban(&sn("1.1.1.1")));
        assert!(list.take_dirty());
        assert!(!list.unban(&sn("1.1.1.1")));
        assert!(!list.take_dirty());
        list.ban(sn("1.1.1.1"), 100, "r", 0);
        list.take_dirty();
        assert_eq!(list.prune(100), 1);
        assert!(list.take_dirty());
    }

    #[test]
    fn save_load_round_trip() {
        let dir = TestDir::new("roundtrip");
        let path = dir.path("banlist.dat");
        let mut list = sample_list();
        assert!(list.save_if_dirty(&path).unwrap());
        assert!(!list.is_dirty());
        assert!(!list.save_if_dirty(&path).unwrap());

        let loaded = BanList::load(&path, 10, DEFAULT_MAX_ENTRIES).unwrap();
        assert_eq!(loaded.list(10), list.list(10));
        assert_eq!(loaded.len(), 4);
        assert!(!loaded.is_dirty());
        assert!(loaded.is_banned(&ip("10.9.9.9"), 10));
        assert!(loaded.is_banned(&ip("2001:db8::1"), 10));
        // Saving twice over the same path works and leaves no temporary files.
        loaded.save(&path).unwrap();
        loaded.save(&path).unwrap();
        let names: Vec<_> = fs::read_dir(&dir.0)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["banlist.dat"]);
        // Deterministic output.
        let first = fs::read(&path).unwrap();
        list.save(&path).unwrap();
        assert_eq!(fs::read(&path).unwrap(), first);

        // Empty list round trip.
        BanList::default().save(&path).unwrap();
        assert!(BanList::load(&path, 0, 10).unwrap().is_empty());
    }

    #[test]
    fn load_prunes_expired_entries() {
        let dir = TestDir::new("prune");
        let path = dir.path("bans");
        sample_list().save(&path).unwrap();
        let loaded = BanList::load(&path, 1_000, DEFAULT_MAX_ENTRIES).unwrap();
        let shown: Vec<String> = loaded.list(0).iter().map(|(s, _)| s.to_string()).collect();
        assert_eq!(shown, ["10.0.0.0/8", "2001:db8::/32"]);
        assert_eq!(loaded.len(), 2);
        assert!(loaded.is_dirty(), "dropping entries makes the file stale");
    }

    #[test]
    fn lowering_max_entries_keeps_the_bans_that_expire_last() {
        // 5,000 bans with distinct expiry times 10,000..15,000, stored in scrambled order.
        let mut list = BanList::new(DEFAULT_MAX_ENTRIES);
        for i in 0..5_000u32 {
            let until = 10_000 + u64::from(i * 7_919 % 5_000);
            let outcome = list.ban(Subnet::from(v4(0x0b00_0000 + i)), until, "r", 0);
            assert_eq!(outcome, BanOutcome::Added);
        }
        let bytes = list.snapshot();

        let lowered = BanList::from_snapshot(&bytes, 0, 1_000).unwrap();
        assert_eq!(lowered.len(), 1_000);
        assert_eq!(lowered.max_entries(), 1_000);
        assert!(lowered.is_dirty(), "the file holds bans that gave way");
        let kept = lowered.list(0);
        assert_eq!(kept.len(), 1_000);
        assert!(
            kept.iter().all(|(_, e)| e.until >= 14_000),
            "only the latest"
        );
        let mut untils: Vec<u64> = kept.iter().map(|(_, e)| e.until).collect();
        untils.sort_unstable();
        assert_eq!(untils, (14_000..15_000).collect::<Vec<u64>>());

        // Through the file helpers, as at a restart with a lower limit.
        let dir = TestDir::new("lower-max");
        let path = dir.path("banlist.dat");
        list.save(&path).unwrap();
        let (mut restarted, warning) = BanList::load_or_new(&path, 0, 1_000);
        assert!(warning.is_some_and(|w| w.contains("4000 more bans than the limit of 1000")));
        assert_eq!(restarted.list(0), kept);
        assert!(restarted.save_if_dirty(&path).unwrap());
        let again = BanList::load(&path, 0, DEFAULT_MAX_ENTRIES).unwrap();
        assert_eq!(again.list(0), kept);

        // Expired entries are dropped first and do not count against the limit.
        let late = BanList::from_snapshot(&bytes, 14_500, 1_000).unwrap();
        assert_eq!(late.len(), 499);
    }

    #[test]
    fn an_old_format_file_is_a_warning_and_an_empty_list() {
        // Version 1: same header layout and payload, checksum over the payload only.
        let payload = bincode::serde::encode_to_vec(
            vec![(
                sn("1.2.3.4"),
                BanEntry {
                    created: 0,
                    until: 100,
                    reason: "old".into(),
                },
            )],
            bincode_config(),
        )
        .unwrap();
        let mut old = Vec::new();
        old.extend_from_slice(b"P2PNBANS");
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&(payload.len() as u64).to_le_bytes());
        old.extend_from_slice(&Sha256::digest(&payload));
        old.extend_from_slice(&payload);
        assert!(matches!(
            BanList::from_snapshot(&old, 0, 10),
            Err(LoadError::File(PersistError::UnsupportedVersion {
                found: 1,
                ..
            }))
        ));
        let dir = TestDir::new("old-format");
        let path = dir.path("banlist.dat");
        fs::write(&path, &old).unwrap();
        let (list, warning) = BanList::load_or_new(&path, 0, 10);
        assert!(list.is_empty());
        let warning = warning.unwrap();
        assert!(
            warning.contains("unsupported ban list format version 1"),
            "{warning}"
        );
    }

    #[test]
    fn truncation_at_every_length_is_an_error() {
        let dir = TestDir::new("truncate");
        let path = dir.path("bans");
        sample_list().save(&path).unwrap();
        let full = fs::read(&path).unwrap();
        let cut = dir.path("cut");
        for n in 0..full.len() {
            fs::write(&cut, &full[..n]).unwrap();
            assert!(
                BanList::load(&cut, 0, DEFAULT_MAX_ENTRIES).is_err(),
                "length {n}"
            );
        }
        let mut longer = full.clone();
        longer.push(0);
        fs::write(&cut, &longer).unwrap();
        assert!(matches!(
            BanList::load(&cut, 0, DEFAULT_MAX_ENTRIES),
            Err(LoadError::File(PersistError::TrailingData(1)))
        ));
    }

    #[test]
    fn flipped_bytes_are_errors() {
        let dir = TestDir::new("flip");
        let path = dir.path("bans");
        sample_list().save(&path).unwrap();
        let full = fs::read(&path).unwrap();
        let bad = dir.path("bad");
        for i in 0..full.len() {
            for mask in [0x01u8, 0x80, 0xff] {
                let mut data = full.clone();
                data[i] ^= mask;
                fs::write(&bad, &data).unwrap();
                assert!(
                    BanList::load(&bad, 0, DEFAULT_MAX_ENTRIES).is_err(),
                    "byte {i}"
                );
            }
        }
        // A body flip is caught by the checksum specifically.
        let mut data = full.clone();
        let last = data.len() - 1;
        data[last] ^= 1;
        fs::write(&bad, &data).unwrap();
        assert!(matches!(
            BanList::load(&bad, 0, DEFAULT_MAX_ENTRIES),
            Err(LoadError::File(PersistError::ChecksumMismatch))
        ));
        data = full.clone();
        data[0] ^= 1;
        fs::write(&bad, &data).unwrap();
        assert!(matches!(
            BanList::load(&bad, 0, DEFAULT_MAX_ENTRIES),
            Err(LoadError::File(PersistError::WrongMagic { .. }))
        ));
    }

    #[test]
    fn wrong_version_is_an_error() {
        let dir = TestDir::new("version");
        let path = dir.path("bans");
        sample_list().save(&path).unwrap();
        let mut data = fs::read(&path).unwrap();
        data[8..12].copy_from_slice(&3u32.to_le_bytes());
        fs::write(&path, &data).unwrap();
        let err = BanList::load(&path, 0, DEFAULT_MAX_ENTRIES).unwrap_err();
        assert!(matches!(
            err,
            LoadError::File(PersistError::UnsupportedVersion { found: 3, .. })
        ));
        assert_eq!(
            err.to_string(),
            "unsupported ban list format version 3 (this build reads version 2)"
        );
    }

    /// A file with a valid envelope around an arbitrary payload.
    fn forge(payload: &[u8]) -> Vec<u8> {
        persist::encode(&FILE, FILE.version, payload)
    }

    #[test]
    fn forged_files_with_valid_checksums_are_rejected() {
        let dir = TestDir::new("forged");
        let path = dir.path("bans");
        let load = |data: &[u8]| {
            fs::write(&path, data).unwrap();
            BanList::load(&path, 0, 3)
        };
        let entry = |until: u64| BanEntry {
            created: 0,
            until,
            reason: "r".into(),
        };
        let encode = |v: &Vec<(Subnet, BanEntry)>| {
            bincode::serde::encode_to_vec(v, bincode_config()).unwrap()
        };

        let four: Vec<_> = ["1.1.1.1", "2.2.2.2", "3.3.3.3", "4.4.4.4"]
            .iter()
            .map(|s| (sn(s), entry(100)))
            .collect();
        // A huge claimed count with no data behind it (checked from the length prefix
        // before decoding).
        let huge = bincode::serde::encode_to_vec(u64::MAX, bincode_config()).unwrap();
        assert!(matches!(
            load(&forge(&huge)),
            Err(LoadError::TooManyEntries { .. })
        ));
        // A plausible count with garbage entries.
        let mut garbage = bincode::serde::encode_to_vec(2u64, bincode_config()).unwrap();
        garbage.extend_from_slice(&[0xff; 40]);
        assert!(matches!(load(&forge(&garbage)), Err(LoadError::Decode(_))));
        // Empty body.
        assert!(matches!(load(&forge(&[])), Err(LoadError::Decode(_))));
        // Valid entries followed by extra bytes inside the checksummed body.
        let mut extra = encode(&four[..2].to_vec());
        extra.push(0);
        assert!(matches!(load(&forge(&extra)), Err(LoadError::TrailingData)));
        // Duplicates, including one spelled as a mapped IPv6 subnet.
        let dup = vec![(sn("1.1.1.1"), entry(100)), (sn("1.1.1.1"), entry(200))];
        assert!(matches!(
            load(&forge(&encode(&dup))),
            Err(LoadError::DuplicateEntry(_))
        ));
        let raw: Vec<((IpAddr, u8), BanEntry)> = vec![
            ((ip("1.1.1.1"), 32), entry(100)),
            ((ip("::ffff:1.1.1.1"), 128), entry(100)),
        ];
        let mapped = bincode::serde::encode_to_vec(&raw, bincode_config()).unwrap();
        assert!(matches!(
            load(&forge(&mapped)),
            Err(LoadError::DuplicateEntry(_))
        ));
        // An invalid prefix length.
        let raw: Vec<((IpAddr, u8), BanEntry)> = vec![((ip("1.1.1.1"), 33), entry(100))];
        let bad_prefix = bincode::serde::encode_to_vec(&raw, bincode_config()).unwrap();
        assert!(matches!(
            load(&forge(&bad_prefix)),
            Err(LoadError::Decode(_))
        ));
        // An over-long reason is accepted but cut down.
        let long = vec![(
            sn("1.1.1.1"),
            BanEntry {
                created: 0,
                until: 100,
                reason: "y".repeat(MAX_REASON_LEN + 10),
            },
        )];
        let list = load(&forge(&encode(&long))).unwrap();
        assert_eq!(
            list.get(&sn("1.1.1.1")).unwrap().reason.len(),
            MAX_REASON_LEN
        );
        // A file larger than any ban list is refused without being decoded.
        assert!(matches!(
            load(&vec![0u8; FILE.max_file_len() + 1]),
            Err(LoadError::File(PersistError::TooLarge { .. }))
        ));
    }

    #[test]
    fn load_or_new_warnings() {
        let dir = TestDir::new("load-or-new");
        let missing = dir.path("missing");
        let (list, warning) = BanList::load_or_new(&missing, 0, 10);
        assert!(list.is_empty());
        assert_eq!(warning, None);
        assert_eq!(list.max_entries(), 10);

        let path = dir.path("bans");
        sample_list().save(&path).unwrap();
        let (list, warning) = BanList::load_or_new(&path, 0, DEFAULT_MAX_ENTRIES);
        assert_eq!(list.len(), 4);
        assert_eq!(warning, None);

        let full = fs::read(&path).unwrap();
        let mut wrong_version = full.clone();
        wrong_version[8] = 9;
        let mut flipped = full.clone();
        flipped[persist::HEADER_LEN + 3] ^= 0x10;
        let corrupt: [&[u8]; 5] = [
            &[],
            b"hello world, not a ban file",
            &full[..full.len() / 2],
            &wrong_version,
            &flipped,
        ];
        for data in corrupt {
            fs::write(&path, data).unwrap();
            let (list, warning) = BanList::load_or_new(&path, 0, DEFAULT_MAX_ENTRIES);
            assert!(list.is_empty());
            let warning = warning.expect("corrupt file must warn");
            assert!(warning.contains("ignoring ban list"), "{warning}");
            // Moved aside, not left to be overwritten by the next save.
            assert!(warning.contains("kept as"), "{warning}");
            assert!(!path.exists());
            assert_eq!(fs::read(dir.path("bans.bad")).unwrap(), data);
        }
        // A directory where the file should be is an error too, not a panic.
        let (list, warning) = BanList::load_or_new(&dir.0, 0, DEFAULT_MAX_ENTRIES);
        assert!(list.is_empty());
        assert!(warning.is_some());
    }

    #[test]
    fn save_errors_are_reported() {
        let dir = TestDir::new("save-err");
        let mut list = sample_list();
        assert!(list.save(dir.path("no-such-dir").join("bans")).is_err());
        assert!(list.save(Path::new("/")).is_err());
        // A failed save leaves the list dirty, so the next attempt writes it.
        assert!(list
            .save_if_dirty(dir.path("no-such-dir").join("bans"))
            .is_err());
        assert!(list.is_dirty());
        let names: Vec<_> = fs::read_dir(&dir.0).unwrap().collect();
        assert!(names.is_empty());
    }
}
