//! AWS's SigV4 MCP proxy (PyPI `mcp-proxy-for-aws`) in front of the deployed MCP server: the
//! `mcp-lambda` binary under cargo-lambda's Lambda Runtime API emulator against moto, behind the
//! loopback Function URL stand-in (`function_url`), which verifies every request's SigV4 signature
//! (service `lambda`) and names the principal of the access key that signed it.
//!
//! - `the_stand_in_verifies_sigv4_as_a_function_url_does`: AWS's own signing test vectors, then what
//!   the stand-in refuses over HTTP (no emulator needed).
//! - `mcp_proxy_for_aws_reaches_the_function_as_its_signing_principal`: `clients/proxy_stdio.py`
//!   spawns the proxy as a stdio MCP server (as Claude Desktop or Claude Code would) and
//!   `clients/proxy_library.py` uses `aws_iam_streamablehttp_client` (with `mcp`'s ClientSession and
//!   with Strands' MCPClient), with two keys: each key's tasks are stored as its principal's, and
//!   the other key cannot read them.
//!
//! The Python clients run from `.venv-agents` (`mcp/tests/clients/requirements-agents.txt`)
//! and the pinned CLI distribution from `.venv-proxy-cli`
//! (`requirements-proxy-cli.txt`), both made by `make venv-agents`; moto (`make venv`) and
//! cargo-lambda (`make venv-lambda`) as for lambda_runtime.rs. Skipped without them unless
//! `ASYNCTOOLS_REQUIRE_MOTO=1` (as `make test` sets).
//!
//! The server answers a slow plain `tools/call` at once (acknowledge-now mode) and hands the result
//! over with `task_results`: the scripts check that (`--expect-ack`), and `task_status` /
//! `task_cancel` of the caller's own task and of a foreign one.

#[allow(dead_code)]
#[path = "../../workers/hosts/tests/lambda_runtime/emulator.rs"]
mod emulator;

mod function_url;

use emulator::Emulator;
use function_url::{FORBIDDEN, Key, REGION, Verifier};
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use workers::aws::{AwsSettings, ProvisionOptions, provision, sdk_config};
use workers::poller::{PoolOptions, WorkerPool};
use workers::testkit::MotoServer;
use workers::{Backend, Catalog, TaskRecord, ToolBox};

const TEST: &str = "mcp_aws_proxy";
const FUNCTION: &str = "mcp-lambda";
/// A long-term key of an IAM user: the owner is the user.
const ALICE: &str = "arn:aws:iam::123456789012:user/alice";
const ALICE_OWNER: &str = ALICE;
/// Temporary credentials of a role session (with a session token): the owner is the caller, role
/// and session (`ASYNCTOOLS_OWNER_SCOPE` default).
const BOB: &str = "arn:aws:sts::123456789012:assumed-role/AgentRole/bob-session";
const BOB_OWNER: &str = BOB;
/// Long enough for a blocking `research` of 1.5 s on moto.
const MAX_WAIT_S: u64 = 30;

fn alice() -> Key {
    Key::new(
        "AKIAALICEEXAMPLE0001",
        "alice/K7MDENG+bPxRfiCYEXAMPLEKEY",
        ALICE,
    )
}

fn bob() -> Key {
    Key::new(
        "ASIABOBEXAMPLE000002",
        "bob/K7MDENG+bPxRfiCYEXAMPLEKEY",
        BOB,
    )
    .with_session_token("IQoJb3JpZ2luX2VjEBob+session+token//example==")
}

// ---------------------------------------------------------------------------------------------
// The stand-in's verification on its own.

/// 2015-08-30T12:36:00Z, the time of AWS's SigV4 test suite.
fn suite_time() -> SystemTime {
    function_url::parse_amz_date("20150830T123600Z").unwrap()
}

const SUITE_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const SUITE_TOKEN: &str = "AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==";

/// A request of the test suite (aws-signing-test-suite/v4/NAME/header-signed-request.txt).
fn suite_request(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    signed: &str,
    signature: &str,
) -> (http::Method, http::Uri, http::HeaderMap) {
    let mut map = http::HeaderMap::new();
    for (name, value) in headers {
        map.append(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            http::HeaderValue::from_str(value).unwrap(),
        );
    }
    map.insert("x-amz-date", "20150830T123600Z".parse().unwrap());
    map.insert(
        "authorization",
        format!(
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
             SignedHeaders={signed}, Signature={signature}"
        )
        .parse()
        .unwrap(),
    );
    (
        method.parse().unwrap(),
        path_and_query.parse().unwrap(),
        map,
    )
}

