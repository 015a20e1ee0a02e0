//! Logging flags: the seed's LOG_LEVEL and LOG_JSON.

use clap::builder::BoolishValueParser;
use clap::{ArgAction, Args, ValueEnum};

/// The seed's log levels. `verbose` is Aztec's level between info and debug: provemesh's
/// own crates at debug, dependencies at info.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogLevel {
    Debug,
    Verbose,
    #[default]
    Info,
    Warn,
    Error,
}

impl LogLevel {
    /// The `tracing` filter directive for this level.
    pub fn filter_directive(self) -> &'static str {
        match self {
            // Dependencies (NATS client, HTTP) stay at info: their debug output drowns ours.
            LogLevel::Debug => "info,provemesh=debug,provemesh_common=debug,provemesh_nats=debug,provemesh_store=debug,provemesh_broker=debug,provemesh_agent=debug,provemesh_node=debug,provemesh_harness=debug",
            LogLevel::Verbose => "info,provemesh_agent=debug,provemesh_broker=debug",
            LogLevel::Info => "info",
            LogLevel::Warn => "warn",
            LogLevel::Error => "error",
        }
    }
}

#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Logging")]
pub struct LogArgs {
    /// Log level: debug, verbose, info, warn or error.
    #[arg(long, env = "LOG_LEVEL", value_name = "LOG_LEVEL", value_enum, default_value_t = LogLevel::Info, global = true)]
    pub log_level: LogLevel,

    /// Write logs as JSON lines (one object per event, with epoch/job/agent fields).
    #[arg(long, env = "LOG_JSON", value_name = "LOG_JSON", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", action = ArgAction::Set,
          value_parser = BoolishValueParser::new(), global = true)]
    pub log_json: bool,
}
