//! What the package says about itself: the license files its manifest names, and the README's API
//! table (the README's Rust and shell examples are checked elsewhere: doc tests and
//! `.ci/readme-commands`).

use std::path::Path;

const MANIFEST: &str = include_str!("../Cargo.toml");
const README: &str = include_str!("../README.md");

fn read(file: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The manifest's `license` names two licenses: each has its file, with its standard text and
/// the project's copyright holder, and the README points to both.
#[test]
fn each_license_the_manifest_names_has_its_file() {
    let license = MANIFEST.lines().find_map(|line| line.strip_prefix("license = ")).expect("a license field");
    assert_eq!(license, r#""MIT OR Apache-2.0""#);
    let mit = read("LICENSE-MIT");
    assert!(mit.starts_with("MIT License\n\nCopyright (c) the bare-sse authors\n"), "{mit}");
    assert!(mit.contains("THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND"));
    let apache = read("LICENSE-APACHE");
    assert!(apache.contains("Apache License") && apache.contains("Version 2.0, January 2004"));
    assert!(apache.contains("END OF TERMS AND CONDITIONS"), "the whole text");
    for file in ["LICENSE-MIT", "LICENSE-APACHE"] {
        assert!(README.contains(&format!("]({file})")), "the README links {file}");
    }
}

/// The README's API table: the one-call server says where routes come from, and the calls a
/// handler or a program is likely to need are listed.
#[test]
fn the_api_table_lists_routes_and_everyday_calls() {
    let table: Vec<&str> = README
        .split("\n## API\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("an API section")
        .lines()
        .filter(|line| line.starts_with("| `"))
        .collect();
    let one_call = table.iter().find(|row| row.starts_with("| `start_sse_tcp_port(port)`")).unwrap();
    assert!(one_call.contains("no routes") && one_call.contains("`Server::builder()`"), "{one_call}");
    // A row names a type's methods as `Type::first`, `second`, ...
    for (type_name, method) in
        [("Server", "`Server::hub()`"), ("Response", "`with_status`"), ("Request", "`body_text`")]
    {
        let listed = table.iter().any(|row| row.contains(&format!("`{type_name}::")) && row.contains(method));
        assert!(listed, "{type_name}'s {method} is not in the API table");
    }
}