#[test]
fn the_verifier_accepts_the_aws_sigv4_test_suite() {
    let suite = Key::new(
        "AKIDEXAMPLE",
        SUITE_SECRET,
        "arn:aws:iam::111122223333:user/suite",
    );
    let verifier = Verifier::for_service("us-east-1", "service", [suite.clone()]);
    let with_token = Verifier::for_service(
        "us-east-1",
        "service",
        [suite.clone().with_session_token(SUITE_TOKEN)],
    );
    let host = ("host", "example.amazonaws.com");
    let cases: Vec<(&str, &Verifier, _, &[u8])> = vec![
        (
            "get-vanilla",
            &verifier,
            suite_request(
                "GET",
                "/",
                &[host],
                "host;x-amz-date",
                "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
            ),
            b"",
        ),
        (
            "post-vanilla-query",
            &verifier,
            suite_request(
                "POST",
                "/?Param1=value1",
                &[host],
                "host;x-amz-date",
                "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11",
            ),
            b"",
        ),
        (
            "get-vanilla-query-order-key-case",
            &verifier,
            suite_request(
                "GET",
                "/?Param2=value2&Param1=value1",
                &[host],
                "host;x-amz-date",
                "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
            ),
            b"",
        ),
        (
            "post-x-www-form-urlencoded",
            &verifier,
            suite_request(
                "POST",
                "/",
                &[
                    ("content-type", "application/x-www-form-urlencoded"),
                    host,
                    ("content-length", "13"),
                    (
                        "x-amz-content-sha256",
                        "9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e",
                    ),
                ],
                "content-length;content-type;host;x-amz-content-sha256;x-amz-date",
                "d3875051da38690788ef43de4db0d8f280229d82040bfac253562e56c3f20e0b",
            ),
            b"Param1=value1",
        ),
        (
            "post-sts-header-before",
            &with_token,
            suite_request(
                "POST",
                "/",
                &[host, ("x-amz-security-token", SUITE_TOKEN)],
                "host;x-amz-date;x-amz-security-token",
                "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead",
            ),
            b"",
        ),
    ];
    for (name, verifier, (method, uri, headers), body) in cases {
        let verified = verifier.verify(method.as_str(), &uri, &headers, body, suite_time());
        assert!(verified.is_ok(), "{name}: {verified:?}");
        // The same request an hour later is refused (x-amz-date skew).
        let late = verifier.verify(
            method.as_str(),
            &uri,
            &headers,
            body,
            suite_time() + Duration::from_secs(3600),
        );
        assert!(
            late.as_ref().is_err_and(|r| r.0.contains("from now")),
            "{name}: {late:?}"
        );
        // And another body never verifies.
        let tampered = verifier.verify(method.as_str(), &uri, &headers, b"x", suite_time());
        assert!(tampered.is_err(), "{name}: a changed body verified");
    }
}

