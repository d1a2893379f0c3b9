//! RFC 8216 section 4.2 attribute lists: `NAME=VALUE,...` where a value is a
//! quoted string, a hexadecimal sequence, a decimal, or an enumerated string.

/// Splits an attribute list into (name, raw value) pairs; quoted values keep
/// their quotes so callers can tell quoted-string from enumerated-string.
pub fn parse(list: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        let eq = rest
            .find('=')
            .ok_or_else(|| format!("attribute without '=': '{rest}'"))?;
        let name = &rest[..eq];
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!("bad attribute name '{name}'"));
        }
        rest = &rest[eq + 1..];
        let value_len = if let Some(stripped) = rest.strip_prefix('"') {
            let close = stripped
                .find('"')
                .ok_or_else(|| format!("unterminated quoted string for {name}"))?;
            close + 2
        } else {
            rest.find(',').unwrap_or(rest.len())
        };
        let value = &rest[..value_len];
        if value.is_empty() {
            return Err(format!("empty value for {name}"));
        }
        if out.iter().any(|(n, _): &(String, String)| n == name) {
            return Err(format!("attribute {name} appears twice"));
        }
        out.push((name.to_string(), value.to_string()));
        rest = &rest[value_len..];
        if let Some(r) = rest.strip_prefix(',') {
            rest = r;
            if rest.is_empty() {
                return Err("trailing comma".into());
            }
        } else if !rest.is_empty() {
            return Err(format!("expected ',' after {name}"));
        }
    }
    Ok(out)
}

pub fn get<'a>(attrs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// A quoted-string value without its quotes.
pub fn quoted(v: &str) -> Result<&str, String> {
    v.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .ok_or_else(|| format!("{v} must be a quoted string"))
}

/// A 128-bit hexadecimal sequence (`0x` + 32 hex digits), as an IV.
pub fn hex128(v: &str) -> Result<[u8; 16], String> {
    let h = v
        .strip_prefix("0x")
        .or_else(|| v.strip_prefix("0X"))
        .ok_or_else(|| format!("IV {v} must start with 0x"))?;
    if h.len() != 32 {
        return Err(format!("IV {v} must have 32 hex digits"));
    }
    let mut out = [0u8; 16];
    hex::decode_to_slice(h, &mut out).map_err(|_| format!("IV {v} is not hexadecimal"))?;
    Ok(out)
}

/// Quotes a string value, refusing the characters RFC 8216 forbids in one.
pub fn quote(s: &str) -> String {
    debug_assert!(!s.contains(['"', '\n', '\r']));
    format!("\"{s}\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoted_commas_and_hex() {
        let a =
            parse(r#"METHOD=AES-128,URI="k,1.key",IV=0x000102030405060708090a0b0c0d0e0f"#).unwrap();
        assert_eq!(get(&a, "METHOD"), Some("AES-128"));
        assert_eq!(quoted(get(&a, "URI").unwrap()).unwrap(), "k,1.key");
        assert_eq!(hex128(get(&a, "IV").unwrap()).unwrap()[15], 15);
        assert!(parse("A=1,").is_err());
        assert!(parse("A=1,A=2").is_err());
        assert!(parse(r#"URI="open"#).is_err());
    }
}
