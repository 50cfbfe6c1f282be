//! The packed value encoding a field's values are stored in, the way Redis's
//! listpack packs a small list: per value, its length (LEB128), its bytes, and
//! the size of those two written back to front so the values can be walked
//! from either end. A 16-byte value costs 18 bytes.
//!
//! Readers trust the encoding; `count_packed_values` is the one check that
//! untrusted bytes (an RDB payload) pass before anything reads them.

#![forbid(unsafe_code)]

use std::ops::Range;

use super::leb128::{
    put_back_varint, put_varint, read_back_varint, read_varint, varint_len, write_back_varint,
    write_varint,
};

/// Appends one value in the packed encoding: length, bytes, then the size of
/// those two as a back-to-front number, which is what lets readers step
/// backwards from the end of a field.
#[inline]
pub(super) fn encode_value(out: &mut Vec<u8>, value: &[u8]) {
    let start = out.len();
    write_varint(out, value.len() as u64);
    out.extend_from_slice(value);
    write_back_varint(out, (out.len() - start) as u64);
}

/// Writes `value` as `encode_value` appends it, over the first bytes of
/// `out`, for values written in place; returns how many bytes it took.
#[inline]
pub(super) fn put_value(out: &mut [u8], value: &[u8]) -> usize {
    let header = put_varint(out, value.len() as u64);
    let body = header + value.len();
    out[header..body].copy_from_slice(value);
    body + put_back_varint(&mut out[body..], body as u64)
}

/// How many bytes `encode_value` appends for `value`.
#[inline]
pub(super) fn encoded_value_len(value: &[u8]) -> usize {
    let body = varint_len(value.len() as u64) + value.len();
    body + varint_len(body as u64)
}

/// The value starting at `offset` of packed values, and the offset after it.
/// Only called on validated encodings, so it cannot run off the end.
#[inline(always)]
pub(super) fn value_at(bytes: &[u8], offset: usize) -> (&[u8], usize) {
    // A value under 127 bytes (most of them) has a one-byte length and a
    // one-byte back-length: no decoding needed, and read in line wherever
    // values are read. Longer ones are decoded out of line, which costs
    // little beside copying them.
    let first = bytes[offset];
    if first < 0x7f {
        let start = offset + 1;
        let end = start + usize::from(first);
        return (&bytes[start..end], end + 1);
    }
    long_value_at(bytes, offset)
}

#[inline(never)]
fn long_value_at(bytes: &[u8], offset: usize) -> (&[u8], usize) {
    let (len, header) = read_varint(&bytes[offset..]).expect("validated encoding");
    let start = offset + header;
    let end = start + len as usize;
    (
        &bytes[start..end],
        end + varint_len((header + len as usize) as u64),
    )
}

/// Where the bytes of the value at `offset` are if it has `len` of them, and
/// the offset after it; `None` for a value of another length. A value of the
/// same length has the same header, so a new one can be written over these
/// bytes alone.
#[inline(always)]
pub(super) fn value_of_len_at(
    bytes: &[u8],
    offset: usize,
    len: usize,
) -> Option<(Range<usize>, usize)> {
    // Under 127 bytes, the first byte is the whole length.
    if len < 0x7f {
        let start = offset + 1;
        return (usize::from(bytes[offset]) == len)
            .then_some((start..start + len, start + len + 1));
    }
    let (old, next) = value_at(bytes, offset);
    (old.len() == len).then(|| {
        let start = offset + varint_len(len as u64);
        (start..start + len, next)
    })
}

/// The offset where the value ending at `end` starts.
#[inline]
pub(super) fn value_start_before(bytes: &[u8], end: usize) -> usize {
    // A back-length under 128 is one byte, its own value.
    let last = bytes[end - 1];
    if last < 0x80 {
        return end - 1 - usize::from(last);
    }
    let (body, trailer) = read_back_varint(bytes, end).expect("validated encoding");
    end - trailer - body as usize
}

/// The encoding is invalid: a RDB payload that does not hold what it claims.
#[derive(Debug, PartialEq, Eq)]
pub struct InvalidEncoding;

