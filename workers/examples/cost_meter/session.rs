//! One build's measuring session: its moto, the CLI processes of each scenario behind their proxies,
//! and the tally of what moto recorded.

use super::*;

/// A CLI process of the build under test, killed (SIGKILL) when dropped.
pub(super) struct Proc {
    pub(super) child: Child,
    pub(super) name: String,
    pub(super) log: PathBuf,
}

impl Proc {
    pub(super) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    pub(super) fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub(super) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

pub(super) struct Session {
    pub(super) options: Options,
    pub(super) moto: Moto,
    pub(super) log: Arc<ProxyLog>,
    pub(super) proxies: HashMap<String, Proxy>,
    pub(super) dir: PathBuf,
    pub(super) outputs: PathBuf,
    pub(super) model: Model,
    pub(super) table: String,
    pub(super) seq: usize,
    /// CLI processes run to completion per role since the last collect.
    pub(super) runs: BTreeMap<String, f64>,
    /// When the recording was last emptied (proxy log time): answers to requests forwarded
    /// before it (long polls of processes already stopped) belong to no scenario.
    pub(super) since_us: u64,
}

pub(super) fn progress(verbose: bool, text: &str) {
    if verbose {
        eprintln!("cost meter: {text}");
    }
}

impl Session {
    pub(super) fn start(options: &Options) -> Result<Session, String> {
        let dir = std::env::temp_dir().join(format!(
            "asynctools-cost-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0)
        ));
        std::fs::create_dir_all(&dir).map_err(|e| format!("creating {}: {e}", dir.display()))?;
        let moto = Moto::start(&options.moto_server, &dir.join("recording.jsonl"))?;
        Ok(Session {
            options: options.clone(),
            moto,
            log: ProxyLog::new(),
            proxies: HashMap::new(),
            outputs: dir.join("outputs.json"),
            dir,
            model: Model::default(),
            table: String::new(),
            seq: 0,
            runs: BTreeMap::new(),
            since_us: 0,
        })
    }

    pub(super) fn endpoint(&mut self, role: &str) -> Result<String, String> {
        if !self.proxies.contains_key(role) {
            let proxy = Proxy::start(role, self.moto.port, self.log.clone())
                .map_err(|e| format!("starting the proxy for {role}: {e}"))?;
            self.proxies.insert(role.to_string(), proxy);
        }
        Ok(self.proxies[role].endpoint())
    }

    /// A command of the build under test with the environment tests/chaos.rs's harness sets, its
    /// AWS endpoint being the role's proxy (or moto itself for `None`).
    pub(super) fn command(&mut self, role: Option<&str>, args: &[&str]) -> Result<Command, String> {
        let endpoint = match role {
            Some(role) => self.endpoint(role)?,
            None => self.moto.endpoint(),
        };
        let mut command = Command::new(&self.options.asynctools);
        command
            .args(args)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", &self.dir)
            .env("ASYNCTOOLS_BACKEND", "aws")
            .env("ASYNCTOOLS_OUTPUTS", &self.outputs)
            .env("AWS_ENDPOINT_URL", endpoint)
            .env("AWS_ACCESS_KEY_ID", "test")
            .env("AWS_SECRET_ACCESS_KEY", "test")
            .env("AWS_REGION", "us-east-1")
            .env("AWS_EC2_METADATA_DISABLED", "true");
        Ok(command)
    }

    pub(super) fn spawn(&mut self, role: &str, args: &[&str]) -> Result<Proc, String> {
        self.seq += 1;
        let name = format!("{role}-{}", self.seq);
        let log = self.dir.join(format!("{name}.log"));
        let file = std::fs::File::create(&log).map_err(|e| e.to_string())?;
        let child = self
            .command(Some(role), args)?
            .stdout(file.try_clone().map_err(|e| e.to_string())?)
            .stderr(file)
            .spawn()
            .map_err(|e| format!("starting {}: {e}", self.options.asynctools.display()))?;
        Ok(Proc { child, name, log })
    }

