//! The three ways to load the module, and what Redis says when it cannot.

mod common;

use common::{module_path, query_error, Server, ServerBuilder};

fn module_command() -> redis::Cmd {
    redis::cmd("MODULE")
}

/// A server without the module, allowing MODULE LOAD from clients.
fn bare_server() -> Server {
    allowing_module_command(Server::builder().without_module()).start()
}

/// Redis 7.0 refuses MODULE from clients unless configured; 6.2 always allows it.
fn allowing_module_command(builder: ServerBuilder) -> ServerBuilder {
    if common::is_redis_7() {
        builder.config("enable-module-command", "yes")
    } else {
        builder
    }
}

#[test]
fn module_load_at_runtime_registers_type_and_commands() {
    let server = bare_server();
    let mut con = server.connect();
    let _: () = module_command()
        .arg("LOAD")
        .arg(module_path().as_os_str().as_encoded_bytes())
        .query(&mut con)
        .unwrap();
    let inserted: i64 = redis::cmd("MULTIMAP.INSERT")
        .arg(&["k", "f", "v"])
        .query(&mut con)
        .unwrap();
    assert_eq!(inserted, 1);
    let kind: String = redis::cmd("TYPE").arg("k").query(&mut con).unwrap();
    assert_eq!(kind, "rmultimap");
}

#[test]
fn loadmodule_in_a_config_file_works() {
    let dir = tempfile::TempDir::new().unwrap();
    let config = dir.path().join("redis.conf");
    std::fs::write(&config, format!("loadmodule {}\n", module_path().display())).unwrap();
    let server = Server::builder()
        .without_module()
        .config_file(&config)
        .start();
    let mut con = server.connect();
    let len: i64 = redis::cmd("MULTIMAP.LEN")
        .arg(&["k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 0);
}

#[test]
fn unknown_module_argument_fails_the_load_with_a_log_line() {
    let server = bare_server();
    let mut con = server.connect();
    let error = query_error(
        module_command()
            .arg("LOAD")
            .arg(module_path().as_os_str().as_encoded_bytes())
            .arg("bogus"),
        &mut con,
    );
    assert!(error.starts_with("ERR"), "{error}");
    assert!(
        server
            .log_text()
            .contains("unknown module argument 'bogus'"),
        "{}",
        server.log_text()
    );
    let modules: Vec<redis::Value> = module_command().arg("LIST").query(&mut con).unwrap();
    assert!(modules.is_empty(), "{modules:?}");
}

#[test]
fn module_unload_is_refused_with_redis_own_error() {
    let server = allowing_module_command(Server::builder()).start();
    let mut con = server.connect();
    let error = query_error(module_command().arg("UNLOAD").arg("multimap"), &mut con);
    assert_eq!(
        error,
        "ERR Error unloading module: the module exports one or more module-side data types, can't unload"
    );
    let len: i64 = redis::cmd("MULTIMAP.LEN")
        .arg(&["k", "f"])
        .query(&mut con)
        .unwrap();
    assert_eq!(len, 0, "the module must still serve commands");
}
