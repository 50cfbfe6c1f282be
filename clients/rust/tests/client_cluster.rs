//! The client through Redis Cluster, against real cluster nodes with the
//! freshly built module: every method, and the scan iterator, on the sync
//! and the async cluster connections, and every method in a cluster
//! pipeline, on a key on each node, so that each command is routed by its
//! key.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use common::{cluster_client, info_field, key_slot, served_slots, start_cluster, Server};
use redis::cluster::{cluster_pipe, ClusterClient};
use redis::{Direction, ExpireOption, LposOptions};
use redis_multimap_client::{
    AsyncMultiMapCommands, MultiMapCommands, MultiMapPipeline, ScanOptions,
};
use support::{all_within, strings};

/// A key served by each node, in the nodes' order.
fn key_on_each_node(nodes: &[Server]) -> Vec<String> {
    let mut con = nodes[0].connect();
    nodes
        .iter()
        .map(|node| {
            let slots = served_slots(node);
            (0..)
                .map(|n| format!("key:{n}"))
                .find(|key| {
                    let slot = key_slot(&mut con, key.as_bytes());
                    slots
                        .iter()
                        .any(|(first, last)| (*first..=*last).contains(&slot))
                })
                .expect("a key on the node")
        })
        .collect()
}

#[test]
fn every_method_on_the_cluster_connection_and_in_a_cluster_pipeline_reaches_each_node() {
    let nodes = start_cluster(3);
    let keys = key_on_each_node(&nodes);
    let mut con = cluster_client(&nodes);
    for key in &keys {
        every_method!(on_connection!(con), key.as_str());
    }
    for key in &keys {
        let mut pipe = cluster_pipe();
        every_method!(
            in_pipeline!(pipe, pipe.query(&mut con).expect("the cluster pipeline")),
            key.as_str()
        );
    }
    for key in &keys {
        let _: usize = con.multimap_insert(key, "f", &["a", "b"]).unwrap();
        let _: usize = con.multimap_insert(key, "g", "c").unwrap();
        let fields: Vec<(String, Vec<String>)> = con
            .multimap_scan_iter(key, ScanOptions::default().with_count(1))
            .unwrap()
            .collect::<redis::RedisResult<_>>()
            .unwrap();
        assert_eq!(fields.len(), 2, "each field once: {fields:?}");
        let fields: BTreeMap<String, Vec<String>> = fields.into_iter().collect();
        let expected = BTreeMap::from([
            ("f".to_owned(), strings(&["a", "b"])),
            ("g".to_owned(), strings(&["c"])),
        ]);
        assert_eq!(fields, expected, "{key}");
    }
    // Each node ran the commands of its own key.
    for node in &nodes {
        let stats = info_field(
            &mut node.connect(),
            "commandstats",
            "cmdstat_multimap.insert",
        );
        assert!(
            stats.is_some_and(|stats| stats.starts_with("calls=")),
            "node {} got no MULTIMAP.INSERT",
            node.port
        );
    }
}

#[tokio::test]
async fn every_method_on_the_async_cluster_connection() {
    let nodes = start_cluster(3);
    let keys = key_on_each_node(&nodes);
    let urls: Vec<String> = nodes.iter().map(Server::url).collect();
    let mut con = ClusterClient::new(urls)
        .expect("cluster client")
        .get_async_connection()
        .await
        .expect("async cluster connection");
    for key in &keys {
        every_method!(on_async_connection!(con), key.as_str());
    }
    for key in &keys {
        let _: usize = con.multimap_insert(key, "f", &["a", "b"]).await.unwrap();
        let _: usize = con.multimap_insert(key, "g", "c").await.unwrap();
        let mut stream = con
            .multimap_scan_iter::<_, (String, Vec<String>)>(
                key,
                ScanOptions::default().with_count(1),
            )
            .await
            .unwrap();
        let mut fields = BTreeMap::new();
        while let Some(entry) = stream.next_item().await {
            let (field, values) = entry.unwrap();
            assert!(fields.insert(field, values).is_none(), "a field twice");
        }
        let expected = BTreeMap::from([
            ("f".to_owned(), strings(&["a", "b"])),
            ("g".to_owned(), strings(&["c"])),
        ]);
        assert_eq!(fields, expected, "{key}");
    }
}
