//! The user profile schema as a default Okta org has it, and the checks Okta makes on a
//! profile before a create or an update: required fields, unknown properties, the shape
//! of `login`/`email`, login uniqueness (ignoring case and diacritical marks).

use serde_json::{Map, Value};

use crate::error::ApiError;

/// The base Okta user profile (`UserProfile`): every attribute a default org accepts
/// without a custom schema property.
pub const BASE_PROFILE: &[&str] = &[
    "login",
    "email",
    "secondEmail",
    "firstName",
    "lastName",
    "middleName",
    "honorificPrefix",
    "honorificSuffix",
    "title",
    "displayName",
    "nickName",
    "profileUrl",
    "primaryPhone",
    "mobilePhone",
    "streetAddress",
    "city",
    "state",
    "zipCode",
    "countryCode",
    "postalAddress",
    "preferredLanguage",
    "locale",
    "timezone",
    "userType",
    "employeeNumber",
    "costCenter",
    "organization",
    "division",
    "department",
    "managerId",
    "manager",
];

/// Attributes a default org requires (they can be neither left out on create nor cleared).
pub const REQUIRED: &[&str] = &["login", "email", "firstName", "lastName"];

const BLANK: &str = "The field cannot be left blank";

/// The key two logins collide on: lower case, diacritical marks dropped (Okta: "Logins
/// are not considered unique if they differ only in case and/or diacritical marks").
pub fn login_key(login: &str) -> String {
    if login.is_ascii() {
        return login.to_ascii_lowercase();
    }
    login
        .chars()
        .map(fold_diacritic)
        .collect::<String>()
        .to_lowercase()
}

/// Latin letters with a diacritical mark → the base letter (Latin-1 and Latin
/// Extended-A, the ones logins carry in practice); anything else unchanged.
fn fold_diacritic(c: char) -> char {
    const FOLDS: &[(&str, char)] = &[
        ("àáâãäåāăą", 'a'),
        ("ÀÁÂÃÄÅĀĂĄ", 'A'),
        ("çćĉċč", 'c'),
        ("ÇĆĈĊČ", 'C'),
        ("ďđ", 'd'),
        ("ĎĐ", 'D'),
        ("èéêëēĕėęě", 'e'),
        ("ÈÉÊËĒĔĖĘĚ", 'E'),
        ("ĝğġģ", 'g'),
        ("ĜĞĠĢ", 'G'),
        ("ĥħ", 'h'),
        ("ĤĦ", 'H'),
        ("ìíîïĩīĭįı", 'i'),
        ("ÌÍÎÏĨĪĬĮİ", 'I'),
        ("ĵ", 'j'),
        ("Ĵ", 'J'),
        ("ķ", 'k'),
        ("Ķ", 'K'),
        ("ĺļľŀł", 'l'),
        ("ĹĻĽĿŁ", 'L'),
        ("ñńņňŉ", 'n'),
        ("ÑŃŅŇ", 'N'),
        ("òóôõöøōŏő", 'o'),
        ("ÒÓÔÕÖØŌŎŐ", 'O'),
        ("ŕŗř", 'r'),
        ("ŔŖŘ", 'R'),
        ("śŝşš", 's'),
        ("ŚŜŞŠ", 'S'),
        ("ţťŧ", 't'),
        ("ŢŤŦ", 'T'),
        ("ùúûüũūŭůűų", 'u'),
        ("ÙÚÛÜŨŪŬŮŰŲ", 'U'),
        ("ŵ", 'w'),
        ("Ŵ", 'W'),
        ("ýÿŷ", 'y'),
        ("ÝŶŸ", 'Y'),
        ("źżž", 'z'),
        ("ŹŻŽ", 'Z'),
    ];
    FOLDS
        .iter()
        .find(|(from, _)| from.contains(c))
        .map_or(c, |(_, to)| *to)
}

fn email_shaped(s: &str) -> bool {
    match s.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty() && !domain.is_empty() && !domain.contains('@') && !s.contains(' ')
        }
        None => false,
    }
}

fn blank(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(_) => false,
    }
}

/// The causes of a profile that Okta would refuse, in Okta's wording, with the field
/// the summary names (`Api validation failed: <field>`); `None` when it is acceptable.
/// `profile` is the whole profile the user would end up with; `given` are the keys the
/// request sent (only those are checked against the schema).
pub fn check(
    profile: &Map<String, Value>,
    given: &[&str],
    custom: &std::collections::BTreeSet<String>,
) -> Option<ApiError> {
    let mut causes: Vec<(String, String)> = Vec::new();
    for key in given {
        if !BASE_PROFILE.contains(key) && !custom.contains(*key) {
            causes.push((
                (*key).to_string(),
                format!("Property name '{key}' is not defined in profile"),
            ));
        }
    }
    for field in REQUIRED {
        if blank(profile.get(*field)) {
            causes.push(((*field).to_string(), format!("{field}: {BLANK}")));
        }
    }
    if let Some(login) = profile.get("login").and_then(Value::as_str) {
        if !login.is_empty() && !email_shaped(login) {
            causes.push((
                "login".into(),
                "login: Username must be in the form of an email address".into(),
            ));
        }
    }
    for field in ["email", "secondEmail"] {
        if let Some(email) = profile.get(field).and_then(Value::as_str) {
            if !email.is_empty() && !email_shaped(email) {
                causes.push((
                    field.into(),
                    format!("{field}: Does not match required pattern"),
                ));
            }
        }
    }
    let first = causes.first()?.0.clone();
    Some(ApiError::fields(
        &first,
        causes.into_iter().map(|(_, c)| c).collect(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logins_differing_in_case_or_diacritics_share_a_key() {
        assert_eq!(
            login_key("Ada.Lovelace@Example.com"),
            "ada.lovelace@example.com"
        );
        assert_eq!(
            login_key("José.Müller@example.com"),
            "jose.muller@example.com"
        );
        assert_ne!(login_key("ada@example.com"), login_key("adb@example.com"));
    }

    #[test]
    fn unknown_and_blank_fields_are_named_in_causes() {
        let profile: Map<String, Value> = serde_json::from_value(serde_json::json!({
            "login": "a@example.com", "email": "a@example.com", "firstName": "A",
            "lastName": null, "shoeSize": 42
        }))
        .expect("object");
        let err = check(&profile, &["lastName", "shoeSize"], &Default::default()).expect("fails");
        assert_eq!(err.summary, "Api validation failed: shoeSize");
        assert_eq!(
            err.causes,
            vec![
                "Property name 'shoeSize' is not defined in profile".to_string(),
                "lastName: The field cannot be left blank".to_string(),
            ]
        );
    }
}
