//! Bitcoin consensus-encoding primitives: little-endian integers, CompactSize
//! counts and length-prefixed byte strings.
//!
//! Decoding goes through [`Reader`], a bounds-checked cursor over a shared
//! [`Bytes`] payload, so opaque fields (block headers, reject data) can be
//! sliced out without copying. Every read either returns the value or a
//! [`PayloadError`]; none can panic.

use bytes::Bytes;

use super::error::PayloadError;
use super::MAX_COMPACT_SIZE;

/// Number of bytes the CompactSize encoding of `n` occupies.
pub const fn compact_size_len(n: u64) -> usize {
    match n {
        0..=0xFC => 1,
        0xFD..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

/// Appends the canonical (shortest) CompactSize encoding of `n`.
pub fn write_compact_size(out: &mut Vec<u8>, n: u64) {
    if let Ok(small) = u8::try_from(n) {
        if small <= 0xFC {
            out.push(small);
            return;
        }
    }
    if let Ok(v) = u16::try_from(n) {
        out.push(0xFD);
        out.extend_from_slice(&v.to_le_bytes());
    } else if let Ok(v) = u32::try_from(n) {
        out.push(0xFE);
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.push(0xFF);
        out.extend_from_slice(&n.to_le_bytes());
    }
}

/// Appends a CompactSize length followed by the bytes (a "var_str" when the
/// bytes are text).
pub fn write_var_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    write_compact_size(out, len_u64(bytes.len()));
    out.extend_from_slice(bytes);
}

/// Appends a CompactSize element count.
pub fn write_count(out: &mut Vec<u8>, count: usize) {
    write_compact_size(out, len_u64(count));
}

/// `usize` -> `u64` without a cast; lossless on every platform Rust supports.
fn len_u64(n: usize) -> u64 {
    u64::try_from(n).unwrap_or(u64::MAX)
}

/// Initial capacity for a list whose count came off the wire: never more than
/// the entries the remaining bytes could possibly hold, so a peer claiming
/// 50,000 entries while sending three makes us reserve room for three.
pub fn capacity_hint(count: usize, remaining_bytes: usize, min_entry_size: usize) -> usize {
    count.min(remaining_bytes / min_entry_size.max(1))
}

/// Bounds-checked decoding cursor over a message payload.
///
/// It carries the command name purely so errors can say which message was
/// malformed.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    command: &'static str,
}

impl<'a> Reader<'a> {
    /// Starts reading `data` from its first byte; `command` labels errors.
    pub fn new(data: &'a Bytes, command: &'static str) -> Self {
        Reader {
            data,
            pos: 0,
            command,
        }
    }

