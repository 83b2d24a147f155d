//! Who is calling. Every task belongs to its caller; to anyone else it does not exist.
//!
//! Locally (and over stdio) the caller is one fixed principal. Behind something that authenticates
//! requests (a Lambda Function URL with AWS_IAM, a signing proxy), that component names the
//! principal in a header this server then trusts; only ever enable that where nobody else can
//! reach the server.

pub use http::HeaderName;
use rmcp::ErrorData as McpError;
use rmcp::RoleServer;
use rmcp::service::RequestContext;
use workers::{Caller, OwnerScope};

#[derive(Debug, Clone)]
pub enum Principals {
    /// Every request is this caller.
    Fixed(Caller),
    /// The principal (an IAM ARN or a local name) is in this request header, set by a trusted
    /// component in front. A request without it is refused.
    TrustedHeader(HeaderName),
}

impl Principals {
    pub fn caller(
        &self,
        context: &RequestContext<RoleServer>,
        scope: OwnerScope,
    ) -> Result<Caller, McpError> {
        self.caller_from(
            context
                .extensions
                .get::<http::request::Parts>()
                .map(|parts| &parts.headers),
            scope,
        )
    }

    /// The caller of a request with these headers (`None`: a transport without headers, stdio);
    /// an IAM principal's owner to `scope`.
    pub fn caller_from(
        &self,
        headers: Option<&http::HeaderMap>,
        scope: OwnerScope,
    ) -> Result<Caller, McpError> {
        match self {
            Principals::Fixed(caller) => Ok(caller.clone()),
            Principals::TrustedHeader(header) => {
                let value = headers.and_then(|h| h.get(header)).ok_or_else(|| {
                    McpError::invalid_request(
                        format!("the request names no principal (header {header})"),
                        None,
                    )
                })?;
                let principal = value.to_str().map_err(|_| {
                    McpError::invalid_request(format!("header {header} is not ASCII"), None)
                })?;
                Caller::from_iam_arn(principal, scope)
                    .map_err(|e| McpError::invalid_request(format!("header {header}: {e}"), None))
            }
        }
    }
}
