//! `RESTORE` payloads are hostile input. Mutated `DUMP` payloads of MultiMap
//! keys, re-framed with a valid CRC so that Redis hands them to the module's
//! loader, must never take the server down, must be rejected with an error or
//! give a coherent key, and must not leak memory when rejected. Encoding 2's
//! field expiries are attacked too: forged counts, positions and times, pairs
//! repeated, swapped or cut short (and a coherent key's live fields expire in
//! the future, the same after its own DUMP/RESTORE).
//!
//! The fuzz seed changes from run to run and is printed on failure; set
//! `MULTIMAP_SEED` to replay a run, and `MULTIMAP_FUZZ_ITERATIONS` to run
//! longer than the default.

mod common;

use std::fmt;
use std::ops::Range;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{
    crc64, dbsize, dump, env_number, error_text, frame, getall, info_number, insert, integer,
    pexpireat, restore, seed, server_time_ms, show_list, try_digest_value, try_getall,
    try_scan_all, unframe, wait_for_key_removed, Bytes, Fields, Rng, Seed, Server, BAD_DATA_FORMAT,
    NO_EXPIRY, NO_FIELD, NO_OPTIONS,
};
use redis::Connection;

/// The object type of a module value in RDB (`RDB_TYPE_MODULE_2`).
const RDB_TYPE_MODULE_2: u8 = 7;
/// Opcodes that precede each element of a module value (`RDB_MODULE_OPCODE_*`).
const OPCODE_EOF: u64 = 0;
const OPCODE_UINT: u64 = 2;
const OPCODE_STRING: u64 = 5;
/// RDB string encodings flagged by a length byte 0b11xxxxxx.
const ENC_INT8: u8 = 0;
const ENC_INT16: u8 = 1;
const ENC_INT32: u8 = 2;
const ENC_LZF: u8 = 3;

const FUZZ_WARMUP: usize = 500;
/// Payloads after the warm-up, unless `MULTIMAP_FUZZ_ITERATIONS` says otherwise.
const FUZZ_ITERATIONS: usize = 3_500;
/// How much `used_memory` may grow over the fuzz run after the warm-up.
const MEMORY_GROWTH_BOUND: i64 = 256 * 1024;

// ---------------------------------------------------------------- RDB encoding

enum Length {
    Plain(u64),
    /// A special string encoding (`ENC_*`).
    Encoded(u8),
}

/// Reads an RDB length at `pos`: (length, bytes it took).
fn read_length(bytes: &[u8], pos: usize) -> (Length, usize) {
    let first = bytes[pos];
    match first >> 6 {
        0 => (Length::Plain(u64::from(first & 0x3f)), 1),
        1 => (
            Length::Plain(u64::from(first & 0x3f) << 8 | u64::from(bytes[pos + 1])),
            2,
        ),
        2 if first == 0x80 => {
            let value = u32::from_be_bytes(bytes[pos + 1..pos + 5].try_into().unwrap());
            (Length::Plain(u64::from(value)), 5)
        }
        2 if first == 0x81 => {
            let value = u64::from_be_bytes(bytes[pos + 1..pos + 9].try_into().unwrap());
            (Length::Plain(value), 9)
        }
        3 => (Length::Encoded(first & 0x3f), 1),
        _ => panic!("invalid RDB length byte {first:#x} at {pos}"),
    }
}

fn plain_length(bytes: &[u8], pos: usize) -> (u64, usize) {
    match read_length(bytes, pos) {
        (Length::Plain(value), width) => (value, width),
        (Length::Encoded(_), _) => panic!("a plain length expected at {pos}"),
    }
}

/// The shortest RDB encoding of a length.
fn encode_length(value: u64) -> Bytes {
    match value {
        0..=0x3f => vec![value as u8],
        0x40..=0x3fff => vec![0x40 | (value >> 8) as u8, value as u8],
        0x4000..=0xffff_ffff => [&[0x80][..], &(value as u32).to_be_bytes()].concat(),
        _ => encode_length_64(value),
    }
}

/// The 64-bit form of an RDB length, whatever its value.
fn encode_length_64(value: u64) -> Bytes {
    [&[0x81][..], &value.to_be_bytes()].concat()
}

/// A plain RDB string: its length, then its bytes.
fn encode_string(bytes: &[u8]) -> Bytes {
    [encode_length(bytes.len() as u64), bytes.to_vec()].concat()
}

