//! The MultiMap data type's callbacks, named after their TypeMethods field.
//! RDB saving and loading live in `rdb`.

use std::ffi::CStr;

use crate::ffi::{AofWriter, Digest};
use crate::multimap::MultiMap;

/// A rewritten AOF command carries at most this many values...
const AOF_BATCH_VALUES: usize = 1024;
/// ...and at most about this many bytes of them, so replaying it stays cheap.
const AOF_BATCH_BYTES: usize = 1024 * 1024;

const INSERT_COMMAND: &CStr = c"MULTIMAP.INSERT";

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
