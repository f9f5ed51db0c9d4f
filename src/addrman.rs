//! The address book: which peers we know of, and which one to try next.
//!
//! Sans-IO like the wire codec: no sockets, no clock, no global randomness in the hot
//! paths. The caller passes `now` (unix seconds) and an RNG. Persistence is split the
//! same way: [`AddrMan::snapshot`] returns the complete file image and
//! [`AddrMan::from_snapshot`] rebuilds a book from one, neither touching the disk;
//! whoever owns the disk writes the image with [`persist::write_atomic`].
//! [`AddrMan::save`], [`AddrMan::load`] and [`AddrMan::load_or_new`] are wrappers that
//! do both steps on a path.
//!
//! # How it works
//!
//! Addresses we have only heard about (from `addr` messages, seeds) live in the *new*
//! table; addresses we have successfully connected to move to the *tried* table. Each
//! table is a fixed grid of buckets × slots, and where an address may sit is decided by
//! a keyed hash that peers cannot predict. The hash for the new table mixes in the
//! group of the peer that told us about the address, and one source group can only ever
//! reach [`NEW_BUCKETS_PER_SOURCE_GROUP`] of the new buckets; so a peer (or a whole /16 of
//! peers) that floods us with addresses only overwrites its own corner of the table and
//! cannot evict what honest peers told us. Outbound selection draws from tried and new
//! with equal probability, so even a new table full of attacker addresses leaves half
//! of our outbound picks to addresses we have verified ourselves.
//!
//! # Compared with Bitcoin Core's addrman
//!
//! The same as Core: a new table of 1024 buckets × 64 slots and a tried table of
//! 256 × 64; bucket and slot chosen by a double SHA-256 under a secret 256-bit key that
//! is saved with the book, so positions are unpredictable to peers and stable across
//! restarts; a source group reaches at most 64 new buckets and an address group at most
//! 8 tried buckets; groups are Core's built-in netgroups (/16 for IPv4 and for IPv4
//! embedded in 6to4/Teredo/NAT64, /32 for IPv6, /36 for Hurricane Electric); an occupied
//! new slot is only taken over from an entry that is "terrible" (IsTerrible's rules,
//! unchanged); selection flips a coin between tried and new when both are non-empty,
//! picks a random non-empty bucket and a random starting slot, and accepts with
//! GetChance's probability (×0.01 if tried in the last 10 minutes, ×0.66 per failed
//! attempt, at most 8 times) times a factor that grows by 1.2 per rejection; a failed
//! attempt is only counted if some connection succeeded since the last counted one
//! (Core's `m_last_good`), so a node that is offline does not brand its whole book
//! terrible; relayed addresses get Core's 2-hour time penalty and implausible
//! timestamps are replaced by "5 days ago"; last-seen updates are rate-limited as in
//! Core; `getaddr` answers are a random sample of at most 23% of the book that skips
//! terrible entries; the file carries a magic, a version and a checksum and is replaced
//! atomically.
//!
//! Simpler than Core: an address sits in at most one new bucket (Core lets an address
//! heard from several sources occupy up to 8); there is no asmap and there are no
//! Tor/I2P/CJDNS addresses, only IPv4/IPv6 socket addresses; test-before-evict is
//! reduced to a rule: when promotion to tried collides with an incumbent, the incumbent
//! stays if it had a successful connection in the last 4 hours and otherwise goes back
//! to new at once (Core queues the collision and settles it with a feeler connection);
//! there are no feelers, no per-network selection and no "new only" selection; bucket
//! positions are not stored in the file but recomputed from the key on load (so a
//! tampered file cannot put entries where the hash would not); and a corrupt, truncated
//! or foreign file makes the node start with an empty book and a warning, where Core
//! refuses to start (Core also starts afresh on an unknown version, but keeps the old
//! file as a backup; we overwrite it at the next save).
//!
//! Added to Core: a hard back-off — [`AddrMan::select`] never returns an address whose
//! last attempt is less than [`retry_delay`] ago — and a bounded number of selection
//! rounds followed by one weighted scan, where Core loops until it finds something.
//!
//! # Bounded size
//!
//! The book never holds more than `(1024 + 256) × 64 = 81,920` entries (see
//! [`Geometry::capacity`]): every entry occupies exactly one slot of one table and
//! nothing is stored outside the tables, so no sequence of calls can grow it further.
//! A full book takes under 20 MB (about 15 MB was measured with 71,000 entries),
//! including the 640 KiB of slot grids allocated up front.
//!
//! # File format
//!
//! The [`persist`] envelope with magic `b"P2PNADDR"` ([`FILE`]), format version 2, and
//! as payload bincode 2 (standard config, serde) of the geometry, the key, the time of
//! the last good connection and the entries of the tried and new tables; slot positions
//! are not stored, they follow from the key. Version 1 files (a different envelope) are
//! refused as an unsupported version, which [`AddrMan::load_or_new`] turns into a
//! warning and an empty book.

use std::collections::HashMap;
use std::fmt;
#[cfg(test)]
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::path::Path;

use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::persist::{self, FileKind, PersistError};

const MINUTE: u64 = 60;
const HOUR: u64 = 60 * MINUTE;
const DAY: u64 = 24 * HOUR;

/// Buckets in the new table (Core: `ADDRMAN_NEW_BUCKET_COUNT`).
pub const NEW_BUCKET_COUNT: u32 = 1024;
/// Buckets in the tried table (Core: `ADDRMAN_TRIED_BUCKET_COUNT`).
pub const TRIED_BUCKET_COUNT: u32 = 256;
/// Slots per bucket in both tables (Core: `ADDRMAN_BUCKET_SIZE`).
pub const BUCKET_SIZE: u32 = 64;
/// How many new buckets one source group can reach (Core:
/// `ADDRMAN_NEW_BUCKETS_PER_SOURCE_GROUP`). This is what stops one peer from flooding the
/// new table: whatever it sends lands in at most this many buckets.
pub const NEW_BUCKETS_PER_SOURCE_GROUP: u64 = 64;
/// How many tried buckets one address group can reach (Core:
/// `ADDRMAN_TRIED_BUCKETS_PER_GROUP`), so one /16 cannot take over the tried table.
pub const TRIED_BUCKETS_PER_GROUP: u64 = 8;
/// An address not seen for this long is terrible (Core: `ADDRMAN_HORIZON`).
pub const HORIZON_SECS: u64 = 30 * DAY;
/// Failed attempts after which a never-successful address is terrible (Core:
/// `ADDRMAN_RETRIES`).
pub const RETRIES: u32 = 3;
/// Failed attempts after which an address whose last success is older than
/// [`MIN_FAIL_SECS`] is terrible (Core: `ADDRMAN_MAX_FAILURES`).
pub const MAX_FAILURES: u32 = 10;
/// See [`MAX_FAILURES`] (Core: `ADDRMAN_MIN_FAIL`).
pub const MIN_FAIL_SECS: u64 = 7 * DAY;
/// A `getaddr` answer holds at most this percentage of the book (Core:
/// `ADDRMAN_GETADDR_MAX_PCT`), so one peer cannot download the whole book at once.
pub const GETADDR_MAX_PCT: usize = 23;
/// First retry delay after a failed attempt; see [`retry_delay`].
pub const RETRY_BASE_DELAY_SECS: u64 = 60;
/// Cap of [`retry_delay`].
pub const RETRY_MAX_DELAY_SECS: u64 = HOUR;
/// The address book file (`peers.dat`) in the [`persist`] envelope.
pub const FILE: FileKind = FileKind {
    name: "address book",
    magic: *b"P2PNADDR",
    oldest_version: 2,
    version: 2,
    max_payload: MAX_BODY_BYTES,
};

/// A tried entry with a success this recent is not evicted by a newcomer (Core:
/// `ADDRMAN_REPLACEMENT`, used there when resolving tried collisions).
const REPLACEMENT_SECS: u64 = 4 * HOUR;
/// Relayed addresses look this much older than announced (Core passes 2 h to `Add` for
/// addresses from `addr` messages), so self-announcements win.
const RELAY_TIME_PENALTY: u64 = 2 * HOUR;
/// Core's `Connected` refreshes last-seen at most this often.
const CONNECTED_UPDATE_INTERVAL: u64 = 20 * MINUTE;
/// Rounds of Core's random search in [`AddrMan::select`] before the weighted scan. The
/// chance factor grows by 1.2 per round, so after about 44 rounds even the least likely
/// entry (0.01 × 0.66⁸) would be accepted; 64 leaves room for excluded and backed-off
/// draws.
const MAX_SELECT_ROUNDS: usize = 64;

/// Largest encoded entry: address 20, services 9, time 5, source 17, attempts 5,
/// three optional times 3 × 10 (bincode varints).
const MAX_ENTRY_BYTES: usize = 86;
/// Upper bound of a valid body for the largest geometry, with room to spare; passed to
/// bincode as its read limit.
const MAX_BODY_BYTES: usize = 8 << 20;
const _: () = assert!(MAX_ENTRY_BYTES * Geometry::CORE.capacity() + 1024 <= MAX_BODY_BYTES);

/// Group tags, so that groups of different kinds never compare equal.
const GROUP_UNROUTABLE: u8 = 0;
const GROUP_IPV4: u8 = 1;
const GROUP_IPV6: u8 = 2;
const GROUP_LOCAL: u8 = 3;

/// How long to wait after an attempt before [`AddrMan::select`] may return the address
/// again: 60 s after the first failure, doubling with each further failure (120 s,
/// 240 s, …), capped at one hour. `attempts` is the entry's count of failed attempts
/// since its last success; 0 (just connected, or an uncounted attempt) also waits 60 s.
///
/// Core has no such rule; it only makes recently tried addresses 100 times less
/// likely. A hard delay keeps a small book (a test network, a fresh node) from hammering
/// the same few addresses in a tight loop.
pub fn retry_delay(attempts: u32) -> u64 {
    let doublings = attempts.saturating_sub(1).min(6);
    (RETRY_BASE_DELAY_SECS << doublings).min(RETRY_MAX_DELAY_SECS)
}

/// The dimensions of the two tables. [`Geometry::CORE`] is the default; smaller ones
/// make collisions easy to provoke in tests. Larger ones are refused, because the file
/// limits and the size bound are computed for `CORE`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Geometry {
    new_buckets: u32,
    tried_buckets: u32,
    bucket_size: u32,
}

impl Geometry {
    /// Bitcoin Core's: 1024 × 64 new, 256 × 64 tried.
    pub const CORE: Geometry = Geometry {
        new_buckets: NEW_BUCKET_COUNT,
        tried_buckets: TRIED_BUCKET_COUNT,
        bucket_size: BUCKET_SIZE,
    };

    /// A geometry with every dimension between 1 and Core's; `None` otherwise.
    pub fn new(new_buckets: u32, tried_buckets: u32, bucket_size: u32) -> Option<Geometry> {
        let geometry = Geometry {
            new_buckets,
            tried_buckets,
            bucket_size,
        };
        geometry.is_valid().then_some(geometry)
    }

