//! MULTIMAP.SCAN: reply shape, the full-iteration guarantees (on an unchanged
//! key and while fields come and go), MATCH globs, and the COUNT hint.

mod common;

use std::collections::{BTreeMap, BTreeSet, HashSet};

use common::{
    content, fields, insert, integer, key_exists, query, run, scan_all, scan_once, seed, sorted,
    Bytes, Pairs, Server, NO_OPTIONS,
};
use redis::{Connection, Value};

/// Field names as text: the fields these tests store are.
fn texts(fields: Vec<Bytes>) -> Vec<String> {
    fields
        .into_iter()
        .map(|field| String::from_utf8(field).expect("a text field"))
        .collect()
}

/// Fills `key` with `count` fields named `{prefix}{i}`, each holding `[i, "x"]`.
fn fill(con: &mut Connection, key: &str, prefix: &str, range: std::ops::Range<usize>) {
    for chunk in range.collect::<Vec<_>>().chunks(10_000) {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("MULTIMAP.INSERT")
                .arg(key)
                .arg(format!("{prefix}{i}"))
                .arg(i)
                .arg("x")
                .ignore();
        }
        let _: () = pipe.query(con).unwrap();
    }
}

/// Asserts a full iteration of a key filled by `fill(.., "field:", 0..n)`
/// returned each field exactly once, with its values.
fn assert_each_field_exactly_once(pairs: &Pairs, n: usize) {
    assert_eq!(pairs.len(), n, "fields returned by a full iteration");
    let mut seen = HashSet::new();
    for (field, values) in pairs {
        let field = String::from_utf8_lossy(field).into_owned();
        assert!(seen.insert(field.clone()), "{field} returned twice");
        let i = field.strip_prefix("field:").expect("a field we stored");
        let expected = [i.as_bytes().to_vec(), b"x".to_vec()];
        assert_eq!(values, &expected, "values of {field}");
    }
    let expected: HashSet<String> = (0..n).map(|i| format!("field:{i}")).collect();
    assert_eq!(seen, expected);
}

// ---------------------------------------------------------------- reply shape

#[test]
fn scan_of_missing_key_returns_zero_cursor_and_empty_array() {
    let server = Server::start();
    let mut con = server.connect();
    for options in [&[][..], &["COUNT", "100"], &["MATCH", "a*"]] {
        let reply: Value = query(&mut con, ("MULTIMAP.SCAN", "nokey", "0", options));
        assert_eq!(
            reply,
            Value::Array(vec![Value::BulkString(b"0".to_vec()), Value::Array(vec![])]),
            "{options:?}"
        );
    }
    assert!(!key_exists(&mut con, "nokey"));
}

#[test]
fn scan_returns_fields_with_their_values_and_bulk_string_cursor() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "colors", &["red", "blue", "red"]);
    insert(&mut con, "k", "sizes", &["S"]);
    // scan_once checks the cursor is a bulk string and values are arrays.
    let (cursor, pairs) = scan_once(&mut con, "k", "0", &["COUNT", "100"]);
    assert_eq!(cursor, "0");
    let expected = content(&[("colors", &["red", "blue", "red"]), ("sizes", &["S"])]);
    assert_eq!(sorted(pairs), Pairs::from_iter(expected));
}

#[test]
fn scan_reply_is_the_same_array_shape_under_resp3() {
    let server = Server::start();
    let mut con = server.connect_resp3();
    insert(&mut con, "k", "f", &["a", "b"]);
    let (cursor, pairs) = scan_once(&mut con, "k", "0", NO_OPTIONS);
    assert_eq!(cursor, "0");
    assert_eq!(pairs, Pairs::from_iter(content(&[("f", &["a", "b"])])));
}

#[test]
fn scan_cursor_is_a_decimal_string_that_ends_at_zero() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..200);
    let (first, _) = scan_once(&mut con, "k", "0", &["COUNT", "5"]);
    assert_ne!(first, "0", "200 fields do not fit in a COUNT 5 call");
    assert!(first.bytes().all(|b| b.is_ascii_digit()), "{first:?}");
    let all = scan_all(&mut con, "k", &["COUNT", "5"]);
    assert_each_field_exactly_once(&all.pairs, 200);
}

