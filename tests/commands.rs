//! What a client sees from each MULTIMAP command on well-formed input: exact
//! replies, missing keys and fields, emptied fields and keys, the command
//! table, and commands inside transactions and scripts.

mod common;

use common::{
    command_info, dbsize, error_reply, fields, get, getall, insert, integer, is_redis_7,
    key_exists, key_type, loaded_module_names, query, read_commands, run, seed, skip_unless,
    sorted, write_commands, Fields, Server, COMMANDS,
};
use redis::{Connection, Value};

fn range(con: &mut Connection, key: &str, field: &str, start: i64, stop: i64) -> Vec<String> {
    redis::cmd("MULTIMAP.RANGE")
        .arg(key)
        .arg(field)
        .arg(start)
        .arg(stop)
        .query(con)
        .expect("MULTIMAP.RANGE")
}

fn bulk(text: &str) -> Value {
    Value::BulkString(text.as_bytes().to_vec())
}

fn bulk_array(items: &[&str]) -> Value {
    Value::Array(items.iter().map(|item| bulk(item)).collect())
}

// ---------------------------------------------------------------- INSERT

#[test]
fn insert_replies_with_field_length_after_appending() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(insert(&mut con, "k", "f", &["a", "b"]), 2);
    assert_eq!(insert(&mut con, "k", "f", &["c"]), 3);
    assert_eq!(insert(&mut con, "k", "g", &["x"]), 1);
    assert_eq!(get(&mut con, "k", "f"), ["a", "b", "c"]);
    assert_eq!(get(&mut con, "k", "g"), ["x"]);
}

#[test]
fn insert_creates_key_of_type_rmultimap() {
    let server = Server::start();
    let mut con = server.connect();
    assert!(!key_exists(&mut con, "k"));
    insert(&mut con, "k", "f", &["v"]);
    assert!(key_exists(&mut con, "k"));
    assert_eq!(key_type(&mut con, "k"), "rmultimap");
}

#[test]
fn insert_keeps_duplicates_in_insertion_order() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(insert(&mut con, "k", "f", &["a", "b", "a"]), 3);
    assert_eq!(insert(&mut con, "k", "f", &["b", "a"]), 5);
    assert_eq!(get(&mut con, "k", "f"), ["a", "b", "a", "b", "a"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 5);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 5);
}

#[test]
fn insert_into_one_field_leaves_other_fields_alone() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a"]);
    insert(&mut con, "k", "g", &["b"]);
    insert(&mut con, "k", "f", &["c"]);
    assert_eq!(get(&mut con, "k", "f"), ["a", "c"]);
    assert_eq!(get(&mut con, "k", "g"), ["b"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 2);
}

#[test]
fn command_names_are_case_insensitive() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, &["multimap.insert", "k", "f", "v"]), 1);
    assert_eq!(integer(&mut con, &["MultiMap.Insert", "k", "f", "w"]), 2);
    let values: Vec<String> = query(&mut con, ("mUlTiMaP.gEt", "k", "f"));
    assert_eq!(values, ["v", "w"]);
}

// ---------------------------------------------------------------- GET / VALUES

#[test]
fn get_returns_values_in_insertion_order() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["z", "a", "m"]);
    let reply: Value = query(&mut con, ("MULTIMAP.GET", "k", "f"));
    assert_eq!(reply, bulk_array(&["z", "a", "m"]));
}

#[test]
fn get_of_missing_key_or_field_is_an_empty_array() {
    let server = Server::start();
    let mut con = server.connect();
    let missing_key: Value = query(&mut con, ("MULTIMAP.GET", "nokey", "f"));
    assert_eq!(missing_key, Value::Array(vec![]));
    insert(&mut con, "k", "f", &["v"]);
    let missing_field: Value = query(&mut con, ("MULTIMAP.GET", "k", "nofield"));
    assert_eq!(missing_field, Value::Array(vec![]));
}

#[test]
fn values_is_an_alias_of_get() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "a"]);
    for (key, field) in [("k", "f"), ("k", "nofield"), ("nokey", "f")] {
        let by_get: Value = query(&mut con, ("MULTIMAP.GET", key, field));
        let by_values: Value = query(&mut con, ("MULTIMAP.VALUES", key, field));
        assert_eq!(by_values, by_get, "{key} {field}");
    }
    let values: Vec<String> = query(&mut con, ("MULTIMAP.VALUES", "k", "f"));
    assert_eq!(values, ["a", "b", "a"]);
}

// ---------------------------------------------------------------- LEN / EXISTS / CONTAINS

#[test]
fn len_counts_values_of_field_and_is_zero_when_missing() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "nokey", "f"]), 0);
    insert(&mut con, "k", "f", &["a", "b", "b"]);
    insert(&mut con, "k", "g", &["c"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 3);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "g"]), 1);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "nofield"]), 0);
}

#[test]
fn exists_reports_whether_field_exists() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "nokey", "f"]), 0);
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "f"]), 1);
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "g"]), 0);
    // A field is a name, not a value.
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "v"]), 0);
}