fn leb128(mut value: u64) -> Bytes {
    let mut out = Vec::new();
    while value >= 0x80 {
        out.push((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
    out
}

/// Where the parts of a serialized module value sit, to forge them.
#[derive(Default)]
struct Layout {
    /// The 64-bit module id (type name and encoding version).
    module_id: Range<usize>,
    /// Unsigned integers: field and value counts, the count of field
    /// expiries and their positions.
    counts: Vec<Range<usize>>,
    /// The length fields of strings (for LZF, both of its lengths).
    string_lengths: Vec<Range<usize>>,
    /// Whole strings (length and bytes) that hold values or value chunks.
    value_strings: Vec<Range<usize>>,
    /// Encoding 2's expiry section, if the value has one.
    expiries: Option<ExpiryLayout>,
}

/// Where encoding 2's expiry section sits: its count, then (position, time)
/// pairs of unsigned integers, each after its opcode.
struct ExpiryLayout {
    /// How many fields the value holds.
    fields: u64,
    /// The whole section, opcodes included, up to the EOF opcode.
    section: Range<usize>,
    /// The count's number.
    count: Range<usize>,
    pairs: Vec<ExpiryPair>,
}

#[derive(Clone)]
struct ExpiryPair {
    /// Both numbers, opcodes included.
    whole: Range<usize>,
    position: Range<usize>,
    time: Range<usize>,
}

/// The encoding version in a module id: its low 10 bits.
fn encoding_version(module_id: u64) -> u64 {
    module_id & 1023
}

/// Walks a serialized MultiMap: object type, module id, then opcode-tagged
/// unsigned integers and strings up to the EOF opcode.
fn layout(body: &[u8]) -> Layout {
    assert_eq!(body[0], RDB_TYPE_MODULE_2);
    let mut layout = Layout::default();
    let (_, width) = plain_length(body, 1);
    layout.module_id = 1..1 + width;
    let mut pos = 1 + width;
    let mut strings = Vec::new();
    // Whether each element is a string, to tell field names (a string followed
    // by a count) from values.
    let mut kinds = Vec::new();
    // Where each element starts (its opcode) and, for a number, where the
    // number is.
    let mut elements: Vec<(usize, Option<Range<usize>>)> = Vec::new();
    let eof = loop {
        let element = pos;
        let (opcode, width) = plain_length(body, pos);
        pos += width;
        match opcode {
            OPCODE_EOF => break element,
            OPCODE_UINT => {
                let (_, width) = plain_length(body, pos);
                layout.counts.push(pos..pos + width);
                elements.push((element, Some(pos..pos + width)));
                kinds.push(false);
                pos += width;
            }
            OPCODE_STRING => {
                let start = pos;
                let (length, width) = read_length(body, pos);
                pos += width;
                match length {
                    Length::Plain(len) => {
                        layout.string_lengths.push(start..pos);
                        pos += len as usize;
                    }
                    Length::Encoded(ENC_INT8) => pos += 1,
                    Length::Encoded(ENC_INT16) => pos += 2,
                    Length::Encoded(ENC_INT32) => pos += 4,
                    Length::Encoded(ENC_LZF) => {
                        let (compressed, width) = plain_length(body, pos);
                        layout.string_lengths.push(pos..pos + width);
                        pos += width;
                        let (_, width) = plain_length(body, pos);
                        layout.string_lengths.push(pos..pos + width);
                        pos += width + compressed as usize;
                    }
                    Length::Encoded(other) => panic!("unknown string encoding {other}"),
                }
                strings.push(start..pos);
                elements.push((element, None));
                kinds.push(true);
            }
            other => panic!("unexpected module opcode {other} at {pos}"),
        }
    };
    assert_eq!(pos, body.len(), "the EOF opcode ends the value");
    let (id, _) = plain_length(body, layout.module_id.start);
    if encoding_version(id) == 2 {
        let expiries = expiry_layout(body, &elements, eof);
        // An expiry time is no count: forged large, it may be a valid time.
        layout
            .counts
            .retain(|count| expiries.pairs.iter().all(|pair| pair.time != *count));
        layout.expiries = Some(expiries);
    }
    let mut string_index = 0;
    for (index, &is_string) in kinds.iter().enumerate() {
        if is_string {
            let is_field = kinds.get(index + 1) == Some(&false);
            if !is_field {
                layout.value_strings.push(strings[string_index].clone());
            }
            string_index += 1;
        }
    }
    layout
}

/// The expiry section of a genuine encoding-2 value: the field count, a
/// (count, record) pair per field, then the section's numbers.
fn expiry_layout(
    body: &[u8],
    elements: &[(usize, Option<Range<usize>>)],
    eof: usize,
) -> ExpiryLayout {
    let number = |index: usize| -> Range<usize> {
        elements[index]
            .1
            .clone()
            .unwrap_or_else(|| panic!("element {index} is a number"))
    };
    let (fields, _) = plain_length(body, number(0).start);
    let first = 1 + 2 * fields as usize;
    let pairs = elements[first + 1..]
        .chunks(2)
        .enumerate()
        .map(|(pair, chunk)| {
            let at = first + 1 + 2 * pair;
            let end = elements.get(at + 2).map_or(eof, |(start, _)| *start);
            ExpiryPair {
                whole: chunk[0].0..end,
                position: number(at),
                time: number(at + 1),
            }
        })
        .collect();
    ExpiryLayout {
        fields,
        section: elements[first].0..eof,
        count: number(first),
        pairs,
    }
}

// ---------------------------------------------------------------- mutations

/// Counts a forger puts where a count or length was.
const FORGED_BIG: [u64; 6] = [1 << 60, 1 << 32, 1 << 31, 1 << 63, u64::MAX, 0xffff_ffff];

/// Replaces the seed's structure in a meaningful place; returns what it did.
fn structured_mutation(rng: &mut Rng, body: &mut Bytes, layout: &Layout) -> String {
    loop {
        match rng.in_range(0..7) {
            0 if !layout.counts.is_empty() => {
                let site = rng.pick(&layout.counts).clone();
                let forged = *rng.pick(&FORGED_BIG);
                body.splice(site.clone(), encode_length_64(forged));
                return format!("forge count at {} to {forged:#x}", site.start);
            }
            1 if !layout.counts.is_empty() => {
                let site = rng.pick(&layout.counts).clone();
                let (old, _) = plain_length(body, site.start);
                let new = *rng.pick(&[0, 1, old.wrapping_sub(1), old + 1, old + 2, old * 2]);
                let encoded = if rng.in_range(0..4) == 0 {
                    encode_length_64(new)
                } else {
                    encode_length(new)
                };
                body.splice(site.clone(), encoded);
                return format!("count at {} from {old} to {new}", site.start);
            }
            2 if !layout.string_lengths.is_empty() => {
                let site = rng.pick(&layout.string_lengths).clone();
                let forged = *rng.pick(&FORGED_BIG);
                body.splice(site.clone(), encode_length_64(forged));
                return format!("forge string length at {} to {forged:#x}", site.start);
            }
            3 if !layout.value_strings.is_empty() => {
                let site = rng.pick(&layout.value_strings).clone();
                let (content, what) = forged_chunk(rng);
                body.splice(site.clone(), encode_string(&content));
                return format!("replace value string at {} with {what}", site.start);
            }
            4 => {
                let (id, _) = plain_length(body, layout.module_id.start);
                let version = *rng.pick(&[0, 0, 1, 2, 3, 1023]);
                let forged = (id & !1023) | version;
                body.splice(layout.module_id.clone(), encode_length_64(forged));
                return format!("set encoding version {version}");
            }
            5 | 6 => {
                if let Some(expiries) = &layout.expiries {
                    return expiry_mutation(rng, body, expiries);
                }
            }
            _ => continue,
        }
    }
}

/// The largest expiry time a field may have, 2^46 - 1 ms.
const MAX_EXPIRY_MS: u64 = (1 << 46) - 1;

/// A number in its shortest RDB encoding or, now and then, its 64-bit one.
fn encode_number(rng: &mut Rng, value: u64) -> Bytes {
    if rng.chance(4) {
        encode_length_64(value)
    } else {
        encode_length(value)
    }
}

/// Damages the expiry section where the loader must check it: the count,
/// a position (past the fields, repeated, out of order), a time (0, past,
/// too large), pairs repeated or swapped, or the section gone.
fn expiry_mutation(rng: &mut Rng, body: &mut Bytes, expiries: &ExpiryLayout) -> String {
    let pairs = &expiries.pairs;
    let fields = expiries.fields;
    loop {
        match rng.in_range(0..6) {
            0 => {
                let (count, _) = plain_length(body, expiries.count.start);
                let forged = *rng.pick(&[
                    0,
                    count + 1,
                    count.wrapping_sub(1),
                    fields,
                    fields + 1,
                    u64::MAX,
                ]);
                body.splice(expiries.count.clone(), encode_number(rng, forged));
                return format!("expiry count {count} to {forged}");
            }
            1 if !pairs.is_empty() => {
                let index = rng.index(pairs.len());
                let previous = index
                    .checked_sub(1)
                    .map(|previous| plain_length(body, pairs[previous].position.start).0);
                let forged = *rng.pick(&[
                    fields,
                    fields + 1,
                    fields - 1,
                    0,
                    u64::MAX,
                    previous.unwrap_or(fields),
                ]);
                let site = pairs[index].position.clone();
                body.splice(site, encode_number(rng, forged));
                return format!("expiry position {index} to {forged}");
            }
            2 if !pairs.is_empty() => {
                let index = rng.index(pairs.len());
                let forged =
                    *rng.pick(&[0, 1, MAX_EXPIRY_MS, MAX_EXPIRY_MS + 1, 1 << 63, u64::MAX]);
                let site = pairs[index].time.clone();
                body.splice(site, encode_number(rng, forged));
                return format!("expiry time {index} to {forged}");
            }
            3 if pairs.len() >= 2 => {
                let first = rng.index(pairs.len() - 1);
                let (a, b) = (&pairs[first], &pairs[first + 1]);
                let swapped = [&body[b.whole.clone()], &body[a.whole.clone()]].concat();
                body.splice(a.whole.start..b.whole.end, swapped);
                return format!("swap expiry pairs {first} and {}", first + 1);
            }
            4 if !pairs.is_empty() => {
                let index = rng.index(pairs.len());
                let pair = body[pairs[index].whole.clone()].to_vec();
                let at = pairs[index].whole.end;
                body.splice(at..at, pair);
                return format!("repeat expiry pair {index}");
            }
            5 => {
                body.drain(expiries.section.clone());
                return "remove the expiry section".into();
            }
            _ => continue,
        }
    }
}

/// A value chunk (encoding version 1: LEB128 length, bytes, repeated) that lies.
fn forged_chunk(rng: &mut Rng) -> (Bytes, String) {
    match rng.in_range(0..7) {
        0 => (
            [leb128(1 << 60), b"abc".to_vec()].concat(),
            "a 2^60 value length".into(),
        ),
        1 => (
            [vec![0xff; 10], b"x".to_vec()].concat(),
            "an endless LEB128".into(),
        ),
        2 => {
            // 2^63 fits in 64 bits; 2^64 does not.
            let mut overflow = vec![0x80; 9];
            overflow.push(*rng.pick(&[0x01, 0x02, 0x7f]));
            (overflow, "a 64-bit-overflowing LEB128".into())
        }
        3 => (Vec::new(), "an empty chunk".into()),
        4 => {
            let value_len = rng.in_range(0..20);
            let mut chunk = leb128(value_len as u64 + 1);
            chunk.extend((0..value_len).map(|_| rng.byte()));
            (chunk, "a value one byte short".into())
        }
        5 => {
            let values = rng.in_range(1..6);
            let mut chunk = Vec::new();
            for _ in 0..values {
                let len = rng.in_range(0..8);
                chunk.extend(leb128(len as u64));
                chunk.extend((0..len).map(|_| rng.byte()));
            }
            (chunk, format!("{values} well-formed values"))
        }
        _ => {
            let len = rng.in_range(0..16);
            let chunk = (0..len).map(|_| rng.byte()).collect();
            (chunk, format!("{len} random bytes"))
        }
    }
}

/// Damages bytes anywhere after the object type; returns what it did.
fn raw_mutation(rng: &mut Rng, body: &mut Bytes) -> String {
    let len = body.len();
    if len < 2 {
        let byte = rng.byte();
        body.push(byte);
        return format!("append {byte:#x}");
    }
    match rng.in_range(0..7) {
        0 => {
            let pos = rng.in_range(1..len);
            let bit = rng.in_range(0..8);
            body[pos] ^= 1 << bit;
            format!("flip bit {bit} at {pos}")
        }
        1 => {
            let pos = rng.in_range(1..len);
            body[pos] = rng.byte();
            format!("set byte {pos} to {:#x}", body[pos])
        }
        2 => {
            let new_len = rng.in_range(1..len);
            body.truncate(new_len);
            format!("truncate to {new_len}")
        }
        3 => {
            let pos = rng.in_range(1..len + 1);
            let count = rng.in_range(1..9);
            let inserted: Bytes = (0..count).map(|_| rng.byte()).collect();
            body.splice(pos..pos, inserted);
            format!("insert {count} bytes at {pos}")
        }
        4 => {
            let start = rng.in_range(1..len);
            let end = rng.in_range(start + 1..(start + 64).min(len) + 1);
            let at = rng.in_range(1..len + 1);
            let copy = body[start..end].to_vec();
            body.splice(at..at, copy);
            format!("duplicate {start}..{end} at {at}")
        }
        5 => {
            let start = rng.in_range(1..len);
            let end = rng.in_range(start + 1..(start + 16).min(len) + 1);
            body.drain(start..end);
            format!("delete {start}..{end}")
        }
        _ => {
            let (a, b) = (rng.in_range(1..len), rng.in_range(1..len));
            body.swap(a, b);
            format!("swap bytes {a} and {b}")
        }
    }
}

// ---------------------------------------------------------------- server helpers

fn fuzz_server() -> Server {
    Server::builder()
        .config("sanitize-dump-payload", "yes")
        .start()
}

fn delete(con: &mut Connection, keys: &[&str]) {
    let _: i64 = redis::cmd("DEL").arg(keys).query(con).expect("DEL");
}

fn ping(con: &mut Connection) {
    let pong: String = redis::cmd("PING").query(con).expect("PING");
    assert_eq!(pong, "PONG");
}

/// `used_memory` less the clients' buffers, which follow the size of the
/// last payload sent rather than what the server keeps.
fn kept_memory(con: &mut Connection) -> i64 {
    info_number(con, "memory", "used_memory") - info_number(con, "memory", "mem_clients_normal")
}

/// Checks that a restored key is a coherent MultiMap: every read command agrees
/// with the others, no field is empty, a full SCAN visits each field once, and
/// it survives DUMP/RESTORE unchanged. Leaves the key in place.
fn check_coherent(con: &mut Connection, key: &str) -> Result<(), String> {
    let key_type: String = redis::cmd("TYPE")
        .arg(key)
        .query(con)
        .map_err(|e| e.to_string())?;
    if key_type != "rmultimap" {
        return Err(format!("TYPE is {key_type}"));
    }
    let query = |command: &mut redis::Cmd, con: &mut Connection| -> Result<i64, String> {
        command.query(con).map_err(|e| e.to_string())
    };
    let card = query(redis::cmd("MULTIMAP.CARD").arg(key), con)?;
    let size = query(redis::cmd("MULTIMAP.SIZE").arg(key), con)?;
    let mut fields: Vec<Bytes> = redis::cmd("MULTIMAP.FIELDS")
        .arg(key)
        .query(con)
        .map_err(|e| format!("FIELDS: {e}"))?;
    fields.sort();
    let pairs = try_getall(con, key)?;
    if card == 0 {
        // Every field had expired when the key was loaded: one stays, for
        // active expiry to remove with the key, and no read may see it.
        let scanned = try_scan_all(con, key, NO_OPTIONS)?;
        if size != 0 || !fields.is_empty() || !pairs.is_empty() || !scanned.pairs.is_empty() {
            return Err(format!(
                "CARD 0, yet SIZE {size}, {} FIELDS, {} GETALL fields, {} SCAN fields",
                fields.len(),
                pairs.len(),
                scanned.pairs.len()
            ));
        }
        return Ok(());
    }
    if card < 1 || card as usize != fields.len() || pairs.len() != fields.len() {
        return Err(format!(
            "CARD {card}, {} FIELDS, {} GETALL fields",
            fields.len(),
            pairs.len()
        ));
    }
    if fields.windows(2).any(|pair| pair[0] == pair[1]) {
        return Err("FIELDS lists a field twice".into());
    }
    if pairs.keys().ne(fields.iter()) {
        return Err("FIELDS and GETALL name different fields".into());
    }
    if pairs.values().any(Vec::is_empty) {
        return Err("a field without values".into());
    }
    let total: usize = pairs.values().map(Vec::len).sum();
    if total as i64 != size {
        return Err(format!("SIZE {size}, but GETALL holds {total} values"));
    }

    let mut pipe = redis::pipe();
    for field in pairs.keys() {
        pipe.cmd("MULTIMAP.LEN").arg(key).arg(field);
        pipe.cmd("MULTIMAP.EXISTS").arg(key).arg(field);
        pipe.cmd("MULTIMAP.GET").arg(key).arg(field);
    }
    let replies: Vec<redis::Value> = pipe
        .query(con)
        .map_err(|e| format!("LEN/EXISTS/GET: {e}"))?;
    for ((field, values), replies) in pairs.iter().zip(replies.chunks(3)) {
        let len: i64 = redis::from_redis_value_ref(&replies[0]).map_err(|e| e.to_string())?;
        let exists: i64 = redis::from_redis_value_ref(&replies[1]).map_err(|e| e.to_string())?;
        let got: Vec<Bytes> =
            redis::from_redis_value_ref(&replies[2]).map_err(|e| e.to_string())?;
        if len as usize != values.len() || exists != 1 || &got != values {
            return Err(format!(
                "field {}: LEN {len}, EXISTS {exists}, GET {} values, GETALL {}",
                show_list(std::slice::from_ref(field)),
                got.len(),
                values.len()
            ));
        }
    }

    let mut scanned = try_scan_all(con, key, &["COUNT", "50"])?.fields();
    scanned.sort();
    if scanned != fields {
        return Err(format!(
            "a full SCAN returned {} fields, the key has {}",
            scanned.len(),
            fields.len()
        ));
    }

    // A live field's expiry is still to come, and within range.
    let before = server_time_ms(con);
    let times = try_pexpiretimes(con, key, &fields)?;
    if let Some(time) = times
        .iter()
        .find(|&&time| time != NO_EXPIRY && (time <= before || time as u64 > MAX_EXPIRY_MS))
    {
        return Err(format!("a live field expires at {time}, now is {before}"));
    }

    let again = format!("{key}:again");
    let payload = dump(con, key);
    restore(con, &again, &payload).map_err(|e| format!("RESTORE of its own DUMP: {e}"))?;
    let round_trip = try_getall(con, &again)?;
    let times_again = try_pexpiretimes(con, &again, &fields)?;
    let digests = (try_digest_value(con, key)?, try_digest_value(con, &again)?);
    delete(con, &[&again]);
    if round_trip != pairs {
        return Err("DUMP/RESTORE changed the content".into());
    }
    if times_again != times {
        return Err(format!(
            "DUMP/RESTORE changed the expiries: {times:?} to {times_again:?}"
        ));
    }
    if digests.0 != digests.1 {
        return Err(format!("digests differ after DUMP/RESTORE: {digests:?}"));
    }
    Ok(())
}

/// `MULTIMAP.PEXPIRETIME key FIELDS n field...`, or what went wrong.
fn try_pexpiretimes(con: &mut Connection, key: &str, fields: &[Bytes]) -> Result<Vec<i64>, String> {
    redis::cmd("MULTIMAP.PEXPIRETIME")
        .arg(key)
        .arg("FIELDS")
        .arg(fields.len())
        .arg(fields)
        .query(con)
        .map_err(|e| format!("PEXPIRETIME: {e}"))
}

/// Hex of the first bytes of a payload, for failure messages.
fn hex(bytes: &[u8]) -> String {
    let shown: String = bytes.iter().take(200).map(|b| format!("{b:02x}")).collect();
    if bytes.len() > 200 {
        format!("{shown}... ({} bytes)", bytes.len())
    } else {
        shown
    }
}

/// The keys `seed_payloads` writes.
const SEED_KEYS: [&str; 7] = [
    "seed:small",
    "seed:binary",
    "seed:several",
    "seed:compressible",
    "seed:larger",
    "seed:expiring",
    "seed:all-expiring",
];

/// MultiMap keys whose DUMP payloads seed the fuzzer: (name, genuine payload).
fn seed_payloads(con: &mut Connection) -> Vec<(&'static str, Bytes)> {
    insert(con, "seed:small", b"f", &[b"a"]);

    insert(con, "seed:binary", b"", &[&b""[..], b"\0", b"\xff\xfe"]);
    insert(con, "seed:binary", b"\0\xff", &[&b"x\0"[..], b"\r\n"]);
    // An integer-looking field, which RDB stores in an integer encoding.
    insert(con, "seed:binary", b"42", &[b"-1"]);

    for (field, values) in [
        (&b"a"[..], &[&b"1"[..], b"2", b"2"][..]),
        (b"b", &[b"x"]),
        (b"c", &[b"p", b"q", b"r", b"p"]),
        (b"d", &[b"long value ".repeat(4).as_slice()]),
        (b"e", &[b"", b""]),
    ] {
        insert(con, "seed:several", field, values);
    }

    // Repetitive values, which RDB stores LZF-compressed.
    let repetitive = b"ab".repeat(100);
    insert(con, "seed:compressible", b"f", &[&repetitive, &repetitive]);

    // Two value chunks (they close at 64 KiB) and a few hundred fields.
    let values: Vec<Bytes> = (0..6_000)
        .map(|i| format!("v{i:05}-x").into_bytes())
        .collect();
    let value_refs: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
    insert(con, "seed:larger", b"many", &value_refs);
    let mut pipe = redis::pipe();
    for i in 0..300 {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("seed:larger")
            .arg(format!("field{i}"))
            .arg(format!("{i}"))
            .arg(vec![b'z'; i % 5])
            .ignore();
    }
    pipe.query::<()>(con).expect("pipelined INSERTs");

    // Field expiries far in the future, the same on every run so that the
    // payloads are: encoding 2's section, for some fields...
    let later = MAX_EXPIRY_MS as i64 - 3_600_000;
    for field in 0..12u8 {
        insert(
            con,
            "seed:expiring",
            &[b'e', field][..],
            &[&[field][..], b"x"],
        );
        if field % 3 != 1 {
            pexpireat(
                con,
                b"seed:expiring",
                later + i64::from(field) * 1000,
                &[[b'e', field]],
            );
        }
    }
    // ...and for every field.
    for field in [&b"a"[..], b"b\0", b""] {
        insert(con, "seed:all-expiring", field, &[b"v"]);
        pexpireat(con, b"seed:all-expiring", later, &[field]);
    }

    let mut seeds: Vec<(&'static str, Bytes)> = SEED_KEYS
        .into_iter()
        .map(|key| (key, dump(con, key)))
        .collect();
    let v0 = v0_payload(&seeds[0].1, &v0_sample());
    seeds.push(("v0 (hand-built)", v0));
    seeds
}

/// Content in the original module's layout: field → values.
type V0Content = Vec<(&'static [u8], Vec<&'static [u8]>)>;

fn v0_sample() -> V0Content {
    vec![
        (b"colors", vec![b"red", b"green", b"blue"]),
        (b"empty-ish", vec![b""]),
        (b"bin\0ary", vec![b"\0", b"\xff"]),
    ]
}

/// A payload as the original module wrote it (encoding version 0): the field
/// count; per field the field with a trailing NUL, the value count, and each
/// value with a trailing NUL. The module id comes from a genuine payload.
fn v0_payload(genuine: &[u8], content: &V0Content) -> Bytes {
    let (body, version) = unframe(genuine);
    let (id, _) = plain_length(&body, 1);
    let with_nul = |bytes: &[u8]| [bytes, b"\0"].concat();
    let mut v0 = vec![RDB_TYPE_MODULE_2];
    v0.extend(encode_length_64(id & !1023));
    v0.extend(encode_length(OPCODE_UINT));
    v0.extend(encode_length(content.len() as u64));
    for (field, values) in content {
        v0.extend(encode_length(OPCODE_STRING));
        v0.extend(encode_string(&with_nul(field)));
        v0.extend(encode_length(OPCODE_UINT));
        v0.extend(encode_length(values.len() as u64));
        for value in values {
            v0.extend(encode_length(OPCODE_STRING));
            v0.extend(encode_string(&with_nul(value)));
        }
    }
    v0.extend(encode_length(OPCODE_EOF));
    frame(&v0, version)
}

/// Why one RESTORE went wrong, with everything needed to replay it.
struct Case<'a> {
    seed: &'a Seed,
    iteration: usize,
    seed_name: &'a str,
    mutations: &'a [String],
    payload: &'a [u8],
}

impl fmt::Display for Case<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} iteration {}: seed {} mutated by {:?}; payload {}",
            self.seed,
            self.iteration,
            self.seed_name,
            self.mutations,
            hex(self.payload)
        )
    }
}

