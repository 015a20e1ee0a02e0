//! The `simulated` backend (PROVER_REAL_PROOFS=false): checks the simulated circuit's
//! constraints, waits a configurable per-type time, and returns a fake proof bound to the
//! job id and public inputs (see `provemesh_common::circuit`).

use crate::backend::{BackendError, ProvingBackend, ProvingRequest};
use bytes::Bytes;
use futures::future::BoxFuture;
use provemesh_common::circuit::{SimulatedCircuitInputs, SimulatedProof};
use provemesh_common::ProofType;
use rand::Rng;
use std::collections::HashMap;
use std::time::Duration;

/// Timing and size of simulated proofs.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedConfig {
    /// Proving time per type (types not listed take `default_delay`).
    pub delays: HashMap<ProofType, Duration>,
    pub default_delay: Duration,
    /// Random spread around the delay, as a fraction (0.2 = ±20%).
    pub jitter: f64,
    /// Size of each fake proof in bytes (real UltraHonk proofs are ~15 KiB).
    pub proof_size: usize,
}

impl Default for SimulatedConfig {
    fn default() -> Self {
        SimulatedConfig {
            delays: HashMap::new(),
            default_delay: Duration::ZERO,
            jitter: 0.0,
            proof_size: 16 * 1024,
        }
    }
}

impl SimulatedConfig {
    /// Zero-cost proofs (benchmarks of the mesh itself).
    pub fn instant() -> Self {
        SimulatedConfig {
            proof_size: 512,
            ..Default::default()
        }
    }

    /// The proving time drawn for one job of `t`.
    pub fn delay_for(&self, t: ProofType) -> Duration {
        let base = self.delays.get(&t).copied().unwrap_or(self.default_delay);
        if self.jitter <= 0.0 || base.is_zero() {
            return base;
        }
        let f = rand::rng().random_range(-self.jitter..=self.jitter);
        base.mul_f64((1.0 + f).max(0.0))
    }
}

/// See the module documentation.
#[derive(Debug, Clone, Default)]
pub struct SimulatedBackend {
    pub config: SimulatedConfig,
}

impl SimulatedBackend {
    pub fn new(config: SimulatedConfig) -> Self {
        SimulatedBackend { config }
    }
}

impl ProvingBackend for SimulatedBackend {
    fn name(&self) -> &'static str {
        "simulated"
    }

    fn prove(&self, req: ProvingRequest) -> BoxFuture<'_, Result<Bytes, BackendError>> {
        Box::pin(async move {
            let inputs = SimulatedCircuitInputs::decode(&req.inputs)
                .map_err(|e| BackendError::InvalidInput(e.to_string()))?;
            inputs
                .check()
                .map_err(|e| BackendError::Assertion(e.message))?;
            let d = self.config.delay_for(req.proof_type);
            if !d.is_zero() {
                tokio::time::sleep(d).await;
            }
            Ok(Bytes::from(SimulatedProof::create(
                &req.id,
                &inputs,
                self.config.proof_size,
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::circuit::Constraint;
    use provemesh_common::{EpochNumber, JobId};

    fn req(inputs: &SimulatedCircuitInputs) -> ProvingRequest {
        let bytes = inputs.encode().unwrap();
        ProvingRequest {
            id: JobId::derive(ProofType::MergeRollup, &bytes),
            proof_type: ProofType::MergeRollup,
            epoch: EpochNumber(1),
            inputs: bytes.into(),
        }
    }

    #[tokio::test]
    async fn proves_satisfied_inputs_and_rejects_the_rest() {
        let b = SimulatedBackend::new(SimulatedConfig::instant());
        let ok = SimulatedCircuitInputs {
            public_inputs: vec![[3; 32]],
            ..Default::default()
        };
        let r = req(&ok);
        let proof = b.prove(r.clone()).await.unwrap();
        assert!(SimulatedProof::verify(&proof, &r.id, &ok.public_inputs).is_ok());

        let bad = SimulatedCircuitInputs {
            constraints: vec![Constraint {
                left: [1; 32],
                right: [2; 32],
                message: "chain broken".into(),
            }],
            ..Default::default()
        };
        assert_eq!(
            b.prove(req(&bad)).await,
            Err(BackendError::Assertion("chain broken".into()))
        );

        let mut garbage = req(&ok);
        garbage.inputs = Bytes::from_static(b"\xc1");
        assert!(matches!(
            b.prove(garbage).await,
            Err(BackendError::InvalidInput(_))
        ));
    }

    #[test]
    fn jitter_stays_in_range() {
        let mut c = SimulatedConfig {
            default_delay: Duration::from_millis(100),
            jitter: 0.5,
            ..Default::default()
        };
        c.delays
            .insert(ProofType::RootRollup, Duration::from_millis(10));
        for _ in 0..100 {
            let d = c.delay_for(ProofType::MergeRollup);
            assert!(
                d >= Duration::from_millis(50) && d <= Duration::from_millis(150),
                "{d:?}"
            );
        }
        assert!(c.delay_for(ProofType::RootRollup) <= Duration::from_millis(15));
    }
}
