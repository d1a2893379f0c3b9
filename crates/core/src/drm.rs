//! DRM signalling: what tells a player which DRM systems can license a
//! package's keys, and where to ask.
//!
//! For each system named with `--drm`: the `pssh` box of the init segments
//! (ISO/IEC 23001-7 section 8.1), the DASH `ContentProtection` element
//! (ISO/IEC 23009-1 5.8.4.1, DASH-IF IOP 4.3 section 7) and the HLS
//! `EXT-X-KEY` attribute list with `KEYFORMAT`/`KEYFORMATVERSIONS`
//! (RFC 8216 4.3.2.4). The system-specific payloads:
//!
//! - Widevine: `WidevinePsshData` (protobuf) with the KIDs, provider and
//!   content id, as Shaka Packager writes it; HLS `KEYFORMAT` is the system
//!   id URN and `URI` a `data:` URI of the whole `pssh` box.
//! - PlayReady: a PlayReady Object holding a `WRMHEADER` version 4.3.0.0
//!   (UTF-16LE XML; KIDs base64 of the GUID byte order; `LA_URL` from
//!   `--license-url playready=URL`), in the `pssh` box, in `mspr:pro` and
//!   in a `data:` URI for HLS (`KEYFORMAT="com.microsoft.playready"`).
//! - Clear Key: the W3C common `pssh` (version 1, KIDs in the box, no data;
//!   W3C "Common SystemID and PSSH Box Format"); DASH `ContentProtection`
//!   `urn:uuid:e2719d58-...` with `dashif:laurl` and `clearkey:Laurl` (DASH-IF
//!   IOP 4.3 7.6.2.4); HLS `KEYFORMAT="identity"` naming the key file, which
//!   is how Shaka Packager writes raw keys and how Shaka Player turns a
//!   `SAMPLE-AES(-CTR)` playlist into a Clear Key session.
//! - FairPlay: no `pssh` and no DASH; HLS `METHOD=SAMPLE-AES` with an
//!   `skd://` URI (from a template with `{kid}` and `{content_id}`),
//!   `KEYFORMAT="com.apple.streamingkeydelivery"`, `KEYFORMATVERSIONS="1"`.
//!
//! Nothing here knows a content key: everything written is public.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use base64::Engine;

use crate::error::{Error, Result};

/// A DRM system that `--drm` can signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DrmSystem {
    ClearKey,
    Widevine,
    PlayReady,
    FairPlay,
}

/// Options every system's signalling may use.
#[derive(Debug, Clone, Default)]
pub struct DrmOptions {
    /// License server per system (`--license-url SYSTEM=URL`).
    pub license_urls: BTreeMap<DrmSystem, String>,
    /// The package's content id: Widevine's `content_id`, FairPlay's
    /// `{content_id}`.
    pub content_id: String,
    /// Widevine's `provider` field (Shaka Packager's `--provider`); left out
    /// when None.
    pub provider: Option<String>,
    /// The common encryption scheme four-character code (`cenc`, `cbcs`):
    /// Widevine's `protection_scheme` and PlayReady's `ALGID`. None for
    /// `cenc`'s defaults.
    pub scheme: Option<[u8; 4]>,
    /// FairPlay's key URI template, `skd://...` with `{kid}` and
    /// `{content_id}` placeholders.
    pub skd_template: Option<String>,
}

const WIDEVINE_ID: [u8; 16] = hex16("edef8ba979d64acea3c827dcd51d21ed");
const PLAYREADY_ID: [u8; 16] = hex16("9a04f07998404286ab92e65be0885f95");
const COMMON_ID: [u8; 16] = hex16("1077efecc0b24d02ace33c1e52e2fb4b");
const FAIRPLAY_ID: [u8; 16] = hex16("94ce86fb07ff4f43adb893d2fa968ca2");
/// DASH-IF's identifier for Clear Key in a `ContentProtection` element (DASH-IF
/// IOP 4.3 7.6.2.4); the `pssh` box uses the W3C common system id instead.
const CLEARKEY_DASH_ID: [u8; 16] = hex16("e2719d58a985b3c9781ab030af78d30e");