/// Counts the values of untrusted packed bytes, checking every length and
/// back-length, so that nothing built from them can ever read out of bounds.
pub fn count_packed_values(bytes: &[u8]) -> Result<usize, InvalidEncoding> {
    let mut offset = 0;
    let mut count = 0;
    while offset < bytes.len() {
        // Values under 127 bytes (most of them) have one-byte length and
        // back-length: check those without the general decoding.
        let first = bytes[offset];
        if first < 0x7f {
            let back = offset + 1 + usize::from(first);
            if bytes.get(back) != Some(&(first + 1)) {
                return Err(InvalidEncoding);
            }
            offset = back + 1;
            count += 1;
            continue;
        }
        let (len, header) = read_varint(&bytes[offset..]).ok_or(InvalidEncoding)?;
        let body = usize::try_from(len)
            .ok()
            .and_then(|len| len.checked_add(header))
            .ok_or(InvalidEncoding)?;
        let trailer = varint_len(body as u64);
        let next = offset
            .checked_add(body)
            .and_then(|end| end.checked_add(trailer))
            .filter(|&next| next <= bytes.len())
            .ok_or(InvalidEncoding)?;
        if read_back_varint(bytes, next) != Some((body as u64, trailer)) {
            return Err(InvalidEncoding);
        }
        offset = next;
        count += 1;
    }
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multimap::test_support::pack;

    /// Lengths either side of where the length and the back-length take a second byte.
    fn sized_values() -> Vec<Vec<u8>> {
        [
            0, 1, 125, 126, 127, 128, 16_380, 16_381, 16_382, 16_383, 16_384,
        ]
        .into_iter()
        .map(|len| vec![b'v'; len])
        .collect()
    }

    #[test]
    fn value_of_len_at_finds_the_bytes_of_a_value_of_that_length_only() {
        for value in sized_values() {
            let mut bytes = vec![0xee];
            encode_value(&mut bytes, &value);
            let len = value.len();
            let (range, next) = value_of_len_at(&bytes, 1, len).expect("its own length");
            assert_eq!((&bytes[range], next), value_at(&bytes, 1), "{len}");
            for other in [Some(len + 1), len.checked_sub(1)].into_iter().flatten() {
                assert_eq!(value_of_len_at(&bytes, 1, other), None, "{len} as {other}");
            }
        }
    }

    #[test]
    fn encoded_value_len_is_what_encode_value_appends_and_put_value_writes() {
        for value in sized_values() {
            let mut bytes = vec![0xff];
            encode_value(&mut bytes, &value);
            assert_eq!(
                bytes.len() - 1,
                encoded_value_len(&value),
                "{}",
                value.len()
            );
            let mut in_place = vec![0xee; bytes.len()];
            assert_eq!(put_value(&mut in_place, &value), bytes.len() - 1);
            assert_eq!(in_place[..bytes.len() - 1], bytes[1..], "{}", value.len());
            assert_eq!(in_place[bytes.len() - 1], 0xee);
        }
        assert_eq!(encoded_value_len(&[0u8; 16]), 18);
    }

    #[test]
    fn values_walk_the_same_forwards_and_backwards() {
        let values = sized_values();
        let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        let bytes = pack(slices.iter().copied());
        let mut forwards = Vec::new();
        let mut offset = 0;
        while offset < bytes.len() {
            let (value, next) = value_at(&bytes, offset);
            forwards.push(value);
            offset = next;
        }
        assert_eq!(forwards, slices);
        let mut backwards = Vec::new();
        let mut end = bytes.len();
        while end > 0 {
            let start = value_start_before(&bytes, end);
            backwards.push(value_at(&bytes, start));
            end = start;
        }
        let expected_ends = slices.iter().scan(0, |end, value| {
            *end += encoded_value_len(value);
            Some(*end)
        });
        let mut expected: Vec<(&[u8], usize)> = slices.iter().copied().zip(expected_ends).collect();
        expected.reverse();
        assert_eq!(backwards, expected);
    }

    #[test]
    fn count_accepts_every_well_formed_encoding() {
        assert_eq!(count_packed_values(&[]), Ok(0));
        let values = sized_values();
        for value in &values {
            assert_eq!(
                count_packed_values(&pack([value.as_slice()])),
                Ok(1),
                "{}",
                value.len()
            );
        }
        let slices: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
        assert_eq!(count_packed_values(&pack(slices)), Ok(values.len()));
    }

    #[test]
    fn count_refuses_values_cut_short_or_trailing_bytes() {
        let bytes = pack([&b"hello"[..], &[b'x'; 200], b""]);
        let boundaries = [0, 7, 7 + 204, bytes.len()];
        for len in 0..bytes.len() {
            let counted = count_packed_values(&bytes[..len]);
            match boundaries.iter().position(|&boundary| boundary == len) {
                Some(values) => assert_eq!(counted, Ok(values), "cut at {len}"),
                None => assert_eq!(counted, Err(InvalidEncoding), "cut at {len}"),
            }
        }
        assert_eq!(
            count_packed_values(&[&bytes[..], &[0]].concat()),
            Err(InvalidEncoding)
        );
    }

    #[test]
    fn count_refuses_a_back_length_that_disagrees() {
        for value in sized_values() {
            let mut bytes = pack([value.as_slice()]);
            let last = bytes.len() - 1;
            bytes[last] ^= 0x01;
            assert_eq!(
                count_packed_values(&bytes),
                Err(InvalidEncoding),
                "{}",
                value.len()
            );
        }
        // Lengths past the end of memory overflow rather than wrap.
        let mut huge = Vec::new();
        write_varint(&mut huge, u64::MAX);
        assert_eq!(count_packed_values(&huge), Err(InvalidEncoding));
    }
}
