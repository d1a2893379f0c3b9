//! Exporting the keys a package uses, for key servers, packagers and players.
//!
//! Keys are re-derived from the keyring for exactly the (period, generation,
//! KID) triples the package's manifest lists; a KID that does not re-derive is
//! an error (the package was made with another keyring). Revoked keys are never
//! exported. Formats: key files (what an HLS key URI serves), FFmpeg key info
//! files, Shaka Packager's raw-key string, W3C Clear Key JSON and DASH-IF CPIX.

use std::fmt::Write as _;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use base64::Engine;
use zeroize::Zeroizing;

use super::agewrap::{self, Recipient};
use super::{Keyring, TrackType};
use crate::error::{Error, IoContext, Result};
use crate::manifest::{Manifest, SceneTag};

/// One key of a package.
pub struct ExportedKey {
    pub period: u64,
    pub generation: u32,
    pub kid: String,
    pub key: Zeroizing<[u8; 16]>,
    /// The scene of the period's first segment, when the package has a policy.
    pub scene: Option<SceneTag>,
    /// Under `--key-scope track-type`: the track type the key is for.
    pub track_type: Option<TrackType>,
}

/// The keys to export, and the (period, generation) pairs left out as revoked.
pub struct Collected {
    pub keys: Vec<ExportedKey>,
    pub revoked: Vec<(u64, u32)>,
}

fn show_periods(list: &[(u64, u32)]) -> String {
    let v: Vec<String> = list
        .iter()
        .map(|(p, g)| format!("{p} (generation {g})"))
        .collect();
    v.join(", ")
}

/// The keys `manifest` uses, optionally only periods `range` (inclusive),
/// without revoked ones. Asking only for revoked keys is an error.
pub fn collect(kr: &Keyring, manifest: &Manifest, range: Option<(u64, u64)>) -> Result<Collected> {
    if manifest
        .keyring_fingerprint
        .as_deref()
        .is_some_and(|f| f != kr.fingerprint())
    {
        return Err(Error::arg(
            format!(
                "the package was made with keyring {} but {} is {}",
                manifest.keyring_fingerprint.as_deref().unwrap_or("?"),
                kr.path.display(),
                kr.fingerprint()
            ),
            "pass the keyring the package was made with",
        ));
    }
    let state = kr.file.content(&manifest.content_id);
    let mut out = Collected {
        keys: Vec::new(),
        revoked: Vec::new(),
    };
    // Under `--key-scope track-type` each KID is one track type's: the
    // type of the renditions whose segments name it.
    let tracks: std::collections::BTreeMap<&str, TrackType> = manifest
        .renditions
        .iter()
        .filter(|_| !manifest.key_scope.is_period())
        .filter_map(|r| r.track_type.map(|t| (r, t)))
        .flat_map(|(r, t)| {
            r.segments
                .iter()
                .filter_map(move |s| Some((s.kid.as_deref()?, t)))
        })
        .collect();
    for (period, generation, kid) in manifest.key_periods() {
        if range.is_some_and(|(a, b)| period < a || period > b) {
            continue;
        }
        let track = tracks.get(kid.as_str()).copied();
        let derived = hex::encode(kr.scoped_kid(&manifest.content_id, generation, period, track));
        if derived != kid {
            let of_track = track
                .map(|t| format!(" track type {t}"))
                .unwrap_or_default();
            return Err(Error::arg(
                format!(
                    "KID {kid} of period {period}{of_track} does not derive from {}",
                    kr.path.display()
                ),
                "pass the keyring the package was made with",
            ));
        }
        if state.is_revoked(period, generation) {
            out.revoked.push((period, generation));
            continue;
        }
        let scene = manifest
            .segments()
            .find(|s| s.kid.as_deref() == Some(kid.as_str()))
            .and_then(|s| s.scene.clone());
        out.keys.push(ExportedKey {
            period,
            generation,
            kid,
            key: kr.scoped_content_key(&manifest.content_id, generation, period, track),
            scene,
            track_type: track,
        });
    }
    if out.keys.is_empty() {
        if !out.revoked.is_empty() {
            let what = match range {
                Some((a, b)) if a == b => {
                    format!("period {a} of {} is revoked", manifest.content_id)
                }
                Some((a, b)) => format!(
                    "every key of {} in periods {a}..{b} is revoked: {}",
                    manifest.content_id,
                    show_periods(&out.revoked)
                ),
                None => format!(
                    "every key of {} is revoked: {}",
                    manifest.content_id,
                    show_periods(&out.revoked)
                ),
            };
            return Err(Error::arg(
                what,
                format!(
                    "revoked keys are never exported; rotate (`shieldpack keys rotate {} --content-id {} --from-period N`), `shieldpack rekey` the package, and export again",
                    kr.path.display(),
                    manifest.content_id
                ),
            ));
        }
        let what = match range {
            Some((a, b)) => format!("the package uses no key in periods {a}..{b}"),
            None => "the package is not encrypted: it has no keys".into(),
        };
        return Err(Error::arg(
            what,
            "check --periods against `shieldpack inspect OUTDIR`",
        ));
    }
    Ok(out)
}

