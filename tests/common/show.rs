//! Bytes, command lines and replies as failure messages show them: escaped,
//! and cut short when long (values can be megabytes).

use redis::Value;

use super::client::Bytes;

/// Bytes shown of one string.
const SHOWN_BYTES: usize = 40;
/// Items shown of a list.
const SHOWN_ITEMS: usize = 12;

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
