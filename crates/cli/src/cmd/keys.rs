//! `shieldpack keys ...`: create, describe, re-wrap, rotate and revoke keyrings;
//! export package keys; age-encrypt and decrypt files like the `age` CLI.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{
    ExportFormat, KeysCommand, KeysExportArgs, KeysNewArgs, KeysRevokeArgs, KeysRewrapArgs,
    KeysRotateArgs, KeysShowArgs, KeysUnwrapArgs, KeysWrapArgs,
};
use crate::output::Printer;
use crate::Status;
use shieldpack_core::error::{Error, IoContext};
use shieldpack_core::keys::{self, agewrap};

pub fn run(c: KeysCommand, p: &Printer) -> anyhow::Result<Status> {
    match c {
        KeysCommand::New(a) => new(a, p),
        KeysCommand::Show(a) => show(a, p),
        KeysCommand::Export(a) => export(a, p),
        KeysCommand::Wrap(a) => wrap(a, p),
        KeysCommand::Unwrap(a) => unwrap(a, p),
        KeysCommand::Rewrap(a) => rewrap(a, p),
        KeysCommand::Rotate(a) => rotate(a, p),
        KeysCommand::Revoke(a) => revoke(a, p),
    }
}

fn is_dash(p: &Path) -> bool {
    p.as_os_str() == "-"
}

/// Where wrap/unwrap output goes: a file built beside its destination and
/// renamed into place only when whole, or standard output.
enum Sink {
    File {
        tmp: tempfile::NamedTempFile,
        path: PathBuf,
        force: bool,
    },
    Stdout(std::io::Stdout),
}

impl Sink {
    /// `binary`: whether the output may be binary (refused on a terminal unless
    /// `-o -` was given explicitly, as the age CLI does).
    fn open(
        output: Option<&Path>,
        mode: u32,
        force: bool,
        binary: bool,
        hint: &str,
    ) -> shieldpack_core::Result<Self> {
        match output {
            Some(p) if !is_dash(p) => {
                if p.exists() && !force {
                    return Err(Error::AlreadyExists { path: p.into() });
                }
                Ok(Sink::File {
                    tmp: shieldpack_core::fsutil::create_atomic(p, mode)?,
                    path: p.into(),
                    force,
                })
            }
            explicit => {
                let out = std::io::stdout();
                if binary && explicit.is_none() && out.is_terminal() {
                    return Err(Error::arg(
                        "refusing to write binary output to the terminal",
                        hint,
                    ));
                }
                Ok(Sink::Stdout(out))
            }
        }
    }

    fn name(&self) -> PathBuf {
        match self {
            Sink::File { path, .. } => path.clone(),
            Sink::Stdout(_) => PathBuf::from("<stdout>"),
        }
    }

    fn commit(self) -> shieldpack_core::Result<()> {
        match self {
            Sink::File { tmp, path, force } => {
                shieldpack_core::fsutil::commit_atomic(tmp, &path, force)
            }
            Sink::Stdout(mut o) => o.flush().at("<stdout>"),
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::File { tmp, .. } => tmp.as_file_mut().write(buf),
            Sink::Stdout(o) => o.write(buf),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::File { tmp, .. } => tmp.as_file_mut().flush(),
            Sink::Stdout(o) => o.flush(),
        }
    }
}

/// Opens INPUT (or standard input for `-`) as a buffered reader.
fn open_input(input: &Path) -> shieldpack_core::Result<(Box<dyn std::io::BufRead>, PathBuf)> {
    if is_dash(input) {
        return Ok((
            Box::new(std::io::BufReader::with_capacity(
                64 << 10,
                std::io::stdin(),
            )),
            PathBuf::from("<stdin>"),
        ));
    }
    let f = std::fs::File::open(input).map_err(|e| {
        Error::missing_or_io(
            input,
            e,
            "no such file",
            "check the path of the file to read",
        )
    })?;
    Ok((
        Box::new(std::io::BufReader::with_capacity(64 << 10, f)),
        input.to_path_buf(),
    ))
}

fn wrap(a: KeysWrapArgs, p: &Printer) -> anyhow::Result<Status> {
    let recipients = agewrap::collect_recipients(&a.recipients, &a.recipients_files)?;
    if !a.passphrase && recipients.is_empty() {
        return Err(Error::arg(
            "no recipient to encrypt to",
            "pass -r RECIPIENT, -R FILE, or -p to encrypt with a passphrase",
        )
        .into());
    }
    let (input, input_name) = open_input(&a.input)?;
    let sink = Sink::open(
        a.output.as_deref(),
        0o644,
        a.force,
        !a.armor,
        "pass -o FILE, or -a/--armor for text; -o - forces it",
    )?;
    let to = if a.passphrase {
        agewrap::WrapTo::Passphrase(agewrap::read_passphrase(true)?)
    } else {
        agewrap::WrapTo::Recipients(&recipients)
    };
    let out_name = sink.name();
    let sink = agewrap::wrap_stream(input, sink, to, a.armor, &input_name, &out_name)?;
    sink.commit()?;
    if let Some(o) = a.output.as_deref().filter(|o| !is_dash(o)) {
        p.detail(format!("wrote {}", o.display()));
    }
    Ok(Status::Success)
}

