//! The kernels the emulated machines boot: stock Debian `linux-image-*`
//! packages fetched with apt-get, unpacked once into
//! `target/vm-kernels/<arch>/<series>/` (the image and the KVM modules with
//! their dependencies, decompressed) and reused on later runs.
//!
//! Debian's .deb has no modules.dep (depmod runs at install time), so the
//! dependencies come from each module's own `.modinfo` `depends=` field.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use super::arch::{Arch, KernelSeries, Series};
use super::options::Options;
use crate::util::root;
use crate::Result;

/// The cache's description of a kernel, so a later run needs no apt.
const MANIFEST: &str = "kernel.txt";

/// A bootable kernel and the modules to load before the tests, in order.
#[derive(Debug, Clone)]
pub struct Kernel {
    /// An image qemu's -kernel accepts (bzImage, or an uncompressed arm64 Image).
    pub image: PathBuf,
    /// Modules to insert, dependencies first.
    pub modules: Vec<PathBuf>,
    /// Where it came from: `package version`, or the path given.
    pub origin: String,
}

/// The cached kernel of `series`, fetched first if it is not cached (or if
/// `refresh`).
pub fn cached(root: &Path, arch: &Arch, series: &Series, refresh: bool) -> Result<Kernel> {
    let dir = root.join("target/vm-kernels").join(arch.name).join(series.name);
    if refresh && dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    if let Ok(k) = read_manifest(&dir) {
        return Ok(k);
    }
    let package = newest_package(arch, series)?;
    eprintln!("vm-test: fetching {package} ({}) into {}", arch.deb_arch, dir.display());
    // Per process, so two runs filling the cache at once do not share files.
    let download = dir.join(format!(".download-{}", std::process::id()));
    recreate_dir(&download)?;
    let qualified = format!("{package}:{}", arch.deb_arch);
    run_tool(Command::new("apt-get").arg("download").arg(&qualified).current_dir(&download), "apt-get download")
        .map_err(|e| format!("downloading {qualified} failed: {e}\n(check the network and `apt-get update`)"))?;
    let deb = single_file(&download, ".deb")?;
    // name_version_arch.deb, with the epoch's ':' escaped as %3a.
    let version = deb
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.split('_').nth(1))
        .map(|v| v.replace("%3a", ":"))
        .unwrap_or_else(|| "unknown".into());
    let kernel = unpack_deb(&deb, arch, &dir, &format!("{package} {version}"))?;
    std::fs::remove_dir_all(&download).map_err(|e| format!("removing {}: {e}", download.display()))?;
    Ok(kernel)
}

/// A kernel the user gave with `--kernel`: a linux-image .deb (unpacked like
/// a fetched one), or an image file plus an optional directory of modules.
pub fn local(root: &Path, arch: &Arch, path: &Path, modules_dir: Option<&Path>) -> Result<Kernel> {
    if !path.is_file() {
        return Err(format!("--kernel {}: no such file", path.display()));
    }
    // Unpacked anew on every run: the file behind PATH may have changed.
    let dir = root.join("target/vm-kernels").join(arch.name).join("local");
    if path.extension().is_some_and(|e| e == "deb") {
        let k = unpack_deb(path, arch, &dir, &path.display().to_string());
        return k.map(|k| Kernel { origin: path.display().to_string(), ..k });
    }
    recreate_dir(&dir)?;
    let image = bootable_image(path, &dir.join("vmlinuz"))?;
    let modules = match modules_dir {
        Some(m) => install_modules(m, arch, &dir.join("modules"))?,
        None => {
            if !arch.kvm_modules.is_empty() {
                eprintln!("vm-test: no --modules given, so KVM must be built into {}", path.display());
            }
            Vec::new()
        }
    };
    Ok(Kernel { image, modules, origin: path.display().to_string() })
}

