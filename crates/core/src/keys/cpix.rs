//! Importing a DRM provider's CPIX 2.3 document (`package --cpix`): its
//! content keys and KIDs, the key period each is for, and the DRM system
//! data it carries, instead of keys derived from a keyring.
//!
//! Read: `ContentKeyList` (each `ContentKey` with `kid` and the key in
//! `Data/pskc:Secret/pskc:PlainValue`), `ContentKeyPeriodList` (each
//! `ContentKeyPeriod` with `id` and `index`), `ContentKeyUsageRuleList` (a
//! `ContentKeyUsageRule` ties a `kid` to a period through a
//! `KeyPeriodFilter periodId`) and `DRMSystemList` (per `kid` and
//! `systemId`: `PSSH`, `URIExtXKey`). That is what `keys export --format cpix`
//! writes, so export and import round-trip. Keys encrypted inside the document
//! (`pskc:EncryptedValue` with a DocumentKey) are refused with a hint: the
//! whole document age-wrapped is how shieldpack carries a CPIX safely.
//!
//! The document is untrusted: its size is capped before it is read, and so is
//! every count in it. Keys live in memory only (zeroized on drop); nothing of
//! the document is written to OUTDIR.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use super::agewrap::{self, UnwrapError};
use super::TrackType;
use crate::error::{Error, IoContext, Result};

/// The largest CPIX document read (plain or age-wrapped). Providers' CPIX
/// for a title with per-minute rotation over days stay far below this.
pub const MAX_CPIX_BYTES: u64 = 16 << 20;
/// The most content keys (and DRM system entries) read from one document.
pub const MAX_KEYS: usize = 100_000;

const CPIX_NS: &str = "urn:dashif:org:cpix";
const PSKC_NS: &str = "urn:ietf:params:xml:ns:keyprov:pskc";

/// One content key for one key period.
pub struct ProvidedKey {
    pub kid: [u8; 16],
    pub key: Zeroizing<[u8; 16]>,
}

/// DRM system data a CPIX carries for one key and one system.
#[derive(Debug, Clone)]
pub struct DrmSystemData {
    pub system_id: [u8; 16],
    pub kid: [u8; 16],
    /// A whole `pssh` box, for init segments and `cenc:pssh`.
    pub pssh: Option<Vec<u8>>,
    /// The `EXT-X-KEY` URI the provider wants (FairPlay's `skd://`, say).
    pub uri_ext_x_key: Option<String>,
}

/// The keys of a CPIX document, by key period.
pub struct CpixKeys {
    pub path: PathBuf,
    /// The document's `contentId`, when it has one.
    pub content_id: Option<String>,
    periods: BTreeMap<u64, ProvidedKey>,
    /// Keys whose usage rule names a track type (`intendedTrackType`, or an
    /// AudioFilter / VideoFilter): a period has one per track type, for
    /// `--key-scope track-type`.
    tracks: BTreeMap<(u64, TrackType), ProvidedKey>,
    pub drm: Vec<DrmSystemData>,
}

fn bad(path: &Path, what: impl Into<String>) -> Error {
    Error::invalid_file(
        path,
        format!("not a usable CPIX document: {}", what.into()),
        "pass a DASH-IF CPIX 2.3 document with ContentKey PlainValues (age-wrapped or plain), e.g. as `shieldpack keys export --format cpix` writes one",
    )
}

/// Parses a KID in CPIX's UUID form (hyphens optional).
fn parse_kid(path: &Path, s: &str) -> Result<[u8; 16]> {
    let hexs: String = s.trim().chars().filter(|c| *c != '-').collect();
    let v = hex::decode(&hexs)
        .ok()
        .filter(|v| v.len() == 16)
        .ok_or_else(|| bad(path, format!("kid '{s}' is not a UUID")))?;
    Ok(v.try_into().expect("16 bytes"))
}