#[test]
fn contains_reports_whether_field_holds_value() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "k", "g", &["c"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CONTAINS", "k", "f", "a"]), 1);
    assert_eq!(integer(&mut con, &["MULTIMAP.CONTAINS", "k", "f", "b"]), 1);
    // Values of another field, prefixes and the field name itself are not members.
    assert_eq!(integer(&mut con, &["MULTIMAP.CONTAINS", "k", "f", "c"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.CONTAINS", "k", "f", "ab"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.CONTAINS", "k", "f", "f"]), 0);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.CONTAINS", "k", "nofield", "a"]),
        0
    );
    assert_eq!(
        integer(&mut con, &["MULTIMAP.CONTAINS", "nokey", "f", "a"]),
        0
    );
}

// ---------------------------------------------------------------- RANGE

#[test]
fn range_returns_inclusive_slice() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c", "d", "e"]);
    assert_eq!(range(&mut con, "k", "f", 0, 4), ["a", "b", "c", "d", "e"]);
    assert_eq!(range(&mut con, "k", "f", 1, 3), ["b", "c", "d"]);
    assert_eq!(range(&mut con, "k", "f", 0, 0), ["a"]);
    assert_eq!(range(&mut con, "k", "f", 4, 4), ["e"]);
}

#[test]
fn range_negative_indexes_count_from_the_end() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c", "d", "e"]);
    assert_eq!(range(&mut con, "k", "f", -1, -1), ["e"]);
    assert_eq!(range(&mut con, "k", "f", -2, -1), ["d", "e"]);
    assert_eq!(range(&mut con, "k", "f", 0, -1), ["a", "b", "c", "d", "e"]);
    assert_eq!(range(&mut con, "k", "f", -5, -5), ["a"]);
    assert_eq!(range(&mut con, "k", "f", 1, -2), ["b", "c", "d"]);
    assert_eq!(range(&mut con, "k", "f", -4, 2), ["b", "c"]);
}

#[test]
fn range_clamps_out_of_range_indexes() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", 0, 100), ["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", -100, 100), ["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", -100, 0), ["a"]);
    assert_eq!(range(&mut con, "k", "f", 2, 100), ["c"]);
    assert!(range(&mut con, "k", "f", 3, 100).is_empty());
    assert!(range(&mut con, "k", "f", 100, 200).is_empty());
    assert!(range(&mut con, "k", "f", -200, -100).is_empty());
    assert!(range(&mut con, "k", "f", 0, -100).is_empty());
}

#[test]
fn range_with_start_after_stop_is_empty() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    assert!(range(&mut con, "k", "f", 2, 1).is_empty());
    assert!(range(&mut con, "k", "f", -1, -2).is_empty());
    assert!(range(&mut con, "k", "f", 2, -2).is_empty());
    assert!(range(&mut con, "k", "f", 1, 0).is_empty());
}

#[test]
fn range_accepts_extreme_64_bit_indexes() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    let (min, max) = (i64::MIN, i64::MAX);
    assert_eq!(range(&mut con, "k", "f", 0, max), ["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", min, max), ["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", min, -1), ["a", "b", "c"]);
    assert_eq!(range(&mut con, "k", "f", min, 0), ["a"]);
    assert_eq!(range(&mut con, "k", "f", -1, max), ["c"]);
    assert!(range(&mut con, "k", "f", max, max).is_empty());
    assert!(range(&mut con, "k", "f", min, min).is_empty());
    assert!(range(&mut con, "k", "f", max, min).is_empty());
    assert!(range(&mut con, "k", "f", max, 0).is_empty());
    assert!(range(&mut con, "k", "f", 0, min).is_empty());
    // The exact textual extremes, as a client would type them.
    let typed: Vec<String> = query(
        &mut con,
        (
            "MULTIMAP.RANGE",
            "k",
            "f",
            "-9223372036854775808",
            "9223372036854775807",
        ),
    );
    assert_eq!(typed, ["a", "b", "c"]);
}

#[test]
fn range_of_missing_key_or_field_is_empty() {
    let server = Server::start();
    let mut con = server.connect();
    assert!(range(&mut con, "nokey", "f", 0, -1).is_empty());
    insert(&mut con, "k", "f", &["a"]);
    assert!(range(&mut con, "k", "nofield", 0, -1).is_empty());
}

// ---------------------------------------------------------------- REMOVE

#[test]
fn remove_removes_every_occurrence_of_each_value() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "a", "c", "a", "d", "c"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a", "c"]),
        5
    );
    assert_eq!(get(&mut con, "k", "f"), ["b", "d"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 2);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 2);
}

#[test]
fn remove_counts_a_value_named_twice_once_per_occurrence() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "a"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a", "a"]),
        2
    );
    assert_eq!(get(&mut con, "k", "f"), ["b"]);
}

