//! Hashing of item ids for the relay's tables. A peer chooses the ids it announces, so a
//! table keyed by them needs a keyed hash, or one peer could fill a single bucket (Bitcoin
//! Core salts its txid hasher for the same reason). The general-purpose SipHash spends
//! most of its time on bookkeeping for inputs of any length; an id is always 32 bytes, so
//! this one mixes its four words with a random per-process key through folded 64×64-bit
//! multiplications, the construction of the fast keyed hashes hashbrown and ahash use.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hasher};
use std::sync::OnceLock;

use crate::wire::Hash256;

/// A hash map keyed by item ids.
///
/// cbindgen:ignore
pub(crate) type IdMap<V> = HashMap<Hash256, V, IdHasher>;
/// A hash set of item ids.
///
/// cbindgen:ignore
pub(crate) type IdSet = HashSet<Hash256, IdHasher>;

/// Chosen once per process, at random: unknown to peers.
fn keys() -> &'static [u64; 5] {
    static KEYS: OnceLock<[u64; 5]> = OnceLock::new();
    KEYS.get_or_init(|| {
        // Odd, so that no key word can zero a product on its own.
        std::array::from_fn(|_| rand::random::<u64>() | 1)
    })
}

/// Builds [`IdHashState`]s; zero-sized, so a table costs no more than with std's hasher.
#[derive(Clone, Copy, Debug, Default)]
pub struct IdHasher;

impl BuildHasher for IdHasher {
    type Hasher = IdHashState;

    fn build_hasher(&self) -> IdHashState {
        IdHashState {
            keys: keys(),
            hash: 0,
            words: 0,
        }
    }
}

/// The state of one hash computation.
pub struct IdHashState {
    keys: &'static [u64; 5],
    hash: u64,
    words: usize,
}

/// The 128-bit product of two words, folded to 64 bits.
fn fold(a: u64, b: u64) -> u64 {
    let product = u128::from(a) * u128::from(b);
    (product as u64) ^ ((product >> 64) as u64)
}

impl IdHashState {
    fn mix(&mut self, word: u64) {
        let key = self.keys[self.words % 4];
        self.hash = fold(self.hash ^ word ^ key, self.keys[4]).rotate_left(23);
        self.words += 1;
    }
}

impl Hasher for IdHashState {
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            self.mix(u64::from_le_bytes(word) ^ (rest.len() as u64) << 56);
        }
    }

    /// Ids are fixed-size, so the length std writes before a slice adds nothing.
    fn write_usize(&mut self, _: usize) {}

    fn finish(&self) -> u64 {
        fold(self.hash ^ self.keys[0], self.keys[1] ^ self.words as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hash(id: &Hash256) -> u64 {
        IdHasher.hash_one(id)
    }

    #[test]
    fn equal_ids_hash_equal_and_each_byte_counts() {
        let id = [7u8; 32];
        assert_eq!(hash(&id), hash(&[7u8; 32]));
        for at in 0..32 {
            let mut other = id;
            other[at] ^= 1;
            assert_ne!(hash(&id), hash(&other), "byte {at} ignored");
        }
    }

    #[test]
    fn ids_differing_in_one_word_spread_over_buckets() {
        // Ids a peer could craft to share all but their first word still land in many
        // of 1,024 buckets.
        let buckets: HashSet<u64> = (0..4096u64)
            .map(|i| {
                let mut id = [0u8; 32];
                id[..8].copy_from_slice(&i.to_le_bytes());
                hash(&id) & 1023
            })
            .collect();
        assert!(buckets.len() > 900, "only {} buckets used", buckets.len());
    }
}
