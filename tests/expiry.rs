//! Field expiration as clients see it, on every server: the replies and
//! error texts of the EXPIRE, TTL and PERSIST families (HEXPIRE's rules on
//! Redis 8.2, which tests/hashes.rs compares side by side where the server
//! has them); expired fields gone for every command from their expiry time
//! on, whether or not they have been removed yet (on a replica, which never
//! removes them by itself, they stay held and hidden); which writes keep and
//! which clear an expiry; what a master does to an expired field a write
//! touches; and what others see: keyspace events, the replication stream and
//! the AOF, INFO's counts, and clients blocked in BPOP.
//!
//! Deadlines, not sleeps: a test waits for an expiry time by the clock it
//! shares with the server, and for background removal by polling with a
//! bound. A check made between a field's expiry and its removal must hold
//! either way, unless it runs on a replica whose master is gone.

mod common;

use std::thread::sleep;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use redis::{Connection, ConnectionLike, ToRedisArgs, Value};

use common::{
    content, error_reply, fields, get, getall, info_number, insert, integer, invalid_expire_time,
    key_exists, keyevents_during, logged_commands, query, run, scan_all, show_command, sorted,
    wait_for, wait_in_sync, wait_until, Server, ServerBuilder, Waiter, EXPIRE_TIME_NEGATIVE,
    FIELDS_MISSING, NOT_AN_INTEGER, NOT_INTEGERS, NO_OPTIONS, NO_SUCH_KEY, NUMFIELDS_MISMATCH,
    NUMFIELDS_NOT_ABOVE_ZERO, NUMFIELDS_NOT_POSITIVE, WRONGTYPE,
};

/// The commands that set an expiry, relative or absolute, in seconds or ms.
const SETTERS: [&str; 4] = [
    "MULTIMAP.EXPIRE",
    "MULTIMAP.PEXPIRE",
    "MULTIMAP.EXPIREAT",
    "MULTIMAP.PEXPIREAT",
];

/// The commands that read an expiry.
const GETTERS: [&str; 4] = [
    "MULTIMAP.TTL",
    "MULTIMAP.PTTL",
    "MULTIMAP.EXPIRETIME",
    "MULTIMAP.PEXPIRETIME",
];

/// The largest absolute expiry time, in ms: 2^46 - 1, as for hash fields.
const MAX_EXPIRY_MS: i64 = (1 << 46) - 1;

/// How long a master may take to remove fields nobody touches once they
/// expired: SPEC says 2 s on an idle server; a loaded test machine gets more.
const REMOVAL_TIMEOUT: Duration = Duration::from_secs(10);

/// Unix time in ms by the clock this machine's servers use.
fn now_ms() -> i64 {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    now.as_millis() as i64
}

/// Returns once the clock has passed `at` (unix ms).
fn wait_past(at: i64) {
    loop {
        let left = at - now_ms();
        if left < 0 {
            return;
        }
        sleep(Duration::from_millis(left as u64 + 1));
    }
}

/// Checks that `at` (unix ms) is still ahead: a test that must do something
/// before an expiry cannot tell anything if the machine was too slow.
fn assert_still_before(at: i64, what: &str) {
    assert!(now_ms() < at, "{what}: too slow a machine");
}

/// Gives `fields` of `key` an expiry `in_ms` from now and returns once it has
/// passed, so that they are expired, removed or not, for what follows.
fn expire_and_wait_past(con: &mut impl ConnectionLike, key: &str, fields: &[&str], in_ms: i64) {
    let at = now_ms() + in_ms;
    expire(con, "MULTIMAP.PEXPIREAT", key, at, &[], fields);
    wait_past(at);
}

/// Stops the master while `at` is still ahead, then waits past `at`: its
/// replica holds fields that have expired and that no `MULTIMAP.DEL` from a
/// master can remove any more.
fn stop_master_then_wait_past(master: Server, at: i64) {
    drop(master.stop());
    assert_still_before(at, "the master outlived the expiry");
    wait_past(at);
}

/// Waits until `multimap_expired_fields` reaches `count`, which background
/// removal gets to on its own once the fields' time has passed.
fn wait_for_expired_count(con: &mut impl ConnectionLike, count: i64) {
    wait_until(
        &format!("{count} fields removed by expiry"),
        REMOVAL_TIMEOUT,
        || expired_count(con) == count,
    );
}

/// A server holding `k` with fields `f` and `g`, each with the one value
/// `v` and no expiry, and a client of it: what most reply tests start from.
fn server_with_f_and_g() -> (Server, Connection) {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    insert(&mut con, "k", "g", &["v"]);
    (server, con)
}

/// Starts `replica` as a replica of `master` and waits until it is in sync,
/// before the test writes anything: a full sync may take longer than an
/// expiry the test sets is away.
fn start_synced_replica(
    master: &Server,
    con: &mut Connection,
    replica: ServerBuilder,
) -> (Server, Connection) {
    let replica = replica.replica_of(master).start();
    let mut replica_con = replica.connect();
    wait_in_sync(con, &mut replica_con);
    (replica, replica_con)
}

/// `name key time [condition...] FIELDS n field...` of the EXPIRE family.
fn expire<T: ToRedisArgs>(
    con: &mut impl ConnectionLike,
    name: &str,
    key: &str,
    time: T,
    condition: &[&str],
    fields: &[&str],
) -> Vec<i64> {
    query(
        con,
        (name, key, time, condition, "FIELDS", fields.len(), fields),
    )
}

/// `name key FIELDS n field...` of the TTL family or PERSIST.
fn per_field(con: &mut impl ConnectionLike, name: &str, key: &str, fields: &[&str]) -> Vec<i64> {
    query(con, (name, key, "FIELDS", fields.len(), fields))
}

fn pexpiretime(con: &mut impl ConnectionLike, key: &str, field: &str) -> i64 {
    per_field(con, "MULTIMAP.PEXPIRETIME", key, &[field])[0]
}

fn texts(values: &[&str]) -> Vec<String> {
    values.iter().map(|value| (*value).to_owned()).collect()
}

/// `multimap_fields_with_expiry` of INFO multimap.
fn with_expiry(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_fields_with_expiry")
}

/// `multimap_expired_fields` of INFO multimap.
fn expired_count(con: &mut impl ConnectionLike) -> i64 {
    info_number(con, "multimap", "multimap_expired_fields")
}

/// The MULTIMAP commands the AOF logged, as text, without the MULTI/EXEC
/// that wrap what a module propagates on some servers.
fn logged_multimap_commands(server: &Server) -> Vec<String> {
    logged_commands(server.dir.path())
        .iter()
        .filter(|command| command[0].to_ascii_uppercase().starts_with(b"MULTIMAP."))
        .map(|command| show_command(command))
        .collect()
}

// ---------------------------------------------------------------- replies

