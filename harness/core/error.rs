//! The harness's error type and the exit code each kind of error maps to.

use std::fmt;

/// Exit codes of `zk-chaos`, as documented in the README.
pub mod exit {
    /// Every suite passed.
    pub const PASSED: i32 = 0;
    /// A check failed (or cleanup failed).
    pub const FAILED: i32 = 1;
    /// Bad input: unknown suite, unreadable or invalid manifest or config, bad duration.
    pub const BAD_INPUT: i32 = 2;
    /// The platform is unavailable: no Docker engine, no cluster, no image.
    pub const UNAVAILABLE: i32 = 3;
    /// Interrupted (Ctrl-C / SIGTERM), after cleanup.
    pub const INTERRUPTED: i32 = 130;
}

/// What can go wrong before or around a run, as opposed to a check that fails (a verdict).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The user's input is wrong; the message names the input and the fix.
    #[error("{0}")]
    BadInput(String),
    /// The platform cannot be reached or lacks what the run needs.
    #[error("{0}")]
    Unavailable(String),
    /// The run was interrupted by a signal.
    #[error("interrupted")]
    Interrupted,
    /// Anything else that went wrong while driving the platform.
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn bad_input(msg: impl fmt::Display) -> Self {
        Error::BadInput(msg.to_string())
    }

    pub fn unavailable(msg: impl fmt::Display) -> Self {
        Error::Unavailable(msg.to_string())
    }

    pub fn exit_code(&self) -> i32 {
        match self {
            Error::BadInput(_) => exit::BAD_INPUT,
            Error::Unavailable(_) => exit::UNAVAILABLE,
            Error::Interrupted => exit::INTERRUPTED,
            Error::Other(_) => exit::FAILED,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_has_its_own_exit_code() {
        assert_eq!(Error::bad_input("x").exit_code(), 2);
        assert_eq!(Error::unavailable("x").exit_code(), 3);
        assert_eq!(Error::Other(anyhow::anyhow!("x")).exit_code(), 1);
        assert_eq!(Error::Interrupted.exit_code(), 130);
    }
}
