//! The meter's own moto server, with moto's request recorder on, and its recorder API.

use super::http::{self, base64_decode};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A moto server on a free 127.0.0.1 port recording every request (env `MOTO_ENABLE_RECORDING`,
/// `MOTO_RECORDER_FILEPATH`: moto's `moto_api/_internal/recorder/models.py`), stopped on drop.
pub struct Moto {
    child: Child,
    pub port: u16,
}

impl Moto {
    /// `moto_server` is `.venv/bin/moto_server`; when `scripts/moto_atomic.py` sits at the
    /// workspace root above it and the venv has `python`, moto runs through it (one lock around each
    /// DynamoDB operation, as the repository's tests do: moto's own writes are not atomic).
    pub fn start(moto_server: &Path, recording: &Path) -> Result<Moto, String> {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free port: {e}"))?
            .port();
        let python = moto_server.with_file_name("python");
        let wrapper = moto_server
            .parent()
            .and_then(Path::parent)
            .and_then(Path::parent)
            .map(|root| root.join("scripts/moto_atomic.py"));
        let program: Vec<PathBuf> = match wrapper {
            Some(w) if python.exists() && w.exists() => vec![python, w],
            _ => vec![moto_server.to_path_buf()],
        };
        // The shell kills moto when our end of its stdin closes: on drop, or if the meter dies.
        let child = Command::new("bash")
            .args([
                "-c",
                r#"port=$1; shift; "$@" -H 127.0.0.1 -p "$port" </dev/null >/dev/null 2>&1 & pid=$!; read -r _; kill "$pid"; wait "$pid""#,
                "moto-guard",
            ])
            .arg(port.to_string())
            .args(&program)
            .env("MOTO_ENABLE_RECORDING", "True")
            .env("MOTO_RECORDER_FILEPATH", recording)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let moto = Moto { child, port };
        let started = Instant::now();
        while !workers::testkit::moto_answers(port) {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!("moto did not answer on port {port} within 30 s"));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(moto)
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn post(&self, path: &str) -> Result<http::Message, String> {
        let answer =
            http::call(self.port, "POST", path, b"").map_err(|e| format!("moto {path}: {e}"))?;
        if answer.status() != 200 {
            return Err(format!("moto {path}: {}", answer.start_line));
        }
        Ok(answer)
    }

    /// Forgets every table and queue (`/moto-api/reset`).
    pub fn reset_state(&self) -> Result<(), String> {
        self.post("/moto-api/reset").map(drop)
    }

    /// Empties the recording (`/moto-api/recorder/reset-recording`).
    pub fn reset_recording(&self) -> Result<(), String> {
        self.post("/moto-api/recorder/reset-recording").map(drop)
    }

    /// The requests recorded since the last reset, in arrival order.
    pub fn download_recording(&self) -> Result<Vec<Recorded>, String> {
        let answer = http::call(
            self.port,
            "GET",
            "/moto-api/recorder/download-recording",
            b"",
        )
        .map_err(|e| format!("downloading the recording: {e}"))?;
        parse_recording(&String::from_utf8_lossy(&answer.body))
    }

    /// Every item of a table, read directly (not through a proxy; do it after downloading).
    pub fn scan(&self, table: &str) -> Result<Vec<Value>, String> {
        let mut items = Vec::new();
        let mut start: Option<Value> = None;
        loop {
            let mut request = serde_json::json!({ "TableName": table });
            if let Some(key) = start.take() {
                request["ExclusiveStartKey"] = key;
            }
            let answer = http::call_with(
                self.port,
                "POST",
                "/",
                &[
                    (
                        "X-Amz-Target".into(),
                        "DynamoDB_20120810.Scan".into(),
                    ),
                    (
                        "Content-Type".into(),
                        "application/x-amz-json-1.0".into(),
                    ),
                    (
                        "Authorization".into(),
                        "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/dynamodb/aws4_request, SignedHeaders=host, Signature=0".into(),
                    ),
                ],
                request.to_string().as_bytes(),
            )
            .map_err(|e| format!("Scan: {e}"))?;
            let page: Value = serde_json::from_slice(&answer.body)
                .map_err(|e| format!("Scan answered {}: {e}", answer.start_line))?;
            if answer.status() != 200 {
                return Err(format!("Scan answered {}: {page}", answer.start_line));
            }
            if let Some(page_items) = page["Items"].as_array() {
                items.extend(page_items.iter().cloned());
            }
            match page.get("LastEvaluatedKey") {
                Some(key) if !key.is_null() => start = Some(key.clone()),
                _ => return Ok(items),
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// One request of moto's recording.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// Headers as moto's recorder wrote them (names as sent).
    pub headers: Vec<(String, String)>,
    pub method: String,
    pub url: String,
    pub body: Vec<u8>,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The recording is one JSON object per request. moto appends each with two writes from its
/// request threads, so under concurrency a newline can land after the next object: read it as a
/// stream of JSON values, not as lines.
pub fn parse_recording(text: &str) -> Result<Vec<Recorded>, String> {
    let mut out = Vec::new();
    for (i, entry) in serde_json::Deserializer::from_str(text)
        .into_iter::<Value>()
        .enumerate()
    {
        let entry = entry.map_err(|e| {
            format!("moto's recording is not a sequence of JSON objects (entry {i}): {e}")
        })?;
        let headers = entry["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let raw = entry["body"].as_str().unwrap_or_default();
        let body = if entry["body_encoded"].as_bool() == Some(true) {
            base64_decode(raw).map_err(|e| format!("recording entry {i}: {e}"))?
        } else {
            raw.as_bytes().to_vec()
        };
        out.push(Recorded {
            headers,
            method: entry["method"].as_str().unwrap_or_default().to_string(),
            url: entry["url"].as_str().unwrap_or_default().to_string(),
            body,
        });
    }
    Ok(out)
}