    fn is_valid(&self) -> bool {
        (1..=NEW_BUCKET_COUNT).contains(&self.new_buckets)
            && (1..=TRIED_BUCKET_COUNT).contains(&self.tried_buckets)
            && (1..=BUCKET_SIZE).contains(&self.bucket_size)
    }

    /// Slots in the new table.
    pub const fn new_capacity(&self) -> usize {
        self.new_buckets as usize * self.bucket_size as usize
    }

    /// Slots in the tried table.
    pub const fn tried_capacity(&self) -> usize {
        self.tried_buckets as usize * self.bucket_size as usize
    }

    /// The most entries a book of this geometry can hold.
    pub const fn capacity(&self) -> usize {
        self.new_capacity() + self.tried_capacity()
    }
}

impl Default for Geometry {
    fn default() -> Self {
        Geometry::CORE
    }
}

/// Why a saved book could not be loaded. Every case means "start with an empty book";
/// [`AddrMan::load_or_new`] does that.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read, or its envelope is damaged or of another version.
    #[error(transparent)]
    File(#[from] PersistError),
    #[error("cannot decode the body: {0}")]
    Decode(#[from] bincode::error::DecodeError),
    #[error("{0} bytes after the end of the body")]
    TrailingBytes(usize),
    #[error("invalid table geometry")]
    BadGeometry,
    #[error("{count} {table} entries exceed the table's capacity of {capacity}")]
    TooManyEntries {
        table: &'static str,
        count: usize,
        capacity: usize,
    },
}

/// One address and what we know about it. All fields are `Copy`, and the struct is
/// also the on-disk record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    addr: SocketAddr,
    services: u64,
    /// Last seen (Core's `nTime`); u32 because that is what `addr` messages carry.
    time: u32,
    source: IpAddr,
    /// Failed attempts since the last success (Core's `nAttempts`).
    attempts: u32,
    last_try: Option<u64>,
    /// When an attempt was last counted in `attempts` (Core's `m_last_count_attempt`).
    last_count_attempt: Option<u64>,
    last_success: Option<u64>,
}

impl Entry {
    /// Core's `IsTerrible`: not worth keeping when something else wants the slot, and
    /// not worth handing out to peers.
    fn is_terrible(&self, now: u64) -> bool {
        // Never evict something we tried in the last minute: its fate is being decided.
        if self
            .last_try
            .is_some_and(|t| now.saturating_sub(t) <= MINUTE)
        {
            return false;
        }
        let time = u64::from(self.time);
        // Announced as seen in the future: a lie or a broken clock.
        if time > now.saturating_add(10 * MINUTE) {
            return true;
        }
        if now.saturating_sub(time) > HORIZON_SECS {
            return true;
        }
        match self.last_success {
            None => self.attempts >= RETRIES,
            Some(success) => {
                now.saturating_sub(success) > MIN_FAIL_SECS && self.attempts >= MAX_FAILURES
            }
        }
    }

    /// Core's `GetChance`: the relative probability of picking this entry.
    fn chance(&self, now: u64) -> f64 {
        let mut chance = 1.0;
        if self
            .last_try
            .is_some_and(|t| now.saturating_sub(t) < 10 * MINUTE)
        {
            chance *= 0.01;
        }
        // At most 8 so an outage does not bury an address for good (0.66^8 ≈ 1/28).
        let exponent = self.attempts.min(8) as i32;
        chance * 0.66f64.powi(exponent)
    }

    /// True when the [`retry_delay`] since the last attempt has passed.
    fn backoff_elapsed(&self, now: u64) -> bool {
        match self.last_try {
            None => true,
            Some(t) => now >= t.saturating_add(retry_delay(self.attempts)),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Location {
    tried: bool,
    bucket: u32,
    pos: u32,
}

#[derive(Clone, Debug)]
struct Record {
    entry: Entry,
    loc: Location,
}

/// A grid of buckets × slots holding entry ids, plus the set of non-empty buckets so
/// that picking "a random non-empty bucket" (what Core's retry loop amounts to) is one
/// draw instead of a search.
#[derive(Clone, Debug)]
struct Table {
    bucket_size: usize,
    slots: Vec<Option<u32>>,
    fill: Vec<u32>,
    nonempty: Vec<u32>,
    nonempty_index: Vec<Option<u32>>,
    len: usize,
}

impl Table {
    fn new(buckets: u32, bucket_size: u32) -> Table {
        let buckets = buckets as usize;
        let bucket_size = bucket_size as usize;
        Table {
            bucket_size,
            slots: vec![None; buckets * bucket_size],
            fill: vec![0; buckets],
            nonempty: Vec::new(),
            nonempty_index: vec![None; buckets],
            len: 0,
        }
    }

    fn index(&self, bucket: u32, pos: u32) -> usize {
        bucket as usize * self.bucket_size + pos as usize
    }

    fn get(&self, bucket: u32, pos: u32) -> Option<u32> {
        self.slots.get(self.index(bucket, pos)).copied().flatten()
    }

    /// Puts `id` into an empty slot; false (and no change) if the slot is taken.
    fn put(&mut self, bucket: u32, pos: u32, id: u32) -> bool {
        let index = self.index(bucket, pos);
        match self.slots.get_mut(index) {
            Some(slot @ None) => *slot = Some(id),
            _ => return false,
        }
        self.len += 1;
        let b = bucket as usize;
        if let Some(fill) = self.fill.get_mut(b) {
            *fill += 1;
            if *fill == 1 {
                if let Some(slot) = self.nonempty_index.get_mut(b) {
                    *slot = Some(self.nonempty.len() as u32);
                    self.nonempty.push(bucket);
                }
            }
        }
        true
    }

    fn take(&mut self, bucket: u32, pos: u32) -> Option<u32> {
        let index = self.index(bucket, pos);
        let id = self.slots.get_mut(index)?.take()?;
        self.len -= 1;
        let b = bucket as usize;
        if let Some(fill) = self.fill.get_mut(b) {
            *fill -= 1;
            if *fill == 0 {
                if let Some(i) = self.nonempty_index.get_mut(b).and_then(Option::take) {
                    let i = i as usize;
                    self.nonempty.swap_remove(i);
                    if let Some(&moved) = self.nonempty.get(i) {
                        if let Some(slot) = self.nonempty_index.get_mut(moved as usize) {
                            *slot = Some(i as u32);
                        }
                    }
                }
            }
        }
        Some(id)
    }

    fn random_nonempty_bucket<R: Rng + ?Sized>(&self, rng: &mut R) -> Option<u32> {
        if self.nonempty.is_empty() {
            return None;
        }
        self.nonempty
            .get(rng.random_range(0..self.nonempty.len()))
            .copied()
    }

    fn ids(&self) -> impl Iterator<Item = u32> + '_ {
        self.slots.iter().filter_map(|slot| *slot)
    }
}

/// The address book. See the module documentation.
#[derive(Clone)]
pub struct AddrMan {
    /// Secret key of the bucket hash; persisted so positions survive restarts.
    key: [u8; 32],
    allow_local: bool,
    geometry: Geometry,
    /// Entries by id; `free` lists the vacant ids. Never longer than the capacity,
    /// because every live entry holds a slot and ids are reused.
    records: Vec<Option<Record>>,
    free: Vec<u32>,
    index: HashMap<SocketAddr, u32>,
    new_table: Table,
    tried_table: Table,
    /// Time of the last [`AddrMan::mark_good`] of any address (Core's `m_last_good`).
    last_good: u64,
}

impl fmt::Debug for AddrMan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AddrMan")
            .field("geometry", &self.geometry)
            .field("allow_local", &self.allow_local)
            .field("new", &self.new_count())
            .field("tried", &self.tried_count())
            .finish_non_exhaustive()
    }
}

/// The payload of [`AddrMan::snapshot`], inside the envelope.
#[derive(Serialize, Deserialize)]
struct Snapshot {
    /// New buckets, tried buckets, bucket size; raw, validated on load.
    geometry: (u32, u32, u32),
    key: [u8; 32],
    last_good: u64,
    tried: Vec<Entry>,
    new: Vec<Entry>,
}

impl AddrMan {
    /// An empty book with Core's geometry and a fresh random key.
    ///
    /// `allow_local`: accept loopback, private and other non-routable addresses, each
    /// its own group (for test networks on 127.x.y.z); otherwise they are ignored.
    pub fn new(allow_local: bool) -> AddrMan {
        let mut key = [0u8; 32];
        rand::rng().fill(&mut key);
        AddrMan::with_key(key, allow_local)
    }

    /// An empty book with Core's geometry and the given key (deterministic tests).
    pub fn with_key(key: [u8; 32], allow_local: bool) -> AddrMan {
        AddrMan::with_geometry(Geometry::CORE, key, allow_local)
    }

    /// An empty book with the given geometry and key.
    pub fn with_geometry(geometry: Geometry, key: [u8; 32], allow_local: bool) -> AddrMan {
        AddrMan {
            key,
            allow_local,
            geometry,
            records: Vec::new(),
            free: Vec::new(),
            index: HashMap::new(),
            new_table: Table::new(geometry.new_buckets, geometry.bucket_size),
            tried_table: Table::new(geometry.tried_buckets, geometry.bucket_size),
            last_good: 0,
        }
    }

