//! Mutation tests of the parsers that read outside input: the seeds of the fuzz targets
//! (`fuzz/seeds/<target>/`, from the real fixtures) mutated deterministically, each input
//! handed to the target's entry point in `lifecycle::fuzzing`, which must not panic and
//! checks its invariants. Inputs a fuzz run found (`fuzz/regressions/<target>/`) are
//! replayed first. `make fuzz` is the coverage-guided run over the same entry points.
//!
//! `PARSER_MUTATIONS` sets the number of mutated inputs per target (default 30,000).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use lifecycle::fuzzing::TARGETS;

const DEFAULT_MUTATIONS: usize = 30_000;

/// Tokens a JSON, CSV or header parser treats specially.
const TOKENS: &[&[u8]] = &[
    b"null",
    b"true",
    b"false",
    b"{}",
    b"[]",
    b"\"\"",
    b"\"",
    b"\\",
    b"\\u0000",
    b"\\ud800",
    b"-1e999",
    b"18446744073709551616",
    b"-0",
    b"0.5",
    b",",
    b":",
    b";",
    b"<",
    b">",
    b"=",
    b"rel=\"next\"",
    b"\n",
    b"\r\n",
    b"\t",
    b"\xef\xbb\xbf",
    b"\xff",
    b"\xc3",
    b"\xe2\x80",
    b"\"id\":",
    b"\"type\":",
    b"\"uuid\":",
    b"\"published\":",
    b"\"eventType\":",
    b"\"target\":[{\"type\":\"User\",\"id\":\"00u1\"}]",
    b"\"Resources\":",
    b"\"active\":",
    b"\"profile\":{}",
    b"\"idempotency_key\":",
    b"\"actions\":",
    b"\"scim\":",
    b"\"webhooks\":",
    b"2026-11-23T09:41:05.512Z",
    b"9999-99-99T99:99:99Z",
    b"00u1abcdEFGH",
    b"\xcc\x81",
];

/// xorshift64*: the same inputs on every run and machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// One to four mutations of a seed, sometimes spliced with another.
fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(8) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] = rng.next() as u8;
            }
            2 => {
                let token = TOKENS[rng.below(TOKENS.len())];
                data.splice(at..at, token.iter().copied());
            }
            3 if !data.is_empty() => {
                let end = (at + 1 + rng.below(64)).min(data.len());
                data.drain(at.min(end)..end);
            }
            4 if !data.is_empty() => {
                let start = rng.below(data.len());
                let end = (start + 1 + rng.below(32)).min(data.len());
                let copy = data[start..end].to_vec();
                data.splice(at..at, copy);
            }
            5 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            6 => data.truncate(at),
            _ => {
                // A JSON value where one was: the depth and the types parsers must survive.
                let nested = [
                    "[".repeat(1 + rng.below(200)),
                    "{\"a\":".repeat(1 + rng.below(50)),
                ];
                let token = nested[rng.below(2)].clone();
                data.splice(at..at, token.into_bytes());
            }
        }
    }
    data
}

fn files(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<_> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .map(|p| {
            let data = std::fs::read(&p).unwrap();
            (p, data)
        })
        .collect();
    out.sort();
    out
}

fn run(name: &str) {
    let (_, target) = TARGETS.iter().find(|(n, _)| *n == name).unwrap();
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz");
    for (path, data) in files(&fuzz.join("regressions").join(name)) {
        if catch_unwind(|| target(&data)).is_err() {
            panic!("{name}: the regression input {} panics", path.display());
        }
    }
    let seeds: Vec<Vec<u8>> = files(&fuzz.join("seeds").join(name))
        .into_iter()
        .map(|(_, d)| d)
        .collect();
    assert!(
        !seeds.is_empty(),
        "{name}: no seeds (python3 tools/fuzz_seeds.py)"
    );
    let count = std::env::var("PARSER_MUTATIONS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(DEFAULT_MUTATIONS);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    for seed in &seeds {
        target(seed);
    }
    for i in 0..count {
        let data = mutate(&mut rng, &seeds);
        if catch_unwind(AssertUnwindSafe(|| target(&data))).is_err() {
            let out = std::env::temp_dir().join(format!("parser-mutation-{name}-{i}"));
            std::fs::write(&out, &data).unwrap();
            panic!(
                "{name}: mutated input {i} panics; kept in {} (add it to fuzz/regressions/{name}/)",
                out.display()
            );
        }
    }
}

#[test]
fn hook_envelope() {
    run("hook_envelope");
}

#[test]
fn log_page() {
    run("log_page");
}

#[test]
fn link_header() {
    run("link_header");
}

#[test]
fn scim_response() {
    run("scim_response");
}

#[test]
fn okta_objects() {
    run("okta_objects");
}

#[test]
fn targets_secret() {
    run("targets_secret");
}

#[test]
fn actions_request() {
    run("actions_request");
}

#[test]
fn hr_file() {
    run("hr_file");
}
