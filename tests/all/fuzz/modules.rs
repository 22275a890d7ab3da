//! Module loading: `Keel::deploy` on random bytes, on wasm-smith modules (as they are and wrapped in
//! a component, so that wasmtime compiles them), and on real guest components with bytes flipped,
//! truncated or spliced. Every refusal is a coded `KEEL-M…` error; a deploy never panics and never
//! hangs (each is bounded by a timeout well above what a compile takes).

use std::ops::Range;
use std::time::Duration;

use arbitrary::Unstructured;
use keel::Keel;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::{check, expect_code, runtime};

/// Longer than any honest deploy of the fuzzed inputs (compiling a guest takes well under a second).
const HANG: Duration = Duration::from_secs(60);

/// An engine without a compiled-module cache (the mutants must not fill the suite's shared one) and
/// with short manifest limits, so that a mutant whose manifest spins is stopped quickly.
async fn engine() -> (Keel, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temporary directory");
    let mut config = crate::support::test_config(dir.path());
    config.cache_dir = None;
    config.limits.manifest_cpu_ms = 300;
    config.limits.manifest_wall_ms = 3_000;
    let keel = Keel::open(config).await.expect("opening the engine");
    (keel, dir)
}

/// Deploys `bytes`: `Ok(true)` if it was accepted, `Ok(false)` for a coded refusal.
async fn deploy(keel: &Keel, bytes: Vec<u8>) -> Result<bool, TestCaseError> {
    match tokio::time::timeout(HANG, keel.deploy(bytes, None)).await {
        Err(_) => Err(TestCaseError::fail(format!(
            "the deploy did not return within {HANG:?}"
        ))),
        Ok(Ok(_)) => Ok(true),
        Ok(Err(e)) => expect_code(&e.to_string(), "KEEL-M").map(|()| false),
    }
}

