//! A Redis Cluster of module-loaded servers, made and resharded with
//! `redis-cli --cluster` (from redis-tools, which Debian's redis-server pulls in),
//! or with Valkey 9's atomic slot migration.

use std::collections::HashMap;
use std::process::Command;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::{Connection, Value};

use super::client::{integer, query, run, text, wait_for};
use super::server::{Server, ServerBuilder};

/// How long a cluster may take to agree it is healthy.
const CLUSTER_TIMEOUT: Duration = Duration::from_secs(60);

/// Runs `redis-cli args...` and panics with its output if it fails.
pub fn redis_cli(args: &[&str]) {
    let output = Command::new("redis-cli")
        .args(args)
        .output()
        .expect("redis-cli (from redis-tools) must be installed");
    assert!(
        output.status.success(),
        "redis-cli {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `nodes` cluster nodes sharing the slots evenly, without replicas, once
/// every node reports `cluster_state:ok`.
pub fn start_cluster(nodes: usize) -> Vec<Server> {
    start_cluster_of(nodes, Server::builder)
}

/// As [`start_cluster`], each node made from `node()`.
pub fn start_cluster_of(nodes: usize, node: impl Fn() -> ServerBuilder) -> Vec<Server> {
    let nodes: Vec<Server> = (0..nodes).map(|_| node().cluster_node().start()).collect();
    let addresses: Vec<String> = nodes.iter().map(Server::address).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addresses.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    redis_cli(&args);
    wait_until_cluster_ok(&nodes);
    nodes
}

/// Waits until every node reports `cluster_state:ok`.
pub fn wait_until_cluster_ok(nodes: &[Server]) {
    for node in nodes {
        let mut con = node.connect();
        wait_for(
            "the cluster to become ok",
            CLUSTER_TIMEOUT,
            || text(&mut con, &["CLUSTER", "INFO"]),
            |info| info.contains("cluster_state:ok"),
        );
    }
}

/// A client that follows the cluster's redirections.
pub fn cluster_client(nodes: &[Server]) -> ClusterConnection {
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    ClusterClient::new(urls)
        .expect("cluster client")
        .get_connection()
        .expect("cluster connection")
}

/// The node's id in the cluster (`CLUSTER MYID`).
pub fn node_id(node: &Server) -> String {
    text(&mut node.connect(), &["CLUSTER", "MYID"])
}

/// The slot ranges (first, last) that `node` serves, as `CLUSTER SLOTS` says.
pub fn served_slots(node: &Server) -> Vec<(i64, i64)> {
    let ranges: Vec<Vec<Value>> = query(&mut node.connect(), &["CLUSTER", "SLOTS"]);
    ranges
        .iter()
        .filter_map(|range| {
            let number = |value: &Value| redis::from_redis_value_ref::<i64>(value).ok();
            let master: Vec<Value> = redis::from_redis_value_ref(range.get(2)?).ok()?;
            let port = number(master.get(1)?)?;
            (port == i64::from(node.port)).then_some((number(&range[0])?, number(&range[1])?))
        })
        .collect()
}

/// The hash slot of `key` (`CLUSTER KEYSLOT`).
pub fn key_slot(con: &mut Connection, key: &[u8]) -> i64 {
    integer(con, (&b"CLUSTER"[..], &b"KEYSLOT"[..], key))
}

/// One slot migration as `CLUSTER GETSLOTMIGRATIONS` (Valkey 9.0+) lists it:
/// `state`, `message`, `operation`, `slot_ranges`...
pub type SlotMigration = HashMap<String, String>;

/// How long an atomic slot migration may take.
const SLOT_MIGRATION_TIMEOUT: Duration = Duration::from_secs(60);

/// Starts Valkey's atomic slot migration of `ranges` from `source` to
/// `target` (`CLUSTER MIGRATESLOTS SLOTSRANGE first last ... NODE target-id`).
pub fn migrate_slots(source: &Server, ranges: &[(i64, i64)], target: &Server) {
    let mut line = vec![
        "CLUSTER".to_owned(),
        "MIGRATESLOTS".to_owned(),
        "SLOTSRANGE".to_owned(),
    ];
    for (first, last) in ranges {
        line.extend([first.to_string(), last.to_string()]);
    }
    line.extend(["NODE".to_owned(), node_id(target)]);
    run(&mut source.connect(), &line);
}

/// Every slot migration `node` knows of.
pub fn slot_migrations(con: &mut Connection) -> Vec<SlotMigration> {
    let migrations: Vec<HashMap<String, Value>> = query(con, &["CLUSTER", "GETSLOTMIGRATIONS"]);
    migrations
        .iter()
        .map(|migration| {
            migration
                .iter()
                .map(|(name, value)| {
                    let text = match value {
                        Value::Int(number) => number.to_string(),
                        other => redis::from_redis_value_ref(other).unwrap_or_default(),
                    };
                    (name.clone(), text)
                })
                .collect()
        })
        .collect()
}

/// Whether a migration is over, successfully or not.
pub fn slot_migration_ended(migration: &SlotMigration) -> bool {
    matches!(
        migration.get("state").map(String::as_str),
        Some("success" | "failed" | "cancelled")
    )
}

/// Polls `CLUSTER GETSLOTMIGRATIONS` on `node` until it lists migrations and
/// `done` holds for each, then returns them.
pub fn wait_for_slot_migrations(
    node: &Server,
    done: impl Fn(&SlotMigration) -> bool,
) -> Vec<SlotMigration> {
    let mut con = node.connect();
    wait_for(
        "the slot migrations to get on",
        SLOT_MIGRATION_TIMEOUT,
        || slot_migrations(&mut con),
        |migrations| !migrations.is_empty() && migrations.iter().all(&done),
    )
}