// ---------------------------------------------------------------- tests

#[test]
fn crc64_matches_redis_check_value() {
    assert_eq!(crc64(b"123456789"), 0xe9c6_d914_c4b8_d9ca);
    assert_eq!(crc64(b""), 0);
}

#[test]
fn reframed_dump_payload_is_unchanged_and_accepted() {
    let server = fuzz_server();
    let mut con = server.connect();
    for (name, payload) in seed_payloads(&mut con) {
        let (body, version) = unframe(&payload);
        assert_eq!(frame(&body, version), payload, "{name}");
        let layout = layout(&body);
        assert!(!layout.counts.is_empty(), "{name}");
        restore(&mut con, "copy", &payload).unwrap_or_else(|e| panic!("{name}: {e}"));
        check_coherent(&mut con, "copy").unwrap_or_else(|e| panic!("{name}: {e}"));
        delete(&mut con, &["copy"]);
    }
}

#[test]
fn hand_built_v0_payload_restores_with_trailing_nul_stripped() {
    let server = fuzz_server();
    let mut con = server.connect();
    insert(&mut con, "genuine", b"f", &[b"v"]);
    let payload = v0_payload(&dump(&mut con, "genuine"), &v0_sample());
    restore(&mut con, "restored", &payload).expect("RESTORE of a v0 payload");
    let expected: Fields = v0_sample()
        .into_iter()
        .map(|(field, values)| {
            let values = values.into_iter().map(<[u8]>::to_vec).collect();
            (field.to_vec(), values)
        })
        .collect();
    assert_eq!(getall(&mut con, "restored"), expected);
    check_coherent(&mut con, "restored").unwrap();
}

