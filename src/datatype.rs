//! The MultiMap data type: its type callbacks, named after their TypeMethods
//! field. RDB saving and loading live in `rdb`.
#![forbid(unsafe_code)]

use std::ffi::CStr;

use crate::expire;
use crate::faults::{trip, Callback};
use crate::ffi::now_ms;
use crate::ffi::{
    AofWriter, DataType, Defrag, Digest, HeapSizes, IoError, KeyPlace, LoadedBuffer, RdbReader,
    RdbWriter, TypeMethods,
};
use crate::info::{self, Counter, Share};
use crate::multimap::{MeasureBlocks, MoveBlocks, MultiMap, View};
use crate::rdb::{self, RdbInput, RdbOutput, ReadError};

/// Every MultiMap key's type; registered at load.
pub static MULTIMAP: DataType<MultiMap> = DataType::new();

/// A rewritten AOF command carries at most this many values...
const AOF_BATCH_VALUES: usize = 1024;
/// ...and at most about this many bytes of them, so replaying it stays cheap.
const AOF_BATCH_BYTES: usize = 1024 * 1024;

const INSERT_COMMAND: &CStr = c"MULTIMAP.INSERT";
const EXPIRE_AT_COMMAND: &CStr = c"MULTIMAP.PEXPIREAT";

impl TypeMethods for MultiMap {
    fn rdb_load(rdb: &mut RdbReader, encoding_version: i32) -> Option<MultiMap> {
        let mut map = rdb::load(rdb, encoding_version)?;
        trip(&map, Callback::RdbLoad);
        if map.has_expiries() {
            // A replica never removes fields by itself: its master's
            // removals follow the sync, as they follow every write.
            if !rdb.loads_on_replica() {
                let dropped = map.drop_expired(now_ms());
                info::count(Counter::ExpiredFields, dropped);
            }
            match (rdb.key_place(), map.earliest_expiry()) {
                (Some(place), Some(time)) => expire::schedule(place.db, &place.name, time),
                // Redis 6.2 names no key here: the `loaded` or `restore`
                // event that follows does.
                _ => expire::loaded_with_expiries(),
            }
        }
        Some(map)
    }

    fn rdb_save(&self, rdb: &mut RdbWriter) {
        rdb::save(self, &mut Saving { rdb, map: self });
    }

    /// Fields that have expired by the time of the rewrite are left out; the
    /// others' expiries follow as PEXPIREAT, fields with the same time in
    /// one command.
    fn aof_rewrite(&self, aof: &mut AofWriter) {
        let now = if self.has_expiries() { now_ms() } else { 0 };
        let view = self.view(now);
        let mut batch: Vec<&[u8]> = Vec::new();
        for (field, values) in view.iter() {
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
            trip(self, Callback::AofRewrite);
        }
        emit_expiries(aof, view);
    }

    fn mem_usage(&self, heap: &HeapSizes) -> usize {
        trip(self, Callback::MemUsage);
        MultiMap::mem_usage(self, heap)
    }

    /// One sequence per field (the field, then its values in order): sequences
    /// combine order-independently, so equal content digests equally whatever
    /// the field order of the hash table, as on a replica or after a reload.
    /// A field's expiry joins its sequence, so a replica that missed one
    /// digests differently; a key without expiries digests as it always has.
    fn digest(&self, digest: &mut Digest) {
        trip(self, Callback::Digest);
        let times = self.expiry_times();
        for (position, (field, values)) in self.iter().enumerate() {
            digest.add(field);
            for value in values.iter() {
                digest.add(value);
            }
            if let Some(&time) = times
                .and_then(|times| times.get(position))
                .filter(|&&t| t != 0)
            {
                digest.add(b"expires at");
                digest.add(time.to_string().as_bytes());
            }
            digest.end_sequence();
        }
    }

    /// The two keys share nothing afterwards; a copy with field expiries
    /// goes on the expiry schedule (on Redis 6.2, which does not say where
    /// the copy goes, the `copy_to` event puts it there).
    fn copy(&self, to: Option<&KeyPlace>) -> MultiMap {
        trip(self, Callback::Copy);
        let copy = self.clone();
        if let (Some(to), Some(time)) = (to, copy.earliest_expiry()) {
            expire::schedule(to.db, &to.name, time);
        }
        copy
    }

