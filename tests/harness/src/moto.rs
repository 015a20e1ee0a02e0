//! `moto`: an S3-compatible server that enforces IAM policies per access key, for tests of
//! the per-role store policies shipped in `infra/s3/` (`s3s-fs` knows one key and no
//! policies).
//!
//! moto authenticates nothing until its no-auth allowance is spent (its
//! `INITIAL_NO_AUTH_ACTION_COUNT`, unlimited unless set). The harness uses that window to set
//! up: the bucket, then per role an IAM user with the role's policy inline and an access key.
//! It then closes the window (`POST /moto-api/reset-auth` with `0`) and checks that a request
//! with an unknown key is refused. From then on every request must be SigV4-signed with a
//! known key and allowed by that key's user policy, or it is answered 403.

use crate::process::{free_port, port_open, ServerProcess};
use crate::s3::random_token;
use crate::{tool, HarnessError};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::time::Duration;
use tempfile::TempDir;

/// An access key pair of one role.
#[derive(Clone, Debug)]
pub struct S3Keys {
    pub access_key: String,
    pub secret_key: String,
}

/// A moto S3 server with one bucket and one IAM user (and key) per role.
pub struct MotoS3 {
    pub port: u16,
    pub bucket: String,
    /// The store's key prefix (`s3://bucket/PREFIX`), without slashes; empty for none.
    pub prefix: String,
    keys: BTreeMap<String, S3Keys>,
    process: ServerProcess,
    _dir: TempDir,
}

impl MotoS3 {
    /// Starts a server with a fresh `bucket` and one user per role policy shipped in
    /// `infra/s3/` (`agent`, `node`, …), the policies rendered for `bucket` and `prefix`.
    pub fn start(bucket: &str, prefix: &str) -> Result<Self, HarnessError> {
        let policies = shipped_policies()?;
        Self::start_with(bucket, prefix, &policies)
    }

    /// As [`MotoS3::start`] with the given `(role, policy template)` pairs.
    pub fn start_with(
        bucket: &str,
        prefix: &str,
        policies: &[(String, String)],
    ) -> Result<Self, HarnessError> {
        crate::with_port_retries(|| Self::try_start(bucket, prefix, policies))
    }

    fn try_start(
        bucket: &str,
        prefix: &str,
        policies: &[(String, String)],
    ) -> Result<Self, HarnessError> {
        let dir = tempfile::Builder::new()
            .prefix("provemesh-moto-")
            .tempdir()?;
        let port = free_port();
        let args = vec![
            "-H".into(),
            "127.0.0.1".into(),
            "-p".into(),
            port.to_string(),
        ];
        let mut process = ServerProcess::spawn(
            "moto_server",
            &tool("moto_server")?,
            &args,
            &dir.path().join("moto.log"),
        )?;
        // Python imports take a few seconds on a busy machine.
        process.wait_ready(Duration::from_secs(60), || port_open(port))?;
        let mut s3 = MotoS3 {
            port,
            bucket: bucket.into(),
            prefix: prefix.trim_matches('/').into(),
            keys: BTreeMap::new(),
            process,
            _dir: dir,
        };
        s3.set_up(policies).map_err(|e| s3.setup_error(e))?;
        Ok(s3)
    }

    fn setup_error(&self, what: String) -> HarnessError {
        HarnessError::Io(std::io::Error::other(format!(
            "moto setup: {what}; its log ({}) ends with:\n{}",
            self.process.log_path().display(),
            self.process.log_tail(4096)
        )))
    }