fn unwrap(a: KeysUnwrapArgs, p: &Printer) -> anyhow::Result<Status> {
    let files: Vec<PathBuf> = if !a.identities.is_empty() {
        a.identities.clone()
    } else {
        std::env::var_os("SHIELDPACK_IDENTITY")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .into_iter()
            .collect()
    };
    super::warn_unprotected(&files, p);
    let mut ids = Vec::new();
    for f in &files {
        ids.extend(agewrap::load_identities(f)?);
    }
    let (input, input_name) = open_input(&a.input)?;
    let mut sink = Sink::open(
        a.output.as_deref(),
        0o600,
        a.force,
        true,
        "pass -o FILE (created 0600), or -o - to print it anyway",
    )?;
    let out_name = sink.name();
    agewrap::unwrap_stream(
        input,
        &mut sink,
        &ids,
        || agewrap::read_passphrase(false),
        &input_name,
        &out_name,
    )?;
    sink.commit()?;
    if let Some(o) = a.output.as_deref().filter(|o| !is_dash(o)) {
        p.detail(format!("wrote {} (mode 0600)", o.display()));
    }
    Ok(Status::Success)
}

fn rewrap(a: KeysRewrapArgs, p: &Printer) -> anyhow::Result<Status> {
    let recipients = agewrap::collect_recipients(&a.recipients, &a.recipients_files)?;
    super::warn_unprotected(
        &keys::identity_files(&a.keyring, &a.identities.identities),
        p,
    );
    let file = keys::rewrap(&a.keyring, &a.identities.identities, &recipients)?;
    if p.json {
        p.json_value(&json!({
            "keyring": a.keyring,
            "fingerprint": file.fingerprint,
            "recipients": file.recipients,
        }))?;
    } else {
        p.info(format!(
            "re-wrapped {} ({}) to {} recipient(s); its keys are unchanged",
            a.keyring.display(),
            file.fingerprint,
            file.recipients.len()
        ));
        let beside = keys::identity_path_for(&a.keyring);
        if beside.is_file() {
            p.info(format!(
                "note: {} may no longer open it; remove it if it is not a recipient",
                beside.display()
            ));
        }
    }
    Ok(Status::Success)
}

fn rotate(a: KeysRotateArgs, p: &Printer) -> anyhow::Result<Status> {
    let (_, generation) = keys::rotate(&a.keyring, &a.content_id, a.from_period)?;
    if p.json {
        p.json_value(&json!({
            "keyring": a.keyring,
            "content_id": a.content_id,
            "generation": generation,
            "from_period": a.from_period,
        }))?;
    } else {
        p.info(format!(
            "{}: generation {generation} is in force from period {} on",
            a.content_id, a.from_period
        ));
        p.info(format!(
            "re-encrypt existing packages with `shieldpack rekey OUTDIR --keyring {}`, then export their keys again",
            a.keyring.display()
        ));
    }
    Ok(Status::Success)
}

