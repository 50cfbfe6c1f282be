//! Unsigned LEB128 numbers, written forwards or back to front so that packed
//! values can be walked from either end.

#![forbid(unsafe_code)]

/// How many bytes `write_varint` takes for `value`.
#[inline]
pub(super) fn varint_len(mut value: u64) -> usize {
    let mut len = 1;
    while value >= 0x80 {
        value >>= 7;
        len += 1;
    }
    len
}

/// Unsigned LEB128.
#[inline]
pub(super) fn write_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// Unsigned LEB128 over the first bytes of `out`, for numbers written in
/// place; returns how many bytes it took.
#[inline]
pub(super) fn put_varint(out: &mut [u8], mut value: u64) -> usize {
    let mut len = 0;
    while value >= 0x80 {
        out[len] = (value as u8 & 0x7f) | 0x80;
        value >>= 7;
        len += 1;
    }
    out[len] = value as u8;
    len + 1
}

/// Decodes LEB128 from a byte sequence: `(value, bytes used)`; `None` if it
/// is cut short or overflows 64 bits.
///
/// This and the two readers are always inlined, as they were when the map was
/// one file: every step over a field's values decodes, and a call per number
/// made walking a long field about a third slower.
#[inline(always)]
fn decode_leb128(bytes: impl Iterator<Item = u8>) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (index, byte) in bytes.take(10).enumerate() {
        let bits = u64::from(byte & 0x7f);
        let shift = 7 * index as u32;
        if shift == 63 && bits > 1 {
            return None;
        }
        value |= bits << shift;
        if byte & 0x80 == 0 {
            return Some((value, index + 1));
        }
    }
    None
}

/// Decodes a LEB128 number at the start of `bytes`.
#[inline(always)]
pub(super) fn read_varint(bytes: &[u8]) -> Option<(u64, usize)> {
    decode_leb128(bytes.iter().copied())
}

/// LEB128 stored back to front, so it can be read walking backwards.
#[inline]
pub(super) fn write_back_varint(out: &mut Vec<u8>, value: u64) {
    let start = out.len();
    write_varint(out, value);
    out[start..].reverse();
}

/// `write_back_varint` over the first bytes of `out`; returns how many bytes it took.
#[inline]
pub(super) fn put_back_varint(out: &mut [u8], value: u64) -> usize {
    let len = put_varint(out, value);
    out[..len].reverse();
    len
}

/// Decodes a back-to-front LEB128 number ending at `end`.
#[inline(always)]
pub(super) fn read_back_varint(bytes: &[u8], end: usize) -> Option<(u64, usize)> {
    decode_leb128(bytes[..end].iter().rev().copied())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_both_ways() {
        for value in [
            0,
            1,
            127,
            128,
            16_383,
            16_384,
            u64::from(u32::MAX),
            u64::MAX,
        ] {
            let mut forward = Vec::new();
            write_varint(&mut forward, value);
            assert_eq!(forward.len(), varint_len(value));
            assert_eq!(
                read_varint(&forward),
                Some((value, forward.len())),
                "{value}"
            );
            let mut backward = vec![0xff];
            write_back_varint(&mut backward, value);
            let end = backward.len();
            assert_eq!(
                read_back_varint(&backward, end),
                Some((value, end - 1)),
                "{value}"
            );
            // Written in place, they are the same bytes, and nothing past them is touched.
            let mut in_place = [0xee; 11];
            assert_eq!(put_varint(&mut in_place, value), forward.len());
            assert_eq!(in_place[..forward.len()], forward[..]);
            assert_eq!(in_place[forward.len()], 0xee);
            let mut back_in_place = [0xee; 11];
            assert_eq!(put_back_varint(&mut back_in_place, value), end - 1);
            assert_eq!(back_in_place[..end - 1], backward[1..]);
            assert_eq!(back_in_place[end - 1], 0xee);
        }
        assert_eq!(read_varint(&[0x80]), None);
        assert_eq!(read_varint(&[0xff; 10]), None);
    }

    #[test]
    fn decoding_refuses_numbers_past_64_bits() {
        let mut max = Vec::new();
        write_varint(&mut max, u64::MAX);
        assert_eq!(max.len(), 10);
        assert_eq!(read_varint(&max), Some((u64::MAX, 10)));
        // The tenth byte carries only the 64th bit.
        let mut overflow = max.clone();
        overflow[9] = 0x02;
        assert_eq!(read_varint(&overflow), None);
        // An eleventh byte is never read, however the tenth continues.
        let mut endless = max;
        endless[9] |= 0x80;
        endless.push(0x00);
        assert_eq!(read_varint(&endless), None);
    }

    #[test]
    fn back_varint_reads_only_what_ends_at_end() {
        let mut bytes = Vec::new();
        write_back_varint(&mut bytes, 300);
        let end = bytes.len();
        write_back_varint(&mut bytes, 5);
        assert_eq!(read_back_varint(&bytes, bytes.len()), Some((5, 1)));
        assert_eq!(read_back_varint(&bytes, end), Some((300, 2)));
        // Without its first byte, what is left of 300 is a number cut short.
        assert_eq!(read_back_varint(&bytes[1..], end - 1), None);
        assert_eq!(read_back_varint(&bytes, 0), None);
    }
}
