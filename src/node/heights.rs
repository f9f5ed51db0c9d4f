//! Block heights as far as the engine can tell without the chain: the node reports its
//! tip, and a header whose parent has a known height has the next one. Peers' headers,
//! announcements and blocks then keep each peer's best known height current (Bitcoin
//! Core's `pindexBestKnownBlock`), not only the height it gave in its version message.

use crate::relay::bounded::BoundedMap;
use crate::relay::id_hash::IdHasher;
use crate::wire::Hash256;

/// Heights remembered at most: enough for a headers message on top of a sync position
/// many times over.
const KNOWN_HEIGHTS: usize = 20_000;

pub(super) struct Heights {
    known: BoundedMap<Hash256, i32, IdHasher>,
}

impl Default for Heights {
    fn default() -> Self {
        Heights {
            known: BoundedMap::new(KNOWN_HEIGHTS, usize::MAX),
        }
    }
}

impl Heights {
    /// A block at a height the node knows (its tip, or any block of its chain).
    pub fn set(&mut self, id: Hash256, height: i32) {
        self.known.insert(id, height, 1);
    }

    pub fn of(&self, id: &Hash256) -> Option<i32> {
        self.known.get(id).copied()
    }

    /// Learns the height of the block with header `header` (80 bytes) and id `id` when
    /// its parent's is known; returns it.
    pub fn learn(&mut self, id: Hash256, header: &[u8]) -> Option<i32> {
        if let Some(height) = self.of(&id) {
            return Some(height);
        }
        let parent: Hash256 = header.get(4..36)?.try_into().ok()?;
        let height = self.of(&parent)?.checked_add(1)?;
        self.set(id, height);
        Some(height)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(parent: Hash256) -> Vec<u8> {
        let mut h = vec![0u8; 80];
        h[4..36].copy_from_slice(&parent);
        h
    }

    #[test]
    fn headers_on_a_known_block_get_the_next_heights() {
        let mut heights = Heights::default();
        assert_eq!(
            heights.learn([2; 32], &header([1; 32])),
            None,
            "parent unknown"
        );
        heights.set([1; 32], 100);
        assert_eq!(heights.learn([2; 32], &header([1; 32])), Some(101));
        assert_eq!(heights.learn([3; 32], &header([2; 32])), Some(102));
        assert_eq!(heights.of(&[3; 32]), Some(102));
        assert_eq!(heights.learn([4; 32], &[0u8; 10]), None, "short header");
    }
}
