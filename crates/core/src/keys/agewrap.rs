//! age glue: parse recipients and identity files the way the `age` CLI does, and
//! wrap or unwrap bytes or streams (recipients or a scrypt passphrase). Everything
//! here goes through the `age` crate, so what we write the `age` CLI reads and
//! the other way round.

use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use age::armor::{ArmoredReader, ArmoredWriter, Format};

use crate::error::{Error, IoContext, Result};

/// A recipient as typed: its text form and the parsed value.
pub struct Recipient {
    pub text: String,
    inner: Box<dyn age::Recipient + Send>,
}

impl Recipient {
    pub fn parse(s: &str) -> Result<Self> {
        let text = s.trim().to_string();
        let err = |reason: String| Error::Recipient {
            value: text.clone(),
            reason,
        };
        let inner: Box<dyn age::Recipient + Send> = if text.starts_with("age1") {
            Box::new(age::x25519::Recipient::from_str(&text).map_err(|e| err(e.to_string()))?)
        } else if text.starts_with("ssh-") {
            Box::new(age::ssh::Recipient::from_str(&text).map_err(|e| err(format!("{e:?}")))?)
        } else {
            return Err(err("not an age or SSH public key".into()));
        };
        Ok(Recipient { text, inner })
    }

    /// The recipients listed in a file: one per line, `#` comments and blank lines skipped.
    pub fn from_file(path: &Path) -> Result<Vec<Self>> {
        let text = std::fs::read_to_string(path).at(path)?;
        let mut out = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            out.push(Recipient::parse(line).map_err(|e| match e {
                Error::Recipient { value, reason } => Error::invalid_file(
                    path,
                    format!("line {}: invalid recipient '{value}': {reason}", n + 1),
                    "each line must be an age recipient (age1...) or an SSH public key",
                ),
                other => other,
            })?);
        }
        if out.is_empty() {
            return Err(Error::invalid_file(
                path,
                "contains no recipients",
                "list one recipient per line (age1... or ssh-ed25519 ...); `age-keygen -y IDENTITY` prints one",
            ));
        }
        Ok(out)
    }
}

/// Collects `-r` and `-R` arguments into one list, in the order given.
pub fn collect_recipients(recipients: &[String], files: &[PathBuf]) -> Result<Vec<Recipient>> {
    let mut out = Vec::new();
    for r in recipients {
        out.push(Recipient::parse(r)?);
    }
    for f in files {
        out.extend(Recipient::from_file(f)?);
    }
    Ok(out)
}

/// The identities in one file: an age identity file or an OpenSSH private key.
pub fn load_identities(path: &Path) -> Result<Vec<Box<dyn age::Identity>>> {
    let bytes = std::fs::read(path).at(path)?;
    let err = |reason: &str| Error::IdentityFile {
        path: path.to_path_buf(),
        reason: reason.to_string(),
    };
    let text = String::from_utf8_lossy(&bytes);
    if text.contains("-----BEGIN OPENSSH PRIVATE KEY-----")
        || text.contains("-----BEGIN RSA PRIVATE KEY-----")
    {
        let id = age::ssh::Identity::from_buffer(&bytes[..], Some(path.display().to_string()))
            .map_err(|e| err(&e.to_string()))?;
        return match id {
            age::ssh::Identity::Unencrypted(_) => Ok(vec![Box::new(id)]),
            age::ssh::Identity::Encrypted(_) => Err(err(
                "the SSH key is passphrase-protected, which is not supported",
            )),
            age::ssh::Identity::Unsupported(k) => {
                Err(err(&format!("unsupported SSH key type: {k:?}")))
            }
        };
    }
    let file = age::IdentityFile::from_buffer(BufReader::new(&bytes[..]))
        .map_err(|e| err(&e.to_string()))?;
    let ids = file.into_identities().map_err(|e| err(&e.to_string()))?;
    if ids.is_empty() {
        return Err(err("no identity found in it"));
    }
    Ok(ids)
}

