//! `shieldpack session`: per-session playlists over an A/B package, the
//! variant of one segment for an edge function, and the reference check of a
//! signed URL. No FFmpeg: the code and the playlists are `shieldpack-session`'s.

use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use serde_json::json;

use crate::cli::{
    SessionArgs, SessionCommand, SessionMakeArgs, SessionVariantArgs, SessionVerifyArgs, TokenArg,
};
use crate::output::Printer;
use crate::Status;
use shieldpack_core::error::Error;
use shieldpack_session::code::{check_id, read_ids};
use shieldpack_session::playlist::{variant_of, AbPackage, Signing};
use shieldpack_session::token::{self, SignKey, TokenKind};
use shieldpack_session::{sealed, CodeKey};

pub fn run(a: SessionArgs, p: &Printer) -> anyhow::Result<Status> {
    match a.command {
        Some(SessionCommand::Variant(v)) => variant(v, p),
        Some(SessionCommand::VerifyUrl(v)) => verify_url(v, p),
        None => make(a.make, p),
    }
}

/// The A/B code of the package in `pkg`: from the watermark key when given,
/// else the one sealed in the package (`sealed`), opened with `identities`.
fn code_key(pkg: &Path, wm_key: Option<&Path>, identities: &[PathBuf]) -> anyhow::Result<CodeKey> {
    Ok(match wm_key {
        Some(k) => CodeKey::load_wm_key(k)?,
        None => sealed::open(pkg, identities)?,
    })
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `to` relative to `from` (both absolute), as a URI prefix ending in '/'.
fn relative_base(from: &Path, to: &Path) -> String {
    let f: Vec<Component> = from.components().collect();
    let t: Vec<Component> = to.components().collect();
    let common = f.iter().zip(&t).take_while(|(a, b)| a == b).count();
    let mut s = String::new();
    for _ in common..f.len() {
        s.push_str("../");
    }
    for c in &t[common..] {
        s.push_str(&c.as_os_str().to_string_lossy());
        s.push('/');
    }
    s
}

fn make(a: SessionMakeArgs, p: &Printer) -> anyhow::Result<Status> {
    let (Some(pkg), Some(out)) = (&a.package, &a.output) else {
        return Err(Error::arg(
            "session needs PKG and -o DIR",
            "see shieldpack session --help",
        )
        .into());
    };
    let mut ids = Vec::new();
    for id in &a.session {
        check_id(id)?;
        ids.push(id.clone());
    }
    if let Some(f) = &a.sessions {
        ids.extend(read_ids(f)?);
    }
    if ids.is_empty() {
        return Err(Error::arg(
            "no session ids given",
            "pass --session ID... or --sessions FILE",
        )
        .into());
    }
    let code = code_key(pkg, a.wm_key.as_deref(), &a.identities)?;
    let package = AbPackage::load(pkg)?;
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let base = match &a.base_url {
        Some(b) if b.ends_with('/') => b.clone(),
        Some(b) => format!("{b}/"),
        None => {
            let o = out.canonicalize().map_err(|e| Error::io(out, e))?;
            let k = pkg.canonicalize().map_err(|e| Error::io(pkg, e))?;
            relative_base(&o, &k)
        }
    };
    let sign_key = a.sign_key.as_deref().map(SignKey::load).transpose()?;
    let signing = match &sign_key {
        Some(key) => {
            if !(base.starts_with('/') || base.contains("://")) {
                return Err(Error::arg(
                    format!("--base-url {base} is relative, but a signature covers the path the CDN sees"),
                    "give the served path: --base-url /titles/ID/ or https://cdn.example/titles/ID/",
                )
                .into());
            }
            let secs = shieldpack_core::timefmt::parse_seconds(&a.expires)?;
            if secs < 1.0 {
                return Err(
                    Error::arg("--expires must be at least 1s", "e.g. --expires 2m").into(),
                );
            }
            let start = now();
            Some(Signing {
                key,
                kind: match a.token {
                    TokenArg::Edgeauth => TokenKind::EdgeAuth,
                    TokenArg::Jwt => TokenKind::Jwt,
                },
                start,
                exp: start + secs.ceil() as u64,
            })
        }
        None => None,
    };
    let mut written = 0usize;
    for id in &ids {
        let files = package.session_files(&code, id, &base, signing.as_ref(), id)?;
        for (rel, text) in &files {
            let path = out.join(rel);
            if let Some(d) = path.parent() {
                std::fs::create_dir_all(d).map_err(|e| Error::io(d, e))?;
            }
            shieldpack_core::fsutil::write_atomic(&path, text.as_bytes(), 0o644, a.force)
                .with_context(|| format!("writing the playlists of session {id}"))?;
        }
        let path: PathBuf = out.join(&files[0].0);
        written += 1;
        if p.json {
            p.json_value(&json!({
                "session": id,
                "playlist": path,
                "segments": package.segments(),
                "expires": signing.as_ref().map(|s| s.exp),
            }))?;
        }
    }
    if !p.json {
        p.info(format!(
            "wrote {written} session playlist(s) of {} segments into {}",
            package.segments(),
            out.display()
        ));
    }
    Ok(Status::Success)
}

fn variant(a: SessionVariantArgs, p: &Printer) -> anyhow::Result<Status> {
    check_id(&a.session)?;
    let code = code_key(&a.package, a.wm_key.as_deref(), &a.identities)?;
    let package = AbPackage::load(&a.package)?;
    let v = variant_of(&code, &a.session, a.segment, package.segments())?;
    let rec = &package.rendition().segments[a.segment as usize];
    let uri = rec
        .variants
        .iter()
        .find(|r| r.variant == v.as_str())
        .map(|r| r.uri.clone())
        .unwrap_or_default();
    if p.json {
        p.json_value(
            &json!({"session": a.session, "segment": a.segment, "variant": v.as_str(), "uri": uri}),
        )?;
    } else {
        p.data(v.as_str())?;
    }
    Ok(Status::Success)
}

fn verify_url(a: SessionVerifyArgs, p: &Printer) -> anyhow::Result<Status> {
    let key = SignKey::load(&a.sign_key)?;
    let at = a.at.unwrap_or_else(now);
    match token::verify_url(&a.url, &key, at) {
        Ok(session) => {
            if p.json {
                p.json_value(&json!({"valid": true, "session": session}))?;
            } else {
                p.data(format!("valid: session {session}"))?;
            }
            Ok(Status::Success)
        }
        Err(r) => {
            if p.json {
                p.json_value(&json!({"valid": false, "reason": r.to_string()}))?;
            } else {
                p.warn(format!("refused: {r}"));
            }
            Ok(Status::Negative)
        }
    }
}