fn revoke(a: KeysRevokeArgs, p: &Printer) -> anyhow::Result<Status> {
    let what = match (&a.periods, a.generation) {
        (Some(r), _) => {
            let (x, y) = shieldpack_core::timefmt::parse_range(r)?;
            keys::Revoke::Periods(x, y)
        }
        (None, Some(g)) => keys::Revoke::Generation(g),
        (None, None) => unreachable!("clap requires one"),
    };
    let (file, changed) = keys::revoke(&a.keyring, &a.content_id, what)?;
    let state = file.content(&a.content_id);
    if let keys::Revoke::Generation(g) = what {
        if state.generation_in_force(g) {
            p.warn(format!(
                "generation {g} is still in force for some periods of {}: they have no usable key until you `keys rotate` past them",
                a.content_id
            ));
        }
    }
    if p.json {
        p.json_value(&json!({
            "keyring": a.keyring,
            "content_id": a.content_id,
            "changed": changed,
            "revoked_periods": state.revoked_periods,
            "revoked_generations": state.revoked_generations,
        }))?;
    } else {
        let what = match what {
            keys::Revoke::Periods(x, y) if x == y => format!("period {x}"),
            keys::Revoke::Periods(x, y) => format!("periods {x}..{y}"),
            keys::Revoke::Generation(g) => format!("generation {g}"),
        };
        if changed {
            p.info(format!("{}: revoked {what}", a.content_id));
        } else {
            p.info(format!("{}: {what} was already revoked", a.content_id));
        }
    }
    Ok(Status::Success)
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
        let files = keys::identity_files(&a.keyring, &a.identities.identities);
        super::warn_unprotected(&files, p);
        let kr = file.clone().unlock(&a.keyring, &files)?;
        let mut v = json!({ "master": kr.reveal_master() });
        if let Some(cid) = &a.content_id {
            keys::check_content_id(cid)?;
            let (from, to) = shieldpack_core::timefmt::parse_range(&a.periods)?;
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
            "packaged": file.packaged,
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
            // Generation 0 from period 0 is implied until a rotation starts at period 0.
            let implied = (!c.generations.iter().any(|g| g.from_period == 0))
                .then(|| "0 from period 0".to_string());
            let gens: Vec<String> = implied
                .into_iter()
                .chain(
                    c.generations
                        .iter()
                        .map(|g| format!("{} from period {}", g.generation, g.from_period)),
                )
                .collect();
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
    if file.packaged.is_empty() {
        out += "packaged:    none recorded\n";
    } else {
        out += "packaged:\n";
        for (id, titles) in &file.packaged {
            for t in titles {
                out += &format!(
                    "  {id}: {} ({} bytes, {})\n",
                    t.source, t.size, t.fingerprint
                );
            }
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

fn format_name(f: ExportFormat) -> &'static str {
    match f {
        ExportFormat::KeyFiles => "key-files",
        ExportFormat::FfmpegKeyinfo => "ffmpeg-keyinfo",
        ExportFormat::Shaka => "shaka",
        ExportFormat::Clearkey => "clearkey",
        ExportFormat::Cpix => "cpix",
    }
}

fn export(a: KeysExportArgs, p: &Printer) -> anyhow::Result<Status> {
    let manifest = shieldpack_core::manifest::Manifest::load(&a.package)?;
    let range = a
        .periods
        .as_deref()
        .map(shieldpack_core::timefmt::parse_range)
        .transpose()?;
    let recipients = agewrap::collect_recipients(&a.recipients, &a.recipients_files)?;
    let wrapped = !recipients.is_empty();
    if wrapped && a.format == ExportFormat::FfmpegKeyinfo {
        return Err(Error::arg(
            "ffmpeg-keyinfo cannot be age-encrypted: FFmpeg reads the key file from disk",
            "export ffmpeg-keyinfo without -r/-R on the machine that runs FFmpeg, or use key-files -r",
        )
        .into());
    }
    if a.armor && !wrapped {
        return Err(Error::arg(
            "--armor only applies to an age-encrypted export",
            "add -r RECIPIENT or -R FILE, or drop --armor",
        )
        .into());
    }
    let to_stdout = is_dash(&a.output);
    if to_stdout
        && matches!(
            a.format,
            ExportFormat::KeyFiles | ExportFormat::FfmpegKeyinfo
        )
    {
        return Err(Error::arg(
            format!(
                "{} writes a folder, not standard output",
                format_name(a.format)
            ),
            "give -o a folder path",
        )
        .into());
    }
    let kr = super::open_keyring(&a.keyring, &a.identities.identities, p)?;
    let collected = keys::export::collect(&kr, &manifest, range)?;
    let exported = &collected.keys;
    if !collected.revoked.is_empty() {
        let list: Vec<String> = collected
            .revoked
            .iter()
            .map(|(pd, g)| format!("{pd} (generation {g})"))
            .collect();
        p.warn(format!(
            "left out revoked keys of period(s) {}",
            list.join(", ")
        ));
    }
    let text = match a.format {
        ExportFormat::KeyFiles => {
            if wrapped {
                keys::export::write_wrapped_key_files(exported, &a.output, &recipients, a.armor)?;
            } else {
                keys::export::write_key_files(exported, &a.output)?;
            }
            None
        }
        ExportFormat::FfmpegKeyinfo => {
            keys::export::write_ffmpeg_keyinfo(exported, &manifest, &a.output)?;
            None
        }
        ExportFormat::Shaka => Some(keys::export::render_shaka(exported)),
        ExportFormat::Clearkey => Some(keys::export::render_clearkey(exported)),
        ExportFormat::Cpix => Some(keys::export::render_cpix(exported, &manifest)),
    };
    if let Some(text) = text {
        let bytes = if wrapped {
            zeroize::Zeroizing::new(agewrap::wrap(text.as_bytes(), &recipients, a.armor)?)
        } else {
            zeroize::Zeroizing::new(text.as_bytes().to_vec())
        };
        if to_stdout {
            if wrapped && !a.armor && std::io::stdout().is_terminal() {
                return Err(Error::arg(
                    "refusing to write binary output to the terminal",
                    "pass -o FILE, or --armor for text",
                )
                .into());
            }
            let mut out = std::io::stdout().lock();
            out.write_all(&bytes)?;
            out.flush()?;
        } else {
            shieldpack_core::fsutil::write_private(&a.output, &bytes, false)?;
        }
    }
    if p.json && !to_stdout {
        p.json_value(&json!({
            "output": a.output,
            "format": format_name(a.format),
            "encrypted": wrapped,
            "content_id": manifest.content_id,
            "keys": exported.iter().map(|k| json!({"period": k.period, "generation": k.generation, "kid": k.kid})).collect::<Vec<_>>(),
            "revoked_left_out": collected.revoked.iter().map(|(pd, g)| json!({"period": pd, "generation": g})).collect::<Vec<_>>(),
        }))?;
    } else if !to_stdout {
        p.info(format!(
            "exported {} key(s) of {} as {}{} to {}",
            exported.len(),
            manifest.content_id,
            format_name(a.format),
            if wrapped { " (age-encrypted)" } else { "" },
            a.output.display()
        ));
    }
    Ok(Status::Success)
}