#[test]
fn each_expire_command_replies_one_code_per_field_given() {
    let server = Server::start();
    let mut con = server.connect();
    let in_a_day_s = now_ms() / 1000 + 86_400;
    let times = [86_400, 86_400_000, in_a_day_s, in_a_day_s * 1000];
    for (name, time) in SETTERS.into_iter().zip(times) {
        insert(&mut con, "k", "a", &["1"]);
        insert(&mut con, "k", "b", &["2"]);
        assert_eq!(
            expire(&mut con, name, "k", time, &[], &["a", "missing", "b"]),
            [1, -2, 1],
            "{name}"
        );
        assert_eq!(
            expire(&mut con, name, "nokey", time, &[], &["a", "b"]),
            [-2, -2],
            "{name} on a missing key"
        );
        assert!(!key_exists(&mut con, "nokey"), "{name} created a key");
        assert_eq!(get(&mut con, "k", "a"), ["1"], "{name} kept the values");
        run(&mut con, ("DEL", "k"));
    }
}

#[test]
fn conditions_compare_with_the_current_expiry_and_a_field_without_one_counts_as_infinite() {
    let server = Server::start();
    let mut con = server.connect();
    let at = now_ms() + 3_600_000;
    // (field has an expiry at `at`, condition, new time, reply)
    let cases: [(bool, &str, i64, i64); 19] = [
        (false, "NX", at, 1),
        (false, "XX", at, 0),
        (false, "GT", at, 0),
        (false, "LT", at, 1),
        (false, "", at, 1),
        (true, "NX", at + 1, 0),
        (true, "XX", at + 1, 1),
        (true, "XX", at - 1, 1),
        (true, "GT", at + 1, 1),
        (true, "GT", at, 0),
        (true, "GT", at - 1, 0),
        (true, "LT", at - 1, 1),
        (true, "LT", at, 0),
        (true, "LT", at + 1, 0),
        (true, "", at - 1, 1),
        (true, "nx", at + 1, 0),
        (true, "xX", at + 1, 1),
        (true, "gt", at + 1, 1),
        (true, "Lt", at - 1, 1),
    ];
    insert(&mut con, "k", "f", &["v"]);
    for (has_expiry, condition, time, reply) in cases {
        if has_expiry {
            assert_eq!(
                expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]),
                [1]
            );
        } else {
            per_field(&mut con, "MULTIMAP.PERSIST", "k", &["f"]);
        }
        let condition: &[&str] = if condition.is_empty() {
            &[]
        } else {
            &[condition]
        };
        let case = format!("expiry {has_expiry}, {condition:?} {time} (at = {at})");
        assert_eq!(
            expire(&mut con, "MULTIMAP.PEXPIREAT", "k", time, condition, &["f"]),
            [reply],
            "{case}"
        );
        let expected = match (reply, has_expiry) {
            (1, _) => time,
            (_, true) => at,
            (_, false) => -1,
        };
        assert_eq!(pexpiretime(&mut con, "k", "f"), expected, "{case}");
    }
}

#[test]
fn a_field_named_twice_is_processed_twice() {
    let (_server, mut con) = server_with_f_and_g();
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 100, &["NX"], &["f", "f"]),
        [1, 0]
    );
    assert_eq!(
        per_field(&mut con, "MULTIMAP.TTL", "k", &["f", "f"]),
        [100, 100]
    );
    assert_eq!(
        per_field(&mut con, "MULTIMAP.PERSIST", "k", &["f", "f"]),
        [1, -1]
    );
    assert_eq!(
        expire(&mut con, "MULTIMAP.PEXPIRE", "k", 0, &[], &["g", "g"]),
        [2, -2]
    );
    assert_eq!(fields(&mut con, "k"), ["f"]);
}

#[test]
fn a_time_of_zero_or_in_the_past_deletes_the_field_and_the_key_with_its_last_field() {
    let server = Server::start();
    let mut con = server.connect();
    for field in ["a", "b", "c", "d"] {
        insert(&mut con, "k", field, &["v", "w"]);
    }
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 0, &[], &["a"]),
        [2]
    );
    let past_ms = now_ms() - 60_000;
    assert_eq!(
        expire(
            &mut con,
            "MULTIMAP.PEXPIREAT",
            "k",
            past_ms,
            &[],
            &["b", "a"]
        ),
        [2, -2]
    );
    assert_eq!(sorted(fields(&mut con, "k")), ["c", "d"]);
    assert_eq!(integer(&mut con, ("MULTIMAP.SIZE", "k")), 4);
    // The condition is checked before the time: GT is never met by a field
    // without expiry, LT always is.
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIREAT", "k", 1, &["GT"], &["c"]),
        [0]
    );
    assert_eq!(
        expire(&mut con, "MULTIMAP.PEXPIRE", "k", 100_000, &[], &["d"]),
        [1]
    );
    assert_eq!(
        expire(&mut con, "MULTIMAP.PEXPIREAT", "k", 0, &["GT"], &["d"]),
        [0]
    );
    assert_eq!(
        expire(&mut con, "MULTIMAP.PEXPIREAT", "k", 0, &["NX"], &["d"]),
        [0]
    );
    assert_eq!(sorted(fields(&mut con, "k")), ["c", "d"]);
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 0, &["LT"], &["c", "d"]),
        [2, 2]
    );
    assert!(
        !key_exists(&mut con, "k"),
        "the key went with its last field"
    );
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "k")), 0);
}

#[test]
fn ttl_family_replies_minus_two_for_no_field_minus_one_for_no_expiry() {
    let (_server, mut con) = server_with_f_and_g();
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 1000, &[], &["g"]);
    for name in GETTERS {
        let replies = per_field(&mut con, name, "k", &["f", "missing", "g"]);
        assert_eq!(&replies[..2], [-1, -2], "{name}");
        assert!(replies[2] > 0, "{name}: {replies:?}");
        assert_eq!(
            per_field(&mut con, name, "nokey", &["f", "g"]),
            [-2, -2],
            "{name} on a missing key"
        );
    }
    assert!(!key_exists(&mut con, "nokey"));
}

/// The TTL family rounds up to whole seconds, from the exact ms times: a
/// field expiring at 12.001 s reports EXPIRETIME 13, and one with 1.5 s left
/// TTL 2. The server's clock is read between `before` and `after`.
#[test]
fn ttl_and_expiretime_round_up_to_whole_seconds() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    let whole_second = (now_ms() / 1000 + 20) * 1000;
    for at in [
        whole_second,
        whole_second + 1,
        whole_second + 500,
        whole_second + 999,
        now_ms() + 1_500,
        now_ms() + 10_001,
    ] {
        assert_eq!(
            expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]),
            [1]
        );
        assert_eq!(pexpiretime(&mut con, "k", "f"), at);
        let expiretime = per_field(&mut con, "MULTIMAP.EXPIRETIME", "k", &["f"])[0];
        assert_eq!(expiretime, (at + 999) / 1000, "EXPIRETIME of {at}");
        let before = now_ms();
        let ttl = per_field(&mut con, "MULTIMAP.TTL", "k", &["f"])[0];
        let pttl = per_field(&mut con, "MULTIMAP.PTTL", "k", &["f"])[0];
        let after = now_ms();
        assert!(
            (at - after..=at - before).contains(&pttl),
            "PTTL {pttl} of {at} read between {before} and {after}"
        );
        let rounded_up = |ms: i64| (ms + 999) / 1000;
        assert!(
            (rounded_up(at - after)..=rounded_up(at - before)).contains(&ttl),
            "TTL {ttl} of {at} read between {before} and {after}"
        );
    }
    // Seconds in, seconds out; relative times count from the command's clock.
    let at_s = now_ms() / 1000 + 3600;
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIREAT", "k", at_s, &[], &["f"]),
        [1]
    );
    assert_eq!(pexpiretime(&mut con, "k", "f"), at_s * 1000);
    assert_eq!(
        per_field(&mut con, "MULTIMAP.EXPIRETIME", "k", &["f"]),
        [at_s]
    );
    for (name, time, ms) in [
        ("MULTIMAP.EXPIRE", 100, 100_000),
        ("MULTIMAP.PEXPIRE", 100_500, 100_500),
    ] {
        let before = now_ms();
        assert_eq!(expire(&mut con, name, "k", time, &[], &["f"]), [1]);
        let after = now_ms();
        let at = pexpiretime(&mut con, "k", "f");
        assert!(
            (before + ms..=after + ms).contains(&at),
            "{name} {time} set {at}, sent between {before} and {after}"
        );
    }
}

