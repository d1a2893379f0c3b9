//! JSON with positions: where each value and object key starts in the text.
//!
//! serde_json reports line and column for syntax errors only; rule errors
//! ("scene 3 overlaps scene 2") must point at the offending value too. So a
//! file is first parsed by serde_json (the authority on syntax), and only then
//! walked by this small tokenizer, which records the 1-based line and column
//! (in characters) of every value and key. Scalars are handed back to
//! serde_json to decode, so escapes and numbers follow the one real parser.

use serde_json::Value;

/// A 1-based line and column (column counted in characters).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct Pos {
    pub line: usize,
    pub column: usize,
}

/// A JSON value with the position where it starts.
#[derive(Debug, Clone)]
pub struct Node {
    pub pos: Pos,
    pub kind: Kind,
}

#[derive(Debug, Clone)]
pub enum Kind {
    Object(Vec<Member>),
    Array(Vec<Node>),
    Scalar(Value),
}

#[derive(Debug, Clone)]
pub struct Member {
    pub key: String,
    pub key_pos: Pos,
    pub value: Node,
}

/// A syntax error, as serde_json reports it.
#[derive(Debug, Clone)]
pub struct SyntaxError {
    pub pos: Pos,
    pub message: String,
}

/// Deepest nesting accepted; serde_json's own limit is 128.
const MAX_DEPTH: usize = 128;

/// Parses `text` into a positioned tree.
pub fn parse(text: &str) -> Result<Node, SyntaxError> {
    if let Err(e) = serde_json::from_str::<Value>(text) {
        let msg = e.to_string();
        // serde_json appends " at line L column C"; the position is printed separately.
        let message = match msg.rfind(" at line ") {
            Some(i) => msg[..i].to_string(),
            None => msg,
        };
        return Err(SyntaxError {
            pos: Pos {
                line: e.line().max(1),
                column: e.column().max(1),
            },
            message,
        });
    }
    let mut p = Walker {
        text,
        bytes: text.as_bytes(),
        i: 0,
        line: 1,
        line_start: 0,
        col: std::cell::Cell::new((0, 0)),
    };
    p.ws();
    p.value(0).map_err(|message| SyntaxError {
        pos: p.pos(),
        message,
    })
}

struct Walker<'a> {
    text: &'a str,
    bytes: &'a [u8],
    i: usize,
    line: usize,
    line_start: usize,
    /// A byte offset on the current line and its column (0-based, in chars).
    col: std::cell::Cell<(usize, usize)>,
}

