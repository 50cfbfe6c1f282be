//! Typed helpers for the commands the tests send. Command lines are anything
//! redis-rs takes as arguments, the command name first: `&["EXISTS", "k"]`,
//! or a tuple mixing text and bytes, `("MULTIMAP.CONTAINS", "k", b"f\0", value)`.
//! Each helper panics, naming the command line and the server's error, when
//! the reply is an error or not of the expected type; `try_*` variants return
//! the problem instead, for keys whose coherence is what is under test.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::thread::sleep;
use std::time::{Duration, Instant};

use redis::{Connection, ConnectionLike, FromRedisValue, ToRedisArgs, Value};

use super::server::Server;
use super::show::{show, show_cmd, show_reply};

pub type Bytes = Vec<u8>;

/// A MultiMap's content: each field's values in order, fields sorted (the
/// server's field order is unspecified).
pub type Fields = BTreeMap<Bytes, Vec<Bytes>>;

/// (field, values) pairs in the order a reply lists them.
pub type Pairs = Vec<(Bytes, Vec<Bytes>)>;

/// SCAN without options: `scan_all(con, key, NO_OPTIONS)`.
pub const NO_OPTIONS: &[&str] = &[];

/// A SCAN iteration that needs more calls than this never ends.
const MAX_SCAN_CALLS: usize = 1_000_000;

/// How long a background AOF rewrite may take.
const AOF_REWRITE_TIMEOUT: Duration = Duration::from_secs(60);
/// Valkey frees deleted keys on a background thread; a big key takes a moment.
const LAZYFREE_TIMEOUT: Duration = Duration::from_secs(30);

// ---------------------------------------------------------------- any command

/// A command from its whole line, the name first.
pub fn command(line: impl ToRedisArgs) -> redis::Cmd {
    let mut command = redis::Cmd::new();
    command.arg(line);
    command
}

/// Sends a command line and converts its reply; panics naming the line.
pub fn query<T: FromRedisValue>(con: &mut impl ConnectionLike, line: impl ToRedisArgs) -> T {
    let command = command(line);
    command
        .query(con)
        .unwrap_or_else(|error| panic!("{}: {error}", show_cmd(&command)))
}

/// A command whose reply does not matter, only that it is not an error.
pub fn run(con: &mut impl ConnectionLike, line: impl ToRedisArgs) -> Value {
    query(con, line)
}

/// A command that replies with an integer.
pub fn integer(con: &mut impl ConnectionLike, line: impl ToRedisArgs) -> i64 {
    query(con, line)
}

/// A command that replies with a simple or bulk string.
pub fn text(con: &mut impl ConnectionLike, line: impl ToRedisArgs) -> String {
    query(con, line)
}

// ---------------------------------------------------------------- MULTIMAP commands

/// MULTIMAP.INSERT; replies the field's length after it.
pub fn insert<K, F, V>(con: &mut impl ConnectionLike, key: K, field: F, values: &[V]) -> i64
where
    K: ToRedisArgs,
    F: ToRedisArgs,
    V: ToRedisArgs,
{
    integer(con, ("MULTIMAP.INSERT", key, field, values))
}

/// MULTIMAP.GET as text.
pub fn get(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
    field: impl ToRedisArgs,
) -> Vec<String> {
    query(con, ("MULTIMAP.GET", key, field))
}

/// MULTIMAP.GET as bytes.
pub fn get_bytes(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
    field: impl ToRedisArgs,
) -> Vec<Bytes> {
    query(con, ("MULTIMAP.GET", key, field))
}