const fn hex16(s: &str) -> [u8; 16] {
    const fn nib(c: u8) -> u8 {
        match c {
            b'0'..=b'9' => c - b'0',
            b'a'..=b'f' => c - b'a' + 10,
            _ => panic!("lower-case hex"),
        }
    }
    let b = s.as_bytes();
    let mut out = [0u8; 16];
    let mut i = 0;
    while i < 16 {
        out[i] = nib(b[2 * i]) << 4 | nib(b[2 * i + 1]);
        i += 1;
    }
    out
}

impl DrmSystem {
    pub const ALL: [DrmSystem; 4] = [
        DrmSystem::ClearKey,
        DrmSystem::Widevine,
        DrmSystem::PlayReady,
        DrmSystem::FairPlay,
    ];

    /// The system id of its `pssh` boxes (the W3C common id for Clear Key).
    pub fn system_id(self) -> [u8; 16] {
        match self {
            DrmSystem::ClearKey => COMMON_ID,
            DrmSystem::Widevine => WIDEVINE_ID,
            DrmSystem::PlayReady => PLAYREADY_ID,
            DrmSystem::FairPlay => FAIRPLAY_ID,
        }
    }

    /// The system whose DASH `ContentProtection` has `schemeIdUri` (as
    /// [`dash_content_protection`] writes it: `urn:uuid:` and the id in
    /// lower case), if any.
    pub fn from_dash_scheme(scheme_id_uri: &str) -> Option<DrmSystem> {
        let id = scheme_id_uri.strip_prefix("urn:uuid:")?;
        [
            (CLEARKEY_DASH_ID, DrmSystem::ClearKey),
            (WIDEVINE_ID, DrmSystem::Widevine),
            (PLAYREADY_ID, DrmSystem::PlayReady),
        ]
        .into_iter()
        .find(|(i, _)| uuid(i) == id)
        .map(|(_, s)| s)
    }

    /// The HLS `KEYFORMAT` of the system's own `EXT-X-KEY` lines (Clear
    /// Key's is `identity`, the package's key line itself).
    pub fn hls_keyformat(self) -> String {
        match self {
            DrmSystem::ClearKey => "identity".into(),
            DrmSystem::Widevine => format!("urn:uuid:{}", uuid(&WIDEVINE_ID)),
            DrmSystem::PlayReady => "com.microsoft.playready".into(),
            DrmSystem::FairPlay => "com.apple.streamingkeydelivery".into(),
        }
    }

    /// The name `--drm` and `--license-url` use.
    pub fn name(self) -> &'static str {
        match self {
            DrmSystem::ClearKey => "clearkey",
            DrmSystem::Widevine => "widevine",
            DrmSystem::PlayReady => "playready",
            DrmSystem::FairPlay => "fairplay",
        }
    }

    /// Parses a `--drm` name (case-insensitive).
    pub fn parse(s: &str) -> Result<DrmSystem> {
        let l = s.trim().to_ascii_lowercase();
        DrmSystem::ALL
            .into_iter()
            .find(|d| d.name() == l)
            .ok_or_else(|| {
                Error::arg(
                    format!("unknown DRM system '{s}'"),
                    "name one or more of clearkey, widevine, playready, fairplay, e.g. --drm widevine,playready",
                )
            })
    }

    /// Parses a comma-separated `--drm` list; duplicates are dropped.
    pub fn parse_list(s: &str) -> Result<Vec<DrmSystem>> {
        let mut out = Vec::new();
        for part in s.split(',').filter(|p| !p.trim().is_empty()) {
            let d = DrmSystem::parse(part)?;
            if !out.contains(&d) {
                out.push(d);
            }
        }
        if out.is_empty() {
            return Err(Error::arg(
                "--drm names no DRM system",
                "name one or more of clearkey, widevine, playready, fairplay",
            ));
        }
        Ok(out)
    }
}

