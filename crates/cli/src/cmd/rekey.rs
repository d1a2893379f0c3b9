//! `shieldpack rekey`: re-encrypt a package's out-of-date segments in place.

use serde_json::json;

use crate::cli::RekeyArgs;
use crate::output::Printer;
use crate::Status;

pub fn run(a: RekeyArgs, p: &Printer) -> anyhow::Result<Status> {
    let kr = super::open_keyring(&a.keyring, &a.identities.identities, p)?;
    let jobs = a.jobs.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get().min(2))
            .unwrap_or(1)
    });
    if jobs == 0 {
        return Err(shieldpack_core::Error::arg(
            "--jobs 0 is not a thread count",
            "give 1 or more",
        )
        .into());
    }
    let bar = p.progress(1, "rekeying");
    let started = std::time::Instant::now();
    let opts = shieldpack_core::rekey::Options {
        jobs,
        check_hashes: !a.no_hash_check,
    };
    let out = shieldpack_core::rekey::rekey(&a.outdir, &kr, opts, &bar);
    bar.finish_and_clear();
    let out = out?;
    let secs = started.elapsed().as_secs_f64();
    if out.revoked > 0 {
        p.warn(format!(
            "{} segment(s) are in revoked periods: there is no key to move them to, and verify will keep flagging them",
            out.revoked
        ));
    }
    if p.json {
        let mut v = json!(out);
        v["outdir"] = json!(a.outdir);
        v["seconds"] = json!(secs);
        p.json_value(&v)?;
    } else if out.rekeyed == 0 {
        p.info(format!(
            "{}: every segment already uses its current key; nothing changed",
            a.outdir.display()
        ));
    } else {
        p.ok(format!(
            "{}: re-encrypted {} segment(s) ({:.1} MB in {:.2}s, {:.0} MB/s) under {} new key(s); {} left as they were",
            a.outdir.display(),
            out.rekeyed,
            out.bytes as f64 / 1e6,
            secs,
            out.bytes as f64 / 1e6 / secs.max(1e-9),
            out.kids.len(),
            out.untouched
        ));
        p.info("export the new keys: `shieldpack keys export ... --package OUTDIR`");
    }
    Ok(Status::Success)
}