/// RESTORE reads the value from the whole payload, footer included, so a value
/// cut short can be completed by the footer's first bytes (the RDB version,
/// `0a 00`): such a payload loads, as a coherent key. A value ending with an
/// expiry time can be completed in more ways, by the time's last bytes and a
/// zero byte of the CRC for its end: at most one per byte of that time (its
/// opcode must be there), and its EOF. Every other truncation is rejected.
#[test]
fn truncated_payloads_are_rejected_unless_the_footer_completes_them() {
    let mut server = fuzz_server();
    let mut con = server.connect();
    for (name, payload) in seed_payloads(&mut con) {
        if name == "seed:larger" {
            continue;
        }
        let (body, version) = unframe(&payload);
        let mut completed_by_footer = 0;
        for len in 1..body.len() {
            let truncated = frame(&body[..len], version);
            match restore(&mut con, "truncated", &truncated) {
                Ok(()) => {
                    completed_by_footer += 1;
                    check_coherent(&mut con, "truncated")
                        .unwrap_or_else(|problem| panic!("{name} cut to {len}: {problem}"));
                    delete(&mut con, &["truncated"]);
                }
                Err(error) => assert_eq!(error_text(&error), BAD_DATA_FORMAT, "{name} at {len}"),
            }
        }
        let completions = if name == "seed:expiring" || name == "seed:all-expiring" {
            10
        } else {
            1
        };
        assert!(
            completed_by_footer <= completions,
            "{name}: {completed_by_footer} truncations accepted"
        );
    }
    assert!(server.is_alive());
    ping(&mut con);
}

