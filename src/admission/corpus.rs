//! The inputs the API server would refuse, one rule each, in `tests/corpus/invalid/`, and inputs
//! that look wrong but that it accepts, in `tests/corpus/valid/`: shared by the unit tests of
//! `admission`, the binary's tests in `tests/oneshot.rs` and the comparison with the real API
//! server in `tests/admission_parity.rs`, which include this file by path.
//!
//! Each file starts with comment lines: `# rule:` says which rule it breaks (or what is accepted),
//! `# path:` (when the refusal names a field) the field path the refusal must name, and
//! `# expect:` a fragment the message (or, for an accepted input, a note) must contain.

/// One refused input.
pub struct Entry {
    /// The file name, e.g. `002-userpoolid-pattern.yaml`.
    pub file: String,
    pub rule: String,
    pub path: Option<String>,
    pub expect: String,
    pub input: Vec<u8>,
}

/// Every refused entry of the corpus, in file name order.
pub fn invalid() -> Vec<Entry> {
    entries(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/invalid"))
}

/// Every accepted entry of the corpus, in file name order.
pub fn valid() -> Vec<Entry> {
    entries(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpus/valid"))
}

fn entries(dir: &str) -> Vec<Entry> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("the corpus folder exists")
        .map(|e| e.expect("the corpus folder is readable").path())
        .collect();
    files.sort();
    files.iter().map(|file| entry(file)).collect()
}

fn entry(file: &std::path::Path) -> Entry {
    let input = std::fs::read(file).expect("a corpus file is readable");
    let name = file.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let header = String::from_utf8_lossy(&input).into_owned();
    let field = |key: &str| {
        header
            .lines()
            .take_while(|line| line.starts_with('#'))
            .find_map(|line| line.strip_prefix(key).map(|v| v.trim().to_string()))
    };
    let required = |key: &str| field(key).unwrap_or_else(|| panic!("{name} has a `{key}` line"));
    Entry {
        rule: required("# rule:"),
        path: field("# path:"),
        expect: required("# expect:"),
        file: name.clone(),
        input,
    }
}