#[test]
fn persist_replies_per_field_and_removes_the_expiry() {
    let (_server, mut con) = server_with_f_and_g();
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 1000, &[], &["f"]);
    assert_eq!(
        per_field(&mut con, "MULTIMAP.PERSIST", "k", &["f", "g", "missing"]),
        [1, -1, -2]
    );
    assert_eq!(
        per_field(&mut con, "MULTIMAP.TTL", "k", &["f", "g"]),
        [-1, -1]
    );
    assert_eq!(
        per_field(&mut con, "MULTIMAP.PERSIST", "nokey", &["f"]),
        [-2]
    );
    // With the expiry gone, NX may set one again.
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 10, &["NX"], &["f"]),
        [1]
    );
    assert_eq!(get(&mut con, "k", "f"), ["v"]);
}

// ---------------------------------------------------------------- errors

/// (command line, error) on `k` (a MultiMap), `nokey` and `s` (a string).
fn expire_family_errors() -> Vec<(Vec<String>, String)> {
    let words = |line: &str| -> Vec<String> { line.split(' ').map(str::to_owned).collect() };
    let mut cases: Vec<(Vec<String>, String)> = Vec::new();
    let mut case = |line: &str, error: &str| cases.push((words(line), error.to_owned()));
    // WRONGTYPE comes first, then the time, then the FIELDS keyword, then numfields.
    case("MULTIMAP.EXPIRE s x FOO 0 f", WRONGTYPE);
    case("MULTIMAP.TTL s FOO 0 f", WRONGTYPE);
    case("MULTIMAP.PERSIST s FIELDS 0 f", WRONGTYPE);
    for key in ["k", "nokey"] {
        let with_key = |rest: &str| format!("MULTIMAP.EXPIRE {key} {rest}");
        case(&with_key("x FOO 0 f"), NOT_AN_INTEGER);
        case(&with_key("-1 FOO 0 f"), EXPIRE_TIME_NEGATIVE);
        case(
            &with_key("-9223372036854775808 FIELDS 1 f"),
            EXPIRE_TIME_NEGATIVE,
        );
        case(
            &with_key("70368744178 FOO 0 f"),
            &invalid_expire_time("multimap.expire"),
        );
        case(&with_key("100 FOO FIELDS 1 f"), FIELDS_MISSING);
        case(&with_key("100 NX NX FIELDS 1 f"), FIELDS_MISSING);
        case(&with_key("100 NX XX 1 f"), FIELDS_MISSING);
        case(&with_key("100 1 FIELDS f x"), FIELDS_MISSING);
        case(&with_key("100 FIELDSS 1 f"), FIELDS_MISSING);
        case(&with_key("100 FIELDS 0 f"), NUMFIELDS_NOT_ABOVE_ZERO);
        case(&with_key("100 FIELDS -1 f"), NUMFIELDS_NOT_ABOVE_ZERO);
        case(&with_key("100 GT FIELDS x f"), NUMFIELDS_NOT_ABOVE_ZERO);
        case(&with_key("100 FIELDS 01 f"), NUMFIELDS_NOT_ABOVE_ZERO);
        case(
            &with_key("100 FIELDS 99999999999999999999 f"),
            NUMFIELDS_NOT_ABOVE_ZERO,
        );
        case(&with_key("100 FIELDS 0 f g"), NUMFIELDS_NOT_ABOVE_ZERO);
        case(&with_key("100 FIELDS 2 f"), NUMFIELDS_MISMATCH);
        case(&with_key("100 FIELDS 1 f g"), NUMFIELDS_MISMATCH);
        case(&with_key("100 NX FIELDS 1"), NUMFIELDS_MISMATCH);
        case(&with_key("100 FIELDS FIELDS 1 f"), NUMFIELDS_NOT_ABOVE_ZERO);
        for name in [
            "MULTIMAP.TTL",
            "multimap.pttl",
            "MULTIMAP.ExpireTime",
            "MULTIMAP.PERSIST",
        ] {
            let line = |rest: &str| format!("{name} {key} {rest}");
            case(&line("FOO 1 f"), FIELDS_MISSING);
            case(&line("1 FIELDS f"), FIELDS_MISSING);
            case(&line("NX FIELDS 1 f"), FIELDS_MISSING);
            case(&line("FIELDS 0 f"), NUMFIELDS_NOT_POSITIVE);
            case(&line("FIELDS -5 f"), NUMFIELDS_NOT_POSITIVE);
            case(&line("FIELDS x f"), NUMFIELDS_NOT_POSITIVE);
            case(&line("FIELDS 0 f g"), NUMFIELDS_NOT_POSITIVE);
            case(&line("FIELDS 3 f g"), NUMFIELDS_MISMATCH);
            case(&line("FIELDS 1 f g"), NUMFIELDS_MISMATCH);
        }
    }
    for bad in NOT_INTEGERS.into_iter().chain(["007", "-0", "+1"]) {
        for name in SETTERS {
            cases.push((
                vec![
                    name.into(),
                    "k".into(),
                    bad.into(),
                    "FIELDS".into(),
                    "1".into(),
                    "f".into(),
                ],
                NOT_AN_INTEGER.to_owned(),
            ));
        }
    }
    cases
}

#[test]
fn malformed_expiry_commands_reply_the_native_errors_in_the_native_order() {
    let (mut server, mut con) = server_with_f_and_g();
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 1000, &[], &["g"]);
    let expiry = pexpiretime(&mut con, "k", "g");
    run(&mut con, ("SET", "s", "text"));
    for (line, error) in expire_family_errors() {
        assert_eq!(error_reply(&mut con, &line), error, "{line:?}");
    }
    assert_eq!(per_field(&mut con, "MULTIMAP.TTL", "k", &["f"]), [-1]);
    assert_eq!(
        pexpiretime(&mut con, "k", "g"),
        expiry,
        "no error changed an expiry"
    );
    assert_eq!(sorted(fields(&mut con, "k")), ["f", "g"]);
    assert!(!key_exists(&mut con, "nokey"));
    assert!(server.is_alive());
}

