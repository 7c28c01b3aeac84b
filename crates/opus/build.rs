//! Compiles the vendored libopus with the `cc` crate, so that building Chorus needs only
//! the Rust toolchain and a C compiler (no cmake, no system libopus).
//!
//! The source lists come from libopus's own `*_sources.mk` files, so updating the vendored
//! tree updates the build. The configuration is the one libopus's CMake build chooses by
//! default: floating point, hardening on, C99 variable-length arrays, and on x86 the SSE to
//! AVX2 kernels picked at run time (RTCD).

use std::collections::HashMap;
use std::env;
use std::fs;
use std::path::{Path, PathBuf};

const SOURCE_LISTS: [&str; 3] = ["opus_sources.mk", "celt_sources.mk", "silk_sources.mk"];

fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("libopus");
    println!("cargo:rerun-if-changed=libopus");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=csrc");

    let lists = read_source_lists(&root);
    let list = |name: &str| -> Vec<PathBuf> {
        lists
            .get(name)
            .unwrap_or_else(|| panic!("libopus source list {name} is missing"))
            .iter()
            .map(|file| root.join(file))
            .collect()
    };

    let version = package_version(&root);
    let arch = env::var("CARGO_CFG_TARGET_ARCH").unwrap_or_default();
    let x86 = arch == "x86_64" || arch == "x86";

    let mut base = cc::Build::new();
    base.include(root.join("include"))
        .include(&root)
        .include(root.join("celt"))
        .include(root.join("silk"))
        .include(root.join("silk/float"))
        .define("OPUS_BUILD", None)
        .define("PACKAGE_VERSION", format!("\"{version}\"").as_str())
        .define("ENABLE_HARDENING", None)
        .define("VAR_ARRAYS", None)
        .define("HAVE_LRINT", None)
        .define("HAVE_LRINTF", None)
        // A codec compiled without optimisation would make every debug build of the bridge
        // too slow to mix in real time; libopus's own build is always optimised too.
        .opt_level(3)
        .flag_if_supported("-fstack-protector-strong")
        .warnings(false)
        .cargo_warnings(false);
    if x86 {
        base.define("OPUS_HAVE_RTCD", None)
            .define("CPU_INFO_BY_C", None)
            .define("OPUS_X86_MAY_HAVE_SSE", None)
            .define("OPUS_X86_MAY_HAVE_SSE2", None)
            .define("OPUS_X86_MAY_HAVE_SSE4_1", None)
            .define("OPUS_X86_MAY_HAVE_AVX2", None);
        if arch == "x86_64" {
            // Every x86-64 processor has SSE and SSE2.
            base.define("OPUS_X86_PRESUME_SSE", None)
                .define("OPUS_X86_PRESUME_SSE2", None);
        }
    }

    let mut objects = Vec::new();
    if x86 {
        // Each group of kernels is compiled for its instruction set only; the dispatch
        // tables pick them at run time when the processor has that set.
        let groups: [(&[&str], &[&str]); 4] = [
            (&["CELT_SOURCES_SSE"], &["-msse"]),
            (&["CELT_SOURCES_SSE2"], &["-msse2"]),
            (
                &["CELT_SOURCES_SSE4_1", "SILK_SOURCES_SSE4_1"],
                &["-msse4.1"],
            ),
            (
                &[
                    "CELT_SOURCES_AVX2",
                    "SILK_SOURCES_AVX2",
                    "SILK_SOURCES_FLOAT_AVX2",
                ],
                &["-mavx", "-mfma", "-mavx2"],
            ),
        ];
        for (names, flags) in groups {
            let mut build = base.clone();
            for flag in flags {
                build.flag(flag);
            }
            for name in names {
                build.files(list(name));
            }
            objects.extend(build.compile_intermediates());
        }
    }

    let mut lib = base;
    for name in [
        "OPUS_SOURCES",
        "OPUS_SOURCES_FLOAT",
        "CELT_SOURCES",
        "SILK_SOURCES",
        "SILK_SOURCES_FLOAT",
    ] {
        lib.files(list(name));
    }
    if x86 {
        // The processor probe is renamed and wrapped by csrc/select_arch.c, which probes
        // once instead of on every decoder reset (each probe traps under a hypervisor).
        let mut probe = lib.clone();
        probe
            .define("opus_select_arch", "chorus_opus_probe_arch")
            .files(list("CELT_SOURCES_X86_RTCD"));
        lib.objects(probe.compile_intermediates());
        lib.file(Path::new(env!("CARGO_MANIFEST_DIR")).join("csrc/select_arch.c"));
        lib.files(list("SILK_SOURCES_X86_RTCD"));
    }
    lib.objects(objects).compile("opus");
}

/// Parses the `NAME = \` lists of file names in libopus's make fragments.
fn read_source_lists(root: &Path) -> HashMap<String, Vec<String>> {
    let mut lists: HashMap<String, Vec<String>> = HashMap::new();
    for file in SOURCE_LISTS {
        let text = fs::read_to_string(root.join(file))
            .unwrap_or_else(|e| panic!("reading libopus/{file}: {e}"));
        let mut current: Option<String> = None;
        for line in text.lines() {
            let line = line.trim();
            let continues = line.ends_with('\\');
            let line = line.trim_end_matches('\\').trim();
            let entries = match line.split_once('=') {
                Some((name, rest)) => {
                    current = Some(name.trim().to_owned());
                    rest
                }
                None => line,
            };
            if let Some(name) = &current {
                let files = lists.entry(name.clone()).or_default();
                files.extend(
                    entries
                        .split_whitespace()
                        .filter(|f| f.ends_with(".c"))
                        .map(str::to_owned),
                );
            }
            if !continues {
                current = None;
            }
        }
    }
    lists
}

/// The release in libopus's `package_version` file (`PACKAGE_VERSION="1.6.1"`).
fn package_version(root: &Path) -> String {
    let text = fs::read_to_string(root.join("package_version"))
        .unwrap_or_else(|e| panic!("reading libopus/package_version: {e}"));
    text.trim()
        .trim_start_matches("PACKAGE_VERSION=")
        .trim_matches('"')
        .to_owned()
}
