//! Keyrings (`KeyringFile::load`, then `unlock`, `rotate` and the content
//! queries on what was loaded) and age recipients and identity files
//! (`agewrap`): never panic on mutated or arbitrary bytes; errors say what.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use proptest::prelude::*;
use shieldpack_core::keys::agewrap::{self, Recipient};
use shieldpack_core::keys::{self, KeyringFile};

use crate::{config, mutate, mutate_str, mutation, nasty_number};

/// A keyring with two content ids, a rotation and a revocation, and the
/// identity that unlocks it; made once (age wrapping is the slow part).
struct Seed {
    _dir: tempfile::TempDir,
    keyring: Vec<u8>,
    identity: Vec<u8>,
    recipient: String,
}

fn seed() -> &'static Seed {
    static SEED: OnceLock<Seed> = OnceLock::new();
    SEED.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k.json");
        let created = keys::create(&path, vec![], &["title-1".into(), "title-2".into()]).unwrap();
        keys::rotate(&path, "title-1", 5).unwrap();
        keys::revoke(&path, "title-1", keys::Revoke::Periods(2, 3)).unwrap();
        keys::revoke(&path, "title-1", keys::Revoke::Generation(0)).unwrap();
        let identity = std::fs::read(created.identity_path.unwrap()).unwrap();
        let recipient = created.file.recipients[0].clone();
        Seed {
            keyring: std::fs::read(&path).unwrap(),
            identity,
            recipient,
            _dir: dir,
        }
    })
}

/// Loads `bytes` as a keyring; what loads is queried, unlocked and rotated.
fn check_keyring(dir: &Path, bytes: &[u8], period: u64) -> Result<(), TestCaseError> {
    let path = dir.join("k.json");
    std::fs::write(&path, bytes).unwrap();
    let file = match KeyringFile::load(&path) {
        Ok(f) => f,
        Err(e) => {
            let shown = e.to_string();
            prop_assert!(shown.contains("k.json"), "error names no file: {shown}");
            return Ok(());
        }
    };
    let ids: Vec<String> = file.contents.keys().cloned().collect();
    for id in &ids {
        let st = file.content(id);
        let g = st.generation_for(period);
        let _ = st.is_revoked(period, g);
        let _ = st.generation_in_force(g);
    }
    let id_path = dir.join("k.json.identity");
    std::fs::write(&id_path, &seed().identity).unwrap();
    if let Ok(ring) = file.unlock(&path, &[id_path]) {
        for id in &ids {
            let g = ring.generation_for(id, period);
            let _ = ring.kid(id, g, period);
            let _ = ring.iv(id, g, period, period);
        }
    }
    for id in ids.iter().take(1) {
        let _ = keys::rotate(&path, id, period);
    }
    Ok(())
}

fn check_identity(dir: &Path, bytes: &[u8]) -> Result<(), TestCaseError> {
    let path: PathBuf = dir.join("id.txt");
    std::fs::write(&path, bytes).unwrap();
    if let Err(e) = agewrap::load_identities(&path) {
        prop_assert!(!e.to_string().trim().is_empty());
    }
    if let Err(e) = Recipient::from_file(&path) {
        prop_assert!(!e.to_string().trim().is_empty());
    }
    Ok(())
}

#[test]
fn the_seed_loads_and_unlocks() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("k.json");
    std::fs::write(&path, &seed().keyring).unwrap();
    let id = dir.path().join("id");
    std::fs::write(&id, &seed().identity).unwrap();
    KeyringFile::load(&path)
        .unwrap()
        .unlock(&path, &[id])
        .unwrap();
    Recipient::parse(&seed().recipient).unwrap();
}

proptest! {
    #![proptest_config(config(128))]

    #[test]
    fn keyring_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..6), period in prop_oneof![Just(u64::MAX), Just(0u64), any::<u64>()]) {
        let dir = tempfile::tempdir().unwrap();
        check_keyring(dir.path(), &mutate(&seed().keyring, &ms), period)?;
    }

    #[test]
    fn keyring_numbers_replaced_never_panic(gen in nasty_number(), from in nasty_number(), rev in nasty_number(), period in any::<u64>()) {
        let dir = tempfile::tempdir().unwrap();
        let text = String::from_utf8(seed().keyring.clone()).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut v = v;
        let st = &mut v["contents"]["title-1"];
        let num = |s: &str| serde_json::from_str::<serde_json::Value>(s).unwrap_or(serde_json::Value::String(s.into()));
        st["generations"] = serde_json::json!([{"generation": num(&gen), "from_period": num(&from)}]);
        st["revoked_generations"] = serde_json::json!([num(&gen)]);
        st["revoked_periods"] = serde_json::json!([num(&rev), num(&from)]);
        check_keyring(dir.path(), v.to_string().as_bytes(), period)?;
    }

    #[test]
    fn keyring_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        check_keyring(dir.path(), &bytes, 0)?;
    }

    #[test]
    fn identity_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..6)) {
        let dir = tempfile::tempdir().unwrap();
        check_identity(dir.path(), &mutate(&seed().identity, &ms))?;
    }

    #[test]
    fn identity_arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let dir = tempfile::tempdir().unwrap();
        check_identity(dir.path(), &bytes)?;
    }

    #[test]
    fn recipient_mutated_never_panics(ms in proptest::collection::vec(mutation(), 1..6), text in "(age1|ssh-ed25519 |ssh-rsa )?[ -~]{0,80}") {
        for r in [mutate_str(&seed().recipient, &ms), text] {
            if let Err(e) = Recipient::parse(&r) {
                prop_assert!(!e.to_string().trim().is_empty());
            }
        }
    }
}