/// Times past 2^46 - 1 ms once made absolute, named after the command as
/// Redis names it, in lower case whatever the case it was called in; the
/// largest time itself is fine.
#[test]
fn expiry_times_past_2_pow_46_ms_are_invalid_and_the_error_names_the_command() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    let max_s = MAX_EXPIRY_MS / 1000;
    let invalid: [(&str, i64); 8] = [
        ("MULTIMAP.EXPIRE", max_s),
        ("MULTIMAP.EXPIRE", max_s + 1),
        ("MULTIMAP.EXPIRE", i64::MAX),
        ("multimap.Pexpire", MAX_EXPIRY_MS),
        ("MULTIMAP.PEXPIRE", i64::MAX),
        ("MULTIMAP.EXPIREAT", max_s + 1),
        ("MULTIMAP.EXPIREAT", i64::MAX),
        ("Multimap.PExpireAt", MAX_EXPIRY_MS + 1),
    ];
    for (name, time) in invalid {
        let line = (name, "k", time, "FIELDS", 1, "f");
        assert_eq!(
            error_reply(&mut con, line),
            invalid_expire_time(&name.to_lowercase()),
            "{name} {time}"
        );
    }
    assert_eq!(per_field(&mut con, "MULTIMAP.TTL", "k", &["f"]), [-1]);
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIREAT", "k", max_s, &[], &["f"]),
        [1]
    );
    assert_eq!(pexpiretime(&mut con, "k", "f"), max_s * 1000);
    assert_eq!(
        expire(
            &mut con,
            "MULTIMAP.PEXPIREAT",
            "k",
            MAX_EXPIRY_MS,
            &[],
            &["f"]
        ),
        [1]
    );
    assert_eq!(pexpiretime(&mut con, "k", "f"), MAX_EXPIRY_MS);
    assert_eq!(
        per_field(&mut con, "MULTIMAP.EXPIRETIME", "k", &["f"]),
        [(MAX_EXPIRY_MS + 999) / 1000]
    );
}

// ---------------------------------------------------------------- expired fields are gone

/// Every read of `k`, whose field `gone` (values x, y, a) has expired while
/// `keep` (a, b) has no expiry and `later` (c) expires in an hour, and of
/// `all`, whose every field has expired, sees only what is live. Reads
/// only, so that it holds on a replica too.
fn assert_expired_fields_are_gone(con: &mut Connection, resp3: &mut Connection) {
    for read in ["MULTIMAP.GET", "MULTIMAP.VALUES"] {
        let values: Vec<String> = query(con, (read, "k", "gone"));
        assert!(values.is_empty(), "{read}: {values:?}");
    }
    assert_eq!(integer(con, ("MULTIMAP.LEN", "k", "gone")), 0);
    let range: Vec<String> = query(con, ("MULTIMAP.RANGE", "k", "gone", 0, -1));
    assert!(range.is_empty(), "RANGE: {range:?}");
    assert_eq!(integer(con, ("MULTIMAP.CONTAINS", "k", "gone", "x")), 0);
    assert_eq!(integer(con, ("MULTIMAP.EXISTS", "k", "gone")), 0);
    let index: Option<String> = query(con, ("MULTIMAP.INDEX", "k", "gone", 0));
    assert_eq!(index, None, "INDEX");
    let pos: Option<i64> = query(con, ("MULTIMAP.POS", "k", "gone", "x"));
    assert_eq!(pos, None, "POS");
    let positions: Vec<i64> = query(con, ("MULTIMAP.POS", "k", "gone", "a", "COUNT", 0));
    assert!(positions.is_empty(), "POS COUNT 0: {positions:?}");
    assert_eq!(integer(con, ("MULTIMAP.CARD", "k")), 2);
    assert_eq!(integer(con, ("MULTIMAP.SIZE", "k")), 3);
    assert_eq!(sorted(fields(con, "k")), ["keep", "later"]);
    let live = content(&[("keep", &["a", "b"]), ("later", &["c"])]);
    assert_eq!(getall(con, "k"), live, "GETALL under RESP2");
    assert_eq!(getall(resp3, "k"), live, "GETALL under RESP3");
    assert_eq!(scan_all(con, "k", NO_OPTIONS).content(), live, "SCAN");
    let matched = scan_all(con, "k", &["MATCH", "g*", "COUNT", "1000"]);
    assert!(matched.pairs.is_empty(), "SCAN MATCH g*: {matched:?}");
    for name in GETTERS {
        let replies = per_field(con, name, "k", &["gone", "keep", "missing"]);
        assert_eq!(replies, [-2, -1, -2], "{name}");
        assert!(per_field(con, name, "k", &["later"])[0] > 0, "{name}");
    }
    // A key whose fields all expired holds nothing any command can see.
    assert_eq!(integer(con, ("MULTIMAP.CARD", "all")), 0);
    assert_eq!(integer(con, ("MULTIMAP.SIZE", "all")), 0);
    assert!(fields(con, "all").is_empty());
    assert!(getall(con, "all").is_empty());
    assert!(getall(resp3, "all").is_empty());
    assert!(scan_all(con, "all", NO_OPTIONS).pairs.is_empty());
    assert_eq!(per_field(con, "MULTIMAP.TTL", "all", &["f", "g"]), [-2, -2]);
}

/// Fills `k` and `all` for [`assert_expired_fields_are_gone`]: the fields
/// that must expire expire at the returned unix ms time.
fn fill_for_expiry(con: &mut Connection, in_ms: i64) -> i64 {
    insert(con, "k", "keep", &["a", "b"]);
    insert(con, "k", "gone", &["x", "y", "a"]);
    insert(con, "k", "later", &["c"]);
    insert(con, "all", "f", &["v"]);
    insert(con, "all", "g", &["v", "w"]);
    let at = now_ms() + in_ms;
    assert_eq!(
        expire(con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["gone"]),
        [1]
    );
    assert_eq!(
        expire(con, "MULTIMAP.EXPIRE", "k", 3600, &[], &["later"]),
        [1]
    );
    assert_eq!(
        expire(con, "MULTIMAP.PEXPIREAT", "all", at, &[], &["f", "g"]),
        [1, 1]
    );
    at
}

/// On a master, right at their expiry time and once removed: each check
/// holds whether or not the master has removed the fields yet.
#[test]
fn expired_fields_are_gone_for_every_read_at_their_expiry_and_after_removal() {
    let server = Server::start();
    let mut con = server.connect();
    let mut resp3 = server.connect_resp3();
    let at = fill_for_expiry(&mut con, 300);
    wait_past(at);
    assert_expired_fields_are_gone(&mut con, &mut resp3);
    wait_for_expired_count(&mut con, 3);
    assert!(
        !key_exists(&mut con, "all"),
        "the key went with its last field"
    );
    assert_expired_fields_are_gone(&mut con, &mut resp3);
}

/// A replica whose master is gone holds expired fields (it never removes
/// them by itself) and hides them from every read, deterministically: no
/// master's `MULTIMAP.DEL` can arrive. Promoted, it removes them itself.
#[test]
fn a_replica_holds_expired_fields_but_no_read_sees_them() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let (replica, mut replica_con) = start_synced_replica(&master, &mut con, Server::builder());
    let mut replica_resp3 = replica.connect_resp3();
    let at = fill_for_expiry(&mut con, 2_000);
    wait_in_sync(&mut con, &mut replica_con);
    stop_master_then_wait_past(master, at);
    assert_expired_fields_are_gone(&mut replica_con, &mut replica_resp3);
    // A master removes within 2 s; a replica keeps them past that.
    wait_past(at + 2_500);
    assert_expired_fields_are_gone(&mut replica_con, &mut replica_resp3);
    assert_eq!(
        expired_count(&mut replica_con),
        0,
        "the replica removed fields"
    );
    assert!(
        key_exists(&mut replica_con, "all"),
        "the replica removed a key"
    );
    run(&mut replica_con, ("REPLICAOF", "NO", "ONE"));
    // Each key in its own expiry slice: `all` may go before `k`'s field.
    wait_until(
        "the promoted replica to remove all three",
        REMOVAL_TIMEOUT,
        || expired_count(&mut replica_con) == 3,
    );
    assert!(
        !key_exists(&mut replica_con, "all"),
        "the promoted replica kept the key its fields left"
    );
    assert_expired_fields_are_gone(&mut replica_con, &mut replica_resp3);
}