impl CpixKeys {
    /// Reads `path`, opening it with `identity_files` when it is age-wrapped.
    pub fn load(path: &Path, identity_files: &[PathBuf]) -> Result<CpixKeys> {
        let f = std::fs::File::open(path).map_err(|e| {
            Error::missing_or_io(
                path,
                e,
                "no such CPIX file",
                "check the path given to --cpix",
            )
        })?;
        let mut raw = Zeroizing::new(Vec::new());
        f.take(MAX_CPIX_BYTES + 1).read_to_end(&mut raw).at(path)?;
        if raw.len() as u64 > MAX_CPIX_BYTES {
            return Err(bad(
                path,
                format!("larger than {} MiB", MAX_CPIX_BYTES >> 20),
            ));
        }
        let armored = raw.starts_with(b"-----BEGIN AGE ENCRYPTED FILE-----");
        let text = if armored || raw.starts_with(b"age-encryption.org/") {
            if identity_files.is_empty() {
                return Err(Error::invalid_file(
                    path,
                    "is age-encrypted and no identity was given to open it",
                    "pass -i FILE (the identity it was wrapped to) or set SHIELDPACK_IDENTITY",
                ));
            }
            let mut ids = Vec::new();
            for f in identity_files {
                ids.extend(agewrap::load_identities(f)?);
            }
            Zeroizing::new(agewrap::unwrap(&raw, &ids).map_err(|e| match e {
                UnwrapError::NoMatchingKeys => Error::invalid_file(
                    path,
                    "none of the identities given can open this age-encrypted CPIX",
                    "pass the identity it was wrapped to with -i FILE",
                ),
                UnwrapError::Malformed(r) => bad(path, format!("age: {r}")),
            })?)
        } else {
            raw
        };
        let text = std::str::from_utf8(&text).map_err(|_| bad(path, "not UTF-8 text"))?;
        CpixKeys::parse(path, text)
    }

    /// Parses the text of a CPIX document read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<CpixKeys> {
        let opts = roxmltree::ParsingOptions {
            // A CPIX has no business with a DTD; refusing it rules out
            // entity expansion.
            allow_dtd: false,
            nodes_limit: 4_000_000,
            ..Default::default()
        };
        let doc = roxmltree::Document::parse_with_options(text, opts).map_err(|e| {
            let p = e.pos();
            Error::at(
                path,
                p.row as usize,
                p.col as usize,
                format!("not well-formed XML: {e}"),
                "pass the CPIX document as the provider sent it",
            )
        })?;
        let root = doc.root_element();
        if root.tag_name().name() != "CPIX" || root.tag_name().namespace() != Some(CPIX_NS) {
            return Err(bad(
                path,
                format!("the root element is not cpix:CPIX ({CPIX_NS})"),
            ));
        }
        let is = |n: &roxmltree::Node, ns: &str, name: &str| {
            n.is_element() && n.tag_name().name() == name && n.tag_name().namespace() == Some(ns)
        };
        let list = |name: &str| root.children().find(|n| is(n, CPIX_NS, name));

        // Content keys.
        let mut keys: BTreeMap<[u8; 16], Zeroizing<[u8; 16]>> = BTreeMap::new();
        let b64 = base64::engine::general_purpose::STANDARD;
        for ck in list("ContentKeyList")
            .into_iter()
            .flat_map(|l| l.children().filter(|n| is(n, CPIX_NS, "ContentKey")))
        {
            if keys.len() >= MAX_KEYS {
                return Err(bad(path, format!("more than {MAX_KEYS} content keys")));
            }
            let kid_s = ck
                .attribute("kid")
                .ok_or_else(|| bad(path, "a ContentKey has no kid"))?;
            let kid = parse_kid(path, kid_s)?;
            let secret = ck
                .descendants()
                .find(|n| is(n, PSKC_NS, "Secret"))
                .ok_or_else(|| bad(path, format!("ContentKey {kid_s} has no Data/pskc:Secret")))?;
            if secret.children().any(|n| is(&n, PSKC_NS, "EncryptedValue")) {
                return Err(Error::invalid_file(
                    path,
                    format!("ContentKey {kid_s} is encrypted inside the document (pskc:EncryptedValue), which shieldpack does not read"),
                    "ask the provider for PlainValue keys and carry the whole document age-wrapped (`shieldpack keys wrap -r RECIPIENT`)",
                ));
            }
            let plain = secret
                .children()
                .find(|n| is(n, PSKC_NS, "PlainValue"))
                .and_then(|n| n.text())
                .ok_or_else(|| bad(path, format!("ContentKey {kid_s} has no pskc:PlainValue")))?;
            let clean: String = plain.chars().filter(|c| !c.is_whitespace()).collect();
            let bytes =
                Zeroizing::new(b64.decode(clean.as_bytes()).map_err(|_| {
                    bad(path, format!("the key of ContentKey {kid_s} is not base64"))
                })?);
            if bytes.len() != 16 {
                return Err(bad(
                    path,
                    format!(
                        "the key of ContentKey {kid_s} is {} bytes, not 16 (AES-128)",
                        bytes.len()
                    ),
                ));
            }
            let mut key = Zeroizing::new([0u8; 16]);
            key.copy_from_slice(&bytes);
            if keys.insert(kid, key).is_some() {
                return Err(bad(path, format!("ContentKey {kid_s} appears twice")));
            }
        }
        if keys.is_empty() {
            return Err(bad(path, "its ContentKeyList has no ContentKey"));
        }

