//! Okta's SCIM-like `filter` expressions: `status eq "ACTIVE" and profile.login sw "a"`.

use serde_json::Value;

/// A parsed filter expression, evaluated against an object's JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// Both sides hold.
    And(Box<Filter>, Box<Filter>),
    /// Either side holds.
    Or(Box<Filter>, Box<Filter>),
    /// `attr op value` (`value` is `Null` for `pr`).
    Cmp {
        /// Dotted attribute path, e.g. `profile.login`.
        attr: String,
        /// Comparison operator.
        op: Op,
        /// Literal on the right.
        value: Value,
    },
}

/// Comparison operators Okta accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// equals
    Eq,
    /// not equals
    Ne,
    /// starts with
    Sw,
    /// contains
    Co,
    /// greater than
    Gt,
    /// greater or equal
    Ge,
    /// less than
    Lt,
    /// less or equal
    Le,
    /// present (not null)
    Pr,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    Open,
    Close,
}

fn tokenize(input: &str) -> Result<Vec<Tok>, String> {
    let mut out = Vec::new();
    let mut chars = input.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
        } else if c == '(' {
            chars.next();
            out.push(Tok::Open);
        } else if c == ')' {
            chars.next();
            out.push(Tok::Close);
        } else if c == '"' {
            chars.next();
            let mut s = String::new();
            let mut closed = false;
            while let Some(ch) = chars.next() {
                match ch {
                    '\\' => {
                        if let Some(esc) = chars.next() {
                            s.push(esc);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    _ => s.push(ch),
                }
            }
            if !closed {
                return Err("unterminated string literal".into());
            }
            out.push(Tok::Str(s));
        } else {
            let mut w = String::new();
            while let Some(&ch) = chars.peek() {
                if ch.is_whitespace() || ch == '(' || ch == ')' || ch == '"' {
                    break;
                }
                w.push(ch);
                chars.next();
            }
            out.push(Tok::Word(w));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expr(&mut self) -> Result<Filter, String> {
        let mut left = self.term()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.term()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn term(&mut self) -> Result<Filter, String> {
        let mut left = self.factor()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.factor()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn factor(&mut self) -> Result<Filter, String> {
        match self.toks.get(self.pos).cloned() {
            Some(Tok::Open) => {
                self.pos += 1;
                let inner = self.expr()?;
                match self.toks.get(self.pos) {
                    Some(Tok::Close) => {
                        self.pos += 1;
                        Ok(inner)
                    }
                    _ => Err("missing ')'".into()),
                }
            }
            Some(Tok::Word(attr)) => {
                self.pos += 1;
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Word(w)) => parse_op(w)?,
                    _ => return Err(format!("missing operator after {attr}")),
                };
                self.pos += 1;
                if op == Op::Pr {
                    return Ok(Filter::Cmp {
                        attr,
                        op,
                        value: Value::Null,
                    });
                }
                let value = match self.toks.get(self.pos) {
                    Some(Tok::Str(s)) => Value::String(s.clone()),
                    Some(Tok::Word(w)) => match w.as_str() {
                        "true" => Value::Bool(true),
                        "false" => Value::Bool(false),
                        "null" => Value::Null,
                        n => n
                            .parse::<f64>()
                            .ok()
                            .and_then(serde_json::Number::from_f64)
                            .map(Value::Number)
                            .ok_or_else(|| format!("invalid literal {n}"))?,
                    },
                    _ => return Err(format!("missing value after {attr}")),
                };
                self.pos += 1;
                Ok(Filter::Cmp { attr, op, value })
            }
            other => Err(format!("unexpected token {other:?}")),
        }
    }
}

fn parse_op(w: &str) -> Result<Op, String> {
    Ok(match w.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "sw" => Op::Sw,
        "co" => Op::Co,
        "gt" => Op::Gt,
        "ge" => Op::Ge,
        "lt" => Op::Lt,
        "le" => Op::Le,
        "pr" => Op::Pr,
        other => return Err(format!("unknown operator {other}")),
    })
}

impl Filter {
    /// Parses a filter expression; the error says what is wrong with it.
    pub fn parse(input: &str) -> Result<Self, String> {
        let toks = tokenize(input)?;
        if toks.is_empty() {
            return Err("empty filter".into());
        }
        let mut p = Parser { toks, pos: 0 };
        let f = p.expr()?;
        if p.pos != p.toks.len() {
            return Err(format!("unexpected trailing input at token {}", p.pos));
        }
        Ok(f)
    }

    /// True when `obj` (the JSON Okta would return) satisfies the filter, strings
    /// compared ignoring case.
    pub fn matches(&self, obj: &Value) -> bool {
        self.matches_case(obj, false)
    }

    /// True when `obj` satisfies the filter; `case_sensitive` decides how strings
    /// compare (Okta's user `filter` is case-sensitive, its `search` is not).
    pub fn matches_case(&self, obj: &Value, case_sensitive: bool) -> bool {
        match self {
            Filter::And(a, b) => {
                a.matches_case(obj, case_sensitive) && b.matches_case(obj, case_sensitive)
            }
            Filter::Or(a, b) => {
                a.matches_case(obj, case_sensitive) || b.matches_case(obj, case_sensitive)
            }
            Filter::Cmp { attr, op, value } => {
                let actual = attr.split('.').try_fold(obj, |v, k| v.get(k));
                compare(actual, *op, value, case_sensitive)
            }
        }
    }
}

fn compare(actual: Option<&Value>, op: Op, expected: &Value, case_sensitive: bool) -> bool {
    let actual = actual.unwrap_or(&Value::Null);
    if op == Op::Pr {
        return !actual.is_null();
    }
    match (actual, expected) {
        (Value::String(a), Value::String(e)) => {
            let (a, e) = if case_sensitive {
                (a.clone(), e.clone())
            } else {
                (a.to_lowercase(), e.to_lowercase())
            };
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Sw => a.starts_with(&e),
                Op::Co => a.contains(&e),
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
                Op::Pr => true,
            }
        }
        (Value::Number(a), Value::Number(e)) => {
            let (a, e) = (a.as_f64().unwrap_or(0.0), e.as_f64().unwrap_or(0.0));
            match op {
                Op::Eq => a == e,
                Op::Ne => a != e,
                Op::Gt => a > e,
                Op::Ge => a >= e,
                Op::Lt => a < e,
                Op::Le => a <= e,
                _ => false,
            }
        }
        (a, e) => match op {
            Op::Eq => a == e,
            Op::Ne => a != e,
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn status_and_login_filter_matches_only_the_right_user() {
        let f = Filter::parse(r#"status eq "ACTIVE" and profile.login eq "a@example.com""#)
            .expect("parses");
        assert!(f.matches(&json!({"status":"ACTIVE","profile":{"login":"A@example.com"}})));
        assert!(!f.matches(&json!({"status":"SUSPENDED","profile":{"login":"a@example.com"}})));
    }

    #[test]
    fn or_binds_looser_than_and() {
        let f = Filter::parse(r#"a eq "1" or b eq "2" and c eq "3""#).expect("parses");
        assert!(f.matches(&json!({"a":"1"})));
        assert!(!f.matches(&json!({"b":"2"})));
    }

    #[test]
    fn parentheses_group() {
        let f = Filter::parse(r#"(eventType eq "x" or eventType eq "y") and a pr"#).expect("ok");
        assert!(f.matches(&json!({"eventType":"y","a":1})));
        assert!(!f.matches(&json!({"eventType":"y"})));
    }

    #[test]
    fn garbage_is_rejected() {
        assert!(Filter::parse(r#"status eq"#).is_err());
        assert!(Filter::parse(r#"status like "x""#).is_err());
        assert!(Filter::parse(r#"status eq "x" extra"#).is_err());
        assert!(Filter::parse(r#"status eq "open"#).is_err());
    }
}