/// A replica that loads fields already expired (here from its own dump at
/// startup, as from a full sync) keeps them for its master to remove, and
/// counts no expiry until it is a master itself.
#[test]
fn a_replica_loading_fields_already_expired_keeps_them_for_its_master() {
    let (server, mut con) = server_with_f_and_g();
    let at = now_ms() + 300;
    run(&mut con, ("MULTIMAP.PEXPIREAT", "k", at, "FIELDS", 1, "g"));
    run(&mut con, "SAVE");
    let dir = server.stop();
    wait_past(at);
    // Port 1 refuses connections: the replica never syncs, and keeps what
    // it loaded.
    let replica = Server::builder()
        .in_dir(dir)
        .config_values("replicaof", &["127.0.0.1", "1"])
        .start();
    let mut replica_con = replica.connect();
    assert_eq!(expired_count(&mut replica_con), 0, "the replica removed g");
    assert_eq!(
        integer(&mut replica_con, ("MULTIMAP.EXISTS", "k", "g")),
        0,
        "a read saw the expired field"
    );
    assert_eq!(integer(&mut replica_con, ("MULTIMAP.EXISTS", "k", "f")), 1);
    run(&mut replica_con, ("REPLICAOF", "NO", "ONE"));
    wait_for_expired_count(&mut replica_con, 1);
    assert_eq!(sorted(fields(&mut replica_con, "k")), ["f"]);
}

/// Makes `server` sleep for `seconds` (`DEBUG SLEEP` from another client),
/// and returns once it no longer answers a PING within 200 ms.
fn put_to_sleep(server: &Server, seconds: &str) -> Waiter {
    let mut probe = server.connect();
    probe
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("a read timeout");
    let asleep = Waiter::send(server.connect(), ("DEBUG", "SLEEP", seconds));
    wait_until("the server to sleep", REMOVAL_TIMEOUT, || {
        redis::cmd("PING").query::<String>(&mut probe).is_err()
    });
    asleep
}

/// What comes from the master is applied as the master saw it: a write the
/// master made while a field was live is applied to the field, values and
/// expiry kept, even once the replica's clock has passed that expiry (the
/// replica slept through it here). The replica's own clients still see no
/// such field, until the master's removal arrives.
#[test]
fn a_replica_applies_the_masters_writes_to_a_field_it_sees_expired() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let (replica, mut replica_con) = start_synced_replica(&master, &mut con, Server::builder());
    insert(&mut con, "k", "f", &["a"]);
    insert(&mut con, "k", "g", &["v"]);
    let at = now_ms() + 1_500;
    expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]);
    wait_in_sync(&mut con, &mut replica_con);
    let replica_asleep = put_to_sleep(&replica, "2.5");
    assert_eq!(insert(&mut con, "k", "f", &["b"]), 2);
    let offset = common::master_offset(&mut con);
    // Asleep, the master cannot remove the field before the replica's check.
    let master_asleep = put_to_sleep(&master, "3.5");
    assert_still_before(at, "the expiry passed too soon");
    wait_for(
        "the replica to apply the INSERT",
        REMOVAL_TIMEOUT,
        || info_number(&mut replica_con, "replication", "slave_repl_offset"),
        |applied| *applied >= offset,
    );
    assert!(now_ms() > at, "the replica woke before the expiry");
    assert_eq!(get(&mut replica_con, "k", "f"), Vec::<String>::new());
    assert_eq!(integer(&mut replica_con, ("MULTIMAP.LEN", "k", "f")), 0);
    assert_eq!(fields(&mut replica_con, "k"), ["g"]);
    assert_eq!(
        per_field(&mut replica_con, "MULTIMAP.TTL", "k", &["f"]),
        [-2]
    );
    assert_eq!(replica_asleep.value(), Value::Okay);
    assert_eq!(master_asleep.value(), Value::Okay);
    wait_for_expired_count(&mut con, 1);
    wait_in_sync(&mut con, &mut replica_con);
    assert_eq!(common::digest(&mut con), common::digest(&mut replica_con));
    assert_eq!(fields(&mut replica_con, "k"), ["g"]);
}

/// Replaying an AOF, commands see every field as live, as the master did
/// when it logged them: the INSERT logged before the expiry appends to the
/// field, which stays expired (and is never served) once loaded.
#[test]
fn an_aof_replay_applies_writes_to_fields_whose_expiry_has_passed() {
    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["a"]);
    insert(&mut con, "k", "g", &["v"]);
    let at = now_ms() + 300;
    expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]);
    assert_eq!(insert(&mut con, "k", "f", &["b"]), 2);
    assert_still_before(at, "the expiry passed too soon");
    let dir = server.stop();
    wait_past(at);
    let restarted = Server::builder().aof(false).in_dir(dir).start();
    let mut con = restarted.connect();
    assert_eq!(get(&mut con, "k", "f"), Vec::<String>::new());
    assert_eq!(getall(&mut con, "k"), content(&[("g", &["v"])]));
    wait_for_expired_count(&mut con, 1);
    assert_eq!(getall(&mut con, "k"), content(&[("g", &["v"])]));
}

#[test]
fn expire_and_persist_on_an_expired_field_find_no_field() {
    let (_server, mut con) = server_with_f_and_g();
    expire_and_wait_past(&mut con, "k", &["f", "g"], 30);
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 100, &[], &["f"]),
        [-2]
    );
    assert_eq!(
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 0, &[], &["f"]),
        [-2]
    );
    assert_eq!(per_field(&mut con, "MULTIMAP.PERSIST", "k", &["g"]), [-2]);
    assert_eq!(integer(&mut con, ("MULTIMAP.CARD", "k")), 0);
}

// ---------------------------------------------------------------- writes and expiries

#[test]
fn list_writes_keep_a_fields_expiry() {
    let server = Server::start();
    let mut con = server.connect();
    let at = now_ms() + 3_600_123;
    let writes: [&[&str]; 10] = [
        &["MULTIMAP.INSERT", "k", "f", "d"],
        &["MULTIMAP.ADD", "k", "f", "e", "a"],
        &["MULTIMAP.PREPEND", "k", "f", "z"],
        &["MULTIMAP.POP", "k", "f", "LEFT"],
        &["MULTIMAP.POP", "k", "f", "RIGHT", "COUNT", "1"],
        &["MULTIMAP.BPOP", "k", "f", "LEFT", "1"],
        &["MULTIMAP.SET", "k", "f", "0", "q"],
        &["MULTIMAP.TRIM", "k", "f", "0", "1"],
        &["MULTIMAP.REMOVE", "k", "f", "q"],
        &["MULTIMAP.INSERT", "k", "f", "r", "s"],
    ];
    insert(&mut con, "k", "f", &["a", "b", "c"]);
    insert(&mut con, "k", "other", &["o"]);
    expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]);
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 7200, &[], &["other"]);
    let other_at = pexpiretime(&mut con, "k", "other");
    for write in writes {
        run(&mut con, write);
        assert_eq!(pexpiretime(&mut con, "k", "f"), at, "after {write:?}");
        assert!(integer(&mut con, ("MULTIMAP.LEN", "k", "f")) > 0);
    }
    assert_eq!(pexpiretime(&mut con, "k", "other"), other_at);
    assert_eq!(get(&mut con, "k", "other"), ["o"]);
}

