use super::*;

const HEADER: &str = "login,email,first_name,last_name,department,groups,status";

fn csv(body: &str) -> Parsed {
    parse(body.as_bytes(), Some(Format::Csv), &Mapping::default()).unwrap()
}

fn value<'a>(row: &'a Row, okta: &str) -> Option<&'a str> {
    row.profile.get(okta).and_then(Option::as_deref)
}

/// (name, file, expected rows as (line, login, department), expected error lines)
type Case = (
    &'static str,
    &'static [u8],
    &'static [(usize, &'static str, Option<&'static str>)],
    &'static [usize],
);

#[test]
fn spreadsheet_files_parse_row_by_row_with_their_lines() {
    let cases: [Case; 8] = [
        (
            "plain",
            b"login,email,first_name,last_name,department\n\
              ada@example.com,ada@example.com,Ada,Lovelace,Maths\n",
            &[(2, "ada@example.com", Some("Maths"))],
            &[],
        ),
        (
            "BOM and CRLF",
            b"\xEF\xBB\xBFlogin,email,first_name,last_name\r\n\
              ada@example.com,ada@example.com,Ada,Lovelace\r\n\
              bob@example.com,bob@example.com,Bob,Byte\r\n",
            &[(2, "ada@example.com", None), (3, "bob@example.com", None)],
            &[],
        ),
        (
            "quoted comma, newline and doubled quote",
            b"login,email,first_name,last_name,department\n\
              ada@example.com,ada@example.com,Ada,Lovelace,\"R&D, \"\"Labs\"\"\nWest\"\n\
              bob@example.com,bob@example.com,Bob,Byte,Ops\n",
            &[
                (2, "ada@example.com", Some("R&D, \"Labs\"\nWest")),
                (4, "bob@example.com", Some("Ops")),
            ],
            &[],
        ),
        (
            "blank lines and empty-cell lines skipped",
            b"\nlogin,email,first_name,last_name\n\n\
              ada@example.com,ada@example.com,Ada,Lovelace\n,,,\n   \n\
              bob@example.com,bob@example.com,Bob,Byte\n\n",
            &[(4, "ada@example.com", None), (7, "bob@example.com", None)],
            &[],
        ),
        (
            "trailing spaces trimmed, empty cell absent",
            b"login , email,first_name,last_name,department\n\
              ada@example.com  , ada@example.com ,Ada ,Lovelace,   \n",
            &[(2, "ada@example.com", None)],
            &[],
        ),
        (
            "bad e-mail row reported, others parse",
            b"login,email,first_name,last_name\n\
              ada@example.com,ada@example.com,Ada,Lovelace\n\
              bob@example.com,bob-at-example.com,Bob,Byte\n\
              cy@example.com,cy@example.com,Cy,Press\n",
            &[(2, "ada@example.com", None), (4, "cy@example.com", None)],
            &[3],
        ),
        (
            "duplicate login in file, ignoring case",
            b"login,email,first_name,last_name\n\
              ada@example.com,ada@example.com,Ada,Lovelace\n\
              bob@example.com,bob@example.com,Bob,Byte\n\
              ADA@example.com,ada2@example.com,Ada,Again\n",
            &[(3, "bob@example.com", None)],
            &[2, 4],
        ),
        (
            "too many cells",
            b"login,email,first_name,last_name\n\
              ada@example.com,ada@example.com,Ada,Lovelace,extra\n\
              bob@example.com,bob@example.com,Bob,Byte\n",
            &[(3, "bob@example.com", None)],
            &[2],
        ),
    ];
    for (name, file, rows, errors) in cases {
        let parsed = parse(file, None, &Mapping::default()).unwrap();
        assert_eq!(parsed.format, Format::Csv, "{name}");
        let got: Vec<_> = parsed
            .rows
            .iter()
            .map(|r| (r.line, r.login(), value(r, "department")))
            .collect();
        assert_eq!(got, rows, "{name}: {:?}", parsed.errors);
        let got: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(got, errors, "{name}");
        assert_eq!(parsed.records(), rows.len() + errors.len(), "{name}");
    }
}

#[test]
fn a_bad_row_says_why_and_keeps_its_login() {
    let parsed = csv("login,email,first_name,last_name\n\
         ada@example.com,ada@example.com,Ada,Lovelace\n\
         bob@example.com,bob-at-example.com,Bob,Byte\n\
         ,cy@example.com,Cy,Press\n");
    let [bad_email, no_login] = &parsed.errors[..] else {
        panic!("{:?}", parsed.errors)
    };
    assert_eq!(bad_email.line, 3);
    assert_eq!(bad_email.login.as_deref(), Some("bob@example.com"));
    assert!(
        bad_email
            .reason
            .contains("email \"bob-at-example.com\" is not an e-mail address"),
        "{}",
        bad_email.reason
    );
    assert_eq!(
        bad_email.to_string(),
        format!("line 3: {}", bad_email.reason)
    );
    assert_eq!((no_login.line, no_login.login.as_deref()), (4, None));
    assert_eq!(no_login.reason, "login is required");
}