        // Key periods: id -> index.
        let mut period_ids: BTreeMap<String, u64> = BTreeMap::new();
        for p in list("ContentKeyPeriodList")
            .into_iter()
            .flat_map(|l| l.children().filter(|n| is(n, CPIX_NS, "ContentKeyPeriod")))
        {
            if period_ids.len() >= MAX_KEYS {
                return Err(bad(path, format!("more than {MAX_KEYS} key periods")));
            }
            let id = p
                .attribute("id")
                .ok_or_else(|| bad(path, "a ContentKeyPeriod has no id"))?;
            let index = p.attribute("index").ok_or_else(|| {
                Error::invalid_file(
                    path,
                    format!("ContentKeyPeriod {id} has no index (periods given only by start and end times are not read)"),
                    "ask the provider for indexed periods (index=\"0\", \"1\", ...), one per shieldpack key period",
                )
            })?;
            let index: u64 = index.trim().parse().map_err(|_| {
                bad(
                    path,
                    format!("ContentKeyPeriod {id} index '{index}' is not a number"),
                )
            })?;
            if period_ids.insert(id.to_string(), index).is_some() {
                return Err(bad(path, format!("ContentKeyPeriod id {id} appears twice")));
            }
        }

        // Usage rules: period index (and track type) -> kid.
        let mut periods: BTreeMap<u64, ProvidedKey> = BTreeMap::new();
        let mut tracks: BTreeMap<(u64, TrackType), ProvidedKey> = BTreeMap::new();
        let rules: Vec<_> = list("ContentKeyUsageRuleList")
            .into_iter()
            .flat_map(|l| {
                l.children()
                    .filter(|n| is(n, CPIX_NS, "ContentKeyUsageRule"))
            })
            .collect();
        for r in &rules {
            let kid_s = r
                .attribute("kid")
                .ok_or_else(|| bad(path, "a ContentKeyUsageRule has no kid"))?;
            let kid = parse_kid(path, kid_s)?;
            let key = keys.get(&kid).ok_or_else(|| {
                bad(
                    path,
                    format!(
                        "ContentKeyUsageRule names kid {kid_s}, which is not in the ContentKeyList"
                    ),
                )
            })?;
            let filters: Vec<_> = r
                .children()
                .filter(|n| is(n, CPIX_NS, "KeyPeriodFilter"))
                .collect();
            if filters.is_empty() && !period_ids.is_empty() {
                return Err(bad(path, format!("ContentKeyUsageRule for {kid_s} has no KeyPeriodFilter although the document has periods")));
            }
            let track = rule_track_type(path, r, kid_s)?;
            for f in filters {
                let pid = f
                    .attribute("periodId")
                    .ok_or_else(|| bad(path, "a KeyPeriodFilter has no periodId"))?;
                let index = *period_ids.get(pid).ok_or_else(|| {
                    bad(path, format!("KeyPeriodFilter names period {pid}, which is not in the ContentKeyPeriodList"))
                })?;
                let pk = ProvidedKey {
                    kid,
                    key: key.clone(),
                };
                if let Some(t) = track {
                    if let Some(had) = tracks.insert((index, t), pk) {
                        if had.kid != kid {
                            return Err(Error::invalid_file(
                                path,
                                format!("key period {index} ({pid}) has two {t} keys: {} and {kid_s}", super::export::kid_uuid(&hex::encode(had.kid))),
                                "a period has one key per track type; ask the provider for one ContentKey per period and track type",
                            ));
                        }
                    }
                    continue;
                }
                if let Some(had) = periods.insert(index, pk) {
                    if had.kid != kid {
                        return Err(Error::invalid_file(
                            path,
                            format!("key period {index} ({pid}) has two keys: {} and {kid_s}", super::export::kid_uuid(&hex::encode(had.kid))),
                            "a key period has one key, or one per track type: give each rule an intendedTrackType (AUDIO, SD, HD, UHD) or an AudioFilter / VideoFilter, and package with --key-scope track-type",
                        ));
                    }
                }
            }
        }
        if periods.is_empty() && tracks.is_empty() {
            // No periods: one key for the whole title, as period 0.
            if keys.len() != 1 || !period_ids.is_empty() {
                return Err(Error::invalid_file(
                    path,
                    format!("has {} content keys but no ContentKeyUsageRule with a KeyPeriodFilter tying them to key periods", keys.len()),
                    "ask the provider for a ContentKeyPeriodList and usage rules (one key per period), or a document with a single key",
                ));
            }
            let (kid, key) = keys.iter().next().expect("one key");
            periods.insert(
                0,
                ProvidedKey {
                    kid: *kid,
                    key: key.clone(),
                },
            );
        }

