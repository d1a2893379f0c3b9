//! `rekey` of SAMPLE-AES MPEG-TS packages: each segment is read whole
//! (segments are a few MB), checked against its manifest hash, its samples
//! decrypted with the old key and IV and encrypted with the new ones
//! (`crypto::sample_aes`), and written into the staged copy. Segments are
//! shared out among the workers; what is staged is swapped in as for
//! AES-128 packages.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::{damaged, Job};
use crate::crypto::sample_aes;
use crate::error::{IoContext, Result};
use crate::fsutil;
use crate::progress::Progress;

/// Re-encrypts every job's segment into `root` on `threads` workers; returns
/// each job's new SHA-256 by its index.
pub(super) fn reencrypt(
    dir: &Path,
    root: &Path,
    work: &[Job],
    threads: usize,
    check_hashes: bool,
    progress: &dyn Progress,
) -> Result<HashMap<usize, String>> {
    progress.set_length(work.iter().map(|j| j.size).sum::<u64>().max(1));
    let next = AtomicUsize::new(0);
    let done = AtomicU64::new(0);
    let hashes = Mutex::new(HashMap::new());
    std::thread::scope(|scope| -> Result<()> {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<()> {
                    loop {
                        crate::interrupt::check()?;
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(j) = work.get(i) else {
                            return Ok(());
                        };
                        let hash = one(dir, root, j, check_hashes)?;
                        hashes.lock().expect("no worker panics").insert(i, hash);
                        let d = done.fetch_add(j.size, Ordering::Relaxed) + j.size;
                        progress.set_position(d);
                    }
                })
            })
            .collect();
        for h in handles {
            if let Err(e) = h.join().expect("rekey workers do not panic") {
                // The others stop at their next segment.
                next.store(work.len(), Ordering::Relaxed);
                return Err(e);
            }
        }
        Ok(())
    })?;
    Ok(hashes.into_inner().expect("no worker panics"))
}

/// One segment: read, checked, moved to the new key, written; its new SHA-256.
fn one(dir: &Path, root: &Path, j: &Job, check: bool) -> Result<String> {
    let mut f = std::fs::File::open(&j.path).at(&j.path)?;
    let len = f.metadata().at(&j.path)?.len();
    if len != j.size {
        return Err(damaged(
            j,
            format!("its size is {len}, the manifest says {}", j.size),
        ));
    }
    let mut old = Vec::with_capacity(len as usize);
    std::io::Read::read_to_end(&mut f, &mut old).at(&j.path)?;
    if check && hex::encode(Sha256::digest(&old)) != j.sha256 {
        return Err(damaged(
            j,
            "its SHA-256 differs from the manifest's".to_string(),
        ));
    }
    let new = sample_aes::reencrypt_segment(&old, &j.old_key, &j.old_iv, &j.new_key, &j.new_iv)
        .map_err(|e| damaged(j, format!("it does not read as SAMPLE-AES MPEG-TS: {e}")))?;
    let dest = j.staged(dir, root);
    fsutil::write_file(&dest, &new)?;
    Ok(hex::encode(Sha256::digest(&new)))
}