#[test]
fn remove_of_many_values_at_once_removes_each_of_them() {
    let server = Server::start();
    let mut con = server.connect();
    let stored: Vec<String> = (0..40).map(|i| format!("v{}", i % 20)).collect();
    let stored: Vec<&str> = stored.iter().map(String::as_str).collect();
    insert(&mut con, "k", "f", &stored);
    // Twelve values to remove (even ones below 20), plus absent ones.
    let mut unwanted: Vec<String> = (0..20).step_by(2).map(|i| format!("v{i}")).collect();
    unwanted.extend(["v99".to_owned(), "nope".to_owned()]);
    let mut args = vec!["k", "f"];
    args.extend(unwanted.iter().map(String::as_str));
    assert_eq!(integer(&mut con, ("MULTIMAP.REMOVE", &args)), 20);
    let expected: Vec<String> = (0..40)
        .map(|i| i % 20)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("v{i}"))
        .collect();
    assert_eq!(get(&mut con, "k", "f"), expected);
}

#[test]
fn remove_of_absent_value_field_or_key_removes_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "nokey", "f", "a"]),
        0
    );
    assert!(!key_exists(&mut con, "nokey"));
    insert(&mut con, "k", "f", &["a", "b"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "x", "y"]),
        0
    );
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "k", "nofield", "a"]),
        0
    );
    assert_eq!(get(&mut con, "k", "f"), ["a", "b"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "nofield"]), 0);
}

#[test]
fn remove_deletes_field_when_its_last_value_goes() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "a"]);
    insert(&mut con, "k", "g", &["b"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a"]), 2);
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "f"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 1);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 1);
    assert_eq!(fields(&mut con, "k"), ["g"]);
    let all: Value = query(&mut con, ("MULTIMAP.GETALL", "k"));
    assert_eq!(all, Value::Array(vec![bulk("g"), bulk_array(&["b"])]));
    assert!(key_exists(&mut con, "k"));
}

#[test]
fn remove_deletes_key_when_last_value_goes() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a", "b"]),
        2
    );
    assert!(!key_exists(&mut con, "k"));
    assert_eq!(key_type(&mut con, "k"), "none");
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 0);
    // The name is free for any type again.
    run(&mut con, ("SET", "k", "s"));
    assert_eq!(key_type(&mut con, "k"), "string");
}

// ---------------------------------------------------------------- REPLACE

#[test]
fn replace_makes_field_hold_exactly_the_given_values() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REPLACE", "k", "f", "x", "y"]),
        2
    );
    assert_eq!(get(&mut con, "k", "f"), ["x", "y"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 2);
    assert_eq!(integer(&mut con, &["MULTIMAP.REPLACE", "k", "f", "z"]), 1);
    assert_eq!(get(&mut con, "k", "f"), ["z"]);
}

#[test]
fn replace_keeps_duplicates_in_given_order() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a"]);
    assert_eq!(
        integer(
            &mut con,
            &["MULTIMAP.REPLACE", "k", "f", "b", "a", "b", "b"]
        ),
        4
    );
    assert_eq!(get(&mut con, "k", "f"), ["b", "a", "b", "b"]);
}

#[test]
fn replace_creates_missing_key_and_field() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REPLACE", "k", "f", "a", "b"]),
        2
    );
    assert_eq!(key_type(&mut con, "k"), "rmultimap");
    assert_eq!(get(&mut con, "k", "f"), ["a", "b"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.REPLACE", "k", "g", "c"]), 1);
    assert_eq!(get(&mut con, "k", "g"), ["c"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 2);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 3);
}

#[test]
fn replace_leaves_other_fields_alone() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a"]);
    insert(&mut con, "k", "g", &["b", "c"]);
    integer(&mut con, &["MULTIMAP.REPLACE", "k", "f", "x"]);
    assert_eq!(get(&mut con, "k", "g"), ["b", "c"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 3);
}

#[test]
fn replace_with_same_values_keeps_them() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.REPLACE", "k", "f", "a", "b"]),
        2
    );
    assert_eq!(get(&mut con, "k", "f"), ["a", "b"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 2);
}

// ---------------------------------------------------------------- DEL

#[test]
fn del_removes_whole_fields_and_counts_those_that_existed() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "k", "g", &["c"]);
    insert(&mut con, "k", "h", &["d"]);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.DEL", "k", "f", "nofield", "f", "g"]),
        2
    );
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "f"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.EXISTS", "k", "g"]), 0);
    assert!(get(&mut con, "k", "f").is_empty());
    assert_eq!(fields(&mut con, "k"), ["h"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 1);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 1);
}

#[test]
fn del_deletes_key_when_last_field_goes() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "k", "g", &["c"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.DEL", "k", "f"]), 1);
    assert!(key_exists(&mut con, "k"));
    assert_eq!(integer(&mut con, &["MULTIMAP.DEL", "k", "g"]), 1);
    assert!(!key_exists(&mut con, "k"));
    assert_eq!(key_type(&mut con, "k"), "none");
}

