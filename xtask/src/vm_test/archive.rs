//! Kernel series the host's apt sources do not carry (Debian's backported
//! 7.x): read the Debian archive's package index of each searched suite
//! straight from the mirror, pick the newest kernel of the series, download
//! its .debs with curl and check each against the index's SHA256. The host's
//! apt sources and pinning stay untouched (a bookworm host must not start
//! upgrading from trixie).
//!
//! From 7.x Debian ships a kernel as three packages: `linux-image-<krel>`
//! (now a small dependency package), `linux-binary-<krel>` (the image, at
//! `usr/lib/modules/<krel>/vmlinuz`) and `linux-modules-<krel>` (`.ko.xz`).
//! Older series keep everything in `linux-image-<krel>` (`boot/vmlinuz-*`).
//! Whichever of the three the suite has for the chosen release are fetched.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::arch::Arch;
use super::kernel::{self, Kernel};
use crate::Result;

/// Suites searched for a series, in order; the newest version across them wins.
pub const SUITES: &[&str] = &["trixie-backports", "trixie", "bookworm-backports"];

/// The mirror when the host's apt sources name none.
const DEFAULT_MIRROR: &str = "http://deb.debian.org/debian";

/// What `--kernel-version` asked the archive for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Wanted {
    /// A `MAJOR.MINOR` series, e.g. "7.3".
    Series(String),
    /// The newest series the searched suites offer.
    Latest,
}

impl Wanted {
    /// `latest` or a `MAJOR.MINOR` series; None for anything else.
    pub fn parse(s: &str) -> Option<Wanted> {
        if s == "latest" {
            return Some(Wanted::Latest);
        }
        let (major, minor) = s.split_once('.')?;
        let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
        (numeric(major) && numeric(minor)).then(|| Wanted::Series(s.to_string()))
    }
}

/// One stanza of a `Packages` index: the fields vm-test uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IndexEntry {
    pub package: String,
    pub version: String,
    /// Path below the mirror, e.g. `pool/main/l/linux/linux-modules-…deb`.
    pub filename: String,
    pub sha256: String,
}

/// Parses a `Packages` file (deb822 stanzas separated by blank lines).
/// Stanzas lacking a field vm-test needs are left out.
pub fn parse_index(text: &str) -> Vec<IndexEntry> {
    let mut out = Vec::new();
    let mut e = IndexEntry::default();
    let mut flush = |e: &mut IndexEntry| {
        let done = std::mem::take(e);
        if ![&done.package, &done.version, &done.filename, &done.sha256].iter().any(|f| f.is_empty()) {
            out.push(done);
        }
    };
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut e);
            continue;
        }
        let Some((key, value)) = line.split_once(':') else { continue };
        let value = value.trim().to_string();
        match key {
            "Package" => e.package = value,
            "Version" => e.version = value,
            "Filename" => e.filename = value,
            "SHA256" => e.sha256 = value.to_ascii_lowercase(),
            _ => {}
        }
    }
    flush(&mut e);
    out
}

/// The kernel chosen for a series: its release and the .debs that hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pick {
    /// `MAJOR.MINOR`.
    pub series: String,
    pub suite: String,
    /// The kernel release, e.g. `7.3.4+deb13-arm64` (`uname -r`).
    pub krel: String,
    pub debs: Vec<IndexEntry>,
}

/// The series and release of `package` if it is a plain `linux-image-<krel>`
/// of `deb_arch` (not cloud/rt/16k, not -unsigned or -dbg): `7.3.4+deb13-amd64`
/// and bookworm's `6.1.0-56-amd64` are; `7.3.4+deb13-cloud-amd64` is not.
fn release_of(package: &str, deb_arch: &str) -> Option<(String, String)> {
    let krel = package.strip_prefix("linux-image-")?;
    let version = krel.strip_suffix(deb_arch)?.strip_suffix('-')?;
    let split = version.find(['+', '-']).unwrap_or(version.len());
    let (upstream, rest) = version.split_at(split);
    let plain_rest = match rest.as_bytes().first() {
        None => true,
        Some(b'+') => !rest.contains('-'),
        Some(_) => rest.len() > 1 && rest[1..].bytes().all(|b| b.is_ascii_digit()),
    };
    let mut parts = upstream.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if !plain_rest || !upstream.split('.').all(numeric) {
        return None;
    }
    Some((format!("{major}.{minor}"), krel.to_string()))
}

