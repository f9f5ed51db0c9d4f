//! Receive buffers for large messages, reused once the message they held is released.
//!
//! A large block is read into a buffer of its full size, and the block the node gets
//! (and the relay cache keeps) is that buffer itself. A fresh buffer costs a page fault
//! per 4 KiB as the bytes land in it, about as much CPU as hashing them; a buffer whose
//! earlier message everyone has dropped has its pages mapped already. The pool keeps
//! such buffers, up to a byte cap, and hands out one that is free again and big enough.

use bytes::BytesMut;
use parking_lot::Mutex;

/// A pooled buffer and the size of its allocation.
struct Held {
    size: usize,
    buffer: BytesMut,
}

pub(crate) struct ReceivePool {
    /// Ascending by size, so the first that fits is the smallest.
    held: Mutex<Vec<Held>>,
    /// Bytes of allocations the pool keeps at most.
    cap: usize,
}

impl ReceivePool {
    pub fn new(cap: usize) -> ReceivePool {
        ReceivePool {
            held: Mutex::new(Vec::new()),
            cap,
        }
    }

    /// An empty buffer with room for `len` bytes, and the size of its allocation (to
    /// give back with it): the smallest pooled one whose earlier message has been
    /// released everywhere, or a new one.
    pub fn take(&self, len: usize) -> (BytesMut, usize) {
        let mut held = self.held.lock();
        let reusable = held
            .iter_mut()
            .position(|h| h.size >= len && h.buffer.try_reclaim(len));
        match reusable {
            Some(i) => {
                let Held { size, mut buffer } = held.remove(i);
                buffer.clear();
                (buffer, size)
            }
            None => (BytesMut::with_capacity(len), len),
        }
    }

    /// Takes back a buffer from [`take`](Self::take) once the message read into it has
    /// been split off; returns the bytes read past that message, in a buffer of their
    /// own. The buffer is kept if the cap allows, even while the message still shares
    /// it: it becomes reusable when the message is dropped.
    pub fn give_back(&self, mut buffer: BytesMut, allocated: usize) -> BytesMut {
        let rest = BytesMut::from(&buffer[..]);
        buffer.clear();
        let mut held = self.held.lock();
        let kept: usize = held.iter().map(|h| h.size).sum();
        if kept + allocated <= self.cap {
            let at = held.partition_point(|h| h.size < allocated);
            held.insert(
                at,
                Held {
                    size: allocated,
                    buffer,
                },
            );
        }
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_reused_once_its_message_is_dropped() {
        let pool = ReceivePool::new(1 << 20);
        let (mut buffer, allocated) = pool.take(1004);
        let first = buffer.as_ptr();
        buffer.extend_from_slice(&[7u8; 1000]);
        buffer.extend_from_slice(b"next");
        assert_eq!(
            buffer.as_ptr(),
            first,
            "no reallocation within the size asked for"
        );
        let message = buffer.split_to(1000).freeze();
        let rest = pool.give_back(buffer, allocated);
        assert_eq!(&rest[..], b"next", "bytes past the message are handed back");

        let (while_shared, _) = pool.take(1000);
        assert_ne!(
            while_shared.as_ptr(),
            first,
            "still shared with the message"
        );
        drop(message);
        let (reused, size) = pool.take(1000);
        assert_eq!(reused.as_ptr(), first, "free again, pages mapped");
        assert!(reused.is_empty() && reused.capacity() >= 1000);
        assert_eq!(size, allocated);
    }

    #[test]
    fn the_pool_keeps_no_more_than_its_cap_and_picks_the_smallest_fit() {
        let pool = ReceivePool::new(3000);
        let taken: Vec<_> = [2000, 1000, 1500].map(|size| pool.take(size)).into();
        for (buffer, allocated) in taken {
            pool.give_back(buffer, allocated);
        }
        // 2000 + 1000 fit; 1500 more would not.
        let (_, small) = pool.take(900);
        assert_eq!(small, 1000);
        let (_, large) = pool.take(1200);
        assert_eq!(large, 2000);
        let (new, size) = pool.take(1200);
        assert_eq!(pool.held.lock().len(), 0);
        assert!(new.capacity() >= 1200 && size == 1200);
    }
}
