//! The Lambda Runtime API emulator of cargo-lambda (`cargo lambda watch --only-lambda-apis`) and the
//! function binaries running under it.
//!
//! The emulator serves invocations at `/2015-03-31/functions/<name>/invocations` and the Runtime API
//! at `/.rt/<name>/2018-06-01/runtime/...`. With `--only-lambda-apis` it builds and starts nothing:
//! each function is the binary `cargo test` already built for this test (`CARGO_BIN_EXE_<name>`),
//! started here with the environment Lambda gives it and `AWS_LAMBDA_RUNTIME_API` pointing at the
//! emulator, so its `lambda_runtime` loop polls for events and posts responses as it does on AWS.
//! (Letting `watch` run `cargo run --bin` instead would rebuild the dependency tree with the workers
//! package's own feature set, which differs from the workspace's, and watch the sources.)
//!
//! Every process runs under a small shell in its own process group that is killed when the guard
//! drops, or when the test process exits without dropping it (our end of the shell's stdin closes).

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

pub fn workspace() -> PathBuf {
    // This file is included by tests of several packages: the root is where Cargo.lock is.
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").is_file())
        .expect("the test runs inside the workspace")
        .to_path_buf()
}

/// `ASYNCTOOLS_CARGO_LAMBDA`, else `<workspace>/.venv/bin/cargo-lambda` (`make venv-lambda`), else
/// `cargo-lambda` on PATH.
pub fn find_cargo_lambda() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("ASYNCTOOLS_CARGO_LAMBDA") {
        return Some(PathBuf::from(path)).filter(|p| p.is_file());
    }
    let venv = workspace().join(".venv/bin/cargo-lambda");
    if venv.is_file() {
        return Some(venv);
    }
    std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("cargo-lambda"))
        .find(|p| p.is_file())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port on 127.0.0.1")
        .port()
}

/// Runs `"$@"` in its own process group with its output appended to `$ASYNCTOOLS_LOG`, prints its
/// pid, and when stdin closes sends the group SIGTERM, then SIGKILL once the leader has exited or
/// after 5 s.
const GUARD: &str = r#"set -m
log=$ASYNCTOOLS_LOG
unset ASYNCTOOLS_LOG
"$@" </dev/null >>"$log" 2>&1 &
pid=$!
echo "$pid"
read -r _ || true
kill -TERM -- "-$pid" 2>/dev/null
(sleep 5; kill -KILL -- "-$pid") 2>/dev/null &
killer=$!
wait "$pid" 2>/dev/null
kill -KILL -- "-$pid" "-$killer" 2>/dev/null
exit 0"#;

/// A process group started through `GUARD`.
pub struct Guarded {
    name: String,
    shell: Child,
    stdin: Option<ChildStdin>,
    /// The process group id (the program's pid).
    group: i32,
    pub log: PathBuf,
}

impl Guarded {
    /// The program gets exactly `env` (plus the test's PATH if `env` has none).
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[OsString],
        env: &[(String, String)],
        log: PathBuf,
    ) -> Guarded {
        let mut command = Command::new("bash");
        command
            .arg("-c")
            .arg(GUARD)
            .arg("guard")
            .arg(program)
            .args(args)
            .current_dir(workspace())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        command.env_clear();
        command.envs(env.iter().map(|(k, v)| (k, v)));
        // The shell itself needs `sleep`.
        if !env.iter().any(|(k, _)| k == "PATH") {
            command.env("PATH", std::env::var_os("PATH").unwrap_or_default());
        }
        command.env("ASYNCTOOLS_LOG", &log);
        let mut shell = command
            .spawn()
            .unwrap_or_else(|e| panic!("{name}: cannot start bash: {e}"));
        let mut line = String::new();
        BufReader::new(shell.stdout.take().expect("piped stdout"))
            .read_line(&mut line)
            .unwrap_or_else(|e| panic!("{name}: reading its pid: {e}"));
        let group = line
            .trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}: the guard shell printed {line:?}, not a pid"));
        let stdin = shell.stdin.take();
        Guarded {
            name: name.to_string(),
            shell,
            stdin,
            group,
            log,
        }
    }

    /// Whether the program is still running (a process of its group exists).
    pub fn is_running(&self) -> bool {
        // SAFETY: signal 0 only checks that the process group exists.
        unsafe { libc::kill(-self.group, 0) == 0 }
    }

    /// The last `max` bytes of its output.
    pub fn log_tail(&self, max: usize) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log) {
            let _ = file.read_to_string(&mut text);
        }
        let start = text.len().saturating_sub(max);
        let start = (start..text.len())
            .find(|&i| text.is_char_boundary(i))
            .unwrap_or(text.len());
        format!(
            "--- {} output ({}) ---\n{}\n--- end ---",
            self.name,
            self.log.display(),
            &text[start..]
        )
    }

    pub fn stop(self) {}
}

