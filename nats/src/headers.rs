//! Header names and the readable headers put on job and result messages.

use async_nats::{HeaderMap, HeaderName};
use provemesh_common::{AgentId, EpochNumber, JobId, ProofType};

// Names made once, not parsed and copied from a `&str` on every message.
pub static JOB_ID: HeaderName = HeaderName::from_static("Prove-Job-Id");
pub static PROOF_TYPE: HeaderName = HeaderName::from_static("Prove-Type");
pub static EPOCH: HeaderName = HeaderName::from_static("Prove-Epoch");
pub static ATTEMPT: HeaderName = HeaderName::from_static("Prove-Attempt");
pub static AGENT: HeaderName = HeaderName::from_static("Prove-Agent");
pub static OUTCOME: HeaderName = HeaderName::from_static("Prove-Outcome");
/// JetStream's de-duplication header.
pub static MSG_ID: HeaderName = HeaderName::from_static("Nats-Msg-Id");
/// W3C trace context of the span that sent the message (`00-<trace id>-<span id>-<flags>`).
pub const TRACEPARENT: &str = "traceparent";
pub const TRACESTATE: &str = "tracestate";

/// Whether trace contexts travel in message headers: off until a binary exports traces, so
/// that the job path pays nothing for them otherwise.
static TRACE_PROPAGATION: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Turns trace-context propagation in headers on (a binary that exports traces calls it).
pub fn enable_trace_propagation() {
    TRACE_PROPAGATION.store(true, std::sync::atomic::Ordering::Relaxed);
}

/// Writes the current span's trace context into `h` (nothing when there is no tracer, or
/// the current span is not traced).
pub fn inject_trace(h: &mut HeaderMap) {
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    if !TRACE_PROPAGATION.load(std::sync::atomic::Ordering::Relaxed) {
        return;
    }
    let cx = tracing::Span::current().context();
    opentelemetry::global::get_text_map_propagator(|p| p.inject_context(&cx, &mut Injector(h)));
}

/// The trace context a message carries (empty when it carries none).
pub fn extract_trace(h: Option<&HeaderMap>) -> opentelemetry::Context {
    if !TRACE_PROPAGATION.load(std::sync::atomic::Ordering::Relaxed) {
        return opentelemetry::Context::new();
    }
    match h {
        Some(h) => opentelemetry::global::get_text_map_propagator(|p| p.extract(&Extractor(h))),
        None => opentelemetry::Context::new(),
    }
}

/// Makes `span` a child of the trace context `h` carries, if it carries one.
pub fn continue_trace(span: &tracing::Span, h: Option<&HeaderMap>) {
    use opentelemetry::trace::TraceContextExt;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    let cx = extract_trace(h);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

struct Injector<'a>(&'a mut HeaderMap);

impl opentelemetry::propagation::Injector for Injector<'_> {
    fn set(&mut self, key: &str, value: String) {
        // The propagator's keys are the two fixed W3C names.
        let name = if key == TRACEPARENT {
            TRACEPARENT
        } else {
            TRACESTATE
        };
        self.0.insert(name, value.as_str());
    }
}

struct Extractor<'a>(&'a HeaderMap);

impl opentelemetry::propagation::Extractor for Extractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(|v| v.as_str())
    }

    fn keys(&self) -> Vec<&str> {
        vec![TRACEPARENT, TRACESTATE]
    }
}

/// Headers of a job message. The attempt a job is on is the consumer's delivery count
/// (shown by any JetStream tool as "delivered"); the status bucket records it too. When it
/// was enqueued is the message's stream timestamp (and the envelope's `enqueued_at_us`), not
/// a header: each header is paid for on every publish, store and delivery. The one repeat
/// is the job id, under its own name beside `Nats-Msg-Id`, for people reading with NATS tools.
pub fn for_job(id: &JobId, proof_type: ProofType, epoch: EpochNumber) -> HeaderMap {
    let mut h = HeaderMap::new();
    let id = id.to_hex();
    h.insert(MSG_ID.clone(), id.clone());
    h.insert(JOB_ID.clone(), id);
    h.insert(PROOF_TYPE.clone(), proof_type.as_str());
    h.insert(EPOCH.clone(), epoch.to_string());
    inject_trace(&mut h);
    h
}

/// Headers of a result message. Its `Nats-Msg-Id` is derived from the job id, so a result
/// re-published after a crash is dropped by the server as a duplicate.
pub fn for_result(
    id: &JobId,
    proof_type: ProofType,
    epoch: EpochNumber,
    attempt: u32,
    agent: &AgentId,
    outcome: &str,
) -> HeaderMap {
    let mut h = HeaderMap::new();
    let id = id.to_hex();
    h.insert(MSG_ID.clone(), format!("result.{id}"));
    h.insert(JOB_ID.clone(), id);
    h.insert(PROOF_TYPE.clone(), proof_type.as_str());
    h.insert(EPOCH.clone(), epoch.to_string());
    h.insert(ATTEMPT.clone(), attempt.to_string());
    h.insert(AGENT.clone(), agent.0.as_str());
    h.insert(OUTCOME.clone(), outcome);
    inject_trace(&mut h);
    h
}

/// Bytes `h` takes in a message: the `NATS/1.0` line, a `name: value` line per value, and
/// the blank line that ends the block (none of it when there are no headers).
pub fn wire_len(h: &HeaderMap) -> usize {
    if h.is_empty() {
        return 0;
    }
    let lines: usize = h
        .iter()
        .map(|(name, values)| {
            let name: &str = name.as_ref();
            values
                .iter()
                .map(|v| name.len() + 2 + v.as_str().len() + 2)
                .sum::<usize>()
        })
        .sum();
    "NATS/1.0\r\n".len() + lines + 2
}

/// Reads a header as a string.
pub fn get<'a>(headers: Option<&'a HeaderMap>, name: &HeaderName) -> Option<&'a str> {
    headers?.get(name.clone()).map(|v| v.as_str())
}

/// What the headers of a job message say about it, used when its payload cannot be
/// decoded (so the failure can still be reported against the right job).
pub fn job_identity(headers: Option<&HeaderMap>) -> Option<(JobId, ProofType, EpochNumber)> {
    Some((
        get(headers, &JOB_ID)?.parse().ok()?,
        get(headers, &PROOF_TYPE)?.parse().ok()?,
        get(headers, &EPOCH)?.parse().ok()?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_len_counts_the_header_block_as_sent() {
        assert_eq!(wire_len(&HeaderMap::new()), 0);
        let mut h = HeaderMap::new();
        h.insert(PROOF_TYPE.clone(), "merge_rollup");
        h.append(EPOCH.clone(), "7");
        h.append(EPOCH.clone(), "8");
        let sent =
            "NATS/1.0\r\nProve-Type: merge_rollup\r\nProve-Epoch: 7\r\nProve-Epoch: 8\r\n\r\n";
        assert_eq!(wire_len(&h), sent.len());
    }
}
