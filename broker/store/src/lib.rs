//! The proof store: where job inputs too large for a NATS message, and every proof, live.
//!
//! One interface over three backends chosen by URL: `s3://` (any S3-compatible server,
//! path-style, http allowed for local servers), `file://` and `memory://`. Keys are
//! namespaced by epoch and job id (`inputs/<epoch>/<id>`, `proofs/<epoch>/<id>`), and every
//! read is checked against the SHA-256 the writer recorded, so a corrupted or substituted
//! object is an error, never a silent wrong proof.

use bytes::Bytes;
use object_store::{
    aws::AmazonS3Builder, local::LocalFileSystem, memory::InMemory, path::Path, BackoffConfig,
    ClientOptions, ObjectStore, ObjectStoreExt, PutPayload, RetryConfig, WriteMultipart,
};
use provemesh_common::config::{ProofStoreConfig, ProofStoreLocation};
use provemesh_common::ids::sha256;
use provemesh_common::{EpochNumber, JobId, ProofRef};
use std::sync::Arc;
use std::time::Duration;

/// Installs ring as the process's TLS crypto provider (what async-nats uses too), once.
/// HTTP clients built on reqwest (the S3 client here, alloy's RPC client) need it before
/// their first connection; calling it again is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Objects at least this large are uploaded in parts (streamed, S3 multipart).
pub const MULTIPART_THRESHOLD: usize = 8 * 1024 * 1024;
const PART_SIZE: usize = 5 * 1024 * 1024;

/// What went wrong with the proof store. `is_transient` tells retryable outages (server
/// down, timeouts) from problems that a retry will not fix.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open proof store: {0}")]
    Open(String),
    #[error("proof store {op} {key}: {source}")]
    Backend {
        op: &'static str,
        key: String,
        #[source]
        source: object_store::Error,
    },
    #[error("proof store object {key} is corrupt: expected {expected_size} bytes with sha256 {expected}, found {found_size} bytes with sha256 {found}")]
    Corrupt {
        key: String,
        expected: String,
        expected_size: u64,
        found: String,
        found_size: u64,
    },
}

impl StoreError {
    /// True for failures that may pass (network, server down, throttling); false for
    /// missing objects, corruption and configuration errors.
    pub fn is_transient(&self) -> bool {
        match self {
            StoreError::Backend { source, .. } => !matches!(
                source,
                object_store::Error::NotFound { .. }
                    | object_store::Error::InvalidPath { .. }
                    | object_store::Error::NotSupported { .. }
                    | object_store::Error::NotImplemented { .. }
                    | object_store::Error::PermissionDenied { .. }
                    | object_store::Error::Unauthenticated { .. }
            ),
            StoreError::Open(_) | StoreError::Corrupt { .. } => false,
        }
    }

    /// True when the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                source: object_store::Error::NotFound { .. },
                ..
            }
        )
    }
}

/// A stored object: key, size and content hash.
pub type ObjectRef = ProofRef;

/// The shared proof store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ProofStore {
    inner: Arc<dyn ObjectStore>,
    prefix: String,
    describe: String,
}

