//! Metrics export for the provemesh binaries: an OpenTelemetry meter provider pushing
//! OTLP over HTTP (protobuf) to `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT` every
//! `OTEL_METRIC_EXPORT_INTERVAL`.
//!
//! Libraries (agent, broker, node) record through `opentelemetry::global::meter` and never
//! depend on this crate: until a binary installs the provider here, their instruments
//! are no-ops. Exports run on the SDK's own thread, so a slow or absent collector never
//! stalls proving; a failed export is logged by the SDK and retried at the next interval.
//!
//! Metric names are stable and documented in the README ("Metrics"); every name starts
//! with `provemesh.`.

use opentelemetry_otlp::{MetricExporter, WithExportConfig};
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::Resource;
use provemesh_common::config::MetricsArgs;
use std::time::Duration;

/// The metrics exporter could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the OTLP metrics exporter for {endpoint} (OTEL_EXPORTER_OTLP_METRICS_ENDPOINT): {reason}")]
pub struct TelemetryError {
    endpoint: String,
    reason: String,
}

/// The installed meter provider; [`Metrics::shutdown`] pushes what is pending.
pub struct Metrics {
    provider: Option<SdkMeterProvider>,
}

impl Metrics {
    /// Metrics recorded nowhere (no endpoint configured).
    pub fn disabled() -> Self {
        Metrics { provider: None }
    }

    /// Whether metrics are exported.
    pub fn is_enabled(&self) -> bool {
        self.provider.is_some()
    }

    /// Pushes the last values and stops the exporter (bounded by the export timeout).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(p) = self.provider.take() {
            if let Err(e) = p.force_flush() {
                tracing::warn!(error = %e, "last metrics push failed");
            }
            let _ = p.shutdown();
        }
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Installs the global meter provider for `service` (the `service.name` resource) when an
/// endpoint is configured; otherwise returns [`Metrics::disabled`].
pub fn init_metrics(args: &MetricsArgs, service: &str) -> Result<Metrics, TelemetryError> {
    let Some(endpoint) = &args.otlp_endpoint else {
        return Ok(Metrics::disabled());
    };
    let exporter = MetricExporter::builder()
        .with_http()
        .with_endpoint(endpoint.as_str())
        .with_timeout(Duration::from_secs(5))
        .build()
        .map_err(|e| TelemetryError {
            endpoint: endpoint.to_string(),
            reason: e.to_string(),
        })?;
    let reader = PeriodicReader::builder(exporter)
        .with_interval(args.export_interval)
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(Resource::builder().with_service_name(service.to_string()).build())
        .build();
    opentelemetry::global::set_meter_provider(provider.clone());
    tracing::info!(%endpoint, interval = ?args.export_interval, "exporting metrics over OTLP");
    Ok(Metrics {
        provider: Some(provider),
    })
}