impl Walker<'_> {
    fn pos(&self) -> Pos {
        // Columns are counted on from the last position asked for on this
        // line: counting from the line's start each time made a policy
        // written on one line (100,000 scenes) quadratic.
        let (at, chars) = match self.col.get() {
            (at, chars) if at >= self.line_start && at <= self.i => (at, chars),
            _ => (self.line_start, 0),
        };
        let chars = chars + self.text[at..self.i].chars().count();
        self.col.set((self.i, chars));
        Pos {
            line: self.line,
            column: chars + 1,
        }
    }

    fn ws(&mut self) {
        while let Some(&b) = self.bytes.get(self.i) {
            match b {
                b'\n' => {
                    self.i += 1;
                    self.line += 1;
                    self.line_start = self.i;
                }
                b' ' | b'\t' | b'\r' => self.i += 1,
                _ => break,
            }
        }
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.i).copied()
    }

    fn expect(&mut self, b: u8) -> Result<(), String> {
        if self.peek() == Some(b) {
            self.i += 1;
            Ok(())
        } else {
            Err(format!("expected '{}'", b as char))
        }
    }

    /// The raw text of a string token, quotes included.
    fn string_raw(&mut self) -> Result<&str, String> {
        let start = self.i;
        self.expect(b'"')?;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'\\' => self.i += 1,
                b'"' => return Ok(&self.text[start..self.i]),
                _ => {}
            }
        }
        Err("unterminated string".into())
    }

    fn value(&mut self, depth: usize) -> Result<Node, String> {
        if depth > MAX_DEPTH {
            return Err("nested too deeply".into());
        }
        let pos = self.pos();
        let kind = match self.peek() {
            Some(b'{') => {
                self.i += 1;
                let mut members = Vec::new();
                self.ws();
                if self.peek() == Some(b'}') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        let key_pos = self.pos();
                        let raw = self.string_raw()?;
                        let key: String = serde_json::from_str(raw).map_err(|e| e.to_string())?;
                        self.ws();
                        self.expect(b':')?;
                        self.ws();
                        let value = self.value(depth + 1)?;
                        members.push(Member {
                            key,
                            key_pos,
                            value,
                        });
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b'}') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err("expected ',' or '}'".into()),
                        }
                    }
                }
                Kind::Object(members)
            }
            Some(b'[') => {
                self.i += 1;
                let mut items = Vec::new();
                self.ws();
                if self.peek() == Some(b']') {
                    self.i += 1;
                } else {
                    loop {
                        self.ws();
                        items.push(self.value(depth + 1)?);
                        self.ws();
                        match self.peek() {
                            Some(b',') => self.i += 1,
                            Some(b']') => {
                                self.i += 1;
                                break;
                            }
                            _ => return Err("expected ',' or ']'".into()),
                        }
                    }
                }
                Kind::Array(items)
            }
            Some(b'"') => {
                let raw = self.string_raw()?;
                Kind::Scalar(serde_json::from_str(raw).map_err(|e| e.to_string())?)
            }
            Some(_) => {
                let start = self.i;
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\r' | b'\n') {
                        break;
                    }
                    self.i += 1;
                }
                let raw = &self.text[start..self.i];
                Kind::Scalar(serde_json::from_str(raw).map_err(|e| e.to_string())?)
            }
            None => return Err("unexpected end of input".into()),
        };
        Ok(Node { pos, kind })
    }
}

impl Node {
    /// A short name for the value's JSON type, for messages.
    pub fn type_name(&self) -> &'static str {
        match &self.kind {
            Kind::Object(_) => "an object",
            Kind::Array(_) => "an array",
            Kind::Scalar(Value::Null) => "null",
            Kind::Scalar(Value::Bool(_)) => "a boolean",
            Kind::Scalar(Value::Number(_)) => "a number",
            Kind::Scalar(Value::String(_)) => "a string",
            Kind::Scalar(_) => "a value",
        }
    }

    /// The value as written when it is a scalar, else its type, for messages.
    pub fn shown(&self) -> String {
        self.scalar()
            .map(|v| v.to_string())
            .unwrap_or_else(|| self.type_name().to_string())
    }

    pub fn scalar(&self) -> Option<&Value> {
        match &self.kind {
            Kind::Scalar(v) => Some(v),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_of_keys_and_values() {
        let text = "{\n  \"scenes\": [\n    {\"a\": 1, \"é\": \"x\\\"y\", \"b\": [true]}\n  ]\n}";
        let n = parse(text).unwrap();
        let Kind::Object(m) = &n.kind else { panic!() };
        assert_eq!(m[0].key_pos, Pos { line: 2, column: 3 });
        let Kind::Array(items) = &m[0].value.kind else {
            panic!()
        };
        assert_eq!(items[0].pos, Pos { line: 3, column: 5 });
        let Kind::Object(scene) = &items[0].kind else {
            panic!()
        };
        assert_eq!(scene[1].key, "é");
        assert_eq!(scene[1].value.scalar(), Some(&Value::from("x\"y")));
        // Columns count characters, not bytes.
        assert_eq!(
            scene[2].key_pos,
            Pos {
                line: 3,
                column: 27
            }
        );
    }

    #[test]
    fn syntax_errors_come_from_serde_json() {
        let e = parse("{\"scenes\": [\n  {\"a\": 1,}\n]}").unwrap_err();
        assert_eq!(e.pos.line, 2);
        assert!(!e.message.contains("at line"), "{}", e.message);
    }
}
