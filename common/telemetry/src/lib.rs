//! Logging, metrics and traces of the provemesh binaries.
//!
//! - Logs: `tracing` to stderr, human-readable or JSON lines (LOG_JSON), at LOG_LEVEL.
//! - Metrics: an OpenTelemetry meter provider pushing OTLP over HTTP (protobuf) to
//!   `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` every `OTEL_METRIC_EXPORT_INTERVAL`.
//! - Traces: with `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`, provemesh's spans (the node's
//!   enqueue and result spans, the agent's job span) are exported over OTLP/HTTP, and the
//!   W3C trace context travels in the mesh's NATS headers, so one trace follows a job from
//!   the node to the agent that proves it and back.
//!
//! Libraries (agent, broker, nats, node) record through `tracing` and
//! `opentelemetry::global` and never depend on this crate: until a binary installs the
//! providers here, their metric instruments are no-ops and their trace-only spans are
//! disabled. Exports run on the SDK's own threads, so a slow or absent collector never
//! stalls proving; a failed export is logged by the SDK and retried at the next interval.
//!
//! Metric names are stable and documented in the README ("Metrics"); every name starts
//! with `provemesh.`.

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{MetricExporter, SpanExporter, WithExportConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use provemesh_common::config::{LogArgs, OtelArgs};
use std::time::Duration;
use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::prelude::*;
use tracing_subscriber::{fmt, EnvFilter, Layer, Registry};

/// An exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP {signal} exporter for {endpoint} ({variable}): {reason}")]
pub struct TelemetryError {
    signal: &'static str,
    variable: &'static str,
    endpoint: String,
    reason: String,
}

/// The installed providers; [`Telemetry::shutdown`] pushes what is pending.
#[derive(Default)]
pub struct Telemetry {
    meter: Option<SdkMeterProvider>,
    tracer: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Whether metrics are exported.
    pub fn exports_metrics(&self) -> bool {
        self.meter.is_some()
    }

    /// Whether traces are exported.
    pub fn exports_traces(&self) -> bool {
        self.tracer.is_some()
    }

    /// Pushes the last metric values and spans and stops the exporters (each bounded by
    /// its export timeout). Blocking: call it off the async workers.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(p) = self.tracer.take() {
            if let Err(e) = p.force_flush() {
                tracing::warn!(error = %e, "last trace export failed");
            }
            let _ = p.shutdown();
        }
        if let Some(p) = self.meter.take() {
            if let Err(e) = p.force_flush() {
                tracing::warn!(error = %e, "last metrics push failed");
            }
            let _ = p.shutdown();
        }
    }
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs logging and, where endpoints are configured, the global meter and tracer
/// providers for `service` (the `service.name` resource). Calling it twice keeps the
/// first logging set-up.
pub fn init(log: &LogArgs, otel: &OtelArgs, service: &str) -> Result<Telemetry, TelemetryError> {
    let resource = || {
        Resource::builder()
            .with_service_name(service.to_string())
            .build()
    };
    let mut t = Telemetry::default();
    if let Some(endpoint) = &otel.otlp_endpoint {
        let err = |reason: String| TelemetryError {
            signal: "metrics",
            variable: "OTEL_EXPORTER_OTLP_METRICS_ENDPOINT",
            endpoint: shown(endpoint),
            reason,
        };
        let exporter = MetricExporter::builder()
            .with_http()
            .with_endpoint(endpoint.as_str())
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| err(e.to_string()))?;
        let reader = PeriodicReader::builder(exporter)
            .with_interval(otel.export_interval)
            .build();
        let provider = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource())
            .build();
        opentelemetry::global::set_meter_provider(provider.clone());
        t.meter = Some(provider);
    }
    if let Some(endpoint) = &otel.traces_endpoint {
        let exporter = SpanExporter::builder()
            .with_http()
            .with_endpoint(endpoint.as_str())
            .with_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| TelemetryError {
                signal: "traces",
                variable: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                endpoint: shown(endpoint),
                reason: e.to_string(),
            })?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(resource())
            .build();
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        opentelemetry::global::set_tracer_provider(provider.clone());
        t.tracer = Some(provider);
    }
    install_subscriber(log, t.tracer.as_ref());
    if let Some(e) = &otel.otlp_endpoint {
        tracing::info!(endpoint = %shown(e), interval = ?otel.export_interval, "exporting metrics over OTLP");
    }
    if let Some(e) = &otel.traces_endpoint {
        tracing::info!(endpoint = %shown(e), "exporting traces over OTLP");
    }
    Ok(t)
}

/// An endpoint as logs and errors may show it: scheme, host, port and path — never a user,
/// password or query (collectors' API keys end up there).
fn shown(u: &url::Url) -> String {
    let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
    format!(
        "{}://{}{port}{}",
        u.scheme(),
        u.host_str().unwrap_or(""),
        u.path()
    )
}

/// Logs per LOG_LEVEL / LOG_JSON; with a tracer, also provemesh's spans (down to debug
/// level, whatever LOG_LEVEL says) to OpenTelemetry. Spans only the tracer wants cost
/// nothing when there is no tracer: they are disabled at their call sites.
fn install_subscriber(log: &LogArgs, tracer: Option<&SdkTracerProvider>) {
    let filter = EnvFilter::new(log.log_level.filter_directive());
    let fmt_layer = if log.log_json {
        fmt::layer()
            .json()
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    } else {
        fmt::layer()
            .with_target(false)
            .with_writer(std::io::stderr)
            .with_filter(filter)
            .boxed()
    };
    let mut layers: Vec<Box<dyn Layer<Registry> + Send + Sync>> = vec![fmt_layer];
    if let Some(p) = tracer {
        let ours = Targets::new()
            .with_default(LevelFilter::OFF)
            .with_target("provemesh", LevelFilter::DEBUG)
            .with_target("provemesh_agent", LevelFilter::DEBUG)
            .with_target("provemesh_broker", LevelFilter::DEBUG)
            .with_target("provemesh_nats", LevelFilter::DEBUG)
            .with_target("provemesh_node", LevelFilter::DEBUG);
        layers.push(
            tracing_opentelemetry::layer()
                .with_tracer(p.tracer("provemesh"))
                .with_filter(ours)
                .boxed(),
        );
    }
    let _ = tracing_subscriber::registry().with(layers).try_init();
}

#[cfg(test)]
mod tests {
    #[test]
    fn endpoints_are_shown_without_credentials() {
        let u = url::Url::parse("https://user:s3cret@collector:4318/v1/metrics?api_key=k3y")
            .expect("url");
        let s = super::shown(&u);
        assert_eq!(s, "https://collector:4318/v1/metrics");
        assert!(!s.contains("s3cret") && !s.contains("k3y"));
    }
}
