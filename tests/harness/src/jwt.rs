//! NATS decentralized authentication ("operator mode") for tests: the operator, accounts and
//! users an operator would create with `nsc`, minted here in Rust.
//!
//! A NATS v2 JWT is `base64url(header) . base64url(claims) . base64url(signature)` (no
//! padding), the header being `{"typ":"JWT","alg":"ed25519-nkey"}` and the signature the
//! ed25519 signature, by the issuer's nkey, of the first two parts joined by the dot. The
//! claims carry `iss` (the issuer's public nkey), `sub` (the subject's), `iat`, `name`, `jti`
//! and a `nats` object with the claim `type` (`operator`, `account`, `user`), `version: 2`
//! and the type's fields (see nats-io/jwt v2: `operator_claims.go`, `account_claims.go`,
//! `user_claims.go`, `types.go`). The server checks the signature and the issuer chain
//! (user → account → operator), not `jti`; it is filled as nats-io/jwt does (base32,
//! unpadded, of the SHA-512/256 of the claims without it), so tokens look like `nsc`'s.
//!
//! Users get the permissions of their role exactly as `infra/nats/mesh-roles.conf` ships
//! them: the three `*_PERMISSIONS` blocks are parsed from the file.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
pub use nkeys::KeyPair;
use serde_json::{json, Value};
use sha2::{Digest, Sha512_256};
use std::path::{Path, PathBuf};

/// `infra/nats/mesh-roles.conf`, as shipped.
pub const MESH_ROLES_CONF: &str = include_str!("../../../infra/nats/mesh-roles.conf");

/// A JWT or creds file could not be made.
#[derive(Debug, thiserror::Error)]
pub enum JwtError {
    #[error("mesh-roles.conf: {0}")]
    Roles(String),
    #[error("cannot sign: {0}")]
    Sign(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The mesh's roles (`infra/nats/mesh-roles.conf`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Node,
    Agent,
    Observer,
}

impl Role {
    pub const ALL: [Role; 3] = [Role::Node, Role::Agent, Role::Observer];

    /// The user name, as in mesh-roles.conf's `users`.
    pub fn name(self) -> &'static str {
        match self {
            Role::Node => "node",
            Role::Agent => "agent",
            Role::Observer => "observer",
        }
    }

    /// The permissions variable mesh-roles.conf defines for the role.
    pub fn block(self) -> &'static str {
        match self {
            Role::Node => "NODE_PERMISSIONS",
            Role::Agent => "AGENT_PERMISSIONS",
            Role::Observer => "OBSERVER_PERMISSIONS",
        }
    }

    /// The role's permissions as shipped in mesh-roles.conf.
    pub fn permissions(self) -> Result<Permissions, JwtError> {
        parse_permissions(MESH_ROLES_CONF, self.block())
    }
}

/// Subjects a user may publish to and subscribe to (allow lists; nothing else is allowed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Permissions {
    pub publish: Vec<String>,
    pub subscribe: Vec<String>,
}

/// The allow lists of the block `NAME = { publish: { allow: [..] } subscribe: { allow: [..] } }`
/// in a NATS configuration text. Comments (`#` lines) are skipped; only the shapes
/// mesh-roles.conf uses are understood, anything else is an error rather than a guess.
pub fn parse_permissions(conf: &str, name: &str) -> Result<Permissions, JwtError> {
    let err = |m: &str| JwtError::Roles(format!("{name}: {m}"));
    let mut lines = conf.lines().skip_while(|l| {
        let l = l.trim_start();
        !(l.starts_with(name) && l[name.len()..].trim_start().starts_with('='))
    });
    lines.next().ok_or_else(|| err("block not found"))?;
    // The block ends at the first line that is a lone `}` in the first column.
    let body: String = lines
        .take_while(|l| l.trim_end() != "}")
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let allow = |section: &str| -> Result<Vec<String>, JwtError> {
        let at = body
            .find(&format!("{section}:"))
            .ok_or_else(|| err(&format!("no {section} section")))?;
        let rest = &body[at..];
        let open = rest
            .find("allow:")
            .and_then(|a| rest[a..].find('[').map(|b| a + b))
            .ok_or_else(|| err(&format!("no {section} allow list")))?;
        let close = rest[open..]
            .find(']')
            .ok_or_else(|| err(&format!("unterminated {section} allow list")))?;
        let list = &rest[open + 1..open + close];
        // The quoted strings (commas or newlines may separate them).
        let subjects: Vec<String> = list
            .split('"')
            .skip(1)
            .step_by(2)
            .map(str::to_string)
            .collect();
        if subjects.is_empty() {
            return Err(err(&format!("empty {section} allow list")));
        }
        Ok(subjects)
    };
    Ok(Permissions {
        publish: allow("publish")?,
        subscribe: allow("subscribe")?,
    })
}

