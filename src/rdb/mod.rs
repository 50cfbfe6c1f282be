//! The MultiMap's RDB format: what `rdb_save` writes and `rdb_load` accepts,
//! over any stream of unsigned numbers and byte buffers (Redis's RDB, or bytes
//! in memory for tests and fuzzing: `byte_stream`). Loading is hostile input.
//!
//! # Encoding version 2
//!
//! Version 1, then the fields' expiry times:
//!
//! ```text
//! unsigned   E, how many fields have an expiry (0 <= E <= F)
//! E times, positions increasing:
//!   unsigned the field's position among the F above (0-based)
//!   unsigned its expiry, in Unix milliseconds (>= 1)
//! ```
//!
//! # Encoding version 1
//!
//! ```text
//! unsigned   field count (F >= 1)
//! F times:
//!   unsigned value count (V >= 1)
//!   buffer   the field's record: its name's length (LEB128), the name, then
//!            V values, each as its length (LEB128), its bytes, and the size
//!            of those two as a LEB128 number written back to front
//! ```
//!
//! The record is exactly how a field sits in memory (see `multimap`), so saving
//! a field is one write of its one allocation, and loading checks the buffer
//! Redis read and adopts it as the field's storage, copying nothing.
//!
//! # Encoding version 0 (the original redis-multi-map module)
//!
//! ```text
//! unsigned   field count
//! per field: buffer field + NUL, unsigned value count, value count x (buffer value + NUL)
//! ```
#![forbid(unsafe_code)]

use std::ffi::CStr;

use crate::multimap::MultiMap;

#[cfg(any(test, feature = "fuzzing"))]
pub mod byte_stream;

/// The version `save` writes; `load` also reads every older one.
pub const ENCODING_VERSION: i32 = 2;

/// The stream is truncated or unreadable; the loader must give up.
#[derive(Debug, PartialEq, Eq)]
pub struct ReadError;

/// Where `load` reads from.
pub trait RdbInput {
    type Buffer: AsRef<[u8]> + Into<Vec<u8>>;
    fn load_unsigned(&mut self) -> Result<u64, ReadError>;
    fn load_buffer(&mut self) -> Result<Self::Buffer, ReadError>;
    /// Tells the operator why a value was refused.
    fn log_rejection(&mut self, reason: &'static CStr);
}

/// Where `save` writes to.
pub trait RdbOutput {
    fn save_unsigned(&mut self, value: u64);
    fn save_buffer(&mut self, bytes: &[u8]);
}

/// Why a stored value was refused.
enum Rejection {
    Read,
    Corrupt(&'static CStr),
}

impl From<ReadError> for Rejection {
    fn from(_: ReadError) -> Self {
        Rejection::Read
    }
}

pub fn save(map: &MultiMap, out: &mut impl RdbOutput) {
    out.save_unsigned(map.field_count() as u64);
    for (record, value_count) in map.records() {
        out.save_unsigned(value_count as u64);
        out.save_buffer(record);
    }
    out.save_unsigned(map.expiring_field_count() as u64);
    let times = map.expiry_times().unwrap_or_default();
    for (position, &time) in times.iter().enumerate() {
        if time != 0 {
            out.save_unsigned(position as u64);
            out.save_unsigned(time);
        }
    }
}

/// Rebuilds a MultiMap, or returns `None` (after logging why) for a truncated or
/// inconsistent payload. Nothing is trusted: every count is checked against
/// what is actually read, so a forged count cannot make us allocate or loop.
pub fn load(input: &mut impl RdbInput, encoding_version: i32) -> Option<MultiMap> {
    let loaded = match encoding_version {
        2 => load_v2(input),
        1 => load_v1(input),
        0 => load_v0(input),
        _ => Err(Rejection::Corrupt(c"unknown encoding version")),
    };
    match loaded {
        Ok(map) => Some(map),
        Err(Rejection::Read) => None,
        Err(Rejection::Corrupt(reason)) => {
            input.log_rejection(reason);
            None
        }
    }
}

fn load_v2(input: &mut impl RdbInput) -> Result<MultiMap, Rejection> {
    let mut map = load_v1(input)?;
    let expiring = input.load_unsigned()?;
    if expiring > map.field_count() as u64 {
        return Err(Rejection::Corrupt(c"more field expiries than fields"));
    }
    let mut next_position = 0;
    for _ in 0..expiring {
        let position = input.load_unsigned()?;
        let time = input.load_unsigned()?;
        if position < next_position {
            return Err(Rejection::Corrupt(c"field expiries out of order"));
        }
        map.load_expiry(position, time)
            .map_err(|_| Rejection::Corrupt(c"a malformed field expiry"))?;
        next_position = position + 1;
    }
    Ok(map)
}

fn load_v1(input: &mut impl RdbInput) -> Result<MultiMap, Rejection> {
    let field_count = input.load_unsigned()?;
    if field_count == 0 {
        return Err(Rejection::Corrupt(c"a key without fields"));
    }
    let mut map = MultiMap::new();
    // Every iteration reads from the stream, so a forged count ends at the
    // stream's end with a read error rather than spinning.
    for _ in 0..field_count {
        let value_count = input.load_unsigned()?;
        let record = input.load_buffer()?.into();
        map.insert_record(record, value_count)
            .map_err(|_| Rejection::Corrupt(c"a malformed or repeated field"))?;
    }
    Ok(map)
}

fn load_v0(input: &mut impl RdbInput) -> Result<MultiMap, Rejection> {
    let field_count = input.load_unsigned()?;
    let mut map = MultiMap::new();
    for _ in 0..field_count {
        let field = input.load_buffer()?;
        let field = strip_trailing_nul(field.as_ref());
        if map.get(field).is_some() {
            return Err(Rejection::Corrupt(c"a field stored twice"));
        }
        let value_count = input.load_unsigned()?;
        for _ in 0..value_count {
            let value = input.load_buffer()?;
            map.insert(field, [strip_trailing_nul(value.as_ref())]);
        }
    }
    if map.is_empty() {
        return Err(Rejection::Corrupt(c"a key without values"));
    }
    Ok(map)
}

/// The original module stored C strings with their terminator.
fn strip_trailing_nul(bytes: &[u8]) -> &[u8] {
    bytes.strip_suffix(b"\0").unwrap_or(bytes)
}

#[cfg(test)]
mod tests {
    use super::byte_stream::{sorted_content, ByteStream};
    use super::*;

