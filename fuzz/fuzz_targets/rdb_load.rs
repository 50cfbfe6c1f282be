//! Feeds arbitrary bytes to the RDB loader as a stream of numbers and buffers:
//! it must never panic, and whatever it accepts must be a coherent map that
//! saves and loads back to itself.
#![no_main]

use libfuzzer_sys::fuzz_target;
use redis_multimap::rdb;
use redis_multimap::rdb::byte_stream::{sorted_content, ByteStream};

fuzz_target!(|data: &[u8]| {
    let Some((&version, payload)) = data.split_first() else {
        return;
    };
    // Mostly the versions we read, sometimes others.
    let version = i32::from(version % 3);
    let Some(map) = rdb::load(&mut ByteStream::new(payload), version) else {
        return;
    };
    assert!(!map.is_empty());
    let values: usize = map.iter().map(|(_, values)| values.len()).sum();
    assert_eq!(values, map.value_count());
    assert_eq!(map.iter().len(), map.field_count());
    assert!(map.iter().all(|(_, values)| !values.is_empty()));
    let mut saved = Vec::new();
    rdb::save(&map, &mut saved);
    let reloaded = rdb::load(&mut ByteStream::new(&saved), rdb::ENCODING_VERSION)
        .expect("what we save loads back");
    assert_eq!(sorted_content(&reloaded), sorted_content(&map));
});