fn leb128(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn read_leb128(bytes: &[u8], at: &mut usize) -> Option<usize> {
    let mut n = 0usize;
    for shift in (0..35).step_by(7) {
        let byte = *bytes.get(*at)?;
        *at += 1;
        n |= usize::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

/// The preamble of a component (`\0asm`, version 0x0d, layer 1).
const COMPONENT: [u8; 8] = [0, b'a', b's', b'm', 0x0d, 0, 1, 0];
/// The preamble of a core module.
const CORE: [u8; 8] = [0, b'a', b's', b'm', 1, 0, 0, 0];

/// A component holding `module` as its only core module: wasmtime validates and compiles the module,
/// and Keel then finds none of its exports.
fn wrap(module: &[u8]) -> Vec<u8> {
    let mut out = COMPONENT.to_vec();
    out.push(1);
    leb128(module.len(), &mut out);
    out.extend_from_slice(module);
    out
}

/// Sections of `bytes` after the preamble, as `(id, body)`; `None` if they do not parse.
fn sections(bytes: &[u8]) -> Option<Vec<(u8, &[u8])>> {
    let mut at = 8;
    let mut out = Vec::new();
    while at < bytes.len() {
        let id = bytes[at];
        at += 1;
        let len = read_leb128(bytes, &mut at)?;
        out.push((id, bytes.get(at..at.checked_add(len)?)?));
        at += len;
    }
    Some(out)
}

fn encode(preamble: &[u8], sections: &[(u8, Vec<u8>)]) -> Vec<u8> {
    let mut out = preamble.to_vec();
    for (id, body) in sections {
        out.push(*id);
        leb128(body.len(), &mut out);
        out.extend_from_slice(body);
    }
    out
}

/// `component` without the DWARF sections of its core modules (most of a guest's bytes), so that
/// mutations land in code, types and the component's own sections.
fn strip_debug(component: &[u8]) -> Vec<u8> {
    let outer = sections(component).expect("a guest component parses");
    let mut kept = Vec::new();
    for (id, body) in outer {
        if id == 1 {
            let inner = sections(body).expect("a guest's core module parses");
            let inner: Vec<(u8, Vec<u8>)> = inner
                .into_iter()
                .filter(|(id, body)| *id != 0 || !custom_name(body).starts_with(b".debug"))
                .map(|(id, body)| (id, body.to_vec()))
                .collect();
            kept.push((id, encode(&body[..8], &inner)));
        } else {
            kept.push((id, body.to_vec()));
        }
    }
    encode(&component[..8], &kept)
}

fn custom_name(body: &[u8]) -> &[u8] {
    let mut at = 0;
    read_leb128(body, &mut at)
        .and_then(|len| body.get(at..at + len))
        .unwrap_or_default()
}

#[test]
fn random_bytes_are_refused_with_a_code() {
    let preamble = prop_oneof![
        Just(Vec::new()),
        Just(b"\0asm".to_vec()),
        Just(CORE.to_vec()),
        Just(COMPONENT.to_vec()),
        vec(any::<u8>(), 0..8),
    ];
    let rt = runtime();
    let (keel, _dir) = rt.block_on(engine());
    check(
        "modules::random_bytes_are_refused_with_a_code",
        2_000,
        (preamble, vec(any::<u8>(), 0..300)),
        |(mut bytes, tail)| {
            bytes.extend(tail);
            rt.block_on(deploy(&keel, bytes)).map(|_| ())
        },
    );
}

/// A wasm-smith module from `data`: with every proposal wasm-smith knows, or (`engine_features`)
/// only those Keel's engine validates (GC types, externref among them, need wasmtime's GC support,
/// which Keel does not build), so that most modules get as far as compiling.
fn smith(data: &[u8], engine_features: bool) -> Option<Vec<u8>> {
    let mut config = wasm_smith::Config {
        max_funcs: 20,
        max_instructions: 1_000,
        max_tables: 2,
        max_memory32_bytes: 1 << 20,
        canonicalize_nans: false,
        ..wasm_smith::Config::default()
    };
    if engine_features {
        config.memory64_enabled = false;
        config.threads_enabled = false;
        config.shared_everything_threads_enabled = false;
        config.gc_enabled = false;
        config.reference_types_enabled = false;
        config.exceptions_enabled = false;
        config.compact_imports_enabled = false;
        config.wide_arithmetic_enabled = false;
    }
    wasm_smith::Module::new(config, &mut Unstructured::new(data))
        .ok()
        .map(|m| m.to_bytes())
}

#[test]
fn generated_modules_are_refused_with_a_code() {
    let rt = runtime();
    let (keel, _dir) = rt.block_on(engine());
    check(
        "modules::generated_modules_are_refused_with_a_code",
        500,
        (vec(any::<u8>(), 64..4_096), proptest::bool::weighted(0.8)),
        |(data, engine_features)| {
            let Some(module) = smith(&data, engine_features) else {
                return Ok(());
            };
            rt.block_on(async {
                // A core module as it is: refused at the header.
                let accepted = deploy(&keel, module.clone()).await?;
                prop_assert!(!accepted, "a core module was deployed");
                // Inside a component: validated and compiled by wasmtime, then refused for its
                // exports (or for a proposal the engine does not take).
                let accepted = deploy(&keel, wrap(&module)).await?;
                prop_assert!(!accepted, "a component without Keel's exports was deployed");
                Ok(())
            })
        },
    );
}

/// One change to a component's bytes, at a position given as a fraction of its length or, with
/// `outer`, of the component's own sections (types, imports, exports: a few KiB beside the core
/// modules' code, and where a change becomes a wrong world or an unknown import).
#[derive(Debug, Clone)]
enum Mutation {
    Flip {
        at: u32,
        outer: bool,
        bit: u8,
    },
    Set {
        at: u32,
        outer: bool,
        byte: u8,
    },
    /// The next lowercase letter from the position on becomes another one: names stay well-formed,
    /// so an import or an export now names something else.
    Rename {
        at: u32,
        outer: bool,
        shift: u8,
    },
    Truncate {
        at: u32,
    },
    Remove {
        at: u32,
        len: u16,
    },
    Duplicate {
        at: u32,
        len: u16,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let interesting = proptest::sample::select(&[0u8, 1, 0x7f, 0x80, 0xff, 0x0b, 0x41][..]);
    prop_oneof![
        6 => (any::<u32>(), any::<bool>(), 0u8..8)
            .prop_map(|(at, outer, bit)| Mutation::Flip { at, outer, bit }),
        3 => (any::<u32>(), any::<bool>(), interesting)
            .prop_map(|(at, outer, byte)| Mutation::Set { at, outer, byte }),
        3 => (any::<u32>(), any::<bool>(), 1u8..26)
            .prop_map(|(at, outer, shift)| Mutation::Rename { at, outer, shift }),
        1 => any::<u32>().prop_map(|at| Mutation::Truncate { at }),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Remove { at, len }),
        1 => (any::<u32>(), 1u16..64).prop_map(|(at, len)| Mutation::Duplicate { at, len }),
    ]
}

/// The byte ranges of the component's own sections (neither core modules nor custom sections).
fn outer_ranges(component: &[u8]) -> Vec<Range<usize>> {
    let mut ranges = Vec::new();
    let mut at = 8;
    while at < component.len() {
        let id = component[at];
        at += 1;
        let Some(len) = read_leb128(component, &mut at) else {
            break;
        };
        if id != 0 && id != 1 {
            ranges.push(at..at + len);
        }
        at += len;
    }
    ranges
}

/// `at` as a fraction of `len`.
fn scale(at: u32, len: usize) -> usize {
    usize::try_from((u64::from(at) * len as u64) >> 32).unwrap_or(0)
}

/// The position a flip or a set changes: anywhere, or within `outer`.
fn position(at: u32, outer: bool, len: usize, ranges: &[Range<usize>]) -> usize {
    let total: usize = ranges.iter().map(ExactSizeIterator::len).sum();
    if !outer || total == 0 {
        return scale(at, len);
    }
    let mut offset = scale(at, total);
    for range in ranges {
        if offset < range.len() {
            return (range.start + offset).min(len - 1);
        }
        offset -= range.len();
    }
    len - 1
}

fn mutate(bytes: &mut Vec<u8>, mutation: &Mutation, ranges: &[Range<usize>]) {
    match *mutation {
        Mutation::Flip { at, outer, bit } if !bytes.is_empty() => {
            let i = position(at, outer, bytes.len(), ranges);
            bytes[i] ^= 1 << bit;
        }
        Mutation::Set { at, outer, byte } if !bytes.is_empty() => {
            let i = position(at, outer, bytes.len(), ranges);
            bytes[i] = byte;
        }
        Mutation::Rename { at, outer, shift } if !bytes.is_empty() => {
            let from = position(at, outer, bytes.len(), ranges);
            if let Some(letter) = bytes[from..].iter_mut().find(|b| b.is_ascii_lowercase()) {
                *letter = b'a' + (*letter - b'a' + shift) % 26;
            }
        }
        Mutation::Truncate { at } => bytes.truncate(scale(at, bytes.len() + 1)),
        Mutation::Remove { at, len } => {
            let start = scale(at, bytes.len() + 1);
            let end = (start + usize::from(len)).min(bytes.len());
            bytes.drain(start..end);
        }
        Mutation::Duplicate { at, len } => {
            let start = scale(at, bytes.len() + 1);
            let end = (start + usize::from(len)).min(bytes.len());
            let copy = bytes[start..end].to_vec();
            bytes.splice(end..end, copy);
        }
        Mutation::Flip { .. } | Mutation::Set { .. } | Mutation::Rename { .. } => {}
    }
}

/// Guests whose mutants are deployed: an orchestrator module and an activity module.
const GUESTS: [&str; 2] = ["approval", "order_processing"];

#[test]
fn mutated_guests_deploy_or_are_refused_with_a_code() {
    let rt = runtime();
    let (keel, _dir) = rt.block_on(engine());
    let guests: Vec<Vec<u8>> = GUESTS
        .iter()
        .map(|g| strip_debug(&crate::support::guest(g)))
        .collect();
    for (name, guest) in GUESTS.iter().zip(&guests) {
        let deployed = rt.block_on(keel.deploy(guest.clone(), None));
        assert!(
            deployed.is_ok(),
            "{name} without its debug sections: {deployed:?}"
        );
    }
    check(
        "modules::mutated_guests_deploy_or_are_refused_with_a_code",
        50,
        (0..GUESTS.len(), vec(mutation(), 1..4)),
        |(guest, mutations)| {
            let mut bytes = guests[guest].clone();
            let ranges = outer_ranges(&bytes);
            for m in &mutations {
                mutate(&mut bytes, m, &ranges);
            }
            rt.block_on(deploy(&keel, bytes)).map(|_| ())
        },
    );
}
