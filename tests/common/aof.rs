//! The append-only file as the server wrote it: its files (Redis 7's
//! manifest, or Redis 6.2's single appendonly.aof) and the commands in them.

use std::path::{Path, PathBuf};

use super::client::Bytes;

/// The AOF files Redis 7 keeps in `<dir>/appendonlydir/`, from its manifest:
/// (file name, type) where type is `b` (base), `i` (incremental) or `h` (history).
pub fn aof_manifest(dir: &Path) -> Vec<(String, String)> {
    let appendonlydir = dir.join("appendonlydir");
    let manifest = std::fs::read_dir(&appendonlydir)
        .expect("appendonlydir")
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with(".manifest"))
        .expect("an AOF manifest");
    let text = std::fs::read_to_string(manifest).expect("manifest text");
    text.lines()
        .filter_map(|line| {
            let words: Vec<&str> = line.split_whitespace().collect();
            let value = |name: &str| {
                let at = words.iter().position(|word| *word == name)?;
                words.get(at + 1).map(|value| value.to_string())
            };
            Some((value("file")?, value("type")?))
        })
        .collect()
}

/// The file a rewrite writes: Redis 7's base file, or Redis 6.2's single
/// appendonly.aof (which later writes then extend).
pub fn base_aof_path(dir: &Path) -> PathBuf {
    if !dir.join("appendonlydir").exists() {
        return dir.join("appendonly.aof");
    }
    let base = aof_manifest(dir)
        .into_iter()
        .find(|(_, kind)| kind == "b")
        .map(|(name, _)| name)
        .expect("a base AOF file in the manifest");
    dir.join("appendonlydir").join(base)
}

/// Splits an AOF in RESP form into its commands' arguments.
pub fn parse_aof_commands(aof: &[u8]) -> Vec<Vec<&[u8]>> {
    fn number(aof: &[u8], pos: &mut usize, prefix: u8) -> usize {
        assert_eq!(aof[*pos], prefix, "expected '{}' at {pos}", prefix as char);
        let end = *pos
            + aof[*pos..]
                .windows(2)
                .position(|pair| pair == b"\r\n")
                .expect("a CRLF-terminated header");
        let digits = std::str::from_utf8(&aof[*pos + 1..end]).expect("ASCII digits");
        *pos = end + 2;
        digits.parse().expect("a decimal count")
    }
    let mut commands = Vec::new();
    let mut pos = 0;
    while pos < aof.len() {
        if aof[pos] == b'#' {
            // An annotation line.
            pos += aof[pos..].iter().position(|&b| b == b'\n').expect("EOL") + 1;
            continue;
        }
        let argc = number(aof, &mut pos, b'*');
        let mut args = Vec::with_capacity(argc);
        for _ in 0..argc {
            let len = number(aof, &mut pos, b'$');
            args.push(&aof[pos..pos + len]);
            assert_eq!(&aof[pos + len..pos + len + 2], b"\r\n", "CRLF after a bulk");
            pos += len + 2;
        }
        commands.push(args);
    }
    commands
}

/// The commands logged since the AOF's base: Redis 7's incremental files in
/// the manifest's order, or Redis 6.2's appendonly.aof (from its start, or
/// after the RDB preamble a rewrite may have written), each command's
/// arguments owned.
pub fn logged_commands(dir: &Path) -> Vec<Vec<Bytes>> {
    let files: Vec<PathBuf> = if dir.join("appendonlydir").exists() {
        aof_manifest(dir)
            .into_iter()
            .filter(|(_, kind)| kind == "i")
            .map(|(name, _)| dir.join("appendonlydir").join(name))
            .collect()
    } else {
        vec![dir.join("appendonly.aof")]
    };
    let mut commands = Vec::new();
    for file in files {
        let aof = std::fs::read(&file)
            .unwrap_or_else(|error| panic!("reading {}: {error}", file.display()));
        assert!(
            !aof.starts_with(b"REDIS"),
            "{} starts with an RDB preamble: rewrite-free AOFs only",
            file.display()
        );
        commands.extend(
            parse_aof_commands(&aof)
                .into_iter()
                .map(|args| args.into_iter().map(<[u8]>::to_vec).collect::<Vec<Bytes>>()),
        );
    }
    commands
}
