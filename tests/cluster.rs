//! Redis Cluster: MultiMap keys shard by hash slot like any key, nodes redirect
//! with MOVED, and resharding (`redis-cli --cluster reshard`, which moves keys
//! with MIGRATE, i.e. DUMP/RESTORE) carries them over byte for byte.

mod common;

use common::{
    cluster_client, dbsize, error_text, getall, insert, integer, key_type, redis_cli,
    start_cluster, text, wait_until_cluster_ok, Fields, Server,
};

const KEYS: usize = 3000;

/// What key `index` holds: a few fields with binary values, varying by key.
fn content_of(index: usize) -> Fields {
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

fn node_id(node: &Server) -> String {
    text(&mut node.connect(), &["CLUSTER", "MYID"])
}

fn key_count(node: &Server) -> i64 {
    dbsize(&mut node.connect())
}

#[test]
fn multimap_keys_shard_redirect_and_survive_resharding_byte_for_byte() {
    let nodes = start_cluster(3);
    let mut cluster = cluster_client(&nodes);
    for index in 0..KEYS {
        for (field, values) in content_of(index) {
            insert(&mut cluster, key_name(index), field, &values);
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
    let slot = integer(&mut nodes[0].connect(), ("CLUSTER", "KEYSLOT", &key));
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
    redis_cli(&[
        "--cluster",
        "reshard",
        &nodes[0].address(),
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
        assert_eq!(getall(&mut cluster, &key), content_of(index), "{key}");
        assert_eq!(key_type(&mut cluster, &key), "rmultimap", "{key}");
    }
}