#[test]
fn forged_huge_counts_and_lengths_are_rejected() {
    let mut server = fuzz_server();
    let mut con = server.connect();
    for (name, payload) in seed_payloads(&mut con) {
        let (body, version) = unframe(&payload);
        let layout = layout(&body);
        for site in layout.counts.iter().chain(&layout.string_lengths) {
            for forged in FORGED_BIG {
                let mut body = body.clone();
                body.splice(site.clone(), encode_length_64(forged));
                let forged_payload = frame(&body, version);
                match restore(&mut con, "forged", &forged_payload) {
                    Ok(()) => panic!("{name}: {forged:#x} at {} was accepted", site.start),
                    Err(error) => assert_eq!(
                        error_text(&error),
                        BAD_DATA_FORMAT,
                        "{name}: {forged:#x} at {}",
                        site.start
                    ),
                }
            }
        }
        assert!(server.is_alive(), "{name}");
    }
    ping(&mut con);
}

/// The field names of a serialized value's records, in the order saved
/// (the order encoding 2's positions count in): each record starts with its
/// name's length, one LEB128 byte for the short names used here.
fn record_fields(body: &[u8]) -> Vec<Bytes> {
    let layout = layout(body);
    let mut names = Vec::new();
    let mut pos = layout.module_id.end;
    loop {
        let (opcode, width) = plain_length(body, pos);
        pos += width;
        match opcode {
            OPCODE_EOF => return names,
            OPCODE_UINT => pos += plain_length(body, pos).1,
            OPCODE_STRING => {
                let (len, width) = plain_length(body, pos);
                let record = &body[pos + width..pos + width + len as usize];
                let name_len = usize::from(record[0]);
                assert!(name_len < 0x80, "a short field name");
                names.push(record[1..1 + name_len].to_vec());
                pos += width + len as usize;
            }
            other => panic!("unexpected module opcode {other} at {pos}"),
        }
    }
}