/// Whom a wrap is for: recipients (X25519 or SSH keys) or a passphrase (scrypt).
/// age does not mix the two in one file.
pub enum WrapTo<'a> {
    Recipients(&'a [Recipient]),
    Passphrase(age::secrecy::SecretString),
}

/// Encrypts everything `input` yields into `output`, armored or binary, in
/// constant memory. Read errors are reported against `input_name`, write errors
/// against `output_name`.
pub fn wrap_stream<R: Read, W: Write>(
    mut input: R,
    output: W,
    to: WrapTo<'_>,
    armor: bool,
    input_name: &Path,
    output_name: &Path,
) -> Result<W> {
    let enc = match to {
        WrapTo::Recipients(rs) => {
            if rs.is_empty() {
                return Err(Error::arg(
                    "no recipient to encrypt to",
                    "pass -r RECIPIENT, -R FILE or -p for a passphrase",
                ));
            }
            age::Encryptor::with_recipients(
                rs.iter().map(|r| r.inner.as_ref() as &dyn age::Recipient),
            )
            .map_err(|e| {
                Error::arg(
                    format!("cannot encrypt to these recipients: {e}"),
                    "check the recipient list",
                )
            })?
        }
        WrapTo::Passphrase(p) => age::Encryptor::with_user_passphrase(p),
    };
    let fmt = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let armored = ArmoredWriter::wrap_output(output, fmt).at(output_name)?;
    let mut w = enc.wrap_output(armored).at(output_name)?;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::io(input_name, e)),
        };
        w.write_all(&buf[..n]).at(output_name)?;
    }
    w.finish().and_then(|a| a.finish()).at(output_name)
}

/// Decrypts the age file `input` (armored or binary, detected) into `output`
/// with any of `identities`; a passphrase-encrypted file asks `passphrase` for
/// its passphrase instead. Errors name `input_name` and say how to fix them.
pub fn unwrap_stream<R: BufRead, W: Write>(
    input: R,
    output: &mut W,
    identities: &[Box<dyn age::Identity>],
    passphrase: impl FnOnce() -> Result<age::secrecy::SecretString>,
    input_name: &Path,
    output_name: &Path,
) -> Result<()> {
    let malformed = |reason: String| {
        Error::invalid_file(
            input_name,
            format!("not a readable age file ({reason})"),
            "pass a file written by `age`, `shieldpack keys wrap` or `keys export -r`",
        )
    };
    let dec = age::Decryptor::new_buffered(ArmoredReader::new(input)).map_err(|e| match e {
        // A short or non-age header reads as an I/O error inside the age crate.
        age::DecryptError::Io(io)
            if !matches!(
                io.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::InvalidData
            ) =>
        {
            Error::io(input_name, io)
        }
        age::DecryptError::Io(io) => malformed(io.to_string()),
        other => malformed(other.to_string()),
    })?;
    let mut reader = if dec.is_scrypt() {
        let id = age::scrypt::Identity::new(passphrase()?);
        dec.decrypt(std::iter::once(&id as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                    Error::invalid_file(
                        input_name,
                        "the passphrase does not decrypt it",
                        "check the passphrase (SHIELDPACK_PASSPHRASE, or type it again)",
                    )
                }
                age::DecryptError::ExcessiveWork { required, .. } => Error::invalid_file(
                    input_name,
                    format!("its passphrase work factor 2^{required} is too expensive to try"),
                    "ask whoever encrypted it to use a smaller scrypt work factor",
                ),
                other => malformed(other.to_string()),
            })?
    } else {
        if identities.is_empty() {
            return Err(Error::arg(
                format!(
                    "{}: encrypted to recipients, and no identity was given",
                    input_name.display()
                ),
                "pass -i FILE (an age identity file or SSH private key), or set SHIELDPACK_IDENTITY",
            ));
        }
        dec.decrypt(identities.iter().map(|i| i.as_ref()))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => Error::invalid_file(
                    input_name,
                    "none of the identities given can decrypt it",
                    "pass the identity it was encrypted to with -i FILE",
                ),
                other => malformed(other.to_string()),
            })?
    };
    // Decrypting and writing interleave: a damaged chunk late in the file is
    // only found after earlier chunks were written, so callers write to a
    // temporary file and keep it only on success.
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(malformed(e.to_string())),
        };
        output.write_all(&buf[..n]).at(output_name)?;
    }
    output.flush().at(output_name)?;
    Ok(())
}