    fn sample() -> MultiMap {
        let mut map = MultiMap::new();
        map.insert(b"colors", [&b"red"[..], b"", b"\0\xff", b"red"]);
        map.insert(b"", [&[9u8; 70_000][..]]);
        for i in 0..50u32 {
            map.insert(&i.to_le_bytes(), [&i.to_be_bytes()[..]]);
        }
        map
    }

    fn saved(map: &MultiMap) -> Vec<u8> {
        let mut bytes = Vec::new();
        save(map, &mut bytes);
        bytes
    }

    /// A version 0 payload as the original module wrote it.
    fn v0(fields: &[(&[u8], &[&[u8]])]) -> Vec<u8> {
        let mut bytes = Vec::new();
        bytes.save_unsigned(fields.len() as u64);
        for (field, values) in fields {
            bytes.save_buffer(&[*field, b"\0"].concat());
            bytes.save_unsigned(values.len() as u64);
            for value in *values {
                bytes.save_buffer(&[*value, b"\0"].concat());
            }
        }
        bytes
    }

    #[test]
    fn save_then_load_gives_back_the_same_map() {
        let map = sample();
        let bytes = saved(&map);
        let mut input = ByteStream::new(&bytes);
        let loaded = load(&mut input, ENCODING_VERSION).expect("a valid payload");
        assert_eq!(sorted_content(&loaded), sorted_content(&map));
        assert_eq!(loaded.value_count(), map.value_count());
        assert_eq!(loaded.stored_bytes(), map.stored_bytes());
        assert!(input.bytes.is_empty() && input.rejections.is_empty());
    }

    fn with_expiries(mut map: MultiMap) -> MultiMap {
        for (i, field) in [&b"colors"[..], b"", &7u32.to_le_bytes()]
            .into_iter()
            .enumerate()
        {
            assert!(map.set_expiry(field, 1_000 + i as u64));
        }
        map
    }

