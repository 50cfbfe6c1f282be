//! DUMP payloads: the serialized value, then a 10-byte footer, the RDB version
//! (2 bytes, little endian) and the CRC-64 of everything before the CRC (8
//! bytes, little endian). Tests that forge payloads re-frame them with a valid
//! CRC so that Redis hands them on to the module's loader.

use std::sync::OnceLock;

use super::client::Bytes;

/// CRC-64/Jones as Redis computes it over a DUMP payload: reflected,
/// polynomial 0xad93d23594c935a9, initial value 0, no final xor.
pub fn crc64(data: &[u8]) -> u64 {
    static TABLE: OnceLock<[u64; 256]> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        const REFLECTED_POLY: u64 = 0x95ac_9329_ac4b_c9b5;
        let mut table = [0u64; 256];
        for (byte, entry) in table.iter_mut().enumerate() {
            let mut crc = byte as u64;
            for _ in 0..8 {
                crc = if crc & 1 == 1 {
                    (crc >> 1) ^ REFLECTED_POLY
                } else {
                    crc >> 1
                };
            }
            *entry = crc;
        }
        table
    });
    data.iter().fold(0, |crc, &byte| {
        table[((crc ^ u64::from(byte)) & 0xff) as usize] ^ (crc >> 8)
    })
}

/// The payload of `body` under the footer of `rdb_version`, with a valid CRC.
pub fn frame(body: &[u8], rdb_version: [u8; 2]) -> Bytes {
    let mut payload = Vec::with_capacity(body.len() + 10);
    payload.extend_from_slice(body);
    payload.extend_from_slice(&rdb_version);
    let checksum = crc64(&payload);
    payload.extend_from_slice(&checksum.to_le_bytes());
    payload
}

/// Splits a genuine DUMP payload into its body and RDB version, checking its CRC.
pub fn unframe(payload: &[u8]) -> (Bytes, [u8; 2]) {
    assert!(payload.len() > 10, "a DUMP payload has a 10-byte footer");
    let (covered, checksum) = payload.split_at(payload.len() - 8);
    assert_eq!(
        crc64(covered),
        u64::from_le_bytes(checksum.try_into().unwrap()),
        "the CRC of a genuine DUMP payload"
    );
    let (body, version) = covered.split_at(covered.len() - 2);
    (body.to_vec(), version.try_into().unwrap())
}
