//! `Link` headers (RFC 8288) as Okta pages with them: `<url>; rel="next"`, either one
//! header per relation or several relations in one comma-separated header.

use reqwest::header::HeaderMap;
use reqwest::Url;

/// The target of the first link with relation `rel` among all `Link` headers.
pub(crate) fn find_link(headers: &HeaderMap, rel: &str) -> Option<String> {
    headers
        .get_all("link")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(split_links)
        .find(|(_, rels)| rels.iter().any(|r| r.eq_ignore_ascii_case(rel)))
        .map(|(url, _)| url)
}

/// Splits one header value into `(target, relations)` pairs. Commas inside `<…>` or
/// quoted strings do not separate links (Okta's `filter` values can contain commas).
fn split_links(value: &str) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(start) = rest.find('<') {
        let after_start = &rest[start + 1..];
        let Some(end) = after_start.find('>') else {
            break;
        };
        let target = after_start[..end].trim().to_owned();
        let params_and_more = &after_start[end + 1..];
        let (params, next) = split_params(params_and_more);
        out.push((target, rel_values(params)));
        rest = next;
    }
    out
}

/// The parameters of one link (up to the next unquoted comma) and what follows.
fn split_params(s: &str) -> (&str, &str) {
    let mut quoted = false;
    for (i, c) in s.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => return (&s[..i], &s[i + 1..]),
            _ => {}
        }
    }
    (s, "")
}

/// The space-separated relation types of `rel=…` among `; `-separated parameters.
fn rel_values(params: &str) -> Vec<String> {
    params
        .split(';')
        .filter_map(|p| {
            let (name, value) = p.split_once('=')?;
            name.trim()
                .eq_ignore_ascii_case("rel")
                .then(|| value.trim().trim_matches('"').to_owned())
        })
        .flat_map(|v| {
            v.split_ascii_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The URL-decoded value of query parameter `name` in `url`.
pub(crate) fn query_param(url: &Url, name: &str) -> Option<String> {
    url.query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("link", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn next_is_found_among_several_link_headers() {
        let h = headers(&[
            r#"<https://x.okta.com/api/v1/logs?limit=2>; rel="self""#,
            r#"<https://x.okta.com/api/v1/logs?after=abc&limit=2>; rel="next""#,
        ]);
        assert_eq!(
            find_link(&h, "next").as_deref(),
            Some("https://x.okta.com/api/v1/logs?after=abc&limit=2")
        );
        assert_eq!(
            find_link(&h, "self").as_deref(),
            Some("https://x.okta.com/api/v1/logs?limit=2")
        );
    }

    #[test]
    fn next_is_found_in_one_comma_separated_header() {
        let h = headers(&[
            r#"<https://x/api/v1/users?filter=a,b&limit=2>; rel="self", <https://x/api/v1/users?after=00u9&limit=2>;rel=next"#,
        ]);
        assert_eq!(
            find_link(&h, "next").as_deref(),
            Some("https://x/api/v1/users?after=00u9&limit=2")
        );
    }

    #[test]
    fn a_last_page_has_no_next_link() {
        let h = headers(&[r#"<https://x/api/v1/users?limit=2>; rel="self""#]);
        assert_eq!(find_link(&h, "next"), None);
        assert_eq!(find_link(&HeaderMap::new(), "next"), None);
        assert_eq!(
            find_link(&headers(&["garbage, <unterminated"]), "next"),
            None
        );
    }

    #[test]
    fn relation_lists_and_other_parameters_are_understood() {
        let h = headers(&[r#"<https://x/p?after=1>; title="a, b"; rel="prev next""#]);
        assert_eq!(
            find_link(&h, "next").as_deref(),
            Some("https://x/p?after=1")
        );
    }

    #[test]
    fn the_after_cursor_is_url_decoded() {
        let url = Url::parse("https://x/api/v1/logs?after=17%3A42%2Babc%3D&limit=2").unwrap();
        assert_eq!(query_param(&url, "after").as_deref(), Some("17:42+abc="));
        assert_eq!(query_param(&url, "missing"), None);
    }
}
