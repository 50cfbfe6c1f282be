//! Fields and values are binary-safe byte strings: NUL bytes, invalid UTF-8,
//! empty strings and multi-megabyte values come back byte for byte through
//! every command that returns them.

mod common;

use common::{
    fields_bytes, get_bytes, getall, insert, integer, key_exists, query, scan_all, sorted, Bytes,
    Fields, Server, NO_OPTIONS,
};
use redis::Value;

/// FIELDS, GETALL and a full SCAN all return exactly `expected`, byte for byte.
fn assert_reads_return(con: &mut redis::Connection, key: &str, expected: &Fields) {
    let names: Vec<Bytes> = expected.keys().cloned().collect();
    assert_eq!(sorted(fields_bytes(con, key)), names, "FIELDS");
    assert_eq!(getall(con, key), *expected, "GETALL");
    assert_eq!(scan_all(con, key, NO_OPTIONS).content(), *expected, "SCAN");
}

#[test]
fn nul_bytes_in_fields_and_values_round_trip() {
    let mut server = Server::start();
    let mut con = server.connect();
    let field: &[u8] = b"fi\0eld";
    let values: [&[u8]; 4] = [b"\0", b"a\0b", b"\0\0\0", b"line\r\nbreak\0"];
    assert_eq!(insert(&mut con, "k", field, &values), 4);
    let expected: Vec<Bytes> = values.iter().map(|v| v.to_vec()).collect();
    assert_eq!(get_bytes(&mut con, "k", field), expected);
    let content = Fields::from([(field.to_vec(), expected.clone())]);
    assert_reads_return(&mut con, "k", &content);
    // The bytes before the NUL name another, missing field.
    assert_eq!(integer(&mut con, ("MULTIMAP.EXISTS", "k", b"fi")), 0);
    assert_eq!(
        integer(&mut con, ("MULTIMAP.CONTAINS", "k", field, b"a\0b")),
        1
    );
    assert_eq!(
        integer(&mut con, ("MULTIMAP.CONTAINS", "k", field, b"a")),
        0
    );
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", "k", field, b"\0")), 1);
    assert_eq!(get_bytes(&mut con, "k", field), expected[1..].to_vec());
    assert!(server.is_alive());
}

#[test]
fn strings_differing_only_after_a_nul_byte_are_distinct() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", b"f", &[b"v"]);
    insert(&mut con, "k", b"f\0", &[b"v\0"]);
    insert(&mut con, "k", b"f\0x", &[b"v\0x"]);
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "k")), 3);
    assert_eq!(get_bytes(&mut con, "k", b"f"), [b"v".to_vec()]);
    assert_eq!(get_bytes(&mut con, "k", b"f\0"), [b"v\0".to_vec()]);
    assert_eq!(get_bytes(&mut con, "k", b"f\0x"), [b"v\0x".to_vec()]);
    insert(&mut con, "k", b"f", &[&b"v\0"[..], b"v\0x"]);
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", "k", b"f", b"v")), 1);
    assert_eq!(
        get_bytes(&mut con, "k", b"f"),
        [b"v\0".to_vec(), b"v\0x".to_vec()]
    );
}

#[test]
fn invalid_utf8_in_fields_and_values_round_trips() {
    let server = Server::start();
    let mut con = server.connect();
    let field: &[u8] = &[0xff, 0xfe, 0x80];
    let values: [&[u8]; 3] = [&[0xff, 0xfe], &[0xc3, 0x28], &[0xed, 0xa0, 0x80]];
    insert(&mut con, "k", field, &values);
    let expected: Vec<Bytes> = values.iter().map(|v| v.to_vec()).collect();
    assert_eq!(get_bytes(&mut con, "k", field), expected);
    let ranged: Vec<Bytes> = query(&mut con, ("MULTIMAP.RANGE", "k", field, 1, -1));
    assert_eq!(ranged, expected[1..].to_vec());
    assert_reads_return(&mut con, "k", &Fields::from([(field.to_vec(), expected)]));
    assert_eq!(
        integer(
            &mut con,
            ("MULTIMAP.CONTAINS", "k", field, &[0xff_u8, 0xfe][..])
        ),
        1
    );
}

#[test]
fn every_byte_value_round_trips() {
    let server = Server::start();
    let mut con = server.connect();
    let all_bytes: Bytes = (0..=255).collect();
    let single_bytes: Vec<Bytes> = (0..=255u8).map(|b| vec![b]).collect();
    let single_refs: Vec<&[u8]> = single_bytes.iter().map(Vec::as_slice).collect();
    insert(&mut con, "k", &all_bytes, &single_refs);
    insert(&mut con, "k", b"all", &[&all_bytes]);
    assert_eq!(get_bytes(&mut con, "k", &all_bytes), single_bytes);
    assert_eq!(get_bytes(&mut con, "k", b"all"), [all_bytes]);
    for field in &single_bytes {
        insert(&mut con, "bytes", field, &[field]);
    }
    let content: Fields = single_bytes
        .iter()
        .map(|b| (b.clone(), vec![b.clone()]))
        .collect();
    assert_reads_return(&mut con, "bytes", &content);
}