    fn expiries(map: &MultiMap) -> Vec<(Vec<u8>, u64)> {
        let times = map.expiry_times().unwrap_or_default();
        let mut found: Vec<(Vec<u8>, u64)> = map
            .iter()
            .zip(times)
            .filter(|(_, &time)| time != 0)
            .map(|((field, _), &time)| (field.to_vec(), time))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn expiries_survive_save_and_load() {
        let map = with_expiries(sample());
        let loaded = load(&mut ByteStream::new(&saved(&map)), ENCODING_VERSION).unwrap();
        assert_eq!(sorted_content(&loaded), sorted_content(&map));
        assert_eq!(expiries(&loaded), expiries(&map));
        assert_eq!(expiries(&loaded).len(), 3);
    }

    #[test]
    fn version_1_payloads_still_load() {
        let map = sample();
        let mut bytes = saved(&map);
        // Version 1 is version 2 without the expiry section (here: "none",
        // a zero the byte stream writes in 8 bytes).
        let section = bytes.split_off(bytes.len() - 8);
        assert_eq!(section, [0; 8]);
        let loaded = load(&mut ByteStream::new(&bytes), 1).expect("a version 1 payload");
        assert_eq!(sorted_content(&loaded), sorted_content(&map));
        assert!(loaded.expiry_times().is_none());
    }

    #[test]
    fn forged_expiry_sections_are_rejected() {
        let body = {
            let mut bytes = saved(&sample());
            bytes.truncate(bytes.len() - 8);
            bytes
        };
        let fields = sample().field_count() as u64;
        let section = |pairs: &[(u64, u64)], count: u64| {
            let mut bytes = body.clone();
            bytes.save_unsigned(count);
            for &(position, time) in pairs {
                bytes.save_unsigned(position);
                bytes.save_unsigned(time);
            }
            bytes
        };
        let cases: [(Vec<u8>, &CStr); 6] = [
            (section(&[], fields + 1), c"more field expiries than fields"),
            (section(&[(fields, 5)], 1), c"a malformed field expiry"),
            (section(&[(0, 0)], 1), c"a malformed field expiry"),
            (section(&[(0, 1 << 46)], 1), c"a malformed field expiry"),
            (
                section(&[(3, 5), (3, 6)], 2),
                c"field expiries out of order",
            ),
            (
                section(&[(4, 5), (2, 6)], 2),
                c"field expiries out of order",
            ),
        ];
        for (bytes, reason) in cases {
            let mut input = ByteStream::new(&bytes);
            assert!(load(&mut input, 2).is_none(), "{reason:?}");
            assert_eq!(input.rejections, [reason]);
        }
        let good = section(&[(0, 5), (fields - 1, (1 << 46) - 1)], 2);
        let loaded = load(&mut ByteStream::new(&good), 2).expect("a valid section");
        assert_eq!(loaded.expiring_field_count(), 2);
    }

    #[test]
    fn version_0_loads_with_one_trailing_nul_stripped() {
        let bytes = v0(&[(b"f", &[b"x", b"x\0", b""]), (b"g", &[b"y"])]);
        let loaded = load(&mut ByteStream::new(&bytes), 0).expect("a valid v0 payload");
        let f: Vec<&[u8]> = loaded.get(b"f").unwrap().iter().collect();
        assert_eq!(f, [&b"x"[..], b"x\0", b""]);
        assert_eq!(loaded.get(b"g").unwrap().len(), 1);
    }

    #[test]
    fn every_truncation_is_rejected() {
        for (bytes, version) in [
            (saved(&with_expiries(sample())), ENCODING_VERSION),
            (saved(&sample()), ENCODING_VERSION),
            (v0(&[(b"f", &[b"x", b"y"])]), 0),
        ] {
            for len in 0..bytes.len() {
                let mut input = ByteStream::new(&bytes[..len]);
                assert!(load(&mut input, version).is_none(), "cut at {len}");
            }
        }
    }

    #[test]
    fn forged_counts_are_rejected_without_allocating_or_looping() {
        let map = sample();
        let good = saved(&map);
        for forged in [0, 3, u64::from(u32::MAX), 1 << 60, u64::MAX] {
            // The field count, then the first field's value count.
            for offset in [0, 8] {
                let mut bytes = good.clone();
                bytes[offset..offset + 8].copy_from_slice(&forged.to_le_bytes());
                let mut input = ByteStream::new(&bytes);
                match load(&mut input, 1) {
                    // Too small a field count reads a coherent prefix and leaves the
                    // rest unread, which Redis rejects: a module value must end at
                    // its EOF marker.
                    Some(prefix) => {
                        assert_eq!((forged, offset, prefix.field_count()), (3, 0, 3));
                        assert!(!input.bytes.is_empty());
                    }
                    None => assert!(forged != 3 || offset != 0),
                }
            }
        }
    }

    #[test]
    fn inconsistent_payloads_are_rejected_with_a_reason() {
        let mut twice = Vec::new();
        twice.save_unsigned(2);
        let mut one_field = MultiMap::new();
        one_field.insert(b"f", [&b"v"[..]]);
        let record = one_field.records().next().unwrap().0.to_vec();
        for _ in 0..2 {
            twice.save_unsigned(1);
            twice.save_buffer(&record);
        }
        let mut empty_key = Vec::new();
        empty_key.save_unsigned(0);
        let cases: [(&[u8], i32, &CStr); 4] = [
            (&twice, 1, c"a malformed or repeated field"),
            (&empty_key, 1, c"a key without fields"),
            (&empty_key, 0, c"a key without values"),
            (&twice, 7, c"unknown encoding version"),
        ];
        for (bytes, version, reason) in cases {
            let mut input = ByteStream::new(bytes);
            assert!(load(&mut input, version).is_none());
            assert_eq!(input.rejections, [reason]);
        }
        let repeated = v0(&[(b"f", &[b"x"]), (b"f", &[b"y"])]);
        let mut input = ByteStream::new(&repeated);
        assert!(load(&mut input, 0).is_none());
        assert_eq!(input.rejections, [c"a field stored twice"]);
    }

    #[test]
    fn strip_trailing_nul_removes_one_terminator_only() {
        assert_eq!(strip_trailing_nul(b"red\0"), b"red");
        assert_eq!(strip_trailing_nul(b"x\0\0"), b"x\0");
        assert_eq!(strip_trailing_nul(b"plain"), b"plain");
        assert_eq!(strip_trailing_nul(b""), b"");
    }
}