    fn set_up(&mut self, policies: &[(String, String)]) -> Result<(), String> {
        let bucket = self.bucket.clone();
        self.expect(200, "PUT", &format!("/{bucket}"), "s3", "", "")?;
        let policy_prefix = if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        };
        for (role, template) in policies {
            let user = format!("provemesh-{role}");
            let document = render_policy(template, &bucket, &policy_prefix);
            self.iam(&[("Action", "CreateUser"), ("UserName", &user)])?;
            self.iam(&[
                ("Action", "PutUserPolicy"),
                ("UserName", &user),
                ("PolicyName", &format!("provemesh-store-{role}")),
                ("PolicyDocument", &document),
            ])?;
            let created = self.iam(&[("Action", "CreateAccessKey"), ("UserName", &user)])?;
            let keys = S3Keys {
                access_key: xml_text(&created, "AccessKeyId")
                    .ok_or_else(|| format!("no AccessKeyId in {created}"))?,
                secret_key: xml_text(&created, "SecretAccessKey")
                    .ok_or_else(|| format!("no SecretAccessKey in {created}"))?,
            };
            self.keys.insert(role.clone(), keys);
        }
        // Enforcement on: no more unauthenticated actions.
        self.expect(200, "POST", "/moto-api/reset-auth", "", "text/plain", "0")?;
        let (code, body) = self.request("GET", &format!("/{bucket}"), "s3", "", "")?;
        if code != 403 {
            return Err(format!(
                "IAM enforcement is not on: an unknown key listing the bucket got {code}: {body}"
            ));
        }
        Ok(())
    }

    fn iam(&self, params: &[(&str, &str)]) -> Result<String, String> {
        let mut body = String::from("Version=2010-05-08");
        for (k, v) in params {
            body.push('&');
            body.push_str(k);
            body.push('=');
            body.push_str(&form_encode(v));
        }
        self.expect(
            200,
            "POST",
            "/",
            "iam",
            "application/x-www-form-urlencoded",
            &body,
        )
    }

    fn expect(
        &self,
        want: u16,
        method: &str,
        path: &str,
        service: &str,
        content_type: &str,
        body: &str,
    ) -> Result<String, String> {
        let (code, text) = self.request(method, path, service, content_type, body)?;
        if code == want {
            Ok(text)
        } else {
            Err(format!(
                "{method} {path} ({service}) answered {code}: {text}"
            ))
        }
    }

    /// One HTTP/1.0 exchange. During setup moto checks no signature: the `Authorization`
    /// header only names the service (its credential scope), which moto routes by.
    fn request(
        &self,
        method: &str,
        path: &str,
        service: &str,
        content_type: &str,
        body: &str,
    ) -> Result<(u16, String), String> {
        let io = |e: std::io::Error| format!("{method} {path}: {e}");
        let mut s =
            TcpStream::connect_timeout(&([127, 0, 0, 1], self.port).into(), Duration::from_secs(2))
                .map_err(io)?;
        s.set_read_timeout(Some(Duration::from_secs(20)))
            .map_err(io)?;
        let mut req = format!(
            "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\n",
            self.port,
            body.len()
        );
        if !content_type.is_empty() {
            req.push_str(&format!("Content-Type: {content_type}\r\n"));
        }
        if !service.is_empty() {
            req.push_str(&format!(
                "Authorization: AWS4-HMAC-SHA256 Credential=AKIAPROVEMESHSETUP00/20250101/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00\r\n"
            ));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).map_err(io)?;
        let mut resp = String::new();
        s.read_to_string(&mut resp).map_err(io)?;
        let code = resp
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| format!("{method} {path}: not an HTTP response: {resp:.200}"))?;
        let text = resp
            .split_once("\r\n\r\n")
            .map(|x| x.1.to_string())
            .unwrap_or_default();
        Ok((code, text))
    }

    /// The access key of `role` (a policy file name without `.json`).
    pub fn keys(&self, role: &str) -> Option<&S3Keys> {
        self.keys.get(role)
    }

    /// The roles set up, in name order.
    pub fn roles(&self) -> Vec<String> {
        self.keys.keys().cloned().collect()
    }

    /// `http://127.0.0.1:<port>`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `s3://<bucket>` or `s3://<bucket>/<prefix>`.
    pub fn store_url(&self) -> String {
        if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        }
    }

    /// The variables a binary of `role` needs to reach the store (`PROVER_PROOF_STORE`,
    /// `PROVER_PROOF_STORE_ENDPOINT`, `AWS_REGION`, `AWS_ACCESS_KEY_ID`,
    /// `AWS_SECRET_ACCESS_KEY`); `None` for an unknown role.
    pub fn env(&self, role: &str) -> Option<Vec<(String, String)>> {
        let k = self.keys(role)?;
        Some(vec![
            ("PROVER_PROOF_STORE".into(), self.store_url()),
            ("PROVER_PROOF_STORE_ENDPOINT".into(), self.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID".into(), k.access_key.clone()),
            ("AWS_SECRET_ACCESS_KEY".into(), k.secret_key.clone()),
        ])
    }

    /// A key pair no user owns, and a known key with the wrong secret: both must be refused.
    pub fn bad_keys(&self) -> Vec<S3Keys> {
        let mut v = vec![S3Keys {
            access_key: format!("AKIA{}", random_token(16).to_uppercase()),
            secret_key: random_token(40),
        }];
        if let Some(k) = self.keys.values().next() {
            v.push(S3Keys {
                access_key: k.access_key.clone(),
                secret_key: random_token(40),
            });
        }
        v
    }

    /// An unsigned request (no credentials at all): `(status, body)`.
    pub fn anonymous(&self, method: &str, key: &str, body: &str) -> Result<(u16, String), String> {
        self.request(method, &format!("/{}/{key}", self.bucket), "", "", body)
    }

    pub fn pid(&self) -> Option<u32> {
        self.process.pid()
    }
}

