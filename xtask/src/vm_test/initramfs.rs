//! The initramfs of the emulated machines: a cpio archive in the "newc"
//! format the kernel unpacks into its rootfs (Documentation/driver-api/
//! early-userspace/buffer-format.rst), written here so no cpio tool or
//! root-owned device node is needed on the host; and the layout every run's
//! initramfs shares (device nodes, init, the plan, the kernel modules).

use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::{Path, PathBuf};

use super::protocol::{Plan, PLAN_PATH};
use crate::Result;

/// Magic of the newc format (no checksums).
const NEWC_MAGIC: &str = "070701";
/// The name of the record that ends an archive.
const TRAILER: &str = "TRAILER!!!";
/// File type bits of st_mode.
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;
const S_IFLNK: u32 = 0o120000;

/// Writes a newc archive entry by entry. Every entry is owned by root with
/// mtime 0, so the archive is a pure function of its contents.
pub struct CpioWriter<W: Write> {
    out: W,
    next_ino: u32,
    written: u64,
}

impl<W: Write> CpioWriter<W> {
    pub fn new(out: W) -> Self {
        CpioWriter { out, next_ino: 1, written: 0 }
    }

    /// A directory; parents must come first, as with any cpio archive.
    pub fn dir(&mut self, path: &str) -> io::Result<()> {
        self.entry(path, S_IFDIR | 0o755, 2, (0, 0), &[])
    }

    /// A regular file with permission bits `perm` (e.g. 0o755).
    pub fn file(&mut self, path: &str, perm: u32, data: &[u8]) -> io::Result<()> {
        self.entry(path, S_IFREG | (perm & 0o7777), 1, (0, 0), data)
    }

    /// A character device node, e.g. /dev/console (5, 1): the kernel opens it
    /// for init's stdio before init could mount devtmpfs.
    pub fn char_dev(&mut self, path: &str, perm: u32, major: u32, minor: u32) -> io::Result<()> {
        self.entry(path, S_IFCHR | (perm & 0o7777), 1, (major, minor), &[])
    }

    /// A symbolic link at `path` to `target` (busybox's applets).
    pub fn symlink(&mut self, path: &str, target: &str) -> io::Result<()> {
        self.entry(path, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes())
    }

    /// Writes the trailer and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.entry(TRAILER, 0, 1, (0, 0), &[])?;
        self.out.flush()?;
        Ok(self.out)
    }

    fn entry(&mut self, path: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) -> io::Result<()> {
        let name = path.trim_start_matches('/');
        if name.is_empty() || name.contains('\0') {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, format!("bad cpio path {path:?}")));
        }
        let size = u32::try_from(data.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, format!("{path} is over 4 GiB, newc's limit")))?;
        let ino = if name == TRAILER { 0 } else { self.next_ino };
        self.next_ino += 1;
        let fields = [ino, mode, 0, 0, nlink, 0, size, 0, 0, rdev.0, rdev.1, name.len() as u32 + 1, 0];
        let mut header = String::with_capacity(110);
        header.push_str(NEWC_MAGIC);
        for f in fields {
            header.push_str(&format!("{f:08x}"));
        }
        self.put(header.as_bytes())?;
        self.put(name.as_bytes())?;
        self.put(&[0])?;
        self.pad()?; // the name ends 4-byte aligned, counting the 110-byte header
        self.put(data)?;
        self.pad()
    }

    fn put(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.out.write_all(bytes)?;
        self.written += bytes.len() as u64;
        Ok(())
    }

    fn pad(&mut self) -> io::Result<()> {
        let pad = (4 - (self.written % 4) as usize) % 4;
        self.put(&[0; 3][..pad])
    }
}

/// Writes an initramfs with what every run needs (device nodes, init, the
/// plan, the kernel modules), then lets `add` put in the run's own files.
pub fn write_initramfs_with(
    path: &Path,
    init: &Path,
    plan: &Plan,
    modules: &[PathBuf],
    add: impl FnOnce(&mut CpioWriter<BufWriter<File>>) -> Result,
) -> Result {
    let io = |e: std::io::Error| format!("writing {}: {e}", path.display());
    let file = File::create(path).map_err(io)?;
    let mut w = CpioWriter::new(BufWriter::new(file));
    for dir in ["/dev", "/proc", "/sys", "/tmp", "/kvmtest", "/kvmtest/modules"] {
        w.dir(dir).map_err(io)?;
    }
    // The kernel opens /dev/console for init's stdio before devtmpfs is mounted.
    w.char_dev("/dev/console", 0o600, 5, 1).map_err(io)?;
    w.file("/init", 0o755, &read_file(init)?).map_err(io)?;
    w.file(PLAN_PATH, 0o644, plan.render()?.as_bytes()).map_err(io)?;
    for m in modules {
        w.file(&format!("/kvmtest/modules/{}", file_name(m)), 0o644, &read_file(m)?).map_err(io)?;
    }
    add(&mut w)?;
    w.finish().map_err(io)?;
    Ok(())
}

