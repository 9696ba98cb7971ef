//! `SYNC_IDENTITIES`'s attributes: the names callers use (Veza's), the Okta profile names
//! they map to, and what each must look like. One table, so the mapping, the validation
//! and the list of known names cannot drift apart.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::ActionError;

/// One attribute a caller may send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribute {
    /// The caller's name.
    pub name: &'static str,
    /// The Okta profile property it sets.
    pub okta: &'static str,
    /// Required on every `SYNC_IDENTITIES`, and so never cleared.
    pub required: bool,
    /// What a value must look like.
    pub shape: Shape,
}

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// Free text of this many characters at most (and at least `min`).
    Text {
        /// Fewest characters.
        min: usize,
        /// Most characters.
        max: usize,
    },
    /// An e-mail address, as Okta checks it (5–100 characters).
    Email,
    /// An ISO 3166-1 alpha-2 country code.
    Country,
}

const fn text(name: &'static str, okta: &'static str, max: usize) -> Attribute {
    Attribute {
        name,
        okta,
        required: false,
        shape: Shape::Text { min: 0, max },
    }
}

/// Every attribute, in the order results list changes.
pub const ATTRIBUTES: [Attribute; 17] = [
    Attribute {
        name: "login",
        okta: "login",
        required: true,
        shape: Shape::Email,
    },
    Attribute {
        name: "email",
        okta: "email",
        required: true,
        shape: Shape::Email,
    },
    Attribute {
        name: "first_name",
        okta: "firstName",
        required: true,
        shape: Shape::Text { min: 1, max: 50 },
    },
    Attribute {
        name: "last_name",
        okta: "lastName",
        required: true,
        shape: Shape::Text { min: 1, max: 50 },
    },
    text("display_name", "displayName", 1024),
    text("user_type", "userType", 1024),
    text("department", "department", 1024),
    text("title", "title", 1024),
    text("manager", "manager", 1024),
    text("manager_id", "managerId", 1024),
    text("employee_id", "employeeNumber", 1024),
    text("division", "division", 1024),
    text("organization", "organization", 1024),
    text("cost_center", "costCenter", 1024),
    Attribute {
        name: "country_code",
        okta: "countryCode",
        required: false,
        shape: Shape::Country,
    },
    Attribute {
        name: "second_email",
        okta: "secondEmail",
        required: false,
        shape: Shape::Email,
    },
    text("nickName", "nickName", 1024),
];

/// The attribute a caller names, by the caller's name.
pub fn attribute(name: &str) -> Option<&'static Attribute> {
    ATTRIBUTES.iter().find(|a| a.name == name)
}

/// Desired profile values by Okta property name: `Some` sets, `None` clears (only ever
/// for an optional attribute the request sent as an explicit `null`).
pub type Profile = BTreeMap<&'static str, Option<String>>;

/// Whether `s` is an e-mail address as far as a syntax check can tell: one `@`, a local
/// part, a domain with a dot, no spaces, 5–100 characters.
pub fn is_email(s: &str) -> bool {
    let len = s.chars().count();
    if !(5..=100).contains(&len) || s.chars().any(char::is_whitespace) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && !domain.contains('@')
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && !domain.contains("..")
}

fn check(attr: &Attribute, value: &str) -> Result<(), String> {
    match attr.shape {
        Shape::Text { min, max } => {
            let len = value.chars().count();
            if len < min {
                return Err(format!("{} must not be empty", attr.name));
            }
            if len > max {
                return Err(format!("{} is longer than {max} characters", attr.name));
            }
        }
        Shape::Email if !is_email(value) => {
            return Err(format!("{} {value:?} is not an e-mail address", attr.name));
        }
        Shape::Country if !(value.len() == 2 && value.bytes().all(|b| b.is_ascii_uppercase())) => {
            return Err(format!(
                "{} {value:?} is not an ISO 3166 alpha-2 code such as \"GB\"",
                attr.name
            ));
        }
        Shape::Email | Shape::Country => {}
    }
    Ok(())
}