impl ProofStore {
    /// Opens the store a validated configuration names.
    pub fn open(config: &ProofStoreConfig) -> Result<Self, StoreError> {
        match &config.location {
            ProofStoreLocation::Memory => Ok(Self::in_memory()),
            ProofStoreLocation::File(dir) => {
                std::fs::create_dir_all(dir)
                    .map_err(|e| StoreError::Open(format!("create {}: {e}", dir.display())))?;
                let fs = LocalFileSystem::new_with_prefix(dir)
                    .map_err(|e| StoreError::Open(format!("{}: {e}", dir.display())))?;
                Ok(ProofStore {
                    inner: Arc::new(fs),
                    prefix: String::new(),
                    describe: format!("file://{}", dir.display()),
                })
            }
            ProofStoreLocation::S3 {
                bucket,
                prefix,
                endpoint,
                region,
                access_key_id,
                secret_access_key,
            } => {
                install_crypto_provider();
                let mut b = AmazonS3Builder::new()
                    .with_bucket_name(bucket)
                    .with_region(region)
                    .with_client_options(
                        ClientOptions::new()
                            .with_allow_http(true)
                            .with_timeout(Duration::from_secs(30))
                            .with_connect_timeout(Duration::from_secs(3)),
                    )
                    // Short in-client retries: an outage is handled by the caller's backoff
                    // (an agent hands the job back), not by stalling here for minutes.
                    .with_retry(RetryConfig {
                        backoff: BackoffConfig::default(),
                        max_retries: 2,
                        retry_timeout: Duration::from_secs(5),
                    });
                if let Some(ep) = endpoint {
                    b = b
                        .with_endpoint(ep.as_str().trim_end_matches('/'))
                        .with_virtual_hosted_style_request(false);
                }
                if let (Some(k), Some(s)) = (access_key_id, secret_access_key) {
                    b = b
                        .with_access_key_id(k.expose())
                        .with_secret_access_key(s.expose());
                }
                // The builder's error may quote configuration, never the secret values.
                let s3 = b
                    .build()
                    .map_err(|e| StoreError::Open(format!("s3://{bucket}: {e}")))?;
                Ok(ProofStore {
                    inner: Arc::new(s3),
                    prefix: prefix.clone(),
                    describe: format!(
                        "s3://{bucket}/{prefix}{}",
                        endpoint
                            .as_ref()
                            .map(|e| format!(" at {e}"))
                            .unwrap_or_default()
                    ),
                })
            }
        }
    }

    /// A store in process memory (tests, single-process runs).
    pub fn in_memory() -> Self {
        ProofStore {
            inner: Arc::new(InMemory::new()),
            prefix: String::new(),
            describe: "memory://".into(),
        }
    }

    /// Where this store is, for logs (never includes credentials).
    pub fn describe(&self) -> &str {
        &self.describe
    }

    /// Key of a job's inputs.
    pub fn input_key(epoch: EpochNumber, id: &JobId) -> String {
        format!("inputs/{epoch}/{}", id.to_hex())
    }

    /// Key of a job's proof.
    pub fn proof_key(epoch: EpochNumber, id: &JobId) -> String {
        format!("proofs/{epoch}/{}", id.to_hex())
    }

    fn path(&self, key: &str) -> Path {
        if self.prefix.is_empty() {
            Path::from(key)
        } else {
            Path::from(format!("{}/{key}", self.prefix))
        }
    }

    /// Writes `bytes` under `key` (in parts when large) and returns its reference.
    pub async fn put(&self, key: &str, bytes: Bytes) -> Result<ObjectRef, StoreError> {
        let path = self.path(key);
        let digest = sha256(&bytes);
        let size = bytes.len() as u64;
        let err = |source| StoreError::Backend {
            op: "put",
            key: key.to_string(),
            source,
        };
        if bytes.len() >= MULTIPART_THRESHOLD {
            let upload = self.inner.put_multipart(&path).await.map_err(err)?;
            let mut w = WriteMultipart::new_with_chunk_size(upload, PART_SIZE);
            for chunk in bytes.chunks(PART_SIZE) {
                w.wait_for_capacity(4).await.map_err(err)?;
                w.write(chunk);
            }
            w.finish().await.map_err(err)?;
        } else {
            self.inner
                .put(&path, PutPayload::from_bytes(bytes))
                .await
                .map_err(err)?;
        }
        Ok(ObjectRef {
            key: key.to_string(),
            size,
            sha256: digest,
        })
    }