fn make_private_dir(dir: &Path, hint: &str) -> Result<()> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).at(dir)?;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).at(dir)?;
    } else if !dir.is_dir() {
        return Err(Error::invalid_file(dir, "exists and is not a folder", hint));
    }
    Ok(())
}

/// Writes `bytes` to `path` (0600, atomic) unless an identical file is there;
/// a different one is an error (never overwrite a key silently).
fn write_key_like(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Ok(existing) = std::fs::read(path) {
        let same = Zeroizing::new(existing);
        if same.as_slice() == bytes {
            return Ok(());
        }
        return Err(Error::AlreadyExists {
            path: path.to_path_buf(),
        });
    }
    crate::fsutil::write_private(path, bytes, false)
}

/// Writes one 16-byte `<kid>.key` file per key into `dir` (created 0700), each
/// 0600 and atomic. An existing file with the same bytes is left as is; one
/// with other bytes is an error.
pub fn write_key_files(keys: &[ExportedKey], dir: &Path) -> Result<()> {
    make_private_dir(dir, "give -o a folder path for key-files")?;
    for k in keys {
        write_key_like(&dir.join(format!("{}.key", k.kid)), k.key.as_slice())?;
    }
    Ok(())
}

/// Writes one `<kid>.key.age` per key into `dir`: each an age file (to
/// `recipients`) holding the 16-byte key, so no plaintext key touches the disk.
/// Refuses to replace existing files (age output is randomised, so an identical
/// rewrite cannot be recognised).
pub fn write_wrapped_key_files(
    keys: &[ExportedKey],
    dir: &Path,
    recipients: &[Recipient],
    armor: bool,
) -> Result<()> {
    make_private_dir(dir, "give -o a folder path for key-files")?;
    for k in keys {
        let wrapped = agewrap::wrap(k.key.as_slice(), recipients, armor)?;
        crate::fsutil::write_private(&dir.join(format!("{}.key.age", k.kid)), &wrapped, false)?;
    }
    Ok(())
}

/// The key URI a package's playlists name for a key (its template filled in).
pub fn key_uri(manifest: &Manifest, k: &ExportedKey) -> String {
    crate::manifest::key_uri(
        &manifest.key_uri_template,
        &k.kid,
        k.period,
        &manifest.content_id,
    )
}

/// Writes `period-<N>.keyinfo` files for FFmpeg's `-hls_key_info_file`, with
/// the `<kid>.key` files beside them. Returns the keyinfo paths.
///
/// No IV line: FFmpeg then uses the media sequence number as the IV, as
/// shieldpack's `--iv sequence` does; a keyinfo IV would be used for every
/// segment under the key, reusing one IV.
pub fn write_ffmpeg_keyinfo(
    keys: &[ExportedKey],
    manifest: &Manifest,
    dir: &Path,
) -> Result<Vec<PathBuf>> {
    write_key_files(keys, dir)?;
    let abs = std::fs::canonicalize(dir).at(dir)?;
    let mut out = Vec::new();
    for k in keys {
        let key_path = abs.join(format!("{}.key", k.kid));
        let text = format!("{}\n{}\n", key_uri(manifest, k), key_path.display());
        let path = match k.track_type {
            None => dir.join(format!("period-{}.keyinfo", k.period)),
            Some(t) => dir.join(format!("period-{}-{t}.keyinfo", k.period)),
        };
        crate::fsutil::write_atomic(&path, text.as_bytes(), 0o600, true)?;
        out.push(path);
    }
    Ok(out)
}

/// Shaka Packager's raw key string: `label=period<N>:key_id=<hex>:key=<hex>,...`,
/// for `packager --enable_raw_key_encryption --keys ...` (one label per period;
/// point each stream's drm_label at the period it packages).
pub fn render_shaka(keys: &[ExportedKey]) -> Zeroizing<String> {
    let mut s = Zeroizing::new(String::new());
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let track = k.track_type.map(|t| format!("_{t}")).unwrap_or_default();
        let _ = write!(
            s,
            "label=period{}{track}:key_id={}:key={}",
            k.period,
            k.kid,
            hex::encode(*k.key)
        );
    }
    s.push('\n');
    s
}

fn b64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// W3C Encrypted Media Extensions Clear Key license JSON (section 9.1.4): a JWK
/// set of `oct` keys, KIDs and keys base64url without padding.
pub fn render_clearkey(keys: &[ExportedKey]) -> Zeroizing<String> {
    let list: Vec<serde_json::Value> = keys
        .iter()
        .map(|k| {
            serde_json::json!({
                "kty": "oct",
                "kid": b64url(&hex::decode(&k.kid).expect("manifest KIDs are hex")),
                "k": b64url(k.key.as_slice()),
            })
        })
        .collect();
    let doc = serde_json::json!({ "keys": list, "type": "temporary" });
    let mut s = Zeroizing::new(serde_json::to_string_pretty(&doc).expect("serialisable"));
    s.push('\n');
    s
}