impl Drop for Guarded {
    fn drop(&mut self) {
        // Closing stdin makes the shell stop the group.
        if let Some(mut stdin) = self.stdin.take() {
            let _ = stdin.write_all(b"\n");
        }
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(10) {
            if let Ok(Some(_)) = self.shell.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        // The shell is stuck: kill the group and the shell ourselves.
        // SAFETY: plain kill(2) on the group and the child we started.
        unsafe {
            libc::kill(-self.group, libc::SIGKILL);
        }
        let _ = self.shell.kill();
        let _ = self.shell.wait();
    }
}

/// `cargo lambda watch --only-lambda-apis` on a free 127.0.0.1 port.
pub struct Emulator {
    pub port: u16,
    process: Guarded,
}

impl Emulator {
    /// Starts the emulator and waits (at most `ready_within`) until it accepts connections.
    pub fn start(cargo_lambda: &Path, log_dir: &Path, ready_within: Duration) -> Emulator {
        let port = free_port();
        let manifest = workspace().join("workers/hosts/Cargo.toml");
        let args: Vec<OsString> = [
            "lambda",
            "watch",
            "--only-lambda-apis",
            "--ignore-changes",
            "--invoke-address",
            "127.0.0.1",
            "--invoke-port",
            &port.to_string(),
            "--manifest-path",
            &manifest.to_string_lossy(),
            "--color",
            "never",
        ]
        .iter()
        .map(OsString::from)
        .collect();
        // cargo-lambda's directory first on PATH (as `make` sets it); `cargo metadata`, the only
        // cargo command it runs with these flags, stays offline.
        let mut path = vec![
            cargo_lambda
                .parent()
                .expect("a file has a parent")
                .to_path_buf(),
        ];
        path.extend(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        ));
        let mut env: Vec<(String, String)> = std::env::vars()
            .filter(|(k, _)| k != "PATH" && !k.starts_with("AWS_"))
            .collect();
        env.push((
            "PATH".into(),
            std::env::join_paths(path)
                .expect("PATH entries")
                .to_string_lossy()
                .into_owned(),
        ));
        env.push(("CARGO_NET_OFFLINE".into(), "true".into()));
        let process = Guarded::spawn(
            "cargo lambda watch",
            cargo_lambda,
            &args,
            &env,
            log_dir.join("watch.log"),
        );
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return Emulator { port, process };
            }
            if !process.is_running() {
                panic!(
                    "cargo lambda watch exited before it served port {port}\n{}",
                    process.log_tail(4000)
                );
            }
            if started.elapsed() > ready_within {
                panic!(
                    "cargo lambda watch did not serve port {port} within {ready_within:?}\n{}",
                    process.log_tail(4000)
                );
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// What a function needs to run under this emulator as `name`, besides its own settings.
    pub fn runtime_env(&self, name: &str) -> Vec<(String, String)> {
        [
            (
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            ),
            ("AWS_LAMBDA_FUNCTION_NAME", name.to_string()),
            ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST".to_string()),
            ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256".to_string()),
            ("AWS_LAMBDA_LOG_GROUP_NAME", format!("/aws/lambda/{name}")),
            (
                "AWS_LAMBDA_LOG_STREAM_NAME",
                format!("local/{}", ulid::Ulid::generate()),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Starts the binary `program` as the function `name` with exactly `env` (plus the Runtime API
    /// variables). It handles the invocations sent to `name` until the guard drops.
    pub fn function(
        &self,
        name: &str,
        program: &Path,
        env: &[(String, String)],
        log_dir: &Path,
    ) -> Guarded {
        let mut vars = self.runtime_env(name);
        vars.extend(env.iter().cloned());
        Guarded::spawn(
            name,
            program,
            &[],
            &vars,
            log_dir.join(format!("{name}.log")),
        )
    }

    /// POSTs `payload` to the emulator's invoke endpoint for `name` and returns the function's
    /// response; panics (with the function's output) if it does not answer within `limit`.
    pub async fn invoke(
        &self,
        function: &Guarded,
        name: &str,
        payload: &serde_json::Value,
        limit: Duration,
    ) -> serde_json::Value {
        use http_body_util::{BodyExt, Full};
        use hyper_util::client::legacy::Client;
        use hyper_util::rt::TokioExecutor;

        let client: Client<_, Full<bytes::Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let request = http::Request::post(format!(
            "http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations",
            self.port
        ))
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(payload.to_string())))
        .expect("an invoke request");
        let call = async {
            let response = client.request(request).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>((status, body))
        };
        let (status, body) = match tokio::time::timeout(limit, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => panic!(
                "invoking {name}: {e}\n{}\n{}",
                function.log_tail(4000),
                self.process.log_tail(2000)
            ),
            Err(_) => panic!(
                "{name} did not answer within {limit:?} (running: {})\n{}\n{}",
                function.is_running(),
                function.log_tail(4000),
                self.process.log_tail(2000)
            ),
        };
        let text = String::from_utf8_lossy(&body);
        assert!(
            status.is_success(),
            "invoking {name}: HTTP {status}: {text}\n{}",
            function.log_tail(4000)
        );
        serde_json::from_str(&text).unwrap_or_else(|e| {
            panic!(
                "{name} answered something that is not JSON ({e}): {text}\n{}",
                function.log_tail(4000)
            )
        })
    }

    pub fn stop(self) {}
}
