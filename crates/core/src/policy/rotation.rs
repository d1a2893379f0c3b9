//! The seed key-rotation config, `package --rotation FILE`:
//! `{"stream_id", "key_rotation": {"enabled", "interval_minutes",
//! "pre_delivery_seconds", "on_compromise", "algorithm", "key_derivation"}}`.
//!
//! `enabled` + `interval_minutes` become `--rotate-every`. What HLS AES-128
//! cannot do (any cipher but AES-128-CBC) and any derivation but shieldpack's
//! HKDF-SHA256 is refused, naming the field and its line:column. The fields
//! that describe a key server's behaviour rather than the package
//! (`pre_delivery_seconds`, `on_compromise`, `stream_id`) are validated and
//! recorded in manifest.json for the license server; shieldpack itself does
//! not act on them (an offline package has every key from the start, and a
//! compromise is handled with `keys rotate` + `rekey`).

use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::json::{self, Kind, Member, Node};
use super::Diagnostic;
use crate::error::{Error, IoContext, Result};

const MAX_BYTES: u64 = 1 << 20;
const TOP_KEYS: [&str; 2] = ["stream_id", "key_rotation"];
const ROTATION_KEYS: [&str; 6] = [
    "enabled",
    "interval_minutes",
    "pre_delivery_seconds",
    "on_compromise",
    "algorithm",
    "key_derivation",
];

/// How a package's key periods advance, as recorded in manifest.json.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq)]
#[serde(tag = "mode", rename_all = "kebab-case")]
pub enum Rotation {
    None,
    Time { seconds: f64 },
    Segments { count: u32 },
}

/// The config as validated, recorded in manifest.json as `rotation_config`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RotationConfig {
    /// The config file's name.
    pub file: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_id: Option<String>,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval_minutes: Option<f64>,
    /// Advice for the key server: deliver a period's key this long before it starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_delivery_seconds: Option<f64>,
    /// Advice for operators: what to do when a key leaks (`keys rotate` + `rekey`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_compromise: Option<String>,
    pub algorithm: String,
    pub key_derivation: String,
}

/// What `--rotation FILE` resolves to.
#[derive(Debug, Clone)]
pub struct Loaded {
    pub rotation: Rotation,
    pub config: RotationConfig,
    /// Things accepted but not acted on, as `FILE:LINE:COLUMN` warnings.
    pub warnings: Vec<Diagnostic>,
    /// Where `interval_minutes` is, for errors about its value.
    pub interval_pos: Option<json::Pos>,
}

fn fail(path: &Path, pos: json::Pos, message: impl Into<String>, hint: impl Into<String>) -> Error {
    Error::at(path, pos.line, pos.column, message, hint)
}

/// Reads and validates a rotation config.
pub fn load(path: &Path) -> Result<Loaded> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.len() > MAX_BYTES {
        return Err(Error::invalid_file(
            path,
            "too large for a rotation config",
            "pass the key-rotation JSON",
        ));
    }
    let text = String::from_utf8(std::fs::read(path).at(path)?)
        .map_err(|_| Error::invalid_file(path, "not UTF-8 text", "pass the key-rotation JSON"))?;
    parse(path, &text)
}

fn members<'a>(path: &Path, n: &'a Node, what: &str) -> Result<&'a [Member]> {
    match &n.kind {
        Kind::Object(m) => Ok(m),
        _ => Err(fail(
            path,
            n.pos,
            format!("{what} is {}, not an object", n.type_name()),
            "write {\"stream_id\": \"...\", \"key_rotation\": {\"enabled\": true, \"interval_minutes\": 10, \"algorithm\": \"AES-128-CBC\"}}",
        )),
    }
}

