//! Connecting to the mesh with a role's credentials.

use async_nats::{Client, ConnectOptions};
use provemesh_common::config::NatsArgs;
use std::time::Duration;

/// Connecting failed; the message never contains a credential.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("cannot read NATS credentials file {path}: {source}")]
    Credentials {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot connect to NATS at {servers}: {source}")]
    Connect {
        servers: String,
        #[source]
        source: async_nats::ConnectError,
    },
}

/// The JetStream context of the mesh over `client`: the local domain, or the one
/// `NATS_JS_DOMAIN` names.
pub fn jetstream(client: Client, args: &NatsArgs) -> async_nats::jetstream::Context {
    match &args.nats_js_domain {
        Some(domain) => async_nats::jetstream::with_domain(client, domain),
        None => async_nats::jetstream::new(client),
    }
}

/// Connects as `name` (shown in the server's connection list) to the servers in `args`,
/// with the credentials it names. The client reconnects forever after the first success;
/// the first connection attempt fails fast with a clear error.
pub async fn connect(args: &NatsArgs, name: &str) -> Result<Client, ConnectError> {
    let mut opts = ConnectOptions::new()
        .name(name)
        .connection_timeout(Duration::from_secs(5))
        .request_timeout(Some(Duration::from_secs(10)))
        .max_reconnects(None)
        .reconnect_delay_callback(|attempt| {
            // Quick first retries (a cluster peer usually takes over at once), then cap.
            Duration::from_millis((50u64 << attempt.min(6)).min(2_000))
        });
    if let Some(path) = &args.nats_creds {
        opts = opts
            .credentials_file(path)
            .await
            .map_err(|source| ConnectError::Credentials {
                path: path.display().to_string(),
                source,
            })?;
    }
    if let (Some(user), Some(password)) = (&args.nats_user, &args.nats_password) {
        opts = opts.user_and_password(user.clone(), password.expose().to_string());
    }
    if let Some(ca) = &args.nats_tls_ca {
        opts = opts.add_root_certificates(ca.clone());
    }
    if let (Some(cert), Some(key)) = (&args.nats_tls_cert, &args.nats_tls_key) {
        opts = opts.add_client_certificate(cert.clone(), key.clone());
    }
    if args.requires_tls() {
        opts = opts.require_tls(true);
    }
    let servers = args.server_list();
    opts.connect(servers.as_slice())
        .await
        .map_err(|source| ConnectError::Connect {
            servers: servers.join(","),
            source,
        })
}
