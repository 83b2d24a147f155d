//! Command implementations. Each parses its arguments, calls a library, and prints.

#[cfg(feature = "pipeline")]
pub mod backend;
#[cfg(feature = "pipeline")]
pub mod export;
pub mod fit;
#[cfg(feature = "pipeline")]
pub mod live;
#[cfg(feature = "pipeline")]
pub mod local;
#[cfg(feature = "pipeline")]
pub mod mcp;
#[cfg(feature = "pipeline")]
pub mod pipeline;
#[cfg(feature = "pipeline")]
pub mod recovery;
pub mod sim;
pub mod sweep;
#[cfg(feature = "pipeline")]
pub mod tasks;
#[cfg(feature = "pipeline")]
pub mod tools;
#[cfg(feature = "pipeline")]
pub mod worker;

/// How a command failed: decides the exit code.
#[derive(Debug)]
pub enum CmdError {
    /// Bad input: a scenario, an argument or a request that fails validation (exit 2).
    Input(anyhow::Error),
    /// Anything else: I/O, a backend that failed (exit 1).
    Runtime(anyhow::Error),
}

impl CmdError {
    pub fn error(&self) -> &anyhow::Error {
        match self {
            CmdError::Input(e) | CmdError::Runtime(e) => e,
        }
    }

    pub fn exit_code(&self) -> u8 {
        match self {
            CmdError::Input(_) => 2,
            CmdError::Runtime(_) => 1,
        }
    }

    pub fn input(e: impl Into<anyhow::Error>) -> Self {
        CmdError::Input(e.into())
    }

    pub fn runtime(e: impl Into<anyhow::Error>) -> Self {
        CmdError::Runtime(e.into())
    }
}

pub type CmdResult = Result<(), CmdError>;
