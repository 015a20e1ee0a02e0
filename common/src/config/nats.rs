//! How a component reaches the mesh: the NATS servers and the credentials of its role.

use super::{ConfigError, Secret};
use clap::Args;
use std::path::PathBuf;

#[derive(Debug, Clone, Args, PartialEq, Eq)]
#[command(next_help_heading = "Mesh (NATS JetStream)")]
pub struct NatsArgs {
    /// The proof broker: NATS server URL(s), comma separated (nats://host:4222). On an
    /// agent this is where jobs come from; on the node, where they go.
    #[arg(
        long = "prover-broker-host",
        env = "PROVER_BROKER_HOST",
        value_name = "PROVER_BROKER_HOST",
        value_delimiter = ',',
        default_value = "nats://127.0.0.1:4222"
    )]
    pub servers: Vec<String>,

    /// NATS credentials file (JWT + nkey seed) for this component's role.
    #[arg(long, env = "NATS_CREDS", value_name = "NATS_CREDS")]
    pub nats_creds: Option<PathBuf>,

    /// NATS user name (with NATS_PASSWORD), as an alternative to a credentials file.
    #[arg(long, env = "NATS_USER", value_name = "NATS_USER")]
    pub nats_user: Option<String>,

    /// NATS password for NATS_USER.
    #[arg(
        long,
        env = "NATS_PASSWORD",
        value_name = "NATS_PASSWORD",
        hide_env_values = true
    )]
    pub nats_password: Option<Secret>,

    /// The JetStream domain that holds the mesh, when it is not the domain of the server
    /// this component connects to: an agent on a leafnode reaching its hub's streams
    /// (the hub's `jetstream { domain }`, see infra/nats/hub.conf).
    #[arg(long, env = "NATS_JS_DOMAIN", value_name = "NATS_JS_DOMAIN", value_parser = super::values::nats_name)]
    pub nats_js_domain: Option<String>,

    /// CA certificate (PEM) the NATS servers' certificates are verified against. Setting
    /// it requires TLS on every connection (also for nats:// URLs).
    #[arg(long, env = "NATS_TLS_CA", value_name = "NATS_TLS_CA")]
    pub nats_tls_ca: Option<PathBuf>,

    /// Client certificate (PEM) for servers that verify clients (mutual TLS); with
    /// NATS_TLS_KEY.
    #[arg(long, env = "NATS_TLS_CERT", value_name = "NATS_TLS_CERT")]
    pub nats_tls_cert: Option<PathBuf>,

    /// Private key (PEM) of NATS_TLS_CERT. Only its path is ever shown.
    #[arg(long, env = "NATS_TLS_KEY", value_name = "NATS_TLS_KEY")]
    pub nats_tls_key: Option<PathBuf>,
}

impl NatsArgs {
    /// Checks the server URLs and the credential combination.
    ///
    /// URLs are parsed here rather than by clap so that a URL carrying a password is
    /// refused without echoing it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const VAR: &str = "PROVER_BROKER_HOST";
        if self.servers.iter().all(|s| s.trim().is_empty()) {
            return Err(ConfigError::new(VAR, "no NATS server URL given"));
        }
        for raw in self.servers.iter().filter(|s| !s.trim().is_empty()) {
            let url = url::Url::parse(raw.trim());
            let url = match url {
                Ok(u) => u,
                Err(e) => {
                    let shown = if raw.contains('@') {
                        "[a URL with credentials]"
                    } else {
                        raw.as_str()
                    };
                    return Err(ConfigError::new(
                        VAR,
                        format!("'{shown}' is not a URL ({e})"),
                    ));
                }
            };
            if url.password().is_some() || !url.username().is_empty() {
                return Err(ConfigError::new(
                    VAR,
                    "credentials inside the URL are refused (they would end up in logs); use NATS_USER/NATS_PASSWORD or NATS_CREDS",
                ));
            }
            if !matches!(url.scheme(), "nats" | "tls") {
                return Err(ConfigError::new(
                    VAR,
                    format!(
                        "'{raw}': scheme '{}' not supported (expected nats or tls)",
                        url.scheme()
                    ),
                ));
            }
            if url.host_str().is_none_or(|h| h.is_empty()) {
                return Err(ConfigError::new(VAR, format!("'{raw}' has no host")));
            }
        }
        match (&self.nats_creds, &self.nats_user, &self.nats_password) {
            (Some(_), Some(_), _) | (Some(_), _, Some(_)) => {
                return Err(ConfigError::new(
                    "NATS_CREDS",
                    "give either a credentials file or NATS_USER/NATS_PASSWORD, not both",
                ))
            }
            (None, None, Some(_)) => {
                return Err(ConfigError::new("NATS_PASSWORD", "set without NATS_USER"))
            }
            (None, Some(_), None) => {
                return Err(ConfigError::new("NATS_USER", "set without NATS_PASSWORD"))
            }
            _ => {}
        }
        let readable = |var: &'static str, p: &Option<PathBuf>| match p {
            Some(p) => std::fs::File::open(p)
                .map(|_| ())
                .map_err(|e| ConfigError::new(var, format!("cannot read '{}': {e}", p.display()))),
            None => Ok(()),
        };
        readable("NATS_CREDS", &self.nats_creds)?;
        match (&self.nats_tls_cert, &self.nats_tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "NATS_TLS_CERT",
                    "set without NATS_TLS_KEY",
                ))
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "NATS_TLS_KEY",
                    "set without NATS_TLS_CERT",
                ))
            }
            _ => {}
        }
        readable("NATS_TLS_CA", &self.nats_tls_ca)?;
        readable("NATS_TLS_CERT", &self.nats_tls_cert)?;
        readable("NATS_TLS_KEY", &self.nats_tls_key)?;
        Ok(())
    }

    /// Whether connections must use TLS: a CA is configured, or a URL says `tls://`.
    pub fn requires_tls(&self) -> bool {
        self.nats_tls_ca.is_some() || self.server_list().iter().any(|s| s.starts_with("tls://"))
    }

    /// The non-empty server URLs, trimmed.
    pub fn server_list(&self) -> Vec<String> {
        self.servers
            .iter()
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect()
    }
}
