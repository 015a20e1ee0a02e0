//! Where metrics and traces are pushed (OpenTelemetry, OTLP over HTTP). Every binary takes
//! these; without an endpoint, nothing is exported and the instruments cost next to nothing.

use super::values;
use clap::Args;
use std::time::Duration;
use url::Url;

#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "OpenTelemetry")]
pub struct OtelArgs {
    /// OpenTelemetry collector URL for pushing metrics: OTLP over HTTP (protobuf), the full
    /// signal URL, e.g. http://collector:4318/v1/metrics.
    #[arg(long = "otel-exporter-otlp-metrics-endpoint", env = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
          value_name = "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT", value_parser = values::http_url, global = true)]
    pub otlp_endpoint: Option<Url>,

    /// How often metrics are pushed: milliseconds (as the OpenTelemetry variable is
    /// specified) or a duration such as 10s.
    #[arg(long = "otel-metric-export-interval", env = "OTEL_METRIC_EXPORT_INTERVAL",
          value_name = "OTEL_METRIC_EXPORT_INTERVAL", default_value = "10s",
          value_parser = export_interval, global = true)]
    pub export_interval: Duration,

    /// OpenTelemetry collector URL for traces: OTLP over HTTP (protobuf), the full signal
    /// URL, e.g. http://collector:4318/v1/traces. A job's spans on the node and on the
    /// agent that proves it form one trace (the context travels in NATS headers).
    #[arg(long = "otel-exporter-otlp-traces-endpoint", env = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
          value_name = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", value_parser = values::http_url, global = true)]
    pub traces_endpoint: Option<Url>,
}

fn export_interval(raw: &str) -> Result<Duration, String> {
    let t = raw.trim();
    let d = if !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()) {
        t.parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|e| format!("'{t}': {e}"))?
    } else {
        values::duration(t)?
    };
    if d < Duration::from_millis(100) {
        return Err(format!("'{t}' is shorter than 100ms"));
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_in_milliseconds_or_as_a_duration() {
        assert_eq!(export_interval("500").unwrap(), Duration::from_millis(500));
        assert_eq!(export_interval("2s").unwrap(), Duration::from_secs(2));
        assert!(export_interval("10").is_err());
        assert!(export_interval("soon").is_err());
    }
}