        // DRM system data, for the signalling of the systems it names.
        let mut drm = Vec::new();
        for d in list("DRMSystemList")
            .into_iter()
            .flat_map(|l| l.children().filter(|n| is(n, CPIX_NS, "DRMSystem")))
        {
            if drm.len() >= MAX_KEYS {
                return Err(bad(path, format!("more than {MAX_KEYS} DRMSystem entries")));
            }
            let kid = parse_kid(path, d.attribute("kid").unwrap_or_default())?;
            let system_id = parse_kid(path, d.attribute("systemId").unwrap_or_default())?;
            let text_of = |name: &str| {
                d.children()
                    .find(|n| is(n, CPIX_NS, name))
                    .and_then(|n| n.text())
                    .map(|t| t.chars().filter(|c| !c.is_whitespace()).collect::<String>())
            };
            let pssh = match text_of("PSSH") {
                Some(t) => Some(
                    b64.decode(t.as_bytes())
                        .map_err(|_| bad(path, "a DRMSystem's PSSH is not base64"))?,
                ),
                None => None,
            };
            let uri_ext_x_key = match text_of("URIExtXKey") {
                Some(t) => Some(
                    String::from_utf8(
                        b64.decode(t.as_bytes())
                            .map_err(|_| bad(path, "a DRMSystem's URIExtXKey is not base64"))?,
                    )
                    .map_err(|_| bad(path, "a DRMSystem's URIExtXKey is not UTF-8"))?,
                ),
                None => None,
            };
            drm.push(DrmSystemData {
                system_id,
                kid,
                pssh,
                uri_ext_x_key,
            });
        }
        Ok(CpixKeys {
            path: path.to_path_buf(),
            content_id: root.attribute("contentId").map(str::to_string),
            periods,
            tracks,
            drm,
        })
    }

    /// The key of `period` for `track` (`--key-scope track-type`), or the
    /// period's key when `track` is None.
    pub fn scoped(&self, period: u64, track: Option<TrackType>) -> Option<&ProvidedKey> {
        match track {
            None => self.period(period),
            Some(t) => self.tracks.get(&(period, t)),
        }
    }

    /// Whether the document keys its periods by track type.
    pub fn has_track_types(&self) -> bool {
        !self.tracks.is_empty()
    }

    /// The key of period `period`.
    pub fn period(&self, period: u64) -> Option<&ProvidedKey> {
        self.periods.get(&period)
    }

    /// The key periods the document has keys for.
    pub fn period_indexes(&self) -> impl Iterator<Item = u64> + '_ {
        let mut all: Vec<u64> = self
            .periods
            .keys()
            .copied()
            .chain(self.tracks.keys().map(|(p, _)| *p))
            .collect();
        all.sort_unstable();
        all.dedup();
        all.into_iter()
    }

    /// A stable public name for this set of keys, recorded in the manifest
    /// where a keyring's fingerprint goes: `cpix:` and a hash of the KIDs
    /// (never of the keys).
    pub fn fingerprint(&self) -> String {
        let mut h = Sha256::new();
        for (p, k) in &self.periods {
            h.update(p.to_be_bytes());
            h.update(k.kid);
        }
        // Absent from documents without track types: their name is unchanged.
        for ((p, t), k) in &self.tracks {
            h.update(p.to_be_bytes());
            h.update(t.as_str());
            h.update(k.kid);
        }
        format!("cpix:{}", &hex::encode(h.finalize())[..16])
    }

    /// A secret that only the holder of these keys can compute, for the
    /// derivations that still run (explicit IVs): a hash of every key.
    pub(crate) fn secret(&self) -> Zeroizing<[u8; 32]> {
        let mut h = Sha256::new();
        h.update(b"shieldpack/cpix-secret");
        for (p, k) in &self.periods {
            h.update(p.to_be_bytes());
            h.update(k.kid);
            h.update(*k.key);
        }
        for ((p, t), k) in &self.tracks {
            h.update(p.to_be_bytes());
            h.update(t.as_str());
            h.update(k.kid);
            h.update(*k.key);
        }
        Zeroizing::new(h.finalize().into())
    }

    /// The error for a key period of the package that the document has no
    /// key for.
    pub fn missing_period(&self, period: u64) -> Error {
        Error::invalid_file(
            &self.path,
            format!(
                "has no key for key period {period} of the package (it has periods {})",
                show_ranges(self.period_indexes())
            ),
            "package with the rotation the CPIX was made for (--rotate-every / --rotate-segments / --policy), or ask the provider for a CPIX with a key for every period (`shieldpack package --clear` on the same flags shows how many periods the title has)",
        )
    }

    /// The error for a key period and track type of the package that the
    /// document has no key for (`--key-scope track-type`).
    pub fn missing_track(&self, period: u64, track: TrackType) -> Error {
        let has: Vec<String> = self
            .tracks
            .keys()
            .filter(|(p, _)| *p == period)
            .map(|(_, t)| t.to_string())
            .collect();
        Error::invalid_file(
            &self.path,
            format!(
                "has no {track} key for key period {period} of the package (it has {} there)",
                if has.is_empty() { "none".to_string() } else { has.join(", ") }
            ),
            "ask the provider for a key per period and track type the package has (AUDIO for alternate audio; SD up to 768x576 pixels, HD up to 1920x1080, UHD above), or check the renditions' sizes with `shieldpack inspect`",
        )
    }

    /// Checks that the package used exactly the document's key periods:
    /// keys left over mean the provider's periods and the package's differ.
    pub fn check_used(&self, used: &[u64]) -> Result<()> {
        let unused: Vec<u64> = self
            .period_indexes()
            .filter(|p| !used.contains(p))
            .collect();
        if unused.is_empty() {
            return Ok(());
        }
        Err(Error::invalid_file(
            &self.path,
            format!(
                "has keys for key periods {} that the package does not have (it has {} period(s): {}), so its periods do not match the package's",
                show_ranges(unused.iter().copied()),
                used.len(),
                show_ranges(used.iter().copied())
            ),
            "package with the rotation the CPIX was made for (--rotate-every / --rotate-segments / --policy), or ask the provider for a CPIX with exactly the package's periods",
        ))
    }
}

