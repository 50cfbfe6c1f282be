//! Bytes, command lines and replies as failure messages show them: escaped,
//! and cut short when long (values can be megabytes).

use std::collections::BTreeSet;

use redis::Value;

use super::client::{Bytes, Fields};

/// Bytes shown of one string.
const SHOWN_BYTES: usize = 40;
/// Items shown of a list.
const SHOWN_ITEMS: usize = 12;
/// Differing fields shown of two MultiMaps.
const SHOWN_FIELDS: usize = 5;

/// `"escaped bytes"`, with `...(N bytes)` after the first few when long.
pub fn show(bytes: &[u8]) -> String {
    let shown = &bytes[..bytes.len().min(SHOWN_BYTES)];
    let mut text = format!("\"{}\"", shown.escape_ascii());
    if bytes.len() > SHOWN_BYTES {
        text += &format!("...({} bytes)", bytes.len());
    }
    text
}

/// `[show(a), show(b), ...]`, with `...(N in all)` when long.
pub fn show_list(items: &[Bytes]) -> String {
    let mut shown: Vec<String> = items
        .iter()
        .take(SHOWN_ITEMS)
        .map(|item| show(item))
        .collect();
    if items.len() > SHOWN_ITEMS {
        shown.push(format!("...({} in all)", items.len()));
    }
    format!("[{}]", shown.join(", "))
}

/// A command line: the name as is, the arguments shown.
pub fn show_command(line: &[Bytes]) -> String {
    let Some((name, args)) = line.split_first() else {
        return "(no command)".to_owned();
    };
    let mut words = vec![String::from_utf8_lossy(name).into_owned()];
    words.extend(args.iter().map(|arg| show(arg)));
    words.join(" ")
}

/// A built command, as `show_command` shows its line.
pub fn show_cmd(command: &redis::Cmd) -> String {
    let line: Vec<Bytes> = command
        .args_iter()
        .map(|arg| match arg {
            redis::Arg::Simple(bytes) => bytes.to_vec(),
            _ => b"<cursor>".to_vec(),
        })
        .collect();
    show_command(&line)
}

/// A reply: bulk strings shown, arrays shortened.
pub fn show_reply(reply: &Value) -> String {
    match reply {
        Value::BulkString(bytes) => show(bytes),
        Value::Array(items) => {
            let shown: Vec<String> = items.iter().take(SHOWN_ITEMS).map(show_reply).collect();
            let more = if items.len() > SHOWN_ITEMS {
                ", ..."
            } else {
                ""
            };
            format!("[{}{more}]", shown.join(", "))
        }
        other => format!("{other:?}"),
    }
}

/// Where two MultiMaps' contents differ, the first few differing fields one
/// per line, briefly (values can be megabytes); "no difference" if none.
pub fn show_difference(expected: &Fields, actual: &Fields) -> String {
    let names: BTreeSet<&Bytes> = expected.keys().chain(actual.keys()).collect();
    let mut lines = Vec::new();
    for name in names {
        let field = show(name);
        lines.push(match (expected.get(name), actual.get(name)) {
            (Some(want), Some(got)) if want == got => continue,
            (Some(want), Some(got)) => match want.iter().zip(got).position(|(w, g)| w != g) {
                Some(index) => format!(
                    "field {field}, value {index}: expected {}, found {}",
                    show(&want[index]),
                    show(&got[index])
                ),
                None => format!(
                    "field {field}: {} values expected {}, {} found {}",
                    want.len(),
                    show_list(want),
                    got.len(),
                    show_list(got)
                ),
            },
            (Some(want), None) => format!("field {field} missing (expected {})", show_list(want)),
            (None, Some(got)) => format!("field {field} unexpected (holding {})", show_list(got)),
            (None, None) => unreachable!("a name from one of the two"),
        });
    }
    if lines.is_empty() {
        return "no difference".to_owned();
    }
    let more = lines.len().saturating_sub(SHOWN_FIELDS);
    lines.truncate(SHOWN_FIELDS);
    if more > 0 {
        lines.push(format!("...and {more} more differing fields"));
    }
    lines.join("\n")
}