#[test]
fn del_of_missing_key_or_fields_deletes_nothing() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, &["MULTIMAP.DEL", "nokey", "f"]), 0);
    assert!(!key_exists(&mut con, "nokey"));
    insert(&mut con, "k", "f", &["a"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.DEL", "k", "x", "y"]), 0);
    assert_eq!(get(&mut con, "k", "f"), ["a"]);
}

// ---------------------------------------------------------------- CARD / SIZE / FIELDS

#[test]
fn card_and_size_count_fields_and_values() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a", "b", "a"]);
    insert(&mut con, "k", "g", &["c"]);
    insert(&mut con, "k", "h", &["d", "e"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 3);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 6);
    integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "a"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 3);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 4);
    integer(&mut con, &["MULTIMAP.REPLACE", "k", "g", "x", "y", "z"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 6);
    integer(&mut con, &["MULTIMAP.DEL", "k", "h"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 2);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "k"]), 4);
}

#[test]
fn card_and_size_of_missing_key_are_zero() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "nokey"]), 0);
    assert_eq!(integer(&mut con, &["MULTIMAP.SIZE", "nokey"]), 0);
}

#[test]
fn fields_lists_every_field_once() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "colors", &["red", "green"]);
    insert(&mut con, "k", "sizes", &["S"]);
    insert(&mut con, "k", "colors", &["blue"]);
    insert(&mut con, "k", "shapes", &["circle"]);
    assert_eq!(sorted(fields(&mut con, "k")), ["colors", "shapes", "sizes"]);
}

#[test]
fn fields_of_missing_key_is_an_empty_array() {
    let server = Server::start();
    let mut con = server.connect();
    let reply: Value = query(&mut con, ("MULTIMAP.FIELDS", "nokey"));
    assert_eq!(reply, Value::Array(vec![]));
}

#[test]
fn field_order_is_stable_while_key_is_unchanged() {
    let server = Server::start();
    let mut con = server.connect();
    let mut pipe = redis::pipe();
    for i in 0..500 {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(format!("field:{i}"))
            .arg(i)
            .ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    let first = fields(&mut con, "k");
    assert_eq!(first.len(), 500);
    // Reads in between change nothing.
    get(&mut con, "k", "field:7");
    integer(&mut con, &["MULTIMAP.CARD", "k"]);
    assert_eq!(fields(&mut con, "k"), first);
    // GETALL lists the fields in that same order.
    let all: Vec<Value> = query(&mut con, ("MULTIMAP.GETALL", "k"));
    let getall_fields: Vec<String> = all
        .iter()
        .step_by(2)
        .map(|field| redis::from_redis_value_ref(field).unwrap())
        .collect();
    assert_eq!(getall_fields, first);
}

// ---------------------------------------------------------------- GETALL

#[test]
fn getall_under_resp2_is_flat_array_of_fields_and_value_arrays() {
    let server = Server::start();
    let mut con = server.connect();
    let reply = getall_of_colors_and_sizes(&mut con);
    let Value::Array(items) = reply else {
        panic!("GETALL under RESP2 must be an array, got {reply:?}");
    };
    assert_eq!(items.len(), 4);
    assert_eq!(sorted_pairs(items.chunks(2)), colors_and_sizes());
}

/// GETALL's raw reply on a key that holds `colors_and_sizes`.
fn getall_of_colors_and_sizes(con: &mut Connection) -> Value {
    insert(con, "k", "colors", &["red", "blue"]);
    insert(con, "k", "sizes", &["S", "M", "S"]);
    query(con, ("MULTIMAP.GETALL", "k"))
}

/// The content `getall_*` tests insert, as GETALL's (field, values) pairs.
fn colors_and_sizes() -> [(Value, Value); 2] {
    [
        (bulk("colors"), bulk_array(&["red", "blue"])),
        (bulk("sizes"), bulk_array(&["S", "M", "S"])),
    ]
}

/// GETALL's pairs (a flat array's chunks, or a map's entries) in field order.
fn sorted_pairs<'a>(pairs: impl Iterator<Item = &'a [Value]>) -> Vec<(Value, Value)> {
    let mut pairs: Vec<(Value, Value)> = pairs
        .map(|pair| (pair[0].clone(), pair[1].clone()))
        .collect();
    pairs.sort_by_key(|(field, _)| format!("{field:?}"));
    pairs
}

