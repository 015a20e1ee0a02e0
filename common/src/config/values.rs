//! Value parsers for clap: each returns an error that says what shape was expected. clap
//! prefixes it with the flag and variable name (`invalid value 'x' for '--flag <VAR>'`).

use super::{ConfigError, Secret};
use url::Url;

/// A URL whose scheme is one of `schemes`.
pub fn url_with_scheme(raw: &str, schemes: &[&str]) -> Result<Url, String> {
    let url = Url::parse(raw.trim()).map_err(|e| format!("not a URL ({e})"))?;
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "scheme '{}' not supported (expected one of: {})",
            url.scheme(),
            schemes.join(", ")
        ));
    }
    if url.host_str().is_none_or(|h| h.is_empty()) {
        return Err("URL has no host".into());
    }
    Ok(url)
}

/// An Ethereum JSON-RPC endpoint (http, https, ws, wss).
pub fn rpc_url(raw: &str) -> Result<Url, String> {
    url_with_scheme(raw, &["http", "https", "ws", "wss"])
}

/// An HTTP(S) endpoint.
pub fn http_url(raw: &str) -> Result<Url, String> {
    url_with_scheme(raw, &["http", "https"])
}

/// A libp2p or HTTP boot node address: an `enr:`/`/ip4/…` multiaddr or an http(s) URL.
pub fn boot_node(raw: &str) -> Result<String, String> {
    let t = raw.trim();
    if t.starts_with('/') || t.starts_with("enr:") {
        return Ok(t.to_string());
    }
    http_url(t).map(|u| u.to_string())
}

/// Checks a hex private key's shape (32 bytes, optional 0x, not zero) without ever
/// putting the value into the error.
pub fn private_key(variable: &'static str, key: &Secret) -> Result<[u8; 32], ConfigError> {
    let t = key.expose().trim();
    let hexpart = t
        .strip_prefix("0x")
        .or_else(|| t.strip_prefix("0X"))
        .unwrap_or(t);
    if hexpart.len() != 64 {
        return Err(ConfigError::new(
            variable,
            format!(
                "expected a 32-byte key as 64 hex digits (optionally 0x-prefixed), got {} characters",
                hexpart.len()
            ),
        ));
    }
    let mut out = [0u8; 32];
    hex::decode_to_slice(hexpart, &mut out).map_err(|_| {
        ConfigError::new(
            variable,
            "expected hex digits only (0-9, a-f); the value has other characters",
        )
    })?;
    if out == [0u8; 32] {
        return Err(ConfigError::new(
            variable,
            "the zero key is not a valid private key",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        assert!(rpc_url("http://127.0.0.1:8545").is_ok());
        assert!(rpc_url("ftp://x").unwrap_err().contains("scheme 'ftp'"));
        assert!(rpc_url("not a url").unwrap_err().contains("not a URL"));
        assert!(boot_node("/ip4/127.0.0.1/tcp/40400").is_ok());
        assert!(boot_node("bogus").is_err());
    }

    #[test]
    fn private_key_errors_never_echo_the_value() {
        let bad = [
            "0x1234",
            "zz00000000000000000000000000000000000000000000000000000000000001",
            "0x0000000000000000000000000000000000000000000000000000000000000000",
        ];
        for b in bad {
            let e = private_key("PROVER_PUBLISHER_PRIVATE_KEY", &Secret::new(b)).unwrap_err();
            let text = e.to_string();
            assert!(
                text.starts_with("invalid PROVER_PUBLISHER_PRIVATE_KEY"),
                "{text}"
            );
            assert!(!text.contains(b.trim_start_matches("0x")), "{text}");
        }
        let ok = "0x0000000000000000000000000000000000000000000000000000000000000001";
        assert_eq!(private_key("K", &Secret::new(ok)).unwrap()[31], 1);
    }
}

/// A NATS name (cluster, stream, consumer): printable, no whitespace, and none of the
/// subject characters `.`, `*`, `>`.
pub fn nats_name(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("must not be empty".into());
    }
    if let Some(c) = raw
        .chars()
        .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '.' | '*' | '>'))
    {
        return Err(format!(
            "{raw:?} is not a NATS name: {c:?} is not allowed (no whitespace, '.', '*' or '>')"
        ));
    }
    Ok(raw.to_string())
}

/// A duration such as `250ms`, `30s`, `5m` or `1h` (a bare number is seconds).
pub fn duration(raw: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    let t = raw.trim();
    let (num, unit) = match t.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => (&t[..i], t[i..].trim()),
        None => (t, "s"),
    };
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{raw}' is not a duration (e.g. 500ms, 30s, 5m)"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => {
            return Err(format!(
                "'{raw}': unknown unit '{unit}' (use ms, s, m or h)"
            ))
        }
    };
    if !secs.is_finite() || !(0.0..=365.0 * 86400.0).contains(&secs) {
        return Err(format!("'{raw}' is out of range"));
    }
    Ok(Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod duration_tests {
    use super::{duration, nats_name};
    use std::time::Duration;

    #[test]
    fn nats_names() {
        assert_eq!(nats_name("us-east").unwrap(), "us-east");
        for bad in ["", "a.b", "a b", "x*", ">"] {
            assert!(nats_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn parses_units() {
        assert_eq!(duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(duration("30"), Ok(Duration::from_secs(30)));
        assert_eq!(duration("2m"), Ok(Duration::from_secs(120)));
        assert!(duration("soon").is_err());
        assert!(duration("5 fortnights")
            .unwrap_err()
            .contains("unknown unit"));
    }
}
