//! Running `bb` as a process, one per step (`prove`, `verify`, `write_vk`, `gates`).
//!
//! Why the command line and not a long-lived `bb msgpack run` (barretenberg-rs =5.0.0's
//! `PipeBackend`), measured on this machine with the base parity circuit (67k gates, the
//! 2^21-point devnet CRS): `CircuitProve` in one long-lived process took 1.04–1.11 s per
//! proof, `bb prove` as a new process 1.10–1.42 s (start-up alone is ~5 ms; bb reads only
//! the CRS points a circuit needs) — noise against the 12–40 s of the rollup circuits. What
//! a process per step gives for free decides it: cancellation is killing the child
//! (`kill_on_drop`: dropping a job's future stops its prover at once), each job's stderr is
//! its own and ends up in its error, concurrent jobs need no request multiplexing, and a
//! proof's memory (up to 2.3 GB) goes back to the OS when the step ends (the msgpack
//! process kept 132 MB after one small proof). The pipe client inherits bb's stderr,
//! blocks a thread per call, exposes no process id, needs inflated bytecode and witnesses,
//! and finds the CRS only through `$HOME/.bb-crs` (its SrsInitSrs refuses a non-ceremony
//! CRS).
//!
//! Files: each step runs in its own temporary directory under the configured work
//! directory, removed when the step ends (also on error or cancellation).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Command;
use tokio_util::task::AbortOnDropHandle;

/// How proofs are made (`bb -t`): children verified inside Noir circuits use the Poseidon2
/// transcript without zero knowledge; a tx's client proof (the private kernel tail) is
/// verified inside the base rollup too, but hides its witness (ZK); the root rollup's proof
/// is verified on L1 (keccak, ZK).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Target {
    #[serde(rename = "noir-recursive-no-zk")]
    NoirRecursiveNoZk,
    #[serde(rename = "noir-recursive")]
    NoirRecursive,
    #[serde(rename = "evm")]
    Evm,
}

impl Target {
    pub fn as_str(self) -> &'static str {
        match self {
            Target::NoirRecursiveNoZk => "noir-recursive-no-zk",
            Target::NoirRecursive => "noir-recursive",
            Target::Evm => "evm",
        }
    }
}

/// Where bb is and how it runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BbConfig {
    /// The prover (the pristine, pinned bb).
    pub prover: PathBuf,
    /// The native verifier: the pristine bb with the ceremony CRS, the INSECURE devnet copy
    /// (`bb-insecure-devnet`, scripts/crs) with the devnet CRS.
    pub verifier: PathBuf,
    /// The CRS directory (`bn254_g1.dat`).
    pub crs_dir: PathBuf,
    /// Threads per bb process (`HARDWARE_CONCURRENCY`); `None`: all cores.
    pub threads: Option<u32>,
    /// bb's low-memory mode (`--slow_low_memory`: less memory, about twice as slow).
    pub low_memory: bool,
    /// Parent of the per-step temporary directories.
    pub work_dir: PathBuf,
}

/// Runs of `bb verify` on one proof while a signal keeps ending bb, before the kill is
/// reported (see [`BbConfig::verify_retrying_kills`]).
const VERIFY_ATTEMPTS_WHEN_KILLED: usize = 3;

/// A bb step that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BbError {
    /// bb could not be started at all (missing, not executable).
    #[error("circuit {circuit}: {step}: cannot run {bb}: {reason}")]
    Spawn {
        circuit: String,
        step: &'static str,
        bb: String,
        reason: String,
    },
    /// bb ran and failed; `stderr` is the end of what it printed.
    #[error("circuit {circuit}: {step}: bb exited with {status}: {stderr}")]
    Failed {
        circuit: String,
        step: &'static str,
        status: String,
        stderr: String,
    },
    /// The CRS holds fewer points than the circuit needs (bb would try to download more).
    #[error("circuit {circuit}: {step}: the CRS in {crs} has {have} points, the circuit needs {need}; generate more (scripts/crs --points {need}) or point CRS_PATH at a larger one")]
    CrsTooSmall {
        circuit: String,
        step: &'static str,
        crs: String,
        have: u64,
        need: u64,
    },
    /// bb was ended by a signal (out of memory, killed) and so concluded nothing: not a
    /// refusal, so [`BbConfig::verify`] never turns it into [`Verdict::Invalid`].
    #[error("circuit {circuit}: {step}: bb ended by {status} without concluding")]
    Killed {
        circuit: String,
        step: &'static str,
        status: String,
    },
    /// Files around the step (temporary directory, outputs).
    #[error("circuit {circuit}: {step}: {reason}")]
    Io {
        circuit: String,
        step: &'static str,
        reason: String,
    },
}

