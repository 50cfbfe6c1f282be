//! Generates Rust bindings for our Redis Modules API header and compiles the C
//! entry point that Redis calls when it loads the module.

use std::env;
use std::path::PathBuf;

fn main() {
    println!("cargo:rerun-if-changed=c/redismodule.h");
    println!("cargo:rerun-if-changed=c/shim.c");
    println!("cargo:rerun-if-changed=c/exports.map");

    println!(
        "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}/c/exports.map",
        env!("CARGO_MANIFEST_DIR")
    );

    cc::Build::new()
        .file("c/shim.c")
        .include("c")
        .warnings(true)
        .compile("multimap_shim");

    let bindings = bindgen::Builder::default()
        .header("c/redismodule.h")
        .allowlist_item("RedisModule.*")
        .allowlist_item("REDISMODULE_.*")
        .allowlist_item("VALKEYMODULE_.*")
        .size_t_is_usize(true)
        .prepend_enum_name(false)
        .derive_default(true)
        .default_macro_constant_type(bindgen::MacroTypeVariation::Signed)
        .layout_tests(false)
        .generate()
        .expect("bindgen could not process c/redismodule.h (is libclang-dev installed?)");

    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    bindings
        .write_to_file(out.join("bindings.rs"))
        .expect("could not write the generated bindings");
}