fn check_keys(path: &Path, ms: &[Member], allowed: &[&str], within: &str) -> Result<()> {
    for (i, m) in ms.iter().enumerate() {
        if !allowed.contains(&m.key.as_str()) {
            return Err(fail(
                path,
                m.key_pos,
                format!("unknown field \"{}\" in {within}", m.key),
                format!(
                    "{within} holds {}; remove the field or check its spelling",
                    allowed.join(", ")
                ),
            ));
        }
        if ms[..i].iter().any(|o| o.key == m.key) {
            return Err(fail(
                path,
                m.key_pos,
                format!("\"{}\" is given twice", m.key),
                "keep one",
            ));
        }
    }
    Ok(())
}

/// Parses a rotation config's text (`path` names it in errors).
pub fn parse(path: &Path, text: &str) -> Result<Loaded> {
    let root = json::parse(text).map_err(|e| {
        fail(
            path,
            e.pos,
            format!("invalid JSON: {}", e.message),
            "check quotes, commas and brackets at that position",
        )
    })?;
    let top = members(path, &root, "the rotation config")?;
    check_keys(path, top, &TOP_KEYS, "the rotation config")?;
    let find = |ms: &[Member], k: &str| ms.iter().position(|m| m.key == k);

    let stream_id = match find(top, "stream_id").map(|i| &top[i]) {
        None => None,
        Some(m) => match m.value.scalar() {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => {
                return Err(fail(
                    path,
                    m.value.pos,
                    "\"stream_id\" must be a non-empty string",
                    "write e.g. \"stream_id\": \"channel-1\"",
                ))
            }
        },
    };
    let Some(kr) = find(top, "key_rotation").map(|i| &top[i]) else {
        return Err(fail(
            path,
            root.pos,
            "no \"key_rotation\" object",
            "add \"key_rotation\": {\"enabled\": true, \"interval_minutes\": 10}",
        ));
    };
    let ms = members(path, &kr.value, "\"key_rotation\"")?;
    check_keys(path, ms, &ROTATION_KEYS, "\"key_rotation\"")?;
    let field = |k: &str| find(ms, k).map(|i| &ms[i]);

    let enabled = match field("enabled") {
        None => {
            return Err(fail(
                path,
                kr.value.pos,
                "\"key_rotation\" has no \"enabled\"",
                "add \"enabled\": true or false",
            ))
        }
        Some(m) => match m.value.scalar() {
            Some(Value::Bool(b)) => *b,
            _ => {
                return Err(fail(
                    path,
                    m.value.pos,
                    format!("\"enabled\" is {}, not true or false", m.value.type_name()),
                    "write \"enabled\": true or \"enabled\": false",
                ))
            }
        },
    };
    let number = |k: &str, positive: bool| -> Result<Option<f64>> {
        let Some(m) = field(k) else { return Ok(None) };
        match m.value.scalar().and_then(Value::as_f64) {
            Some(v) if v.is_finite() && (if positive { v > 0.0 } else { v >= 0.0 }) => Ok(Some(v)),
            _ => Err(fail(
                path,
                m.value.pos,
                format!(
                    "\"{k}\" must be a {} number",
                    if positive { "positive" } else { "non-negative" }
                ),
                format!("write e.g. \"{k}\": {}", if positive { "10" } else { "30" }),
            )),
        }
    };
    let interval_minutes = number("interval_minutes", true)?;
    let pre_delivery_seconds = number("pre_delivery_seconds", false)?;
    let string = |k: &str| -> Result<Option<(String, json::Pos)>> {
        let Some(m) = field(k) else { return Ok(None) };
        match m.value.scalar() {
            Some(Value::String(s)) if !s.trim().is_empty() => Ok(Some((s.clone(), m.value.pos))),
            _ => Err(fail(
                path,
                m.value.pos,
                format!("\"{k}\" must be a non-empty string"),
                format!("remove \"{k}\" or give it a string value"),
            )),
        }
    };
    let algorithm = match string("algorithm")? {
        None => "AES-128-CBC".to_string(),
        Some((a, pos)) => {
            if !matches!(a.to_ascii_uppercase().as_str(), "AES-128-CBC" | "AES-128") {
                return Err(fail(
                    path,
                    pos,
                    format!("\"algorithm\": \"{a}\" cannot be packaged: HLS METHOD=AES-128 is AES-128-CBC of whole segments"),
                    "set \"algorithm\": \"AES-128-CBC\" (CTR, GCM and other ciphers need SAMPLE-AES or CMAF, which shieldpack does not write)",
                ));
            }
            "AES-128-CBC".to_string()
        }
    };
    let key_derivation = match string("key_derivation")? {
        None => "HKDF-SHA256".to_string(),
        Some((d, pos)) => {
            let norm = d.to_ascii_uppercase().replace(['_', ' '], "-");
            if !matches!(norm.as_str(), "HKDF-SHA256" | "HKDF-SHA-256" | "HKDF") {
                return Err(fail(
                    path,
                    pos,
                    format!("\"key_derivation\": \"{d}\" is not supported: shieldpack derives every key with HKDF-SHA256 from the keyring"),
                    "set \"key_derivation\": \"HKDF-SHA256\" or remove the field",
                ));
            }
            "HKDF-SHA256".to_string()
        }
    };
    let on_compromise = string("on_compromise")?;
    let mut warnings = Vec::new();
    let rotation = if enabled {
        let Some(minutes) = interval_minutes else {
            return Err(fail(
                path,
                kr.value.pos,
                "rotation is enabled but \"interval_minutes\" is missing",
                "add \"interval_minutes\": 10 (or set \"enabled\": false)",
            ));
        };
        Rotation::Time {
            seconds: minutes * 60.0,
        }
    } else {
        Rotation::None
    };
    if let Some(m) = field("pre_delivery_seconds") {
        warnings.push(Diagnostic {
            line: m.key_pos.line,
            column: m.key_pos.column,
            message: "\"pre_delivery_seconds\" is recorded in manifest.json for the key server; an offline package needs no key delivery".into(),
            hint: "a license server should hand out each period's key this long before the period starts".into(),
        });
    }
    if let Some((_, pos)) = &on_compromise {
        warnings.push(Diagnostic {
            line: pos.line,
            column: pos.column,
            message: "\"on_compromise\" is recorded in manifest.json; shieldpack does not act on it by itself".into(),
            hint: "after a key leaks, run `shieldpack keys rotate` and `shieldpack rekey OUTDIR`".into(),
        });
    }
    Ok(Loaded {
        rotation,
        config: RotationConfig {
            file: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            stream_id,
            enabled,
            interval_minutes,
            pre_delivery_seconds,
            on_compromise: on_compromise.map(|(s, _)| s),
            algorithm,
            key_derivation,
        },
        warnings,
        interval_pos: field("interval_minutes").map(|m| m.value.pos),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<Loaded> {
        parse(Path::new("rot.json"), text)
    }

    #[test]
    fn the_seed_config_maps_to_rotate_every() {
        let l = p(r#"{"stream_id":"ch1","key_rotation":{"enabled":true,"interval_minutes":2,"pre_delivery_seconds":30,"on_compromise":"rotate_immediately","algorithm":"AES-128-CBC","key_derivation":"HKDF-SHA256"}}"#).unwrap();
        assert_eq!(l.rotation, Rotation::Time { seconds: 120.0 });
        assert_eq!(l.warnings.len(), 2);
        assert_eq!(l.config.stream_id.as_deref(), Some("ch1"));
        let off = p(r#"{"key_rotation":{"enabled":false}}"#).unwrap();
        assert_eq!(off.rotation, Rotation::None);
    }

    #[test]
    fn ctr_and_unknown_fields_are_refused_with_positions() {
        let e = p("{\"key_rotation\": {\"enabled\": true, \"interval_minutes\": 1,\n  \"algorithm\": \"AES-128-CTR\"}}")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("rot.json:2:16: \"algorithm\""), "{e}");
        let e = p("{\"key_rotation\": {\"enabled\": true, \"interval_minute\": 1}}")
            .unwrap_err()
            .to_string();
        assert!(e.contains("1:36: unknown field \"interval_minute\""), "{e}");
    }
}