#[test]
fn getall_under_resp3_is_map_of_field_to_value_array() {
    if skip_unless(is_redis_7(), "modules reply RESP3 maps since Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect_resp3();
    let reply = getall_of_colors_and_sizes(&mut con);
    let Value::Map(mut pairs) = reply else {
        panic!("GETALL under RESP3 must be a map, got {reply:?}");
    };
    pairs.sort_by_key(|(field, _)| format!("{field:?}"));
    assert_eq!(pairs, colors_and_sizes());
}

#[test]
fn getall_under_resp3_before_redis_7_is_the_resp2_flat_array() {
    if skip_unless(!is_redis_7(), "Redis 7.0+ replies a RESP3 map instead") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect_resp3();
    let reply = getall_of_colors_and_sizes(&mut con);
    // Before Redis 7.0 modules cannot reply maps: RESP3 clients get the RESP2 shape.
    let Value::Array(items) = reply else {
        panic!("GETALL under RESP3 on Redis 6 must be an array, got {reply:?}");
    };
    assert_eq!(sorted_pairs(items.chunks(2)), colors_and_sizes());
}

#[test]
fn getall_of_missing_key_is_empty() {
    let server = Server::start();
    let mut resp2 = server.connect();
    let reply: Value = query(&mut resp2, ("MULTIMAP.GETALL", "nokey"));
    assert_eq!(reply, Value::Array(vec![]));
    let mut resp3 = server.connect_resp3();
    let reply: Value = query(&mut resp3, ("MULTIMAP.GETALL", "nokey"));
    // Before Redis 7.0 modules cannot reply maps: RESP3 clients get the RESP2 shape.
    let empty = if is_redis_7() {
        Value::Map(vec![])
    } else {
        Value::Array(vec![])
    };
    assert_eq!(reply, empty);
}

// ---------------------------------------------------------------- missing keys

#[test]
fn reads_on_missing_key_never_create_it() {
    let server = Server::start();
    let mut con = server.connect();
    let mut reads: Vec<Vec<&str>> = read_commands().map(|read| read.call("k")).collect();
    reads.push(vec![
        "MULTIMAP.SCAN",
        "k",
        "0",
        "MATCH",
        "*",
        "COUNT",
        "100",
    ]);
    for read in reads {
        let _: Value = common::query(&mut con, &read);
        assert!(!key_exists(&mut con, "k"), "{read:?} created the key");
    }
    // Writes that change nothing don't create it either.
    integer(&mut con, &["MULTIMAP.REMOVE", "k", "f", "v"]);
    integer(&mut con, &["MULTIMAP.DEL", "k", "f"]);
    assert!(!key_exists(&mut con, "k"));
    assert_eq!(dbsize(&mut con), 0);
}

#[test]
fn reads_on_missing_field_leave_key_unchanged() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a"]);
    get(&mut con, "k", "nofield");
    range(&mut con, "k", "nofield", 0, -1);
    integer(&mut con, &["MULTIMAP.LEN", "k", "nofield"]);
    integer(&mut con, &["MULTIMAP.CONTAINS", "k", "nofield", "a"]);
    integer(&mut con, &["MULTIMAP.EXISTS", "k", "nofield"]);
    assert_eq!(fields(&mut con, "k"), ["f"]);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 1);
}

// ---------------------------------------------------------------- type, module, command table

#[test]
fn type_of_multimap_key_is_rmultimap() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    assert_eq!(key_type(&mut con, "k"), "rmultimap");
}

#[test]
fn module_list_shows_module_named_multimap() {
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(loaded_module_names(&mut con), ["multimap"]);
}

/// `COMMAND INFO name`: (flags, first key, last key, step).
fn flags_and_keys(con: &mut Connection, name: &str) -> (Vec<String>, i64, i64, i64) {
    let info = command_info(con, name);
    let text = |value: &Value| -> String { redis::from_redis_value_ref(value).unwrap() };
    assert_eq!(text(&info[0]), name);
    let Value::Array(flags) = &info[2] else {
        panic!("flags of {name}: {:?}", info[2]);
    };
    let flags = flags.iter().map(text).collect();
    let number = |value: &Value| -> i64 { redis::from_redis_value_ref(value).unwrap() };
    (flags, number(&info[3]), number(&info[4]), number(&info[5]))
}

#[test]
fn command_info_declares_write_flags_for_writes() {
    let server = Server::start();
    let mut con = server.connect();
    for command in write_commands() {
        let name = command.lower_name();
        let (flags, ..) = flags_and_keys(&mut con, &name);
        let has = |flag: &str| flags.contains(&flag.to_owned());
        assert!(has("write"), "{name}: {flags:?}");
        assert!(!has("readonly"), "{name}: {flags:?}");
        assert_eq!(has("fast"), command.fast, "{name}: {flags:?}");
        // Freeing memory must keep working under maxmemory.
        assert_eq!(has("denyoom"), command.deny_oom, "{name}: {flags:?}");
    }
}

#[test]
fn command_info_declares_readonly_for_reads_and_fast_for_constant_time_ones() {
    let server = Server::start();
    let mut con = server.connect();
    for command in read_commands() {
        let name = command.lower_name();
        let (flags, ..) = flags_and_keys(&mut con, &name);
        let has = |flag: &str| flags.contains(&flag.to_owned());
        assert!(has("readonly"), "{name}: {flags:?}");
        assert!(!has("write"), "{name}: {flags:?}");
        assert!(!has("denyoom"), "{name}: {flags:?}");
        assert_eq!(has("fast"), command.fast, "{name}: {flags:?}");
    }
}