/// `payload` with its expiry section replaced by `numbers` (the count, then
/// position and time pairs), each after the unsigned opcode, under
/// `encoding_version`.
fn with_expiry_section(payload: &[u8], numbers: &[u64], encoding_version: u64) -> Bytes {
    let (mut body, version) = unframe(payload);
    let layout = layout(&body);
    let expiries = layout.expiries.expect("an encoding-2 value");
    let section: Bytes = numbers
        .iter()
        .flat_map(|&number| [encode_length(OPCODE_UINT), encode_length(number)].concat())
        .collect();
    body.splice(expiries.section, section);
    let (id, _) = plain_length(&body, layout.module_id.start);
    body.splice(
        layout.module_id,
        encode_length_64((id & !1023) | encoding_version),
    );
    frame(&body, version)
}

/// How many times the log says the loader rejected a value for `reason`.
fn rejections(server: &Server, reason: &str) -> usize {
    let line = format!("multimap: rejected a stored value: {reason}");
    server.log_text().matches(&line).count()
}

/// Encoding 2's expiry section is validated like any hostile input: more
/// expiries than fields, a position past the fields or not after the one
/// before, a time of 0 or past 2^46 - 1, a section cut short or missing are
/// all refused (the first ones with the loader's reason in the log); valid
/// sections load with exactly their times, a time already past dropping its
/// field. Without a section, encoding 1 still loads.
#[test]
fn forged_expiry_sections_are_rejected_or_loaded_exactly() {
    let mut server = fuzz_server();
    let mut con = server.connect();
    for (field, values) in [
        ("a", &["1", "2"][..]),
        ("b", &["3"]),
        ("c", &["4", "5", "6"]),
    ] {
        insert(&mut con, "three", field, values);
    }
    let genuine = dump(&mut con, "three");
    let fields = record_fields(&unframe(&genuine).0);
    assert_eq!(fields.len(), 3);
    let content = getall(&mut con, "three");
    let now = server_time_ms(&mut con) as u64;
    let (t1, t2) = (now + 3_600_000, now + 7_200_000);

    let rejected: [(&[u64], Option<&str>); 13] = [
        (
            &[4, 0, t1, 1, t1, 2, t1, 2, t1],
            Some("more field expiries than fields"),
        ),
        (&[u64::MAX], Some("more field expiries than fields")),
        (&[1, 3, t1], Some("a malformed field expiry")),
        (&[1, u64::MAX, t1], Some("a malformed field expiry")),
        (&[2, 1, t1, 1, t2], Some("field expiries out of order")),
        (&[2, 2, t1, 0, t2], Some("field expiries out of order")),
        (&[1, 0, 0], Some("a malformed field expiry")),
        (&[1, 0, MAX_EXPIRY_MS + 1], Some("a malformed field expiry")),
        (&[1, 0, u64::MAX], Some("a malformed field expiry")),
        // Cut short: read errors, which need no reason.
        (&[], None),
        (&[2, 0, t1], None),
        (&[1, 0], None),
        (&[3, 0, t1, 1, t2], None),
    ];
    for (numbers, reason) in rejected {
        let before = reason.map(|reason| rejections(&server, reason));
        let payload = with_expiry_section(&genuine, numbers, 2);
        let error = restore(&mut con, "forged", &payload)
            .expect_err(&format!("a section {numbers:?} was accepted"));
        assert_eq!(error_text(&error), BAD_DATA_FORMAT, "{numbers:?}");
        if let (Some(reason), Some(before)) = (reason, before) {
            assert_eq!(
                rejections(&server, reason),
                before + 1,
                "{numbers:?}: {reason}"
            );
        }
    }
    // A section under encoding 1 is not part of its value.
    let payload = with_expiry_section(&genuine, &[1, 0, t1], 1);
    assert!(restore(&mut con, "forged", &payload).is_err());
    assert!(server.is_alive());

    let time = |position: usize, time: u64| (position, time as i64);
    // (section, encoding version, the PEXPIRETIME of a field by position).
    type Accepted<'a> = (&'a [u64], u64, &'a [(usize, i64)]);
    let accepted: [Accepted; 5] = [
        (&[0], 2, &[]),
        (&[], 1, &[]),
        (&[1, 2, t1], 2, &[time(2, t1)]),
        (
            &[3, 0, t1, 1, t2, 2, MAX_EXPIRY_MS],
            2,
            &[time(0, t1), time(1, t2), time(2, MAX_EXPIRY_MS)],
        ),
        // Already past: the field is dropped as it loads.
        (&[2, 0, 1, 1, t1], 2, &[(0, NO_FIELD), time(1, t1)]),
    ];
    for (numbers, version, expiries) in accepted {
        let payload = with_expiry_section(&genuine, numbers, version);
        restore(&mut con, "loaded", &payload)
            .unwrap_or_else(|error| panic!("{numbers:?} under encoding {version}: {error}"));
        let mut expected: Vec<(Bytes, i64)> = fields
            .iter()
            .map(|field| (field.clone(), NO_EXPIRY))
            .collect();
        for &(position, time) in expiries {
            expected[position].1 = time;
        }
        let times = try_pexpiretimes(&mut con, "loaded", &fields).unwrap();
        let got: Vec<(Bytes, i64)> = fields.iter().cloned().zip(times).collect();
        assert_eq!(got, expected, "{numbers:?}");
        let mut live = content.clone();
        live.retain(|field, _| {
            expected
                .iter()
                .any(|(name, time)| name == field && *time != NO_FIELD)
        });
        assert_eq!(getall(&mut con, "loaded"), live, "{numbers:?}");
        check_coherent(&mut con, "loaded")
            .unwrap_or_else(|problem| panic!("{numbers:?}: {problem}"));
        delete(&mut con, &["loaded"]);
    }

    // Every field already past: no read sees the key, and active expiry
    // removes it.
    let payload = with_expiry_section(&genuine, &[3, 0, 1, 1, 2, 2, 3], 2);
    restore(&mut con, "past", &payload).expect("RESTORE of a key whose fields all expired");
    check_coherent(&mut con, "past").unwrap();
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "past")), 0);
    let restored = server_time_ms(&mut con);
    wait_for_key_removed(&mut con, b"past", restored);
    assert!(server.is_alive());
}

