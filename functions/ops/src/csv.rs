//! CSV as RFC 4180 writes it: fields separated by commas, records ended by CRLF, a field
//! quoted when it holds a comma, a quote, CR or LF, its quotes doubled.

use std::borrow::Cow;
use std::io::{self, Write};

/// One field, quoted if it needs to be.
pub fn field(value: &str) -> Cow<'_, str> {
    if value.contains([',', '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        Cow::Borrowed(value)
    }
}

/// Writes one record.
pub fn record<W: Write + ?Sized>(out: &mut W, fields: &[&str]) -> io::Result<()> {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            out.write_all(b",")?;
        }
        out.write_all(field(value).as_bytes())?;
    }
    out.write_all(b"\r\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_field_is_written_as_is_and_others_are_quoted() {
        assert_eq!(field("okta/remove_membership"), "okta/remove_membership");
        assert_eq!(field("a,b"), "\"a,b\"");
        assert_eq!(field("say \"no\""), "\"say \"\"no\"\"\"");
        assert_eq!(field("two\nlines"), "\"two\nlines\"");
        assert_eq!(field(""), "");
    }

    #[test]
    fn a_record_ends_with_crlf() {
        let mut out = Vec::new();
        record(&mut out, &["a", "b,c", ""]).unwrap();
        assert_eq!(out, b"a,\"b,c\",\r\n");
    }
}