/// The newest `linux-image-<series>…-<arch>-unsigned` package apt knows.
fn newest_package(arch: &Arch, series: &Series) -> Result<String> {
    ensure_foreign_arch(arch)?;
    let search = || -> Result<Option<String>> {
        let pattern = format!(
            "^{}[0-9]+{}{}-unsigned$",
            series.prefix.replace('.', "\\.").replace('+', "\\+"),
            series.infix.replace('+', "\\+"),
            arch.deb_arch
        );
        let out =
            tool_output(Command::new("apt-cache").args(["search", "--names-only", &pattern]), "apt-cache search")?;
        Ok(out
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .filter_map(|name| Some((series.abi_of(name, arch.deb_arch)?, name.to_string())))
            .max()
            .map(|(_, name)| name))
    };
    if let Some(p) = search()? {
        return Ok(p);
    }
    if is_root() {
        eprintln!("vm-test: apt knows no Linux {} package for {}; running apt-get update", series.name, arch.deb_arch);
        run_tool(Command::new("apt-get").arg("update"), "apt-get update")?;
        if let Some(p) = search()? {
            return Ok(p);
        }
    }
    Err(format!(
        "no package {}N{}{}-unsigned in apt's lists: run `apt-get update`, and check that a bookworm-security source is configured (Linux {} is in bookworm{})",
        series.prefix,
        series.infix,
        arch.deb_arch,
        series.name,
        if series.name == "6.1" { "" } else { "-security" },
    ))
}

/// apt can fetch another arch's packages only once dpkg knows that arch.
fn ensure_foreign_arch(arch: &Arch) -> Result {
    let native = tool_output(Command::new("dpkg").arg("--print-architecture"), "dpkg")?;
    let foreign = tool_output(Command::new("dpkg").arg("--print-foreign-architectures"), "dpkg")?;
    if native.trim() == arch.deb_arch || foreign.split_whitespace().any(|a| a == arch.deb_arch) {
        return Ok(());
    }
    if !is_root() {
        return Err(format!(
            "apt cannot fetch {} packages yet: run `dpkg --add-architecture {0} && apt-get update` as root",
            arch.deb_arch
        ));
    }
    eprintln!("vm-test: adding the {} architecture to dpkg and updating apt's lists", arch.deb_arch);
    run_tool(Command::new("dpkg").args(["--add-architecture", arch.deb_arch]), "dpkg --add-architecture")?;
    run_tool(Command::new("apt-get").arg("update"), "apt-get update")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Unpacks a linux-image .deb into `dir` (image + modules + manifest).
fn unpack_deb(deb: &Path, arch: &Arch, dir: &Path, origin: &str) -> Result<Kernel> {
    // Per process, like the download directory.
    let extract = dir.join(format!(".extract-{}", std::process::id()));
    recreate_dir(&extract)?;
    run_tool(Command::new("dpkg-deb").arg("-x").arg(deb).arg(&extract), "dpkg-deb -x")?;
    let boot = extract.join("boot");
    let vmlinuz = std::fs::read_dir(&boot)
        .map_err(|e| format!("{} has no boot/: {e}", deb.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("vmlinuz-") || n.starts_with("vmlinux-"))
        })
        .ok_or_else(|| format!("{} has no boot/vmlinuz-*", deb.display()))?;
    let image = bootable_image(&vmlinuz, &dir.join("vmlinuz"))?;
    let modules = install_modules(&extract, arch, &dir.join("modules"))?;
    std::fs::remove_dir_all(&extract).map_err(|e| format!("removing {}: {e}", extract.display()))?;
    let kernel = Kernel { image, modules, origin: origin.to_string() };
    write_manifest(dir, &kernel)?;
    Ok(kernel)
}

/// Copies `src` to `dst` in a form qemu 7.2's -kernel boots: arm64 kernels
/// may come gzipped or as an EFI zboot image, which only newer qemu unpack.
pub(super) fn bootable_image(src: &Path, dst: &Path) -> Result<PathBuf> {
    let bytes = std::fs::read(src).map_err(|e| format!("reading {}: {e}", src.display()))?;
    let unpacked = if bytes.starts_with(&[0x1f, 0x8b]) {
        decompress("gzip", &bytes)?
    } else if bytes.starts_with(b"MZ") && bytes.get(4..8) == Some(b"zimg") {
        // linux/drivers/firmware/efi/libstub/zboot-header.S: payload offset
        // and size at 8 and 12, compression name at 24.
        let word = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes")) as usize;
        let (offset, size) = (word(8), word(12));
        let kind = String::from_utf8_lossy(&bytes[24..32]).trim_end_matches('\0').to_string();
        let payload = bytes
            .get(offset..offset + size)
            .ok_or_else(|| format!("{}: zboot payload out of bounds", src.display()))?;
        match kind.as_str() {
            "gzip" => decompress("gzip", payload)?,
            "zstd" | "zstd22" => decompress("zstd", payload)?,
            "xzkern" | "xz" => decompress("xz", payload)?,
            other => {
                return Err(format!(
                    "{}: EFI zboot image compressed with `{other}`, which vm-test cannot unpack",
                    src.display()
                ))
            }
        }
    } else {
        bytes
    };
    if let Some(parent) = dst.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("creating {}: {e}", parent.display()))?;
    }
    std::fs::write(dst, unpacked).map_err(|e| format!("writing {}: {e}", dst.display()))?;
    Ok(dst.to_path_buf())
}