    /// The command name used in errors.
    pub fn command(&self) -> &'static str {
        self.command
    }

    /// Bytes not yet consumed.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// True once every byte has been consumed.
    pub fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// The error for running out of input.
    pub fn truncated(&self) -> PayloadError {
        PayloadError::Truncated {
            command: self.command,
        }
    }

    /// Consumes `n` bytes, returning them as a borrowed slice.
    fn take(&mut self, n: usize) -> Result<&'a [u8], PayloadError> {
        let data: &'a [u8] = self.data;
        let end = self.pos.checked_add(n).ok_or_else(|| self.truncated())?;
        let slice = data.get(self.pos..end).ok_or_else(|| self.truncated())?;
        self.pos = end;
        Ok(slice)
    }

    /// Reads a fixed-size byte array (hashes, IP addresses, raw fields).
    pub fn read_array<const N: usize>(&mut self) -> Result<[u8; N], PayloadError> {
        let slice = self.take(N)?;
        <[u8; N]>::try_from(slice).map_err(|_| self.truncated())
    }

    /// Reads one byte.
    pub fn read_u8(&mut self) -> Result<u8, PayloadError> {
        let [b] = self.read_array::<1>()?;
        Ok(b)
    }

    /// Reads a big-endian `u16` (only network-address ports use this order).
    pub fn read_u16_be(&mut self) -> Result<u16, PayloadError> {
        self.read_array().map(u16::from_be_bytes)
    }

    /// Reads a little-endian `u16`.
    pub fn read_u16_le(&mut self) -> Result<u16, PayloadError> {
        self.read_array().map(u16::from_le_bytes)
    }

    /// Reads a little-endian `u32`.
    pub fn read_u32_le(&mut self) -> Result<u32, PayloadError> {
        self.read_array().map(u32::from_le_bytes)
    }

    /// Reads a little-endian `i32`.
    pub fn read_i32_le(&mut self) -> Result<i32, PayloadError> {
        self.read_array().map(i32::from_le_bytes)
    }

    /// Reads a little-endian `u64`.
    pub fn read_u64_le(&mut self) -> Result<u64, PayloadError> {
        self.read_array().map(u64::from_le_bytes)
    }

    /// Reads a little-endian `i64`.
    pub fn read_i64_le(&mut self) -> Result<i64, PayloadError> {
        self.read_array().map(i64::from_le_bytes)
    }

    /// Reads `n` bytes as a zero-copy slice of the payload.
    pub fn read_bytes(&mut self, n: usize) -> Result<Bytes, PayloadError> {
        let start = self.pos;
        self.take(n)?;
        // `take` just proved `start..self.pos` lies inside `data`.
        Ok(self.data.slice(start..self.pos))
    }

    /// Consumes and returns everything left (zero-copy).
    pub fn read_rest(&mut self) -> Bytes {
        let start = self.pos.min(self.data.len());
        self.pos = self.data.len();
        self.data.slice(start..)
    }

    /// Reads a CompactSize with Bitcoin Core's rules: the encoding must be the
    /// shortest possible (otherwise one value would have several encodings),
    /// and the value must not exceed [`MAX_COMPACT_SIZE`].
    pub fn read_compact_size(&mut self) -> Result<u64, PayloadError> {
        let value = match self.read_u8()? {
            tag @ 0..=0xFC => u64::from(tag),
            0xFD => {
                let v = u64::from(self.read_u16_le()?);
                if v < 0xFD {
                    return Err(PayloadError::NonCanonicalCompactSize);
                }
                v
            }
            0xFE => {
                let v = u64::from(self.read_u32_le()?);
                if v < 0x1_0000 {
                    return Err(PayloadError::NonCanonicalCompactSize);
                }
                v
            }
            0xFF => {
                let v = self.read_u64_le()?;
                if v < 0x1_0000_0000 {
                    return Err(PayloadError::NonCanonicalCompactSize);
                }
                v
            }
        };
        if value > MAX_COMPACT_SIZE {
            return Err(PayloadError::CompactSizeTooLarge { value });
        }
        Ok(value)
    }

    /// Reads a CompactSize length and returns it as `usize`.
    pub fn read_length(&mut self) -> Result<usize, PayloadError> {
        let value = self.read_compact_size()?;
        // Cannot fail on 32/64-bit targets after the MAX_COMPACT_SIZE check.
        usize::try_from(value).map_err(|_| PayloadError::CompactSizeTooLarge { value })
    }

    /// Reads a CompactSize length and then that many bytes (zero-copy). The
    /// length is checked against the bytes present before anything is used.
    pub fn read_var_bytes(&mut self) -> Result<Bytes, PayloadError> {
        let len = self.read_length()?;
        self.read_bytes(len)
    }

    /// Reads a var_str that must be text. Invalid UTF-8 is an error rather
    /// than being replaced lossily: a string we cannot reproduce exactly would
    /// silently change the message if it were relayed or logged as evidence.
    pub fn read_var_string(&mut self) -> Result<String, PayloadError> {
        let len = self.read_length()?;
        self.read_string(len)
    }

    /// Reads `len` bytes that must be UTF-8 text.
    pub fn read_string(&mut self, len: usize) -> Result<String, PayloadError> {
        let raw = self.take(len)?;
        std::str::from_utf8(raw)
            .map(str::to_owned)
            .map_err(|_| PayloadError::InvalidUtf8 {
                command: self.command,
            })
    }

    /// Reads a CompactSize element count followed by that many entries.
    ///
    /// Counts above `max` are rejected before any entry is read, and the
    /// vector's initial capacity is bounded by what the remaining bytes could
    /// hold ([`capacity_hint`]), so the claimed count never sizes an
    /// allocation on its own.
    pub fn read_list<T>(
        &mut self,
        max: usize,
        min_entry_size: usize,
        mut read_entry: impl FnMut(&mut Self) -> Result<T, PayloadError>,
    ) -> Result<Vec<T>, PayloadError> {
        let claimed = self.read_compact_size()?;
        let count = usize::try_from(claimed)
            .ok()
            .filter(|&count| count <= max)
            .ok_or(PayloadError::TooManyEntries {
                command: self.command,
                count: claimed,
                max,
            })?;
        let mut entries =
            Vec::with_capacity(capacity_hint(count, self.remaining(), min_entry_size));
        for _ in 0..count {
            entries.push(read_entry(self)?);
        }
        Ok(entries)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_cs(bytes: &[u8]) -> Result<u64, PayloadError> {
        let data = Bytes::copy_from_slice(bytes);
        Reader::new(&data, "test").read_compact_size()
    }

    fn encode_cs(n: u64) -> Vec<u8> {
        let mut out = Vec::new();
        write_compact_size(&mut out, n);
        out
    }

    #[test]
    fn compact_size_boundaries_round_trip() {
        for (n, len) in [
            (0, 1),
            (0xFC, 1),
            (0xFD, 3),
            (0xFFFF, 3),
            (0x1_0000, 5),
            (MAX_COMPACT_SIZE, 5),
        ] {
            let enc = encode_cs(n);
            assert_eq!(enc.len(), len, "length of {n:#x}");
            assert_eq!(compact_size_len(n), len);
            assert_eq!(decode_cs(&enc), Ok(n));
        }
        assert_eq!(encode_cs(0xFD), [0xFD, 0xFD, 0x00]);
        assert_eq!(encode_cs(0x1_0000), [0xFE, 0x00, 0x00, 0x01, 0x00]);
        assert_eq!(encode_cs(0x1_0000_0000).len(), 9);
        assert_eq!(compact_size_len(u64::MAX), 9);
    }

    #[test]
    fn compact_size_rejects_non_canonical_encodings() {
        let non_canonical: [&[u8]; 6] = [
            &[0xFD, 0x00, 0x00],
            &[0xFD, 0xFC, 0x00],
            &[0xFE, 0xFF, 0xFF, 0x00, 0x00],
            &[0xFE, 0x00, 0x00, 0x00, 0x00],
            &[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00],
            &[0xFF, 0x01, 0, 0, 0, 0, 0, 0, 0],
        ];
        for bytes in non_canonical {
            assert_eq!(
                decode_cs(bytes),
                Err(PayloadError::NonCanonicalCompactSize),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn compact_size_rejects_values_over_max_size() {
        assert_eq!(
            decode_cs(&[0xFE, 0x01, 0x00, 0x00, 0x02]),
            Err(PayloadError::CompactSizeTooLarge { value: 0x0200_0001 })
        );
        assert_eq!(
            decode_cs(&[0xFF, 0, 0, 0, 0, 1, 0, 0, 0]),
            Err(PayloadError::CompactSizeTooLarge {
                value: 0x1_0000_0000
            })
        );
        assert_eq!(
            decode_cs(&[0xFF; 9]),
            Err(PayloadError::CompactSizeTooLarge { value: u64::MAX })
        );
    }

    #[test]
    fn compact_size_truncated() {
        for bytes in [
            &[][..],
            &[0xFD, 0x00],
            &[0xFE, 1, 2, 3],
            &[0xFF, 1, 2, 3, 4, 5, 6, 7],
        ] {
            assert_eq!(
                decode_cs(bytes),
                Err(PayloadError::Truncated { command: "test" })
            );
        }
    }

    #[test]
    fn reader_is_bounds_checked_and_zero_copy() {
        let data = Bytes::from_static(&[1, 2, 3, 4, 5]);
        let mut r = Reader::new(&data, "test");
        assert_eq!(r.read_u16_be(), Ok(0x0102));
        let slice = r.read_bytes(2).unwrap();
        assert_eq!(slice.as_ref(), &[3, 4]);
        assert_eq!(slice.as_ptr(), data.as_ptr().wrapping_add(2));
        assert_eq!(
            r.read_u32_le(),
            Err(PayloadError::Truncated { command: "test" })
        );
        assert_eq!(
            r.read_bytes(usize::MAX),
            Err(PayloadError::Truncated { command: "test" })
        );
        assert_eq!(r.read_rest().as_ref(), &[5]);
        assert!(r.is_empty());
        assert_eq!(r.read_rest().len(), 0);
    }

    #[test]
    fn var_string_requires_utf8_and_present_bytes() {
        let data = Bytes::from_static(&[2, 0xC3, 0x28]);
        assert_eq!(
            Reader::new(&data, "test").read_var_string(),
            Err(PayloadError::InvalidUtf8 { command: "test" })
        );
        let data = Bytes::from_static(&[5, b'a', b'b']);
        assert_eq!(
            Reader::new(&data, "test").read_var_string(),
            Err(PayloadError::Truncated { command: "test" })
        );
        let data = Bytes::from_static(&[2, b'o', b'k', 9]);
        let mut r = Reader::new(&data, "test");
        assert_eq!(r.read_var_string().as_deref(), Ok("ok"));
        assert_eq!(r.remaining(), 1);
    }

    #[test]
    fn capacity_hint_is_bounded_by_remaining_bytes() {
        assert_eq!(capacity_hint(50_000, 3 * 36, 36), 3);
        assert_eq!(capacity_hint(2, 1_000, 36), 2);
        assert_eq!(capacity_hint(10, 1_000, 0), 10);
        assert_eq!(capacity_hint(usize::MAX, 0, 1), 0);
    }

    #[test]
    fn read_list_checks_the_limit_before_reading() {
        let data = Bytes::from_static(&[3, 7, 8]);
        let mut r = Reader::new(&data, "test");
        assert_eq!(
            r.read_list(2, 1, Reader::read_u8),
            Err(PayloadError::TooManyEntries {
                command: "test",
                count: 3,
                max: 2
            })
        );
        let mut r = Reader::new(&data, "test");
        assert_eq!(
            r.read_list(3, 1, Reader::read_u8),
            Err(PayloadError::Truncated { command: "test" })
        );
        let data = Bytes::from_static(&[2, 7, 8]);
        let mut r = Reader::new(&data, "test");
        assert_eq!(r.read_list(2, 1, Reader::read_u8), Ok(vec![7, 8]));
    }
}