// ---------------------------------------------------------------- full iteration

#[test]
fn full_scan_with_count_1_returns_each_field_exactly_once() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..5000);
    let all = scan_all(&mut con, "k", &["COUNT", "1"]);
    assert_each_field_exactly_once(&all.pairs, 5000);
    assert!(
        all.largest_call <= 20,
        "COUNT 1 returned {} fields in one call",
        all.largest_call
    );
}

#[test]
fn full_scan_with_default_count_returns_each_field_exactly_once() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..5000);
    let all = scan_all(&mut con, "k", NO_OPTIONS);
    assert_each_field_exactly_once(&all.pairs, 5000);
    assert!(
        all.largest_call <= 50,
        "default COUNT returned {} fields in one call",
        all.largest_call
    );
    let explicit = scan_all(&mut con, "k", &["COUNT", "10"]);
    assert_eq!(explicit.pairs, all.pairs, "COUNT 10 is the default");
}

#[test]
fn full_scan_with_count_1000_returns_each_field_exactly_once() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..5000);
    let all = scan_all(&mut con, "k", &["COUNT", "1000"]);
    assert_each_field_exactly_once(&all.pairs, 5000);
    assert!(
        all.largest_call >= 500,
        "COUNT 1000 returned at most {} per call",
        all.largest_call
    );
}

#[test]
fn scan_with_huge_count_returns_everything_in_one_call() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..3000);
    let (cursor, pairs) = scan_once(&mut con, "k", "0", &["COUNT", "9223372036854775807"]);
    assert_eq!(cursor, "0");
    assert_each_field_exactly_once(&pairs, 3000);
}

#[test]
fn full_scan_of_small_key_returns_each_field_exactly_once() {
    let server = Server::start();
    let mut con = server.connect();
    for n in [1, 2, 3, 4, 5, 9, 17] {
        let key = format!("k{n}");
        fill(&mut con, &key, "field:", 0..n);
        for count in ["1", "2", "10"] {
            let all = scan_all(&mut con, &key, &["COUNT", count]);
            assert_each_field_exactly_once(&all.pairs, n);
        }
    }
}

#[test]
fn repeated_full_scans_of_unchanged_key_agree() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..1000);
    let first = scan_all(&mut con, "k", &["COUNT", "7"]);
    let second = scan_all(&mut con, "k", &["COUNT", "7"]);
    assert_eq!(first.pairs, second.pairs);
    let fields = sorted(fields(&mut con, "k"));
    assert_eq!(sorted(texts(first.fields())), fields);
}

// ---------------------------------------------------------------- COUNT hint

#[test]
fn scan_count_hint_keeps_each_call_small_on_100k_fields() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..100_000);
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 100_000);
    let mut cursor = "0".to_owned();
    for _ in 0..50 {
        let (next, pairs) = scan_once(&mut con, "k", &cursor, &["COUNT", "10"]);
        assert!(
            pairs.len() <= 100,
            "COUNT 10 returned {} of 100k fields in one call",
            pairs.len()
        );
        assert_ne!(
            next, "0",
            "100k fields cannot be done after a few COUNT 10 calls"
        );
        cursor = next;
    }
    let (_, pairs) = scan_once(&mut con, "k", "0", NO_OPTIONS);
    assert!(pairs.len() <= 100, "default COUNT returned {}", pairs.len());
}