#[test]
fn replace_clears_a_fields_expiry_and_so_does_coming_back_after_going() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "keeper", &["v"]);
    // (how the field goes or is rewritten, how it comes back)
    let cases: [(&[&str], &[&str]); 6] = [
        (
            &["MULTIMAP.REPLACE", "k", "f", "x"],
            &["MULTIMAP.LEN", "k", "f"],
        ),
        (
            &["MULTIMAP.DEL", "k", "f"],
            &["MULTIMAP.INSERT", "k", "f", "x"],
        ),
        (
            &["MULTIMAP.REMOVE", "k", "f", "a", "b"],
            &["MULTIMAP.PREPEND", "k", "f", "x"],
        ),
        (
            &["MULTIMAP.POP", "k", "f", "LEFT", "COUNT", "5"],
            &["MULTIMAP.ADD", "k", "f", "x"],
        ),
        (
            &["MULTIMAP.TRIM", "k", "f", "1", "0"],
            &["MULTIMAP.REPLACE", "k", "f", "x"],
        ),
        (
            &["MULTIMAP.EXPIRE", "k", "0", "FIELDS", "1", "f"],
            &["MULTIMAP.INSERT", "k", "f", "x"],
        ),
    ];
    for (going, coming_back) in cases {
        run(&mut con, ("MULTIMAP.REPLACE", "k", "f", "a", "b"));
        expire(&mut con, "MULTIMAP.EXPIRE", "k", 3600, &[], &["f"]);
        run(&mut con, going);
        run(&mut con, coming_back);
        assert_eq!(
            per_field(&mut con, "MULTIMAP.TTL", "k", &["f"]),
            [-1],
            "{going:?} then {coming_back:?}"
        );
        assert_eq!(
            get(&mut con, "k", "f"),
            ["x"],
            "{going:?} then {coming_back:?}"
        );
    }
}

/// (write, its reply) on field `f` of `k` once `f` (values a, b) expired:
/// each acts as on a missing field.
fn writes_on_an_expired_field() -> Vec<(Vec<&'static str>, Value)> {
    let ok = Value::Okay;
    vec![
        (vec!["MULTIMAP.INSERT", "k", "f", "c"], Value::Int(1)),
        (vec!["MULTIMAP.PREPEND", "k", "f", "c"], Value::Int(1)),
        (vec!["MULTIMAP.ADD", "k", "f", "a", "c"], Value::Int(2)),
        (vec!["MULTIMAP.REPLACE", "k", "f", "c"], Value::Int(1)),
        (vec!["MULTIMAP.REMOVE", "k", "f", "a"], Value::Int(0)),
        (vec!["MULTIMAP.DEL", "k", "f"], Value::Int(0)),
        (vec!["MULTIMAP.POP", "k", "f", "LEFT"], Value::Nil),
        (vec!["MULTIMAP.TRIM", "k", "f", "0", "0"], ok),
        (
            vec!["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "1", "f"],
            Value::Array(vec![Value::Int(-2)]),
        ),
        (
            vec!["MULTIMAP.PERSIST", "k", "FIELDS", "1", "f"],
            Value::Array(vec![Value::Int(-2)]),
        ),
    ]
}

/// A master removes an expired field a write touches (or has removed it
/// already): the write acts as on a missing field, and whatever re-creates
/// the field gives it no expiry and none of its old values.
#[test]
fn writes_on_an_expired_field_act_as_on_a_missing_field() {
    let server = Server::start();
    let mut con = server.connect();
    for (write, reply) in writes_on_an_expired_field() {
        run(&mut con, ("DEL", "k"));
        insert(&mut con, "k", "f", &["a", "b"]);
        insert(&mut con, "k", "g", &["v"]);
        expire_and_wait_past(&mut con, "k", &["f"], 20);
        let got: Value = query(&mut con, &write);
        assert_eq!(got, reply, "{write:?}");
        let values = get(&mut con, "k", "f");
        assert!(
            !values.iter().any(|value| value == "b"),
            "{write:?} left {values:?}"
        );
        let ttl = per_field(&mut con, "MULTIMAP.TTL", "k", &["f"])[0];
        assert_eq!(ttl, if values.is_empty() { -2 } else { -1 }, "{write:?}");
    }
    run(&mut con, ("DEL", "k"));
    insert(&mut con, "k", "f", &["a"]);
    expire_and_wait_past(&mut con, "k", &["f"], 20);
    let error = error_reply(&mut con, ("MULTIMAP.SET", "k", "f", 0, "x"));
    assert_eq!(error, NO_SUCH_KEY, "SET on an expired field");
}

/// Promoted at once with a write in the same pipeline, the former replica
/// holds the expired field when the write comes (its active expiry cannot run
/// in between): it removes the field first, replicating and logging that as
/// `MULTIMAP.DEL`, then re-creates it. Had the field been removed a moment
/// before, the log and the events would read the same.
#[test]
fn a_master_removes_an_expired_field_first_when_a_write_touches_it() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let logging_replica = Server::builder()
        .aof(false)
        .config("notify-keyspace-events", "KEA");
    let (replica, mut replica_con) = start_synced_replica(&master, &mut con, logging_replica);
    insert(&mut con, "k", "f", &["a", "b"]);
    insert(&mut con, "k", "g", &["v"]);
    let at = now_ms() + 2_000;
    expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f"]);
    wait_in_sync(&mut con, &mut replica_con);
    stop_master_then_wait_past(master, at);
    let logged_before = logged_multimap_commands(&replica).len();
    let events = keyevents_during(&replica, |con| {
        let (_, inserted): (Value, i64) = redis::pipe()
            .cmd("REPLICAOF")
            .arg(&["NO", "ONE"])
            .cmd("MULTIMAP.INSERT")
            .arg(&["k", "f", "c"])
            .query(con)
            .expect("REPLICAOF NO ONE and INSERT");
        assert_eq!(inserted, 1, "INSERT found the expired values");
    });
    assert_eq!(
        events,
        [
            ("multimap.expired".to_owned(), "k".to_owned()),
            ("multimap.insert".to_owned(), "k".to_owned())
        ]
    );
    assert_eq!(get(&mut replica_con, "k", "f"), ["c"]);
    assert_eq!(
        per_field(&mut replica_con, "MULTIMAP.TTL", "k", &["f"]),
        [-1]
    );
    assert_eq!(
        logged_multimap_commands(&replica)[logged_before..],
        [
            r#"MULTIMAP.DEL "k" "f""#.to_owned(),
            r#"MULTIMAP.INSERT "k" "f" "c""#.to_owned()
        ]
    );
    assert_eq!(expired_count(&mut replica_con), 1);
}

