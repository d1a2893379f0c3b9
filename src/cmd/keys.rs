//! `shieldpack keys ...`: create and describe keyrings, export package keys.

use serde_json::json;

use crate::cli::{ExportFormat, KeysCommand, KeysExportArgs, KeysNewArgs, KeysShowArgs};
use crate::keys::{self, agewrap};
use crate::output::Printer;
use crate::Status;

pub fn run(c: KeysCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        KeysCommand::New(a) => new(a, p),
        KeysCommand::Show(a) => show(a, p),
        KeysCommand::Export(a) => export(a, p),
    }
}

fn new(a: KeysNewArgs, p: &Printer) -> anyhow::Result<Status> {
    let recipients = agewrap::collect_recipients(&a.recipients, &a.recipients_files)?;
    let created = keys::create(&a.output, recipients, &a.content_ids)?;
    if p.json {
        p.json_value(&json!({
            "keyring": a.output,
            "fingerprint": created.file.fingerprint,
            "recipients": created.file.recipients,
            "identity": created.identity_path,
        }))?;
    } else {
        p.info(format!(
            "created keyring {} ({})",
            a.output.display(),
            created.file.fingerprint
        ));
        match &created.identity_path {
            Some(id) => p.info(format!(
                "wrote its identity to {} (mode 0600): keep it safe, it opens the keyring",
                id.display()
            )),
            None => p.info(format!(
                "wrapped to {} recipient(s)",
                created.file.recipients.len()
            )),
        }
    }
    Ok(Status::Success)
}

fn show(a: KeysShowArgs, p: &Printer) -> anyhow::Result<Status> {
    let file = keys::KeyringFile::load(&a.keyring)?;
    let mut revealed = None;
    if a.reveal {
        let kr = file.clone().unlock(
            &a.keyring,
            &keys::identity_files(&a.keyring, &a.identities.identities),
        )?;
        let mut v = json!({ "master": kr.reveal_master() });
        if let Some(cid) = &a.content_id {
            keys::check_content_id(cid)?;
            let (from, to) = crate::timefmt::parse_range(&a.periods)?;
            let list: Vec<_> = (from..=to)
                .map(|period| {
                    let g = kr.generation_for(cid, period);
                    json!({
                        "period": period,
                        "generation": g,
                        "kid": hex::encode(kr.kid(cid, g, period)),
                        "key": hex::encode(*kr.content_key(cid, g, period)),
                    })
                })
                .collect();
            v["content_id"] = json!(cid);
            v["keys"] = json!(list);
        }
        revealed = Some(v);
    }
    if p.json {
        let mut doc = json!({
            "keyring": a.keyring,
            "format_version": file.version,
            "fingerprint": file.fingerprint,
            "recipients": file.recipients,
            "contents": file.contents,
        });
        if let Some(r) = revealed {
            doc["revealed"] = r;
        }
        p.json_value(&doc)?;
        return Ok(Status::Success);
    }
    let mut out = String::new();
    out += &format!("keyring:     {}\n", a.keyring.display());
    out += &format!("format:      shieldpack-keyring v{}\n", file.version);
    out += &format!("fingerprint: {}\n", file.fingerprint);
    out += "recipients:\n";
    for r in &file.recipients {
        out += &format!("  {r}\n");
    }
    if file.contents.is_empty() {
        out += "contents:    none registered (every content id starts at generation 0)\n";
    } else {
        out += "contents:\n";
        for (id, c) in &file.contents {
            let gens: Vec<String> = if c.generations.is_empty() {
                vec!["0 from period 0".into()]
            } else {
                c.generations
                    .iter()
                    .map(|g| format!("{} from period {}", g.generation, g.from_period))
                    .collect()
            };
            out += &format!("  {id}: generations [{}]", gens.join(", "));
            if !c.revoked_periods.is_empty() {
                out += &format!(", revoked periods {:?}", c.revoked_periods);
            }
            if !c.revoked_generations.is_empty() {
                out += &format!(", revoked generations {:?}", c.revoked_generations);
            }
            out.push('\n');
        }
    }
    if let Some(r) = revealed {
        out += &format!(
            "master:      {}\n",
            r["master"].as_str().unwrap_or_default()
        );
        if let Some(list) = r["keys"].as_array() {
            for k in list {
                out += &format!(
                    "  period {} gen {}: kid {} key {}\n",
                    k["period"],
                    k["generation"],
                    k["kid"].as_str().unwrap_or_default(),
                    k["key"].as_str().unwrap_or_default()
                );
            }
        }
    }
    p.data(out)?;
    Ok(Status::Success)
}

fn export(a: KeysExportArgs, p: &Printer) -> anyhow::Result<Status> {
    let manifest = crate::package::manifest::Manifest::load(&a.package)?;
    let range = a
        .periods
        .as_deref()
        .map(crate::timefmt::parse_range)
        .transpose()?;
    let kr = super::open_keyring(&a.keyring, &a.identities.identities)?;
    let exported = keys::export::collect(&kr, &manifest, range)?;
    match a.format {
        ExportFormat::KeyFiles => keys::export::write_key_files(&exported, &a.output)?,
    }
    if p.json {
        p.json_value(&json!({
            "output": a.output,
            "format": "key-files",
            "content_id": manifest.content_id,
            "keys": exported.iter().map(|k| json!({"period": k.period, "generation": k.generation, "kid": k.kid})).collect::<Vec<_>>(),
        }))?;
    } else {
        p.info(format!(
            "exported {} key(s) of {} to {}",
            exported.len(),
            manifest.content_id,
            a.output.display()
        ));
    }
    Ok(Status::Success)
}