/// A 16-byte id as a lower-case UUID string (8-4-4-4-12).
pub fn uuid(id: &[u8; 16]) -> String {
    let h = hex::encode(id);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `pssh` box (ISO/IEC 23001-7 8.1.1): version 1 lists `kids` in the box
/// itself, version 0 leaves them to `data`.
pub fn raw_pssh(system_id: [u8; 16], version: u8, kids: &[[u8; 16]], data: &[u8]) -> Vec<u8> {
    let mut body = Vec::with_capacity(32 + kids.len() * 16 + data.len());
    body.push(version);
    body.extend_from_slice(&[0, 0, 0]);
    body.extend_from_slice(&system_id);
    if version > 0 {
        body.extend_from_slice(&(kids.len() as u32).to_be_bytes());
        for k in kids {
            body.extend_from_slice(k);
        }
    }
    body.extend_from_slice(&(data.len() as u32).to_be_bytes());
    body.extend_from_slice(data);
    let mut b = Vec::with_capacity(8 + body.len());
    b.extend_from_slice(&((8 + body.len()) as u32).to_be_bytes());
    b.extend_from_slice(b"pssh");
    b.extend_from_slice(&body);
    b
}

/// The whole `pssh` box `system` puts in init segments for `kids`; None for
/// FairPlay, which signals only in the HLS playlist.
pub fn pssh_box(system: DrmSystem, kids: &[[u8; 16]], opts: &DrmOptions) -> Option<Vec<u8>> {
    match system {
        DrmSystem::ClearKey => Some(raw_pssh(COMMON_ID, 1, kids, &[])),
        // Version 0 with the KIDs in the protobuf, as Shaka Packager writes
        // Widevine boxes (older CDMs read only version 0).
        DrmSystem::Widevine => Some(raw_pssh(
            WIDEVINE_ID,
            0,
            &[],
            &widevine_pssh_data(kids, opts),
        )),
        DrmSystem::PlayReady => Some(raw_pssh(
            PLAYREADY_ID,
            0,
            &[],
            &playready_object(kids, opts),
        )),
        DrmSystem::FairPlay => None,
    }
}

/// The `pssh` box for `system` and `kids`, preferring one a DRM provider
/// sent in its CPIX document (`DRMSystem/PSSH` for this system and one of
/// `kids`), as Shaka Packager does with a key server's PSSH: the license
/// server may need its own data in it. A provided box that is not a `pssh`
/// box of this system is passed over for the generated one.
pub fn pssh_for(
    system: DrmSystem,
    kids: &[[u8; 16]],
    opts: &DrmOptions,
    provided: &[crate::keys::cpix::DrmSystemData],
) -> Option<Vec<u8>> {
    let id = system.system_id();
    let theirs = provided
        .iter()
        .filter(|d| d.system_id == id && kids.contains(&d.kid))
        .filter_map(|d| d.pssh.as_ref())
        .find(|b| {
            b.len() >= 32
                && u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize == b.len()
                && &b[4..8] == b"pssh"
                && b[12..28] == id
        });
    match theirs {
        Some(b) => Some(b.clone()),
        None => pssh_box(system, kids, opts),
    }
}

/// The FairPlay `skd://` URI for `kid`: the provider's `URIExtXKey` from its
/// CPIX when it gave one for this KID, else the `--license-url fairplay=`
/// template filled in.
pub fn fairplay_uri(
    kid: &[u8; 16],
    opts: &DrmOptions,
    provided: &[crate::keys::cpix::DrmSystemData],
) -> Option<String> {
    provided
        .iter()
        .find(|d| d.system_id == FAIRPLAY_ID && d.kid == *kid)
        .and_then(|d| d.uri_ext_x_key.clone())
        .filter(|u| u.starts_with("skd://") && !u.contains('"'))
        .or_else(|| {
            opts.skd_template
                .as_deref()
                .map(|t| skd_uri(t, kid, &opts.content_id))
        })
}

// --- What a package records -------------------------------------------

/// What `manifest.json` records of a package's `--drm` signalling, for
/// `rekey` to rebuild it ([`from_record`]). `cpix_pssh`: some `pssh` box is
/// a provider's from its CPIX document.
pub fn record(
    systems: &[DrmSystem],
    opts: &DrmOptions,
    cpix_pssh: bool,
) -> crate::manifest::DrmRecord {
    crate::manifest::DrmRecord {
        systems: systems.iter().map(|s| s.name().to_string()).collect(),
        license_urls: opts
            .license_urls
            .iter()
            .map(|(s, u)| (s.name().to_string(), u.clone()))
            .collect(),
        cpix_pssh,
    }
}

/// The systems and options a package's signalling was built with, from what
/// its manifest records ([`record`]), its content id and its `encryption`
/// (`cenc`, `cbcs`, `sample-aes`): what packaging gave `pssh_box`,
/// `dash_content_protection` and `hls_key_attrs`. `path` names the manifest
/// in errors.
pub fn from_record(
    rec: &crate::manifest::DrmRecord,
    content_id: &str,
    encryption: &str,
    path: &std::path::Path,
) -> Result<(Vec<DrmSystem>, DrmOptions)> {
    let bad = |what: String| {
        Error::invalid_file(
            path,
            what,
            "manifest.json's \"drm\" is written by `shieldpack package --drm`; package the title again",
        )
    };
    let mut systems = Vec::with_capacity(rec.systems.len());
    for n in &rec.systems {
        let s = DrmSystem::parse(n)
            .map_err(|_| bad(format!("\"drm\" names an unknown DRM system '{n}'")))?;
        if !systems.contains(&s) {
            systems.push(s);
        }
    }
    let mut opts = DrmOptions {
        content_id: content_id.to_string(),
        // As `package` sets it: cbcs is named, cenc is the systems' default.
        scheme: (encryption == "cbcs" || encryption == "sample-aes").then_some(*b"cbcs"),
        ..Default::default()
    };
    for (n, u) in &rec.license_urls {
        add_license_url(&mut opts, &format!("{n}={u}")).map_err(|e| {
            bad(format!(
                "\"drm\" has a license URL that does not parse: {e}"
            ))
        })?;
    }
    Ok((systems, opts))
}

/// The system id and KIDs of a `pssh` box as shieldpack writes them: those
/// listed in a version 1 box, else (version 0) those in Widevine's protobuf
/// or PlayReady's `WRMHEADER`. None for a box that is not one, or whose data
/// does not parse; an empty list for another system's version 0 box.
pub fn pssh_kids(b: &[u8]) -> Option<([u8; 16], Vec<[u8; 16]>)> {
    let mut r = Bytes(b);
    let size = r.u32()? as usize;
    if size != b.len() || r.take(4)? != b"pssh" {
        return None;
    }
    let version = r.take(4)?[0];
    let id: [u8; 16] = r.take(16)?.try_into().ok()?;
    let mut kids = Vec::new();
    if version > 0 {
        let n = r.u32()? as usize;
        // Each KID takes 16 of the bytes left: a count beyond them is a lie.
        if n > r.0.len() / 16 {
            return None;
        }
        for _ in 0..n {
            kids.push(r.take(16)?.try_into().ok()?);
        }
    }
    let len = r.u32()? as usize;
    let data = r.take(len)?;
    if !r.0.is_empty() {
        return None;
    }
    if version == 0 {
        kids = match id {
            WIDEVINE_ID => widevine_kids(data)?,
            PLAYREADY_ID => playready_kids(data)?,
            _ => Vec::new(),
        };
    }
    Some((id, kids))
}

/// A cursor over bytes that fails instead of reading past the end.
struct Bytes<'a>(&'a [u8]);