/// A 32-hex KID as the UUID string CPIX and DASH use (8-4-4-4-12).
pub fn kid_uuid(kid: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &kid[0..8],
        &kid[8..12],
        &kid[12..16],
        &kid[16..20],
        &kid[20..32]
    )
}

fn xml_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => o.push_str("&amp;"),
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&apos;"),
            c => o.push(c),
        }
    }
    o
}

/// DASH-IF CPIX 2.3: the keys in a ContentKeyList (kid as a UUID, key in
/// `Data/pskc:Secret/pskc:PlainValue`), one ContentKeyPeriod per key period
/// (`id="period-N"`, `index`), and one ContentKeyUsageRule per key tying it to
/// its period through a KeyPeriodFilter. A scene's label becomes the rule's
/// `intendedTrackType`, and its level and HDCP an XML comment beside it.
/// Under `--key-scope track-type` the rule's `intendedTrackType` is the
/// track type (AUDIO, SD, HD, UHD) and it carries the matching AudioFilter,
/// or VideoFilter with the type's pixel band (`TrackType::pixel_band`), so a
/// packager (and `package --cpix`) gives each rendition its key.
pub fn render_cpix(keys: &[ExportedKey], manifest: &Manifest) -> Zeroizing<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut s = Zeroizing::new(String::new());
    s.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        s,
        "<cpix:CPIX xmlns:cpix=\"urn:dashif:org:cpix\" xmlns:pskc=\"urn:ietf:params:xml:ns:keyprov:pskc\" contentId=\"{}\" version=\"2.3\">",
        xml_escape(&manifest.content_id)
    );
    s.push_str("  <cpix:ContentKeyList>\n");
    for k in keys {
        let _ = writeln!(
            s,
            "    <cpix:ContentKey kid=\"{}\">\n      <cpix:Data>\n        <pskc:Secret>\n          <pskc:PlainValue>{}</pskc:PlainValue>\n        </pskc:Secret>\n      </cpix:Data>\n    </cpix:ContentKey>",
            kid_uuid(&k.kid),
            b64.encode(k.key.as_slice())
        );
    }
    s.push_str("  </cpix:ContentKeyList>\n");
    s.push_str("  <cpix:ContentKeyPeriodList>\n");
    let mut periods: Vec<u64> = keys.iter().map(|k| k.period).collect();
    periods.dedup();
    for p in &periods {
        let _ = writeln!(
            s,
            "    <cpix:ContentKeyPeriod id=\"period-{p}\" index=\"{p}\"/>"
        );
    }
    s.push_str("  </cpix:ContentKeyPeriodList>\n");
    s.push_str("  <cpix:ContentKeyUsageRuleList>\n");
    for k in keys {
        let track = match &k.scene {
            Some(sc) => {
                let hdcp = match sc.hdcp.to_value() {
                    serde_json::Value::String(v) => v,
                    _ => "none".into(),
                };
                let _ = writeln!(
                    s,
                    "    <!-- scene {}: drm_level {}, hdcp {} -->",
                    xml_escape(&sc.label).replace("--", "- -"),
                    xml_escape(sc.drm_level.as_str()).replace("--", "- -"),
                    xml_escape(&hdcp).replace("--", "- -")
                );
                format!(" intendedTrackType=\"{}\"", xml_escape(&sc.label))
            }
            None => String::new(),
        };
        let (track, filter) = match k.track_type {
            None => (track, String::new()),
            Some(t) => (
                format!(" intendedTrackType=\"{t}\""),
                match t.pixel_band() {
                    None => "\n      <cpix:AudioFilter/>".to_string(),
                    Some((min, max)) => format!(
                        "\n      <cpix:VideoFilter minPixels=\"{min}\"{}/>",
                        max.map(|m| format!(" maxPixels=\"{m}\""))
                            .unwrap_or_default()
                    ),
                },
            ),
        };
        let _ = writeln!(
            s,
            "    <cpix:ContentKeyUsageRule kid=\"{}\"{track}>\n      <cpix:KeyPeriodFilter periodId=\"period-{}\"/>{filter}\n    </cpix:ContentKeyUsageRule>",
            kid_uuid(&k.kid),
            k.period
        );
    }
    s.push_str("  </cpix:ContentKeyUsageRuleList>\n");
    s.push_str("</cpix:CPIX>\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uuids_and_escapes() {
        assert_eq!(
            kid_uuid("00112233445566778899aabbccddeeff"),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert_eq!(xml_escape("a<&\"b"), "a&lt;&amp;&quot;b");
        assert_eq!(b64url(&[0xfb, 0xff]), "-_8");
    }
}