    /// Entries in both tables.
    pub fn len(&self) -> usize {
        self.new_table.len + self.tried_table.len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn new_count(&self) -> usize {
        self.new_table.len
    }

    pub fn tried_count(&self) -> usize {
        self.tried_table.len
    }

    pub fn contains(&self, addr: SocketAddr) -> bool {
        self.index.contains_key(&canonical(addr))
    }

    /// The service bits last announced for an address in the book.
    pub fn services(&self, addr: SocketAddr) -> Option<u64> {
        let id = *self.index.get(&canonical(addr))?;
        self.record(id).map(|r| r.entry.services)
    }

    /// Adds addresses announced by `source` (an `addr` message, a seed); returns how
    /// many were not in the book before and got a slot.
    ///
    /// Unroutable addresses are ignored unless `allow_local` is set (and unspecified,
    /// multicast, broadcast and port-0 addresses always are). Timestamps more than
    /// 10 minutes in the future or before 1973 become "5 days ago", as Core's
    /// `addr` handling does, and relayed addresses (not the source's own) are made
    /// 2 hours older. For a known address the services are merged and last-seen is
    /// moved forward, at most once an hour (once a day for addresses not seen for a
    /// day), which keeps peers from learning exactly when we heard of something. A new
    /// address whose slot is taken replaces the occupant only if the occupant is
    /// terrible; otherwise the new address is dropped.
    pub fn add(&mut self, addrs: &[(SocketAddr, u64, u32)], source: IpAddr, now: u64) -> usize {
        let source = source.to_canonical();
        addrs
            .iter()
            .filter(|&&(addr, services, time)| {
                self.add_one(canonical(addr), services, time, source, now)
            })
            .count()
    }

    fn add_one(
        &mut self,
        addr: SocketAddr,
        services: u64,
        time: u32,
        source: IpAddr,
        now: u64,
    ) -> bool {
        if !self.is_acceptable(addr) {
            return false;
        }
        let time = u64::from(sanitize_time(time, now));
        let penalty = if addr.ip() == source {
            0
        } else {
            RELAY_TIME_PENALTY
        };
        let penalized = to_u32(time.saturating_sub(penalty));

        if let Some(&id) = self.index.get(&addr) {
            if let Some(record) = self.record_mut(id) {
                let entry = &mut record.entry;
                let online = now.saturating_sub(time) < DAY;
                let interval = if online { HOUR } else { DAY };
                if u64::from(entry.time) + interval + penalty < time {
                    entry.time = penalized;
                }
                entry.services |= services;
            }
            return false;
        }

        let loc = self.new_location(addr, source);
        if let Some(occupant) = self.new_table.get(loc.bucket, loc.pos) {
            let terrible = self
                .record(occupant)
                .is_some_and(|r| r.entry.is_terrible(now));
            if !terrible {
                return false;
            }
            self.delete(occupant);
        }
        let entry = Entry {
            addr,
            services,
            time: penalized,
            source,
            attempts: 0,
            last_try: None,
            last_count_attempt: None,
            last_success: None,
        };
        self.insert(entry, loc)
    }

    /// Records that we are about to connect (or just tried) to `addr`; returns false if
    /// it is not in the book. There is no `mark_failed`: an attempt that is not
    /// followed by [`AddrMan::mark_good`] is the failure.
    ///
    /// The attempt counts towards `attempts` (the back-off and "terrible" counter) only
    /// if some address was marked good since this one's last counted attempt, as in
    /// Core: while we are offline every attempt fails, and counting those would make
    /// the whole book terrible.
    pub fn mark_attempt(&mut self, addr: SocketAddr, now: u64) -> bool {
        let last_good = self.last_good;
        let Some(entry) = self.entry_mut(addr) else {
            return false;
        };
        entry.last_try = Some(now);
        if entry.last_count_attempt.is_none_or(|t| t < last_good) {
            entry.last_count_attempt = Some(now);
            entry.attempts = entry.attempts.saturating_add(1);
        }
        true
    }

    /// Records a successful outbound connection (handshake done): resets the failure
    /// count and moves the address from new to tried. Returns true if the address is in
    /// the tried table afterwards; false if it is unknown (as in Core, addresses are
    /// only promoted from the book, never inserted here) or stays in new because of a
    /// collision.
    ///
    /// When its tried slot is taken, the incumbent is kept if it had a success in the
    /// last 4 hours (it is probably still good; this is Core's test-before-evict with
    /// the recent success as the test) and otherwise goes back to the new table,
    /// replacing whatever sits in its new slot.
    pub fn mark_good(&mut self, addr: SocketAddr, now: u64) -> bool {
        let Some(&id) = self.index.get(&canonical(addr)) else {
            return false;
        };
        self.last_good = now;
        let Some(record) = self.record_mut(id) else {
            return false;
        };
        record.entry.last_success = Some(now);
        record.entry.last_try = Some(now);
        record.entry.attempts = 0;
        if record.loc.tried {
            return true;
        }
        let addr = record.entry.addr;
        let tried_loc = self.tried_location(addr);
        if let Some(incumbent) = self.tried_table.get(tried_loc.bucket, tried_loc.pos) {
            let Some(inc) = self.record(incumbent).map(|r| r.entry) else {
                return false;
            };
            if inc
                .last_success
                .is_some_and(|t| now.saturating_sub(t) < REPLACEMENT_SECS)
            {
                return false;
            }
            self.vacate(id);
            let back = self.new_location(inc.addr, inc.source);
            if let Some(victim) = self.new_table.get(back.bucket, back.pos) {
                self.delete(victim);
            }
            self.move_to(incumbent, back);
        }
        self.move_to(id, tried_loc);
        true
    }

    /// Records that we are (still) connected to `addr`, refreshing its last-seen time
    /// at most every 20 minutes (Core's `Connected`, called on disconnect). Without it
    /// a long-lived peer would eventually look "not seen for 30 days".
    #[allow(dead_code)]
    pub fn mark_connected(&mut self, addr: SocketAddr, now: u64) {
        if let Some(entry) = self.entry_mut(addr) {
            if now.saturating_sub(u64::from(entry.time)) > CONNECTED_UPDATE_INTERVAL {
                entry.time = to_u32(now);
            }
        }
    }

    /// Picks an address for an outbound connection, or `None` if every address is
    /// excluded or backing off.
    ///
    /// As in Core: tried or new with equal probability when both have entries; then a
    /// random non-empty bucket, a random starting slot and the first entry from there,
    /// accepted with its chance (see the module docs) times a factor that grows by 1.2
    /// per rejection. Unlike Core, the search is bounded: entries for which `exclude`
    /// returns true (already connected, same netgroup as an existing outbound peer…)
    /// or whose last attempt is less than [`retry_delay`] ago are never returned, and
    /// after a fixed number of rounds one weighted scan over the chosen table (then the
    /// other) finds an eligible entry if there is one. Cost: O(1) per round, O(book)
    /// for the scan.
    pub fn select<R: Rng + ?Sized>(
        &self,
        now: u64,
        rng: &mut R,
        exclude: impl Fn(&SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        let (new_count, tried_count) = (self.new_count(), self.tried_count());
        if new_count + tried_count == 0 {
            return None;
        }
        let use_tried = if tried_count == 0 {
            false
        } else if new_count == 0 {
            true
        } else {
            rng.random_bool(0.5)
        };
        self.select_from(use_tried, true, now, rng, exclude)
    }

    /// Like [`select`](Self::select), from the new table only: addresses nobody has
    /// connected to yet, which feeler connections test (Core's `Select(new_only)`).
    pub fn select_new<R: Rng + ?Sized>(
        &self,
        now: u64,
        rng: &mut R,
        exclude: impl Fn(&SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        if self.new_count() == 0 {
            return None;
        }
        self.select_from(false, false, now, rng, exclude)
    }

    /// Whether an address is in the tried table (a connection to it once worked).
    pub fn is_tried(&self, addr: SocketAddr) -> bool {
        self.index
            .get(&canonical(addr))
            .and_then(|&id| self.record(id))
            .is_some_and(|r| r.loc.tried)
    }

    /// Picks from one table (and, with `other_too`, from the other when the first has
    /// no eligible entry).
    fn select_from<R: Rng + ?Sized>(
        &self,
        use_tried: bool,
        other_too: bool,
        now: u64,
        rng: &mut R,
        exclude: impl Fn(&SocketAddr) -> bool,
    ) -> Option<SocketAddr> {
        let eligible = |e: &Entry| e.backoff_elapsed(now) && !exclude(&e.addr);

        let table = self.table(use_tried);
        let mut chance_factor = 1.0f64;
        for _ in 0..MAX_SELECT_ROUNDS {
            let Some(bucket) = table.random_nonempty_bucket(rng) else {
                break;
            };
            let size = self.geometry.bucket_size;
            let start = rng.random_range(0..size);
            let found = (0..size).find_map(|i| table.get(bucket, (start + i) % size));
            let Some(entry) = found.and_then(|id| self.record(id)).map(|r| &r.entry) else {
                break;
            };
            if !eligible(entry) {
                continue;
            }
            if rng.random::<f64>() < chance_factor * entry.chance(now) {
                return Some(entry.addr);
            }
            chance_factor *= 1.2;
        }
        self.pick_weighted(use_tried, now, rng, &eligible)
            .or_else(|| {
                other_too
                    .then(|| self.pick_weighted(!use_tried, now, rng, &eligible))
                    .flatten()
            })
    }

    /// One eligible entry of a table, with probability proportional to its chance.
    fn pick_weighted<R: Rng + ?Sized>(
        &self,
        tried: bool,
        now: u64,
        rng: &mut R,
        eligible: &dyn Fn(&Entry) -> bool,
    ) -> Option<SocketAddr> {
        let candidates: Vec<(SocketAddr, f64)> = self
            .table(tried)
            .ids()
            .filter_map(|id| self.record(id))
            .map(|r| &r.entry)
            .filter(|e| eligible(e))
            .map(|e| (e.addr, e.chance(now)))
            .collect();
        let total: f64 = candidates.iter().map(|&(_, c)| c).sum();
        let mut target = rng.random::<f64>() * total;
        for &(addr, chance) in &candidates {
            if target < chance {
                return Some(addr);
            }
            target -= chance;
        }
        // Only reached through rounding, or with no candidates.
        candidates.last().map(|&(addr, _)| addr)
    }

    /// A random sample of the book for answering `getaddr`: `(address, services,
    /// last seen)`, at most 23% of the book and at most `max` (0 means none, unlike
    /// Core where 0 is "no limit"), skipping terrible entries.
    pub fn get_addresses<R: Rng + ?Sized>(
        &self,
        max: usize,
        rng: &mut R,
        now: u64,
    ) -> Vec<(SocketAddr, u64, u32)> {
        let mut ids: Vec<u32> = self.new_table.ids().chain(self.tried_table.ids()).collect();
        let wanted = (ids.len().saturating_mul(GETADDR_MAX_PCT) / 100).min(max);
        let mut out = Vec::with_capacity(wanted);
        // Partial Fisher-Yates: each step draws one not yet drawn id.
        for n in 0..ids.len() {
            if out.len() >= wanted {
                break;
            }
            let pick = rng.random_range(n..ids.len());
            ids.swap(n, pick);
            let Some(entry) = ids.get(n).and_then(|&id| self.record(id)).map(|r| &r.entry) else {
                continue;
            };
            if entry.is_terrible(now) {
                continue;
            }
            out.push((entry.addr, entry.services, entry.time));
        }
        out
    }

    // ---- persistence ----

    /// The complete address book file (envelope and payload, see the module
    /// documentation). Touches no disk.
    pub fn snapshot(&self) -> Vec<u8> {
        let snapshot = Snapshot {
            geometry: (
                self.geometry.new_buckets,
                self.geometry.tried_buckets,
                self.geometry.bucket_size,
            ),
            key: self.key,
            last_good: self.last_good,
            tried: self.entries_of(true),
            new: self.entries_of(false),
        };
        // Encoding plain in-memory values into a Vec has no failure case.
        let payload = bincode::serde::encode_to_vec(&snapshot, bincode::config::standard())
            .expect("an address book always encodes");
        persist::encode(&FILE, FILE.version, &payload)
    }

    /// Rebuilds a book from a [`AddrMan::snapshot`]. Any problem is an error, and the
    /// caller is expected to start empty (see [`AddrMan::load_or_new`]).
    ///
    /// Nothing in the bytes is trusted: the envelope is checked (see
    /// [`persist::decode`]) before decoding, bincode runs with a byte limit (so a forged
    /// length prefix cannot make it allocate more than the limit), and tables holding
    /// more entries than their capacity are refused. Entries are then re-placed by
    /// hashing, so they land exactly where they were (same key) and crafted bytes cannot
    /// stuff buckets; entries that are not acceptable under `allow_local` or collide are
    /// dropped, and attempt/success times later than `now` (a clock that went back)
    /// are clamped to `now` so that back-off cannot lock an address out.
    pub fn from_snapshot(bytes: &[u8], now: u64, allow_local: bool) -> Result<AddrMan, LoadError> {
        let (_version, body) = persist::decode(&FILE, bytes)?;
        let config = bincode::config::standard().with_limit::<MAX_BODY_BYTES>();
        let (snapshot, read): (Snapshot, usize) = bincode::serde::decode_from_slice(body, config)?;
        if read != body.len() {
            return Err(LoadError::TrailingBytes(body.len().saturating_sub(read)));
        }
        let (new_buckets, tried_buckets, bucket_size) = snapshot.geometry;
        let geometry =
            Geometry::new(new_buckets, tried_buckets, bucket_size).ok_or(LoadError::BadGeometry)?;
        for (table, count, capacity) in [
            ("new", snapshot.new.len(), geometry.new_capacity()),
            ("tried", snapshot.tried.len(), geometry.tried_capacity()),
        ] {
            if count > capacity {
                return Err(LoadError::TooManyEntries {
                    table,
                    count,
                    capacity,
                });
            }
        }

        let mut book = AddrMan::with_geometry(geometry, snapshot.key, allow_local);
        book.last_good = snapshot.last_good.min(now);
        let stored = snapshot.tried.len() + snapshot.new.len();
        for entry in snapshot.tried {
            book.restore(entry, true, now);
        }
        for entry in snapshot.new {
            book.restore(entry, false, now);
        }
        tracing::debug!(
            new = book.new_count(),
            tried = book.tried_count(),
            dropped = stored.saturating_sub(book.len()),
            "address book loaded"
        );
        Ok(book)
    }

    #[cfg(test)]
    /// Writes [`AddrMan::snapshot`] to `path` with [`persist::write_atomic`].
    pub fn save(&self, path: &Path) -> io::Result<()> {
        persist::write_atomic(path, &self.snapshot())
    }

    /// Reads `path` with [`persist::read`] and rebuilds the book with
    /// [`AddrMan::from_snapshot`].
    pub fn load(path: &Path, now: u64, allow_local: bool) -> Result<AddrMan, LoadError> {
        let bytes = persist::read(path, &FILE)?;
        AddrMan::from_snapshot(&bytes, now, allow_local)
    }

    /// [`AddrMan::load`], or an empty book (fresh key, Core geometry). A missing file is
    /// normal (no warning); when the file is unreadable, invalid or of an old format
    /// there is also a warning for the caller to log. A bad address book is never a
    /// reason not to start.
    pub fn load_or_new(path: &Path, now: u64, allow_local: bool) -> (AddrMan, Option<String>) {
        match AddrMan::load(path, now, allow_local) {
            Ok(book) => (book, None),
            Err(LoadError::File(e)) if e.is_not_found() => (AddrMan::new(allow_local), None),
            Err(e) => {
                let warning = format!(
                    "address book {} not loaded ({e}); starting with an empty one ({})",
                    path.display(),
                    persist::set_aside_note(path)
                );
                (AddrMan::new(allow_local), Some(warning))
            }
        }
    }

    fn entries_of(&self, tried: bool) -> Vec<Entry> {
        self.table(tried)
            .ids()
            .filter_map(|id| self.record(id))
            .map(|r| r.entry)
            .collect()
    }

    /// Puts a loaded entry back: tried entries into their tried slot (or new if that is
    /// taken), new entries into their new slot; drops it otherwise.
    fn restore(&mut self, mut entry: Entry, tried: bool, now: u64) {
        entry.addr = canonical(entry.addr);
        entry.source = entry.source.to_canonical();
        if !self.is_acceptable(entry.addr) || self.index.contains_key(&entry.addr) {
            return;
        }
        entry.last_try = entry.last_try.map(|t| t.min(now));
        entry.last_count_attempt = entry.last_count_attempt.map(|t| t.min(now));
        entry.last_success = entry.last_success.map(|t| t.min(now));
        if tried {
            let loc = self.tried_location(entry.addr);
            if self.tried_table.get(loc.bucket, loc.pos).is_none() {
                self.insert(entry, loc);
                return;
            }
        }
        let loc = self.new_location(entry.addr, entry.source);
        if self.new_table.get(loc.bucket, loc.pos).is_none() {
            self.insert(entry, loc);
        }
    }

    // ---- placement ----

    fn is_acceptable(&self, addr: SocketAddr) -> bool {
        let ip = addr.ip();
        let never = addr.port() == 0
            || ip.is_unspecified()
            || ip.is_multicast()
            || matches!(ip, IpAddr::V4(v4) if v4.is_broadcast());
        !never && (self.allow_local || is_routable(ip))
    }

    /// Keyed double SHA-256, first 8 bytes little-endian (Core's `GetCheapHash`). Parts
    /// are length-prefixed so that different splits never hash alike.
    fn hash(&self, parts: &[&[u8]]) -> u64 {
        let mut hasher = Sha256::new();
        hasher.update(self.key);
        for part in parts {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        let digest = Sha256::digest(hasher.finalize());
        let mut first = [0u8; 8];
        first.copy_from_slice(&digest[..8]);
        u64::from_le_bytes(first)
    }

    /// Core's `GetNewBucket`: the source group picks one of its 64 buckets, and which one
    /// depends on the address group; so a source group reaches at most 64 buckets.
    fn new_location(&self, addr: SocketAddr, source: IpAddr) -> Location {
        let source_group = netgroup(source, self.allow_local);
        let addr_group = netgroup(addr.ip(), self.allow_local);
        let h1 = self.hash(&[b"new-1", &addr_group, &source_group]) % NEW_BUCKETS_PER_SOURCE_GROUP;
        let h2 = self.hash(&[b"new-2", &source_group, &h1.to_le_bytes()]);
        let bucket = (h2 % u64::from(self.geometry.new_buckets)) as u32;
        Location {
            tried: false,
            bucket,
            pos: self.position(false, bucket, addr),
        }
    }

    /// Core's `GetTriedBucket`: the address picks one of its group's 8 buckets.
    fn tried_location(&self, addr: SocketAddr) -> Location {
        let group = netgroup(addr.ip(), self.allow_local);
        let h1 = self.hash(&[b"tried-1", &addr_key(addr)]) % TRIED_BUCKETS_PER_GROUP;
        let h2 = self.hash(&[b"tried-2", &group, &h1.to_le_bytes()]);
        let bucket = (h2 % u64::from(self.geometry.tried_buckets)) as u32;
        Location {
            tried: true,
            bucket,
            pos: self.position(true, bucket, addr),
        }
    }

    /// Core's `GetBucketPosition`.
    fn position(&self, tried: bool, bucket: u32, addr: SocketAddr) -> u32 {
        let tag: &[u8] = if tried { b"tried-pos" } else { b"new-pos" };
        let h = self.hash(&[tag, &bucket.to_le_bytes(), &addr_key(addr)]);
        (h % u64::from(self.geometry.bucket_size)) as u32
    }

    // ---- storage primitives; every entry always sits in exactly one slot ----

    fn table(&self, tried: bool) -> &Table {
        if tried {
            &self.tried_table
        } else {
            &self.new_table
        }
    }

    fn table_mut(&mut self, tried: bool) -> &mut Table {
        if tried {
            &mut self.tried_table
        } else {
            &mut self.new_table
        }
    }

    fn record(&self, id: u32) -> Option<&Record> {
        self.records.get(id as usize)?.as_ref()
    }

    fn record_mut(&mut self, id: u32) -> Option<&mut Record> {
        self.records.get_mut(id as usize)?.as_mut()
    }

    fn entry_mut(&mut self, addr: SocketAddr) -> Option<&mut Entry> {
        let id = *self.index.get(&canonical(addr))?;
        self.record_mut(id).map(|r| &mut r.entry)
    }

    /// Stores a new entry in the empty slot `loc`; false if the slot was taken.
    fn insert(&mut self, entry: Entry, loc: Location) -> bool {
        let id = match self.free.last() {
            Some(&id) => id,
            None => self.records.len() as u32,
        };
        if !self.table_mut(loc.tried).put(loc.bucket, loc.pos, id) {
            return false;
        }
        let record = Some(Record { entry, loc });
        match self.records.get_mut(id as usize) {
            Some(slot) => {
                *slot = record;
                self.free.pop();
            }
            None => self.records.push(record),
        }
        self.index.insert(entry.addr, id);
        true
    }

    fn delete(&mut self, id: u32) -> Option<Entry> {
        self.vacate(id);
        let record = self.records.get_mut(id as usize)?.take()?;
        self.index.remove(&record.entry.addr);
        self.free.push(id);
        Some(record.entry)
    }

    /// Empties the slot the entry occupies (if it does); the record keeps its old
    /// location until [`AddrMan::move_to`] gives it a new one.
    fn vacate(&mut self, id: u32) {
        let Some(loc) = self.record(id).map(|r| r.loc) else {
            return;
        };
        let table = self.table_mut(loc.tried);
        if table.get(loc.bucket, loc.pos) == Some(id) {
            table.take(loc.bucket, loc.pos);
        }
    }

    /// Moves an entry to the empty slot `loc`; deletes it if the slot is taken (which
    /// the callers rule out).
    fn move_to(&mut self, id: u32, loc: Location) {
        self.vacate(id);
        if self.table_mut(loc.tried).put(loc.bucket, loc.pos, id) {
            if let Some(record) = self.record_mut(id) {
                record.loc = loc;
            }
        } else {
            self.delete(id);
        }
    }
}

// ---- addresses ----

/// IPv4-mapped IPv6 becomes IPv4, and IPv6 flow info and scope are dropped, so that one
/// peer has one key (and the key survives the file, which does not store them).
fn canonical(addr: SocketAddr) -> SocketAddr {
    match addr {
        SocketAddr::V4(_) => addr,
        SocketAddr::V6(v6) => match v6.ip().to_ipv4_mapped() {
            Some(v4) => SocketAddr::V4(SocketAddrV4::new(v4, v6.port())),
            None => SocketAddr::V6(SocketAddrV6::new(*v6.ip(), v6.port(), 0, 0)),
        },
    }
}

/// 16 bytes of address (IPv4 mapped into IPv6) and the port: Core's `GetKey`.
fn addr_key(addr: SocketAddr) -> [u8; 18] {
    let ip = match addr.ip() {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    let mut key = [0u8; 18];
    key[..16].copy_from_slice(&ip.octets());
    key[16..].copy_from_slice(&addr.port().to_be_bytes());
    key
}

/// Timestamps Core's `addr` handling would not believe become "5 days ago".
fn sanitize_time(time: u32, now: u64) -> u32 {
    let t = u64::from(time);
    if t <= 100_000_000 || t > now.saturating_add(10 * MINUTE) {
        to_u32(now.saturating_sub(5 * DAY))
    } else {
        time
    }
}

fn to_u32(t: u64) -> u32 {
    u32::try_from(t).unwrap_or(u32::MAX)
}

/// Whether peers on the public internet could reach `ip`: Core's `IsRoutable` (not
/// RFC 1918/2544/3927/4862/6598/5737/4193/4843/7343, not local, not unspecified,
/// not documentation), plus multicast, broadcast and the reserved 240/4.
pub fn is_routable(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => ipv4_routable(v4),
        IpAddr::V6(v6) => ipv6_routable(v6),
    }
}

fn ipv4_routable(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let unroutable = a == 0 // "this network", includes 0.0.0.0 (Core: IsLocal, IsValid)
        || a == 127 // loopback
        || a == 10 || (a == 172 && (b & 0xf0) == 16) || (a == 192 && b == 168) // RFC 1918
        || (a == 198 && (b & 0xfe) == 18) // RFC 2544 benchmarking
        || (a == 169 && b == 254) // RFC 3927 link-local
        || (a == 100 && (b & 0xc0) == 64) // RFC 6598 carrier-grade NAT
        || (a == 192 && b == 0 && c == 2) // RFC 5737 documentation
        || (a == 198 && b == 51 && c == 100)
        || (a == 203 && b == 0 && c == 113)
        || a >= 224; // multicast, reserved, broadcast
    !unroutable
}

fn ipv6_routable(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    let unroutable = ip.is_unspecified()
        || ip.is_loopback()
        || (s[0] & 0xfe00) == 0xfc00 // RFC 4193 unique local (and Core's internal range)
        || (s[0] & 0xffc0) == 0xfe80 // link-local (Core: RFC 4862)
        || (s[0] == 0x2001 && s[1] == 0x0db8) // RFC 3849 documentation
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0010) // RFC 4843 ORCHID
        || (s[0] == 0x2001 && (s[1] & 0xfff0) == 0x0020) // RFC 7343 ORCHIDv2
        || (s[0] & 0xff00) == 0xff00; // multicast
    !unroutable
}

/// The IPv4 address inside a 6to4, Teredo, NAT64 or IPv4-translated address (Core's
/// `GetLinkedIPv4`), so that wrapping an IPv4 address does not give it a fresh group.
fn linked_ipv4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let o = ip.octets();
    if s[0] == 0x2002 {
        Some(Ipv4Addr::new(o[2], o[3], o[4], o[5]))
    } else if s[0] == 0x2001 && s[1] == 0 {
        Some(Ipv4Addr::new(!o[12], !o[13], !o[14], !o[15]))
    } else if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] || s[..6] == [0, 0, 0, 0, 0xffff, 0] {
        Some(Ipv4Addr::new(o[12], o[13], o[14], o[15]))
    } else {
        None
    }
}

/// The network group of `ip`, Core's built-in `GetGroup` without asmap: /16 for IPv4
/// (and IPv4 embedded in IPv6), /32 for IPv6, /36 for Hurricane Electric's 2001:470::/32
/// (which hands out /48s to anyone). Non-routable addresses all share one group, unless
/// `allow_local` is set, in which case each is its own group by full IP, so test nodes
/// on 127.x.y.z spread over the tables. Nodes sharing one IP on different ports share a
/// group. Public because outbound connection logic wants one peer per group too.
pub fn netgroup(ip: IpAddr, allow_local: bool) -> Vec<u8> {
    let ip = ip.to_canonical();
    if !is_routable(ip) {
        return if allow_local {
            let mut group = vec![GROUP_LOCAL];
            match ip {
                IpAddr::V4(v4) => group.extend_from_slice(&v4.octets()),
                IpAddr::V6(v6) => group.extend_from_slice(&v6.octets()),
            }
            group
        } else {
            vec![GROUP_UNROUTABLE]
        };
    }
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            vec![GROUP_IPV4, o[0], o[1]]
        }
        IpAddr::V6(v6) => match linked_ipv4(v6) {
            Some(v4) => {
                let o = v4.octets();
                vec![GROUP_IPV4, o[0], o[1]]
            }
            None => {
                let o = v6.octets();
                let mut group = vec![GROUP_IPV6, o[0], o[1], o[2], o[3]];
                if v6.segments()[..2] == [0x2001, 0x0470] {
                    group.push(o[4] & 0xf0);
                }
                group
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use std::collections::HashSet;
    use std::fs;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU64, Ordering};

    const KEY: [u8; 32] = [7; 32];
    /// 2023-11-14, any plausible "now".
    const T0: u64 = 1_700_000_000;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn rec(addr: SocketAddr, now: u64) -> (SocketAddr, u64, u32) {
        (addr, 1, now as u32)
    }

    fn random_routable_v4(rng: &mut StdRng) -> SocketAddr {
        loop {
            let ip = Ipv4Addr::from(rng.random::<u32>());
            if is_routable(IpAddr::V4(ip)) {
                return SocketAddr::new(IpAddr::V4(ip), 8333);
            }
        }
    }

    /// `n` distinct routable addresses, each with its own source in its own /16.
    fn honest(n: usize, seed: u64) -> Vec<(SocketAddr, IpAddr)> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        while out.len() < n {
            let addr = random_routable_v4(&mut rng);
            let source = random_routable_v4(&mut rng).ip();
            if seen.insert(addr) {
                out.push((addr, source));
            }
        }
        out
    }