/// Base32 (RFC 4648 alphabet, no padding), as nats-io/jwt writes `jti`.
fn base32(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buf, mut bits) = (0u32, 0u32);
    for b in bytes {
        buf = (buf << 8) | u32::from(*b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(char::from(ALPHABET[((buf >> bits) & 31) as usize]));
        }
    }
    if bits > 0 {
        out.push(char::from(ALPHABET[((buf << (5 - bits)) & 31) as usize]));
    }
    out
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs `claims` (an object holding at least `sub`, `name` and `nats`) with `issuer`: sets
/// `iss`, `iat` and `jti`, and returns the encoded JWT.
pub fn encode(mut claims: Value, issuer: &KeyPair) -> Result<String, JwtError> {
    let obj = claims
        .as_object_mut()
        .ok_or_else(|| JwtError::Sign("claims are not a JSON object".into()))?;
    obj.insert("iss".into(), issuer.public_key().into());
    obj.insert("iat".into(), now().into());
    obj.remove("jti");
    let hashed = serde_json::to_vec(&obj).map_err(|e| JwtError::Sign(e.to_string()))?;
    obj.insert("jti".into(), base32(&Sha512_256::digest(&hashed)).into());
    let header = URL_SAFE_NO_PAD.encode(br#"{"typ":"JWT","alg":"ed25519-nkey"}"#);
    let payload = URL_SAFE_NO_PAD
        .encode(serde_json::to_vec(&claims).map_err(|e| JwtError::Sign(e.to_string()))?);
    let signed = format!("{header}.{payload}");
    let sig = issuer
        .sign(signed.as_bytes())
        .map_err(|e| JwtError::Sign(e.to_string()))?;
    Ok(format!("{signed}.{}", URL_SAFE_NO_PAD.encode(sig)))
}

/// The claims part of a JWT, decoded (not verified: see [`verify`]).
pub fn claims(jwt: &str) -> Option<Value> {
    let part = jwt.split('.').nth(1)?;
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).ok()?).ok()
}

/// Whether `jwt`'s signature is valid for the issuer its claims name.
pub fn verify(jwt: &str) -> bool {
    let Some((signed, sig)) = jwt.rsplit_once('.') else {
        return false;
    };
    let (Some(iss), Ok(sig)) = (
        claims(jwt).and_then(|c| c["iss"].as_str().map(str::to_string)),
        URL_SAFE_NO_PAD.decode(sig),
    ) else {
        return false;
    };
    KeyPair::from_public_key(&iss)
        .and_then(|k| k.verify(signed.as_bytes(), &sig))
        .is_ok()
}

/// A self-signed operator JWT naming its system account.
pub fn operator_jwt(
    operator: &KeyPair,
    name: &str,
    system_account: &str,
) -> Result<String, JwtError> {
    let claims = json!({
        "sub": operator.public_key(),
        "name": name,
        "nats": { "system_account": system_account, "type": "operator", "version": 2 },
    });
    encode(claims, operator)
}

/// An account JWT signed by `operator`, without NATS limits; with `jetstream`, JetStream
/// is enabled without limits (`mem_storage`, `disk_storage`, `streams`, `consumer` = -1;
/// all zero, the default, means no JetStream for the account).
pub fn account_jwt(
    operator: &KeyPair,
    account: &str,
    name: &str,
    jetstream: bool,
) -> Result<String, JwtError> {
    let mut limits = json!({
        "subs": -1, "data": -1, "payload": -1,
        "imports": -1, "exports": -1, "wildcards": true, "conn": -1, "leaf": -1,
    });
    if jetstream {
        for field in ["mem_storage", "disk_storage", "streams", "consumer"] {
            limits[field] = json!(-1);
        }
    }
    let claims = json!({
        "sub": account,
        "name": name,
        "nats": { "limits": limits, "type": "account", "version": 2 },
    });
    encode(claims, operator)
}