#[test]
fn scan_count_hint_keeps_each_call_small_after_most_fields_are_deleted() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..50_000);
    // Delete all but every 1000th field: the table may be sparse now.
    for chunk in (0..50_000)
        .filter(|i| i % 1000 != 0)
        .collect::<Vec<_>>()
        .chunks(10_000)
    {
        let mut pipe = redis::pipe();
        for i in chunk {
            pipe.cmd("MULTIMAP.DEL")
                .arg("k")
                .arg(format!("field:{i}"))
                .ignore();
        }
        let _: () = pipe.query(&mut con).unwrap();
    }
    assert_eq!(integer(&mut con, &["MULTIMAP.CARD", "k"]), 50);
    let all = scan_all(&mut con, "k", &["COUNT", "1"]);
    assert!(all.largest_call <= 20, "{}", all.largest_call);
    let seen = sorted(texts(all.fields()));
    let mut expected: Vec<String> = (0..50_000)
        .step_by(1000)
        .map(|i| format!("field:{i}"))
        .collect();
    expected.sort();
    assert_eq!(seen, expected);
}

// ---------------------------------------------------------------- MATCH

/// Fields whose matches are easy to state by hand.
const GLOB_FIELDS: [&str; 17] = [
    "", "a", "b", "c", "d", "z", "A", "ab", "abc", "apple", "avocado", "banana", "cherry", "a*b",
    "a?b", "a[b", "h\\llo",
];

fn glob_key(con: &mut Connection) {
    let mut pipe = redis::pipe();
    for field in GLOB_FIELDS {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(field)
            .arg("v")
            .ignore();
    }
    // Padding so that the matches are spread over many SCAN calls.
    for i in 0..300 {
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(format!("pad:{i}"))
            .arg("v")
            .ignore();
    }
    let _: () = pipe.query(con).unwrap();
}

fn matched(con: &mut Connection, pattern: &str) -> Vec<String> {
    let all = scan_all(con, "k", &["MATCH", pattern, "COUNT", "10"]);
    let found = texts(all.fields());
    let unique: BTreeSet<&String> = found.iter().collect();
    assert_eq!(
        unique.len(),
        found.len(),
        "{pattern}: a field returned twice"
    );
    sorted(found)
}

fn expect(fields: &[&str]) -> Vec<String> {
    sorted(fields.iter().map(|f| (*f).to_owned()).collect())
}

#[test]
fn scan_match_star_returns_every_field_including_empty_one() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    let all = matched(&mut con, "*");
    assert_eq!(all.len(), GLOB_FIELDS.len() + 300);
    assert!(all.contains(&String::new()));
}

#[test]
fn scan_match_prefix_star_filters_fields() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(
        matched(&mut con, "a*"),
        expect(&["a", "ab", "abc", "apple", "avocado", "a*b", "a?b", "a[b"])
    );
    assert_eq!(matched(&mut con, "*o"), expect(&["avocado", "h\\llo"]));
    assert_eq!(matched(&mut con, "*an*"), expect(&["banana"]));
    assert_eq!(matched(&mut con, "pad:29*").len(), 11);
}

#[test]
fn scan_match_question_mark_matches_exactly_one_byte() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(
        matched(&mut con, "?"),
        expect(&["a", "b", "c", "d", "z", "A"])
    );
    assert_eq!(matched(&mut con, "a?b"), expect(&["a*b", "a?b", "a[b"]));
    assert_eq!(matched(&mut con, "??"), expect(&["ab"]));
}

#[test]
fn scan_match_class_lists_accepted_bytes() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(matched(&mut con, "[abc]"), expect(&["a", "b", "c"]));
    assert_eq!(
        matched(&mut con, "[bc]*"),
        expect(&["b", "banana", "c", "cherry"])
    );
}

#[test]
fn scan_match_negated_class_rejects_listed_bytes() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(
        matched(&mut con, "[^a]"),
        expect(&["b", "c", "d", "z", "A"])
    );
    assert_eq!(matched(&mut con, "[^abc]"), expect(&["d", "z", "A"]));
}

#[test]
fn scan_match_range_class_accepts_byte_range() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(
        matched(&mut con, "[a-z]"),
        expect(&["a", "b", "c", "d", "z"])
    );
    assert_eq!(matched(&mut con, "[b-d]"), expect(&["b", "c", "d"]));
    assert_eq!(matched(&mut con, "[A-Z]"), expect(&["A"]));
}

