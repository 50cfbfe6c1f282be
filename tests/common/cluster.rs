//! A Redis Cluster of module-loaded servers, made and resharded with
//! `redis-cli --cluster` (from redis-tools, which Debian's redis-server pulls in).

use std::process::Command;
use std::time::Duration;

use redis::cluster::{ClusterClient, ClusterConnection};

use super::client::{text, wait_for};
use super::server::Server;

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
    let nodes: Vec<Server> = (0..nodes)
        .map(|_| Server::builder().cluster_node().start())
        .collect();
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