/// `MAJOR.MINOR` as numbers, for ordering series.
fn series_key(series: &str) -> (u32, u32) {
    let (a, b) = series.split_once('.').unwrap_or((series, "0"));
    (a.parse().unwrap_or(0), b.parse().unwrap_or(0))
}

/// Chooses the newest kernel of `wanted` for `deb_arch` among `indexes`
/// (suite, entries), searched in the given order.
pub fn choose(indexes: &[(String, Vec<IndexEntry>)], wanted: &Wanted, deb_arch: &str) -> Result<Pick> {
    // (series, krel, suite, linux-image entry) of every plain kernel.
    let mut kernels = Vec::new();
    for (suite, entries) in indexes {
        for e in entries {
            if let Some((series, krel)) = release_of(&e.package, deb_arch) {
                kernels.push((series, krel, suite, e));
            }
        }
    }
    let series = match wanted {
        Wanted::Series(s) => s.clone(),
        Wanted::Latest => kernels
            .iter()
            .map(|k| k.0.clone())
            .max_by_key(|s| series_key(s))
            .ok_or_else(|| format!("no {deb_arch} kernel at all in {}", suites_text(deb_arch)))?,
    };
    let newest = kernels
        .iter()
        .filter(|k| k.0 == series)
        // max_by keeps the last of equals: iterate in reverse so earlier suites win ties.
        .rev()
        .max_by(|a, b| compare_versions(&a.3.version, &b.3.version))
        .ok_or_else(|| {
            let mut offered: Vec<&String> = kernels.iter().map(|k| &k.0).collect();
            offered.sort_by_key(|s| series_key(s));
            offered.dedup();
            let offered = offered.iter().map(|s| s.as_str()).collect::<Vec<_>>().join(", ");
            format!(
                "no Linux {series} kernel for {deb_arch} in {}; they carry {}",
                suites_text(deb_arch),
                if offered.is_empty() { "none" } else { &offered }
            )
        })?;
    let (_, krel, suite, image) = newest;
    let entries = &indexes.iter().find(|(s, _)| s == *suite).expect("the suite the kernel came from").1;
    let mut debs = vec![(*image).clone()];
    for kind in ["linux-binary", "linux-modules"] {
        let name = format!("{kind}-{krel}");
        let same = entries.iter().filter(|e| e.package == name);
        // The release's own build; else the newest of that name.
        let part = same
            .clone()
            .find(|e| e.version == image.version)
            .or_else(|| same.max_by(|a, b| compare_versions(&a.version, &b.version)));
        debs.extend(part.cloned());
    }
    Ok(Pick { series, suite: suite.to_string(), krel: krel.clone(), debs })
}

/// "trixie-backports, trixie, bookworm-backports (binary-arm64)": names the search in messages.
fn suites_text(deb_arch: &str) -> String {
    format!("{} (binary-{deb_arch})", SUITES.join(", "))
}

/// Debian version ordering (dpkg's): epoch, upstream, revision; `~` sorts
/// before everything, letters before other symbols.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    fn split(v: &str) -> (u64, &str, &str) {
        let (epoch, rest) = match v.split_once(':') {
            Some((e, r)) if e.bytes().all(|b| b.is_ascii_digit()) => (e.parse().unwrap_or(0), r),
            _ => (0, v),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        (epoch, upstream, revision)
    }
    let (ea, ua, ra) = split(a);
    let (eb, ub, rb) = split(b);
    ea.cmp(&eb).then_with(|| verrevcmp(ua, ub)).then_with(|| verrevcmp(ra, rb))
}