    fn book_with(n: usize, seed: u64, now: u64) -> (AddrMan, Vec<SocketAddr>) {
        let mut book = AddrMan::with_key(KEY, false);
        let mut added = Vec::new();
        for (addr, source) in honest(n, seed) {
            if book.add(&[rec(addr, now)], source, now) == 1 {
                added.push(addr);
            }
        }
        book.check();
        (book, added)
    }

    /// A read-only view of one entry, for assertions.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct AddrInfo {
        addr: SocketAddr,
        /// Service bits, the union of everything announced for this address.
        services: u64,
        /// Last seen, as announced (minus the relay penalty), unix seconds.
        time: u32,
        /// The peer that first told us about it.
        source: IpAddr,
        /// Failed attempts since the last success.
        attempts: u32,
        last_try: Option<u64>,
        last_success: Option<u64>,
        in_tried: bool,
    }

    impl AddrMan {
        fn info(&self, addr: SocketAddr) -> Option<AddrInfo> {
            let id = *self.index.get(&canonical(addr))?;
            let record = self.record(id)?;
            let e = &record.entry;
            Some(AddrInfo {
                addr: e.addr,
                services: e.services,
                time: e.time,
                source: e.source,
                attempts: e.attempts,
                last_try: e.last_try,
                last_success: e.last_success,
                in_tried: record.loc.tried,
            })
        }

        /// Every structural invariant the code relies on.
        fn check(&self) {
            let mut live = 0;
            for (id, record) in self.records.iter().enumerate() {
                let Some(record) = record else { continue };
                live += 1;
                let id = id as u32;
                let loc = record.loc;
                assert_eq!(self.table(loc.tried).get(loc.bucket, loc.pos), Some(id));
                assert_eq!(self.index.get(&record.entry.addr), Some(&id));
                let expected = if loc.tried {
                    self.tried_location(record.entry.addr)
                } else {
                    self.new_location(record.entry.addr, record.entry.source)
                };
                assert_eq!(loc, expected, "entry not at its hashed location");
                assert!(self.is_acceptable(record.entry.addr));
            }
            assert_eq!(live, self.len());
            assert_eq!(self.index.len(), self.len());
            assert_eq!(self.records.len(), live + self.free.len());
            assert!(self.len() <= self.geometry.capacity());
            for table in [&self.new_table, &self.tried_table] {
                assert_eq!(table.ids().count(), table.len);
                let nonempty: HashSet<u32> = table.nonempty.iter().copied().collect();
                for (b, fill) in table.fill.iter().enumerate() {
                    let b = b as u32;
                    let count = (0..table.bucket_size as u32)
                        .filter(|&p| table.get(b, p).is_some())
                        .count() as u32;
                    assert_eq!(*fill, count);
                    assert_eq!(nonempty.contains(&b), count > 0);
                    if let Some(i) = table.nonempty_index[b as usize] {
                        assert_eq!(table.nonempty[i as usize], b);
                    }
                }
            }
        }

        fn loc_of(&self, addr: SocketAddr) -> Location {
            self.record(self.index[&addr]).unwrap().loc
        }
    }

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> TempDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let dir = std::env::temp_dir().join(format!(
                "addrman-test-{}-{}-{}",
                std::process::id(),
                name,
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }

        fn file(&self) -> PathBuf {
            self.0.join("peers.dat")
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    /// An envelope with a valid checksum around an arbitrary body.
    fn write_raw(path: &Path, body: &[u8]) {
        fs::write(path, persist::encode(&FILE, FILE.version, body)).unwrap();
    }

    fn encode_body(snapshot: &Snapshot) -> Vec<u8> {
        bincode::serde::encode_to_vec(snapshot, bincode::config::standard()).unwrap()
    }

    fn entry(addr: SocketAddr, source: IpAddr, time: u32) -> Entry {
        Entry {
            addr,
            services: 1,
            time,
            source,
            attempts: 0,
            last_try: None,
            last_count_attempt: None,
            last_success: None,
        }
    }

    // ---- flooding ----

    #[test]
    fn one_source_cannot_flood_the_new_table() {
        let mut book = AddrMan::with_key(KEY, false);
        let mut rng = StdRng::seed_from_u64(1);
        let attacker = ip("45.1.2.3");
        let flood: Vec<_> = (0..10_000)
            .map(|_| rec(random_routable_v4(&mut rng), T0))
            .collect();
        let added = book.add(&flood, attacker, T0);
        // A helper in the same /16 is the same source group: same 64 buckets.
        let accomplice = ip("45.1.200.200");
        let more: Vec<_> = (0..2_000)
            .map(|_| rec(random_routable_v4(&mut rng), T0))
            .collect();
        let added_more = book.add(&more, accomplice, T0);
        book.check();

        let buckets: HashSet<u32> = book
            .records
            .iter()
            .flatten()
            .map(|r| r.loc.bucket)
            .collect();
        assert!(buckets.len() <= NEW_BUCKETS_PER_SOURCE_GROUP as usize);
        assert!(
            buckets.len() > 32,
            "should still use most of its 64 buckets"
        );
        assert_eq!(book.len(), added + added_more);
        assert!(book.len() <= 64 * 64);

        let honest = honest(200, 2);
        let honest_added: usize = honest
            .iter()
            .map(|&(addr, source)| book.add(&[rec(addr, T0)], source, T0))
            .sum();
        // Only honest addresses hashed into one of the attacker's 64 of 1024 buckets
        // can lose their slot (about 6%).
        assert!(honest_added >= 180, "only {honest_added} of 200 got in");
        book.check();
    }

    // ---- tried and selection ----

    #[test]
    fn mark_good_moves_to_tried() {
        let (mut book, addrs) = book_with(100, 3, T0);
        assert_eq!(book.new_count(), addrs.len());
        assert!(book.mark_good(addrs[0], T0 + 10));
        assert_eq!(book.tried_count(), 1);
        assert_eq!(book.new_count(), addrs.len() - 1);
        let info = book.info(addrs[0]).unwrap();
        assert!(info.in_tried);
        assert_eq!(info.last_success, Some(T0 + 10));
        assert_eq!(info.attempts, 0);
        // Again: still tried, nothing moves.
        assert!(book.mark_good(addrs[0], T0 + 20));
        assert_eq!(book.tried_count(), 1);
        // Unknown addresses are not inserted.
        assert!(!book.mark_good(sa("8.8.8.8:8333"), T0));
        assert!(!book.contains(sa("8.8.8.8:8333")));
        book.check();
    }

    #[test]
    fn select_prefers_tried() {
        let (mut book, addrs) = book_with(1000, 4, T0);
        let tried: HashSet<SocketAddr> = addrs[..10].iter().copied().collect();
        for &addr in &tried {
            assert!(book.mark_good(addr, T0));
        }
        assert_eq!(book.tried_count(), 10);
        book.check();
        let now = T0 + 2 * HOUR;
        let mut rng = StdRng::seed_from_u64(5);
        let rounds = 4000;
        let hits = (0..rounds)
            .filter(|_| tried.contains(&book.select(now, &mut rng, |_| false).unwrap()))
            .count();
        // 10 of ~1000 entries, but half of all picks.
        let share = hits as f64 / rounds as f64;
        assert!((0.45..0.55).contains(&share), "tried share {share}");
    }

    #[test]
    fn feelers_select_from_the_new_table_only() {
        let (mut book, addrs) = book_with(50, 4, T0);
        let tried: HashSet<SocketAddr> = addrs[..10].iter().copied().collect();
        for &addr in &tried {
            assert!(book.mark_good(addr, T0));
            assert!(book.is_tried(addr));
        }
        assert!(!book.is_tried(addrs[10]));
        let now = T0 + 2 * HOUR;
        let mut rng = StdRng::seed_from_u64(9);
        for _ in 0..500 {
            let pick = book.select_new(now, &mut rng, |_| false).unwrap();
            assert!(!tried.contains(&pick), "{pick} is in the tried table");
        }
        // With every new entry excluded, nothing: the tried table is not a fallback.
        let untried: HashSet<SocketAddr> = addrs[10..].iter().copied().collect();
        assert_eq!(
            book.select_new(now, &mut rng, |a| untried.contains(a)),
            None
        );
    }

    #[test]
    fn select_with_exclusions_never_spins() {
        let mut rng = StdRng::seed_from_u64(6);
        let empty = AddrMan::with_key(KEY, false);
        assert_eq!(empty.select(T0, &mut rng, |_| false), None);

        let (book, addrs) = book_with(3000, 7, T0);
        assert_eq!(book.select(T0, &mut rng, |_| true), None);
        // One eligible address among thousands: the bounded search will usually miss
        // it, the scan must not.
        let only = addrs[1234];
        for _ in 0..20 {
            assert_eq!(book.select(T0, &mut rng, |a| *a != only), Some(only));
        }
    }

    #[test]
    fn backoff() {
        let mut book = AddrMan::with_key(KEY, false);
        let a = sa("1.2.3.4:8333");
        let b = sa("5.6.7.8:8333");
        book.add(&[rec(a, T0), rec(b, T0)], ip("9.9.9.9"), T0);
        let mut rng = StdRng::seed_from_u64(8);
        let only_a = |x: &SocketAddr| *x != a;
        assert_eq!(book.select(T0, &mut rng, only_a), Some(a));

        book.mark_attempt(a, T0);
        assert_eq!(book.info(a).unwrap().attempts, 1);
        assert_eq!(book.select(T0, &mut rng, only_a), None);
        assert_eq!(book.select(T0 + 59, &mut rng, only_a), None);
        assert_eq!(book.select(T0 + 60, &mut rng, only_a), Some(a));

        // Without any success in between, a second failure is not counted (we may be
        // offline), so the delay does not grow.
        book.mark_attempt(a, T0 + 60);
        assert_eq!(book.info(a).unwrap().attempts, 1);
        assert_eq!(book.select(T0 + 120, &mut rng, only_a), Some(a));

        // After a success elsewhere, it is, and the delay doubles.
        book.mark_good(b, T0 + 130);
        book.mark_attempt(a, T0 + 200);
        assert_eq!(book.info(a).unwrap().attempts, 2);
        assert_eq!(book.select(T0 + 319, &mut rng, only_a), None);
        assert_eq!(book.select(T0 + 320, &mut rng, only_a), Some(a));

        // A successful connection resets the count.
        book.mark_good(a, T0 + 400);
        assert_eq!(book.info(a).unwrap().attempts, 0);
        assert_eq!(book.select(T0 + 459, &mut rng, only_a), None);
        assert_eq!(book.select(T0 + 460, &mut rng, only_a), Some(a));
        assert!(!book.mark_attempt(sa("8.8.8.8:1"), T0));
    }

    #[test]
    fn retry_delay_doubles_and_caps() {
        let delays: Vec<u64> = (0..10).map(retry_delay).collect();
        assert_eq!(delays, [60, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
        assert_eq!(retry_delay(u32::MAX), 3600);
    }

    #[test]
    fn tried_collision_sends_the_incumbent_back_unless_recently_good() {
        // One tried slot: every promotion collides.
        let g = Geometry::new(64, 1, 1).unwrap();
        let mut book = AddrMan::with_geometry(g, KEY, false);
        let a = sa("1.2.3.4:8333");
        let b = sa("5.6.7.8:8333");
        book.add(&[rec(a, T0)], ip("11.0.0.1"), T0);
        book.add(&[rec(b, T0)], ip("12.0.0.1"), T0);
        assert!(book.mark_good(a, T0));

        // a's success was 5 h ago: it goes back to new, b takes its place.
        assert!(book.mark_good(b, T0 + 5 * HOUR));
        assert!(book.info(b).unwrap().in_tried);
        let a_info = book.info(a).unwrap();
        assert!(!a_info.in_tried);
        assert_eq!(a_info.last_success, Some(T0));
        assert_eq!(book.len(), 2);
        book.check();

        // b's success was 10 s ago: a stays in new.
        assert!(!book.mark_good(a, T0 + 5 * HOUR + 10));
        assert!(!book.info(a).unwrap().in_tried);
        assert!(book.info(b).unwrap().in_tried);
        assert_eq!(book.info(a).unwrap().last_success, Some(T0 + 5 * HOUR + 10));
        book.check();
    }

    // ---- collisions in new ----

    #[test]
    fn collision_evicts_only_terrible_entries() {
        // One new slot: every address collides.
        let g = Geometry::new(1, 1, 1).unwrap();
        let mut book = AddrMan::with_geometry(g, KEY, false);
        let a = sa("1.2.3.4:8333");
        let b = sa("5.6.7.8:8333");
        let src = ip("9.9.9.9");
        assert_eq!(book.add(&[rec(a, T0)], src, T0), 1);
        assert_eq!(book.add(&[rec(b, T0)], src, T0), 0);
        assert!(book.contains(a) && !book.contains(b));

        // 31 days later a has not been seen: terrible, replaced.
        let later = T0 + 31 * DAY;
        assert_eq!(book.add(&[rec(b, later)], src, later), 1);
        assert!(!book.contains(a) && book.contains(b));
        book.check();
    }

    #[test]
    fn collision_evicts_after_three_counted_failures() {
        let g = Geometry::new(1, 1, 1).unwrap();
        let mut book = AddrMan::with_geometry(g, KEY, false);
        let src = ip("9.9.9.9");
        let c = sa("20.0.0.1:8333");
        let a = sa("1.2.3.4:8333");
        let b = sa("5.6.7.8:8333");
        // c goes to tried so that there are successes to separate a's attempts.
        book.add(&[rec(c, T0)], src, T0);
        assert!(book.mark_good(c, T0));
        assert_eq!(book.add(&[rec(a, T0)], src, T0), 1);
        for i in 0..3 {
            book.mark_attempt(a, T0 + 10 + 20 * i);
            book.mark_good(c, T0 + 20 + 20 * i);
        }
        assert_eq!(book.info(a).unwrap().attempts, 3);
        // Tried within the last minute: not terrible yet.
        assert_eq!(book.add(&[rec(b, T0 + 60)], src, T0 + 60), 0);
        assert_eq!(book.add(&[rec(b, T0 + 200)], src, T0 + 200), 1);
        assert!(!book.contains(a) && book.contains(b));
        book.check();
    }

    #[test]
    fn terrible_rules() {
        let e = entry(sa("1.2.3.4:1"), ip("1.2.3.4"), T0 as u32);
        assert!(!e.is_terrible(T0));
        // From the future.
        let future = Entry {
            time: (T0 + 11 * MINUTE) as u32,
            ..e
        };
        assert!(future.is_terrible(T0));
        assert!(!Entry {
            time: (T0 + 9 * MINUTE) as u32,
            ..e
        }
        .is_terrible(T0));
        // Not seen for 30 days.
        assert!(e.is_terrible(T0 + 30 * DAY + 1));
        assert!(!e.is_terrible(T0 + 30 * DAY));
        // Never succeeded, 3 attempts.
        let failing = Entry {
            attempts: 3,
            last_try: Some(T0 - 100),
            ..e
        };
        assert!(failing.is_terrible(T0));
        assert!(!Entry {
            attempts: 2,
            ..failing
        }
        .is_terrible(T0));
        // ... but not within a minute of the last try.
        assert!(!Entry {
            last_try: Some(T0 - 30),
            ..failing
        }
        .is_terrible(T0));
        // 10 failures and last success over a week ago.
        let stale = Entry {
            attempts: 10,
            last_try: Some(T0 - 100),
            last_success: Some(T0 - 8 * DAY),
            ..e
        };
        assert!(stale.is_terrible(T0));
        assert!(!Entry {
            last_success: Some(T0 - 6 * DAY),
            ..stale
        }
        .is_terrible(T0));
        assert!(!Entry {
            attempts: 9,
            ..stale
        }
        .is_terrible(T0));
    }

    #[test]
    fn chance_matches_core() {
        let e = entry(sa("1.2.3.4:1"), ip("1.2.3.4"), T0 as u32);
        assert_eq!(e.chance(T0), 1.0);
        let recent = Entry {
            last_try: Some(T0 - 60),
            ..e
        };
        assert!((recent.chance(T0) - 0.01).abs() < 1e-12);
        let failed = Entry {
            attempts: 20,
            last_try: Some(T0 - HOUR),
            ..e
        };
        assert!((failed.chance(T0) - 0.66f64.powi(8)).abs() < 1e-12);
    }

    // ---- add ----

    #[test]
    fn unroutable_ignored_unless_allow_local() {
        let local = [
            "10.1.2.3:8333",
            "172.16.0.1:8333",
            "192.168.1.1:8333",
            "127.0.0.1:8333",
            "127.4.5.6:8333",
            "169.254.1.1:8333",
            "100.64.0.1:8333",
            "198.18.0.1:8333",
            "192.0.2.1:8333",
            "198.51.100.1:8333",
            "203.0.113.1:8333",
            "0.1.2.3:8333",
            "240.0.0.1:8333",
            "[::1]:8333",
            "[fe80::1]:8333",
            "[fc00::1]:8333",
            "[fd12:3456::1]:8333",
            "[2001:db8::1]:8333",
            "[2001:10::1]:8333",
            "[2001:20::1]:8333",
            "[::ffff:127.0.0.1]:8333",
            "[::ffff:10.1.2.3]:8333",
        ];
        let never = [
            "0.0.0.0:8333",
            "255.255.255.255:8333",
            "224.0.0.1:8333",
            "[::]:8333",
            "[ff02::1]:8333",
            "1.2.3.4:0",
        ];
        let src = ip("9.9.9.9");
        let mut book = AddrMan::with_key(KEY, false);
        for s in local.iter().chain(&never) {
            assert_eq!(book.add(&[rec(sa(s), T0)], src, T0), 0, "{s}");
        }
        assert!(book.is_empty());
        assert_eq!(book.add(&[rec(sa("1.2.3.4:8333"), T0)], src, T0), 1);
        assert_eq!(book.add(&[rec(sa("[2a01:4f8::1]:8333"), T0)], src, T0), 1);

        let mut book = AddrMan::with_key(KEY, true);
        let added = book.add(
            &local.iter().map(|s| rec(sa(s), T0)).collect::<Vec<_>>(),
            ip("127.0.0.1"),
            T0,
        );
        // Two of them are the same as others once IPv4-mapped addresses are unwrapped.
        assert_eq!(added, local.len() - 2);
        for s in never {
            assert_eq!(book.add(&[rec(sa(s), T0)], src, T0), 0, "{s}");
        }
        book.check();
    }

    #[test]
    fn local_addresses_spread_when_allowed() {
        let mut book = AddrMan::with_key(KEY, true);
        let addrs: Vec<_> = (0..500u32)
            .map(|i| {
                let addr = SocketAddr::new(
                    IpAddr::V4(Ipv4Addr::new(127, 0, (i >> 8) as u8, i as u8)),
                    18444,
                );
                rec(addr, T0)
            })
            .collect();
        let added = book.add(&addrs, ip("127.0.0.1"), T0);
        assert!(added > 400, "{added}");
        let buckets: HashSet<u32> = book
            .records
            .iter()
            .flatten()
            .map(|r| r.loc.bucket)
            .collect();
        assert!(buckets.len() > 32, "{}", buckets.len());
        book.check();
    }

    #[test]
    fn add_updates_existing_entries() {
        let mut book = AddrMan::with_key(KEY, false);
        let a = sa("1.2.3.4:8333");
        let own = a.ip();
        assert_eq!(book.add(&[(a, 1, (T0 - 3 * HOUR) as u32)], own, T0), 1);
        assert_eq!(book.info(a).unwrap().time, (T0 - 3 * HOUR) as u32);
        // Newer by more than an hour: updated, services merged, not counted as new.
        assert_eq!(book.add(&[(a, 8, T0 as u32)], own, T0), 0);
        let info = book.info(a).unwrap();
        assert_eq!(info.time, T0 as u32);
        assert_eq!(info.services, 9);
        assert_eq!(info.source, own);
        // Newer by less than an hour: not updated.
        assert_eq!(
            book.add(&[(a, 0, (T0 + 30 * MINUTE) as u32)], own, T0 + HOUR),
            0
        );
        assert_eq!(book.info(a).unwrap().time, T0 as u32);
        // Relayed by someone else: 2 h penalty.
        let b = sa("5.6.7.8:8333");
        book.add(&[(b, 1, T0 as u32)], own, T0);
        assert_eq!(book.info(b).unwrap().time, (T0 - 2 * HOUR) as u32);
        // Absurd timestamps become "5 days ago" (minus the penalty).
        let c = sa("9.10.11.12:8333");
        book.add(&[(c, 1, (T0 + DAY) as u32)], own, T0);
        assert_eq!(book.info(c).unwrap().time, (T0 - 5 * DAY - 2 * HOUR) as u32);
        // IPv4-mapped IPv6 is the same peer.
        assert_eq!(
            book.add(&[rec(sa("[::ffff:1.2.3.4]:8333"), T0)], own, T0),
            0
        );
        assert!(book.contains(sa("[::ffff:1.2.3.4]:8333")));
        book.check();
    }

    #[test]
    fn mark_connected_refreshes_last_seen_at_most_every_20_minutes() {
        let (mut book, addrs) = book_with(50, 9, T0);
        let a = addrs[2];
        let t = book.info(a).unwrap().time;
        book.mark_connected(a, u64::from(t) + 10 * MINUTE);
        assert_eq!(book.info(a).unwrap().time, t);
        book.mark_connected(a, u64::from(t) + 21 * MINUTE);
        assert_eq!(book.info(a).unwrap().time, t + 21 * 60);
    }

    // ---- getaddr ----

    #[test]
    fn get_addresses_respects_pct_and_max() {
        let (book, _) = book_with(1000, 11, T0);
        let n = book.len();
        let mut rng = StdRng::seed_from_u64(12);
        let all = book.get_addresses(usize::MAX, &mut rng, T0);
        assert_eq!(all.len(), n * 23 / 100);
        let distinct: HashSet<_> = all.iter().map(|x| x.0).collect();
        assert_eq!(distinct.len(), all.len());
        assert_eq!(book.get_addresses(50, &mut rng, T0).len(), 50);
        assert!(book.get_addresses(0, &mut rng, T0).is_empty());

        // Terrible entries are never handed out: half of a book is 40 days stale.
        let mut book = AddrMan::with_key(KEY, false);
        let stale_time = T0 - 40 * DAY;
        let entries = honest(400, 13);
        for (i, &(addr, source)) in entries.iter().enumerate() {
            let time = if i % 2 == 0 { stale_time } else { T0 };
            book.add(&[(addr, 1, time as u32)], source, T0);
        }
        let got = book.get_addresses(usize::MAX, &mut rng, T0);
        assert!(got.len() <= book.len() * 23 / 100);
        assert!(!got.is_empty());
        assert!(got.iter().all(|&(_, _, t)| u64::from(t) > T0 - 30 * DAY));
    }

    // ---- persistence ----

    fn sample_book() -> AddrMan {
        let (mut book, addrs) = book_with(300, 14, T0);
        for (i, &addr) in addrs.iter().enumerate().take(40) {
            match i % 3 {
                0 => {
                    book.mark_good(addr, T0 + i as u64);
                }
                1 => {
                    book.mark_attempt(addr, T0 + i as u64);
                }
                _ => {}
            }
        }
        book.add(&[rec(sa("[2a01:4f8::1]:8333"), T0)], ip("2a02::1"), T0);
        book.check();
        book
    }

    fn all_infos(book: &AddrMan) -> Vec<(AddrInfo, Location)> {
        let mut v: Vec<_> = book
            .index
            .keys()
            .map(|&a| (book.info(a).unwrap(), book.loc_of(a)))
            .collect();
        v.sort_by_key(|(i, _)| i.addr);
        v
    }

    #[test]
    fn snapshot_round_trip_without_disk() {
        let book = sample_book();
        let bytes = book.snapshot();
        assert_eq!(&bytes[..8], b"P2PNADDR");
        let restored = AddrMan::from_snapshot(&bytes, T0 + 100, false).unwrap();
        restored.check();
        assert_eq!(restored.key, book.key);
        assert_eq!(restored.geometry, book.geometry);
        assert_eq!(restored.last_good, book.last_good);
        assert_eq!(all_infos(&restored), all_infos(&book));
        // Same entries in the same slots give the same bytes.
        assert_eq!(restored.snapshot(), bytes);
        let empty = AddrMan::with_key(KEY, false).snapshot();
        assert!(AddrMan::from_snapshot(&empty, T0, false)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn an_old_format_file_is_a_warning_and_an_empty_book() {
        // Version 1: magic | version | body length | body | SHA-256 of all before it.
        let body = encode_body(&Snapshot {
            geometry: (1024, 256, 64),
            key: KEY,
            last_good: 0,
            tried: vec![],
            new: vec![entry(sa("1.2.3.4:8333"), ip("9.9.9.9"), T0 as u32)],
        });
        let mut old = Vec::new();
        old.extend_from_slice(b"P2PNADDR");
        old.extend_from_slice(&1u32.to_le_bytes());
        old.extend_from_slice(&(body.len() as u64).to_le_bytes());
        old.extend_from_slice(&body);
        let checksum = Sha256::digest(&old);
        old.extend_from_slice(&checksum);
        assert!(matches!(
            AddrMan::from_snapshot(&old, T0, false),
            Err(LoadError::File(PersistError::UnsupportedVersion {
                found: 1,
                ..
            }))
        ));
        let dir = TempDir::new("old-format");
        let path = dir.file();
        fs::write(&path, &old).unwrap();
        let (book, warning) = AddrMan::load_or_new(&path, T0, false);
        assert!(book.is_empty());
        let warning = warning.unwrap();
        assert!(
            warning.contains("unsupported address book format version 1"),
            "{warning}"
        );
    }

    #[test]
    fn save_load_round_trip() {
        let dir = TempDir::new("roundtrip");
        let path = dir.file();
        let book = sample_book();
        assert!(book.tried_count() > 5 && book.new_count() > 200);
        book.save(&path).unwrap();
        // Overwriting works and leaves no temporary files behind.
        book.save(&path).unwrap();
        assert_eq!(fs::read_dir(&dir.0).unwrap().count(), 1);

        let loaded = AddrMan::load(&path, T0 + 100, false).unwrap();
        loaded.check();
        assert_eq!(loaded.key, book.key);
        assert_eq!(loaded.geometry, book.geometry);
        assert_eq!(loaded.last_good, book.last_good);
        assert_eq!(loaded.new_count(), book.new_count());
        assert_eq!(loaded.tried_count(), book.tried_count());
        // Same entries in the same slots.
        assert_eq!(all_infos(&loaded), all_infos(&book));

        let (again, warning) = AddrMan::load_or_new(&path, T0 + 100, false);
        assert!(warning.is_none());
        assert_eq!(again.len(), book.len());
    }

    #[test]
    fn load_clamps_future_times_and_filters_by_allow_local() {
        let dir = TempDir::new("clamp");
        let path = dir.file();
        let mut book = AddrMan::with_key(KEY, true);
        let public = sa("1.2.3.4:8333");
        let local = sa("127.0.0.2:8333");
        book.add(&[rec(public, T0), rec(local, T0)], ip("127.0.0.1"), T0);
        book.mark_attempt(public, T0 + DAY);
        book.save(&path).unwrap();

        let loaded = AddrMan::load(&path, T0, false).unwrap();
        loaded.check();
        assert!(loaded.contains(public) && !loaded.contains(local));
        assert_eq!(loaded.info(public).unwrap().last_try, Some(T0));
        let loaded = AddrMan::load(&path, T0, true).unwrap();
        assert!(loaded.contains(local));
    }

    fn small_book() -> AddrMan {
        let mut book = AddrMan::with_key(KEY, false);
        for (addr, source) in honest(5, 15) {
            book.add(&[rec(addr, T0)], source, T0);
        }
        book
    }

    #[test]
    fn truncated_files_are_rejected() {
        let dir = TempDir::new("truncated");
        let bad = dir.0.join("bad.dat");
        // A big book at a few lengths, a small one at every length.
        let path = dir.file();
        sample_book().save(&path).unwrap();
        let big = fs::read(&path).unwrap();
        let n = big.len();
        for len in [0, 1, 7, 8, 12, 19, 20, 52, n / 2, n - 33, n - 32, n - 1] {
            fs::write(&bad, &big[..len]).unwrap();
            assert!(AddrMan::load(&bad, T0, false).is_err(), "len {len}");
        }
        small_book().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        for len in 0..bytes.len() {
            fs::write(&bad, &bytes[..len]).unwrap();
            let err = AddrMan::load(&bad, T0, false).unwrap_err();
            assert!(
                matches!(
                    err,
                    LoadError::File(PersistError::Truncated | PersistError::WrongMagic { .. })
                ),
                "len {len}: {err}"
            );
            let (book, warning) = AddrMan::load_or_new(&bad, T0, false);
            assert!(book.is_empty());
            assert!(warning.is_some());
        }
    }

    #[test]
    fn every_flipped_byte_is_rejected() {
        let dir = TempDir::new("flipped");
        let path = dir.file();
        small_book().save(&path).unwrap();
        let bytes = fs::read(&path).unwrap();
        let bad = dir.0.join("bad.dat");
        for i in 0..bytes.len() {
            let mut copy = bytes.clone();
            copy[i] ^= 0x01;
            fs::write(&bad, &copy).unwrap();
            let err = AddrMan::load(&bad, T0, false).unwrap_err();
            // The checksum itself and the body.
            if i >= persist::HEADER_LEN - 32 {
                assert!(
                    matches!(err, LoadError::File(PersistError::ChecksumMismatch)),
                    "byte {i}: {err}"
                );
            }
        }
        // Appended garbage.
        let mut longer = bytes.clone();
        longer.push(0);
        fs::write(&bad, &longer).unwrap();
        assert!(AddrMan::load(&bad, T0, false).is_err());
        let (book, warning) = AddrMan::load_or_new(&bad, T0, false);
        assert!(book.is_empty());
        // The damaged file is moved aside, not left for the next save to overwrite.
        assert!(warning.unwrap().contains("kept as"));
        assert!(!bad.exists());
        assert_eq!(fs::read(dir.0.join("bad.dat.bad")).unwrap(), longer);
    }

    #[test]
    fn wrong_version_and_missing_file_are_rejected() {
        let dir = TempDir::new("version");
        let path = dir.file();
        sample_book().save(&path).unwrap();
        let mut bytes = fs::read(&path).unwrap();
        bytes[8..12].copy_from_slice(&3u32.to_le_bytes());
        fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::File(PersistError::UnsupportedVersion {
                found: 3,
                ..
            }))
        ));
        let (book, warning) = AddrMan::load_or_new(&path, T0, false);
        assert!(book.is_empty());
        assert!(warning.unwrap().contains("version"));

        let missing = dir.0.join("missing.dat");
        assert!(matches!(
            AddrMan::load(&missing, T0, false),
            Err(LoadError::File(e)) if e.is_not_found()
        ));
        // A first start: an empty book and nothing to warn about.
        let (book, warning) = AddrMan::load_or_new(&missing, T0, false);
        assert!(book.is_empty() && warning.is_none());

        fs::write(
            &path,
            b"not an address book at all, but long enough to have a header",
        )
        .unwrap();
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::File(PersistError::WrongMagic { .. }))
        ));
    }

    #[test]
    fn forged_bodies_with_valid_checksums_are_rejected() {
        let dir = TempDir::new("forged");
        let path = dir.file();
        let tiny = (1, 1, 1);
        let e1 = entry(sa("1.2.3.4:1"), ip("9.9.9.9"), T0 as u32);
        let e2 = entry(sa("5.6.7.8:1"), ip("9.9.9.9"), T0 as u32);

        // More entries than the table holds.
        let over = Snapshot {
            geometry: tiny,
            key: KEY,
            last_good: 0,
            tried: vec![],
            new: vec![e1, e2],
        };
        write_raw(&path, &encode_body(&over));
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::TooManyEntries {
                count: 2,
                capacity: 1,
                ..
            })
        ));

        // Geometry out of range.
        let bad_geometry = Snapshot {
            geometry: (0, 1, 1),
            tried: vec![],
            new: vec![],
            ..over
        };
        write_raw(&path, &encode_body(&bad_geometry));
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::BadGeometry)
        ));
        let huge = Snapshot {
            geometry: (u32::MAX, u32::MAX, u32::MAX),
            ..bad_geometry
        };
        write_raw(&path, &encode_body(&huge));
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::BadGeometry)
        ));

        // A length prefix claiming 2^60 entries: must fail without allocating them.
        let head = bincode::serde::encode_to_vec(
            ((1024u32, 256u32, 64u32), KEY, 0u64),
            bincode::config::standard(),
        )
        .unwrap();
        let mut body = head.clone();
        body.push(253); // bincode varint: u64 follows
        body.extend_from_slice(&(1u64 << 60).to_le_bytes());
        write_raw(&path, &body);
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::Decode(_))
        ));

        // Valid body followed by junk inside the checksummed envelope.
        let mut body = encode_body(&Snapshot {
            geometry: tiny,
            key: KEY,
            last_good: 0,
            tried: vec![],
            new: vec![e1],
        });
        body.push(0);
        write_raw(&path, &body);
        assert!(matches!(
            AddrMan::load(&path, T0, false),
            Err(LoadError::TrailingBytes(1))
        ));

        // Duplicates and unroutable entries are dropped, not trusted.
        let dupes = Snapshot {
            geometry: (1024, 256, 64),
            key: KEY,
            last_good: 0,
            tried: vec![e1, e1],
            new: vec![e1, e2, entry(sa("10.0.0.1:1"), ip("9.9.9.9"), 0)],
        };
        write_raw(&path, &encode_body(&dupes));
        let book = AddrMan::load(&path, T0, false).unwrap();
        book.check();
        assert_eq!(book.len(), 2);
        assert_eq!(book.tried_count(), 1);
    }

    #[test]
    fn random_garbage_never_panics() {
        let dir = TempDir::new("garbage");
        let path = dir.file();
        let mut rng = StdRng::seed_from_u64(16);
        let mut good_body = Vec::new();
        {
            let book = sample_book();
            book.save(&path).unwrap();
            let bytes = fs::read(&path).unwrap();
            good_body.extend_from_slice(&bytes[persist::HEADER_LEN..]);
        }
        for round in 0..300 {
            let body: Vec<u8> = if round % 2 == 0 {
                let len = rng.random_range(0..400);
                (0..len).map(|_| rng.random()).collect()
            } else {
                // A valid body with a few random bytes changed, re-checksummed.
                let mut body = good_body.clone();
                for _ in 0..rng.random_range(1..4) {
                    let i = rng.random_range(0..body.len());
                    body[i] = rng.random();
                }
                body
            };
            write_raw(&path, &body);
            if let Ok(book) = AddrMan::load(&path, T0, false) {
                book.check();
            }
        }
    }

    #[test]
    fn save_into_missing_directory_fails_cleanly() {
        let dir = TempDir::new("nodir");
        let path = dir.0.join("no").join("such").join("peers.dat");
        assert!(sample_book().save(&path).is_err());
        assert!(AddrMan::with_key(KEY, false).save(Path::new("/")).is_err());
    }

    #[test]
    fn netgroups() {
        let g = |s: &str| netgroup(ip(s), false);
        assert_eq!(g("1.2.3.4"), g("1.2.200.200"));
        assert_ne!(g("1.2.3.4"), g("1.3.3.4"));
        assert_eq!(g("2a01:4f8:1::1"), g("2a01:4f8:ffff::1"));
        assert_ne!(g("2a01:4f8::1"), g("2a01:4f9::1"));
        // IPv4 wrapped in IPv6 keeps its /16.
        assert_eq!(g("::ffff:1.2.3.4"), g("1.2.9.9"));
        assert_eq!(g("2002:102:304::1"), g("1.2.9.9"));
        assert_eq!(g("64:ff9b::102:304"), g("1.2.9.9"));
        // Hurricane Electric: /36.
        assert_ne!(g("2001:470:1000::1"), g("2001:470:2000::1"));
        // Unroutable: one group, or one per address with allow_local.
        assert_eq!(g("127.0.0.1"), g("10.0.0.1"));
        assert_ne!(
            netgroup(ip("127.0.0.1"), true),
            netgroup(ip("127.0.0.2"), true)
        );
        assert_eq!(netgroup(ip("1.2.3.4"), true), g("1.2.3.4"));
    }

    #[test]
    fn geometry_bounds() {
        assert_eq!(Geometry::CORE.capacity(), 81_920);
        assert_eq!(Geometry::default(), Geometry::CORE);
        assert!(Geometry::new(0, 1, 1).is_none());
        assert!(Geometry::new(1, 1, 65).is_none());
        assert!(Geometry::new(1025, 1, 1).is_none());
        assert!(Geometry::new(1024, 256, 64).is_some());
        // The book never outgrows its tables, whatever is thrown at it.
        let g = Geometry::new(4, 2, 4).unwrap();
        let mut book = AddrMan::with_geometry(g, KEY, false);
        let mut rng = StdRng::seed_from_u64(17);
        for i in 0..2000u64 {
            let addr = random_routable_v4(&mut rng);
            let source = random_routable_v4(&mut rng).ip();
            let now = T0 + i * HOUR;
            book.add(&[rec(addr, now)], source, now);
            if i % 3 == 0 {
                book.mark_good(addr, now);
            }
            assert!(book.len() <= g.capacity());
        }
        book.check();
    }
}
