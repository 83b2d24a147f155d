//! Command implementations. Each parses its arguments, calls a library, and prints.

pub mod backend;
pub mod export;
pub mod fit;
pub mod live;
pub mod local;
pub mod mcp;
pub mod pipeline;
pub mod recovery;
pub mod sim;
pub mod sweep;
pub mod tasks;
pub mod tools;
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