#[test]
fn duplicates_name_each_others_lines() {
    let parsed = csv("login,email,first_name,last_name\n\
         ada@example.com,ada@example.com,Ada,Lovelace\n\
         Ada@Example.com,ada2@example.com,Ada,Again\n\
         bob@example.com,shared@example.com,Bob,Byte\n\
         cy@example.com,SHARED@example.com,Cy,Press\n");
    let reasons: Vec<_> = parsed
        .errors
        .iter()
        .map(|e| (e.line, e.reason.as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                2,
                "login ada@example.com is also on line 3: logins must be unique in the file"
            ),
            (
                3,
                "login Ada@Example.com is also on line 2: logins must be unique in the file"
            ),
            (
                4,
                "e-mail shared@example.com is also on line 5: e-mails must be unique in the file"
            ),
            (
                5,
                "e-mail SHARED@example.com is also on line 4: e-mails must be unique in the file"
            ),
        ]
    );
    assert!(parsed.rows.is_empty());
}

#[test]
fn groups_and_status_are_read() {
    let parsed = csv(&format!(
        "{HEADER}\n\
         ada@example.com,ada@example.com,Ada,Lovelace,,\" hr-eng ; ;hr-all;hr-eng\",\n\
         bob@example.com,bob@example.com,Bob,Byte,,;,SUSPENDED\n\
         cy@example.com,cy@example.com,Cy,Press,,,Terminated\n\
         di@example.com,di@example.com,Di,Gest,,,retired\n"
    ));
    let got: Vec<_> = parsed
        .rows
        .iter()
        .map(|r| (r.line, r.groups.clone(), r.status))
        .collect();
    assert_eq!(
        got,
        [
            (
                2,
                Some(vec!["hr-eng".into(), "hr-all".into()]),
                HrStatus::Active
            ),
            (3, Some(vec![]), HrStatus::Suspended),
            (4, None, HrStatus::Terminated),
        ]
    );
    assert_eq!(parsed.errors[0].line, 5);
    assert!(parsed.errors[0].reason.contains("status \"retired\""));
}

#[test]
fn a_mapping_renames_and_ignores_columns() {
    let mapping = Mapping::from_json(
        br#"{"columns": {"Work Email": "email", "Given Name": "first_name",
                         "Family Name": "last_name", "User": "login", "Dept": "department"},
             "ignore": ["Notes"]}"#,
    )
    .unwrap();
    let file = "User,Work Email,Given Name,Family Name,Dept,Notes\n\
                ada@example.com,ada@example.com,Ada,Lovelace,Maths,likes engines\n";
    let parsed = parse(file.as_bytes(), None, &mapping).unwrap();
    let row = &parsed.rows[0];
    assert_eq!(value(row, "firstName"), Some("Ada"));
    assert_eq!(value(row, "department"), Some("Maths"));
    assert_eq!(row.profile.len(), 5, "Notes is dropped");

    let plain = Mapping::from_columns([("Dept".into(), "department".into())].into());
    let err = parse(file.as_bytes(), None, &plain).unwrap_err();
    let InputError::UnknownColumns(names) = &err else {
        panic!("{err}")
    };
    assert_eq!(
        names,
        &["Family Name", "Given Name", "Notes", "User", "Work Email"]
    );
    assert!(err.to_string().starts_with(
        "unknown columns \"Family Name\", \"Given Name\", \"Notes\", \"User\", \"Work Email\"; known: login, email,"
    ));
}

