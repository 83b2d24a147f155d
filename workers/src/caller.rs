//! Who is calling, and whose tasks are whose: every task belongs to the caller that submitted it
//! (`Caller`), and for IAM callers `OwnerScope` says how much of the identity is the owner.

use crate::error::InputError;
use crate::protocol::check_principal;
use crate::record::TaskRecord;

/// How much of an assumed role's ARN (`arn:aws:sts::<account>:assumed-role/<role>/<session>`) is
/// the owner. The session name is who is calling: the user of an IAM Identity Center permission
/// set (`AWSReservedSSO_<set>_<id>/alice@example.com`), a federated user, or the name an agent
/// gave its session; many people share one role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OwnerScope {
    /// The full caller identity, role and session: each person is their own owner (the default).
    #[default]
    Session,
    /// The role alone: every session of the role is one owner. For agent fleets that restart under
    /// new session names and must keep their tasks; everyone who can assume the role shares them.
    Role,
}

impl OwnerScope {
    pub fn parse(text: &str) -> Result<OwnerScope, InputError> {
        match text.trim() {
            "session" => Ok(OwnerScope::Session),
            "role" => Ok(OwnerScope::Role),
            other => Err(InputError::new(
                "owner_scope",
                format!("{other:?} is neither \"session\" nor \"role\""),
            )),
        }
    }
}

/// Who is calling: the IAM principal behind a Function URL request, or an explicit local name. Every
/// task belongs to the caller that submitted it; to any other caller it does not exist.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: String,
}

impl Caller {
    pub fn new(principal: impl Into<String>) -> Result<Caller, InputError> {
        let principal = principal.into();
        check_principal(&principal)?;
        Ok(Caller { principal })
    }

    /// The owner recorded for an IAM caller: the whole ARN (with `OwnerScope::Session`), or for
    /// an assumed role without its session name (`OwnerScope::Role`).
    pub fn from_iam_arn(arn: &str, scope: OwnerScope) -> Result<Caller, InputError> {
        let principal = match (scope, arn.split_once(":assumed-role/")) {
            (OwnerScope::Role, Some((prefix, rest))) => {
                let role = rest.split('/').next().unwrap_or(rest);
                format!("{prefix}:assumed-role/{role}")
            }
            _ => arn.to_string(),
        };
        Caller::new(principal)
    }

    /// Whether `record` is this caller's (every read, list and hand-over is scoped by it).
    pub fn owns(&self, record: &TaskRecord) -> bool {
        record.owner == self.principal
    }
}