/// The passphrase for a wrap or unwrap: the `SHIELDPACK_PASSPHRASE` environment
/// variable when set (for scripts), else typed at the terminal (twice when
/// `confirm`, for encryption).
pub fn read_passphrase(confirm: bool) -> Result<age::secrecy::SecretString> {
    use zeroize::Zeroizing;
    if let Some(v) = std::env::var_os("SHIELDPACK_PASSPHRASE").filter(|v| !v.is_empty()) {
        let s = v.into_string().map_err(|_| {
            Error::arg(
                "SHIELDPACK_PASSPHRASE is not valid UTF-8",
                "set it to a UTF-8 passphrase",
            )
        })?;
        return Ok(s.into());
    }
    let no_tty = |e: std::io::Error| {
        Error::arg(
            format!("cannot read a passphrase from the terminal ({e})"),
            "type it at a terminal, or set SHIELDPACK_PASSPHRASE in scripts",
        )
    };
    let first = Zeroizing::new(rpassword::prompt_password("Enter passphrase: ").map_err(no_tty)?);
    if first.is_empty() {
        return Err(Error::arg(
            "the passphrase is empty",
            "type a passphrase (a long one: it is the only protection)",
        ));
    }
    if confirm {
        let again =
            Zeroizing::new(rpassword::prompt_password("Confirm passphrase: ").map_err(no_tty)?);
        if *again != *first {
            return Err(Error::arg(
                "the passphrases do not match",
                "run the command again and type the same passphrase twice",
            ));
        }
    }
    Ok(first.as_str().to_owned().into())
}

/// Encrypts `plain` to `recipients`, armored or binary.
pub fn wrap(plain: &[u8], recipients: &[Recipient], armor: bool) -> Result<Vec<u8>> {
    let enc = age::Encryptor::with_recipients(
        recipients
            .iter()
            .map(|r| r.inner.as_ref() as &dyn age::Recipient),
    )
    .map_err(|e| {
        Error::arg(
            format!("cannot encrypt to these recipients: {e}"),
            "check the recipient list",
        )
    })?;
    let mut out = Vec::new();
    let fmt = if armor {
        Format::AsciiArmor
    } else {
        Format::Binary
    };
    let armored =
        ArmoredWriter::wrap_output(&mut out, fmt).map_err(|e| Error::io("<memory>", e))?;
    let mut w = enc
        .wrap_output(armored)
        .map_err(|e| Error::io("<memory>", e))?;
    w.write_all(plain).map_err(|e| Error::io("<memory>", e))?;
    w.finish()
        .and_then(|a| a.finish())
        .map_err(|e| Error::io("<memory>", e))?;
    Ok(out)
}

/// Why an unwrap failed, for the caller to turn into a message about its file.
pub enum UnwrapError {
    NoMatchingKeys,
    Malformed(String),
}

/// Decrypts an age file (armored or binary) with any of `identities`.
pub fn unwrap(
    data: &[u8],
    identities: &[Box<dyn age::Identity>],
) -> std::result::Result<Vec<u8>, UnwrapError> {
    let dec = age::Decryptor::new(ArmoredReader::new(data))
        .map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    if dec.is_scrypt() {
        return Err(UnwrapError::Malformed("it is passphrase-encrypted".into()));
    }
    let mut r = dec
        .decrypt(identities.iter().map(|i| i.as_ref()))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys => UnwrapError::NoMatchingKeys,
            other => UnwrapError::Malformed(other.to_string()),
        })?;
    let mut out = Vec::new();
    r.read_to_end(&mut out)
        .map_err(|e| UnwrapError::Malformed(e.to_string()))?;
    Ok(out)
}
