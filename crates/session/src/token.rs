//! Signed expiring URIs, the offline counterpart of a CDN's short-lived signed
//! URLs: Akamai EdgeAuth tokens (the `__token__` query parameter, in the format
//! of Akamai's EdgeAuth-Token libraries, `url=` mode) and JWT HS256 (`token`
//! parameter, claims `exp`, `iat`, `path`, `sid`).
//!
//! Both sign the URL path the CDN sees, so every segment and key URI carries its
//! own token; `verify_url` is the reference verifier a CDN or key server runs.

use std::path::Path;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use shieldpack_core::error::{Error, IoContext, Result};

type HmacSha256 = Hmac<Sha256>;

/// The query parameter of EdgeAuth tokens (Akamai's default token name).
pub const EDGEAUTH_PARAM: &str = "__token__";
/// The query parameter of JWTs.
pub const JWT_PARAM: &str = "token";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenKind {
    EdgeAuth,
    Jwt,
}

/// An HMAC signing key: a file of 32 to 128 hex digits (16 to 64 bytes), as
/// CDN token keys are written. Debug never shows it.
pub struct SignKey(Zeroizing<Vec<u8>>);

impl std::fmt::Debug for SignKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignKey(..)")
    }
}

impl SignKey {
    pub fn from_bytes(b: &[u8]) -> Self {
        SignKey(Zeroizing::new(b.to_vec()))
    }

    pub fn load(path: &Path) -> Result<Self> {
        let bad = || {
            Error::invalid_file(
                path,
                "not a signing key (32 to 128 hex digits on one line)",
                "write one with: openssl rand -hex 32 > sign.key",
            )
        };
        let meta = std::fs::metadata(path).map_err(|e| Error::input(path, e))?;
        if !meta.is_file() || meta.len() > 1024 {
            return Err(bad());
        }
        let text = Zeroizing::new(std::fs::read_to_string(path).at(path)?);
        let key = Zeroizing::new(hex::decode(text.trim()).map_err(|_| bad())?);
        if !(16..=64).contains(&key.len()) {
            return Err(bad());
        }
        Ok(SignKey(key))
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(&self.0).expect("HMAC takes any key length")
    }
}

/// What a token grants: one path, from `start` to `exp` (Unix seconds), to one session.
#[derive(Debug, Clone)]
pub struct Grant<'a> {
    pub path: &'a str,
    pub start: u64,
    pub exp: u64,
    pub session: &'a str,
}

fn edgeauth_fields(g: &Grant) -> String {
    format!("st={}~exp={}~id={}", g.start, g.exp, g.session)
}

/// The EdgeAuth token: `st=S~exp=E~id=ID~hmac=HEX`, the HMAC-SHA256 over
/// `st=S~exp=E~id=ID~url=PATH` (the path is signed but not carried).
pub fn edgeauth(key: &SignKey, g: &Grant) -> String {
    let fields = edgeauth_fields(g);
    let mut m = key.mac();
    m.update(format!("{fields}~url={}", g.path).as_bytes());
    format!("{fields}~hmac={}", hex::encode(m.finalize().into_bytes()))
}

/// The JWT: HS256 over `{"alg":"HS256","typ":"JWT"}` and
/// `{"exp":E,"iat":S,"path":PATH,"sid":ID}`.
pub fn jwt(key: &SignKey, g: &Grant) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
    let claims =
        serde_json::json!({"exp": g.exp, "iat": g.start, "path": g.path, "sid": g.session});
    let body = URL_SAFE_NO_PAD.encode(claims.to_string());
    let mut m = key.mac();
    m.update(format!("{header}.{body}").as_bytes());
    let sig = URL_SAFE_NO_PAD.encode(m.finalize().into_bytes());
    format!("{header}.{body}.{sig}")
}

/// `uri` with its token appended as a query parameter.
pub fn sign_uri(uri: &str, kind: TokenKind, key: &SignKey, g: &Grant) -> String {
    let sep = if uri.contains('?') { '&' } else { '?' };
    match kind {
        TokenKind::EdgeAuth => format!("{uri}{sep}{EDGEAUTH_PARAM}={}", edgeauth(key, g)),
        TokenKind::Jwt => format!("{uri}{sep}{JWT_PARAM}={}", jwt(key, g)),
    }
}

/// The path part of a URL or absolute path (scheme and host removed, query kept apart).
pub fn url_path(url: &str) -> (&str, Option<&str>) {
    let rest = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            after.find('/').map_or("/", |j| &after[j..])
        }
        None => url,
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    match rest.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rest, None),
    }
}

/// Why a signed URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    NoToken,
    Malformed,
    BadSignature,
    Expired { exp: u64, now: u64 },
    NotYetValid { start: u64, now: u64 },
    WrongPath,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Refusal::NoToken => write!(
                f,
                "the URL carries no {EDGEAUTH_PARAM} or {JWT_PARAM} parameter"
            ),
            Refusal::Malformed => f.write_str("the token is malformed"),
            Refusal::BadSignature => {
                f.write_str("the token's signature does not match (tampered, or another key)")
            }
            Refusal::Expired { exp, now } => write!(f, "the token expired at {exp} (now {now})"),
            Refusal::NotYetValid { start, now } => {
                write!(f, "the token is valid from {start} (now {now})")
            }
            Refusal::WrongPath => f.write_str("the token was issued for another path"),
        }
    }
}