/// A loopback "emulator" that answers every invocation with the event it got.
async fn echo_function() -> (String, tokio::task::JoinHandle<()>) {
    let app = axum::Router::new().fallback(|body: axum::body::Bytes| async move {
        (
            [(http::header::CONTENT_TYPE, "application/json")],
            body.to_vec(),
        )
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/invocations", listener.local_addr().unwrap());
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    (url, server)
}

/// How a test request is spoiled, before or after signing.
#[derive(Clone, Copy, Debug)]
enum Spoil {
    None,
    Unsigned,
    WrongSecret,
    UnknownKey,
    Region,
    Service,
    Late,
    Early,
    ChangedBody,
    ChangedSignedHeader,
    UnsignedAmzHeader,
    WrongContentSha256,
    OtherHost,
    NoToken,
    ForeignToken,
}

async fn send(
    http: &reqwest::Client,
    url: &str,
    key: &Key,
    spoil: Spoil,
    content_sha256: bool,
) -> (u16, String) {
    let body = br#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_vec();
    let authority = url
        .parse::<http::Uri>()
        .unwrap()
        .authority()
        .unwrap()
        .to_string();
    let host = match spoil {
        Spoil::OtherHost => "abcdefgh.lambda-url.us-east-1.on.aws".to_string(),
        _ => authority,
    };
    let mut request = http::Request::post(url)
        .header("host", host)
        .header("content-type", "application/json")
        .body(body.clone())
        .unwrap();
    if content_sha256 || matches!(spoil, Spoil::WrongContentSha256) {
        let hash = match spoil {
            Spoil::WrongContentSha256 => function_url::sha256_hex(b"something else"),
            _ => function_url::sha256_hex(&body),
        };
        request
            .headers_mut()
            .insert("x-amz-content-sha256", hash.parse().unwrap());
    }
    let mut signer = key.clone();
    match spoil {
        Spoil::WrongSecret => signer.secret_access_key = "not-the-secret".into(),
        Spoil::UnknownKey => signer.access_key_id = "AKIANOBODYEXAMPLE999".into(),
        Spoil::NoToken => signer.session_token = None,
        Spoil::ForeignToken => signer.session_token = Some("someone-else's-token".into()),
        _ => {}
    }
    let (region, service) = match spoil {
        Spoil::Region => ("us-west-2", "lambda"),
        Spoil::Service => (REGION, "execute-api"),
        _ => (REGION, "lambda"),
    };
    let time = match spoil {
        Spoil::Late => SystemTime::now() - Duration::from_secs(20 * 60),
        Spoil::Early => SystemTime::now() + Duration::from_secs(20 * 60),
        _ => SystemTime::now() - Duration::from_secs(5 * 60),
    };
    if !matches!(spoil, Spoil::Unsigned) {
        function_url::sign(&mut request, &signer, region, service, time);
    }
    match spoil {
        Spoil::ChangedBody => *request.body_mut() = br#"{"jsonrpc":"2.0","id":2}"#.to_vec(),
        Spoil::ChangedSignedHeader => {
            request
                .headers_mut()
                .insert("content-type", "text/plain".parse().unwrap());
        }
        Spoil::UnsignedAmzHeader => {
            request
                .headers_mut()
                .insert("x-amz-target", "Lambda.Invoke".parse().unwrap());
        }
        _ => {}
    }
    if matches!(spoil, Spoil::OtherHost) {
        // Sent to the stand-in, signed for another host.
        request.headers_mut().insert(
            "host",
            url.parse::<http::Uri>()
                .unwrap()
                .authority()
                .unwrap()
                .as_str()
                .parse()
                .unwrap(),
        );
    }
    let answer = http
        .execute(reqwest::Request::try_from(request).unwrap())
        .await
        .unwrap();
    (answer.status().as_u16(), answer.text().await.unwrap())
}

#[tokio::test]
async fn the_stand_in_verifies_sigv4_as_a_function_url_does() {
    let (invoke, echo) = echo_function().await;
    let stand_in = function_url::start(invoke, Verifier::new(REGION, [alice(), bob()])).await;
    let http = reqwest::Client::new();

    // Accepted: the event's IAM authorizer names the key's principal.
    for (key, arn) in [(alice(), ALICE), (bob(), BOB)] {
        for content_sha256 in [false, true] {
            let (status, body) =
                send(&http, &stand_in.url, &key, Spoil::None, content_sha256).await;
            assert_eq!(status, 200, "{arn}: {body}");
            let event: Value = serde_json::from_str(&body).unwrap();
            let iam = &event["requestContext"]["authorizer"]["iam"];
            assert_eq!(iam["userArn"], arn);
            assert_eq!(iam["accessKey"], key.access_key_id.as_str());
            assert_eq!(
                event["body"],
                r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#
            );
        }
    }
    assert!(stand_in.refusals().is_empty(), "{:?}", stand_in.refusals());

    let refused = [
        (alice(), Spoil::Unsigned, "not signed"),
        (alice(), Spoil::WrongSecret, "signature does not match"),
        (alice(), Spoil::UnknownKey, "unknown access key"),
        (alice(), Spoil::Region, "scope us-west-2/lambda"),
        (alice(), Spoil::Service, "execute-api"),
        (alice(), Spoil::Late, "from now"),
        (alice(), Spoil::Early, "from now"),
        (alice(), Spoil::ChangedBody, "signature does not match"),
        (
            alice(),
            Spoil::ChangedSignedHeader,
            "signature does not match",
        ),
        (
            alice(),
            Spoil::UnsignedAmzHeader,
            "x-amz-target is not signed",
        ),
        (alice(), Spoil::WrongContentSha256, "x-amz-content-sha256"),
        (alice(), Spoil::OtherHost, "signature does not match"),
        (alice(), Spoil::ForeignToken, "long-term key"),
        (bob(), Spoil::NoToken, "without x-amz-security-token"),
        (bob(), Spoil::ForeignToken, "not the key's token"),
    ];
    for (i, (key, spoil, reason)) in refused.iter().enumerate() {
        let (status, body) = send(&http, &stand_in.url, key, *spoil, false).await;
        assert_eq!((status, body.as_str()), (403, FORBIDDEN), "{spoil:?}");
        let refusals = stand_in.refusals();
        assert_eq!(refusals.len(), i + 1);
        assert!(
            refusals[i].0.contains(reason),
            "{spoil:?}: refused for {:?}, expected {reason:?}",
            refusals[i].0
        );
    }
    assert_eq!(
        stand_in.principals().len(),
        4,
        "only the signed requests got through"
    );
    drop(stand_in);
    echo.abort();
}

// ---------------------------------------------------------------------------------------------
// The proxy against the function.

struct Venvs {
    python: PathBuf,
    /// `mcp-proxy-for-aws` of the library distribution (requirements-agents.txt).
    proxy: PathBuf,
    /// `mcp-proxy-for-aws-cli`, the pinned distribution `uvx mcp-proxy-for-aws-cli@...` runs.
    proxy_cli: PathBuf,
}

fn venvs_or_skip() -> Option<Venvs> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let venvs = Venvs {
        python: root.join(".venv-agents/bin/python"),
        proxy: root.join(".venv-agents/bin/mcp-proxy-for-aws"),
        proxy_cli: root.join(".venv-proxy-cli/bin/mcp-proxy-for-aws-cli"),
    };
    let usable = venvs.proxy.is_file()
        && venvs.proxy_cli.is_file()
        && std::process::Command::new(&venvs.python)
            .args(["-c", "import mcp_proxy_for_aws.client, strands, mcp"])
            .output()
            .is_ok_and(|o| o.status.success());
    if usable {
        return Some(venvs);
    }
    let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "{TEST}: .venv-agents or .venv-proxy-cli not found (run `make \
         venv-agents`); \
         ASYNCTOOLS_REQUIRE_MOTO=1 makes this a failure"
    );
    eprintln!("{TEST}: SKIPPED (no .venv-agents; run `make venv-agents`)");
    None
}