impl<'a> Bytes<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if n > self.0.len() {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_be_bytes(self.take(4)?.try_into().ok()?))
    }
    fn varint(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.take(1)?[0];
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                return Some(v);
            }
        }
        None
    }
}

/// The `key_id` fields (2) of `WidevinePsshData`, skipping the others.
fn widevine_kids(data: &[u8]) -> Option<Vec<[u8; 16]>> {
    let mut r = Bytes(data);
    let mut kids = Vec::new();
    while !r.0.is_empty() {
        let tag = r.varint()?;
        match tag & 7 {
            0 => {
                r.varint()?;
            }
            2 => {
                let n = usize::try_from(r.varint()?).ok()?;
                let v = r.take(n)?;
                if tag >> 3 == 2 {
                    kids.push(v.try_into().ok()?);
                }
            }
            _ => return None,
        }
    }
    Some(kids)
}

/// The KIDs of a PlayReady Object's `WRMHEADER` (4.0's `KID` element or
/// 4.1+'s `KID VALUE` attributes), back from GUID byte order.
fn playready_kids(data: &[u8]) -> Option<Vec<[u8; 16]>> {
    let mut r = Bytes(data);
    let total = u32::from_le_bytes(r.take(4)?.try_into().ok()?) as usize;
    if total != data.len() {
        return None;
    }
    let count = u16::from_le_bytes(r.take(2)?.try_into().ok()?);
    for _ in 0..count {
        let kind = u16::from_le_bytes(r.take(2)?.try_into().ok()?);
        let len = u16::from_le_bytes(r.take(2)?.try_into().ok()?) as usize;
        let rec = r.take(len)?;
        if kind != 1 || !len.is_multiple_of(2) {
            continue;
        }
        let units: Vec<u16> = rec
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        let xml = String::from_utf16(&units).ok()?;
        let doc = roxmltree::Document::parse(&xml).ok()?;
        let mut kids = Vec::new();
        for n in doc.descendants().filter(|n| n.has_tag_name("KID")) {
            let v = n.attribute("VALUE").or_else(|| n.text())?;
            let g: [u8; 16] = base64::engine::general_purpose::STANDARD
                .decode(v.trim())
                .ok()?
                .try_into()
                .ok()?;
            kids.push(guid_bytes(&g));
        }
        return Some(kids);
    }
    None
}

