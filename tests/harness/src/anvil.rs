//! `anvil`: a local L1 dev chain.

use crate::process::{free_port, http, ServerProcess};
use crate::{tool, HarnessError};
use std::time::Duration;
use tempfile::TempDir;

/// A running anvil with its dev accounts.
pub struct Anvil {
    pub port: u16,
    pub chain_id: u64,
    process: ServerProcess,
    _dir: TempDir,
}

impl Anvil {
    /// Starts anvil with `chain_id`, instant mining.
    pub fn start(chain_id: u64) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start(chain_id))
    }

    fn try_start(chain_id: u64) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("provemesh-anvil-")
            .tempdir()?;
        let port = free_port();
        let args = vec![
            "--host".into(),
            "127.0.0.1".into(),
            "--port".into(),
            port.to_string(),
            "--chain-id".into(),
            chain_id.to_string(),
        ];
        let mut process = ServerProcess::spawn(
            "anvil",
            &tool("anvil")?,
            &args,
            &dir.path().join("anvil.log"),
        )?;
        let log = dir.path().join("anvil.log");
        // Ready when it answers RPC *and* its banner (with the dev keys) is in the log: the
        // two race, and a caller reading a key right after start must find it.
        process.wait_ready(Duration::from_secs(30), || {
            matches!(
                http(port, "POST", "/", r#"{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}"#),
                Some((200, b)) if b.contains("result")
            ) && std::fs::read_to_string(&log).is_ok_and(|l| {
                l.split("Private Keys")
                    .nth(1)
                    .is_some_and(|s| s.contains("(9) "))
            })
        })?;
        Ok(Anvil {
            port,
            chain_id,
            process,
            _dir: dir,
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }

    /// The private key of dev account `index`, read from anvil's start-up banner (anvil
    /// derives them from its well-known test mnemonic; nothing is hard-coded here).
    pub fn dev_private_key(&self, index: usize) -> Option<String> {
        let log = std::fs::read_to_string(self.process.log_path()).ok()?;
        let section = log.split("Private Keys").nth(1)?;
        let needle = format!("({index}) ");
        section.lines().find_map(|l| {
            l.trim()
                .strip_prefix(needle.as_str())
                .map(|k| k.trim().to_string())
        })
    }

    pub fn stop(&mut self) {
        self.process.stop(Duration::from_secs(5));
    }
}
