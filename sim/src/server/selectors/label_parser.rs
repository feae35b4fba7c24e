//! The `labelSelector` grammar as the real server parses it, token by token, with its error
//! messages: `k=v`, `k==v`, `k!=v`, `k in (a,b)`, `k notin (a)`, `k`, `!k`, `k>1`, `k<1`, joined
//! by commas.

use super::names::{label_value_errors, qualified_name_errors};
use super::{Op, Requirement};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Token {
    Error,
    End,
    ClosedPar,
    Comma,
    DoesNotExist,
    DoubleEquals,
    Equals,
    GreaterThan,
    Identifier,
    In,
    LessThan,
    NotEquals,
    NotIn,
    OpenPar,
}

fn symbol(s: &str) -> Option<Token> {
    Some(match s {
        ")" => Token::ClosedPar,
        "," => Token::Comma,
        "!" => Token::DoesNotExist,
        "==" => Token::DoubleEquals,
        "=" => Token::Equals,
        ">" => Token::GreaterThan,
        "in" => Token::In,
        "<" => Token::LessThan,
        "!=" => Token::NotEquals,
        "notin" => Token::NotIn,
        "(" => Token::OpenPar,
        _ => return None,
    })
}

fn is_special(c: u8) -> bool {
    matches!(c, b'=' | b'!' | b'(' | b')' | b',' | b'>' | b'<')
}

fn is_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// Splits the selector into tokens: keywords, identifiers and the longest known symbols.
fn lex(s: &str) -> Vec<(Token, String)> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut out = Vec::new();
    loop {
        while i < b.len() && is_space(b[i]) {
            i += 1;
        }
        if i >= b.len() {
            out.push((Token::End, String::new()));
            return out;
        }
        if is_special(b[i]) {
            let mut buffer = String::new();
            let mut last: Option<(Token, String)> = None;
            while i < b.len() && is_special(b[i]) {
                buffer.push(b[i] as char);
                if let Some(t) = symbol(&buffer) {
                    last = Some((t, buffer.clone()));
                } else if last.is_some() {
                    break;
                }
                i += 1;
            }
            match last {
                Some(item) => out.push(item),
                None => out.push((
                    Token::Error,
                    format!("error expected: keyword found '{buffer}'"),
                )),
            }
        } else {
            let start = i;
            while i < b.len() && !is_space(b[i]) && !is_special(b[i]) {
                i += 1;
            }
            let word = &s[start..i];
            let tok = match symbol(word) {
                Some(t @ (Token::In | Token::NotIn)) => t,
                _ => Token::Identifier,
            };
            out.push((tok, word.to_string()));
        }
    }
}

/// Whether `in` and `notin` are keywords (after a key) or plain values.
#[derive(PartialEq)]
enum Context {
    KeyAndOperator,
    Values,
}

struct Parser {
    items: Vec<(Token, String)>,
    at: usize,
}

impl Parser {
    fn lookahead(&self, ctx: Context) -> (Token, String) {
        let (t, l) = self.items[self.at.min(self.items.len() - 1)].clone();
        match t {
            Token::In | Token::NotIn if ctx == Context::Values => (Token::Identifier, l),
            _ => (t, l),
        }
    }

    fn consume(&mut self, ctx: Context) -> (Token, String) {
        let item = self.lookahead(ctx);
        self.at = (self.at + 1).min(self.items.len() - 1);
        item
    }

    fn parse(&mut self) -> Result<Vec<Requirement>, String> {
        let mut out = Vec::new();
        loop {
            let (t, l) = self.lookahead(Context::Values);
            match t {
                Token::Identifier | Token::DoesNotExist => {
                    let r = self
                        .requirement()
                        .map_err(|e| format!("unable to parse requirement: {e}"))?;
                    out.push(r);
                    let (t, l) = self.consume(Context::Values);
                    match t {
                        Token::End => return Ok(out),
                        Token::Comma => {
                            let (t2, l2) = self.lookahead(Context::Values);
                            if t2 != Token::Identifier && t2 != Token::DoesNotExist {
                                return Err(format!(
                                    "found '{l2}', expected: identifier after ','"
                                ));
                            }
                        }
                        _ => return Err(format!("found '{l}', expected: ',' or 'end of string'")),
                    }
                }
                Token::End => return Ok(out),
                _ => {
                    return Err(format!(
                        "found '{l}', expected: !, identifier, or 'end of string'"
                    ));
                }
            }
        }
    }