/// Reads the attributes of one `SYNC_IDENTITIES` from its JSON object (`fields` holds
/// every key but the action's own switches). Unknown names, missing required ones, wrong
/// shapes and clearing a required one are refused, naming the attribute.
pub fn parse_profile(index: usize, fields: &Map<String, Value>) -> Result<Profile, ActionError> {
    let refuse = |message: String| ActionError::invalid(index, message);
    let mut profile = Profile::new();
    for (name, value) in fields {
        let attr = attribute(name).ok_or_else(|| {
            refuse(format!(
                "unknown attribute {name:?}; known: {}",
                ATTRIBUTES.map(|a| a.name).join(", ")
            ))
        })?;
        let value = match value {
            Value::Null if attr.required => {
                return Err(refuse(format!("{name} is required and cannot be cleared")))
            }
            Value::Null => None,
            Value::String(s) => {
                let s = s.trim();
                check(attr, s).map_err(&refuse)?;
                Some(s.to_owned())
            }
            other => {
                return Err(refuse(format!(
                    "{name} must be a string (or null to clear it), not {other}"
                )))
            }
        };
        profile.insert(attr.okta, value);
    }
    if let Some(missing) = ATTRIBUTES
        .iter()
        .find(|a| a.required && !profile.contains_key(a.okta))
    {
        return Err(refuse(format!("{} is required", missing.name)));
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn fields(v: Value) -> Map<String, Value> {
        match v {
            Value::Object(m) => m,
            _ => unreachable!("tests pass objects"),
        }
    }

    fn base() -> Value {
        json!({"login": "ada@example.com", "email": "ada@example.com",
               "first_name": "Ada", "last_name": "Lovelace"})
    }

    #[test]
    fn names_map_to_oktas_profile_properties() {
        let mut v = base();
        v["employee_id"] = json!("E-1");
        v["cost_center"] = json!("R&D");
        v["nickName"] = json!("Countess");
        v["manager_id"] = json!(null);
        let p = parse_profile(0, &fields(v)).unwrap();
        assert_eq!(p["employeeNumber"].as_deref(), Some("E-1"));
        assert_eq!(p["costCenter"].as_deref(), Some("R&D"));
        assert_eq!(p["nickName"].as_deref(), Some("Countess"));
        assert_eq!(p["firstName"].as_deref(), Some("Ada"));
        assert_eq!(p["managerId"], None, "null clears");
        assert!(!p.contains_key("title"), "absent is left alone");
    }

    #[test]
    fn every_okta_name_is_unique_and_every_caller_name_is_found() {
        let mut okta: Vec<_> = ATTRIBUTES.iter().map(|a| a.okta).collect();
        okta.sort_unstable();
        okta.dedup();
        assert_eq!(okta.len(), ATTRIBUTES.len());
        for a in ATTRIBUTES {
            assert_eq!(attribute(a.name), Some(&a));
        }
    }

    #[test]
    fn bad_attributes_are_refused_naming_the_attribute() {
        let cases: [(&str, Value, &str); 8] = [
            (
                "unknown name",
                json!({"favourite_colour": "red"}),
                "unknown attribute \"favourite_colour\"",
            ),
            (
                "malformed email",
                json!({"email": "ada-at-example.com"}),
                "email \"ada-at-example.com\" is not an e-mail address",
            ),
            (
                "login not email-shaped",
                json!({"login": "ada"}),
                "login \"ada\" is not an e-mail address",
            ),
            (
                "required cleared",
                json!({"first_name": null}),
                "first_name is required and cannot be cleared",
            ),
            (
                "empty required",
                json!({"last_name": "  "}),
                "last_name must not be empty",
            ),
            (
                "too long",
                json!({"first_name": "x".repeat(51)}),
                "first_name is longer than 50 characters",
            ),
            (
                "not a string",
                json!({"department": 7}),
                "department must be a string",
            ),
            (
                "country",
                json!({"country_code": "gbr"}),
                "country_code \"gbr\" is not an ISO 3166 alpha-2 code",
            ),
        ];
        for (name, patch, expected) in cases {
            let mut v = base();
            for (k, val) in fields(patch) {
                v[k] = val;
            }
            let err = parse_profile(3, &fields(v)).unwrap_err();
            assert_eq!(err.index, Some(3), "{name}");
            assert!(err.message.contains(expected), "{name}: {}", err.message);
        }
    }

    #[test]
    fn a_missing_required_attribute_is_named() {
        let mut v = fields(base());
        v.remove("email");
        let err = parse_profile(0, &v).unwrap_err();
        assert_eq!(err.message, "email is required");
    }

    #[test]
    fn emails_are_checked_for_shape_only() {
        for ok in ["a@b.co", "first.last+tag@sub.example.com"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "", "a@b", "@b.co", "a@.co", "a@b..co", "a b@c.co", "a@b@c.co", "a@b.co.",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