// --- Widevine ------------------------------------------------------------

/// Appends a protobuf base-128 varint.
fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// A length-delimited protobuf field (wire type 2).
fn pb_bytes(out: &mut Vec<u8>, field: u64, bytes: &[u8]) {
    varint(out, field << 3 | 2);
    varint(out, bytes.len() as u64);
    out.extend_from_slice(bytes);
}

/// `WidevinePsshData` (Widevine's `widevine_pssh.proto`): `key_id` (2,
/// repeated bytes), `provider` (3, string), `content_id` (4, bytes),
/// `protection_scheme` (9, uint32 four-cc, big-endian), the fields Shaka
/// Packager's Widevine PSSH generator fills.
///
/// Encoded by hand rather than with prost: four fields of two wire types do
/// not warrant a proc-macro dependency and a schema file, and the tests read
/// the result back with pywidevine's protobuf parser, an independent decoder.
pub fn widevine_pssh_data(kids: &[[u8; 16]], opts: &DrmOptions) -> Vec<u8> {
    let mut out = Vec::new();
    for k in kids {
        pb_bytes(&mut out, 2, k);
    }
    if let Some(p) = &opts.provider {
        pb_bytes(&mut out, 3, p.as_bytes());
    }
    if !opts.content_id.is_empty() {
        pb_bytes(&mut out, 4, opts.content_id.as_bytes());
    }
    if let Some(s) = opts.scheme {
        varint(&mut out, 9 << 3);
        varint(&mut out, u64::from(u32::from_be_bytes(s)));
    }
    out
}

// --- PlayReady -----------------------------------------------------------

