//! Redis Cluster: MultiMap keys shard by hash slot like any key, nodes redirect
//! with MOVED, and resharding (`redis-cli --cluster reshard`, which moves keys
//! with MIGRATE, i.e. DUMP/RESTORE) carries them over byte for byte.

mod common;

use std::collections::BTreeMap;
use std::process::Command;
use std::thread::sleep;
use std::time::{Duration, Instant};

use common::{error_text, Server};
use redis::cluster::ClusterClient;
use redis::ConnectionLike;

const KEYS: usize = 3000;

type Content = BTreeMap<Vec<u8>, Vec<Vec<u8>>>;

/// What key `index` holds: a few fields with binary values, varying by key.
fn content_of(index: usize) -> Content {
    (0..1 + index % 3)
        .map(|field| {
            let name = format!("field-{field}\0").into_bytes();
            let values = (0..1 + (index + field) % 4)
                .map(|value| [&[0xff, 0x00][..], format!("{index}:{value}").as_bytes()].concat())
                .collect();
            (name, values)
        })
        .collect()
}

fn key_name(index: usize) -> String {
    format!("mm:{index}")
}

fn cli(args: &[&str]) {
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

fn node_address(node: &Server) -> String {
    format!("127.0.0.1:{}", node.port)
}

fn wait_until_cluster_ok(nodes: &[Server]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    for node in nodes {
        let mut con = node.connect();
        loop {
            let info: String = redis::cmd("CLUSTER").arg("INFO").query(&mut con).unwrap();
            if info.contains("cluster_state:ok") {
                break;
            }
            assert!(Instant::now() < deadline, "cluster never became ok: {info}");
            sleep(Duration::from_millis(50));
        }
    }
}

fn start_cluster() -> Vec<Server> {
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::builder().cluster_node().start())
        .collect();
    let addresses: Vec<String> = nodes.iter().map(node_address).collect();
    let mut args = vec!["--cluster", "create"];
    args.extend(addresses.iter().map(String::as_str));
    args.extend(["--cluster-replicas", "0", "--cluster-yes"]);
    cli(&args);
    wait_until_cluster_ok(&nodes);
    nodes
}

fn cluster_client(nodes: &[Server]) -> redis::cluster::ClusterConnection {
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    ClusterClient::new(urls).unwrap().get_connection().unwrap()
}

fn read_content(con: &mut impl ConnectionLike, key: &str) -> Content {
    let flat: Vec<redis::Value> = redis::cmd("MULTIMAP.GETALL").arg(key).query(con).unwrap();
    flat.chunks(2)
        .map(|pair| {
            let field: Vec<u8> = redis::from_redis_value_ref(&pair[0]).unwrap();
            let values: Vec<Vec<u8>> = redis::from_redis_value_ref(&pair[1]).unwrap();
            (field, values)
        })
        .collect()
}

fn node_id(node: &Server) -> String {
    redis::cmd("CLUSTER")
        .arg("MYID")
        .query(&mut node.connect())
        .unwrap()
}

fn key_count(node: &Server) -> i64 {
    redis::cmd("DBSIZE").query(&mut node.connect()).unwrap()
}

#[test]
fn multimap_keys_shard_redirect_and_survive_resharding_byte_for_byte() {
    let nodes = start_cluster();
    let mut cluster = cluster_client(&nodes);
    for index in 0..KEYS {
        for (field, values) in content_of(index) {
            let _: i64 = redis::cmd("MULTIMAP.INSERT")
                .arg(key_name(index))
                .arg(field)
                .arg(values)
                .query(&mut cluster)
                .unwrap();
        }
    }
    let counts: Vec<i64> = nodes.iter().map(key_count).collect();
    assert_eq!(counts.iter().sum::<i64>(), KEYS as i64);
    assert!(
        counts.iter().all(|&count| count > 0),
        "keys spread over every node: {counts:?}"
    );

    // A node that does not own a key's slot redirects, as for any key.
    let key = key_name(0);
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(&key)
        .query(&mut nodes[0].connect())
        .unwrap();
    let mut redirected = 0;
    for node in &nodes {
        let reply = redis::cmd("MULTIMAP.GETALL")
            .arg(&key)
            .query::<redis::Value>(&mut node.connect());
        if let Err(error) = reply {
            let text = error_text(&error);
            assert!(
                text.starts_with(&format!("MOVED {slot} 127.0.0.1:")),
                "{text}"
            );
            redirected += 1;
        }
    }
    assert_eq!(redirected, 2, "exactly the two non-owners redirect");

    // Move a third of the slot space between nodes; MIGRATE carries our keys.
    let before = key_count(&nodes[1]);
    let (from, to) = (node_id(&nodes[0]), node_id(&nodes[1]));
    cli(&[
        "--cluster",
        "reshard",
        &node_address(&nodes[0]),
        "--cluster-from",
        &from,
        "--cluster-to",
        &to,
        "--cluster-slots",
        "3000",
        "--cluster-yes",
    ]);
    wait_until_cluster_ok(&nodes);
    assert!(key_count(&nodes[1]) > before, "resharding moved keys");
    assert_eq!(nodes.iter().map(key_count).sum::<i64>(), KEYS as i64);

    let mut cluster = cluster_client(&nodes);
    for index in 0..KEYS {
        let key = key_name(index);
        assert_eq!(read_content(&mut cluster, &key), content_of(index), "{key}");
        let kind: String = redis::cmd("TYPE").arg(&key).query(&mut cluster).unwrap();
        assert_eq!(kind, "rmultimap", "{key}");
    }
}