#[test]
fn command_info_declares_blocking_for_bpop_alone() {
    if skip_unless(
        is_redis_7(),
        "modules can declare the blocking flag since Redis 7.0",
    ) {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    for command in &COMMANDS {
        let name = command.lower_name();
        let (flags, ..) = flags_and_keys(&mut con, &name);
        assert_eq!(
            flags.contains(&"blocking".to_owned()),
            command.blocking,
            "{name}: {flags:?}"
        );
    }
}

#[test]
fn command_info_declares_key_at_position_one() {
    let server = Server::start();
    let mut con = server.connect();
    for command in &COMMANDS {
        let name = command.lower_name();
        let (_, first, last, step) = flags_and_keys(&mut con, &name);
        assert_eq!((first, last, step), (1, 1, 1), "{name}");
    }
    for command in &COMMANDS {
        let call = command.call("mykey");
        let keys: Vec<String> = query(&mut con, ("COMMAND", "GETKEYS", &call));
        assert_eq!(keys, ["mykey"], "{call:?}");
    }
}

/// The key flags of `COMMAND GETKEYSANDFLAGS` for one call (Redis 7.0+).
fn key_flags(con: &mut Connection, call: &[&str]) -> Vec<String> {
    let reply: Vec<(String, Vec<String>)> = redis::cmd("COMMAND")
        .arg("GETKEYSANDFLAGS")
        .arg(call)
        .query(con)
        .unwrap_or_else(|error| panic!("GETKEYSANDFLAGS {call:?}: {error}"));
    assert_eq!(reply.len(), 1, "{call:?}: {reply:?}");
    assert_eq!(reply[0].0, call[1]);
    reply[0].1.clone()
}

#[test]
fn key_specs_mark_reads_read_only_and_writes_read_write() {
    if skip_unless(is_redis_7(), "key specs arrived with Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    for read in read_commands() {
        let call = read.call("k");
        let flags = key_flags(&mut con, &call);
        assert!(flags.contains(&"RO".to_owned()), "{call:?}: {flags:?}");
        assert!(!flags.contains(&"RW".to_owned()), "{call:?}: {flags:?}");
    }
    for write in write_commands() {
        let call = write.call("k");
        let flags = key_flags(&mut con, &call);
        assert!(flags.contains(&"RW".to_owned()), "{call:?}: {flags:?}");
    }
}

/// How each command uses its key, as its key spec says: reads access the
/// value; writes insert, update (replace or set what is there, expiries
/// included), delete, or take (return what they delete).
const KEY_USES: [(&str, &[&str]); 32] = [
    ("MULTIMAP.INSERT", &["RW", "insert"]),
    ("MULTIMAP.GET", &["RO", "access"]),
    ("MULTIMAP.VALUES", &["RO", "access"]),
    ("MULTIMAP.LEN", &["RO", "access"]),
    ("MULTIMAP.RANGE", &["RO", "access"]),
    ("MULTIMAP.CONTAINS", &["RO", "access"]),
    ("MULTIMAP.EXISTS", &["RO", "access"]),
    ("MULTIMAP.REMOVE", &["RW", "delete"]),
    ("MULTIMAP.REPLACE", &["RW", "update"]),
    ("MULTIMAP.DEL", &["RW", "delete"]),
    ("MULTIMAP.CARD", &["RO", "access"]),
    ("MULTIMAP.SIZE", &["RO", "access"]),
    ("MULTIMAP.FIELDS", &["RO", "access"]),
    ("MULTIMAP.GETALL", &["RO", "access"]),
    ("MULTIMAP.SCAN", &["RO", "access"]),
    ("MULTIMAP.PREPEND", &["RW", "insert"]),
    ("MULTIMAP.ADD", &["RW", "insert"]),
    ("MULTIMAP.INDEX", &["RO", "access"]),
    ("MULTIMAP.SET", &["RW", "update"]),
    ("MULTIMAP.POS", &["RO", "access"]),
    ("MULTIMAP.TRIM", &["RW", "delete"]),
    ("MULTIMAP.EXPIRE", &["RW", "update"]),
    ("MULTIMAP.PEXPIRE", &["RW", "update"]),
    ("MULTIMAP.EXPIREAT", &["RW", "update"]),
    ("MULTIMAP.PEXPIREAT", &["RW", "update"]),
    ("MULTIMAP.TTL", &["RO", "access"]),
    ("MULTIMAP.PTTL", &["RO", "access"]),
    ("MULTIMAP.EXPIRETIME", &["RO", "access"]),
    ("MULTIMAP.PEXPIRETIME", &["RO", "access"]),
    ("MULTIMAP.PERSIST", &["RW", "update"]),
    ("MULTIMAP.POP", &["RW", "access", "delete"]),
    ("MULTIMAP.BPOP", &["RW", "access", "delete"]),
];

#[test]
fn key_specs_say_how_each_command_uses_its_key() {
    if skip_unless(is_redis_7(), "key specs arrived with Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    let listed: Vec<&str> = KEY_USES.iter().map(|(name, _)| *name).collect();
    let commands: Vec<&str> = COMMANDS.iter().map(|command| command.name).collect();
    assert_eq!(sorted(listed), sorted(commands));
    for command in &COMMANDS {
        let call = command.call("k");
        let (_, expected) = KEY_USES
            .iter()
            .find(|(name, _)| *name == command.name)
            .expect("every command listed");
        let flags: Vec<String> = key_flags(&mut con, &call)
            .iter()
            .map(|flag| flag.to_ascii_lowercase())
            .collect();
        let expected: Vec<String> = expected
            .iter()
            .map(|flag| flag.to_ascii_lowercase())
            .collect();
        assert_eq!(sorted(flags), sorted(expected), "{call:?}");
    }
}

#[test]
fn command_info_reports_each_command_arity() {
    if skip_unless(
        is_redis_7(),
        "module command arities in COMMAND INFO need Redis 7.0",
    ) {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    for command in &COMMANDS {
        let name = command.lower_name();
        let reported: i64 = redis::from_redis_value_ref(&command_info(&mut con, &name)[1]).unwrap();
        assert_eq!(reported, command.arity, "{name}");
    }
}

#[test]
fn command_docs_describe_every_command() {
    if skip_unless(is_redis_7(), "COMMAND DOCS arrived with Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    for command in &COMMANDS {
        let name = command.lower_name();
        let reply: Value = query(&mut con, ("COMMAND", "DOCS", &name));
        // RESP2: [name, [field, value, field, value, ...]]
        let Value::Array(outer) = &reply else {
            panic!("COMMAND DOCS {name}: {reply:?}");
        };
        assert_eq!(outer.len(), 2, "COMMAND DOCS {name}: {reply:?}");
        let Value::Array(doc) = &outer[1] else {
            panic!("COMMAND DOCS {name}: {reply:?}");
        };
        let entry = |field: &str| -> Option<&Value> {
            doc.chunks(2)
                .find(|pair| pair[0] == bulk(field))
                .map(|pair| &pair[1])
        };
        for field in ["summary", "since", "complexity"] {
            let text: String = entry(field)
                .map(|value| redis::from_redis_value_ref(value).unwrap())
                .unwrap_or_default();
            assert!(!text.is_empty(), "{name} has no {field}: {doc:?}");
        }
        let arguments = entry("arguments");
        assert!(
            matches!(arguments, Some(Value::Array(arguments)) if !arguments.is_empty()),
            "{name} documents no arguments: {doc:?}"
        );
    }
}

#[test]
fn acl_read_only_key_permission_allows_reads_and_refuses_writes() {
    if skip_unless(is_redis_7(), "%R~ key permissions arrived with Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut admin = server.connect();
    insert(&mut admin, "ro:k", "f", &["v"]);
    let acl = [
        "ACL", "SETUSER", "reader", "on", "nopass", "%R~ro:*", "+@all",
    ];
    run(&mut admin, &acl);
    let mut reader = server.connect();
    run(&mut reader, ("AUTH", "reader", "any"));
    assert_eq!(get(&mut reader, "ro:k", "f"), ["v"]);
    assert_eq!(integer(&mut reader, &["MULTIMAP.CARD", "ro:k"]), 1);
    for read in read_commands() {
        let read = read.call("ro:k");
        let _: Value = query(&mut reader, &read);
    }
    for write in write_commands() {
        let write = write.call("ro:k");
        let error = error_reply(&mut reader, &write);
        assert!(error.starts_with("NOPERM"), "{write:?}: {error}");
    }
    assert_eq!(get(&mut admin, "ro:k", "f"), ["v"]);
}

// ---------------------------------------------------------------- transactions and scripts

#[test]
fn commands_work_inside_multi_exec() {
    let server = Server::start();
    let mut con = server.connect();
    let replies: (i64, i64, i64, i64, Vec<String>, i64, i64, i64, Vec<String>) = redis::pipe()
        .atomic()
        .cmd("MULTIMAP.INSERT")
        .arg("k")
        .arg("f")
        .arg(&["a", "b", "a"])
        .cmd("MULTIMAP.INSERT")
        .arg("k")
        .arg("g")
        .arg("c")
        .cmd("MULTIMAP.REMOVE")
        .arg("k")
        .arg("f")
        .arg("a")
        .cmd("MULTIMAP.REPLACE")
        .arg("k")
        .arg("g")
        .arg(&["x", "y"])
        .cmd("MULTIMAP.GET")
        .arg("k")
        .arg("g")
        .cmd("MULTIMAP.DEL")
        .arg("k")
        .arg("g")
        .cmd("MULTIMAP.CARD")
        .arg("k")
        .cmd("MULTIMAP.SIZE")
        .arg("k")
        .cmd("MULTIMAP.FIELDS")
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert_eq!(
        replies,
        (
            3,
            1,
            2,
            2,
            vec!["x".to_owned(), "y".to_owned()],
            1,
            1,
            1,
            vec!["f".to_owned()]
        )
    );
    assert_eq!(get(&mut con, "k", "f"), ["b"]);
}

#[test]
fn emptying_a_key_inside_multi_exec_deletes_it() {
    let server = Server::start();
    let mut con = server.connect();
    let (inserted, removed, exists): (i64, i64, i64) = redis::pipe()
        .atomic()
        .cmd("MULTIMAP.INSERT")
        .arg("k")
        .arg("f")
        .arg("v")
        .cmd("MULTIMAP.REMOVE")
        .arg("k")
        .arg("f")
        .arg("v")
        .cmd("EXISTS")
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert_eq!((inserted, removed, exists), (1, 1, 0));
    assert!(!key_exists(&mut con, "k"));
}

#[test]
fn commands_work_from_lua_scripts() {
    let server = Server::start();
    let mut con = server.connect();
    let script = redis::Script::new(
        r"
        redis.call('MULTIMAP.INSERT', KEYS[1], 'f', 'a', 'b')
        redis.call('MULTIMAP.REMOVE', KEYS[1], 'f', 'a')
        return redis.call('MULTIMAP.GET', KEYS[1], 'f')
        ",
    );
    let values: Vec<String> = script.key("k").invoke(&mut con).unwrap();
    assert_eq!(values, ["b"]);
}

#[test]
fn read_commands_work_from_read_only_scripts() {
    if skip_unless(is_redis_7(), "EVAL_RO arrived with Redis 7.0") {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["b"]);
    let read_only: i64 = redis::cmd("EVAL_RO")
        .arg("return redis.call('MULTIMAP.LEN', KEYS[1], 'f')")
        .arg(1)
        .arg("k")
        .query(&mut con)
        .unwrap();
    assert_eq!(read_only, 1);
}

// ---------------------------------------------------------------- many fields, random use

#[test]
fn del_of_thousands_of_fields_in_one_call_deletes_the_key() {
    let server = Server::start();
    let mut con = server.connect();
    let names: Vec<String> = (0..5000).map(|i| format!("field:{i}")).collect();
    let mut pipe = redis::pipe();
    for name in &names {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(name)
            .arg("v")
            .ignore();
    }
    let _: () = pipe.query(&mut con).unwrap();
    let deleted: i64 = query(&mut con, ("MULTIMAP.DEL", "k", &names[..4999]));
    assert_eq!(deleted, 4999);
    assert_eq!(fields(&mut con, "k"), ["field:4999"]);
    let deleted: i64 = query(&mut con, ("MULTIMAP.DEL", "k", &names));
    assert_eq!(deleted, 1);
    assert!(!key_exists(&mut con, "k"));
}

#[test]
fn random_commands_agree_with_a_simple_model() {
    let seed = seed();
    let mut rng = seed.rng();
    let server = Server::start();
    let mut con = server.connect();
    let mut model = Fields::new();
    for _batch in 0..40 {
        let mut pipe = redis::pipe();
        let mut expected: Vec<i64> = Vec::new();
        for _ in 0..250 {
            // Few fields and values, so that removals hit and fields empty often;
            // growth and shrinking phases come from the skewed mix below.
            let field = format!("f{}", rng.below(300)).into_bytes();
            let values: Vec<Vec<u8>> = (0..1 + rng.below(4))
                .map(|_| format!("v{}", rng.below(6)).into_bytes())
                .collect();
            match rng.below(10) {
                0..=3 => {
                    let slot = model.entry(field.clone()).or_default();
                    slot.extend(values.iter().cloned());
                    expected.push(slot.len() as i64);
                    pipe.cmd("MULTIMAP.INSERT")
                        .arg("k")
                        .arg(&field)
                        .arg(&values);
                }
                4..=5 => {
                    let removed = match model.get_mut(&field) {
                        Some(slot) => {
                            let before = slot.len();
                            slot.retain(|value| !values.contains(value));
                            let removed = before - slot.len();
                            if slot.is_empty() {
                                model.remove(&field);
                            }
                            removed
                        }
                        None => 0,
                    };
                    expected.push(removed as i64);
                    pipe.cmd("MULTIMAP.REMOVE")
                        .arg("k")
                        .arg(&field)
                        .arg(&values);
                }
                6 => {
                    expected.push(values.len() as i64);
                    model.insert(field.clone(), values.clone());
                    pipe.cmd("MULTIMAP.REPLACE")
                        .arg("k")
                        .arg(&field)
                        .arg(&values);
                }
                7..=8 => {
                    expected.push(i64::from(model.remove(&field).is_some()));
                    pipe.cmd("MULTIMAP.DEL").arg("k").arg(&field);
                }
                _ => {
                    expected.push(model.get(&field).map_or(0, Vec::len) as i64);
                    pipe.cmd("MULTIMAP.LEN").arg("k").arg(&field);
                }
            }
        }
        let replies: Vec<i64> = pipe.query(&mut con).unwrap();
        assert_eq!(replies, expected, "{seed}");
        assert_eq!(getall(&mut con, "k"), model, "{seed}");
        let card = integer(&mut con, &["MULTIMAP.CARD", "k"]);
        assert_eq!(card, model.len() as i64, "{seed}");
        let size = integer(&mut con, &["MULTIMAP.SIZE", "k"]);
        let values = model.values().map(Vec::len).sum::<usize>();
        assert_eq!(size, values as i64, "{seed}");
        assert_eq!(key_exists(&mut con, "k"), !model.is_empty(), "{seed}");
    }
}
