//! The package flags that name where keys and licenses come from: `--drm`
//! and `--license-url` (checked against the format and scheme), and
//! `--cpix` (a provider's keys instead of a keyring's).

use std::path::{Path, PathBuf};

use shieldpack::cli::PackageFlags;
use shieldpack::output::Printer;
use shieldpack_core::drm::{self, DrmOptions, DrmSystem};
use shieldpack_core::keys::{self, cpix::CpixKeys, Keyring};

/// `--drm` and `--license-url`, parsed and checked for the package's format
/// and scheme: whole-segment AES-128 and clear packages, which no DRM system
/// licenses, refuse any `--drm` with a hint; cmaf cbcs signals as HLS
/// `SAMPLE-AES`, cenc as `SAMPLE-AES-CTR` (where FairPlay is refused).
pub fn options(
    f: &PackageFlags,
    content_id: &str,
) -> shieldpack_core::Result<(Vec<DrmSystem>, DrmOptions)> {
    let mut o = DrmOptions {
        content_id: content_id.to_string(),
        ..Default::default()
    };
    for u in &f.license_url {
        drm::add_license_url(&mut o, u)?;
    }
    let Some(list) = &f.drm else {
        if let Some(first) = o.license_urls.keys().next() {
            return Err(shieldpack_core::Error::arg(
                format!("--license-url {}=... is given without --drm", first.name()),
                format!("add --drm {}, or drop --license-url", first.name()),
            ));
        }
        return Ok((Vec::new(), o));
    };
    let systems = DrmSystem::parse_list(list)?;
    use shieldpack::cli::{Format as CliFormat, Scheme as CliScheme};
    let (format, default) = match f.format {
        CliFormat::Ts => ("ts", CliScheme::Aes128),
        CliFormat::Cmaf => ("cmaf", CliScheme::Cbcs),
    };
    let method = match (f.clear, f.scheme.unwrap_or(default)) {
        (true, _) => "NONE",
        (_, CliScheme::Aes128) => "AES-128",
        (_, CliScheme::SampleAes | CliScheme::Cbcs) => "SAMPLE-AES",
        (_, CliScheme::Cenc) => "SAMPLE-AES-CTR",
    };
    // Widevine's protection_scheme and PlayReady's ALGID name cbcs; cenc is
    // their default.
    if method == "SAMPLE-AES" {
        o.scheme = Some(*b"cbcs");
    }
    drm::validate(&systems, &o, format, method)?;
    Ok((systems, o))
}

/// Opens `--cpix FILE` (age-wrapped ones with the identities given, else
/// `SHIELDPACK_IDENTITY`, else `FILE.identity`) as a keyring of the
/// provider's keys.
pub fn open_cpix(path: &Path, identities: &[PathBuf], p: &Printer) -> anyhow::Result<Keyring> {
    let files = keys::identity_files(path, identities);
    shieldpack::cmd::warn_unprotected(&files, p);
    Ok(Keyring::from_cpix(CpixKeys::load(path, &files)?))
}