#[test]
fn mutated_dump_payloads_never_crash_leak_or_load_incoherent_keys() {
    let seed = seed();
    let iterations = env_number("MULTIMAP_FUZZ_ITERATIONS").map_or(FUZZ_ITERATIONS, |n| n as usize);
    let mut rng = seed.rng();
    let mut server = fuzz_server();
    let mut con = server.connect();
    let seeds: Vec<(&str, Bytes, [u8; 2], Layout)> = seed_payloads(&mut con)
        .into_iter()
        .map(|(name, payload)| {
            let (body, version) = unframe(&payload);
            let layout = layout(&body);
            (name, body, version, layout)
        })
        .collect();

    let (mut accepted, mut rejected) = (0, 0);
    let mut baseline = None;
    for iteration in 0..FUZZ_WARMUP + iterations {
        if iteration == FUZZ_WARMUP {
            baseline = Some(kept_memory(&mut con));
        }
        let (seed_name, seed_body, version, layout) = rng.pick(&seeds);
        let mut body = seed_body.clone();
        let mut mutations = Vec::new();
        if rng.in_range(0..2) == 0 {
            mutations.push(structured_mutation(&mut rng, &mut body, layout));
        }
        for _ in 0..rng.in_range(usize::from(mutations.is_empty())..3) {
            mutations.push(raw_mutation(&mut rng, &mut body));
        }
        assert_eq!(body[0], RDB_TYPE_MODULE_2);
        let payload = frame(&body, *version);
        let case = Case {
            seed: &seed,
            iteration,
            seed_name,
            mutations: &mutations,
            payload: &payload,
        };

        let key = format!("fuzz:{iteration}");
        match restore(&mut con, &key, &payload) {
            Ok(()) => {
                accepted += 1;
                if let Err(problem) = check_coherent(&mut con, &key) {
                    panic!("{case}\nthe restored key is incoherent: {problem}");
                }
                delete(&mut con, &[&key]);
            }
            Err(error) => {
                rejected += 1;
                assert!(
                    error.code().is_some(),
                    "{case}\nno reply from the server: {error}"
                );
                assert_eq!(error_text(&error), BAD_DATA_FORMAT, "{case}");
            }
        }
        assert!(server.is_alive(), "{case}\nthe server died");
        if iteration % 100 == 0 {
            ping(&mut con);
        }
    }
    ping(&mut con);
    assert!(server.is_alive());
    eprintln!("{accepted} payloads accepted, {rejected} rejected");
    let log = server.log_text();
    let mut reasons: Vec<&str> = log
        .lines()
        .filter_map(|line| line.split_once("multimap: rejected a stored value: "))
        .map(|(_, reason)| reason)
        .collect();
    reasons.sort_unstable();
    reasons.dedup();
    eprintln!("the module's loader rejected: {reasons:?}");
    // Some payloads must get past Redis's own checks into the module's.
    assert!(
        !reasons.is_empty(),
        "the module's loader never rejected a payload"
    );
    assert!(
        rejected >= iterations / 4,
        "too few rejections ({rejected}): the mutations miss the loader"
    );
    assert!(
        accepted > 0,
        "no mutated payload loaded: the checks never ran"
    );

    let baseline = baseline.unwrap();
    assert_eq!(
        dbsize(&mut con),
        SEED_KEYS.len() as i64,
        "only the seed keys remain"
    );
    // Values freed on the lazy-free thread may leave memory a moment later.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut growth = kept_memory(&mut con) - baseline;
    while growth > MEMORY_GROWTH_BOUND && Instant::now() < deadline {
        sleep(Duration::from_millis(50));
        growth = kept_memory(&mut con) - baseline;
    }
    eprintln!("memory kept after the warm-up grew by {growth} bytes");
    assert!(
        growth <= MEMORY_GROWTH_BOUND,
        "{seed}: memory grew by {growth} bytes over \
         {iterations} payloads ({rejected} rejected in all)"
    );
}
