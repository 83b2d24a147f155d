//! Test support shared by the tests, the benchmark and the CLI tests: a moto server on a free
//! 127.0.0.1 port, stopped when its guard drops, and a backend provisioned on it.

use crate::aws::{AwsSettings, ProvisionOptions, Resources, provision, sdk_config};
use crate::backend::Backend;
use crate::catalog::Catalog;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

mod hooked;
mod hooked_queue;

pub use hooked::{Hooked, StoreHook};
pub use hooked_queue::{HookedQueue, QueueHook};

/// `ASYNCTOOLS_MOTO_SERVER`, else `<workspace>/.venv/bin/moto_server`, if it exists.
pub fn find_moto_server() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ASYNCTOOLS_MOTO_SERVER") {
        return Some(PathBuf::from(path)).filter(|p| p.exists());
    }
    let workspace = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    Some(workspace.join(".venv/bin/moto_server")).filter(|p| p.exists())
}

/// A running moto server. It runs under a small shell that kills it when our end of its stdin
/// closes: on drop, and also when the test process exits without dropping (a shared server in a
/// `static`, or a process killed outright), so no moto outlives its tests.
pub struct MotoServer {
    /// `None`: a server someone else started and stops (`ASYNCTOOLS_TEST_MOTO_ENDPOINT`).
    child: Option<Child>,
    pub endpoint: String,
}

impl MotoServer {
    /// Starts moto, or returns `None` with a skip note when it is not installed. With
    /// `ASYNCTOOLS_REQUIRE_MOTO=1` (as `make test` sets) a missing moto fails instead.
    pub fn start_or_skip(test: &str) -> Option<MotoServer> {
        let path = moto_or_skip(test)?;
        Some(
            MotoServer::start(&path)
                .unwrap_or_else(|e| panic!("{test}: cannot start {}: {e}", path.display())),
        )
    }

    /// One server per test process, shared by its tests (each test provisions its own stack name);
    /// with `ASYNCTOOLS_TEST_MOTO_ENDPOINT` set (`make test`: scripts/with-moto.sh, a comma-separated
    /// list), one of those servers, picked by process id, shared with other test processes.
    pub fn shared(test: &str) -> Option<&'static MotoServer> {
        static SHARED: OnceLock<Option<MotoServer>> = OnceLock::new();
        SHARED
            .get_or_init(|| {
                if let Ok(list) = std::env::var("ASYNCTOOLS_TEST_MOTO_ENDPOINT") {
                    let endpoints: Vec<&str> = list.split(',').filter(|e| !e.is_empty()).collect();
                    if !endpoints.is_empty() {
                        let pick = std::process::id() as usize % endpoints.len();
                        return Some(MotoServer {
                            child: None,
                            endpoint: endpoints[pick].to_string(),
                        });
                    }
                }
                let path = moto_or_skip(test)?;
                Some(
                    MotoServer::start(&path)
                        .unwrap_or_else(|e| panic!("cannot start {}: {e}", path.display())),
                )
            })
            .as_ref()
            .or_else(|| {
                eprintln!("{test}: SKIPPED (no moto_server; run `make venv`)");
                None
            })
    }

    pub fn start(path: &std::path::Path) -> std::io::Result<MotoServer> {
        MotoServer::start_with_env(path, &[])
    }

    /// `start`, with `env` set for moto (e.g. its request recorder: the cost meter's).
    pub fn start_with_env(
        path: &std::path::Path,
        env: &[(&str, &std::ffi::OsStr)],
    ) -> std::io::Result<MotoServer> {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        // With the venv's python beside moto_server, run it through scripts/moto_atomic.py:
        // moto's DynamoDB writes are not atomic under concurrent requests, DynamoDB's are.
        let python = path.with_file_name("python");
        let wrapper =
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../scripts/moto_atomic.py");
        let program: Vec<&std::ffi::OsStr> = if python.exists() && wrapper.exists() {
            vec![python.as_os_str(), wrapper.as_os_str()]
        } else {
            vec![path.as_os_str()]
        };
        let child = Command::new("bash")
            .args([
                "-c",
                r#"port=$1; shift; "$@" -H 127.0.0.1 -p "$port" </dev/null >/dev/null 2>&1 & pid=$!; read -r _; kill "$pid"; wait "$pid""#,
                "moto-guard",
            ])
            .arg(port.to_string())
            .args(program)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()?;
        let server = MotoServer {
            child: Some(child),
            endpoint: format!("http://127.0.0.1:{port}"),
        };
        let started = Instant::now();
        while !moto_answers(port) {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(std::io::Error::other(format!(
                    "moto did not answer on port {port} within 30 s"
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(server)
    }
}

fn moto_or_skip(test: &str) -> Option<PathBuf> {
    let found = find_moto_server();
    if found.is_none() {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{test}: moto_server not found (set ASYNCTOOLS_MOTO_SERVER or run `make venv` to install \
             .venv/bin/moto_server); ASYNCTOOLS_REQUIRE_MOTO=1 makes this a failure"
        );
        eprintln!("{test}: SKIPPED (no moto_server; run `make venv`)");
    }
    found
}

/// Whether a moto server answers on 127.0.0.1:`port`.
pub fn moto_answers(port: u16) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    if stream
        .write_all(b"GET /moto-api/ HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        .is_err()
    {
        return false;
    }
    let mut head = [0u8; 5];
    stream.read_exact(&mut head).is_ok() && &head == b"HTTP/"
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        // Closing stdin makes the shell kill moto and exit.
        if let Some(child) = &mut self.child {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

/// Creates a stack named `stack` on the emulator and returns a backend on it.
pub async fn provision_backend(
    endpoint: &str,
    catalog: Arc<Catalog>,
    stack: &str,
    work_visibility_timeout_s: Option<u32>,
) -> anyhow::Result<(Backend, Resources)> {
    let sdk = sdk_config(&AwsSettings::emulator(endpoint)).await;
    let options = ProvisionOptions {
        work_visibility_timeout_s,
        ..ProvisionOptions::new(stack)
    };
    let resources = provision(&sdk, &catalog, &options).await?;
    let backend = Backend::aws(&sdk, &resources, catalog)?;
    Ok((backend, resources))
}