fn cargo_lambda_or_skip() -> Option<PathBuf> {
    let found = emulator::find_cargo_lambda();
    if found.is_none() {
        let required = std::env::var("ASYNCTOOLS_REQUIRE_MOTO").is_ok_and(|v| v == "1");
        assert!(
            !required,
            "{TEST}: cargo-lambda not found (run `make venv-lambda`); ASYNCTOOLS_REQUIRE_MOTO=1 \
             makes this a failure"
        );
        eprintln!("{TEST}: SKIPPED (no cargo-lambda; run `make venv-lambda`)");
    }
    found
}

/// Runs a client script with exactly `key`'s credentials and nothing that reaches AWS: no
/// instance metadata, no config files, no proxies from the environment.
async fn run_script(venvs: &Venvs, home: &Path, script: &str, key: &Key, args: &[String]) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/clients")
        .join(script);
    let mut command = tokio::process::Command::new(&venvs.python);
    command
        .arg("-W")
        .arg("ignore")
        .arg(&path)
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .env("AWS_ACCESS_KEY_ID", &key.access_key_id)
        .env("AWS_SECRET_ACCESS_KEY", &key.secret_access_key)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_CONFIG_FILE", home.join("no-aws-config"))
        .env(
            "AWS_SHARED_CREDENTIALS_FILE",
            home.join("no-aws-credentials"),
        )
        .env("FASTMCP_CHECK_FOR_UPDATES", "off")
        .kill_on_drop(true);
    if let Some(token) = &key.session_token {
        command.env("AWS_SESSION_TOKEN", token);
    }
    let started = std::time::Instant::now();
    let output = tokio::time::timeout(Duration::from_secs(240), command.output())
        .await
        .unwrap_or_else(|_| panic!("{script} finished within 240 s"))
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{script} {args:?} as {} failed:\n{stdout}\n{stderr}",
        key.caller_arn
    );
    let report: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| {
            panic!("{script}: last line is not the JSON report ({e}):\n{stdout}\n{stderr}")
        });
    eprintln!(
        "{TEST}: {script} {args:?} as {} in {:?}: {report}",
        key.caller_arn,
        started.elapsed()
    );
    report
}

/// The conversation a stateless server records plain calls under when the caller names none.
const DEFAULT_CONVERSATION: &str = "mcp";