/// A KID in the byte order of a Microsoft GUID: the first three fields
/// little-endian, as PlayReady headers carry KIDs (PlayReady Header
/// Specification, "KID").
pub fn guid_bytes(kid: &[u8; 16]) -> [u8; 16] {
    let mut g = *kid;
    g[0..4].reverse();
    g[4..6].reverse();
    g[6..8].reverse();
    g
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

/// The `WRMHEADER` version 4.3.0.0 XML (PlayReady Header Specification 4.3):
/// every KID with its `ALGID` (`AESCTR` for cenc, `AESCBC` for cbcs), and
/// `LA_URL` when a PlayReady license URL is given. No `CHECKSUM`: it needs
/// the content key, which a header must not depend on here, and 4.3 makes it
/// optional.
pub fn wrm_header(kids: &[[u8; 16]], opts: &DrmOptions) -> String {
    let alg = if opts.scheme == Some(*b"cbcs") {
        "AESCBC"
    } else {
        "AESCTR"
    };
    let mut s = String::from(
        "<WRMHEADER xmlns=\"http://schemas.microsoft.com/DRM/2007/03/PlayReadyHeader\" version=\"4.3.0.0\"><DATA><PROTECTINFO><KIDS>",
    );
    for k in kids {
        let _ = write!(
            s,
            "<KID ALGID=\"{alg}\" VALUE=\"{}\"></KID>",
            b64(&guid_bytes(k))
        );
    }
    s.push_str("</KIDS></PROTECTINFO>");
    if let Some(url) = opts.license_urls.get(&DrmSystem::PlayReady) {
        let _ = write!(s, "<LA_URL>{}</LA_URL>", xml_escape(url));
    }
    s.push_str("</DATA></WRMHEADER>");
    s
}

/// A PlayReady Object (PlayReady Header Specification, "PlayReady Object"):
/// little-endian total length, record count 1, and one rights management
/// header record (type 1) holding the `WRMHEADER` in UTF-16LE.
pub fn playready_object(kids: &[[u8; 16]], opts: &DrmOptions) -> Vec<u8> {
    let xml: Vec<u8> = wrm_header(kids, opts)
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect();
    let total = 4 + 2 + 2 + 2 + xml.len();
    let mut o = Vec::with_capacity(total);
    o.extend_from_slice(&(total as u32).to_le_bytes());
    o.extend_from_slice(&1u16.to_le_bytes());
    o.extend_from_slice(&1u16.to_le_bytes());
    o.extend_from_slice(&(xml.len() as u16).to_le_bytes());
    o.extend_from_slice(&xml);
    o
}

// --- DASH ----------------------------------------------------------------

/// One DASH `ContentProtection` element for `system`, with
/// `cenc:default_KID`, the `pssh` box (`cenc:pssh`) when given, PlayReady's
/// `mspr:pro`, and the license URL (`dashif:laurl`; for Clear Key also the
/// older `clearkey:Laurl` that players still read). Each element declares
/// the namespaces it uses, so it stands alone wherever the MPD writer puts
/// it. FairPlay has no DASH signalling: an empty string.
pub fn dash_content_protection(
    system: DrmSystem,
    default_kid: &[u8; 16],
    pssh: Option<&[u8]>,
    opts: &DrmOptions,
) -> String {
    let (id, value) = match system {
        DrmSystem::ClearKey => (CLEARKEY_DASH_ID, "ClearKey1.0"),
        DrmSystem::Widevine => (WIDEVINE_ID, "Widevine"),
        DrmSystem::PlayReady => (PLAYREADY_ID, "MSPR 2.0"),
        DrmSystem::FairPlay => return String::new(),
    };
    let url = opts.license_urls.get(&system);
    let mut s = format!(
        "<ContentProtection xmlns:cenc=\"urn:mpeg:cenc:2013\"{}{} schemeIdUri=\"urn:uuid:{}\" value=\"{value}\" cenc:default_KID=\"{}\">",
        if system == DrmSystem::PlayReady {
            " xmlns:mspr=\"urn:microsoft:playready\""
        } else {
            ""
        },
        match (system, url) {
            (DrmSystem::ClearKey, Some(_)) => {
                " xmlns:dashif=\"https://dashif.org/CPS\" xmlns:clearkey=\"http://dashif.org/guidelines/clearKey\""
            }
            (_, Some(_)) => " xmlns:dashif=\"https://dashif.org/CPS\"",
            _ => "",
        },
        uuid(&id),
        uuid(default_kid),
    );
    // The Clear Key element names DASH-IF's id, not the common one in the
    // box, so the box would contradict it: players take KIDs from
    // default_KID and the init segment.
    if system != DrmSystem::ClearKey {
        if let Some(p) = pssh {
            let _ = write!(s, "<cenc:pssh>{}</cenc:pssh>", b64(p));
        }
    }
    if system == DrmSystem::PlayReady {
        let _ = write!(
            s,
            "<mspr:pro>{}</mspr:pro>",
            b64(&playready_object(&[*default_kid], opts))
        );
    }
    if let Some(u) = url {
        let u = xml_escape(u);
        let _ = write!(s, "<dashif:laurl>{u}</dashif:laurl>");
        if system == DrmSystem::ClearKey {
            let _ = write!(
                s,
                "<clearkey:Laurl Lic_type=\"EME-1.0\">{u}</clearkey:Laurl>"
            );
        }
    }
    s.push_str("</ContentProtection>");
    s
}

// --- HLS -----------------------------------------------------------------

/// Fills an `skd://` template's `{kid}` (32 hex) and `{content_id}`.
pub fn skd_uri(template: &str, kid: &[u8; 16], content_id: &str) -> String {
    template
        .replace("{kid}", &hex::encode(kid))
        .replace("{content_id}", content_id)
}

/// Checks a FairPlay `skd://` template before packaging.
pub fn check_skd_template(template: &str) -> Result<()> {
    if !template.starts_with("skd://") || template.len() <= "skd://".len() {
        return Err(Error::arg(
            format!("FairPlay key URI template '{template}' is not an skd:// URI"),
            "give --license-url fairplay=skd://HOST/{kid} (placeholders {kid} and {content_id}); FairPlay players pass the skd:// URI to the app's key server",
        ));
    }
    if template.contains('"') || template.chars().any(char::is_control) {
        return Err(Error::arg(
            format!("FairPlay key URI template '{template}' has a quote or control character, which an HLS quoted-string cannot carry"),
            "remove it from --license-url fairplay=...",
        ));
    }
    Ok(())
}

/// The attribute list of one `EXT-X-KEY` line (without the `#EXT-X-KEY:`)
/// that signals `system` for the key `kid`, or None where the system has no
/// HLS signalling for `method`.
///
/// `method` is the playlist's encryption method: `SAMPLE-AES` (TS
/// SAMPLE-AES, fMP4 cbcs) or `SAMPLE-AES-CTR` (fMP4 cenc). `AES-128` (whole
/// segments) is opened by the player itself with the key from `key_uri`, not
/// by a CDM: no DRM system applies, so None. FairPlay takes only
/// `SAMPLE-AES`. `key_uri` is the key file's URI, used by Clear Key's
/// `identity` line.
pub fn hls_key_attrs(
    system: DrmSystem,
    method: &str,
    kid: &[u8; 16],
    key_uri: &str,
    opts: &DrmOptions,
) -> Option<String> {
    if method != "SAMPLE-AES" && method != "SAMPLE-AES-CTR" {
        return None;
    }
    let keyid = format!("KEYID=0x{}", hex::encode(kid));
    Some(match system {
        DrmSystem::ClearKey => format!(
            "METHOD={method},URI=\"{key_uri}\",{keyid},KEYFORMAT=\"identity\",KEYFORMATVERSIONS=\"1\""
        ),
        DrmSystem::Widevine => {
            let pssh = pssh_box(system, &[*kid], opts)?;
            format!(
                "METHOD={method},URI=\"data:text/plain;base64,{}\",{keyid},KEYFORMAT=\"urn:uuid:{}\",KEYFORMATVERSIONS=\"1\"",
                b64(&pssh),
                uuid(&WIDEVINE_ID)
            )
        }
        DrmSystem::PlayReady => format!(
            "METHOD={method},URI=\"data:text/plain;charset=UTF-16;base64,{}\",{keyid},KEYFORMAT=\"com.microsoft.playready\",KEYFORMATVERSIONS=\"1\"",
            b64(&playready_object(&[*kid], opts))
        ),
        DrmSystem::FairPlay => {
            if method != "SAMPLE-AES" {
                return None;
            }
            let tpl = opts.skd_template.as_deref()?;
            format!(
                "METHOD=SAMPLE-AES,URI=\"{}\",KEYFORMAT=\"com.apple.streamingkeydelivery\",KEYFORMATVERSIONS=\"1\"",
                skd_uri(tpl, kid, &opts.content_id)
            )
        }
    })
}

/// Checks a `--drm` selection with its `--license-url`s: every URL names a
/// system in `systems`, FairPlay has an `skd://` template, and the scheme
/// (`method` as in [`hls_key_attrs`]) is one the systems can license.
/// `format` names the output format for the messages (`ts`, `cmaf`).
pub fn validate(
    systems: &[DrmSystem],
    opts: &DrmOptions,
    format: &str,
    method: &str,
) -> Result<()> {
    for (sys, url) in &opts.license_urls {
        if !systems.contains(sys) {
            return Err(Error::arg(
                format!(
                    "--license-url {}={url} names a system that --drm does not",
                    sys.name()
                ),
                format!("add {} to --drm, or drop that --license-url", sys.name()),
            ));
        }
        if *sys != DrmSystem::FairPlay
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(Error::arg(
                format!("--license-url {}={url} is not an http(s) URL", sys.name()),
                "give the license server's URL, e.g. --license-url widevine=https://license.example.com/wv",
            ));
        }
    }
    if systems.contains(&DrmSystem::FairPlay) {
        match &opts.skd_template {
            None => return Err(Error::arg(
                "--drm fairplay needs the skd:// key URI its players send to the key server",
                "add --license-url fairplay=skd://HOST/{kid} (placeholders {kid} and {content_id})",
            )),
            Some(t) => check_skd_template(t)?,
        }
    }
    if method == "AES-128" || method == "NONE" {
        let what = if method == "NONE" {
            "an unencrypted package (--clear)".to_string()
        } else {
            format!("--format {format} with AES-128 (whole segments encrypted)")
        };
        return Err(Error::arg(
            format!("--drm does not apply to {what}: DRM systems license sample encryption, which this package does not use"),
            "package with --format cmaf (cbcs or cenc) for Widevine, PlayReady and Clear Key, or --format ts --scheme sample-aes for FairPlay; AES-128 packages are opened with the key files (`shieldpack keys export --format key-files`)",
        ));
    }
    if method == "SAMPLE-AES" && format == "ts" {
        if let Some(s) = systems.iter().find(|s| **s != DrmSystem::FairPlay) {
            return Err(Error::arg(
                format!("--drm {} does not apply to --format ts --scheme sample-aes: only FairPlay licenses SAMPLE-AES in MPEG-TS", s.name()),
                "use --drm fairplay with ts, or --format cmaf for the other systems",
            ));
        }
    }
    if method == "SAMPLE-AES-CTR" && systems.contains(&DrmSystem::FairPlay) {
        return Err(Error::arg(
            "--drm fairplay does not apply to --scheme cenc: FairPlay licenses only cbcs (SAMPLE-AES)",
            "use --scheme cbcs, which every system named can license",
        ));
    }
    Ok(())
}

/// Parses one `--license-url SYSTEM=URL` into `opts` (FairPlay's goes to
/// `skd_template`). A second URL for one system is an error.
pub fn add_license_url(opts: &mut DrmOptions, arg: &str) -> Result<()> {
    let Some((sys, url)) = arg.split_once('=') else {
        return Err(Error::arg(
            format!("--license-url '{arg}' is not SYSTEM=URL"),
            "e.g. --license-url playready=https://license.example.com/pr",
        ));
    };
    let sys = DrmSystem::parse(sys)?;
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_control() || c == '"') {
        return Err(Error::arg(
            format!(
                "--license-url {}= has an empty URL or one with a quote or control character",
                sys.name()
            ),
            "give the license server's URL after the =",
        ));
    }
    if opts.license_urls.contains_key(&sys) {
        return Err(Error::arg(
            format!("--license-url gives {} twice", sys.name()),
            "give one license URL per system",
        ));
    }
    if sys == DrmSystem::FairPlay {
        opts.skd_template = Some(url.to_string());
    }
    opts.license_urls.insert(sys, url.to_string());
    Ok(())
}

#[cfg(test)]
mod tests;