// ---------------------------------------------------------------- events

/// Background removal fires `multimap.expired` (once per key per pass, so
/// at least once and at most once a field) and `del` when the key goes.
#[test]
fn background_removal_fires_expired_and_del_when_the_key_goes() {
    let server = Server::builder()
        .config("notify-keyspace-events", "KEA")
        .aof(false)
        .start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["v"]);
    insert(&mut con, "k", "g", &["v"]);
    insert(&mut con, "k", "h", &["v"]);
    insert(&mut con, "kept", "f", &["v"]);
    insert(&mut con, "kept", "g", &["v"]);
    let at = now_ms() + 200;
    expire(
        &mut con,
        "MULTIMAP.PEXPIREAT",
        "k",
        at,
        &[],
        &["f", "g", "h"],
    );
    expire(&mut con, "MULTIMAP.PEXPIREAT", "kept", at, &[], &["g"]);
    let seen = keyevents_during(&server, |con| {
        wait_until("both keys' fields to go", REMOVAL_TIMEOUT, || {
            !key_exists(con, "k") && expired_count(con) == 4
        });
    });
    let (del, expired): (Vec<_>, Vec<_>) = seen.iter().partition(|(event, _)| event == "del");
    assert_eq!(del, [&("del".to_owned(), "k".to_owned())], "{seen:?}");
    let on_k: Vec<&str> = seen
        .iter()
        .filter(|(_, key)| key == "k")
        .map(|(event, _)| event.as_str())
        .collect();
    assert_eq!(on_k.last(), Some(&"del"), "del comes last: {seen:?}");
    let on = |key: &str| expired.iter().filter(|(_, on)| on == key).count();
    assert!((1..=3).contains(&on("k")), "{seen:?}");
    assert_eq!(on("kept"), 1, "{seen:?}");
    assert!(
        expired.iter().all(|(event, _)| event == "multimap.expired"),
        "{seen:?}"
    );
    let logged = logged_multimap_commands(&server);
    let deletions: Vec<&String> = logged
        .iter()
        .filter(|line| line.starts_with("MULTIMAP.DEL"))
        .collect();
    assert_eq!(
        sorted(deletions.into_iter().cloned().collect()),
        [
            r#"MULTIMAP.DEL "k" "f""#,
            r#"MULTIMAP.DEL "k" "g""#,
            r#"MULTIMAP.DEL "k" "h""#,
            r#"MULTIMAP.DEL "kept" "g""#
        ]
    );
    assert_eq!(fields(&mut con, "kept"), ["f"]);
}

// ---------------------------------------------------------------- replication and the AOF

/// `MULTIMAP.PEXPIREAT "k" "<ms>" "FIELDS" ...` as [`show_command`] shows it:
/// the logged time, and the rest of the line.
fn logged_pexpireat(line: &str) -> (i64, String) {
    let rest = line
        .strip_prefix("MULTIMAP.PEXPIREAT \"k\" \"")
        .unwrap_or_else(|| panic!("not a PEXPIREAT of k: {line}"));
    let (time, rest) = rest.split_once("\" ").expect("a quoted time");
    (time.parse().expect("a time in ms"), rest.to_owned())
}

