use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_dynamodb::config::Credentials;
use std::ffi::OsString;
use std::time::Duration;

/// How to reach AWS (or an emulator). Unset fields fall back to the SDK's usual environment chain,
/// which honours `AWS_ENDPOINT_URL`, `AWS_REGION` and the credential variables.
#[derive(Debug, Clone, Default)]
pub struct AwsSettings {
    pub endpoint_url: Option<String>,
    pub region: Option<String>,
    /// Static dummy credentials, for emulators (they never check them).
    pub dummy_credentials: bool,
    /// 1 makes tests fail fast instead of retrying.
    pub max_attempts: Option<u32>,
    /// Bounds each whole call (all attempts). Functions set it so no call outlives their budget;
    /// long-polling consumers leave it unset (a receive waits up to 20 s).
    pub operation_timeout: Option<Duration>,
}

impl AwsSettings {
    /// A Lambda function's settings: every call bounded by `FUNCTION_OPERATION_TIMEOUT_S`.
    pub fn function() -> Self {
        AwsSettings {
            operation_timeout: Some(Duration::from_secs(
                crate::limits::FUNCTION_OPERATION_TIMEOUT_S,
            )),
            ..AwsSettings::default()
        }
    }
}

impl AwsSettings {
    /// An emulator at `endpoint_url`: fixed region, dummy credentials, no retries. Nothing from the
    /// environment is read, so tests never reach real AWS by accident.
    pub fn emulator(endpoint_url: impl Into<String>) -> Self {
        AwsSettings {
            endpoint_url: Some(endpoint_url.into()),
            region: Some("us-east-1".into()),
            dummy_credentials: true,
            max_attempts: Some(1),
            operation_timeout: None,
        }
    }
}

impl AwsSettings {
    /// A command line's settings: `endpoint` (else `AWS_ENDPOINT_URL`) names an emulator unless
    /// credentials are set, so the SDK gets dummy credentials and a default region instead of
    /// probing instance metadata. `env` reads the environment.
    pub fn for_endpoint(
        endpoint: Option<String>,
        env: impl Fn(&str) -> Option<OsString>,
    ) -> AwsSettings {
        let endpoint = endpoint
            .or_else(|| env("AWS_ENDPOINT_URL").and_then(|e| e.into_string().ok()))
            .filter(|e| !e.is_empty());
        let set = |names: [&str; 2]| names.iter().any(|name| env(name).is_some());
        let has_credentials = set(["AWS_ACCESS_KEY_ID", "AWS_PROFILE"]);
        let has_region = set(["AWS_REGION", "AWS_DEFAULT_REGION"]);
        AwsSettings {
            dummy_credentials: endpoint.is_some() && !has_credentials,
            region: (endpoint.is_some() && !has_region).then(|| "us-east-1".to_string()),
            endpoint_url: endpoint,
            max_attempts: None,
            operation_timeout: None,
        }
    }
}

pub async fn sdk_config(settings: &AwsSettings) -> SdkConfig {
    let mut timeouts = TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        // Long polls wait up to 20 s.
        .operation_attempt_timeout(Duration::from_secs(30));
    if let Some(total) = settings.operation_timeout {
        timeouts = timeouts
            .operation_timeout(total)
            .operation_attempt_timeout(total.min(Duration::from_secs(30)));
    }
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).timeout_config(timeouts.build());
    if let Some(url) = &settings.endpoint_url {
        loader = loader.endpoint_url(url);
    }
    if let Some(region) = &settings.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if settings.dummy_credentials {
        loader = loader.credentials_provider(Credentials::new(
            "test",
            "test",
            None,
            None,
            "asynctools-emulator",
        ));
    }
    if let Some(attempts) = settings.max_attempts {
        loader = loader.retry_config(RetryConfig::standard().with_max_attempts(attempts));
    }
    loader.load().await
}
