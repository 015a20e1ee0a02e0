//! Where proofs and large inputs are stored: an S3-compatible bucket, a local directory,
//! or process memory (tests, single-process devnets).

use super::{ConfigError, Secret};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Proof store (S3-compatible object storage)")]
pub struct ProofStoreArgs {
    /// Where proofs and large job inputs live: s3://BUCKET[/PREFIX], file:///ABS/PATH or
    /// memory:// (one process only). The node and every agent must use the same store.
    #[arg(
        long = "proof-store",
        env = "PROVER_PROOF_STORE",
        value_name = "PROVER_PROOF_STORE"
    )]
    pub url: Option<String>,

    /// S3 endpoint for non-AWS S3-compatible servers (e.g. http://127.0.0.1:9000); enables
    /// path-style addressing. http is allowed (local stores).
    #[arg(
        long = "proof-store-endpoint",
        env = "PROVER_PROOF_STORE_ENDPOINT",
        value_name = "PROVER_PROOF_STORE_ENDPOINT"
    )]
    pub endpoint: Option<String>,

    /// S3 region.
    #[arg(
        long = "proof-store-region",
        env = "AWS_REGION",
        value_name = "AWS_REGION",
        default_value = "us-east-1"
    )]
    pub region: String,

    /// S3 access key id of this component's role.
    #[arg(
        long = "proof-store-access-key-id",
        env = "AWS_ACCESS_KEY_ID",
        value_name = "AWS_ACCESS_KEY_ID",
        hide_env_values = true
    )]
    pub access_key_id: Option<Secret>,

    /// S3 secret access key of this component's role.
    #[arg(
        long = "proof-store-secret-access-key",
        env = "AWS_SECRET_ACCESS_KEY",
        value_name = "AWS_SECRET_ACCESS_KEY",
        hide_env_values = true
    )]
    pub secret_access_key: Option<Secret>,
}

/// A validated proof-store location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProofStoreLocation {
    S3 {
        bucket: String,
        prefix: String,
        endpoint: Option<url::Url>,
        region: String,
        access_key_id: Option<Secret>,
        secret_access_key: Option<Secret>,
    },
    File(PathBuf),
    Memory,
}

/// The proof store a component opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProofStoreConfig {
    pub location: ProofStoreLocation,
}

impl ProofStoreArgs {
    pub fn validate(&self) -> Result<ProofStoreConfig, ConfigError> {
        const VAR: &str = "PROVER_PROOF_STORE";
        let raw = self.url.as_deref().map(str::trim).unwrap_or("");
        if raw.is_empty() {
            return Err(ConfigError::new(
                VAR,
                "not set: the node and its agents need a shared store (s3://BUCKET[/PREFIX], file:///ABS/PATH or memory://)",
            ));
        }
        let url = url::Url::parse(raw)
            .map_err(|e| ConfigError::new(VAR, format!("'{raw}' is not a URL ({e})")))?;
        let location = match url.scheme() {
            "memory" => ProofStoreLocation::Memory,
            "file" => {
                let path = url.to_file_path().map_err(|_| {
                    ConfigError::new(VAR, format!("'{raw}' is not an absolute file path"))
                })?;
                ProofStoreLocation::File(path)
            }
            "s3" => {
                let bucket = url.host_str().unwrap_or("").to_string();
                if bucket.is_empty() {
                    return Err(ConfigError::new(VAR, format!("'{raw}' names no bucket")));
                }
                let endpoint = match self.endpoint.as_deref().map(str::trim) {
                    None | Some("") => None,
                    Some(e) => Some(super::values::http_url(e).map_err(|r| {
                        ConfigError::new("PROVER_PROOF_STORE_ENDPOINT", format!("'{e}': {r}"))
                    })?),
                };
                match (&self.access_key_id, &self.secret_access_key) {
                    (Some(_), None) => {
                        return Err(ConfigError::new(
                            "AWS_SECRET_ACCESS_KEY",
                            "missing while AWS_ACCESS_KEY_ID is set",
                        ))
                    }
                    (None, Some(_)) => {
                        return Err(ConfigError::new(
                            "AWS_ACCESS_KEY_ID",
                            "missing while AWS_SECRET_ACCESS_KEY is set",
                        ))
                    }
                    _ => {}
                }
                if self.region.trim().is_empty() {
                    return Err(ConfigError::new("AWS_REGION", "empty"));
                }
                ProofStoreLocation::S3 {
                    bucket,
                    prefix: url.path().trim_matches('/').to_string(),
                    endpoint,
                    region: self.region.trim().to_string(),
                    access_key_id: self.access_key_id.clone(),
                    secret_access_key: self.secret_access_key.clone(),
                }
            }
            other => {
                return Err(ConfigError::new(
                    VAR,
                    format!("scheme '{other}' not supported (expected s3, file or memory)"),
                ))
            }
        };
        Ok(ProofStoreConfig { location })
    }
}
