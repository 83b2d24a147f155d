//! The meter's own moto server, with moto's request recorder on, and its recorder API.

use super::http::{self, base64_decode};
use serde_json::Value;
use std::ffi::OsStr;
use std::path::Path;
use workers::testkit::MotoServer;

/// A moto server on a free 127.0.0.1 port recording every request (env `MOTO_ENABLE_RECORDING`,
/// `MOTO_RECORDER_FILEPATH`: moto's `moto_api/_internal/recorder/models.py`), stopped on drop.
/// Started as the repository's tests start theirs (`workers::testkit::MotoServer`: through
/// `scripts/moto_atomic.py` where the venv has it, killed when the meter dies).
pub struct Moto {
    _server: MotoServer,
    pub port: u16,
}

impl Moto {
    pub fn start(moto_server: &Path, recording: &Path) -> Result<Moto, String> {
        let env = [
            ("MOTO_ENABLE_RECORDING", OsStr::new("True")),
            ("MOTO_RECORDER_FILEPATH", recording.as_os_str()),
        ];
        let server = MotoServer::start_with_env(moto_server, &env)
            .map_err(|e| format!("cannot start moto: {e}"))?;
        let port = server
            .endpoint
            .rsplit(':')
            .next()
            .and_then(|port| port.parse().ok())
            .ok_or_else(|| format!("moto's endpoint {} has no port", server.endpoint))?;
        Ok(Moto {
            _server: server,
            port,
        })
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