/// The role policies shipped in `infra/s3/`: `(role, template)` per `<role>.json`, by name.
pub fn shipped_policies() -> Result<Vec<(String, String)>, HarnessError> {
    let dir = policy_dir();
    let mut out = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let role = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            out.push((role, std::fs::read_to_string(&path)?));
        }
    }
    out.sort();
    Ok(out)
}

/// `infra/s3/` of this workspace.
pub fn policy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../infra/s3")
}

/// A policy template with `${BUCKET}` and `${PREFIX}` (empty, or the store's prefix with a
/// trailing `/`) substituted: what `envsubst '${BUCKET} ${PREFIX}'` does to the file.
pub fn render_policy(template: &str, bucket: &str, prefix: &str) -> String {
    template
        .replace("${BUCKET}", bucket)
        .replace("${PREFIX}", prefix)
}

/// The text of the first `<tag>…</tag>` in `xml`.
fn xml_text(xml: &str, tag: &str) -> Option<String> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml[start..].find(&format!("</{tag}>"))? + start;
    Some(xml[start..end].to_string())
}

/// `application/x-www-form-urlencoded` encoding of a value.
fn form_encode(v: &str) -> String {
    let mut out = String::with_capacity(v.len() * 3);
    for b in v.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_policies_render_to_json_for_a_bucket_and_prefix() {
        let policies = shipped_policies().expect("infra/s3");
        let roles: Vec<_> = policies.iter().map(|(r, _)| r.as_str()).collect();
        assert!(
            roles.contains(&"agent") && roles.contains(&"node"),
            "{roles:?}"
        );
        for (role, t) in &policies {
            let r = render_policy(t, "b", "p/");
            assert!(!r.contains("${"), "{role}: unrendered variable in {r}");
            let v: serde_json::Value = serde_json::from_str(&r).expect("policy is JSON");
            assert_eq!(v["Version"], "2012-10-17", "{role}");
            assert!(r.contains("arn:aws:s3:::b/p/"), "{role}: {r}");
        }
    }

    #[test]
    fn helpers() {
        assert_eq!(form_encode("a b/{\"x\"}"), "a%20b%2F%7B%22x%22%7D");
        assert_eq!(
            xml_text("<R><AccessKeyId>AKIA1</AccessKeyId></R>", "AccessKeyId").as_deref(),
            Some("AKIA1")
        );
        assert_eq!(xml_text("<R/>", "AccessKeyId"), None);
    }
}
