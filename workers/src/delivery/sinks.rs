//! Where a router hands results over: memory (tests, demos), a channel (an in-process consumer),
//! a file (its own checkpoint), standard output.

use super::ResultSink;
use crate::protocol::ResultMessage;
use async_trait::async_trait;
use std::collections::HashSet;

/// Results collected in memory, in order (tests, demos).
#[derive(Debug, Default)]
pub struct VecSink(pub Vec<ResultMessage>);

#[async_trait]
impl ResultSink for VecSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        self.0.push(result);
        Ok(())
    }
}

/// Results sent on to an in-process consumer (a conversation's task, an MCP session).
pub struct ChannelSink(pub tokio::sync::mpsc::Sender<ResultMessage>);

#[async_trait]
impl ResultSink for ChannelSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        self.0
            .send(result)
            .await
            .map_err(|_| anyhow::anyhow!("the receiving side is gone"))
    }
}

/// JSON lines appended to a file, each flushed to disk before the task is marked delivered. The file
/// is its own checkpoint: on open, the task ids already in it count as handed over (and a torn last
/// line from a crash is cut), so a restarted watcher writes each result exactly once. Replicas may
/// share the file: the one holding the lease writes, and a replica taking the lease over reloads it.
pub struct FileSink {
    file: std::fs::File,
    path: std::path::PathBuf,
    has: HashSet<String>,
}

impl FileSink {
    pub fn open(path: &std::path::Path) -> anyhow::Result<FileSink> {
        use anyhow::Context;
        let file = std::fs::OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(path)
            .with_context(|| format!("opening {}", path.display()))?;
        let mut sink = FileSink {
            file,
            path: path.to_path_buf(),
            has: HashSet::new(),
        };
        sink.load()?;
        Ok(sink)
    }

    /// Reads the task ids the file holds, cutting a torn last line (its writer died mid-line; only
    /// the lease holder writes, so nobody is writing it now).
    fn load(&mut self) -> anyhow::Result<()> {
        use anyhow::Context;
        use std::io::{Seek, SeekFrom};
        let path = &self.path;
        let text = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        if complete < text.len() {
            self.file
                .set_len(complete as u64)
                .with_context(|| format!("cutting a torn last line of {}", path.display()))?;
        }
        self.file.seek(SeekFrom::End(0))?;
        for (number, line) in String::from_utf8_lossy(&text[..complete])
            .lines()
            .enumerate()
        {
            let value: serde_json::Value = serde_json::from_str(line)
                .with_context(|| format!("{}:{}: not a result line", path.display(), number + 1))?;
            if let Some(id) = value.get("task_id").and_then(|v| v.as_str()) {
                self.has.insert(id.to_string());
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ResultSink for FileSink {
    fn already_has(&self, task_id: &str) -> bool {
        self.has.contains(task_id)
    }

    fn resume(&mut self) -> anyhow::Result<()> {
        self.load()
    }

    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        use std::io::Write;
        let mut line = serde_json::to_string(&result)?;
        line.push('\n');
        self.file.write_all(line.as_bytes())?;
        self.file.sync_data()?;
        self.has.insert(result.task_id);
        Ok(())
    }
}

/// JSON lines on standard output. Exactly once within the process; after a crash between the write
/// and the mark (a few milliseconds), a restarted watcher prints that one result again. Use
/// `FileSink` where a repeat matters.
pub struct StdoutSink;

#[async_trait]
impl ResultSink for StdoutSink {
    async fn hand_over(&mut self, result: ResultMessage) -> anyhow::Result<()> {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        serde_json::to_writer(&mut out, &result)?;
        out.write_all(b"\n")?;
        out.flush()?;
        Ok(())
    }
}