/// What native verification concluded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Valid,
    /// Refused, with bb's last line (e.g. "Proof verification failed").
    Invalid(String),
}

impl Verdict {
    pub fn is_valid(&self) -> bool {
        matches!(self, Verdict::Valid)
    }
}

/// What `bb prove` produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProveOutput {
    /// The proof: 32-byte big-endian fields.
    pub proof: Vec<u8>,
    /// The public inputs: 32-byte big-endian fields.
    pub public_inputs: Vec<u8>,
    pub elapsed: Duration,
    /// bb's peak resident memory in bytes (sampled every 50 ms; 0 if never sampled).
    pub peak_rss: u64,
}

/// The last `max` bytes of `s`, on a character boundary, trimmed.
fn tail(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.len() <= max {
        return s.to_string();
    }
    let mut start = s.len() - max;
    while !s.is_char_boundary(start) {
        start += 1;
    }
    format!("…{}", &s[start..])
}

/// A process's peak resident memory in bytes (`VmHWM` in /proc/PID/status).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// The CRS points a circuit of `gates` gates needs: its dyadic size.
pub fn crs_points_needed(gates: u64) -> u64 {
    gates.max(2).next_power_of_two()
}

fn spawn_error(circuit: &str, step: &'static str, bb: &Path, reason: String) -> BbError {
    BbError::Spawn {
        circuit: circuit.to_string(),
        step,
        bb: bb.display().to_string(),
        reason,
    }
}

/// bb's stdout if it succeeded; [`BbError::Killed`] if a signal ended it; else
/// [`BbError::Failed`] with the end of what it printed.
fn outcome(circuit: &str, step: &'static str, out: &Output) -> Result<String, BbError> {
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        return Ok(stdout);
    }
    if out.status.code().is_none() {
        return Err(BbError::Killed {
            circuit: circuit.to_string(),
            step,
            status: out.status.to_string(),
        });
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    Err(BbError::Failed {
        circuit: circuit.to_string(),
        step,
        status: out.status.to_string(),
        stderr: tail(&format!("{stderr}\n{stdout}"), 2000),
    })
}

/// The files of one `bb verify`, in a temporary directory of their own (removed on drop).
struct VerifyFiles {
    _dir: tempfile::TempDir,
    vk: PathBuf,
    proof: PathBuf,
    public_inputs: PathBuf,
}

impl VerifyFiles {
    fn new(dir: tempfile::TempDir) -> Self {
        let path = |name: &str| dir.path().join(name);
        VerifyFiles {
            vk: path("vk"),
            proof: path("proof"),
            public_inputs: path("public_inputs"),
            _dir: dir,
        }
    }

    /// What goes into each file.
    fn contents<'a>(
        &'a self,
        vk: &'a [u8],
        proof: &'a [u8],
        public_inputs: &'a [u8],
    ) -> [(&'a Path, &'a [u8]); 3] {
        [
            (&self.vk, vk),
            (&self.proof, proof),
            (&self.public_inputs, public_inputs),
        ]
    }

    /// `bb verify`'s command line over these files.
    fn args(&self, target: Target, crs_dir: &Path) -> Vec<OsString> {
        vec![
            "verify".into(),
            "-k".into(),
            self.vk.clone().into(),
            "-p".into(),
            self.proof.clone().into(),
            "-i".into(),
            self.public_inputs.clone().into(),
            "-t".into(),
            target.as_str().into(),
            "-c".into(),
            crs_dir.into(),
        ]
    }
}

const VERIFY_STEP: &str = "bb verify";

fn verify_write_error(circuit: &str, path: &Path, e: std::io::Error) -> BbError {
    BbError::Io {
        circuit: circuit.to_string(),
        step: VERIFY_STEP,
        reason: format!("writing {}: {e}", path.display()),
    }
}

