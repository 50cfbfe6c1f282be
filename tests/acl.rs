//! ACL categories: where the server lets modules name them (Redis 7.4+,
//! Valkey 8+), `@multimap` holds every MULTIMAP command, and each command
//! also sits in the standard categories its flags imply (@read or @write,
//! @fast or @slow, @blocking for BPOP), so `+@multimap`, `+@read`, `-@write`
//! and `-@blocking` mean for our commands what they mean for native ones.

mod common;

use std::collections::BTreeSet;

use redis::{Connection, Value};

use common::{
    command_info, error_reply, is_at_least, loaded_module_names, query, read_commands, run,
    skip_unless, write_commands, CommandSpec, Server, COMMANDS,
};

/// Whether the server takes ACL categories from modules.
fn module_categories() -> bool {
    is_at_least((7, 4), (8, 0))
}

const NO_MODULE_CATEGORIES: &str = "module ACL categories came with Redis 7.4 and Valkey 8.0";

/// Redis 7.4 files module commands under their categories, but its
/// `ACL CAT <category>` leaves module commands out of the list (Redis 8.0
/// lists them).
fn acl_cat_lists_module_commands() -> bool {
    is_at_least((8, 0), (8, 0))
}

/// Skips a test of what `ACL CAT <category>` lists where it lists no module commands.
fn skip_unless_acl_cat_lists_module_commands() -> bool {
    skip_unless(module_categories(), NO_MODULE_CATEGORIES)
        || skip_unless(
            acl_cat_lists_module_commands(),
            "ACL CAT <category> lists module commands since Redis 8.0 (and in every Valkey)",
        )
}

/// The MULTIMAP commands `ACL CAT category` lists, in lower case.
fn multimap_commands_in(con: &mut Connection, category: &str) -> BTreeSet<String> {
    let commands: Vec<String> = query(con, ("ACL", "CAT", category));
    commands
        .into_iter()
        .filter(|command| command.starts_with("multimap."))
        .collect()
}

fn names<'a>(commands: impl Iterator<Item = &'a CommandSpec>) -> BTreeSet<String> {
    commands.map(CommandSpec::lower_name).collect()
}

/// A connection authenticated as a new user with these ACL rules.
fn connect_as(server: &Server, admin: &mut Connection, rules: &[&str]) -> Connection {
    let mut setuser = vec!["ACL", "SETUSER", "u", "on", "nopass"];
    setuser.extend(rules);
    run(admin, &setuser);
    let mut user = server.connect();
    run(&mut user, &["AUTH", "u", "any"]);
    user
}

/// Checks that the ACL refuses each of `commands`' calls exactly when `refused`.
fn assert_acl<'a>(
    con: &mut Connection,
    commands: impl IntoIterator<Item = &'a CommandSpec>,
    refused: bool,
) {
    for command in commands {
        let call = command.call("k");
        assert_eq!(is_refused_by_acl(con, &call), refused, "{call:?}");
    }
}

fn is_refused_by_acl(con: &mut Connection, line: &[&str]) -> bool {
    match redis::cmd(line[0]).arg(&line[1..]).query::<Value>(con) {
        Ok(_) => false,
        Err(error) => {
            let refused = error.code() == Some("NOPERM");
            assert!(refused, "{line:?}: {error}");
            refused
        }
    }
}

#[test]
fn acl_cat_names_the_multimap_category() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let categories: Vec<String> = query(&mut server.connect(), &["ACL", "CAT"]);
    assert!(
        categories.contains(&"multimap".to_owned()),
        "{categories:?}"
    );
}

