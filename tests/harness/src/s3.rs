//! `s3s-fs`: an S3-compatible server (SigV4, path-style, multipart) over a directory.

use crate::process::{free_port, port_open, ServerProcess};
use crate::{tool, HarnessError};
use provemesh_common::config::{ProofStoreArgs, Secret};
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// An S3-compatible server with one bucket, credentials generated per start.
pub struct S3Server {
    pub port: u16,
    pub bucket: String,
    pub access_key: String,
    pub secret_key: String,
    pub root: PathBuf,
    process: ServerProcess,
    _dir: TempDir,
}

impl S3Server {
    /// Starts a server with a fresh, empty `bucket`.
    pub fn start(bucket: &str) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start(bucket))
    }

    fn try_start(bucket: &str) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new().prefix("provemesh-s3-").tempdir()?;
        let root = dir.path().join("data");
        // s3s-fs maps a bucket to a directory under its root.
        std::fs::create_dir_all(root.join(bucket))?;
        let port = free_port();
        let access_key = format!("pm{}", random_token(10));
        let secret_key = random_token(32);
        let args = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--access-key".into(),
            access_key.clone(),
            "--secret-key".into(),
            secret_key.clone(),
            root.display().to_string(),
        ];
        let mut process = ServerProcess::spawn(
            "s3s-fs",
            &tool("s3s-fs")?,
            &args,
            &dir.path().join("s3.log"),
        )?;
        process.wait_ready(Duration::from_secs(20), || port_open(port))?;
        Ok(S3Server {
            port,
            bucket: bucket.into(),
            access_key,
            secret_key,
            root,
            process,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>`.
    pub fn store_url(&self) -> String {
        format!("s3://{}", self.bucket)
    }

    /// The proof-store settings of a component that uses this server's bucket with its
    /// credentials (`PROVER_PROOF_STORE`, `PROVER_PROOF_STORE_ENDPOINT`, the AWS keys).
    pub fn store_args(&self) -> ProofStoreArgs {
        ProofStoreArgs {
            url: Some(self.store_url()),
            endpoint: Some(self.endpoint()),
            region: "us-east-1".into(),
            access_key_id: Some(Secret::new(self.access_key.clone())),
            secret_access_key: Some(Secret::new(self.secret_key.clone())),
        }
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// Stops the server (an outage); data stays on disk.
    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(5));
    }

    /// Starts it again on the same port with the same data.
    pub fn restart(&mut self) -> Result<(), HarnessError> {
        self.process.restart()?;
        let port = self.port;
        self.process
            .wait_ready(Duration::from_secs(20), || port_open(port))
    }
}

/// A random alphanumeric token from the OS's randomness (no extra dependency).
pub(crate) fn random_token(n: usize) -> String {
    use std::io::Read;
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut buf = vec![0u8; n];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_err()
    {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = (t >> ((i * 5) % 120)) as u8;
        }
    }
    buf.iter()
        .map(|b| ALPHABET[*b as usize % ALPHABET.len()] as char)
        .collect()
}
