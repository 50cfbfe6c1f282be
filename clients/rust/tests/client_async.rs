//! The client on asynchronous connections (tokio), against a real server with
//! the freshly built module: every method on a multiplexed connection under
//! RESP2 and RESP3 and on a ConnectionManager, a transaction, the scan
//! stream, and BPOP timing out or served while it waits.

#[path = "../../../tests/common/mod.rs"]
mod common;
#[macro_use]
mod support;

use std::collections::{BTreeMap, BTreeSet};

use common::{is_client_blocked, wait_until, Server, BLOCK_TIMEOUT};
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, Direction, ExpireOption, LposOptions};
use redis_multimap_client::{AsyncMultiMapCommands, MultiMapPipeline, ScanOptions};
use support::{all_within, strings};

async fn multiplexed(server: &Server) -> MultiplexedConnection {
    redis::Client::open(server.url())
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection")
}

#[tokio::test]
async fn every_method_on_a_multiplexed_connection_under_resp2() {
    let server = Server::start();
    let mut con = multiplexed(&server).await;
    every_method!(on_async_connection!(con), "k");
}

#[tokio::test]
async fn every_method_on_a_multiplexed_connection_under_resp3() {
    let server = Server::start();
    let mut con = redis::Client::open(format!("{}?protocol=resp3", server.url()))
        .expect("client")
        .get_multiplexed_async_connection()
        .await
        .expect("connection");
    every_method!(on_async_connection!(con), "k");
}

#[tokio::test]
async fn every_method_on_a_connection_manager() {
    let server = Server::start();
    let mut con = redis::Client::open(server.url())
        .expect("client")
        .get_connection_manager()
        .await
        .expect("connection manager");
    every_method!(on_async_connection!(con), "k");
}

#[tokio::test]
async fn every_method_in_a_transaction_on_an_async_connection() {
    let server = Server::start();
    let mut con = multiplexed(&server).await;
    let mut pipe = redis::pipe();
    pipe.atomic();
    every_method!(
        in_pipeline!(
            pipe,
            pipe.query_async(&mut con).await.expect("the transaction")
        ),
        "k"
    );
}

#[tokio::test]
async fn scan_iter_streams_every_field_of_an_unchanged_key_once() {
    let server = Server::start();
    let mut con = multiplexed(&server).await;
    let mut pipe = redis::pipe();
    for field in 0..100 {
        pipe.multimap_insert("k", field, &[field, field * 2])
            .ignore();
    }
    let () = pipe.query_async(&mut con).await.unwrap();

    let mut fields = con
        .multimap_scan_iter::<_, (u64, Vec<u64>)>("k", ScanOptions::default().with_count(3))
        .await
        .unwrap();
    let mut visited = Vec::new();
    while let Some(entry) = fields.next_item().await {
        visited.push(entry.unwrap());
    }
    assert_eq!(visited.len(), 100, "each field once");
    let visited: BTreeMap<u64, Vec<u64>> = visited.into_iter().collect();
    let expected: BTreeMap<u64, Vec<u64>> = (0..100)
        .map(|field| (field, vec![field, field * 2]))
        .collect();
    assert_eq!(visited, expected);
}

#[tokio::test]
async fn bpop_replies_nil_when_its_timeout_runs_out() {
    let server = Server::start();
    let mut con = multiplexed(&server).await;
    let popped: Option<Vec<String>> = con
        .multimap_bpop("jobs", "pending", Direction::Right, 0.05, Some(3))
        .await
        .unwrap();
    assert_eq!(popped, None);
}

#[tokio::test]
async fn bpop_waits_until_an_insert_serves_it() {
    let server = Server::start();
    let client = redis::Client::open(server.url()).expect("client");
    // The default response timeout (500 ms) would end a longer BPOP.
    let config = AsyncConnectionConfig::new().set_response_timeout(None);
    let mut waiting = client
        .get_multiplexed_async_connection_with_config(&config)
        .await
        .unwrap();
    let id: i64 = redis::cmd("CLIENT")
        .arg("ID")
        .query_async(&mut waiting)
        .await
        .unwrap();
    // BPOP's own timeout bounds the wait for its reply.
    let popping = tokio::spawn(async move {
        waiting
            .multimap_bpop::<_, _, Option<Vec<String>>>(
                "jobs",
                "pending",
                Direction::Left,
                10.0,
                None,
            )
            .await
    });

    let mut watcher = server.connect();
    tokio::task::spawn_blocking(move || {
        wait_until("the BPOP to block", BLOCK_TIMEOUT, || {
            is_client_blocked(&mut watcher, id)
        })
    })
    .await
    .unwrap();
    let mut con = multiplexed(&server).await;
    let len: usize = con
        .multimap_insert("jobs", "pending", &["job-1", "job-2"])
        .await
        .unwrap();
    assert_eq!(len, 2, "the insert replies as if nobody was served");
    let popped = popping.await.unwrap().unwrap();
    assert_eq!(popped, Some(strings(&["job-1"])));
    let left: Vec<String> = con.multimap_get("jobs", "pending").await.unwrap();
    assert_eq!(left, ["job-2"]);
}