/// What a `bb verify` run concluded: success is [`Verdict::Valid`], bb failing is a refusal
/// with its last line; any other error stays one.
fn verdict(ran: Result<String, BbError>) -> Result<Verdict, BbError> {
    match ran {
        Ok(_) => Ok(Verdict::Valid),
        Err(BbError::Failed { stderr, .. }) => Ok(Verdict::Invalid(
            stderr
                .lines()
                .last()
                .unwrap_or("refused")
                .trim()
                .to_string(),
        )),
        Err(e) => Err(e),
    }
}

impl BbConfig {
    /// bb as every step runs it: no input, output captured, `threads` threads.
    fn std_command(&self, bb: &Path) -> std::process::Command {
        let mut cmd = std::process::Command::new(bb);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(t) = self.threads {
            cmd.env("HARDWARE_CONCURRENCY", t.to_string());
        }
        cmd
    }

    fn command(&self, bb: &Path) -> Command {
        let mut cmd = Command::from(self.std_command(bb));
        cmd.kill_on_drop(true);
        cmd
    }

    /// Runs one bb step; stdout and bb's peak resident memory on success; a bb ended by a
    /// signal is [`BbError::Killed`]. Dropping the future kills bb.
    async fn run(
        &self,
        circuit: &str,
        step: &'static str,
        bb: &Path,
        args: Vec<OsString>,
    ) -> Result<(String, u64), BbError> {
        let mut cmd = self.command(bb);
        cmd.args(&args);
        let child = cmd
            .spawn()
            .map_err(|e| spawn_error(circuit, step, bb, e.to_string()))?;
        // bb's high-water mark, sampled while it runs (it is gone once reaped).
        let pid = child.id();
        let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let _sampler = pid.map(|pid| {
            let peak = peak.clone();
            // Stopped when this call returns, cancelled or not.
            AbortOnDropHandle::new(tokio::spawn(async move {
                loop {
                    if let Some(hwm) = vm_hwm(pid) {
                        peak.fetch_max(hwm, std::sync::atomic::Ordering::Relaxed);
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }))
        });
        let out = child
            .wait_with_output()
            .await
            .map_err(|e| spawn_error(circuit, step, bb, format!("waiting for it: {e}")))?;
        let stdout = outcome(circuit, step, &out)?;
        Ok((stdout, peak.load(std::sync::atomic::Ordering::Relaxed)))
    }

    /// [`Self::run`] for synchronous code: blocks until bb ends; stdout on success.
    fn run_blocking(
        &self,
        circuit: &str,
        step: &'static str,
        bb: &Path,
        args: Vec<OsString>,
    ) -> Result<String, BbError> {
        let out = self
            .std_command(bb)
            .args(&args)
            .output()
            .map_err(|e| spawn_error(circuit, step, bb, e.to_string()))?;
        outcome(circuit, step, &out)
    }

    fn temp_dir(&self, circuit: &str, step: &'static str) -> Result<tempfile::TempDir, BbError> {
        std::fs::create_dir_all(&self.work_dir)
            .and_then(|_| {
                tempfile::Builder::new()
                    .prefix(&format!("bb-{circuit}-{step}-"))
                    .tempdir_in(&self.work_dir)
            })
            .map_err(|e| BbError::Io {
                circuit: circuit.to_string(),
                step,
                reason: format!("temporary directory in {}: {e}", self.work_dir.display()),
            })
    }

    fn check_crs(&self, circuit: &str, step: &'static str, gates: u64) -> Result<(), BbError> {
        let need = crs_points_needed(gates);
        let have = crate::crs::crs_points(&self.crs_dir).unwrap_or(0);
        if have < need {
            return Err(BbError::CrsTooSmall {
                circuit: circuit.to_string(),
                step,
                crs: self.crs_dir.display().to_string(),
                have,
                need,
            });
        }
        Ok(())
    }

    /// Proves `witness_gz` for the circuit in `artifact_path` (whose verification key is
    /// `vk`, and which has `gates` gates).
    pub async fn prove(
        &self,
        circuit: &str,
        artifact_path: &Path,
        gates: u64,
        vk: &[u8],
        witness_gz: &[u8],
        target: Target,
    ) -> Result<ProveOutput, BbError> {
        const STEP: &str = "bb prove";
        self.check_crs(circuit, STEP, gates)?;
        let dir = self.temp_dir(circuit, "prove")?;
        let io = |what: &str, e: std::io::Error| BbError::Io {
            circuit: circuit.to_string(),
            step: STEP,
            reason: format!("{what}: {e}"),
        };
        let (w, k, o) = (
            dir.path().join("witness.gz"),
            dir.path().join("vk"),
            dir.path().join("out"),
        );
        tokio::fs::write(&w, witness_gz)
            .await
            .map_err(|e| io("writing the witness", e))?;
        tokio::fs::write(&k, vk)
            .await
            .map_err(|e| io("writing the vk", e))?;
        let mut args: Vec<OsString> = vec![
            "prove".into(),
            "-b".into(),
            artifact_path.into(),
            "-w".into(),
            w.into(),
            "-k".into(),
            k.into(),
            "-o".into(),
            o.clone().into(),
            "-t".into(),
            target.as_str().into(),
            "-c".into(),
            self.crs_dir.clone().into(),
        ];
        if self.low_memory {
            args.push("--slow_low_memory".into());
        }
        let t = Instant::now();
        let (_, peak_rss) = self.run(circuit, STEP, &self.prover, args).await?;
        let elapsed = t.elapsed();
        let proof = tokio::fs::read(o.join("proof"))
            .await
            .map_err(|e| io("reading the proof", e))?;
        let public_inputs = tokio::fs::read(o.join("public_inputs"))
            .await
            .map_err(|e| io("reading the public inputs", e))?;
        Ok(ProveOutput {
            proof,
            public_inputs,
            elapsed,
            peak_rss,
        })
    }

    /// Verifies a proof natively. Any refusal by bb (a failed check, or a proof that does
    /// not even deserialize, such as a point off the curve) is [`Verdict::Invalid`] with
    /// bb's words; only failing to run bb at all is an error.
    pub async fn verify(
        &self,
        circuit: &str,
        vk: &[u8],
        proof: &[u8],
        public_inputs: &[u8],
        target: Target,
    ) -> Result<Verdict, BbError> {
        let files = VerifyFiles::new(self.temp_dir(circuit, "verify")?);
        for (path, bytes) in files.contents(vk, proof, public_inputs) {
            tokio::fs::write(path, bytes)
                .await
                .map_err(|e| verify_write_error(circuit, path, e))?;
        }
        let args = files.args(target, &self.crs_dir);
        verdict(
            self.run(circuit, VERIFY_STEP, &self.verifier, args)
                .await
                .map(|(stdout, _)| stdout),
        )
    }

    /// [`Self::verify`], run again while a signal ends bb (3 runs at most, 200 ms apart and
    /// doubling): an out-of-memory kill on a busy host says nothing about the proof, and the
    /// next run usually has the memory. A verdict or any other error ends it.
    pub async fn verify_retrying_kills(
        &self,
        circuit: &str,
        vk: &[u8],
        proof: &[u8],
        public_inputs: &[u8],
        target: Target,
    ) -> Result<Verdict, BbError> {
        use backon::{ExponentialBuilder, Retryable};
        (|| self.verify(circuit, vk, proof, public_inputs, target))
            .retry(
                ExponentialBuilder::default()
                    .with_min_delay(Duration::from_millis(200))
                    .with_max_times(VERIFY_ATTEMPTS_WHEN_KILLED - 1),
            )
            .when(|e| matches!(e, BbError::Killed { .. }))
            .notify(
                |e, after| tracing::warn!(error = %e, ?after, "bb verify killed; running it again"),
            )
            .await
    }

    /// [`Self::verify`] for synchronous code (the tx processor's client-proof check): blocks
    /// the calling thread until bb ends (a few tens of milliseconds for a small circuit).
    /// A bb ended by a signal concluded nothing: [`BbError::Killed`], not a verdict.
    pub fn verify_blocking(
        &self,
        circuit: &str,
        vk: &[u8],
        proof: &[u8],
        public_inputs: &[u8],
        target: Target,
    ) -> Result<Verdict, BbError> {
        let files = VerifyFiles::new(self.temp_dir(circuit, "verify")?);
        for (path, bytes) in files.contents(vk, proof, public_inputs) {
            std::fs::write(path, bytes).map_err(|e| verify_write_error(circuit, path, e))?;
        }
        let args = files.args(target, &self.crs_dir);
        verdict(self.run_blocking(circuit, VERIFY_STEP, &self.verifier, args))
    }

    /// Computes a circuit's verification key and its hash.
    pub async fn write_vk(
        &self,
        circuit: &str,
        artifact_path: &Path,
        gates: u64,
        target: Target,
    ) -> Result<(Vec<u8>, [u8; 32]), BbError> {
        const STEP: &str = "bb write_vk";
        self.check_crs(circuit, STEP, gates)?;
        let dir = self.temp_dir(circuit, "write_vk")?;
        let args: Vec<OsString> = vec![
            "write_vk".into(),
            "-b".into(),
            artifact_path.into(),
            "-o".into(),
            dir.path().into(),
            "-t".into(),
            target.as_str().into(),
            "-c".into(),
            self.crs_dir.clone().into(),
        ];
        self.run(circuit, STEP, &self.prover, args).await?;
        let io = |e: std::io::Error| BbError::Io {
            circuit: circuit.to_string(),
            step: STEP,
            reason: e.to_string(),
        };
        let vk = tokio::fs::read(dir.path().join("vk")).await.map_err(io)?;
        let hash = tokio::fs::read(dir.path().join("vk_hash"))
            .await
            .map_err(io)?;
        let hash: [u8; 32] = hash.try_into().map_err(|h: Vec<u8>| BbError::Io {
            circuit: circuit.to_string(),
            step: STEP,
            reason: format!("vk_hash is {} bytes, not 32", h.len()),
        })?;
        Ok((vk, hash))
    }

    /// The circuit's gate count (`bb gates`).
    pub async fn gates(&self, circuit: &str, artifact_path: &Path) -> Result<u64, BbError> {
        const STEP: &str = "bb gates";
        let (out, _) = self
            .run(
                circuit,
                STEP,
                &self.prover,
                vec!["gates".into(), "-b".into(), artifact_path.into()],
            )
            .await?;
        let bad = |reason: String| BbError::Io {
            circuit: circuit.to_string(),
            step: STEP,
            reason,
        };
        let v: serde_json::Value =
            serde_json::from_str(&out).map_err(|e| bad(format!("output is not JSON: {e}")))?;
        v["functions"][0]["circuit_size"]
            .as_u64()
            .ok_or_else(|| bad("no functions[0].circuit_size in its output".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_keeps_the_end_on_a_char_boundary() {
        assert_eq!(tail("  short \n", 100), "short");
        let t = tail("ééééé", 3);
        assert!(t.starts_with('…') && t.ends_with('é'));
    }

    #[test]
    fn crs_needs_the_dyadic_size() {
        assert_eq!(crs_points_needed(67_197), 1 << 17);
        assert_eq!(crs_points_needed(1 << 20), 1 << 20);
        assert_eq!(crs_points_needed(1_435_377), 1 << 21);
    }

    /// A stand-in for bb: records its arguments in `args`, then runs `body`.
    fn fake_bb(dir: &Path, body: &str) -> BbConfig {
        use std::os::unix::fs::PermissionsExt;
        let bb = dir.join("bb");
        let script = format!(
            "#!/bin/sh\necho \"$@\" > {}\n{body}\n",
            dir.join("args").display()
        );
        std::fs::write(&bb, script).expect("write fake bb");
        std::fs::set_permissions(&bb, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        BbConfig {
            prover: bb.clone(),
            verifier: bb,
            crs_dir: dir.join("crs"),
            threads: Some(1),
            low_memory: false,
            work_dir: dir.join("work"),
        }
    }

    /// `verify` and `verify_blocking` run bb alike and read its verdict alike.
    #[tokio::test]
    async fn async_and_blocking_verify_agree() {
        let t = Target::NoirRecursive;
        // The command line but for the temporary directory's name.
        let shape = |dir: &Path| -> Vec<String> {
            std::fs::read_to_string(dir.join("args"))
                .expect("args")
                .split_whitespace()
                .map(|w| match Path::new(w).file_name() {
                    Some(f) if w.contains('/') => f.to_string_lossy().into_owned(),
                    _ => w.to_string(),
                })
                .collect()
        };
        for (body, want) in [
            ("exit 0", Verdict::Valid),
            (
                "echo 'Proof verification failed' >&2; exit 1",
                Verdict::Invalid("Proof verification failed".into()),
            ),
        ] {
            let dir = tempfile::tempdir().expect("tempdir");
            let bb = fake_bb(dir.path(), body);
            let blocking = bb.verify_blocking("c", b"vk", b"proof", b"pi", t);
            let blocking_args = shape(dir.path());
            let verdict = bb.verify("c", b"vk", b"proof", b"pi", t).await;
            assert_eq!(blocking.as_ref(), Ok(&want), "{body}");
            assert_eq!(verdict, Ok(want), "{body}");
            assert_eq!(blocking_args, shape(dir.path()));
            let expected = "verify -k vk -p proof -i public_inputs -t noir-recursive -c crs";
            assert_eq!(blocking_args.join(" "), expected);
            let left: Vec<_> = std::fs::read_dir(dir.path().join("work"))
                .expect("work dir")
                .collect();
            assert!(left.is_empty(), "left behind: {left:?}");
        }
    }

    /// A verifier killed once is run again and its verdict counts; one killed every time
    /// runs 3 times and reports the kill.
    #[tokio::test]
    async fn a_killed_verifier_is_run_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let runs = dir.path().join("runs");
        let bb = fake_bb(
            dir.path(),
            &format!(
                "echo run >> {runs}\nif [ $(wc -l < {runs}) -eq 1 ]; then kill -9 $$; fi",
                runs = runs.display()
            ),
        );
        let verdict = bb
            .verify_retrying_kills("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .await;
        assert_eq!(verdict, Ok(Verdict::Valid));
        let count = || {
            std::fs::read_to_string(&runs)
                .expect("runs")
                .lines()
                .count()
        };
        assert_eq!(count(), 2, "killed once, then concluded");

        std::fs::remove_file(&runs).expect("reset");
        let bb = fake_bb(
            dir.path(),
            &format!("echo run >> {}\nkill -9 $$", runs.display()),
        );
        let e = bb
            .verify_retrying_kills("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .await
            .unwrap_err();
        assert!(matches!(e, BbError::Killed { .. }), "{e}");
        assert_eq!(count(), 3);

        // A refusal is a verdict: not run again.
        std::fs::remove_file(&runs).expect("reset");
        let bb = fake_bb(
            dir.path(),
            &format!(
                "echo run >> {}\necho 'Proof verification failed' >&2\nexit 1",
                runs.display()
            ),
        );
        let verdict = bb
            .verify_retrying_kills("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .await;
        assert_eq!(
            verdict,
            Ok(Verdict::Invalid("Proof verification failed".into()))
        );
        assert_eq!(count(), 1);
    }

    /// An out-of-memory kill of `bb verify` says nothing about the proof: an agent must
    /// retry the job rather than fail it as "child proof does not verify", and the node
    /// must not reject a good proof.
    #[tokio::test]
    async fn verify_of_a_killed_or_missing_bb_is_an_error_not_a_verdict() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bb = fake_bb(dir.path(), "kill -9 $$");
        let e = bb
            .verify_blocking("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .unwrap_err();
        assert!(matches!(e, BbError::Killed { .. }), "{e}");
        let e = bb
            .verify("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .await
            .unwrap_err();
        assert!(matches!(e, BbError::Killed { .. }), "{e}");
        assert!(e.to_string().contains("without concluding"), "{e}");
        let missing = BbConfig {
            verifier: dir.path().join("nope"),
            ..bb
        };
        let e = missing
            .verify_blocking("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .unwrap_err();
        assert!(matches!(e, BbError::Spawn { .. }), "{e}");
        assert!(
            e.to_string()
                .starts_with("circuit c: bb verify: cannot run"),
            "{e}"
        );
        let e = missing
            .verify("c", b"vk", b"proof", b"pi", Target::NoirRecursive)
            .await
            .unwrap_err();
        assert!(matches!(e, BbError::Spawn { .. }), "{e}");
    }
}