    fn requirement(&mut self) -> Result<Requirement, String> {
        let (mut t, mut key) = self.consume(Context::Values);
        let negated = t == Token::DoesNotExist;
        if negated {
            (t, key) = self.consume(Context::Values);
        }
        if t != Token::Identifier {
            return Err(format!("found '{key}', expected: identifier"));
        }
        if let Some(e) = qualified_name_errors(&key).first() {
            return Err(format!("<nil>: Invalid value: {}: {e}", quote(&key)));
        }
        let (next, _) = self.lookahead(Context::Values);
        if negated || matches!(next, Token::End | Token::Comma) {
            let op = if negated { Op::NotExists } else { Op::Exists };
            return Ok(Requirement { key, op });
        }
        let (t, l) = self.consume(Context::KeyAndOperator);
        let op = match t {
            Token::In | Token::NotIn => {
                let values = self.values()?;
                if t == Token::In {
                    Op::In(values)
                } else {
                    Op::NotIn(values)
                }
            }
            Token::Equals | Token::DoubleEquals | Token::NotEquals => {
                let v = self.exact_value()?;
                if t == Token::NotEquals {
                    Op::NotEq(v)
                } else {
                    Op::Eq(v)
                }
            }
            Token::GreaterThan | Token::LessThan => {
                let v = self.exact_value()?;
                let n: i64 = v.parse().map_err(|_| {
                    format!(
                        "values[0]: Invalid value: {}: for 'Gt', 'Lt' operators, the value must be an integer",
                        quote(&v)
                    )
                })?;
                if t == Token::GreaterThan {
                    Op::Gt(n)
                } else {
                    Op::Lt(n)
                }
            }
            _ => {
                return Err(format!(
                    "found '{l}', expected: in, notin, =, ==, !=, gt, lt"
                ));
            }
        };
        for (i, v) in op.values().iter().enumerate() {
            if let Some(e) = label_value_errors(v).first() {
                return Err(format!(
                    "values[{i}][{key}]: Invalid value: {}: {e}",
                    quote(v)
                ));
            }
        }
        Ok(Requirement { key, op })
    }

    /// `(a, b)`: the values of `in` and `notin`, sorted and without duplicates as the real
    /// server keeps them.
    fn values(&mut self) -> Result<Vec<String>, String> {
        let (t, l) = self.consume(Context::Values);
        if t != Token::OpenPar {
            return Err(format!("found '{l}' expected: '('"));
        }
        let (t, l) = self.lookahead(Context::Values);
        let mut set = std::collections::BTreeSet::new();
        match t {
            Token::Identifier | Token::Comma => {
                self.identifiers(&mut set)?;
                let (t, _) = self.consume(Context::Values);
                if t != Token::ClosedPar {
                    return Err(format!("found '{l}', expected: ')'"));
                }
            }
            Token::ClosedPar => {
                self.consume(Context::Values);
                set.insert(String::new());
            }
            _ => return Err(format!("found '{l}', expected: ',', ')' or identifier")),
        }
        Ok(set.into_iter().collect())
    }

    fn identifiers(&mut self, set: &mut std::collections::BTreeSet<String>) -> Result<(), String> {
        loop {
            let (t, l) = self.consume(Context::Values);
            match t {
                Token::Identifier => {
                    set.insert(l);
                    let (t2, l2) = self.lookahead(Context::Values);
                    match t2 {
                        Token::Comma => continue,
                        Token::ClosedPar => return Ok(()),
                        _ => return Err(format!("found '{l2}', expected: ',' or ')'")),
                    }
                }
                Token::Comma => {
                    if set.is_empty() {
                        set.insert(String::new());
                    }
                    match self.lookahead(Context::Values).0 {
                        Token::ClosedPar => {
                            set.insert(String::new());
                            return Ok(());
                        }
                        Token::Comma => {
                            self.consume(Context::Values);
                            set.insert(String::new());
                        }
                        _ => {}
                    }
                }
                _ => return Err(format!("found '{l}', expected: ',', or identifier")),
            }
        }
    }

    fn exact_value(&mut self) -> Result<String, String> {
        let (t, _) = self.lookahead(Context::Values);
        if matches!(t, Token::End | Token::Comma) {
            return Ok(String::new());
        }
        let (t, l) = self.consume(Context::Values);
        if t == Token::Identifier {
            return Ok(l);
        }
        Err(format!("found '{l}', expected: identifier"))
    }
}

/// A Go `%q` of a plain string.
fn quote(s: &str) -> String {
    crate::server::schema::gofmt::quote(s)
}

/// Parses a `labelSelector`; the error is the real server's message.
pub fn parse(s: &str) -> Result<Vec<Requirement>, String> {
    let mut p = Parser {
        items: lex(s),
        at: 0,
    };
    p.parse()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grammar_of_the_real_server() {
        let ok = |s: &str| parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(ok("").len(), 0);
        assert_eq!(ok("a=b, c!=d,e==f").len(), 3);
        assert_eq!(ok("a in (x, y),b notin (z),c,!d").len(), 4);
        assert_eq!(ok("a in ()")[0].op, Op::In(vec![String::new()]));
        assert_eq!(ok("n>3")[0].op, Op::Gt(3));
        assert_eq!(ok("a=")[0].op, Op::Eq(String::new()));
        // `in` is a value after an operator.
        assert_eq!(ok("a=in")[0].op, Op::Eq("in".into()));
    }

    #[test]
    fn errors_carry_the_real_messages() {
        let err = |s: &str| parse(s).unwrap_err();
        assert_eq!(
            err("a in b"),
            "unable to parse requirement: found 'b' expected: '('"
        );
        assert_eq!(
            err("a in (b"),
            "unable to parse requirement: found '', expected: ',' or ')'"
        );
        assert_eq!(
            err("a b"),
            "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"
        );
        assert_eq!(err("a=b c"), "found 'c', expected: ',' or 'end of string'");
        assert_eq!(err("a,"), "found '', expected: identifier after ','");
        assert_eq!(
            err("=a"),
            "found '=', expected: !, identifier, or 'end of string'"
        );
        assert_eq!(
            err("n>x"),
            "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"
        );
        assert!(err("-a=b").starts_with(
            "unable to parse requirement: <nil>: Invalid value: \"-a\": name part must consist of"
        ));
        assert!(err("a=-b").starts_with("unable to parse requirement: values[0][a]: Invalid value: \"-b\": a valid label must be"));
    }
}