/// The track type a usage rule is for: its `intendedTrackType` when that
/// names one (AUDIO, SD, HD, UHD), else an AudioFilter (AUDIO) or a
/// VideoFilter's pixel band (by its largest picture: `maxPixels`, or just
/// above `minPixels` when open-ended); None for a rule with neither (a
/// period's single key). A scene label in `intendedTrackType` (as shieldpack
/// writes for policies) is not a track type and is ignored.
fn rule_track_type(path: &Path, rule: &roxmltree::Node, kid_s: &str) -> Result<Option<TrackType>> {
    if let Some(t) = rule
        .attribute("intendedTrackType")
        .and_then(TrackType::parse)
    {
        return Ok(Some(t));
    }
    let child = |name: &str| {
        rule.children().find(|n| {
            n.is_element()
                && n.tag_name().name() == name
                && n.tag_name().namespace() == Some(CPIX_NS)
        })
    };
    if child("AudioFilter").is_some() {
        return Ok(Some(TrackType::Audio));
    }
    let Some(v) = child("VideoFilter") else {
        return Ok(None);
    };
    let num = |a: &str| -> Result<Option<u64>> {
        v.attribute(a)
            .map(|x| {
                x.trim().parse::<u64>().map_err(|_| {
                    bad(
                        path,
                        format!(
                            "the VideoFilter of the rule for {kid_s} has {a}=\"{x}\", not a number"
                        ),
                    )
                })
            })
            .transpose()
    };
    let pixels = match (num("minPixels")?, num("maxPixels")?) {
        (_, Some(max)) => max,
        (Some(min), None) => min.saturating_add(1),
        (None, None) => {
            return Err(Error::invalid_file(
                path,
                format!("the VideoFilter of the rule for {kid_s} has no minPixels or maxPixels, so it names no track type"),
                "give the rule an intendedTrackType (SD, HD, UHD) or pixel bounds",
            ))
        }
    };
    Ok(Some(TrackType::of_video_pixels(pixels)))
}