    fn free_effort(&self) -> usize {
        trip(self, Callback::FreeEffort);
        // The server takes 0 for "unknown" and frees such a value on the
        // lazy-free thread: an emptied key costs one free, done in place.
        (self.field_count() + self.value_count()).max(1)
    }

    fn defrag(&mut self, defrag: &mut Defrag, from: usize) -> Option<usize> {
        trip(self, Callback::Defrag);
        MultiMap::defrag(self, defrag, from)
    }

    fn is_empty(&self) -> bool {
        MultiMap::is_empty(self)
    }

    fn counted(&self) {
        info::add_locked(&share(self));
    }

    fn uncounted(&self) {
        info::subtract_locked(&share(self));
    }

    fn freed(&self) {
        info::subtract_freed(&share(self));
    }
}

/// `MULTIMAP.PEXPIREAT key time FIELDS n field...` for the live fields of
/// `view` that have an expiry, consecutive fields with the same time in one
/// command of at most `AOF_BATCH_VALUES` fields.
fn emit_expiries(aof: &mut AofWriter, view: View) {
    let Some(times) = view.map().expiry_times() else {
        return;
    };
    let mut pending: Option<(u64, Vec<&[u8]>)> = None;
    let flush = |aof: &mut AofWriter, (time, fields): (u64, Vec<&[u8]>)| {
        let time = time.to_string();
        let count = fields.len().to_string();
        let mut args: Vec<&[u8]> = vec![b"FIELDS", count.as_bytes()];
        args.extend(fields);
        aof.emit_with_field(EXPIRE_AT_COMMAND, time.as_bytes(), &args);
    };
    for (position, (field, _)) in view.map().iter().enumerate() {
        let time = times[position];
        if time == 0 || (view.now() != 0 && time <= view.now()) {
            continue;
        }
        match &mut pending {
            Some((at, fields)) if *at == time && fields.len() < AOF_BATCH_VALUES => {
                fields.push(field)
            }
            _ => {
                if let Some(done) = pending.replace((time, vec![field])) {
                    flush(aof, done);
                }
            }
        }
    }
    if let Some(done) = pending {
        flush(aof, done);
    }
}

/// What one map adds to `INFO multimap`. Every amount is kept by the map, so
/// taking a share costs no walk.
fn share(map: &MultiMap) -> Share<5> {
    [
        (Counter::Keys, 1),
        (Counter::Fields, map.field_count()),
        (Counter::Values, map.value_count()),
        (Counter::Bytes, map.stored_bytes()),
        (Counter::FieldsWithExpiry, map.expiring_field_count()),
    ]
}

impl MeasureBlocks for HeapSizes {
    fn vec_block<T>(&self, vec: &Vec<T>) -> usize {
        self.of_vec(vec)
    }

    fn boxed_slice_block<T>(&self, slice: &Box<[T]>) -> usize {
        self.of_boxed_slice(slice)
    }
}

impl MoveBlocks for Defrag<'_> {
    fn move_vec<T>(&mut self, vec: &mut Vec<T>) {
        self.vec(vec);
    }

    fn should_stop(&self) -> bool {
        Defrag::should_stop(self)
    }
}

impl RdbInput for RdbReader {
    type Buffer = LoadedBuffer;

    fn load_unsigned(&mut self) -> Result<u64, ReadError> {
        RdbReader::load_unsigned(self).map_err(|IoError| ReadError)
    }

    fn load_buffer(&mut self) -> Result<LoadedBuffer, ReadError> {
        RdbReader::load_buffer(self).map_err(|IoError| ReadError)
    }

    fn log_rejection(&mut self, reason: &'static CStr) {
        RdbReader::log_rejection(self, reason);
    }
}

/// The RDB writer while saving one map, so a fault can be injected half way
/// through the value, where a real bug would hurt most.
struct Saving<'a, 'w> {
    rdb: &'w mut RdbWriter,
    map: &'a MultiMap,
}

impl RdbOutput for Saving<'_, '_> {
    fn save_unsigned(&mut self, value: u64) {
        self.rdb.save_unsigned(value);
    }

    fn save_buffer(&mut self, bytes: &[u8]) {
        self.rdb.save_buffer(bytes);
        trip(self.map, Callback::RdbSave);
    }
}
