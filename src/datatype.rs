//! The MultiMap data type's callbacks, named after their TypeMethods field.
//!
//! # RDB encoding, version 1
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
//! # RDB encoding, version 0 (the original redis-multi-map module)
//!
//! ```text
//! unsigned   field count
//! per field: buffer field + NUL, unsigned value count, value count x (buffer value + NUL)
//! ```

use std::ffi::CStr;

use crate::ffi::{AofWriter, Digest, IoError, RdbReader, RdbWriter};
use crate::multimap::MultiMap;

/// A rewritten AOF command carries at most this many values...
const AOF_BATCH_VALUES: usize = 1024;
/// ...and at most about this many bytes of them, so replaying it stays cheap.
const AOF_BATCH_BYTES: usize = 1024 * 1024;

const INSERT_COMMAND: &CStr = c"MULTIMAP.INSERT";

/// Why a stored value was refused; logged, never fatal.
enum Rejection {
    Io,
    Corrupt(&'static CStr),
}

impl From<IoError> for Rejection {
    fn from(_: IoError) -> Self {
        Rejection::Io
    }
}

pub fn rdb_save(map: &MultiMap, io: &mut RdbWriter) {
    io.save_unsigned(map.field_count() as u64);
    for (record, value_count) in map.records() {
        io.save_unsigned(value_count as u64);
        io.save_buffer(record);
    }
}

/// Rebuilds a MultiMap, or returns `None` (after logging why) for a truncated or
/// inconsistent payload. Nothing is trusted: every count is checked against
/// what is actually read, so a forged count cannot make us allocate or loop.
pub fn rdb_load(io: &mut RdbReader, encoding_version: i32) -> Option<MultiMap> {
    let loaded = match encoding_version {
        1 => load_v1(io),
        0 => load_v0(io),
        _ => Err(Rejection::Corrupt(c"unknown encoding version")),
    };
    match loaded {
        Ok(map) => Some(map),
        Err(Rejection::Io) => None,
        Err(Rejection::Corrupt(reason)) => {
            io.log_rejection(reason);
            None
        }
    }
}

fn load_v1(io: &mut RdbReader) -> Result<MultiMap, Rejection> {
    let field_count = io.load_unsigned()?;
    if field_count == 0 {
        return Err(Rejection::Corrupt(c"a key without fields"));
    }
    let mut map = MultiMap::new();
    // Every iteration reads from the stream, so a forged count ends at the
    // stream's end with an IO error rather than spinning.
    for _ in 0..field_count {
        let value_count = io.load_unsigned()?;
        let record = io.load_buffer()?.into_vec();
        map.insert_record(record, value_count)
            .map_err(|_| Rejection::Corrupt(c"a malformed or repeated field"))?;
    }
    Ok(map)
}

fn load_v0(io: &mut RdbReader) -> Result<MultiMap, Rejection> {
    let field_count = io.load_unsigned()?;
    let mut map = MultiMap::new();
    for _ in 0..field_count {
        let field = io.load_buffer()?;
        let field = strip_trailing_nul(field.as_bytes());
        if map.get(field).is_some() {
            return Err(Rejection::Corrupt(c"a field stored twice"));
        }
        let value_count = io.load_unsigned()?;
        for _ in 0..value_count {
            let value = io.load_buffer()?;
            map.insert(field, [strip_trailing_nul(value.as_bytes())]);
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

pub fn aof_rewrite(map: &MultiMap, aof: &mut AofWriter) {
    let mut batch: Vec<&[u8]> = Vec::new();
    for (field, values) in map.iter() {
        let mut batch_bytes = 0;
        for value in values.iter() {
            let full =
                batch.len() == AOF_BATCH_VALUES || batch_bytes + value.len() > AOF_BATCH_BYTES;
            if full && !batch.is_empty() {
                aof.emit_with_field(INSERT_COMMAND, field, &batch);
                batch.clear();
                batch_bytes = 0;
            }
            batch.push(value);
            batch_bytes += value.len();
        }
        aof.emit_with_field(INSERT_COMMAND, field, &batch);
        batch.clear();
    }
}

pub fn mem_usage(map: &MultiMap) -> usize {
    map.mem_usage()
}

/// One sequence per field (the field, then its values in order): sequences
/// combine order-independently, so equal content digests equally whatever the
/// field order of the hash table, as on a replica or after a reload.
pub fn digest(map: &MultiMap, digest: &mut Digest) {
    for (field, values) in map.iter() {
        digest.add(field);
        for value in values.iter() {
            digest.add(value);
        }
        digest.end_sequence();
    }
}

/// A deep copy for COPY: the two keys share nothing afterwards.
pub fn copy(map: &MultiMap) -> MultiMap {
    map.clone()
}

/// Roughly how many allocations freeing the map releases; Redis frees values
/// above a small threshold on a background thread (UNLINK, FLUSHALL ASYNC).
pub fn free_effort(map: &MultiMap) -> usize {
    map.field_count() + map.value_count()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strip_trailing_nul_removes_one_terminator_only() {
        assert_eq!(strip_trailing_nul(b"red\0"), b"red");
        assert_eq!(strip_trailing_nul(b"x\0\0"), b"x\0");
        assert_eq!(strip_trailing_nul(b"plain"), b"plain");
        assert_eq!(strip_trailing_nul(b""), b"");
    }
}
