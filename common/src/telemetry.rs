//! Process-wide logging set-up from [`LogArgs`](crate::config::LogArgs).

use crate::config::LogArgs;
use tracing_subscriber::{fmt, EnvFilter};

/// Installs the global `tracing` subscriber: human-readable lines on stderr, or JSON lines
/// with LOG_JSON (span fields such as epoch, job and agent included). Calling it twice is
/// harmless (the second call keeps the first subscriber).
pub fn init_logging(args: &LogArgs) {
    let filter = EnvFilter::new(args.log_level.filter_directive());
    let builder = fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = if args.log_json {
        builder
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .try_init()
    } else {
        builder.with_target(false).try_init()
    };
}