#[test]
fn a_mapping_file_with_a_typo_is_refused() {
    for (name, json, expected) in [
        (
            "unknown target",
            r#"{"columns": {"Mail": "emial"}}"#,
            "unknown column \"emial\"",
        ),
        ("unknown key", r#"{"colums": {}}"#, "unknown field `colums`"),
        ("not JSON", "columns:", "expected value"),
    ] {
        let err = Mapping::from_json(json.as_bytes()).unwrap_err();
        assert!(err.to_string().contains(expected), "{name}: {err}");
    }
}

#[test]
fn an_unknown_column_fails_the_whole_file() {
    let err = parse(
        b"login,email,first_name,last_name,departmnet\nada@example.com,ada@example.com,A,L,X\n",
        None,
        &Mapping::default(),
    )
    .unwrap_err();
    assert_eq!(err, InputError::UnknownColumns(vec!["departmnet".into()]));
    let err = parse(b"login,email,login\n", None, &Mapping::default()).unwrap_err();
    assert_eq!(err, InputError::DuplicateColumn("login".into()));
    let err = parse(b"\n\n", Some(Format::Csv), &Mapping::default()).unwrap_err();
    assert_eq!(err, InputError::NoHeader);
}

#[test]
fn non_utf8_input_names_the_line() {
    // "Zoë" as Windows-1252 writes it.
    let file = b"login,email,first_name,last_name\n\
                 ada@example.com,ada@example.com,Ada,Lovelace\n\
                 zoe@example.com,zoe@example.com,Zo\xEB,Keating\n";
    let err = parse(file, None, &Mapping::default()).unwrap_err();
    assert_eq!(
        err,
        InputError::NotUtf8 {
            line: 3,
            byte: 0xEB
        }
    );
    assert!(err
        .to_string()
        .starts_with("line 3 is not UTF-8 (byte 0xEB)"));
}

#[test]
fn json_lines_parse_row_by_row() {
    let file = "\u{feff}{\"login\": \"ada@example.com\", \"email\": \"ada@example.com\", \
                \"first_name\": \"Ada\", \"last_name\": \"Lovelace\", \"groups\": [\"hr-eng\"], \
                \"employee_id\": 42, \"title\": \"\"}\r\n\
                \r\n\
                not json\n\
                [1]\n\
                {\"login\": \"bob@example.com\", \"email\": \"bob@example.com\", \
                \"first_name\": \"Bob\", \"last_name\": \"Byte\", \"groups\": \"a;b\", \
                \"status\": \"Suspended\", \"department\": null}\n";
    let parsed = parse(file.as_bytes(), None, &Mapping::default()).unwrap();
    assert_eq!(parsed.format, Format::JsonLines);
    let [ada, bob] = &parsed.rows[..] else {
        panic!("{:?}", parsed.rows)
    };
    assert_eq!(
        (ada.line, ada.groups.clone()),
        (1, Some(vec!["hr-eng".into()]))
    );
    assert_eq!(value(ada, "employeeNumber"), Some("42"));
    assert!(!ada.profile.contains_key("title"), "empty is absent");
    assert_eq!(
        (bob.line, bob.groups.clone(), bob.status),
        (5, Some(vec!["a".into(), "b".into()]), HrStatus::Suspended)
    );
    assert!(!bob.profile.contains_key("department"), "null is absent");
    let errors: Vec<_> = parsed.errors.iter().map(|e| e.line).collect();
    assert_eq!(errors, [3, 4]);
    assert_eq!(parsed.errors[1].reason, "a line must be one JSON object");

    let err = parse(
        b"{\"login\": \"a@b.co\", \"mail\": \"x\"}\n",
        None,
        &Mapping::default(),
    )
    .unwrap_err();
    assert_eq!(err, InputError::UnknownColumns(vec!["mail".into()]));
}

#[test]
fn format_from_extension_or_first_character() {
    assert_eq!(Format::from_extension("CSV"), Some(Format::Csv));
    assert_eq!(Format::from_extension(".jsonl"), Some(Format::JsonLines));
    assert_eq!(Format::from_extension("ndjson"), Some(Format::JsonLines));
    assert_eq!(Format::from_extension("xlsx"), None);
    assert_eq!(
        Format::detect(b"\xEF\xBB\xBF \n {\"a\":1}"),
        Format::JsonLines
    );
    assert_eq!(Format::detect(b"login,email"), Format::Csv);
}

#[test]
fn the_digest_is_the_files_sha256() {
    let parsed = csv("login,email,first_name,last_name\n");
    assert_eq!(
        parsed.digest,
        sha256_hex(b"login,email,first_name,last_name\n")
    );
    assert_eq!(
        sha256_hex(b"abc"),
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!(parsed.records(), 0);
}

#[test]
fn the_line_counter_agrees_with_counting_from_the_start_at_every_offset() {
    let text = "login,email\r\n\r\nada@example.com,a\n\n\"multi\nline\",b\r\nbob,c\n";
    let mut lines = LineCounter::new(text);
    for at in 0..=text.len() as u64 + 2 {
        let from_start = {
            let before = &text.as_bytes()[..(at as usize).min(text.len())];
            let after = &text.as_bytes()[before.len()..];
            let gap = after
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .filter(|b| **b == b'\n')
                .count();
            1 + before.iter().filter(|b| **b == b'\n').count() + gap
        };
        assert_eq!(lines.line_at(at), from_start, "offset {at}");
    }
    // Asked out of order, it starts over rather than miscount.
    assert_eq!(lines.line_at(0), 1);
    assert_eq!(lines.line_at(14), line_at(text, 14));
}
