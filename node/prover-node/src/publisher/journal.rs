//! The publisher's journal: one small JSON file per epoch (`epoch-<n>.json`) naming the
//! nonce and every transaction hash sent for it, written before each broadcast by
//! temp-file + fsync + rename, so that after a crash at any point the file is either the
//! old record or the new one, and every transaction on the wire is in it. It exists only
//! while an epoch's submission is in flight: once an outcome is known (landed, proven by
//! someone else, nonce spent) the file is removed, and L1 is the record.

use super::PublishError;
use alloy::primitives::{Address, B256};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One transaction sent for an epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SentTx {
    pub tx_hash: B256,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    pub gas_limit: u64,
}

/// An epoch's submission in flight: the nonce every transaction for it uses, and what was
/// sent, oldest first (each a replacement of the one before).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InFlight {
    pub epoch: u64,
    pub end_block: u64,
    /// The account that signed: a journal written under another key says nothing about
    /// this one's nonces.
    pub sender: Address,
    pub nonce: u64,
    pub sent: Vec<SentTx>,
}

impl InFlight {
    pub(super) fn new(epoch: u64, end_block: u64, sender: Address, nonce: u64) -> Self {
        InFlight {
            epoch,
            end_block,
            sender,
            nonce,
            sent: Vec::new(),
        }
    }
}

pub(super) struct Journal {
    dir: PathBuf,
}

impl Journal {
    /// Creates `dir` if missing.
    pub fn open(dir: PathBuf) -> Result<Self, PublishError> {
        std::fs::create_dir_all(&dir).map_err(|source| PublishError::Journal {
            path: dir.clone(),
            source,
        })?;
        Ok(Journal { dir })
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, epoch: u64) -> PathBuf {
        self.dir.join(format!("epoch-{epoch}.json"))
    }

    pub async fn load(&self, epoch: u64) -> Result<Option<InFlight>, PublishError> {
        let path = self.path(epoch);
        let bytes = match tokio::fs::read(&path).await {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => return Err(PublishError::Journal { path, source }),
        };
        let flight: InFlight =
            serde_json::from_slice(&bytes).map_err(|e| PublishError::JournalCorrupt {
                path: path.clone(),
                reason: e.to_string(),
            })?;
        if flight.epoch != epoch {
            return Err(PublishError::JournalCorrupt {
                path,
                reason: format!("it records epoch {}", flight.epoch),
            });
        }
        Ok(Some(flight))
    }

    /// Replaces the epoch's record with `flight`, durably.
    pub async fn store(&self, flight: &InFlight) -> Result<(), PublishError> {
        let path = self.path(flight.epoch);
        let bytes = serde_json::to_vec_pretty(flight).map_err(|e| PublishError::Journal {
            path: path.clone(),
            source: std::io::Error::other(e),
        })?;
        let (dir, target) = (self.dir.clone(), path.clone());
        tokio::task::spawn_blocking(move || write_atomically(&dir, &target, &bytes))
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))
            .and_then(|r| r)
            .map_err(|source| PublishError::Journal { path, source })
    }

    pub async fn remove(&self, epoch: u64) -> Result<(), PublishError> {
        let path = self.path(epoch);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(PublishError::Journal { path, source }),
        }
    }
}

fn write_atomically(dir: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let tmp = target.with_extension("json.tmp");
    {
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, target)?;
    // The rename itself is durable only once the directory is.
    std::fs::File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_record_survives_a_reopen_and_is_gone_once_removed() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().join("publisher")).unwrap();
        assert_eq!(journal.load(7).await.unwrap(), None);
        let mut flight = InFlight::new(7, 12, Address::repeat_byte(1), 3);
        flight.sent.push(SentTx {
            tx_hash: B256::repeat_byte(2),
            max_fee_per_gas: 2_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
            gas_limit: 400_000,
        });
        journal.store(&flight).await.unwrap();
        let reopened = Journal::open(dir.path().join("publisher")).unwrap();
        assert_eq!(reopened.load(7).await.unwrap(), Some(flight));
        reopened.remove(7).await.unwrap();
        assert_eq!(journal.load(7).await.unwrap(), None);
        reopened.remove(7).await.unwrap();
    }

    #[tokio::test]
    async fn an_unreadable_record_is_refused_with_its_path() {
        let dir = tempfile::tempdir().unwrap();
        let journal = Journal::open(dir.path().to_path_buf()).unwrap();
        std::fs::write(dir.path().join("epoch-4.json"), b"{ not json").unwrap();
        let e = journal.load(4).await.unwrap_err();
        assert!(matches!(e, PublishError::JournalCorrupt { .. }), "{e}");
        assert!(e.to_string().contains("epoch-4.json"), "{e}");
    }
}