/// dpkg's verrevcmp: alternating runs of non-digits (by [`char_order`]) and digits (numerically).
fn verrevcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(u8::is_ascii_digit);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (char_order(a.get(i).copied()), char_order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while digit(a, i) && digit(b, j) {
            if first_diff == Ordering::Equal {
                first_diff = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if digit(a, i) {
            return Ordering::Greater;
        }
        if digit(b, j) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

fn char_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

/// The Debian mirror of the host's apt sources (one-line `.list` or deb822
/// `.sources` text): the first `deb` URI ending in `/debian`, else deb.debian.org.
pub fn mirror_from_sources(texts: &[String]) -> String {
    for text in texts {
        for line in text.lines().map(str::trim) {
            let uris: Vec<&str> = if let Some(rest) = line.strip_prefix("deb ") {
                // deb [options] URI suite components
                let rest = match rest.trim_start().strip_prefix('[') {
                    Some(opts) => opts.split_once(']').map_or("", |(_, r)| r),
                    None => rest,
                };
                rest.split_whitespace().take(1).collect()
            } else if let Some(rest) = line.strip_prefix("URIs:") {
                rest.split_whitespace().collect()
            } else {
                continue;
            };
            if let Some(uri) = uris.into_iter().map(|u| u.trim_end_matches('/')).find(|u| u.ends_with("/debian")) {
                return uri.to_string();
            }
        }
    }
    DEFAULT_MIRROR.to_string()
}

fn host_mirror() -> String {
    let mut texts = Vec::new();
    texts.extend(std::fs::read_to_string("/etc/apt/sources.list").ok());
    if let Ok(dir) = std::fs::read_dir("/etc/apt/sources.list.d") {
        let mut files: Vec<PathBuf> = dir.filter_map(|e| e.ok().map(|e| e.path())).collect();
        files.sort();
        texts.extend(
            files
                .iter()
                .filter(|p| p.extension().is_some_and(|e| e == "list" || e == "sources"))
                .filter_map(|p| std::fs::read_to_string(p).ok()),
        );
    }
    mirror_from_sources(&texts)
}

/// The cached kernel of `wanted` for `arch`, fetched from the archive when
/// absent (or when `refresh`). `latest` always reads the indexes to learn
/// which series is newest.
pub fn cached(root: &Path, arch: &Arch, wanted: &Wanted, refresh: bool) -> Result<Kernel> {
    let arch_dir = root.join("target/vm-kernels").join(arch.name);
    let mirror = host_mirror();
    let mut indexes = None;
    let series = match wanted {
        Wanted::Series(s) => s.clone(),
        Wanted::Latest => {
            let read = read_indexes(&mirror, arch, &arch_dir.join("index"))?;
            let series = choose(&read, wanted, arch.deb_arch)?.series;
            eprintln!("vm-test: the newest Linux series in {} is {series}", suites_text(arch.deb_arch));
            indexes = Some(read);
            series
        }
    };
    let dir = arch_dir.join(&series);
    if refresh && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    if let Ok(k) = kernel::read_manifest(&dir) {
        return Ok(k);
    }
    let indexes = match indexes {
        Some(i) => i,
        None => read_indexes(&mirror, arch, &arch_dir.join("index"))?,
    };
    let mut pick = choose(&indexes, &Wanted::Series(series), arch.deb_arch)?;
    if arch.kvm_modules.is_empty() {
        // KVM is built in (arm64): the modules package (86 MB for 7.3) holds nothing we load.
        pick.debs.retain(|d| !d.package.starts_with("linux-modules-"));
    }
    let names = pick.debs.iter().map(|d| format!("{} {}", d.package, d.version)).collect::<Vec<_>>();
    eprintln!("vm-test: fetching {} from {mirror} ({}) into {}", names.join(", "), pick.suite, dir.display());
    // Per process, so two runs filling the cache at once do not share files.
    let download = dir.join(format!(".download-{}", std::process::id()));
    kernel::recreate_dir(&download)?;
    let mut files = Vec::new();
    for deb in &pick.debs {
        let file = download.join(deb.filename.rsplit('/').next().unwrap_or("package.deb"));
        curl(&format!("{mirror}/{}", deb.filename), &file, None)?;
        verify_sha256(&file, &deb.sha256)?;
        files.push(file);
    }
    let origin = format!("{} ({})", names.join(", "), pick.suite);
    let kernel = unpack_debs(&files, arch, &dir, &origin)?;
    std::fs::remove_dir_all(&download).map_err(|e| format!("removing {}: {e}", download.display()))?;
    Ok(kernel)
}

/// Each suite's `Packages.xz` for the arch, kept in `cache` and fetched
/// again only when the mirror's copy is newer. A suite that cannot be
/// fetched is skipped with a warning if a copy is cached, an error if not.
fn read_indexes(mirror: &str, arch: &Arch, cache: &Path) -> Result<Vec<(String, Vec<IndexEntry>)>> {
    std::fs::create_dir_all(cache).map_err(|e| format!("creating {}: {e}", cache.display()))?;
    let mut out = Vec::new();
    for suite in SUITES {
        let url = format!("{mirror}/dists/{suite}/main/binary-{}/Packages.xz", arch.deb_arch);
        let file = cache.join(format!("{suite}-Packages.xz"));
        if let Err(e) = curl(&url, &file, file.is_file().then_some(file.as_path())) {
            if !file.is_file() {
                return Err(e);
            }
            eprintln!("vm-test: {e}; using the cached copy of {suite}'s index");
        }
        let xz = std::fs::read(&file).map_err(|e| format!("reading {}: {e}", file.display()))?;
        let text = kernel::decompress("xz", &xz)?;
        out.push((suite.to_string(), parse_index(&String::from_utf8_lossy(&text))));
    }
    Ok(out)
}

/// Downloads `url` to `dst` (via a temporary name); with `newer_than`, only
/// if the server's copy is newer than that file's time.
fn curl(url: &str, dst: &Path, newer_than: Option<&Path>) -> Result {
    let part = dst.with_extension("part");
    let mut cmd = Command::new("curl");
    cmd.args(["--fail", "--silent", "--show-error", "--location", "--retry", "3", "--remote-time", "--output"])
        .arg(&part);
    if let Some(f) = newer_than {
        cmd.arg("--time-cond").arg(f);
    }
    let out = cmd.arg(url).output().map_err(|e| kernel::missing_tool("curl", e))?;
    if !out.status.success() {
        let _ = std::fs::remove_file(&part);
        return Err(format!("downloading {url} failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    // With --time-cond and an unchanged file, curl writes nothing.
    if part.is_file() {
        std::fs::rename(&part, dst).map_err(|e| format!("renaming {}: {e}", part.display()))?;
    }
    Ok(())
}

/// Refuses `file` unless its SHA256 is the index's `expected`.
pub fn verify_sha256(file: &Path, expected: &str) -> Result {
    let out = Command::new("sha256sum")
        .arg(file)
        .output()
        .map_err(|e| format!("running sha256sum: {e} (Debian package coreutils)"))?;
    if !out.status.success() {
        return Err(format!("sha256sum {} failed: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim()));
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let actual = text.split_whitespace().next().unwrap_or_default();
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!("{}: SHA256 {actual} is not the archive index's {expected}; refusing the download", file.display()))
    }
}

/// Unpacks the kernel's .debs into one tree and caches image, modules and manifest in `dir`.
fn unpack_debs(debs: &[PathBuf], arch: &Arch, dir: &Path, origin: &str) -> Result<Kernel> {
    let extract = dir.join(format!(".extract-{}", std::process::id()));
    kernel::recreate_dir(&extract)?;
    for deb in debs {
        let status = Command::new("dpkg-deb")
            .arg("-x")
            .arg(deb)
            .arg(&extract)
            .status()
            .map_err(|e| kernel::missing_tool("dpkg-deb", e))?;
        if !status.success() {
            return Err(format!("dpkg-deb -x {} failed with {status}", deb.display()));
        }
    }
    let image = find_image(&extract)
        .ok_or_else(|| format!("none of {} holds boot/vmlinuz-* or usr/lib/modules/*/vmlinuz", debs_text(debs)))?;
    let image = kernel::bootable_image(&image, &dir.join("vmlinuz"))?;
    let modules = kernel::install_modules(&extract, arch, &dir.join("modules"))?;
    std::fs::remove_dir_all(&extract).map_err(|e| format!("removing {}: {e}", extract.display()))?;
    let kernel = Kernel { image, modules, origin: origin.to_string() };
    kernel::write_manifest(dir, &kernel)?;
    Ok(kernel)
}

fn debs_text(debs: &[PathBuf]) -> String {
    debs.iter().map(|d| d.display().to_string()).collect::<Vec<_>>().join(", ")
}

/// The kernel image in an unpacked tree: `boot/vmlinuz-*` (up to 6.x) or
/// `usr/lib/modules/<krel>/vmlinuz` (7.x `linux-binary-*`).
fn find_image(tree: &Path) -> Option<PathBuf> {
    let entries = |d: PathBuf| std::fs::read_dir(d).into_iter().flatten().filter_map(|e| e.ok().map(|e| e.path()));
    let boot = entries(tree.join("boot")).find(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("vmlinuz-") || n.starts_with("vmlinux-"))
    });
    boot.or_else(|| {
        ["usr/lib/modules", "lib/modules"]
            .into_iter()
            .flat_map(|m| entries(tree.join(m)))
            .map(|k| k.join("vmlinuz"))
            .find(|v| v.is_file())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A trimmed trixie-backports index: two 7.x series, flavours and
    /// -unsigned packages that must not be picked, the 7.x three-package
    /// layout, and a 6.19 kernel in the old one-package layout.
    const PACKAGES: &str = "\
Package: linux-image-7.2.12+deb13-arm64
Version: 7.2.12-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-image-7.2.12+deb13-arm64_7.2.12-1~bpo13+1_arm64.deb
SHA256: 1111111111111111111111111111111111111111111111111111111111111111

Package: linux-image-7.3.4+deb13-arm64
Version: 7.3.4-1~bpo13+1
Depends: linux-binary-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1), linux-modules-7.3.4+deb13-arm64 (= 7.3.4-1~bpo13+1)
Filename: pool/main/l/linux-signed-arm64/linux-image-7.3.4+deb13-arm64_7.3.4-1~bpo13+1_arm64.deb
Size: 1892
SHA256: 2222222222222222222222222222222222222222222222222222222222222222

Package: linux-binary-7.3.4+deb13-arm64
Version: 7.3.4-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-binary-7.3.4+deb13-arm64_7.3.4-1~bpo13+1_arm64.deb
SHA256: 3333333333333333333333333333333333333333333333333333333333333333

Package: linux-modules-7.3.4+deb13-arm64
Version: 7.3.4-1~bpo13+1
Filename: pool/main/l/linux/linux-modules-7.3.4+deb13-arm64_7.3.4-1~bpo13+1_arm64.deb
SHA256: 4444444444444444444444444444444444444444444444444444444444444444

Package: linux-image-7.3.4+deb13-cloud-arm64
Version: 7.3.4-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-image-7.3.4+deb13-cloud-arm64_7.3.4-1~bpo13+1_arm64.deb
SHA256: 5555555555555555555555555555555555555555555555555555555555555555

Package: linux-image-7.3.4+deb13-arm64-16k
Version: 7.3.4-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-image-7.3.4+deb13-arm64-16k_7.3.4-1~bpo13+1_arm64.deb
SHA256: 6666666666666666666666666666666666666666666666666666666666666666

Package: linux-image-7.2.9+deb13-arm64
Version: 7.2.9-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-image-7.2.9+deb13-arm64_7.2.9-1~bpo13+1_arm64.deb
SHA256: 7777777777777777777777777777777777777777777777777777777777777777

Package: linux-image-6.19.14+deb13-arm64
Version: 6.19.14-1~bpo13+1
Filename: pool/main/l/linux-signed-arm64/linux-image-6.19.14+deb13-arm64_6.19.14-1~bpo13+1_arm64.deb
SHA256: 8888888888888888888888888888888888888888888888888888888888888888
";

    fn indexes() -> Vec<(String, Vec<IndexEntry>)> {
        vec![("trixie-backports".to_string(), parse_index(PACKAGES)), ("trixie".to_string(), Vec::new())]
    }

    #[test]
    fn index_stanzas_are_parsed() {
        let entries = parse_index(PACKAGES);
        assert_eq!(entries.len(), 8);
        assert_eq!(entries[1].package, "linux-image-7.3.4+deb13-arm64");
        assert_eq!(entries[1].version, "7.3.4-1~bpo13+1");
        assert_eq!(entries[1].sha256, "2".repeat(64));
        assert!(parse_index("Package: x\nVersion: 1\n").is_empty(), "a stanza without Filename/SHA256 is useless");
    }

    #[test]
    fn latest_is_the_newest_series_with_its_three_packages() {
        let pick = choose(&indexes(), &Wanted::Latest, "arm64").unwrap();
        assert_eq!(
            (pick.series.as_str(), pick.krel.as_str(), pick.suite.as_str()),
            ("7.3", "7.3.4+deb13-arm64", "trixie-backports")
        );
        let names: Vec<&str> = pick.debs.iter().map(|d| d.package.as_str()).collect();
        assert_eq!(
            names,
            ["linux-image-7.3.4+deb13-arm64", "linux-binary-7.3.4+deb13-arm64", "linux-modules-7.3.4+deb13-arm64"]
        );
    }

    #[test]
    fn a_series_picks_its_newest_version_numerically() {
        let pick = choose(&indexes(), &Wanted::Series("7.2".into()), "arm64").unwrap();
        assert_eq!(pick.krel, "7.2.12+deb13-arm64", "7.2.12 is newer than 7.2.9");
        assert_eq!(pick.debs.len(), 1, "this fixture has no linux-binary/-modules for 7.2.12");
        let old = choose(&indexes(), &Wanted::Series("6.19".into()), "arm64").unwrap();
        assert_eq!(old.krel, "6.19.14+deb13-arm64");
    }

    #[test]
    fn an_absent_series_names_the_suites_searched() {
        let err = choose(&indexes(), &Wanted::Series("7.9".into()), "arm64").unwrap_err();
        assert!(err.contains("no Linux 7.9 kernel for arm64"), "{err}");
        assert!(err.contains("trixie-backports, trixie, bookworm-backports"), "{err}");
        assert!(err.contains("they carry 6.19, 7.2, 7.3"), "{err}");
        assert!(choose(&indexes(), &Wanted::Latest, "amd64").unwrap_err().contains("no amd64 kernel at all"));
    }

    #[test]
    fn a_checksum_mismatch_is_refused() {
        let dir = std::env::temp_dir().join(format!("xtask-archive-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("x.deb");
        std::fs::write(&file, b"abc").unwrap();
        // SHA256("abc"), FIPS 180-2's first example.
        let abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(verify_sha256(&file, abc), Ok(()));
        let err = verify_sha256(&file, &"0".repeat(64)).unwrap_err();
        assert!(err.contains("refusing"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_plain_flavours_of_the_arch_are_kernels() {
        let r = |p: &str| release_of(p, "amd64").map(|(s, _)| s);
        assert_eq!(r("linux-image-7.3.4+deb13-amd64").as_deref(), Some("7.3"));
        assert_eq!(r("linux-image-6.12.90+deb12.1-amd64").as_deref(), Some("6.12"));
        assert_eq!(r("linux-image-6.1.0-56-amd64").as_deref(), Some("6.1"));
        for not in [
            "linux-image-7.3.4+deb13-cloud-amd64",
            "linux-image-7.3.4+deb13-amd64-unsigned",
            "linux-image-7.3.4+deb13-amd64-dbg",
            "linux-image-6.1.0-56-rt-amd64",
            "linux-image-amd64",
            "linux-binary-7.3.4+deb13-amd64",
            "linux-image-7.3.4+deb13-arm64",
        ] {
            assert_eq!(r(not), None, "{not}");
        }
    }

    #[test]
    fn versions_order_like_dpkg() {
        use Ordering::*;
        for (a, b, want) in [
            ("7.2.12-1~bpo13+1", "7.2.9-1~bpo13+1", Greater),
            ("7.3.4-1~bpo13+1", "7.3.4-1", Less),
            ("6.12.90-1~deb12u1", "6.12.90-1~deb12u1", Equal),
            ("1:1.0-1", "2.0-1", Greater),
            ("1.0a-1", "1.0+-1", Less),
        ] {
            assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        }
    }

    #[test]
    fn the_mirror_comes_from_the_apt_sources() {
        let deb822 = "Types: deb\nURIs: http://deb.debian.org/debian-security\nSuites: bookworm-security\n\n\
                      Types: deb\nURIs: http://mirror.example/debian/\nSuites: bookworm\n";
        assert_eq!(mirror_from_sources(&[deb822.into()]), "http://mirror.example/debian");
        let list = "# comment\ndeb [arch=amd64 signed-by=/k.gpg] http://ftp.example/debian bookworm main\n";
        assert_eq!(mirror_from_sources(&["deb https://x/apt y main".into(), list.into()]), "http://ftp.example/debian");
        assert_eq!(mirror_from_sources(&[]), DEFAULT_MIRROR);
    }

    #[test]
    fn wanted_series_parse() {
        assert_eq!(Wanted::parse("latest"), Some(Wanted::Latest));
        assert_eq!(Wanted::parse("7.3"), Some(Wanted::Series("7.3".into())));
        for bad in ["7", "7.", "7.x", "seven", "7.3.4"] {
            assert_eq!(Wanted::parse(bad), None, "{bad}");
        }
    }
}