/// A user JWT signed by its account's key, allowed exactly `permissions`.
pub fn user_jwt(
    account: &KeyPair,
    user: &str,
    name: &str,
    permissions: &Permissions,
) -> Result<String, JwtError> {
    let claims = json!({
        "sub": user,
        "name": name,
        "nats": {
            "pub": { "allow": permissions.publish },
            "sub": { "allow": permissions.subscribe },
            "subs": -1, "data": -1, "payload": -1,
            "type": "user", "version": 2,
        },
    });
    encode(claims, account)
}

/// A `.creds` file's text: the user JWT and the user's nkey seed, decorated as `nsc`
/// writes them (five dashes opening a BEGIN line, six around END).
pub fn creds(user_jwt: &str, user_seed: &str) -> String {
    format!(
        "-----BEGIN NATS USER JWT-----\n{user_jwt}\n------END NATS USER JWT------\n\n\
         ************************* IMPORTANT *************************\n\
         NKEY Seed printed below can be used to sign and prove identity.\n\
         NKEYs are sensitive and should be treated as secrets.\n\n\
         -----BEGIN USER NKEY SEED-----\n{user_seed}\n------END USER NKEY SEED------\n\n\
         *************************************************************\n"
    )
}

/// Writes `text` to `path`, readable by its owner only (mode 0600), as a creds file must be.
pub fn write_private(path: &Path, text: &str) -> Result<(), JwtError> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())?;
    Ok(())
}

/// A decentralized-auth deployment: an operator, its system account `SYS`, and the mesh's
/// account `PROVEMESH` (JetStream enabled), whose users are the mesh's roles.
pub struct OperatorSetup {
    pub operator: KeyPair,
    pub system: KeyPair,
    pub mesh: KeyPair,
    pub operator_jwt: String,
    pub system_jwt: String,
    pub mesh_jwt: String,
}

impl OperatorSetup {
    /// Fresh keys and JWTs.
    pub fn new() -> Result<Self, JwtError> {
        let (operator, system, mesh) = (
            KeyPair::new_operator(),
            KeyPair::new_account(),
            KeyPair::new_account(),
        );
        Ok(OperatorSetup {
            operator_jwt: operator_jwt(&operator, "provemesh", &system.public_key())?,
            system_jwt: account_jwt(&operator, &system.public_key(), "SYS", false)?,
            mesh_jwt: account_jwt(&operator, &mesh.public_key(), "PROVEMESH", true)?,
            operator,
            system,
            mesh,
        })
    }

    /// The server configuration that trusts this operator and knows its accounts (a
    /// memory resolver preloaded with both account JWTs). Appended to the shipped
    /// `server.conf` (which declares no users or accounts), it puts the server in operator
    /// mode.
    pub fn server_config(&self) -> String {
        format!(
            "operator: \"{}\"\nsystem_account: \"{}\"\nresolver: MEMORY\nresolver_preload: {{\n  \"{}\": \"{}\"\n  \"{}\": \"{}\"\n}}\n",
            self.operator_jwt,
            self.system.public_key(),
            self.system.public_key(),
            self.system_jwt,
            self.mesh.public_key(),
            self.mesh_jwt,
        )
    }

    /// A creds file's text for a new user of `account` (any account key: one the server
    /// does not know makes creds that cannot connect) allowed `permissions`.
    pub fn user_creds(
        account: &KeyPair,
        name: &str,
        permissions: &Permissions,
    ) -> Result<String, JwtError> {
        let user = KeyPair::new_user();
        let jwt = user_jwt(account, &user.public_key(), name, permissions)?;
        let seed = user.seed().map_err(|e| JwtError::Sign(e.to_string()))?;
        Ok(creds(&jwt, &seed))
    }

