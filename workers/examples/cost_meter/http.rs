//! Just enough HTTP/1.1 over `std::net` for the meter: the tagging proxy that stands between each
//! CLI process and moto, and the meter's own calls to moto's recorder API. Blocking, a thread per
//! connection: the clients are a handful of CLI processes on loopback.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Header the proxy adds to every request: which CLI process (role) sent it. moto's recorder
/// keeps every header, so the recording itself says who sent each request.
pub const ROLE_HEADER: &str = "X-Cost-Meter-Role";
/// Header the proxy adds to every request: its sequence number, to join the recording with the
/// proxy's log of statuses, response bodies and timings.
pub const SEQ_HEADER: &str = "X-Cost-Meter-Seq";

/// One HTTP message's head and body.
#[derive(Debug, Clone)]
pub struct Message {
    pub start_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }

    /// The status code of a response.
    pub fn status(&self) -> u16 {
        self.start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// A message's start line and headers.
type Head = (String, Vec<(String, String)>);

/// Reads a message head; `None` at end of stream before its first byte.
fn read_head(reader: &mut impl BufRead) -> io::Result<Option<Head>> {
    let mut start_line = String::new();
    loop {
        start_line.clear();
        if reader.read_line(&mut start_line)? == 0 {
            return Ok(None);
        }
        // Tolerate stray blank lines between messages (RFC 9112 §2.2).
        if !start_line.trim().is_empty() {
            break;
        }
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a message head",
            ));
        }
        let line = line.trim_end_matches(['\r', '\n']);
        if line.is_empty() {
            break;
        }
        let Some((name, value)) = line.split_once(':') else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad header line {line:?}"),
            ));
        };
        headers.push((name.trim().to_string(), value.trim().to_string()));
    }
    Ok(Some((start_line.trim_end().to_string(), headers)))
}

/// Reads a body framed by Content-Length or chunked encoding; with neither, to the end of the
/// stream when `to_eof` (a response on a closed connection), else empty (a request).
fn read_body(
    reader: &mut impl BufRead,
    headers: &[(String, String)],
    to_eof: bool,
) -> io::Result<Vec<u8>> {
    let chunked = header(headers, "Transfer-Encoding")
        .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"));
    if chunked {
        let mut body = Vec::new();
        loop {
            let mut size_line = String::new();
            reader.read_line(&mut size_line)?;
            let size_hex = size_line.trim().split(';').next().unwrap_or("");
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("bad chunk size {size_line:?}"),
                )
            })?;
            if size == 0 {
                // Trailers, then the blank line.
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                        break;
                    }
                }
                return Ok(body);
            }
            let start = body.len();
            body.resize(start + size, 0);
            reader.read_exact(&mut body[start..])?;
            let mut crlf = [0u8; 2];
            reader.read_exact(&mut crlf)?;
        }
    }
    if let Some(length) = header(headers, "Content-Length") {
        let length: usize = length
            .parse()
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "bad Content-Length"))?;
        let mut body = vec![0u8; length];
        reader.read_exact(&mut body)?;
        return Ok(body);
    }
    let mut body = Vec::new();
    if to_eof {
        reader.read_to_end(&mut body)?;
    }
    Ok(body)
}

fn write_message(
    out: &mut impl Write,
    start_line: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<()> {
    let mut head = format!("{start_line}\r\n");
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    out.write_all(head.as_bytes())?;
    out.write_all(body)?;
    out.flush()
}

/// Headers that belong to one connection, not to the message: never forwarded.
fn hop_by_hop(name: &str) -> bool {
    [
        "connection",
        "keep-alive",
        "transfer-encoding",
        "content-length",
        "expect",
    ]
    .iter()
    .any(|h| name.eq_ignore_ascii_case(h))
}

/// One request on a fresh connection (`Connection: close`): the meter's own calls to moto.
pub fn call(port: u16, method: &str, path: &str, body: &[u8]) -> io::Result<Message> {
    call_with(port, method, path, &[], body)
}

pub fn call_with(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<Message> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(Duration::from_secs(120)))?;
    let mut all = vec![
        ("Host".to_string(), format!("127.0.0.1:{port}")),
        ("Connection".to_string(), "close".to_string()),
    ];
    all.extend(headers.iter().cloned());
    write_message(
        &mut stream,
        &format!("{method} {path} HTTP/1.1"),
        &all,
        body,
    )?;
    let mut reader = BufReader::new(stream);
    let (start_line, headers) = read_head(&mut reader)?.ok_or_else(|| {
        io::Error::new(io::ErrorKind::UnexpectedEof, "no response from the server")
    })?;
    let body = read_body(&mut reader, &headers, true)?;
    Ok(Message {
        start_line,
        headers,
        body,
    })
}

/// What the proxy saw of one request: who sent it, what moto answered, and when.
#[derive(Debug, Clone)]
pub struct Exchange {
    pub seq: u64,
    pub role: String,
    /// `X-Amz-Target`, e.g. `DynamoDB_20120810.PutItem` or `AmazonSQS.SendMessage`.
    pub target: String,
    /// Microseconds since the log's epoch.
    pub start_us: u64,
    pub end_us: u64,
    pub status: u16,
    pub response: Vec<u8>,
}

/// The log every proxy of one meter run appends to.
pub struct ProxyLog {
    epoch: Instant,
    next_seq: AtomicU64,
    exchanges: Mutex<Vec<Exchange>>,
}