    /// Reads `object` and checks its size and SHA-256.
    pub async fn get_verified(&self, object: &ObjectRef) -> Result<Bytes, StoreError> {
        let bytes = self.get(&object.key).await?;
        let found = sha256(&bytes);
        if found != object.sha256 || bytes.len() as u64 != object.size {
            return Err(StoreError::Corrupt {
                key: object.key.clone(),
                expected: hex::encode(object.sha256),
                expected_size: object.size,
                found: hex::encode(found),
                found_size: bytes.len() as u64,
            });
        }
        Ok(bytes)
    }

    /// Reads `key` without a hash check (the caller checks by other means).
    pub async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let err = |source| StoreError::Backend {
            op: "get",
            key: key.to_string(),
            source,
        };
        let r = self.inner.get(&self.path(key)).await.map_err(err)?;
        r.bytes().await.map_err(err)
    }

    /// Reads `key` if it exists, returning its reference and bytes.
    pub async fn get_if_exists(&self, key: &str) -> Result<Option<(ObjectRef, Bytes)>, StoreError> {
        match self.get(key).await {
            Ok(bytes) => Ok(Some((
                ObjectRef {
                    key: key.to_string(),
                    size: bytes.len() as u64,
                    sha256: sha256(&bytes),
                },
                bytes,
            ))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> Result<bool, StoreError> {
        match self.inner.head(&self.path(key)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(source) => Err(StoreError::Backend {
                op: "head",
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Deletes `key` (absent is fine).
    pub async fn delete(&self, key: &str) -> Result<(), StoreError> {
        match self.inner.delete(&self.path(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(source) => Err(StoreError::Backend {
                op: "delete",
                key: key.to_string(),
                source,
            }),
        }
    }

    /// Keys under `prefix` (relative to this store's own prefix).
    pub async fn list(&self, prefix: &str) -> Result<Vec<String>, StoreError> {
        use futures::TryStreamExt;
        let base = self.path(prefix);
        let strip = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        let metas: Vec<_> = self
            .inner
            .list(Some(&base))
            .try_collect()
            .await
            .map_err(|source| StoreError::Backend {
                op: "list",
                key: prefix.to_string(),
                source,
            })?;
        Ok(metas
            .into_iter()
            .map(|m| {
                m.location
                    .to_string()
                    .trim_start_matches(strip.as_str())
                    .to_string()
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use provemesh_common::ProofType;

    #[tokio::test]
    async fn round_trip_verifies_content() {
        let dir = tempfile::tempdir().unwrap();
        for store in [
            ProofStore::in_memory(),
            ProofStore::open(&ProofStoreConfig {
                location: ProofStoreLocation::File(dir.path().into()),
            })
            .unwrap(),
        ] {
            let id = JobId::derive(ProofType::MergeRollup, b"x");
            let key = ProofStore::proof_key(EpochNumber(3), &id);
            let r = store.put(&key, Bytes::from_static(b"proof")).await.unwrap();
            assert_eq!(
                store.get_verified(&r).await.unwrap(),
                Bytes::from_static(b"proof")
            );
            assert!(store.exists(&key).await.unwrap());
            assert_eq!(store.list("proofs/3").await.unwrap(), vec![key.clone()]);

            let mut wrong = r.clone();
            wrong.sha256[0] ^= 1;
            let e = store.get_verified(&wrong).await.unwrap_err();
            assert!(
                matches!(e, StoreError::Corrupt { .. }) && !e.is_transient(),
                "{e}"
            );

            store.delete(&key).await.unwrap();
            assert!(!store.exists(&key).await.unwrap());
            assert!(store.get_if_exists(&key).await.unwrap().is_none());
            let e = store.get(&key).await.unwrap_err();
            assert!(e.is_not_found() && !e.is_transient());
        }
    }

    #[tokio::test]
    async fn large_objects_go_in_parts() {
        let store = ProofStore::in_memory();
        let big = Bytes::from(vec![7u8; MULTIPART_THRESHOLD + 123]);
        let r = store.put("inputs/1/big", big.clone()).await.unwrap();
        assert_eq!(store.get_verified(&r).await.unwrap(), big);
    }
}