/// Decompresses `data` with `tool -dc` (gzip, xz, zstd: all in a Debian base).
pub(super) fn decompress(tool: &str, data: &[u8]) -> Result<Vec<u8>> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(tool)
        .arg("-dc")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| missing_tool(tool, e))?;
    let mut stdin = child.stdin.take().expect("piped");
    let data = data.to_vec();
    let feeder = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().map_err(|e| format!("{tool}: {e}"))?;
    feeder.join().map_err(|_| format!("{tool}: feeding thread panicked"))?.map_err(|e| format!("{tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{tool} -dc failed: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(out.stdout)
}

/// Finds `arch.kvm_modules` and their dependencies under `tree`, writes them
/// decompressed into `dst`, and returns them in load order.
pub(super) fn install_modules(tree: &Path, arch: &Arch, dst: &Path) -> Result<Vec<PathBuf>> {
    if arch.kvm_modules.is_empty() {
        return Ok(Vec::new());
    }
    let mut index = BTreeMap::new();
    index_modules(tree, &mut index)?;
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for root in arch.kvm_modules {
        visit(root, &index, &mut seen, &mut order, &mut Vec::new())?;
    }
    recreate_dir(dst)?;
    order
        .into_iter()
        .map(|(name, bytes)| {
            let path = dst.join(format!("{name}.ko"));
            std::fs::write(&path, bytes).map_err(|e| format!("writing {}: {e}", path.display()))?;
            Ok(path)
        })
        .collect()
}

/// Depth-first: a module's dependencies enter `order` before it.
fn visit(
    name: &str,
    index: &BTreeMap<String, PathBuf>,
    seen: &mut BTreeSet<String>,
    order: &mut Vec<(String, Vec<u8>)>,
    path: &mut Vec<String>,
) -> Result {
    let name = module_name(name);
    if seen.contains(&name) {
        return Ok(());
    }
    if path.contains(&name) {
        return Err(format!("module dependency cycle: {} -> {name}", path.join(" -> ")));
    }
    let file = index.get(&name).ok_or_else(|| match path.last() {
        Some(user) => {
            format!("module {name}, which {user} depends on, is not in the kernel package")
        }
        None => format!("module {name} is not in the kernel package (is KVM built differently?)"),
    })?;
    let bytes = read_module(file)?;
    path.push(name.clone());
    for dep in module_depends(&bytes).map_err(|e| format!("{}: {e}", file.display()))? {
        visit(&dep, index, seen, order, path)?;
    }
    path.pop();
    seen.insert(name.clone());
    order.push((name, bytes));
    Ok(())
}

/// The kernel treats `-` and `_` in module names alike; so does the index.
fn module_name(s: &str) -> String {
    s.replace('-', "_")
}

fn index_modules(dir: &Path, index: &mut BTreeMap<String, PathBuf>) -> Result {
    for entry in std::fs::read_dir(dir).map_err(|e| format!("reading {}: {e}", dir.display()))? {
        let path = entry.map_err(|e| format!("reading {}: {e}", dir.display()))?.path();
        if path.is_dir() {
            index_modules(&path, index)?;
        } else if let Some(stem) =
            path.file_name().and_then(|n| n.to_str()).and_then(|n| n.split_once(".ko")).map(|(stem, _)| stem)
        {
            index.insert(module_name(stem), path.clone());
        }
    }
    Ok(())
}

/// A module's bytes, decompressed (.ko, .ko.xz, .ko.zst, .ko.gz).
fn read_module(path: &Path) -> Result<Vec<u8>> {
    let bytes = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
    let name = path.to_string_lossy();
    if name.ends_with(".xz") {
        decompress("xz", &bytes)
    } else if name.ends_with(".zst") {
        decompress("zstd", &bytes)
    } else if name.ends_with(".gz") {
        decompress("gzip", &bytes)
    } else {
        Ok(bytes)
    }
}

/// The `depends=` list of a module's `.modinfo` section.
pub fn module_depends(ko: &[u8]) -> Result<Vec<String>> {
    let elf = goblin::elf::Elf::parse(ko).map_err(|e| format!("not an ELF module: {e}"))?;
    let modinfo = elf
        .section_headers
        .iter()
        .find(|sh| elf.shdr_strtab.get_at(sh.sh_name) == Some(".modinfo"))
        .ok_or("no .modinfo section")?;
    let start = modinfo.sh_offset as usize;
    let data = ko.get(start..start + modinfo.sh_size as usize).ok_or(".modinfo out of bounds")?;
    Ok(data
        .split(|b| *b == 0)
        .filter_map(|kv| kv.strip_prefix(b"depends="))
        .flat_map(|deps| String::from_utf8_lossy(deps).split(',').map(str::to_string).collect::<Vec<_>>())
        .filter(|d| !d.is_empty())
        .collect())
}

pub(super) fn write_manifest(dir: &Path, k: &Kernel) -> Result {
    let mut text = format!("origin {}\n", k.origin);
    for m in &k.modules {
        text.push_str(&format!("module {}\n", m.file_name().and_then(|n| n.to_str()).unwrap_or_default()));
    }
    let path = dir.join(MANIFEST);
    std::fs::write(&path, text).map_err(|e| format!("writing {}: {e}", path.display()))
}

pub(super) fn read_manifest(dir: &Path) -> Result<Kernel> {
    let text = std::fs::read_to_string(dir.join(MANIFEST)).map_err(|e| e.to_string())?;
    let mut kernel = Kernel { image: dir.join("vmlinuz"), modules: Vec::new(), origin: String::new() };
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("origin", o)) => kernel.origin = o.to_string(),
            Some(("module", m)) => kernel.modules.push(dir.join("modules").join(m)),
            _ => return Err(format!("bad line in {}: {line:?}", dir.join(MANIFEST).display())),
        }
    }
    if !kernel.image.is_file() || kernel.modules.iter().any(|m| !m.is_file()) {
        return Err("incomplete cache".into());
    }
    Ok(kernel)
}

