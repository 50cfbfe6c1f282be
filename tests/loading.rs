//! The three ways to load the module, and what Redis says when it cannot.

mod common;

use common::{
    error_reply, has_atomic_slot_migration, integer, is_valkey, key_type, loaded_module_names,
    module_path, run, skip_unless, text, Server, UNLOAD_REFUSED,
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

/// The server log's warnings (level `#`, after pid:role, date and time)
/// that name the module.
fn module_warnings(server: &Server) -> Vec<String> {
    server
        .log_text()
        .lines()
        .filter(|line| line.contains("multimap") && line.split_whitespace().nth(5) == Some("#"))
        .map(str::to_owned)
        .collect()
}

#[test]
fn loading_and_serving_log_no_warning_about_the_module() {
    for server in [Server::start(), bare_server()] {
        let mut con = server.connect();
        if loaded_module_names(&mut con).is_empty() {
            run(&mut con, ("MODULE", "LOAD", module_arg()));
        }
        assert_eq!(integer(&mut con, &["MULTIMAP.INSERT", "k", "f", "v"]), 1);
        run(&mut con, &["DEBUG", "RELOAD"]);
        assert_eq!(integer(&mut con, &["MULTIMAP.LEN", "k", "f"]), 1);
        assert!(
            server.log_text().contains("Module 'multimap' loaded"),
            "{}",
            server.log_text()
        );
        assert_eq!(module_warnings(&server), Vec::<String>::new());
    }
}

#[test]
fn valkey_loads_the_module_as_its_own_not_as_a_legacy_redis_module() {
    if skip_unless(is_valkey(), "only Valkey tells legacy Redis modules apart") {
        return;
    }
    for server in [Server::start(), bare_server()] {
        let mut con = server.connect();
        if loaded_module_names(&mut con).is_empty() {
            run(&mut con, ("MODULE", "LOAD", module_arg()));
        }
        assert_eq!(integer(&mut con, &["MULTIMAP.INSERT", "k", "f", "v"]), 1);
        let log = server.log_text();
        assert!(log.contains("Module 'multimap' loaded"), "{log}");
        assert!(!log.contains("Legacy Redis Module"), "{log}");
    }
}

/// Valkey 9 refuses atomic slot migration (CLUSTER MIGRATESLOTS) while a
/// module has not declared it copes; the bit means something else, or
/// nothing, elsewhere, so the module sets it on Valkey 9+ only.
#[test]
fn module_declares_atomic_slot_migration_exactly_where_the_server_offers_it() {
    let server = Server::start();
    let info = text(&mut server.connect(), &["INFO", "modules"]);
    let options = info
        .lines()
        .find(|line| line.starts_with("module:name=multimap,"))
        .and_then(|line| line.split_once("options=["))
        .map(|(_, options)| options.trim_end().trim_end_matches(']'))
        .unwrap_or_else(|| panic!("no options of multimap in {info}"));
    let options: Vec<&str> = options.split('|').collect();
    assert!(options.contains(&"handle-io-errors"), "{options:?}");
    assert_eq!(
        options.contains(&"handle-atomic-slot-migration"),
        has_atomic_slot_migration(),
        "{options:?}"
    );
}
