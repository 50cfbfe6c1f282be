//! Replies as the exact bytes the server sent. The `redis` crate reads a null
//! bulk string (`$-1`) and a null array (`*-1`) both as `Value::Nil`; the
//! contract tells them apart (POP without COUNT against POP with COUNT, BPOP
//! on timeout), so the tests that check which null a command sends read the
//! wire through this instead.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::server::Server;

/// How long one reply may take to arrive.
const REPLY_TIMEOUT: Duration = Duration::from_secs(10);

/// A connection that sends commands and returns each reply's bytes.
pub struct Wire {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Wire {
    /// A RESP2 connection.
    pub fn connect(server: &Server) -> Wire {
        let stream = TcpStream::connect(server.address()).expect("a TCP connection");
        stream
            .set_read_timeout(Some(REPLY_TIMEOUT))
            .expect("a read timeout");
        Wire {
            writer: stream.try_clone().expect("a second handle"),
            reader: BufReader::new(stream),
        }
    }

    /// A connection that said `HELLO 3` (Redis 6.0+), the HELLO reply read.
    pub fn connect_resp3(server: &Server) -> Wire {
        let mut wire = Wire::connect(server);
        let hello = wire.call(&[b"HELLO", b"3"]);
        assert!(hello.starts_with(b"%"), "HELLO 3 replied {hello:?}");
        wire
    }

    /// Sends one command, its arguments as bulk strings.
    pub fn send(&mut self, args: &[&[u8]]) {
        let mut frame = format!("*{}\r\n", args.len()).into_bytes();
        for arg in args {
            frame.extend(format!("${}\r\n", arg.len()).as_bytes());
            frame.extend(*arg);
            frame.extend(b"\r\n");
        }
        self.writer.write_all(&frame).expect("sending a command");
    }

    /// Sends one command and returns its reply's bytes.
    pub fn call(&mut self, args: &[&[u8]]) -> Vec<u8> {
        self.send(args);
        self.reply()
    }

    /// The bytes of the next whole reply, aggregates with all their items.
    pub fn reply(&mut self) -> Vec<u8> {
        let mut bytes = Vec::new();
        self.read_into(&mut bytes);
        bytes
    }

    fn read_into(&mut self, bytes: &mut Vec<u8>) {
        let start = bytes.len();
        let read = self
            .reader
            .read_until(b'\n', bytes)
            .expect("a reply line within the timeout");
        assert!(read > 0, "the server closed the connection");
        let line = &bytes[start..];
        assert!(line.ends_with(b"\r\n"), "a CRLF-terminated line: {line:?}");
        let kind = line[0];
        let number = || -> i64 {
            std::str::from_utf8(&line[1..line.len() - 2])
                .ok()
                .and_then(|text| text.parse().ok())
                .unwrap_or_else(|| panic!("a length in {line:?}"))
        };
        match kind {
            // Simple strings, errors, integers, null, doubles, booleans, big numbers.
            b'+' | b'-' | b':' | b'_' | b',' | b'#' | b'(' => {}
            // Bulk strings, bulk errors, verbatim strings.
            b'$' | b'!' | b'=' => {
                let len = number();
                if len >= 0 {
                    let mut body = vec![0; len as usize + 2];
                    self.reader
                        .read_exact(&mut body)
                        .expect("a bulk body within the timeout");
                    bytes.extend(body);
                }
            }
            // Arrays, sets, pushes: that many items; maps: twice as many.
            b'*' | b'~' | b'>' | b'%' => {
                let items = number().max(0) * if kind == b'%' { 2 } else { 1 };
                for _ in 0..items {
                    self.read_into(bytes);
                }
            }
            // Attributes: a map, then the reply they annotate.
            b'|' => {
                for _ in 0..number() * 2 {
                    self.read_into(bytes);
                }
                self.read_into(bytes);
            }
            other => panic!("unknown RESP type byte {:?}", other as char),
        }
    }
}