impl ProxyLog {
    pub fn new() -> Arc<ProxyLog> {
        Arc::new(ProxyLog {
            epoch: Instant::now(),
            next_seq: AtomicU64::new(1),
            exchanges: Mutex::new(Vec::new()),
        })
    }

    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Everything logged so far, and forget it (the next scenario starts empty).
    pub fn take(&self) -> Vec<Exchange> {
        std::mem::take(&mut *self.exchanges.lock().unwrap())
    }

    pub fn snapshot(&self) -> Vec<Exchange> {
        self.exchanges.lock().unwrap().clone()
    }

    /// Microseconds since the epoch at which the last request other than `quiet` ones started
    /// (0 if none).
    pub fn last_start_us(&self, quiet: impl Fn(&Exchange) -> bool) -> u64 {
        self.exchanges
            .lock()
            .unwrap()
            .iter()
            .filter(|e| !quiet(e))
            .map(|e| e.start_us)
            .max()
            .unwrap_or(0)
    }
}

/// A proxy on a free 127.0.0.1 port that forwards every request to moto on `upstream`, adding
/// the role and sequence headers, and logs each exchange. Stopped on drop.
pub struct Proxy {
    pub port: u16,
    stop: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(role: &str, upstream: u16, log: Arc<ProxyLog>) -> io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let port = listener.local_addr()?.port();
        let stop = Arc::new(AtomicBool::new(false));
        let role = role.to_string();
        let stopping = stop.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopping.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(stream) = stream else { continue };
                let (role, log) = (role.clone(), log.clone());
                std::thread::spawn(move || {
                    let _ = serve(stream, &role, upstream, &log);
                });
            }
        });
        Ok(Proxy { port, stop })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one client connection (keep-alive: request after request) until it closes.
fn serve(client: TcpStream, role: &str, upstream: u16, log: &ProxyLog) -> io::Result<()> {
    let mut writer = client.try_clone()?;
    let mut reader = BufReader::new(client);
    while let Some((start_line, headers)) = read_head(&mut reader)? {
        if header(&headers, "Expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue")) {
            writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        }
        let body = read_body(&mut reader, &headers, false)?;
        let close = header(&headers, "Connection").is_some_and(|v| v.eq_ignore_ascii_case("close"));
        let seq = log.next_seq.fetch_add(1, Ordering::SeqCst);
        let target = header(&headers, "X-Amz-Target").unwrap_or("").to_string();
        let mut forwarded: Vec<(String, String)> = headers
            .iter()
            .filter(|(name, _)| !hop_by_hop(name))
            .cloned()
            .collect();
        forwarded.push((ROLE_HEADER.to_string(), role.to_string()));
        forwarded.push((SEQ_HEADER.to_string(), seq.to_string()));
        forwarded.push(("Connection".to_string(), "close".to_string()));
        let start_us = log.now_us();
        let answer = forward(upstream, &start_line, &forwarded, &body);
        let end_us = log.now_us();
        let response = match answer {
            Ok(response) => response,
            Err(e) => Message {
                start_line: "HTTP/1.1 502 Bad Gateway".into(),
                headers: vec![],
                body: format!("cost meter proxy: {e}").into_bytes(),
            },
        };
        log.exchanges.lock().unwrap().push(Exchange {
            seq,
            role: role.to_string(),
            target,
            start_us,
            end_us,
            status: response.status(),
            response: response.body.clone(),
        });
        let back: Vec<(String, String)> = response
            .headers
            .iter()
            .filter(|(name, _)| !hop_by_hop(name))
            .cloned()
            .collect();
        write_message(&mut writer, &response.start_line, &back, &response.body)?;
        if close {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
    Ok(())
}

fn forward(
    upstream: u16,
    start_line: &str,
    headers: &[(String, String)],
    body: &[u8],
) -> io::Result<Message> {
    let mut stream = TcpStream::connect(("127.0.0.1", upstream))?;
    // Long polls are at most 20 s.
    stream.set_read_timeout(Some(Duration::from_secs(90)))?;
    write_message(&mut stream, start_line, headers, body)?;
    let mut reader = BufReader::new(stream);
    let (start_line, headers) = read_head(&mut reader)?.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "moto closed without answering",
        )
    })?;
    let body = read_body(&mut reader, &headers, true)?;
    Ok(Message {
        start_line,
        headers,
        body,
    })
}

/// Standard base64 (moto's recorder encodes request bodies with it).
pub fn base64_decode(text: &str) -> Result<Vec<u8>, String> {
    fn value(c: u8) -> Option<u32> {
        match c {
            b'A'..=b'Z' => Some(u32::from(c - b'A')),
            b'a'..=b'z' => Some(u32::from(c - b'a') + 26),
            b'0'..=b'9' => Some(u32::from(c - b'0') + 52),
            b'+' | b'-' => Some(62),
            b'/' | b'_' => Some(63),
            _ => None,
        }
    }
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &c in text.as_bytes() {
        if c == b'=' || c.is_ascii_whitespace() {
            continue;
        }
        let v = value(c).ok_or_else(|| format!("not base64: byte {c}"))?;
        buffer = (buffer << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((buffer >> bits) as u8);
            buffer &= (1 << bits) - 1;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips_what_python_writes() {
        assert_eq!(base64_decode("eyJhIjoxfQ==").unwrap(), br#"{"a":1}"#);
        assert_eq!(base64_decode("").unwrap(), b"");
        assert_eq!(base64_decode("YWJj").unwrap(), b"abc");
    }
}