    /// Runs a command to its end; its standard output.
    pub(super) fn run(&mut self, role: Option<&str>, args: &[&str]) -> Result<String, String> {
        if let Some(role) = role {
            *self.runs.entry(role.to_string()).or_default() += 1.0;
        }
        let output = self
            .command(role, args)?
            .output()
            .map_err(|e| format!("running {args:?}: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "asynctools {} failed ({}): {}",
                args.join(" "),
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    }

    /// Whether `asynctools <args> --help` mentions every flag (an older build may lack some).
    pub(super) fn supports(&mut self, args: &[&str], flags: &[&str]) -> bool {
        let mut all = args.to_vec();
        all.push("--help");
        match self
            .command(None, &all)
            .and_then(|mut c| c.output().map_err(|e| e.to_string()))
        {
            Ok(out) if out.status.success() => {
                let help = String::from_utf8_lossy(&out.stdout);
                flags.iter().all(|f| help.contains(f))
            }
            _ => false,
        }
    }

    /// A fresh stack: moto emptied, `local up`, the CreateTable read into a new model, the
    /// recording and the proxy log emptied.
    pub(super) fn fresh_stack(&mut self) -> Result<(), String> {
        self.moto.reset_state()?;
        self.moto.reset_recording()?;
        let endpoint = self.moto.endpoint();
        let outputs = self.outputs.display().to_string();
        self.run(
            None,
            &[
                "local",
                "up",
                "--endpoint",
                &endpoint,
                "--outputs",
                &outputs,
            ],
        )?;
        let recording = self.moto.download_recording()?;
        self.model = Model::default();
        for r in &recording {
            if r.header("X-Amz-Target")
                .is_some_and(|t| t.ends_with(".CreateTable"))
            {
                let body: Value = serde_json::from_slice(&r.body)
                    .map_err(|e| format!("the recorded CreateTable is not JSON: {e}"))?;
                let schema = self.model.create_table(&body)?;
                self.table = schema.table.clone();
            }
        }
        if self.table.is_empty() {
            return Err("`local up` created no DynamoDB table".into());
        }
        self.restart_recording()
    }

    pub(super) fn restart_recording(&mut self) -> Result<(), String> {
        self.since_us = self.log.now_us();
        self.moto.reset_recording()?;
        self.log.take();
        self.runs.clear();
        Ok(())
    }

    pub(super) fn submit(
        &mut self,
        tool: &str,
        arguments: &str,
        conversation: &str,
    ) -> Result<String, String> {
        let out = self.run(
            Some("submit"),
            &[
                "tasks",
                "submit",
                tool,
                "--args",
                arguments,
                "--conversation",
                conversation,
            ],
        )?;
        let ack: Value = out
            .lines()
            .find_map(|l| serde_json::from_str(l).ok())
            .ok_or_else(|| format!("no acknowledgement in {out:?}"))?;
        ack["task_id"]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| format!("no task_id in {ack}"))
    }

    /// Waits until no request but receives and queries (background polling) has started for 1 s.
    pub(super) fn quiesce(&self) {
        let started = Instant::now();
        while started.elapsed() < Duration::from_secs(15) {
            let last = self.log.last_start_us(|e| {
                e.target.ends_with(".ReceiveMessage") || e.target.ends_with(".Query")
            });
            if self.log.now_us().saturating_sub(last) > 1_000_000 {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub(super) fn wait_exit(&self, proc: &mut Proc, limit: Duration) -> Result<(), String> {
        let started = Instant::now();
        loop {
            if let Some(status) = proc.exited() {
                return if status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{} exited {status}: {}",
                        proc.name,
                        proc.log_tail()
                    ))
                };
            }
            if started.elapsed() > limit {
                return Err(format!(
                    "{} did not finish within {} s: {}",
                    proc.name,
                    limit.as_secs(),
                    proc.log_tail()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Waits until `role` has sent a DynamoDB write naming `task_id` (a worker's claim).
    pub(super) fn wait_for_write(
        &self,
        role: &str,
        after_us: u64,
        limit: Duration,
    ) -> Result<(), String> {
        let started = Instant::now();
        while started.elapsed() < limit {
            let claimed = self.log.snapshot().iter().any(|e| {
                e.role == role
                    && e.start_us >= after_us
                    && ["PutItem", "UpdateItem", "TransactWriteItems"]
                        .iter()
                        .any(|op| e.target.ends_with(&format!(".{op}")))
            });
            if claimed {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(format!("{role} wrote nothing within {} s", limit.as_secs()))
    }

    /// Stops every process, then counts what the recording holds.
    pub(super) fn collect(
        &mut self,
        mut procs: Vec<Proc>,
        tasks: &HashSet<String>,
    ) -> Result<(Tally, ModelCheck, Vec<String>), String> {
        for p in &mut procs {
            p.kill();
        }
        drop(procs);
        std::thread::sleep(Duration::from_millis(100));
        let recording = self.moto.download_recording()?;
        let mut exchanges = self.log.take();
        exchanges.retain(|e| e.start_us >= self.since_us);
        let (calls, notes) = account::join(&recording, &exchanges);
        let mut tally = account::tally(&calls, &mut self.model, tasks)?;
        tally.processes = std::mem::take(&mut self.runs);
        let scanned = self.moto.scan(&self.table)?;
        let (items, differences) = self.model.check_against(&self.table, &scanned)?;
        let check = ModelCheck {
            items,
            mismatched: differences.len(),
            examples: differences.into_iter().take(5).collect(),
        };
        Ok((tally, check, notes))
    }

    pub(super) fn scenario(&mut self, scenario: Scenario) -> Result<ScenarioReport, String> {
        let n = self.options.tasks;
        self.fresh_stack()?;
        let started = Instant::now();
        let mut notes = Vec::new();
        let out = self.dir.join(format!("{}-results.jsonl", scenario.key()));
        let out = out.display().to_string();
        let count = match scenario {
            Scenario::Happy | Scenario::Kib1 | Scenario::Kib64 => n,
            Scenario::Retry | Scenario::Cancel => 1,
        };
        if !self.supports(&["tasks", "watch"], &["--count", "--out"]) {
            return Err("this build's `tasks watch` has no --count/--out".into());
        }
        let watch = self.spawn(
            "router",
            &[
                "tasks",
                "watch",
                "--consumer",
                "default",
                "--out",
                &out,
                "--count",
                &count.to_string(),
            ],
        )?;
        let mut procs = vec![watch];
        let mut tasks = HashSet::new();
        let (title, tool) = match scenario {
            Scenario::Happy | Scenario::Kib1 | Scenario::Kib64 => {
                procs.push(self.spawn("worker", &["worker"])?);
                let (tool, title) = match scenario {
                    Scenario::Happy => (
                        "sentiment",
                        format!(
                            "happy path: {n} sentiment tasks (a ~40-byte text), one `asynctools worker` (defaults: every tool, its sweeper every 30 s), one `tasks watch --count {n}`"
                        ),
                    ),
                    Scenario::Kib1 => (
                        "synthetic",
                        format!(
                            "1 KiB: {n} synthetic tasks, argument {KIB1_ARGUMENT_BYTES} B, result {} B, same processes",
                            KIB1_ARGUMENT_BYTES + 24
                        ),
                    ),
                    _ => (
                        "synthetic",
                        format!(
                            "64 KiB: {n} synthetic tasks, argument {KIB64_ARGUMENT_BYTES} B, result {} B, same processes",
                            KIB64_ARGUMENT_BYTES + 24
                        ),
                    ),
                };
                for i in 0..n {
                    let arguments = match scenario {
                        Scenario::Happy => {
                            json!({ "text": format!("great, but slow (call {i})") }).to_string()
                        }
                        Scenario::Kib1 => echo_arguments(KIB1_ARGUMENT_BYTES),
                        _ => echo_arguments(KIB64_ARGUMENT_BYTES),
                    };
                    tasks.insert(self.submit(tool, &arguments, "c")?);
                }
                (title, tool)
            }
            Scenario::Retry => {
                if !self.supports(&["worker"], &["--recovery", "--tool"]) {
                    return Err("this build's `worker` has no --recovery".into());
                }
                let worker_args = ["worker", "--tool", "synthetic", "--recovery", "5s"];
                let mut first = self.spawn("worker", &worker_args)?;
                let before = self.log.now_us();
                tasks.insert(self.submit("synthetic", r#"{"sleep_ms":3000}"#, "c")?);
                self.wait_for_write("worker", before, Duration::from_secs(20))?;
                std::thread::sleep(Duration::from_millis(500));
                first.kill();
                notes
                    .push("worker 1 SIGKILLed 0.5 s after its claim; worker 2 started then".into());
                procs.push(first);
                procs.push(self.spawn("worker", &worker_args)?);
                (
                    "one retry: a synthetic task (sleep 3 s), its worker (`worker --tool synthetic --recovery 5s`) SIGKILLed mid-run, a second worker takes it over".to_string(),
                    "synthetic",
                )
            }
            Scenario::Cancel => {
                procs.push(self.spawn("worker", &["worker", "--tool", "synthetic"])?);
                let before = self.log.now_us();
                let id = self.submit("synthetic", r#"{"sleep_ms":120000}"#, "c")?;
                tasks.insert(id.clone());
                self.wait_for_write("worker", before, Duration::from_secs(20))?;
                std::thread::sleep(Duration::from_millis(500));
                let cancelled_at = self.log.now_us();
                self.run(Some("cancel"), &["tasks", "cancel", &id])?;
                // The worker learns of it at its next heartbeat (recovery_s / 3 = 10 s by default)
                // and lets the message go: count that too.
                let deadline = Instant::now() + Duration::from_secs(40);
                while Instant::now() < deadline {
                    let let_go = self.log.snapshot().iter().any(|e| {
                        e.role == "worker"
                            && e.start_us > cancelled_at
                            && e.target.contains(".DeleteMessage")
                    });
                    if let_go {
                        break;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                (
                    "one cancel: a synthetic task (sleep 120 s) cancelled with `tasks cancel` while it runs (`worker --tool synthetic`, default heartbeat)".to_string(),
                    "synthetic",
                )
            }
        };
        let limit = Duration::from_secs(120 + 2 * n as u64);
        self.wait_exit(&mut procs[0], limit)?;
        self.quiesce();
        let wall_s = started.elapsed().as_secs_f64();
        let (tally, model_check, mut join_notes) = self.collect(procs, &tasks)?;
        notes.append(&mut join_notes);
        let memory = workers::Catalog::embedded()
            .get(tool)
            .map(|t| f64::from(t.memory_mb))
            .unwrap_or(128.0);
        let per_task = per_task(&tally, count as f64, memory, &Prices::default());
        Ok(ScenarioReport {
            key: scenario.key().to_string(),
            title,
            tasks: count,
            wall_s,
            per_task,
            tally,
            model_check,
            notes,
        })
    }

    pub(super) fn idle(&mut self) -> Result<IdleReport, String> {
        let prices = Prices::default();
        let interval = Duration::from_secs(self.options.idle_s);
        self.fresh_stack()?;
        let out = self.dir.join("idle-results.jsonl").display().to_string();
        let procs = vec![
            self.spawn(
                "router",
                &["tasks", "watch", "--consumer", "default", "--out", &out],
            )?,
            self.spawn("worker", &["worker"])?,
        ];
        let started = Instant::now();
        std::thread::sleep(interval);
        let measured = started.elapsed().as_secs_f64();
        let (tally, _, mut notes) = self.collect(procs, &HashSet::new())?;
        let scale = 3600.0 / measured;
        let router = hourly(&tally, "router", scale, &prices);
        let local_worker = hourly(&tally, "worker", scale, &prices);
        let mut sweeper = None;
        let mut sweeps_measured = 0;
        if self.supports(&["tasks", "sweep"], &[]) {
            self.restart_recording()?;
            const SWEEPS: usize = 3;
            for _ in 0..SWEEPS {
                self.run(Some("sweep"), &["tasks", "sweep"])?;
            }
            sweeps_measured = SWEEPS;
            let (tally, _, mut more) = self.collect(Vec::new(), &HashSet::new())?;
            notes.append(&mut more);
            let per_hour = SWEEPS_PER_HOUR / SWEEPS as f64;
            let mut h = hourly(&tally, "sweep", per_hour, &prices);
            h.lambda_invocations = SWEEPS_PER_HOUR;
            h.lambda_gb_s = SWEEPER_MB / 1024.0 * tally.role_seconds("sweep", |_| true) * per_hour;
            h.usd += h.lambda_invocations * prices.lambda_usd_per_request
                + h.lambda_gb_s * prices.lambda_usd_per_gb_s;
            sweeper = Some(h);
        } else {
            notes.push("this build has no `tasks sweep`: the sweeper was not measured".into());
        }
        Ok(IdleReport {
            interval_s: measured,
            router,
            sweeper,
            sweeps_measured,
            local_worker,
            notes,
        })
    }
}