/// What the AOF (and so the replication stream, the same propagation) gets
/// of each expiry command: the fields set as one absolute PEXPIREAT without
/// the condition, each field deleted as a DEL, PERSIST as sent, and nothing
/// for what changed nothing.
#[test]
fn expiries_are_logged_as_absolute_pexpireat_and_deletions_as_del() {
    let server = Server::builder().aof(false).start();
    let mut con = server.connect();
    for field in ["a", "b", "c"] {
        insert(&mut con, "k", field, &["v"]);
    }
    let mut expected: Vec<(Option<(i64, i64)>, String)> = Vec::new();
    let mut send = |con: &mut Connection, line: &[&str], logged: &[&str], ms: Option<i64>| {
        let before = now_ms();
        run(con, line);
        let after = now_ms();
        for log in logged {
            let window = ms.map(|ms| (before + ms, after + ms));
            expected.push((window, (*log).to_owned()));
        }
    };
    let at_s = now_ms() / 1000 + 7200;
    let at_s_ms = at_s * 1000;
    let at = now_ms() + 9_000_123;
    send(
        &mut con,
        &[
            "MULTIMAP.EXPIRE",
            "k",
            "100",
            "FIELDS",
            "3",
            "a",
            "missing",
            "b",
        ],
        &[r#""FIELDS" "2" "a" "b""#],
        Some(100_000),
    );
    send(
        &mut con,
        &[
            "multimap.pexpire",
            "k",
            "5000",
            "NX",
            "FIELDS",
            "2",
            "a",
            "c",
        ],
        &[r#""FIELDS" "1" "c""#],
        Some(5_000),
    );
    send(
        &mut con,
        &[
            "MULTIMAP.EXPIREAT",
            "k",
            &at_s.to_string(),
            "FIELDS",
            "1",
            "a",
        ],
        &[r#""FIELDS" "1" "a""#],
        None,
    );
    send(
        &mut con,
        &[
            "MULTIMAP.PEXPIREAT",
            "k",
            &at.to_string(),
            "xx",
            "FIELDS",
            "2",
            "b",
            "b",
        ],
        &[r#""FIELDS" "2" "b" "b""#],
        None,
    );
    for no_op in [
        &["MULTIMAP.EXPIRE", "k", "100", "NX", "FIELDS", "1", "a"][..],
        &["MULTIMAP.PEXPIRE", "nokey", "100", "FIELDS", "1", "a"],
        &["MULTIMAP.EXPIRE", "k", "0", "GT", "FIELDS", "1", "a"],
        &["MULTIMAP.TTL", "k", "FIELDS", "1", "a"],
        &["MULTIMAP.PEXPIRETIME", "k", "FIELDS", "1", "a"],
        &["MULTIMAP.PERSIST", "k", "FIELDS", "1", "missing"],
    ] {
        send(&mut con, no_op, &[], None);
    }
    send(
        &mut con,
        &["MULTIMAP.PERSIST", "k", "FIELDS", "2", "a", "missing"],
        &[r#"MULTIMAP.PERSIST "k" "FIELDS" "2" "a" "missing""#],
        None,
    );
    send(
        &mut con,
        &[
            "MULTIMAP.EXPIRE",
            "k",
            "0",
            "FIELDS",
            "3",
            "b",
            "missing",
            "a",
        ],
        &[r#"MULTIMAP.DEL "k" "b""#, r#"MULTIMAP.DEL "k" "a""#],
        None,
    );
    send(
        &mut con,
        &["MULTIMAP.PEXPIREAT", "k", "1", "FIELDS", "1", "c"],
        &[r#"MULTIMAP.DEL "k" "c""#],
        None,
    );
    assert!(!key_exists(&mut con, "k"));
    let logged: Vec<String> = logged_multimap_commands(&server)
        .into_iter()
        .filter(|line| !line.starts_with("MULTIMAP.INSERT"))
        .collect();
    assert_eq!(logged.len(), expected.len(), "{logged:#?}");
    let fixed_times = [at_s_ms, at];
    let mut fixed = fixed_times.iter();
    for (line, (window, want)) in logged.iter().zip(&expected) {
        if !want.starts_with("\"FIELDS\"") {
            assert_eq!(line, want);
            continue;
        }
        let (time, rest) = logged_pexpireat(line);
        assert_eq!(&rest, want, "{line}");
        match window {
            Some((from, to)) => assert!((*from..=*to).contains(&time), "{line}: not in {window:?}"),
            None => assert_eq!(Some(&time), fixed.next(), "{line}"),
        }
    }
}

/// The replica gets the master's absolute times, whatever its own clock
/// says when the relative command arrives, and the master's removals.
#[test]
fn a_replica_holds_the_masters_absolute_expiry_times_and_removals() {
    let master = Server::builder().master().start();
    let mut con = master.connect();
    let replica = Server::builder().replica_of(&master).start();
    let mut replica_con = replica.connect();
    for field in ["a", "b", "c", "d"] {
        insert(&mut con, "k", field, &["v"]);
    }
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 1000, &[], &["a"]);
    expire(&mut con, "MULTIMAP.PEXPIRE", "k", 1_000_001, &[], &["b"]);
    expire(&mut con, "MULTIMAP.PEXPIRE", "k", 1, &[], &["c"]);
    wait_for_expired_count(&mut con, 1);
    wait_in_sync(&mut con, &mut replica_con);
    let all = ["a", "b", "c", "d"];
    let on_master = per_field(&mut con, "MULTIMAP.PEXPIRETIME", "k", &all);
    assert_eq!(&on_master[2..], [-2, -1]);
    assert_eq!(
        per_field(&mut replica_con, "MULTIMAP.PEXPIRETIME", "k", &all),
        on_master
    );
    assert_eq!(sorted(fields(&mut replica_con, "k")), ["a", "b", "d"]);
    assert_eq!(common::digest(&mut con), common::digest(&mut replica_con));
    assert_eq!(
        expired_count(&mut replica_con),
        0,
        "replicas count no expiry"
    );
}

// ---------------------------------------------------------------- INFO

/// `multimap_fields_with_expiry` follows every way a field gains or loses
/// an expiry; `multimap_expired_fields` counts the fields removed for their
/// time (EXPIRE in the past, a write finding an expired field, background
/// removal), not those deleted or persisted.
#[test]
fn info_counts_fields_with_an_expiry_and_fields_expired() {
    let server = Server::start();
    let mut con = server.connect();
    for field in ["a", "b", "c", "d", "e"] {
        insert(&mut con, "k", field, &["v", "w"]);
    }
    insert(&mut con, "other", "f", &["v"]);
    let far = now_ms() + 3_600_000;
    // (command, fields with an expiry after it, fields expired so far)
    #[rustfmt::skip]
    let steps: Vec<(Vec<String>, i64, i64)> = [
        (vec!["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "3", "a", "b", "missing"], 2, 0),
        (vec!["MULTIMAP.PEXPIRE", "k", "200000", "FIELDS", "2", "a", "c"], 3, 0),
        (vec!["MULTIMAP.PEXPIREAT", "other", &far.to_string(), "FIELDS", "1", "f"], 4, 0),
        (vec!["MULTIMAP.PERSIST", "k", "FIELDS", "2", "a", "d"], 3, 0),
        (vec!["MULTIMAP.INSERT", "k", "b", "x"], 3, 0),
        (vec!["MULTIMAP.POP", "k", "b", "LEFT"], 3, 0),
        (vec!["MULTIMAP.REPLACE", "k", "b", "x"], 2, 0),
        (vec!["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "2", "b", "d"], 4, 0),
        (vec!["MULTIMAP.DEL", "k", "b"], 3, 0),
        (vec!["MULTIMAP.REMOVE", "k", "d", "v", "w"], 2, 0),
        (vec!["MULTIMAP.EXPIRE", "k", "0", "FIELDS", "2", "c", "e"], 1, 2),
        (vec!["MULTIMAP.EXPIRE", "k", "100", "FIELDS", "1", "a"], 2, 2),
        (vec!["COPY", "k", "copy"], 3, 2),
        (vec!["RENAME", "copy", "renamed"], 3, 2),
        (vec!["DEBUG", "RELOAD"], 3, 2),
        (vec!["DEL", "renamed"], 2, 2),
        (vec!["FLUSHALL"], 0, 2),
    ]
    .into_iter()
    .map(|(line, with, expired)| (line.into_iter().map(str::to_owned).collect(), with, expired))
    .collect();
    for (line, with, expired) in steps {
        run(&mut con, &line);
        common::wait_for_lazy_frees(&mut con);
        assert_eq!(
            (with_expiry(&mut con), expired_count(&mut con)),
            (with, expired),
            "after {line:?}"
        );
    }
    // Fields that expire on their own count once removed.
    for field in ["f", "g", "h"] {
        insert(&mut con, "k", field, &["v"]);
    }
    let at = now_ms() + 200;
    expire(&mut con, "MULTIMAP.PEXPIREAT", "k", at, &[], &["f", "g"]);
    expire(&mut con, "MULTIMAP.EXPIRE", "k", 100, &[], &["h"]);
    assert_eq!(with_expiry(&mut con), 3);
    wait_for_expired_count(&mut con, 4);
    assert_eq!(with_expiry(&mut con), 1);
    // A write finding an expired field removes it.
    expire_and_wait_past(&mut con, "k", &["h"], 20);
    let _ = integer(&mut con, ("MULTIMAP.INSERT", "k", "h", "new"));
    assert_eq!((with_expiry(&mut con), expired_count(&mut con)), (0, 5));
}

// ---------------------------------------------------------------- BPOP

#[test]
fn bpop_on_an_expired_field_waits_and_gets_only_values_written_after() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "f", &["old", "older"]);
    insert(&mut con, "k", "g", &["v"]);
    expire_and_wait_past(&mut con, "k", &["f"], 20);
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "LEFT", 10));
    waiter.assert_waiting(&mut con);
    insert(&mut con, "k", "f", &["new"]);
    assert_eq!(waiter.values(), [b"new".to_vec()]);
}

/// A field created and expired within one transaction wakes the waiter's
/// retry, which must find it gone and keep the client waiting.
#[test]
fn a_field_that_expires_before_the_waiter_is_served_keeps_it_waiting() {
    let server = Server::start();
    let mut con = server.connect();
    insert(&mut con, "k", "g", &["v"]);
    let waiter = Waiter::block(&server, ("MULTIMAP.BPOP", "k", "f", "RIGHT", 10));
    let (_, set, _): (i64, Vec<i64>, Value) = redis::pipe()
        .atomic()
        .cmd("MULTIMAP.INSERT")
        .arg(&["k", "f", "stale"])
        .cmd("MULTIMAP.PEXPIRE")
        .arg(&["k", "1", "FIELDS", "1", "f"])
        .cmd("DEBUG")
        .arg(&["SLEEP", "0.01"])
        .query(&mut con)
        .expect("MULTI/EXEC");
    assert_eq!(set, [1]);
    waiter.assert_waiting(&mut con);
    insert(&mut con, "k", "f", &["fresh"]);
    assert_eq!(waiter.values(), [b"fresh".to_vec()]);
    assert_eq!(get(&mut con, "k", "g"), texts(&["v"]));
}