#[test]
fn scan_match_backslash_escapes_special_characters() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(matched(&mut con, "a\\*b"), expect(&["a*b"]));
    assert_eq!(matched(&mut con, "a\\?b"), expect(&["a?b"]));
    assert_eq!(matched(&mut con, "a\\[b"), expect(&["a[b"]));
    assert_eq!(matched(&mut con, "h\\\\llo"), expect(&["h\\llo"]));
    assert_eq!(matched(&mut con, "\\a"), expect(&["a"]));
}

#[test]
fn scan_match_is_case_sensitive_and_whole_field() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    assert_eq!(matched(&mut con, "A"), expect(&["A"]));
    assert_eq!(matched(&mut con, "APPLE"), expect(&[]));
    assert_eq!(matched(&mut con, "appl"), expect(&[]));
    assert_eq!(matched(&mut con, "apple"), expect(&["apple"]));
}

#[test]
fn scan_match_with_no_matches_still_completes_iteration() {
    let server = Server::start();
    let mut con = server.connect();
    glob_key(&mut con);
    let all = scan_all(
        &mut con,
        "k",
        &["MATCH", "nothing-like-this*", "COUNT", "3"],
    );
    assert!(all.pairs.is_empty());
}

#[test]
fn scan_match_filters_fields_not_values() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "field", &["match-me", "other"]);
    let nothing = scan_all(&mut con, "k", &["MATCH", "match-*"]);
    assert!(nothing.pairs.is_empty());
    let found = scan_all(&mut con, "k", &["MATCH", "fi*"]);
    let expected = content(&[("field", &["match-me", "other"])]);
    assert_eq!(found.pairs, Pairs::from_iter(expected));
}

#[test]
fn scan_match_works_on_binary_fields() {
    let server = Server::start();
    let mut con = server.connect();
    let fields: [&[u8]; 4] = [b"a\0b", b"a\xffb", b"ab", b"\xff"];
    for field in fields {
        insert(&mut con, "k", field, &["v"]);
    }
    let scan_bytes = |con: &mut Connection, pattern: &[u8]| -> Vec<Bytes> {
        let (cursor, pairs) = scan_once(con, "k", "0", ("MATCH", pattern, "COUNT", 1000));
        assert_eq!(cursor, "0");
        sorted(pairs.into_iter().map(|(field, _)| field).collect())
    };
    assert_eq!(
        scan_bytes(&mut con, b"a?b"),
        [b"a\0b".to_vec(), b"a\xffb".to_vec()]
    );
    assert_eq!(scan_bytes(&mut con, b"a\0*"), [b"a\0b".to_vec()]);
    assert_eq!(
        scan_bytes(&mut con, b"*\xff*"),
        [b"a\xffb".to_vec(), b"\xff".to_vec()]
    );
}

// ---------------------------------------------------------------- changes between calls

/// Runs a full iteration, calling `between` after every call, and returns
/// every field seen. `between` gets the call number.
fn scan_while_changing(
    con: &mut Connection,
    count: &str,
    mut between: impl FnMut(&mut Connection, usize),
) -> BTreeMap<String, usize> {
    let mut cursor = "0".to_owned();
    let mut seen = BTreeMap::new();
    for call in 0.. {
        assert!(call < 1_000_000, "SCAN never finished");
        let (next, pairs) = scan_once(con, "k", &cursor, &["COUNT", count]);
        for (field, _) in pairs {
            let field = String::from_utf8(field).expect("a text field");
            *seen.entry(field).or_insert(0) += 1;
        }
        if next == "0" {
            break;
        }
        cursor = next;
        between(con, call);
    }
    seen
}