    /// Writes `<dir>/<role>.creds` (mode 0600) for a new user of the mesh account with the
    /// role's shipped permissions, and returns its path.
    pub fn write_role_creds(&self, dir: &Path, role: Role) -> Result<PathBuf, JwtError> {
        let path = dir.join(format!("{}.creds", role.name()));
        let text = Self::user_creds(&self.mesh, role.name(), &role.permissions()?)?;
        write_private(&path, &text)?;
        Ok(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_roles_permissions_are_read_from_the_shipped_file() {
        let node = Role::Node.permissions().unwrap();
        let agent = Role::Agent.permissions().unwrap();
        let observer = Role::Observer.permissions().unwrap();
        // First and last entries of each list, as written in mesh-roles.conf.
        assert_eq!(node.publish.first().unwrap(), "$JS.API.>");
        assert_eq!(node.publish.last().unwrap(), "$KV.PROVE_EPOCHS.>");
        assert_eq!(node.publish.len(), 9);
        assert_eq!(node.subscribe, ["_INBOX.>"]);
        assert_eq!(agent.publish.first().unwrap(), "$JS.API.INFO");
        assert_eq!(agent.publish.last().unwrap(), "prove.ready.>");
        assert_eq!(agent.publish.len(), 18);
        assert_eq!(agent.subscribe, ["_INBOX.>", "prove.ready.>"]);
        // The commented line inside the observer's list is skipped.
        assert_eq!(observer.publish.len(), 17);
        assert!(observer.publish.iter().all(|s| !s.contains('#')));
        assert_eq!(observer.publish.last().unwrap(), "$JS.FC.>");
        // Least privilege, as the file's header says.
        for p in [&agent, &observer] {
            assert!(!p.publish.iter().any(|s| s.starts_with("prove.job")));
            assert!(!p.publish.iter().any(|s| s.contains("PURGE")));
        }
        assert!(parse_permissions("X = {\n}\n", "X").is_err());
        assert!(parse_permissions(MESH_ROLES_CONF, "NOPE_PERMISSIONS").is_err());
    }

    #[test]
    fn base32_matches_rfc_4648_without_padding() {
        assert_eq!(base32(b""), "");
        assert_eq!(base32(b"f"), "MY");
        assert_eq!(base32(b"fo"), "MZXQ");
        assert_eq!(base32(b"foo"), "MZXW6");
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
    }

    #[test]
    fn jwts_chain_user_to_account_to_operator_and_verify() {
        let setup = OperatorSetup::new().unwrap();
        let op = claims(&setup.operator_jwt).unwrap();
        assert_eq!(op["iss"], op["sub"], "self-signed");
        assert_eq!(op["nats"]["type"], "operator");
        assert_eq!(op["nats"]["version"], 2);
        assert_eq!(op["nats"]["system_account"], setup.system.public_key());
        assert_eq!(op["jti"].as_str().unwrap().len(), 52, "base32 of 32 bytes");
        let mesh = claims(&setup.mesh_jwt).unwrap();
        assert_eq!(mesh["iss"], setup.operator.public_key());
        assert_eq!(mesh["sub"], setup.mesh.public_key());
        assert_eq!(mesh["nats"]["limits"]["disk_storage"], -1);
        let sys = claims(&setup.system_jwt).unwrap();
        assert!(sys["nats"]["limits"].get("disk_storage").is_none());
        for jwt in [&setup.operator_jwt, &setup.mesh_jwt, &setup.system_jwt] {
            assert!(verify(jwt));
            let header = URL_SAFE_NO_PAD.decode(jwt.split('.').next().unwrap());
            let header: Value = serde_json::from_slice(&header.unwrap()).unwrap();
            assert_eq!(header, json!({"typ": "JWT", "alg": "ed25519-nkey"}));
        }
        let mut tampered = setup.mesh_jwt.clone();
        tampered.insert_str(tampered.find('.').unwrap() + 1, "e30");
        assert!(!verify(&tampered));

        let dir = tempfile::tempdir().unwrap();
        let path = setup.write_role_creds(dir.path(), Role::Agent).unwrap();
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN NATS USER JWT-----");
        assert_eq!(lines[2], "------END NATS USER JWT------");
        let user = claims(lines[1]).unwrap();
        assert!(verify(lines[1]));
        assert_eq!(user["iss"], setup.mesh.public_key());
        assert_eq!(user["nats"]["type"], "user");
        assert_eq!(
            user["nats"]["sub"]["allow"],
            json!(["_INBOX.>", "prove.ready.>"])
        );
        let seed_at = lines
            .iter()
            .position(|l| *l == "-----BEGIN USER NKEY SEED-----")
            .unwrap();
        assert_eq!(lines[seed_at + 2], "------END USER NKEY SEED------");
        let seed = KeyPair::from_seed(lines[seed_at + 1]).unwrap();
        assert_eq!(user["sub"], seed.public_key());

        let conf = setup.server_config();
        assert!(conf.contains(&setup.operator_jwt) && conf.contains(&setup.mesh_jwt));
        assert!(conf.contains("resolver: MEMORY"));
    }
}
