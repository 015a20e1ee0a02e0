//! Subject, stream, consumer and bucket names.

use provemesh_common::{EpochNumber, JobId, ProofType};

/// Stream holding queued jobs (WorkQueue retention: a job leaves when an agent acks it).
pub const JOBS_STREAM: &str = "PROVE_JOBS";
/// Stream holding job results for the node (Limits retention, kept for a while).
pub const RESULTS_STREAM: &str = "PROVE_RESULTS";
/// Stream capturing the server's max-deliveries advisories for the jobs stream: the dead
/// letters, durable even while no broker runs.
pub const DEAD_LETTER_STREAM: &str = "PROVE_DEAD";
/// KV bucket of job statuses (history kept per job, with TTL).
pub const STATUS_BUCKET: &str = "PROVE_STATUS";
/// KV bucket of per-epoch markers (cancellations).
pub const EPOCHS_BUCKET: &str = "PROVE_EPOCHS";
/// KV bucket of agents' presence (key = agent id, expiring with the bucket's TTL).
pub const AGENTS_BUCKET: &str = "PROVE_AGENTS";
/// Durable consumer of the dead-letter stream used by brokers.
pub const DEAD_LETTER_CONSUMER: &str = "dead_letters";

/// Every job subject.
pub const ALL_JOBS: &str = "prove.job.>";
/// Every doorbell subject.
pub const ALL_READY: &str = "prove.ready.>";

/// Every result subject.
pub const ALL_RESULTS: &str = "prove.result.>";

/// `prove.job.<epoch>.<proof_type>`: where a job is published.
pub fn job(epoch: EpochNumber, proof_type: ProofType) -> String {
    format!("prove.job.{epoch}.{proof_type}")
}

/// `prove.job.*.<proof_type>`: a per-type consumer's filter.
pub fn jobs_of_type(proof_type: ProofType) -> String {
    format!("prove.job.*.{proof_type}")
}

/// `prove.job.<epoch>.>`: everything queued for an epoch (what a cancel purges).
pub fn jobs_of_epoch(epoch: EpochNumber) -> String {
    format!("prove.job.{epoch}.>")
}

/// `prove.ready.<proof_type>`: the doorbell rung (core NATS, no payload) once per job
/// enqueued, to wake one idle agent of that type.
pub fn ready(proof_type: ProofType) -> String {
    format!("prove.ready.{proof_type}")
}

/// The proof type whose doorbell `subject` is (None for any other subject).
pub fn ready_type(subject: &str) -> Option<ProofType> {
    subject.strip_prefix("prove.ready.")?.parse().ok()
}

/// The queue group idle agents of a type join on its doorbell, so each ring wakes one.
pub fn ready_group(proof_type: ProofType) -> String {
    format!("provemesh-agents-{proof_type}")
}

/// `prove.result.<epoch>.<id>`: where a job's result is published.
pub fn result(epoch: EpochNumber, id: &JobId) -> String {
    format!("prove.result.{epoch}.{}", id.to_hex())
}

/// `prove.result.<epoch>.>`.
pub fn results_of_epoch(epoch: EpochNumber) -> String {
    format!("prove.result.{epoch}.>")
}

/// The durable pull consumer serving one proof type.
pub fn job_consumer(proof_type: ProofType) -> String {
    format!("jobs_{proof_type}")
}

/// The server advisory subject published when a job consumer gives up on a message.
pub fn max_deliveries_advisories() -> String {
    format!("$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{JOBS_STREAM}.>")
}

/// Status bucket key of a job: `<epoch>.<id>`, so one epoch's jobs are listed with the
/// wildcard `<epoch>.*` and one job is found by id with `*.<id>`.
pub fn status_key(epoch: EpochNumber, id: &JobId) -> String {
    format!("{epoch}.{}", id.to_hex())
}

/// Epochs bucket key marking a cancelled epoch.
pub fn cancelled_key(epoch: EpochNumber) -> String {
    format!("cancelled.{epoch}")
}

/// Parses `<epoch>` and `<proof_type>` back out of a job subject.
pub fn parse_job_subject(subject: &str) -> Option<(EpochNumber, ProofType)> {
    let mut parts = subject.split('.');
    match (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) {
        (Some("prove"), Some("job"), Some(e), Some(t), None) => {
            Some((e.parse().ok()?, t.parse().ok()?))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_subjects_round_trip() {
        for t in ProofType::ALL {
            let s = job(EpochNumber(42), t);
            assert_eq!(parse_job_subject(&s), Some((EpochNumber(42), t)));
        }
        assert_eq!(parse_job_subject("prove.job.x.merge_rollup"), None);
        assert_eq!(parse_job_subject("prove.job.1.merge_rollup.extra"), None);
    }

    #[test]
    fn doorbell_subjects_name_their_type() {
        for t in ProofType::ALL {
            assert_eq!(ready_type(&ready(t)), Some(t));
        }
        assert_eq!(ready_type("prove.ready.no_such_type"), None);
        assert_eq!(ready_type("prove.job.1.merge_rollup"), None);
    }
}
