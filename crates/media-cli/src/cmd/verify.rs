//! `shieldpack verify`: exit 0 for a sound package, 1 with the defects found.

use serde_json::json;

use shieldpack::cli::VerifyArgs;
use shieldpack::output::Printer;
use shieldpack::Status;
use shieldpack_package::verify::{self, Keys};

pub fn run(a: VerifyArgs, p: &Printer) -> anyhow::Result<Status> {
    // The keyring's metadata (generations, revocations) needs no identity; its
    // keys are used for decryption only when an identity is at hand and no
    // --keys folder was given.
    let keyring_file = match &a.keyring {
        Some(k) => Some(shieldpack_core::keys::KeyringFile::load(k)?),
        None => None,
    };
    let keyring = match (&a.keyring, &a.keys) {
        (Some(k), None) => {
            let ids = shieldpack_core::keys::identity_files(k, &a.identities.identities);
            if ids.is_empty() {
                p.info(format!(
                    "no identity for {}: checking key generations and revocations only",
                    k.display()
                ));
                None
            } else {
                Some(shieldpack::cmd::open_keyring(
                    k,
                    &a.identities.identities,
                    p,
                )?)
            }
        }
        _ => None,
    };
    let keys = match (&keyring, &a.keys) {
        (Some(kr), _) => Keys::Keyring(kr),
        (None, Some(d)) => {
            if !d.is_dir() {
                return Err(shieldpack_core::Error::invalid_file(
                    d,
                    "not a folder of key files",
                    "pass the folder `keys export --format key-files` wrote",
                )
                .into());
            }
            Keys::Dir(d.clone())
        }
        (None, None) => Keys::None,
    };
    let bar = p.progress(1, "verifying");
    let report = verify::verify_with(&a.outdir, &keys, keyring_file.as_ref(), &bar);
    bar.finish_and_clear();
    let report = report?;
    if p.json {
        p.json_value(&json!(report))?;
    } else {
        for d in &report.defects {
            p.defect(format!("{}: {}", d.file, d.message));
        }
        let decrypted = if matches!(keys, Keys::None) {
            " (no keys given: segments not decrypted)".to_string()
        } else {
            format!(
                ", {} decrypted and parsed ({} video frames)",
                report.segments_decrypted, report.video_frames
            )
        };
        if report.ok {
            p.ok(format!(
                "{}: {} playlists, {} segments{decrypted}",
                a.outdir.display(),
                report.playlists,
                report.segments
            ));
        } else {
            p.info(format!(
                "{}: {} defect(s) found",
                a.outdir.display(),
                report.defects.len()
            ));
        }
    }
    Ok(if report.ok {
        Status::Success
    } else {
        Status::Negative
    })
}