/// `0..3, 7` for 0, 1, 2, 3, 7.
fn show_ranges(it: impl Iterator<Item = u64>) -> String {
    let mut v: Vec<u64> = it.collect();
    v.sort_unstable();
    v.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < v.len() {
        let mut j = i;
        while j + 1 < v.len() && v[j + 1] == v[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            v[i].to_string()
        } else {
            format!("{}..{}", v[i], v[j])
        });
        i = j + 1;
    }
    if out.is_empty() {
        "none".into()
    } else {
        out.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<cpix:CPIX xmlns:cpix="urn:dashif:org:cpix" xmlns:pskc="urn:ietf:params:xml:ns:keyprov:pskc" contentId="t1" version="2.3">
  <cpix:ContentKeyList>
    <cpix:ContentKey kid="00112233-4455-6677-8899-aabbccddeeff"><cpix:Data><pskc:Secret><pskc:PlainValue>AAECAwQFBgcICQoLDA0ODw==</pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>
    <cpix:ContentKey kid="ffeeddcc-bbaa-9988-7766-554433221100"><cpix:Data><pskc:Secret><pskc:PlainValue>
      EBESExQVFhcYGRobHB0eHw==
    </pskc:PlainValue></pskc:Secret></cpix:Data></cpix:ContentKey>
  </cpix:ContentKeyList>
  <cpix:DRMSystemList>
    <cpix:DRMSystem kid="00112233-4455-6677-8899-aabbccddeeff" systemId="94ce86fb-07ff-4f43-adb8-93d2fa968ca2"><cpix:URIExtXKey>c2tkOi8vazE=</cpix:URIExtXKey></cpix:DRMSystem>
  </cpix:DRMSystemList>
  <cpix:ContentKeyPeriodList>
    <cpix:ContentKeyPeriod id="a" index="0"/>
    <cpix:ContentKeyPeriod id="b" index="1"/>
  </cpix:ContentKeyPeriodList>
  <cpix:ContentKeyUsageRuleList>
    <cpix:ContentKeyUsageRule kid="ffeeddcc-bbaa-9988-7766-554433221100"><cpix:KeyPeriodFilter periodId="b"/></cpix:ContentKeyUsageRule>
    <cpix:ContentKeyUsageRule kid="00112233-4455-6677-8899-aabbccddeeff"><cpix:KeyPeriodFilter periodId="a"/></cpix:ContentKeyUsageRule>
  </cpix:ContentKeyUsageRuleList>
</cpix:CPIX>"#;

    fn p() -> &'static Path {
        Path::new("doc.cpix")
    }

    #[test]
    fn reads_keys_periods_and_drm_data() {
        let c = CpixKeys::parse(p(), DOC).unwrap();
        assert_eq!(c.content_id.as_deref(), Some("t1"));
        let k0 = c.period(0).unwrap();
        assert_eq!(hex::encode(k0.kid), "00112233445566778899aabbccddeeff");
        assert_eq!(hex::encode(*k0.key), "000102030405060708090a0b0c0d0e0f");
        let k1 = c.period(1).unwrap();
        assert_eq!(hex::encode(*k1.key), "101112131415161718191a1b1c1d1e1f");
        assert!(c.period(2).is_none());
        assert_eq!(c.drm.len(), 1);
        assert_eq!(c.drm[0].uri_ext_x_key.as_deref(), Some("skd://k1"));
        c.check_used(&[0, 1]).unwrap();
        let e = c.check_used(&[0]).unwrap_err();
        assert!(
            e.to_string()
                .contains("key periods 1 that the package does not have"),
            "{e}"
        );
        let e = c.missing_period(2);
        assert!(
            e.to_string()
                .contains("no key for key period 2 of the package (it has periods 0..1)"),
            "{e}"
        );
        assert!(c.fingerprint().starts_with("cpix:"));
    }

    #[test]
    fn usage_rules_with_track_types_give_a_period_a_key_per_type() {
        // Both keys in period a: the first by a VideoFilter band (HD), the
        // second by intendedTrackType (AUDIO).
        let doc = DOC
            .replace(
                "<cpix:KeyPeriodFilter periodId=\"a\"/>",
                "<cpix:KeyPeriodFilter periodId=\"a\"/><cpix:VideoFilter minPixels=\"442369\" maxPixels=\"2073600\"/>",
            )
            .replace(
                "kid=\"ffeeddcc-bbaa-9988-7766-554433221100\"><cpix:KeyPeriodFilter periodId=\"b\"/>",
                "kid=\"ffeeddcc-bbaa-9988-7766-554433221100\" intendedTrackType=\"AUDIO\"><cpix:KeyPeriodFilter periodId=\"a\"/>",
            );
        let c = CpixKeys::parse(p(), &doc).unwrap();
        assert!(c.has_track_types());
        assert!(c.period(0).is_none(), "no key for the whole period");
        let hd = c.scoped(0, Some(TrackType::Hd)).unwrap();
        assert_eq!(hex::encode(hd.kid), "00112233445566778899aabbccddeeff");
        let audio = c.scoped(0, Some(TrackType::Audio)).unwrap();
        assert_eq!(hex::encode(*audio.key), "101112131415161718191a1b1c1d1e1f");
        assert!(c.scoped(0, Some(TrackType::Sd)).is_none());
        let e = c.missing_track(0, TrackType::Sd);
        assert!(
            e.to_string()
                .contains("no SD key for key period 0 of the package (it has AUDIO, HD there)"),
            "{e}"
        );
        assert_ne!(
            c.fingerprint(),
            CpixKeys::parse(p(), DOC).unwrap().fingerprint()
        );
        // An open-ended band is UHD; a filter with no bounds names nothing.
        let uhd = doc
            .replace(" maxPixels=\"2073600\"", "")
            .replace("442369", "2073601");
        let c = CpixKeys::parse(p(), &uhd).unwrap();
        assert!(c.scoped(0, Some(TrackType::Uhd)).is_some());
        let e = CpixKeys::parse(
            p(),
            &doc.replace(" minPixels=\"442369\" maxPixels=\"2073600\"", ""),
        )
        .err()
        .unwrap();
        assert!(e.to_string().contains("names no track type"), "{e}");
    }

    #[test]
    fn bad_documents_say_what_is_wrong() {
        let cases = [
            (
                DOC.replace("AAECAwQFBgcICQoLDA0ODw==", "AAEC"),
                "is 3 bytes, not 16",
            ),
            (
                DOC.replace("periodId=\"b\"", "periodId=\"zz\""),
                "period zz, which is not in",
            ),
            (DOC.replace(" index=\"1\"", ""), "has no index"),
            (
                DOC.replace("urn:dashif:org:cpix\"", "urn:other\""),
                "root element is not cpix:CPIX",
            ),
            (
                DOC.replace("<cpix:ContentKeyList>", "<cpix:ContentKeyList"),
                "not well-formed XML",
            ),
            (
                DOC.replace(
                    "<pskc:PlainValue>AAECAwQFBgcICQoLDA0ODw==</pskc:PlainValue>",
                    "<pskc:EncryptedValue/>",
                ),
                "encrypted inside the document",
            ),
            (
                format!(
                    "<!DOCTYPE x [<!ENTITY a \"aaaa\">]>{}",
                    &DOC[DOC.find("<cpix:CPIX").unwrap()..]
                ),
                "not well-formed XML",
            ),
            (
                DOC.replace("periodId=\"b\"", "periodId=\"a\""),
                "key period 0 (a) has two keys",
            ),
        ];
        for (doc, want) in cases {
            let e = CpixKeys::parse(p(), &doc)
                .err()
                .unwrap_or_else(|| panic!("accepted: {want}"));
            assert!(e.to_string().contains(want), "{e} (wanted {want})");
            assert!(e.hint().is_some());
        }
        assert_eq!(show_ranges([0, 1, 2, 5, 7, 8].into_iter()), "0..2, 5, 7..8");
    }
}
