//! A client for the deployed dispatcher's Function URL (AWS_IAM auth): requests are signed with SigV4
//! for the `lambda` service. The CLI uses it when the stack outputs name a `DispatcherUrl`.

use crate::api::Reply;
use crate::error::InputError;
use aws_config::SdkConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use aws_smithy_runtime_api::client::identity::Identity;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::time::{Duration, SystemTime};

/// The dispatcher answers at once; anything slower is a failure.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

pub struct FunctionUrlClient {
    base_url: String,
    sdk: SdkConfig,
    http: Client<hyper_rustls::HttpsConnector<HttpConnector>, Full<Bytes>>,
}

impl FunctionUrlClient {
    pub fn new(sdk: &SdkConfig, base_url: &str) -> anyhow::Result<FunctionUrlClient> {
        let connector = hyper_rustls::HttpsConnectorBuilder::new()
            .with_native_roots()?
            .https_or_http()
            .enable_http1()
            .build();
        Ok(FunctionUrlClient {
            base_url: base_url.trim_end_matches('/').to_string(),
            sdk: sdk.clone(),
            http: Client::builder(TokioExecutor::new()).build(connector),
        })
    }

    /// Sends one signed request; `path_and_query` starts with `/` and is already URL-encoded.
    pub async fn call(
        &self,
        method: &str,
        path_and_query: &str,
        body: Option<&str>,
    ) -> anyhow::Result<Reply> {
        let url = format!("{}{path_and_query}", self.base_url);
        let body = body.unwrap_or("").as_bytes().to_vec();
        let mut request = http::Request::builder()
            .method(method)
            .uri(&url)
            .header(http::header::CONTENT_TYPE, "application/json")
            .header(http::header::HOST, host_of(&url)?)
            .body(Full::new(Bytes::from(body.clone())))?;
        self.sign(&mut request, &body).await?;
        let response = tokio::time::timeout(REQUEST_TIMEOUT, self.http.request(request))
            .await
            .map_err(|_| {
                anyhow::anyhow!("{method} {url}: no answer within {REQUEST_TIMEOUT:?}")
            })??;
        let status = response.status().as_u16();
        let bytes = response.into_body().collect().await?.to_bytes();
        let body = serde_json::from_slice(&bytes).map_err(|e| {
            anyhow::anyhow!(
                "{method} {url}: HTTP {status} with a body that is not JSON ({e}): {}",
                String::from_utf8_lossy(&bytes)
            )
        })?;
        Ok(Reply { status, body })
    }

    async fn sign(
        &self,
        request: &mut http::Request<Full<Bytes>>,
        body: &[u8],
    ) -> anyhow::Result<()> {
        let provider = self.sdk.credentials_provider().ok_or_else(|| {
            anyhow::anyhow!("no AWS credentials configured to sign the dispatcher request")
        })?;
        let identity: Identity = provider.provide_credentials().await?.into();
        let region = self
            .sdk
            .region()
            .ok_or_else(|| anyhow::anyhow!("no AWS region configured (set AWS_REGION)"))?
            .to_string();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(&region)
            .name("lambda")
            .time(SystemTime::now())
            .settings(SigningSettings::default())
            .build()?
            .into();
        let headers: Vec<(String, String)> = request
            .headers()
            .iter()
            .map(|(k, v)| Ok((k.as_str().to_string(), v.to_str()?.to_string())))
            .collect::<anyhow::Result<_>>()?;
        let uri = request.uri().to_string();
        let signable = SignableRequest::new(
            request.method().as_str(),
            uri,
            headers.iter().map(|(k, v)| (k.as_str(), v.as_str())),
            SignableBody::Bytes(body),
        )?;
        let (instructions, _signature) = sign(signable, &params)?.into_parts();
        instructions.apply_to_request_http1x(request);
        Ok(())
    }
}

fn host_of(url: &str) -> anyhow::Result<String> {
    let uri: http::Uri = url.parse()?;
    let host = uri
        .host()
        .ok_or_else(|| InputError::new("DispatcherUrl", format!("{url:?} has no host")))?;
    Ok(match uri.port_u16() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}