#[test]
fn acl_cat_multimap_lists_exactly_every_multimap_command() {
    if skip_unless_acl_cat_lists_module_commands() {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    let listed: Vec<String> = query(&mut con, &["ACL", "CAT", "multimap"]);
    assert_eq!(
        listed.iter().cloned().collect::<BTreeSet<_>>(),
        names(COMMANDS.iter())
    );
    assert_eq!(listed.len(), COMMANDS.len(), "{listed:?}");
}

#[test]
fn acl_cat_read_write_fast_slow_hold_the_commands_their_flags_imply() {
    if skip_unless_acl_cat_lists_module_commands() {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(
        multimap_commands_in(&mut con, "read"),
        names(read_commands())
    );
    assert_eq!(
        multimap_commands_in(&mut con, "write"),
        names(write_commands())
    );
    let fast = names(COMMANDS.iter().filter(|command| command.fast));
    let slow = names(COMMANDS.iter().filter(|command| !command.fast));
    assert!(!fast.is_empty() && !slow.is_empty());
    assert_eq!(multimap_commands_in(&mut con, "fast"), fast);
    assert_eq!(multimap_commands_in(&mut con, "slow"), slow);
    assert_eq!(
        multimap_commands_in(&mut con, "blocking"),
        names(COMMANDS.iter().filter(|command| command.blocking))
    );
    for category in ["admin", "dangerous", "keyspace", "pubsub"] {
        assert_eq!(
            multimap_commands_in(&mut con, category),
            BTreeSet::new(),
            "@{category}"
        );
    }
}

#[test]
fn command_info_lists_the_acl_categories_of_each_command() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    for command in &COMMANDS {
        let name = command.lower_name();
        let info = command_info(&mut con, &name);
        let categories: BTreeSet<String> = redis::from_redis_value_ref(&info[6])
            .unwrap_or_else(|error| panic!("COMMAND INFO {name}: {error}: {info:?}"));
        let mut expected: BTreeSet<String> = [
            "@multimap",
            if command.writes { "@write" } else { "@read" },
            if command.fast { "@fast" } else { "@slow" },
        ]
        .map(str::to_owned)
        .into();
        if command.blocking {
            expected.insert("@blocking".to_owned());
        }
        assert_eq!(categories, expected, "{name}");
    }
}

#[test]
fn multimap_category_grants_every_multimap_command_and_nothing_else() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let mut admin = server.connect();
    let mut user = connect_as(&server, &mut admin, &["+@multimap", "~*"]);
    assert_acl(&mut user, &COMMANDS, false);
    for native in [
        &["GET", "k"][..],
        &["SET", "k", "v"],
        &["HSET", "h", "f", "v"],
        &["DEL", "k"],
        &["KEYS", "*"],
    ] {
        assert!(is_refused_by_acl(&mut user, native), "{native:?}");
    }
}

#[test]
fn read_category_grants_multimap_reads_and_refuses_writes() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let mut admin = server.connect();
    run(&mut admin, &["MULTIMAP.INSERT", "k", "f", "v"]);
    let mut reader = connect_as(&server, &mut admin, &["+@read", "~*"]);
    let values: Vec<String> = query(&mut reader, &["MULTIMAP.GET", "k", "f"]);
    assert_eq!(values, ["v"]);
    assert_acl(&mut reader, read_commands(), false);
    assert_acl(&mut reader, write_commands(), true);
    let values: Vec<String> = query(&mut admin, &["MULTIMAP.GET", "k", "f"]);
    assert_eq!(values, ["v"], "the refused writes changed nothing");
}

/// Without categories a module command is in none, so `+@all -@write` would
/// still let a user write through it.
#[test]
fn taking_write_away_refuses_multimap_writes() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let mut admin = server.connect();
    let mut user = connect_as(&server, &mut admin, &["+@all", "-@write", "~*"]);
    assert_acl(&mut user, write_commands(), true);
    assert_acl(&mut user, read_commands(), false);
}

/// `-@blocking` is how an admin keeps a user from holding connections open.
#[test]
fn taking_blocking_away_refuses_bpop_alone() {
    if skip_unless(module_categories(), NO_MODULE_CATEGORIES) {
        return;
    }
    let server = Server::start();
    let mut admin = server.connect();
    let mut user = connect_as(&server, &mut admin, &["+@all", "-@blocking", "~*"]);
    let (blocking, other): (Vec<&CommandSpec>, Vec<&CommandSpec>) =
        COMMANDS.iter().partition(|command| command.blocking);
    assert!(!blocking.is_empty());
    assert_acl(&mut user, blocking, true);
    assert_acl(&mut user, other, false);
}

#[test]
fn servers_without_module_categories_load_and_serve_without_them() {
    if skip_unless(
        !module_categories(),
        "this server takes module ACL categories; the other tests here cover it",
    ) {
        return;
    }
    let server = Server::start();
    let mut con = server.connect();
    assert_eq!(loaded_module_names(&mut con), ["multimap"]);
    let categories: Vec<String> = query(&mut con, &["ACL", "CAT"]);
    assert!(
        !categories.contains(&"multimap".to_owned()),
        "{categories:?}"
    );
    let error = error_reply(&mut con, &["ACL", "CAT", "multimap"]);
    assert!(error.starts_with("ERR"), "{error}");
    let mut user = connect_as(&server, &mut con, &["+@all", "~*"]);
    assert_acl(&mut user, &COMMANDS, false);
}