/// MULTIMAP.FIELDS as text, in the server's order.
pub fn fields(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> Vec<String> {
    query(con, ("MULTIMAP.FIELDS", key))
}

/// MULTIMAP.FIELDS as bytes, in the server's order.
pub fn fields_bytes(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> Vec<Bytes> {
    query(con, ("MULTIMAP.FIELDS", key))
}

/// MULTIMAP.GETALL as a map; panics on a malformed reply or a field listed twice.
pub fn getall(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> Fields {
    try_getall(con, key).unwrap_or_else(|problem| panic!("{problem}"))
}

/// MULTIMAP.GETALL as a map, or what is wrong with the reply.
pub fn try_getall(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> Result<Fields, String> {
    let command = command(("MULTIMAP.GETALL", key));
    let line = show_cmd(&command);
    let reply: Value = command
        .query(con)
        .map_err(|error| format!("{line}: {error}"))?;
    let pairs = field_pairs(&reply).map_err(|problem| format!("{line}: {problem}"))?;
    let count = pairs.len();
    let fields: Fields = pairs.into_iter().collect();
    if fields.len() != count {
        return Err(format!("{line}: a field listed twice"));
    }
    Ok(fields)
}

/// A MultiMap's content from text literals: `content(&[("f", &["a", "b"])])`.
pub fn content(pairs: &[(&str, &[&str])]) -> Fields {
    pairs
        .iter()
        .map(|(field, values)| {
            let values = values.iter().map(|value| value.as_bytes().to_vec());
            (field.as_bytes().to_vec(), values.collect())
        })
        .collect()
}

/// A full SCAN iteration of a key nothing changes meanwhile.
#[derive(Debug)]
pub struct ScanIteration {
    /// Every (field, values) pair returned, in order.
    pub pairs: Pairs,
    pub calls: usize,
    /// The most pairs one call returned.
    pub largest_call: usize,
}

impl ScanIteration {
    /// The fields returned, in order.
    pub fn fields(&self) -> Vec<Bytes> {
        self.pairs.iter().map(|(field, _)| field.clone()).collect()
    }

    /// The content returned, to compare with GETALL's; panics if a field
    /// came twice (an unchanged key returns each field exactly once).
    pub fn content(&self) -> Fields {
        let content: Fields = self.pairs.iter().cloned().collect();
        assert_eq!(
            content.len(),
            self.pairs.len(),
            "SCAN returned a field twice: {}",
            super::show::show_list(&self.fields())
        );
        content
    }
}

/// One MULTIMAP.SCAN call: the next cursor and the pairs returned. `options`
/// follow the cursor: `&["COUNT", "5"]`, `("MATCH", pattern)`, `NO_OPTIONS`.
pub fn scan_once(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
    cursor: &str,
    options: impl ToRedisArgs,
) -> (String, Pairs) {
    try_scan_once(con, key, cursor, options).unwrap_or_else(|problem| panic!("{problem}"))
}

pub fn try_scan_once(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
    cursor: &str,
    options: impl ToRedisArgs,
) -> Result<(String, Pairs), String> {
    let command = command(("MULTIMAP.SCAN", key, cursor, options));
    let line = show_cmd(&command);
    let reply: Value = command
        .query(con)
        .map_err(|error| format!("{line}: {error}"))?;
    scan_reply(&reply).map_err(|problem| format!("{line}: {problem}"))
}

/// Every call of a SCAN iteration from cursor 0 until the server returns 0.
pub fn scan_all(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs + Copy,
    options: impl ToRedisArgs + Copy,
) -> ScanIteration {
    try_scan_all(con, key, options).unwrap_or_else(|problem| panic!("{problem}"))
}

pub fn try_scan_all(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs + Copy,
    options: impl ToRedisArgs + Copy,
) -> Result<ScanIteration, String> {
    let mut iteration = ScanIteration {
        pairs: Vec::new(),
        calls: 0,
        largest_call: 0,
    };
    let mut cursor = "0".to_owned();
    loop {
        let (next, pairs) = try_scan_once(con, key, &cursor, options)?;
        iteration.calls += 1;
        iteration.largest_call = iteration.largest_call.max(pairs.len());
        iteration.pairs.extend(pairs);
        if next == "0" {
            return Ok(iteration);
        }
        if iteration.calls == MAX_SCAN_CALLS {
            return Err(format!("SCAN never finished ({MAX_SCAN_CALLS} calls)"));
        }
        cursor = next;
    }
}

// ---------------------------------------------------------------- keys

pub fn key_exists(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> bool {
    integer(con, ("EXISTS", key)) == 1
}

pub fn key_type(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> String {
    text(con, ("TYPE", key))
}

pub fn dbsize(con: &mut impl ConnectionLike) -> i64 {
    integer(con, &["DBSIZE"])
}

pub fn select(con: &mut impl ConnectionLike, db: i64) {
    run(con, ("SELECT", db));
}

/// `DEBUG DIGEST`: one hash over every key and value of the server.
pub fn digest(con: &mut impl ConnectionLike) -> String {
    text(con, &["DEBUG", "DIGEST"])
}

/// `DEBUG DIGEST-VALUE`: the hash of one key's value.
pub fn digest_value(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> String {
    try_digest_value(con, key).unwrap_or_else(|problem| panic!("{problem}"))
}

pub fn try_digest_value(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
) -> Result<String, String> {
    let digests: Vec<String> = command(("DEBUG", "DIGEST-VALUE", key))
        .query(con)
        .map_err(|error| format!("DEBUG DIGEST-VALUE: {error}"))?;
    digests
        .into_iter()
        .next()
        .ok_or_else(|| "DEBUG DIGEST-VALUE replied no digest".to_owned())
}

/// `DUMP`: the serialized value of an existing key.
pub fn dump(con: &mut impl ConnectionLike, key: impl ToRedisArgs) -> Bytes {
    let command = command(("DUMP", key));
    let payload: Option<Bytes> = command.query(con).expect("DUMP");
    payload.unwrap_or_else(|| panic!("{}: no such key", show_cmd(&command)))
}

/// `RESTORE key 0 payload`, which may fail: the payload is what is tested.
pub fn restore(
    con: &mut impl ConnectionLike,
    key: impl ToRedisArgs,
    payload: &[u8],
) -> redis::RedisResult<()> {
    command(("RESTORE", key, 0, payload)).query(con)
}

// ---------------------------------------------------------------- replies

/// A bulk string reply.
pub fn bulk(reply: &Value) -> Result<Bytes, String> {
    match reply {
        Value::BulkString(bytes) => Ok(bytes.clone()),
        other => Err(format!("expected a bulk string, got {}", show_reply(other))),
    }
}

/// An array of bulk strings.
pub fn bulk_strings(reply: &Value) -> Result<Vec<Bytes>, String> {
    match reply {
        Value::Array(items) => items.iter().map(bulk).collect(),
        other => Err(format!("expected an array, got {}", show_reply(other))),
    }
}

/// A flat `field, [values], field, [values] ...` array (GETALL under RESP2,
/// SCAN's items), or a map of field to values (GETALL under RESP3).
pub fn field_pairs(reply: &Value) -> Result<Pairs, String> {
    match reply {
        Value::Array(items) if items.len() % 2 == 0 => items
            .chunks(2)
            .map(|pair| Ok((bulk(&pair[0])?, bulk_strings(&pair[1])?)))
            .collect(),
        Value::Array(_) => Err(format!(
            "odd-length field/values array {}",
            show_reply(reply)
        )),
        Value::Map(pairs) => pairs
            .iter()
            .map(|(field, values)| Ok((bulk(field)?, bulk_strings(values)?)))
            .collect(),
        other => Err(format!(
            "expected field/values pairs, got {}",
            show_reply(other)
        )),
    }
}

/// A SCAN reply: `[cursor, items]`, the cursor a bulk string.
pub fn scan_reply(reply: &Value) -> Result<(String, Pairs), String> {
    let Value::Array(parts) = reply else {
        return Err(format!(
            "expected [cursor, items], got {}",
            show_reply(reply)
        ));
    };
    let [cursor, items] = parts.as_slice() else {
        return Err(format!(
            "expected [cursor, items], got {}",
            show_reply(reply)
        ));
    };
    let cursor = bulk(cursor)?;
    let cursor = String::from_utf8(cursor.clone())
        .map_err(|_| format!("cursor {} is not text", show(&cursor)))?;
    if !matches!(items, Value::Array(_)) {
        return Err(format!(
            "SCAN items must be an array, got {}",
            show_reply(items)
        ));
    }
    Ok((cursor, field_pairs(items)?))
}

pub fn sorted<T: Ord>(mut items: Vec<T>) -> Vec<T> {
    items.sort();
    items
}

// ---------------------------------------------------------------- INFO

/// One `name:value` line of `INFO <section>`, e.g.
/// `info_field(con, "persistence", "aof_rewrite_in_progress")`.
pub fn info_field(con: &mut impl ConnectionLike, section: &str, name: &str) -> Option<String> {
    info_line(&text(con, ("INFO", section)), name).map(str::to_owned)
}

/// The value of the `name:value` line of an INFO text, if it has one.
pub fn info_line<'t>(info: &'t str, name: &str) -> Option<&'t str> {
    info.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
        .map(str::trim)
}

/// One numeric `name:value` line of `INFO <section>`.
pub fn info_number(con: &mut impl ConnectionLike, section: &str, name: &str) -> i64 {
    info_field(con, section, name)
        .and_then(|value| value.parse().ok())
        .unwrap_or_else(|| panic!("INFO {section} has no numeric {name}"))
}

/// Every key of the current database a full `SCAN ... TYPE type_name COUNT
/// count` iteration returns, as many times as it returns them.
pub fn scan_type<K: FromRedisValue>(
    con: &mut impl ConnectionLike,
    type_name: &str,
    count: usize,
) -> Vec<K> {
    let mut cursor = "0".to_owned();
    let mut keys = Vec::new();
    loop {
        let (next, batch): (String, Vec<K>) =
            query(con, ("SCAN", &cursor, "TYPE", type_name, "COUNT", count));
        keys.extend(batch);
        if next == "0" {
            return keys;
        }
        cursor = next;
    }
}

/// The one entry `COMMAND INFO name` replies: name, arity, flags, first key,
/// last key, step, then (Redis 7.0+) ACL categories, tips, key specs, subcommands.
pub fn command_info(con: &mut impl ConnectionLike, name: &str) -> Vec<Value> {
    let mut reply: Vec<Vec<Value>> = query(con, ("COMMAND", "INFO", name));
    assert_eq!(reply.len(), 1, "COMMAND INFO {name}: {reply:?}");
    reply.remove(0)
}

/// The names `MODULE LIST` gives for modules loaded from a file. Newer servers
/// also list modules built into them, by a path that is no file path: Redis 8
/// `vectorset` (path ""), Valkey 9 `lua` (path "lua"). Redis 6.2 gives no paths.
pub fn loaded_module_names(con: &mut impl ConnectionLike) -> Vec<String> {
    let modules: Vec<HashMap<String, Value>> = query(con, ("MODULE", "LIST"));
    modules
        .iter()
        .filter(|module| match module.get("path") {
            Some(Value::BulkString(path)) => path.contains(&b'/'),
            _ => true,
        })
        .map(|module| redis::from_redis_value_ref(&module["name"]).expect("a module name"))
        .collect()
}

/// `used_memory` once no lazy free is pending: Valkey 8+ frees deleted keys in
/// the background by default (`lazyfree-lazy-user-del yes`), so what a DEL
/// gave back shows only once the background thread is done.
pub fn used_memory(con: &mut impl ConnectionLike) -> i64 {
    wait_for_lazy_frees(con);
    info_number(con, "memory", "used_memory")
}

/// Waits until the lazy-free thread has nothing left to free.
pub fn wait_for_lazy_frees(con: &mut impl ConnectionLike) {
    wait_until("lazy frees to finish", LAZYFREE_TIMEOUT, || {
        info_number(con, "memory", "lazyfree_pending_objects") == 0
    });
}

// ---------------------------------------------------------------- waiting

/// Polls `probe` every few milliseconds until `done` accepts its result, and
/// returns that result; panics naming `what` and the last result once
/// `timeout` has passed.
pub fn wait_for<T: Debug>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> T,
    done: impl Fn(&T) -> bool,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        let value = probe();
        if done(&value) {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}; last seen {value:?}"
        );
        sleep(Duration::from_millis(5));
    }
}

/// Polls `condition` every few milliseconds until it holds; panics naming
/// `what` once `timeout` has passed.
pub fn wait_until(what: &str, timeout: Duration, condition: impl FnMut() -> bool) {
    wait_for(what, timeout, condition, |&holds| holds);
}

/// Waits until no AOF rewrite runs or waits to run.
pub fn wait_for_aof_rewrite(con: &mut impl ConnectionLike) {
    wait_until("the AOF rewrite to finish", AOF_REWRITE_TIMEOUT, || {
        info_field(con, "persistence", "aof_rewrite_in_progress").as_deref() == Some("0")
            && info_field(con, "persistence", "aof_rewrite_scheduled").as_deref() == Some("0")
    });
}

/// `aof_last_bgrewrite_status`: `ok` unless the last AOF rewrite failed.
pub fn aof_rewrite_status(con: &mut impl ConnectionLike) -> Option<String> {
    info_field(con, "persistence", "aof_last_bgrewrite_status")
}

/// `BGREWRITEAOF`, waited for, and checked to have succeeded.
pub fn rewrite_aof(con: &mut impl ConnectionLike) {
    wait_for_aof_rewrite(con);
    let _: String = query(con, &["BGREWRITEAOF"]);
    wait_for_aof_rewrite(con);
    assert_eq!(
        aof_rewrite_status(con).as_deref(),
        Some("ok"),
        "the AOF rewrite failed"
    );
}

/// The keyevent notifications (event, key) that `act` makes `server`
/// publish, in order; the server must publish keyspace events
/// (`notify-keyspace-events KEA`).
pub fn keyevents_during(
    server: &Server,
    act: impl FnOnce(&mut Connection),
) -> Vec<(String, String)> {
    let mut con = server.connect();
    let mut sub = server.connect();
    let mut pubsub = sub.as_pubsub();
    pubsub.psubscribe("__keyevent@0__:*").unwrap();
    pubsub
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    act(&mut con);
    // Everything published before the marker key's event.
    run(&mut con, &["SET", "events-marker", "1"]);
    let mut seen = Vec::new();
    loop {
        let message = pubsub.get_message().expect("a keyspace event");
        let event = message
            .get_channel_name()
            .strip_prefix("__keyevent@0__:")
            .expect("a keyevent channel")
            .to_owned();
        let key: String = message.get_payload().unwrap();
        if event == "set" && key == "events-marker" {
            return seen;
        }
        seen.push((event, key));
    }
}