fn query_param<'a>(query: &'a str, name: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        kv.split_once('=')
            .filter(|(k, _)| *k == name)
            .map(|(_, v)| v)
    })
}

/// Verifies a signed URL (or path with query) at time `now`: the token's
/// signature over the URL's path, its start and its expiry. Returns the session.
pub fn verify_url(url: &str, key: &SignKey, now: u64) -> std::result::Result<String, Refusal> {
    let (path, query) = url_path(url);
    let query = query.ok_or(Refusal::NoToken)?;
    if let Some(tok) = query_param(query, EDGEAUTH_PARAM) {
        let (fields, mac) = tok.rsplit_once("~hmac=").ok_or(Refusal::Malformed)?;
        let mac = hex::decode(mac).map_err(|_| Refusal::Malformed)?;
        let mut m = key.mac();
        m.update(format!("{fields}~url={path}").as_bytes());
        m.verify_slice(&mac).map_err(|_| Refusal::BadSignature)?;
        let mut start = None;
        let mut exp = None;
        let mut session = None;
        for f in fields.split('~') {
            match f.split_once('=') {
                Some(("st", v)) => start = Some(v.parse::<u64>().map_err(|_| Refusal::Malformed)?),
                Some(("exp", v)) => exp = Some(v.parse::<u64>().map_err(|_| Refusal::Malformed)?),
                Some(("id", v)) => session = Some(v.to_string()),
                _ => {}
            }
        }
        let exp = exp.ok_or(Refusal::Malformed)?;
        check_times(start, exp, now)?;
        return Ok(session.unwrap_or_default());
    }
    if let Some(tok) = query_param(query, JWT_PARAM) {
        let (signed, sig) = tok.rsplit_once('.').ok_or(Refusal::Malformed)?;
        let (header, body) = signed.split_once('.').ok_or(Refusal::Malformed)?;
        let sig = URL_SAFE_NO_PAD
            .decode(sig)
            .map_err(|_| Refusal::Malformed)?;
        let header: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(header)
                .map_err(|_| Refusal::Malformed)?,
        )
        .map_err(|_| Refusal::Malformed)?;
        // only HS256: never let the token choose its algorithm ("none")
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(Refusal::Malformed);
        }
        let mut m = key.mac();
        m.update(signed.as_bytes());
        m.verify_slice(&sig).map_err(|_| Refusal::BadSignature)?;
        let claims: serde_json::Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(body)
                .map_err(|_| Refusal::Malformed)?,
        )
        .map_err(|_| Refusal::Malformed)?;
        let exp = claims
            .get("exp")
            .and_then(|v| v.as_u64())
            .ok_or(Refusal::Malformed)?;
        let start = claims.get("iat").and_then(|v| v.as_u64());
        if claims.get("path").and_then(|v| v.as_str()) != Some(path) {
            return Err(Refusal::WrongPath);
        }
        check_times(start, exp, now)?;
        return Ok(claims
            .get("sid")
            .and_then(|v| v.as_str())
            .unwrap_or_default()
            .to_string());
    }
    Err(Refusal::NoToken)
}

fn check_times(start: Option<u64>, exp: u64, now: u64) -> std::result::Result<(), Refusal> {
    if let Some(start) = start {
        if now < start {
            return Err(Refusal::NotYetValid { start, now });
        }
    }
    if now >= exp {
        return Err(Refusal::Expired { exp, now });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(path: &str) -> Grant<'_> {
        Grant {
            path,
            start: 1_000,
            exp: 1_120,
            session: "alice",
        }
    }

    #[test]
    fn signed_urls_verify_until_they_expire() {
        let key = SignKey::from_bytes(&[5u8; 32]);
        for kind in [TokenKind::EdgeAuth, TokenKind::Jwt] {
            let url = sign_uri(
                "/pkg/video/seg_00001.b.ts",
                kind,
                &key,
                &grant("/pkg/video/seg_00001.b.ts"),
            );
            assert_eq!(verify_url(&url, &key, 1_050), Ok("alice".into()));
            let full = format!("https://cdn.example{url}");
            assert_eq!(verify_url(&full, &key, 1_050), Ok("alice".into()));
            assert!(matches!(
                verify_url(&url, &key, 1_120),
                Err(Refusal::Expired { .. })
            ));
            assert!(matches!(
                verify_url(&url, &key, 999),
                Err(Refusal::NotYetValid { .. })
            ));
            // the token of one segment does not open another
            let moved = url.replacen("seg_00001.b", "seg_00001.a", 1);
            assert!(verify_url(&moved, &key, 1_050).is_err());
            // another key
            assert_eq!(
                verify_url(&url, &SignKey::from_bytes(&[6u8; 32]), 1_050),
                Err(Refusal::BadSignature)
            );
            // any changed byte of the token
            let q = url.find('=').unwrap() + 1;
            for i in q..url.len() {
                let mut b = url.clone().into_bytes();
                b[i] = if b[i] == b'1' { b'2' } else { b'1' };
                let t = String::from_utf8(b).unwrap();
                if t != url {
                    assert!(verify_url(&t, &key, 1_050).is_err(), "{t}");
                }
            }
        }
        assert_eq!(
            verify_url("/pkg/a.ts", &SignKey::from_bytes(&[5u8; 32]), 0),
            Err(Refusal::NoToken)
        );
    }
}