/// Every task `owner` has in the conversations `conversations`.
async fn owned(
    backend: &Backend,
    owner: &str,
    conversations: &BTreeSet<String>,
) -> Vec<TaskRecord> {
    let mut tasks = Vec::new();
    for conversation in conversations {
        let mut cursor: Option<String> = None;
        loop {
            let parsed = workers::ports::check_list_args(100, cursor.as_deref()).unwrap();
            let page = backend
                .store
                .list_by_conversation(owner, conversation, 100, parsed.as_ref())
                .await
                .unwrap();
            tasks.extend(page.tasks);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
    }
    tasks.sort_by(|a, b| a.task_id.cmp(&b.task_id));
    tasks
}

/// The research task a script created: the one its report names (ack mode), else the newest
/// research task of `owner` in the table.
async fn research_task(
    backend: &Backend,
    owner: &str,
    conversations: &BTreeSet<String>,
    report: &Value,
) -> String {
    if let Some(id) = report["research_task"].as_str() {
        let record = backend
            .store
            .get(id)
            .await
            .unwrap()
            .expect("the acked task is stored");
        assert_eq!(record.owner, owner);
        return id.to_string();
    }
    owned(backend, owner, conversations)
        .await
        .into_iter()
        .rev()
        .find(|t| t.tool == "research")
        .map(|t| t.task_id)
        .expect("a research task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mcp_proxy_for_aws_reaches_the_function_as_its_signing_principal() {
    let Some(cargo_lambda) = cargo_lambda_or_skip() else {
        return;
    };
    let Some(venvs) = venvs_or_skip() else {
        return;
    };
    let Some(moto) = MotoServer::start_or_skip(TEST) else {
        return;
    };
    let logs =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{TEST}-{}", ulid::Ulid::generate()));
    let home = logs.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let catalog = Arc::new(Catalog::embedded().clone());
    let sdk = sdk_config(&AwsSettings::emulator(&moto.endpoint)).await;
    let options = ProvisionOptions {
        work_visibility_timeout_s: Some(5),
        consumers: vec!["default".into(), "mcp".into()],
        ..ProvisionOptions::new("McpProxy")
    };
    let resources = provision(&sdk, &catalog, &options).await.unwrap();
    let backend = Backend::aws(&sdk, &resources, catalog).unwrap();
    let mut pool_options = PoolOptions::new("mcp-proxy-test");
    pool_options.wait = Duration::from_millis(200);
    let names: Vec<String> = backend
        .catalog
        .names()
        .iter()
        .map(|n| n.to_string())
        .collect();
    let pool = WorkerPool::start(&backend, &ToolBox::builtin(), &names, &pool_options).unwrap();

    let emulator = Emulator::start(&cargo_lambda, &logs, Duration::from_secs(60));
    let env: Vec<(String, String)> = [
        ("AWS_ENDPOINT_URL", moto.endpoint.clone()),
        ("AWS_REGION", REGION.into()),
        ("AWS_ACCESS_KEY_ID", "test".into()),
        ("AWS_SECRET_ACCESS_KEY", "test".into()),
        ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ("HOME", home.to_string_lossy().into_owned()),
        ("ASYNCTOOLS_TABLE", resources.table.clone()),
        (
            "ASYNCTOOLS_WORK_QUEUES",
            serde_json::to_string(&resources.work_queue_urls).unwrap(),
        ),
        (
            "ASYNCTOOLS_REPLY_QUEUES",
            serde_json::to_string(&resources.reply_queue_urls).unwrap(),
        ),
        ("ASYNCTOOLS_TASK_TTL_DAYS", "7".into()),
        ("ASYNCTOOLS_MCP_CONSUMER", "mcp".into()),
        ("ASYNCTOOLS_MCP_MAX_WAIT_S", MAX_WAIT_S.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let function = emulator.function(
        FUNCTION,
        &PathBuf::from(env!("CARGO_BIN_EXE_mcp-lambda")),
        &env,
        &logs,
    );
    let stand_in = function_url::start(
        function_url::invoke_url(emulator.port, FUNCTION),
        Verifier::new(REGION, [alice(), bob()]),
    )
    .await;
    let url = stand_in.url.clone();
    let ack = ["--expect-ack".to_string()];
    let with = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![url.clone()];
        args.extend(extra.iter().map(|s| s.to_string()));
        args.extend(ack.iter().cloned());
        args
    };
    let proxy = venvs.proxy.to_string_lossy().into_owned();
    let proxy_cli = venvs.proxy_cli.to_string_lossy().into_owned();

    // The conversations the scripts' tasks are recorded under: the stateless server's default,
    // and any the acknowledgements name.
    let mut seen = BTreeSet::from([DEFAULT_CONVERSATION.to_string()]);
    let mut note = |report: &Value| {
        let named = report["conversations"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        seen.extend(named.iter().filter_map(|c| c.as_str().map(String::from)));
        seen.clone()
    };

    // 1. Alice through the stdio proxy, as users run it (the pinned CLI distribution).
    let report = run_script(
        &venvs,
        &home,
        "proxy_stdio.py",
        &alice(),
        &with(&["--proxy", &proxy_cli]),
    )
    .await;
    let conversations = note(&report);
    assert_eq!(report["unsigned_status"], 403);
    assert_eq!(report["sentiment"], "positive");
    let alice_tasks = owned(&backend, ALICE_OWNER, &conversations).await;
    assert_eq!(
        alice_tasks.len() as u64,
        report["tasks_created"].as_u64().unwrap(),
        "each call through the proxy is a task of the signing key's principal: {alice_tasks:?}"
    );
    assert!(owned(&backend, BOB_OWNER, &conversations).await.is_empty());
    let alice_research = research_task(&backend, ALICE_OWNER, &conversations, &report).await;
    let mut alice_count = alice_tasks.len();

    // 2. Alice through the library (mcp ClientSession, then Strands): her own task is hers.
    let report = run_script(
        &venvs,
        &home,
        "proxy_library.py",
        &alice(),
        &with(&["--own-task", &alice_research]),
    )
    .await;
    let conversations = note(&report);
    assert_eq!(report["unsigned_status"], 403);
    assert_eq!(report["wrong_secret"], "refused");
    assert_eq!(report["own_task_get"], "ok");
    alice_count += report["tasks_created"].as_u64().unwrap() as usize;
    assert_eq!(
        owned(&backend, ALICE_OWNER, &conversations).await.len(),
        alice_count
    );
    assert!(owned(&backend, BOB_OWNER, &conversations).await.is_empty());

    // 3. Bob (temporary credentials) through the library: his calls are his, Alice's task is
    //    not there for him.
    let report = run_script(
        &venvs,
        &home,
        "proxy_library.py",
        &bob(),
        &with(&["--foreign-task", &alice_research, "--no-strands"]),
    )
    .await;
    let conversations = note(&report);
    let error = &report["foreign_task_get_error"];
    assert_eq!(
        error["code"], -32602,
        "tasks/get of Alice's task as Bob: {error}"
    );
    let bob_count = report["tasks_created"].as_u64().unwrap() as usize;
    assert_eq!(
        owned(&backend, BOB_OWNER, &conversations).await.len(),
        bob_count
    );
    assert_eq!(
        owned(&backend, ALICE_OWNER, &conversations).await.len(),
        alice_count
    );

    // 4. Bob through the stdio proxy of the library distribution.
    let report = run_script(
        &venvs,
        &home,
        "proxy_stdio.py",
        &bob(),
        &with(&["--proxy", &proxy, "--foreign-task", &alice_research]),
    )
    .await;
    let conversations = note(&report);
    assert_eq!(
        report["foreign_refused"],
        json!(["task_status", "task_cancel"])
    );
    let bob_count = bob_count + report["tasks_created"].as_u64().unwrap() as usize;
    assert_eq!(
        owned(&backend, BOB_OWNER, &conversations).await.len(),
        bob_count
    );
    assert_eq!(
        owned(&backend, ALICE_OWNER, &conversations).await.len(),
        alice_count
    );
    let record = backend.store.get(&alice_research).await.unwrap().unwrap();
    assert_eq!(record.owner, ALICE_OWNER);
    assert_eq!(
        record.status,
        workers::TaskStatus::Succeeded,
        "Bob's task_cancel changed nothing"
    );

    // Every refusal was a deliberate one (two per library run, one per stdio run): nothing the
    // proxy signed was refused.
    let refusals = stand_in.refusals();
    assert_eq!(refusals.len(), 6, "{refusals:?}");
    assert!(
        refusals
            .iter()
            .all(|r| r.0.contains("not signed") || r.0.contains("signature does not match")),
        "{refusals:?}"
    );

    drop(stand_in);
    drop(function);
    emulator.stop();
    pool.stop().await;
    let _ = std::fs::remove_dir_all(&logs);
}