fn assert_stable_fields_seen(seen: &BTreeMap<String, usize>, stable: usize) {
    let missing: Vec<String> = (0..stable)
        .map(|i| format!("stable:{i}"))
        .filter(|field| !seen.contains_key(field))
        .collect();
    assert!(
        missing.is_empty(),
        "{} fields present throughout were never returned, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    for field in seen.keys() {
        assert!(
            field.starts_with("stable:") || field.starts_with("new:") || field.starts_with("temp:"),
            "SCAN returned a field never stored: {field:?}"
        );
    }
}

#[test]
fn scan_returns_every_field_present_throughout_while_key_grows() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "stable:", 0..2000);
    let mut next_new = 0;
    let seen = scan_while_changing(&mut con, "10", |con, call| {
        // Bursts early, midway and late: each one doubles the table at least
        // once while a cursor is out.
        let burst = match call {
            3 => 4000,
            40 => 8000,
            150 => 16000,
            _ => 3,
        };
        fill(con, "k", "new:", next_new..next_new + burst);
        next_new += burst;
    });
    assert!(
        integer(&mut con, &["MULTIMAP.CARD", "k"]) > 30_000,
        "the key did not grow much"
    );
    assert_stable_fields_seen(&seen, 2000);
}

#[test]
fn scan_returns_every_field_present_throughout_while_key_shrinks() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "stable:", 0..500);
    fill(&mut con, "k", "temp:", 0..20_000);
    let mut next_temp = 0;
    let seen = scan_while_changing(&mut con, "10", |con, _| {
        if next_temp < 20_000 {
            let mut pipe = redis::pipe();
            for i in next_temp..next_temp + 500 {
                pipe.cmd("MULTIMAP.DEL")
                    .arg("k")
                    .arg(format!("temp:{i}"))
                    .ignore();
            }
            let _: () = pipe.query(con).unwrap();
            next_temp += 500;
        }
    });
    assert_eq!(
        integer(&mut con, &["MULTIMAP.CARD", "k"]),
        500,
        "every temp field was deleted"
    );
    assert_stable_fields_seen(&seen, 500);
}

#[test]
fn scan_returns_every_field_present_throughout_while_fields_come_and_go() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "stable:", 0..300);
    let seed = seed();
    let mut rng = seed.rng();
    let mut live: Vec<usize> = Vec::new();
    let mut next_temp = 0;
    let seen = scan_while_changing(&mut con, "10", |con, call| {
        let mut pipe = redis::pipe();
        // Cycles of adding thousands of fields and deleting them again (in
        // random order), so the table grows and shrinks while a cursor is out.
        if call % 20 < 10 {
            for _ in 0..400 {
                pipe.cmd("MULTIMAP.INSERT")
                    .arg("k")
                    .arg(format!("temp:{next_temp}"))
                    .arg("v")
                    .ignore();
                live.push(next_temp);
                next_temp += 1;
            }
        } else {
            for _ in 0..400 {
                if live.is_empty() {
                    break;
                }
                let victim = live.swap_remove(rng.next() as usize % live.len());
                pipe.cmd("MULTIMAP.DEL")
                    .arg("k")
                    .arg(format!("temp:{victim}"))
                    .ignore();
            }
        }
        // Values of stable fields may change too; the fields stay.
        pipe.cmd("MULTIMAP.INSERT")
            .arg("k")
            .arg(format!("stable:{}", rng.next() % 300))
            .arg("more")
            .ignore();
        let _: () = pipe.query(con).unwrap();
    });
    assert!(
        next_temp >= 4000,
        "fewer changes than intended: {next_temp}"
    );
    assert_stable_fields_seen(&seen, 300);
}

#[test]
fn scan_of_key_deleted_mid_iteration_ends_with_zero() {
    let server = Server::start();
    let mut con = server.connect();
    fill(&mut con, "k", "field:", 0..100);
    let (cursor, _) = scan_once(&mut con, "k", "0", &["COUNT", "5"]);
    assert_ne!(cursor, "0");
    run(&mut con, ("DEL", "k"));
    let (next, pairs) = scan_once(&mut con, "k", &cursor, &["COUNT", "5"]);
    assert_eq!(next, "0");
    assert!(pairs.is_empty());
}
