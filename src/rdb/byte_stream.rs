//! An RDB stream in memory, so that `load` and `save` run without Redis: in
//! unit tests, and in the fuzz targets (the `fuzzing` feature). Never part of
//! the module Redis loads.

#![forbid(unsafe_code)]

use std::ffi::CStr;

use super::{RdbInput, RdbOutput, ReadError};
use crate::multimap::MultiMap;

/// What a map holds, fields sorted: equal for a map and its reloaded copy,
/// whatever order their tables keep fields in.
pub fn sorted_content(map: &MultiMap) -> Vec<(Vec<u8>, Vec<Vec<u8>>)> {
    let mut fields: Vec<_> = map
        .iter()
        .map(|(field, values)| (field.to_vec(), values.iter().map(<[u8]>::to_vec).collect()))
        .collect();
    fields.sort();
    fields
}

/// An RDB stream in memory, for tests and fuzzing: an unsigned is 8 bytes
/// little-endian, a buffer a 4-byte little-endian length and its bytes.
pub struct ByteStream<'a> {
    pub bytes: &'a [u8],
    pub rejections: Vec<&'static CStr>,
}

impl<'a> ByteStream<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        ByteStream {
            bytes,
            rejections: Vec::new(),
        }
    }

    fn take(&mut self, len: usize) -> Result<&'a [u8], ReadError> {
        if len > self.bytes.len() {
            return Err(ReadError);
        }
        let (taken, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(taken)
    }
}

impl RdbInput for ByteStream<'_> {
    type Buffer = Vec<u8>;

    fn load_unsigned(&mut self) -> Result<u64, ReadError> {
        let bytes = self.take(8)?;
        Ok(u64::from_le_bytes(bytes.try_into().map_err(|_| ReadError)?))
    }

    fn load_buffer(&mut self) -> Result<Vec<u8>, ReadError> {
        let len = self.take(4)?;
        let len = u32::from_le_bytes(len.try_into().map_err(|_| ReadError)?);
        Ok(self.take(len as usize)?.to_vec())
    }

    fn log_rejection(&mut self, reason: &'static CStr) {
        self.rejections.push(reason);
    }
}

/// Writes the same framing `ByteStream` reads.
impl RdbOutput for Vec<u8> {
    fn save_unsigned(&mut self, value: u64) {
        self.extend_from_slice(&value.to_le_bytes());
    }

    fn save_buffer(&mut self, bytes: &[u8]) {
        let len = u32::try_from(bytes.len()).expect("test buffers stay under 4 GiB");
        self.extend_from_slice(&len.to_le_bytes());
        self.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_back_what_a_vec_wrote_then_reports_the_end() {
        let mut bytes = Vec::new();
        bytes.save_unsigned(u64::MAX);
        bytes.save_buffer(b"");
        bytes.save_buffer(b"\0payload");
        bytes.save_unsigned(7);
        let mut input = ByteStream::new(&bytes);
        assert_eq!(input.load_unsigned(), Ok(u64::MAX));
        assert_eq!(input.load_buffer(), Ok(Vec::new()));
        assert_eq!(input.load_buffer(), Ok(b"\0payload".to_vec()));
        assert_eq!(input.load_unsigned(), Ok(7));
        assert!(input.bytes.is_empty());
        assert_eq!(input.load_unsigned(), Err(ReadError));
        assert_eq!(input.load_buffer(), Err(ReadError));
    }

    #[test]
    fn a_buffer_longer_than_the_stream_is_a_read_error() {
        let mut bytes = Vec::new();
        bytes.save_buffer(b"abc");
        bytes.pop();
        assert_eq!(ByteStream::new(&bytes).load_buffer(), Err(ReadError));
        assert_eq!(ByteStream::new(&bytes).load_unsigned(), Err(ReadError));
    }

    #[test]
    fn rejections_are_kept_in_order() {
        let mut input = ByteStream::new(&[]);
        input.log_rejection(c"first");
        input.log_rejection(c"second");
        assert_eq!(input.rejections, [c"first", c"second"]);
    }
}
