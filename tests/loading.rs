//! The three ways to load the module, and what Redis says when it cannot.

mod common;

use common::{
    error_reply, integer, key_type, loaded_module_names, module_path, run, Server, UNLOAD_REFUSED,
};

/// The module's path as MODULE LOAD takes it.
fn module_arg() -> Vec<u8> {
    module_path().into_os_string().into_encoded_bytes()
}

/// A server without the module, accepting MODULE LOAD from clients.
fn bare_server() -> Server {
    Server::builder()
        .without_module()
        .module_command_allowed()
        .start()
}

#[test]
fn module_load_at_runtime_registers_type_and_commands() {
    let server = bare_server();
    let mut con = server.connect();
    run(&mut con, ("MODULE", "LOAD", module_arg()));
    assert_eq!(integer(&mut con, &["MULTIMAP.INSERT", "k", "f", "v"]), 1);
    assert_eq!(key_type(&mut con, "k"), "rmultimap");
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
    assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 0);
}

#[test]
fn unknown_module_argument_fails_the_load_with_a_log_line() {
    let server = bare_server();
    let mut con = server.connect();
    let error = error_reply(&mut con, ("MODULE", "LOAD", module_arg(), "bogus"));
    assert!(error.starts_with("ERR"), "{error}");
    assert!(
        server
            .log_text()
            .contains("unknown module argument 'bogus'"),
        "{}",
        server.log_text()
    );
    assert!(loaded_module_names(&mut con).is_empty());
}

#[test]
fn module_unload_is_refused_with_redis_own_error() {
    let server = Server::builder().module_command_allowed().start();
    let mut con = server.connect();
    let error = error_reply(&mut con, &["MODULE", "UNLOAD", "multimap"]);
    assert_eq!(error, UNLOAD_REFUSED);
    assert_eq!(
        integer(&mut con, &["MULTIMAP.LEN", "k", "f"]),
        0,
        "the module must still serve commands"
    );
}