pub fn read_file(p: &Path) -> Result<Vec<u8>> {
    std::fs::read(p).map_err(|e| format!("reading {}: {e}", p.display()))
}

/// The last component of `p`, or "" if it has none.
pub fn file_name(p: &Path) -> String {
    p.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One parsed entry: (name, mode, rdev major, rdev minor, data).
    type Entry = (String, u32, u32, u32, Vec<u8>);

    /// An independent reader of newc, strict about alignment.
    fn parse(mut buf: &[u8]) -> Vec<Entry> {
        let total = buf.len();
        let mut out = Vec::new();
        loop {
            assert_eq!((total - buf.len()) % 4, 0, "entry not 4-byte aligned");
            assert_eq!(&buf[..6], b"070701");
            let field =
                |i: usize| u32::from_str_radix(std::str::from_utf8(&buf[6 + 8 * i..14 + 8 * i]).unwrap(), 16).unwrap();
            let (mode, size, rmaj, rmin, namesize) =
                (field(1), field(6) as usize, field(9), field(10), field(11) as usize);
            let name = std::str::from_utf8(&buf[110..110 + namesize - 1]).unwrap().to_string();
            assert_eq!(buf[110 + namesize - 1], 0, "name not NUL-terminated");
            let data_at = (110 + namesize).next_multiple_of(4);
            let data = buf[data_at..data_at + size].to_vec();
            buf = &buf[(data_at + size).next_multiple_of(4).min(buf.len())..];
            if name == TRAILER {
                assert!(buf.is_empty(), "bytes after the trailer");
                return out;
            }
            out.push((name, mode, rmaj, rmin, data));
        }
    }

    #[test]
    fn entries_round_trip_with_newc_alignment() {
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/dev").unwrap();
        w.char_dev("/dev/console", 0o600, 5, 1).unwrap();
        w.file("/init", 0o755, b"\x7fELF12345").unwrap();
        // Name and data lengths that exercise every padding amount.
        for len in 0..5 {
            w.file(&format!("/f{}", "x".repeat(len)), 0o644, &vec![0xaa; len]).unwrap();
        }
        let archive = w.finish().unwrap();
        assert_eq!(archive.len() % 4, 0);
        let entries = parse(&archive);
        assert_eq!(entries[0], ("dev".to_string(), 0o040755, 0, 0, vec![]));
        assert_eq!(entries[1], ("dev/console".to_string(), 0o020600, 5, 1, vec![]));
        assert_eq!(entries[2], ("init".to_string(), 0o100755, 0, 0, b"\x7fELF12345".to_vec()));
        for len in 0..5 {
            let (name, mode, _, _, data) = &entries[3 + len];
            assert_eq!((name.len(), *mode, data.len()), (len + 1, 0o100644, len));
        }
    }

    #[test]
    fn header_is_the_documented_layout() {
        let archive = CpioWriter::new(Vec::new()).finish().unwrap();
        let header = std::str::from_utf8(&archive[..110]).unwrap();
        // magic, ino 0, mode 0, uid, gid, nlink 1, mtime, size 0, dev, rdev, namesize 11, check
        let expected = format!("070701{}{:08x}{}{:08x}{:08x}", "00000000".repeat(4), 1, "00000000".repeat(6), 11, 0);
        assert_eq!(header, expected);
        assert_eq!(&archive[110..121], b"TRAILER!!!\0");
        assert_eq!(archive.len(), 124);
    }

    #[test]
    fn empty_and_nul_paths_are_refused() {
        let mut w = CpioWriter::new(Vec::new());
        assert!(w.file("/", 0o644, b"").is_err());
        assert!(w.file("a\0b", 0o644, b"").is_err());
    }

    #[test]
    fn the_system_cpio_reads_it_when_installed() {
        use std::process::{Command, Stdio};
        let mut w = CpioWriter::new(Vec::new());
        w.dir("/kvmtest").unwrap();
        w.file("/kvmtest/plan", 0o644, b"test a /a\n").unwrap();
        let archive = w.finish().unwrap();
        let Ok(mut child) =
            Command::new("cpio").args(["-t", "--quiet"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()
        else {
            return; // cpio is optional; the parser above is the real check
        };
        child.stdin.take().unwrap().write_all(&archive).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(String::from_utf8_lossy(&out.stdout), "kvmtest\nkvmtest/plan\n");
    }
}
