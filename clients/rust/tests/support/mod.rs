//! What the client's test binaries share beside the module's test support
//! (tests/common/ at the repository's root): [`every_method!`], one scenario
//! that calls every method once, and the ways to run it on each kind of
//! connection and pipeline.
// Each test binary uses a different part of this module.
#![allow(dead_code, unused_macros)]

use std::fmt::{Debug, Display};

/// Checks one step's reply against what it must be.
pub fn check<T: PartialEq + Debug>(step: &str, reply: Result<T, impl Display>, expected: T) {
    match reply {
        Ok(reply) => assert_eq!(reply, expected, "{step}"),
        Err(error) => panic!("{step} failed: {error}"),
    }
}

/// Checks one step's reply with a condition, for replies that depend on the
/// clock.
pub fn check_that<T: Debug>(
    step: &str,
    reply: Result<T, impl Display>,
    holds: impl FnOnce(&T) -> bool,
) {
    match reply {
        Ok(reply) => assert!(holds(&reply), "{step} replied {reply:?}"),
        Err(error) => panic!("{step} failed: {error}"),
    }
}

/// Owned strings, to write expected replies briefly.
pub fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|item| (*item).to_owned()).collect()
}

/// Whether every field time the server replied lies in `range`.
pub fn all_within(times: &[i64], range: std::ops::RangeInclusive<i64>) -> bool {
    times.iter().all(|time| range.contains(time))
}

/// Every MULTIMAP method once (the scan iterator aside: it is no pipeline
/// method), on `$key`, which must be missing at the start and is missing
/// again at the end. Each step is `method(arguments) => expected reply`, or
/// `=> where |reply: Type| condition` for a reply that depends on the clock;
/// the expected reply's type is the one asked for. `$run!` gets the context
/// tokens given, then the steps, each as `method(arguments) [expected]` or
/// `method(arguments) [where condition]`, and runs them on its kind of
/// connection.
///
/// The order makes every reply known in advance: the fields' contents are
/// followed in the comments. BPOP pops values already there, so that it
/// never waits, in a pipeline or a transaction either; the expiry times are
/// far in the future, so that no field expires under the steps after them.
macro_rules! every_method {
    ($run:ident!($($context:tt)*), $key:expr) => {
        steps!($run!($($context)*); [];
            multimap_insert($key, "f", &["a", "b"]) => 2_usize;
            multimap_prepend($key, "f", &["x", "y"]) => 4_usize;
            multimap_add($key, "f", &["b", "c", "c"]) => 1_usize;
            // f: x y a b c
            multimap_get($key, "f") => strings(&["x", "y", "a", "b", "c"]);
            multimap_values($key, "f") => strings(&["x", "y", "a", "b", "c"]);
            multimap_len($key, "f") => 5_usize;
            multimap_range($key, "f", 1, -2) => strings(&["y", "a", "b"]);
            multimap_contains($key, "f", "a") => true;
            multimap_contains($key, "f", "z") => false;
            multimap_exists($key, "f") => true;
            multimap_exists($key, "g") => false;
            multimap_index($key, "f", -1) => Some("c".to_owned());
            multimap_index($key, "f", 9) => None::<String>;
            multimap_set($key, "f", 0, "X") => ();
            // f: X y a b c
            multimap_pos($key, "f", "b", LposOptions::default()) => Some(3_usize);
            multimap_pos($key, "f", "y", LposOptions::default().count(0)) => vec![1_usize];
            multimap_replace($key, "g", &["1", "2", "3", "2"]) => 4_usize;
            multimap_remove($key, "g", &["2", "9"]) => 2_usize;
            // g: 1 3
            multimap_card($key) => 2_usize;
            multimap_size($key) => 7_usize;
            multimap_fields($key) => BTreeSet::from(["f".to_owned(), "g".to_owned()]);
            multimap_getall($key) => BTreeMap::from([
                ("f".to_owned(), strings(&["X", "y", "a", "b", "c"])),
                ("g".to_owned(), strings(&["1", "3"])),
            ]);
            multimap_scan($key, 0, ScanOptions::default().with_count(100)) => (0_u64, BTreeMap::from([
                ("f".to_owned(), strings(&["X", "y", "a", "b", "c"])),
                ("g".to_owned(), strings(&["1", "3"])),
            ]));
            multimap_scan($key, 0, ScanOptions::default().with_pattern("g*").with_count(100))
                => (0_u64, BTreeMap::from([("g".to_owned(), strings(&["1", "3"]))]));
            multimap_trim($key, "f", 1, -1) => ();
            // f: y a b c
            multimap_pop($key, "f", Direction::Left, None) => Some("y".to_owned());
            multimap_pop($key, "f", Direction::Right, Some(2)) => Some(strings(&["c", "b"]));
            multimap_pop($key, "nope", Direction::Left, Some(2)) => None::<Vec<String>>;
            // f: a
            multimap_bpop($key, "f", Direction::Left, 1.0, None) => Some(strings(&["a"]));
            multimap_bpop($key, "g", Direction::Right, 1.0, Some(5)) => Some(strings(&["3", "1"]));
            // The key went with its last field.
            multimap_card($key) => 0_usize;
            multimap_insert($key, "h", "v") => 1_usize;
            multimap_expire($key, 100, ExpireOption::NONE, &["h", "nope"]) => vec![1_i64, -2];
            multimap_expire($key, 50, ExpireOption::GT, "h") => vec![0_i64];
            multimap_ttl($key, &["h", "nope"]) => where |ttl: &Vec<i64>| ttl.len() == 2
                && all_within(&ttl[..1], 99..=100) && ttl[1] == -2;
            multimap_pexpire($key, 200_000, ExpireOption::XX, "h") => vec![1_i64];
            multimap_pttl($key, "h") => where |ttl: &Vec<i64>| ttl.len() == 1
                && all_within(ttl, 190_000..=200_000);
            multimap_expireat($key, 4_102_444_800, ExpireOption::NONE, "h") => vec![1_i64];
            multimap_expiretime($key, "h") => vec![4_102_444_800_i64];
            multimap_pexpireat($key, 4_102_444_800_500, ExpireOption::NONE, "h") => vec![1_i64];
            multimap_pexpiretime($key, "h") => vec![4_102_444_800_500_i64];
            multimap_persist($key, &["h", "nope"]) => vec![1_i64, -2];
            multimap_ttl($key, "h") => vec![-1_i64];
            multimap_del($key, &["h", "nope"]) => 1_usize;
            multimap_exists($key, "h") => false;
        )
    };
}

