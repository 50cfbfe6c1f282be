//! Feeds arbitrary bytes to the RDB loader as a stream of numbers and buffers:
//! it must never panic, and whatever it accepts must be a coherent map, field
//! expiries included, that saves and loads back to itself.
//!
//! Half the inputs are raw streams read as any encoding version; the other
//! half are a well-formed map followed by an encoding-2 expiry section made
//! from the fuzzer's bytes (counts, positions and times drawn mostly from
//! the edges: past the fields, repeated, out of order, 0, past the largest
//! time), so that the expiry loader is reached on every run. Such a payload
//! must load exactly when its section is valid, and then with exactly its
//! times.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_multimap::multimap::{MultiMap, MAX_EXPIRY_MS};
use redis_multimap::rdb::byte_stream::{sorted_content, ByteStream};
use redis_multimap::rdb::{self, RdbOutput};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    if selector & 1 == 0 {
        // Mostly the versions we read, sometimes another.
        let version = i32::from((selector >> 1) % 4);
        if let Some(map) = rdb::load(&mut ByteStream::new(rest), version) {
            check(&map);
        }
    } else {
        expiry_section(&mut Input(rest));
    }
});

/// Each field with its values and expiry time (0 for none), fields sorted.
type TimedContent = Vec<(Vec<u8>, Vec<Vec<u8>>, u64)>;

fn timed_content(map: &MultiMap) -> TimedContent {
    let times = map.expiry_times();
    let mut content: TimedContent = map
        .iter()
        .enumerate()
        .map(|(position, (field, values))| {
            let time = times.map_or(0, |times| times[position]);
            let values = values.iter().map(<[u8]>::to_vec).collect();
            (field.to_vec(), values, time)
        })
        .collect();
    content.sort();
    content
}

/// A loaded map is coherent, and saves and loads back to itself.
fn check(map: &MultiMap) {
    assert!(!map.is_empty());
    let values: usize = map.iter().map(|(_, values)| values.len()).sum();
    assert_eq!(values, map.value_count());
    assert_eq!(map.iter().len(), map.field_count());
    assert!(map.iter().all(|(_, values)| !values.is_empty()));
    if let Some(times) = map.expiry_times() {
        assert_eq!(times.len(), map.field_count());
        assert!(times.iter().all(|&time| time <= MAX_EXPIRY_MS));
        let expiring = times.iter().filter(|&&time| time != 0).count();
        assert_eq!(expiring, map.expiring_field_count());
        assert!(expiring > 0, "expiry times kept for a map without any");
    } else {
        assert_eq!(map.expiring_field_count(), 0);
    }
    let mut saved = Vec::new();
    rdb::save(map, &mut saved);
    let reloaded = rdb::load(&mut ByteStream::new(&saved), rdb::ENCODING_VERSION)
        .expect("what we save loads back");
    assert_eq!(sorted_content(&reloaded), sorted_content(map));
    assert_eq!(timed_content(&reloaded), timed_content(map));
}

/// Reads the fuzzer's bytes as choices.
struct Input<'a>(&'a [u8]);

impl Input<'_> {
    fn byte(&mut self) -> Option<u8> {
        let (&first, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(first)
    }

    fn u64(&mut self) -> Option<u64> {
        let bytes = self.0.get(..8)?;
        self.0 = &self.0[8..];
        Some(u64::from_le_bytes(bytes.try_into().ok()?))
    }

    /// A number from the edges around `near` (a count or position), or any.
    fn count_near(&mut self, near: u64) -> Option<u64> {
        Some(match self.byte()? % 8 {
            0 => near,
            1 => near.wrapping_sub(1),
            2 => near.wrapping_add(1),
            3 => 0,
            4 => u64::MAX,
            5 => 1 << 32,
            6 => u64::from(self.byte()? % 10),
            _ => self.u64()?,
        })
    }

    /// An expiry time from the edges of what is valid, or any.
    fn time(&mut self) -> Option<u64> {
        Some(match self.byte()? % 8 {
            0 => 0,
            1 => 1,
            2 => MAX_EXPIRY_MS,
            3 => MAX_EXPIRY_MS + 1,
            4 => u64::MAX,
            5 => 1 << 63,
            6 => 1 + self.u64()? % MAX_EXPIRY_MS,
            _ => self.u64()?,
        })
    }
}

/// A map of up to 8 fields saved as encoding 1, then an expiry section from
/// the input, perhaps cut short: loads exactly when the section is whole and
/// valid, with exactly its times.
fn expiry_section(input: &mut Input) -> Option<()> {
    let fields = u64::from(1 + input.byte()? % 8);
    let mut map = MultiMap::new();
    for field in 0..fields as u8 {
        let values: Vec<[u8; 2]> = (0..=field % 3).map(|value| [field, value]).collect();
        map.insert(&[field, 0xff], values.iter().map(|value| &value[..]));
    }
    let mut payload = Vec::new();
    payload.save_unsigned(fields);
    for (record, value_count) in map.records() {
        payload.save_unsigned(value_count as u64);
        payload.save_buffer(record);
    }

    let count = input.count_near(fields)?;
    payload.save_unsigned(count);
    let mut valid = count <= fields;
    let mut times = vec![0u64; fields as usize];
    let mut previous: Option<u64> = None;
    let mut written = 0;
    // A forged count is followed by as many pairs as the input has bytes for.
    while written < count {
        let Some(position) = (match input.byte() {
            Some(choice) if choice % 4 == 0 => previous,
            Some(_) => input.count_near(previous.map_or(0, |p| p.wrapping_add(1))),
            None => None,
        }) else {
            break;
        };
        let Some(time) = input.time() else {
            break;
        };
        payload.save_unsigned(position);
        payload.save_unsigned(time);
        written += 1;
        let in_order = previous.is_none_or(|previous| position > previous);
        if !in_order || position >= fields || time == 0 || time > MAX_EXPIRY_MS {
            valid = false;
        } else if valid {
            times[position as usize] = time;
        }
        previous = Some(position);
    }
    valid &= written == count;
    if let Some(cut) = input.byte() {
        if cut % 4 == 0 {
            let removed = 1 + usize::from(cut / 4) % 16;
            payload.truncate(payload.len().saturating_sub(removed));
            valid = false;
        }
    }

    let loaded = rdb::load(&mut ByteStream::new(&payload), 2);
    assert_eq!(loaded.is_some(), valid, "count {count}, {written} pairs");
    let loaded = loaded?;
    check(&loaded);
    // Positions count in the order the records were saved, which `iter`
    // lists too.
    let mut expected: TimedContent = map
        .iter()
        .zip(times)
        .map(|((field, values), time)| {
            let values = values.iter().map(<[u8]>::to_vec).collect();
            (field.to_vec(), values, time)
        })
        .collect();
    expected.sort();
    assert_eq!(timed_content(&loaded), expected);
    Some(())
}