pub(super) fn recreate_dir(dir: &Path) -> Result {
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(|e| format!("removing {}: {e}", dir.display()))?;
    }
    std::fs::create_dir_all(dir).map_err(|e| format!("creating {}: {e}", dir.display()))
}

fn single_file(dir: &Path, suffix: &str) -> Result<PathBuf> {
    std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with(suffix))
        .ok_or_else(|| format!("no *{suffix} in {}", dir.display()))
}

pub(super) fn missing_tool(tool: &str, e: std::io::Error) -> String {
    if e.kind() == std::io::ErrorKind::NotFound {
        let package = match tool {
            "apt-get" | "apt-cache" => "apt",
            "dpkg" | "dpkg-deb" => "dpkg",
            "xz" => "xz-utils",
            other => other,
        };
        format!(
            "`{tool}` is not installed (Debian package {package}); vm-test fetches and unpacks Debian kernels with it"
        )
    } else {
        format!("running {tool}: {e}")
    }
}

fn run_tool(cmd: &mut Command, what: &str) -> Result {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let status = cmd.status().map_err(|e| missing_tool(&tool, e))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{what} failed with {status}"))
    }
}

fn tool_output(cmd: &mut Command, what: &str) -> Result<String> {
    let tool = cmd.get_program().to_string_lossy().into_owned();
    let out = cmd.output().map_err(|e| missing_tool(&tool, e))?;
    if !out.status.success() {
        return Err(format!("{what} failed with {}: {}", out.status, String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The kernel `o` asks for: `--kernel`'s, or the cached one of its series.
pub fn kernel_for(o: &Options) -> Result<Kernel> {
    let root = root();
    let kernel = match &o.kernel {
        Some(path) => local(&root, o.arch, path, o.modules.as_deref())?,
        None => match &o.series {
            KernelSeries::Apt(series) => cached(&root, o.arch, series, o.refresh)?,
            KernelSeries::Archive(wanted) => super::archive::cached(&root, o.arch, wanted, o.refresh)?,
        },
    };
    Ok(kernel)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_names_ignore_dash_versus_underscore() {
        assert_eq!(module_name("kvm-amd"), "kvm_amd");
        assert_eq!(module_name("kvm_amd"), "kvm_amd");
    }

    #[test]
    fn modinfo_depends_is_read_from_the_elf_section() {
        // This very test binary is an ELF without .modinfo.
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        assert_eq!(module_depends(&me).unwrap_err(), "no .modinfo section");
        assert!(module_depends(b"not elf").is_err());
    }
}