/// Brackets each step's expectation, so that the runners can tell where it
/// ends: `method(arguments) => expected;` becomes
/// `method(arguments) [expected];`, and `=> where condition;`
/// `[where condition];`.
macro_rules! steps {
    ($run:ident!($($context:tt)*); [$($done:tt)*];) => {
        $run!($($context)*; $($done)*)
    };
    ($run:ident!($($context:tt)*); [$($done:tt)*];
        $method:ident($($arg:expr),*) => where $holds:expr; $($rest:tt)*) => {
        steps!($run!($($context)*); [$($done)* $method($($arg),*) [where $holds];]; $($rest)*)
    };
    ($run:ident!($($context:tt)*); [$($done:tt)*];
        $method:ident($($arg:expr),*) => $expected:expr; $($rest:tt)*) => {
        steps!($run!($($context)*); [$($done)* $method($($arg),*) [$expected];]; $($rest)*)
    };
}

/// Runs the steps on a synchronous connection (`MultiMapCommands`).
macro_rules! on_connection {
    ($con:expr; $($method:ident($($arg:expr),*) [$($expected:tt)+];)*) => {
        $(step!(
            stringify!($method($($arg),*)),
            $con.$method($($arg),*),
            $($expected)+
        );)*
    };
}

/// Runs the steps on an asynchronous connection (`AsyncMultiMapCommands`).
macro_rules! on_async_connection {
    ($con:expr; $($method:ident($($arg:expr),*) [$($expected:tt)+];)*) => {
        $(step!(
            stringify!($method($($arg),*)),
            $con.$method($($arg),*).await,
            $($expected)+
        );)*
    };
}

/// Adds the steps to `$pipe` (`MultiMapPipeline`), runs it with `$query` (an
/// expression of the pipeline that replies one value per step), and checks
/// each step's reply.
macro_rules! in_pipeline {
    ($pipe:ident, $query:expr; $($method:ident($($arg:expr),*) [$($expected:tt)+];)*) => {{
        let mut checks: Vec<Box<dyn FnOnce(redis::Value)>> = Vec::new();
        $(
            $pipe.$method($($arg),*);
            checks.push(Box::new(move |reply: redis::Value| {
                step!(
                    stringify!($method($($arg),*)),
                    redis::from_redis_value(reply),
                    $($expected)+
                );
            }));
        )*
        let replies: Vec<redis::Value> = $query;
        assert_eq!(replies.len(), checks.len(), "one reply per step: {replies:?}");
        for (check, reply) in checks.into_iter().zip(replies) {
            check(reply);
        }
    }};
}

/// One step: its reply is the expected one, or meets the condition.
macro_rules! step {
    ($name:expr, $reply:expr, where $holds:expr) => {
        support::check_that($name, $reply, $holds)
    };
    ($name:expr, $reply:expr, $expected:expr) => {
        support::check($name, $reply, $expected)
    };
}