#[test]
fn empty_field_name_is_a_field_like_any_other() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, ("MULTIMAP.EXISTS", "k", b"")), 0);
    assert_eq!(insert(&mut con, "k", b"", &[b"v"]), 1);
    assert_eq!(integer(&mut con, ("MULTIMAP.EXISTS", "k", b"")), 1);
    assert_eq!(integer(&mut con, ("MULTIMAP.LEN", "k", b"")), 1);
    assert_eq!(get_bytes(&mut con, "k", b""), [b"v".to_vec()]);
    let content = Fields::from([(Bytes::new(), vec![b"v".to_vec()])]);
    assert_reads_return(&mut con, "k", &content);
    // Distinct from a field with a name.
    assert_eq!(integer(&mut con, ("MULTIMAP.EXISTS", "k", b" ")), 0);
    assert_eq!(integer(&mut con, ("MULTIMAP.DEL", "k", b"")), 1);
    assert!(!key_exists(&mut con, "k"));
}

#[test]
fn empty_value_is_a_value_like_any_other() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(insert(&mut con, "k", b"f", &[&b""[..], b"a", b""]), 3);
    assert_eq!(
        get_bytes(&mut con, "k", b"f"),
        [b"".to_vec(), b"a".to_vec(), b"".to_vec()]
    );
    assert_eq!(integer(&mut con, ("MULTIMAP.LEN", "k", b"f")), 3);
    assert_eq!(integer(&mut con, ("MULTIMAP.CONTAINS", "k", b"f", b"")), 1);
    // An empty value is not the same as a missing field.
    assert_eq!(integer(&mut con, ("MULTIMAP.CONTAINS", "k", b"g", b"")), 0);
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", "k", b"f", b"")), 2);
    assert_eq!(get_bytes(&mut con, "k", b"f"), [b"a".to_vec()]);
    assert_eq!(integer(&mut con, ("MULTIMAP.CONTAINS", "k", b"f", b"")), 0);
}

#[test]
fn field_holding_only_an_empty_value_is_distinct_from_missing_field() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", b"", &[b""]);
    let present: Value = query(&mut con, ("MULTIMAP.GET", "k", ""));
    assert_eq!(present, Value::Array(vec![Value::BulkString(vec![])]));
    let missing: Value = query(&mut con, ("MULTIMAP.GET", "k", "x"));
    assert_eq!(missing, Value::Array(vec![]));
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "k")), 1);
    assert_eq!(integer(&mut con, ("MULTIMAP.SIZE", "k")), 1);
    assert_eq!(
        integer(&mut con, ("MULTIMAP.REPLACE", "k", b"", b"", b"")),
        2
    );
    assert_eq!(get_bytes(&mut con, "k", b""), [Bytes::new(), Bytes::new()]);
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", "k", b"", b"")), 2);
    assert!(!key_exists(&mut con, "k"));
}

#[test]
fn multi_megabyte_value_round_trips_byte_for_byte() {
    let mut server = Server::start();
    let mut con = server.connect();
    // 5 MiB covering every byte value, with no period that lines up with the length.
    let big: Bytes = (0..5 * 1024 * 1024u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    assert!(big.contains(&0) && big.contains(&0xff));
    assert_eq!(insert(&mut con, "k", b"big", &[&b"small"[..], &big]), 2);
    let got = get_bytes(&mut con, "k", b"big");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], b"small");
    assert!(got[1] == big, "GET changed the 5 MiB value");
    let last: Vec<Bytes> = query(&mut con, ("MULTIMAP.RANGE", "k", "big", -1, -1));
    assert!(last.len() == 1 && last[0] == big, "RANGE changed the value");
    let all = getall(&mut con, "k");
    assert!(
        all.len() == 1 && all[b"big".as_slice()][1] == big,
        "GETALL changed the value"
    );
    let scanned = scan_all(&mut con, "k", NO_OPTIONS).content();
    assert!(
        scanned.len() == 1 && scanned[b"big".as_slice()][1] == big,
        "SCAN changed the value"
    );
    assert_eq!(
        integer(&mut con, ("MULTIMAP.CONTAINS", "k", b"big", &big)),
        1
    );
    // A big field name too.
    insert(&mut con, "k", &big, &[b"v"]);
    assert_eq!(get_bytes(&mut con, "k", &big), [b"v".to_vec()]);
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", "k", b"big", &big)), 1);
    assert_eq!(get_bytes(&mut con, "k", b"big"), [b"small".to_vec()]);
    assert!(server.is_alive());
}

#[test]
fn binary_key_names_work() {
    let server = Server::start();
    let mut con = server.connect();
    let key: &[u8] = b"key\0\xff";
    let inserted: i64 = query(&mut con, ("MULTIMAP.INSERT", key, "f", "v"));
    assert_eq!(inserted, 1);
    assert!(!key_exists(&mut con, b"key"));
    let values: Vec<String> = query(&mut con, ("MULTIMAP.GET", key, "f"));
    assert_eq!(values, ["v"]);
}
