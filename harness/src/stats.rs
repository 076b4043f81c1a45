//! KVM's binary statistics (KVM_GET_STATS_FD): the stats file of a VM or a
//! vCPU, read as its header, id string, descriptors and data block.
//! The file is kernel data, but every offset and length is checked before use.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::FileExt;

use kvm_bindings::{kvm_stats_desc, kvm_stats_header};

use crate::{Error, Result};

/// Largest block read from a stats file (descriptors or data): far above
/// what any kernel has (a few hundred stats), small enough that a corrupt
/// header cannot make the reader allocate gigabytes.
pub const STATS_READ_MAX: usize = 16 << 20;

/// `sizeof(struct kvm_stats_header)`.
pub const STATS_HEADER_SIZE: usize = std::mem::size_of::<kvm_stats_header>();

/// `sizeof(struct kvm_stats_desc)` without the name that follows it.
pub const STATS_DESC_SIZE: usize = std::mem::size_of::<kvm_stats_desc>();

/// KVM_GET_STATS_FD on a VM or vCPU fd.
pub(crate) fn get_stats_fd(fd: &impl AsRawFd, what: &'static str) -> Result<StatsFd> {
    // (A raw ioctl: kvm-ioctls has no KVM_GET_STATS_FD.)
    vmm_sys_util::ioctl_io_nr!(KVM_GET_STATS_FD, kvm_bindings::KVMIO, 0xce);
    // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd or -1;
    // `fd` is an open KVM VM or vCPU fd.
    let ret = unsafe { vmm_sys_util::ioctl::ioctl(fd, KVM_GET_STATS_FD()) };
    if ret < 0 {
        return Err(Error::Kvm { op: what, source: kvm_ioctls::Error::last() });
    }
    // SAFETY: `ret` is a new fd the kernel just returned to us; nothing else owns it.
    Ok(StatsFd { file: File::from(unsafe { OwnedFd::from_raw_fd(ret) }) })
}

/// One descriptor of a stats file: `struct kvm_stats_desc` and its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatsDesc {
    /// Type, unit and base (`KVM_STATS_TYPE_*`, `_UNIT_*`, `_BASE_*`).
    pub flags: u32,
    /// Power of the base the values are scaled by.
    pub exponent: i16,
    /// Number of u64 values of this statistic.
    pub size: u16,
    /// Offset of the values from the start of the data block.
    pub offset: u32,
    /// Bucket size of a linear histogram; 0 for other types.
    pub bucket_size: u32,
    /// The name, up to its NUL (which lies within `name_size`).
    pub name: String,
}

/// The stats file of a VM or vCPU. Owns the fd: it stays readable after the
/// VM and its vCPUs are gone, and closing it is dropping it (or [`StatsFd::close`]).
#[derive(Debug)]
pub struct StatsFd {
    file: File,
}

impl StatsFd {
    /// A stats file from an fd (e.g. one a test duplicated).
    pub fn from_fd(fd: OwnedFd) -> Self {
        StatsFd { file: File::from(fd) }
    }

    /// A second fd for the same open stats file (`dup`).
    pub fn try_clone(&self) -> Result<StatsFd> {
        let file = self.file.try_clone().map_err(|e| Error::Check(format!("dup of the stats fd: {e}")))?;
        Ok(StatsFd { file })
    }

    /// The fd number, e.g. to check it is gone after [`StatsFd::close`].
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }

    /// Closes the fd, returning close(2)'s error if it has one.
    pub fn close(self) -> Result<()> {
        let fd = OwnedFd::from(self.file);
        let raw = std::os::fd::IntoRawFd::into_raw_fd(fd);
        // SAFETY: `raw` was owned by `self` and is closed exactly once here.
        if unsafe { libc::close(raw) } != 0 {
            return Err(Error::Check(format!("close of stats fd {raw}: {}", std::io::Error::last_os_error())));
        }
        Ok(())
    }

    /// Reads exactly `len` bytes at `offset`: a short read is an error naming `what`.
    pub fn read_exact_at(&self, offset: u64, len: usize, what: &str) -> Result<Vec<u8>> {
        if len > STATS_READ_MAX {
            return Err(Error::Check(format!("stats {what}: {len} bytes at {offset}, more than {STATS_READ_MAX}")));
        }
        let mut buf = vec![0u8; len];
        let mut done = 0;
        while done < len {
            match self.file.read_at(&mut buf[done..], offset + done as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(Error::Check(format!("stats {what}: pread of {len} bytes at {offset}: {e}"))),
            }
        }
        if done != len {
            return Err(Error::Check(format!("stats {what}: read {done} of {len} bytes at offset {offset}")));
        }
        Ok(buf)
    }

    /// The header, read from offset 0.
    pub fn header(&self) -> Result<kvm_stats_header> {
        let b = self.read_exact_at(0, STATS_HEADER_SIZE, "header")?;
        let w = |i: usize| u32::from_ne_bytes([b[4 * i], b[4 * i + 1], b[4 * i + 2], b[4 * i + 3]]);
        Ok(kvm_stats_header {
            flags: w(0),
            name_size: w(1),
            num_desc: w(2),
            id_offset: w(3),
            desc_offset: w(4),
            data_offset: w(5),
        })
    }

    /// The id string at `offset` (the header's `id_offset`), up to its NUL,
    /// which must lie within `name_size` bytes.
    pub fn id_at(&self, header: &kvm_stats_header, offset: u64) -> Result<String> {
        let b = self.read_exact_at(offset, header.name_size as usize, "id string")?;
        nul_terminated(&b, "id string")
    }

    /// The size of one descriptor with its name: `sizeof(kvm_stats_desc) + name_size`.
    pub fn descriptor_size(header: &kvm_stats_header) -> usize {
        STATS_DESC_SIZE + header.name_size as usize
    }

    /// The `num_desc` descriptors at `desc_offset`.
    pub fn descriptors(&self, header: &kvm_stats_header) -> Result<Vec<StatsDesc>> {
        let size = Self::descriptor_size(header);
        let total = size
            .checked_mul(header.num_desc as usize)
            .ok_or_else(|| Error::Check(format!("stats descriptors: {} of {size} bytes overflow", header.num_desc)))?;
        let b = self.read_exact_at(header.desc_offset.into(), total, "descriptors")?;
        b.chunks_exact(size)
            .enumerate()
            .map(|(i, d)| {
                let u32_at = |o: usize| u32::from_ne_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
                Ok(StatsDesc {
                    flags: u32_at(0),
                    exponent: i16::from_ne_bytes([d[4], d[5]]),
                    size: u16::from_ne_bytes([d[6], d[7]]),
                    offset: u32_at(8),
                    bucket_size: u32_at(12),
                    name: nul_terminated(&d[STATS_DESC_SIZE..], &format!("descriptor {i} name"))?,
                })
            })
            .collect()
    }

    /// `len` bytes of the data block (from `data_offset`), as u64 values.
    pub fn read_data_block(&self, header: &kvm_stats_header, len: usize) -> Result<Vec<u64>> {
        self.read_u64s(header.data_offset.into(), len, "data block")
    }

    /// The `size` values of one statistic, at `data_offset + offset`.
    pub fn read_data(&self, header: &kvm_stats_header, desc: &StatsDesc) -> Result<Vec<u64>> {
        let at = u64::from(header.data_offset) + u64::from(desc.offset);
        self.read_u64s(at, usize::from(desc.size) * 8, &format!("data of {}", desc.name))
    }

    fn read_u64s(&self, offset: u64, len: usize, what: &str) -> Result<Vec<u64>> {
        if len % 8 != 0 {
            return Err(Error::Check(format!("stats {what}: {len} bytes is not a whole number of u64s")));
        }
        let b = self.read_exact_at(offset, len, what)?;
        Ok(b.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().expect("chunks of 8"))).collect())
    }
}

/// The bytes of `b` up to its first NUL, as UTF-8; an error if there is no NUL.
fn nul_terminated(b: &[u8], what: &str) -> Result<String> {
    let end = b
        .iter()
        .position(|&c| c == 0)
        .ok_or_else(|| Error::Check(format!("stats {what}: no NUL within its {} bytes", b.len())))?;
    String::from_utf8(b[..end].to_vec()).map_err(|e| Error::Check(format!("stats {what}: not UTF-8: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn stats_file(bytes: &[u8]) -> StatsFd {
        let mut f = tempfile_in_memory();
        f.write_all(bytes).unwrap();
        StatsFd { file: f }
    }

    fn tempfile_in_memory() -> File {
        // SAFETY: memfd_create with a NUL-terminated name; the result is checked.
        let fd = unsafe { libc::memfd_create(c"stats-test".as_ptr(), 0) };
        assert!(fd >= 0, "memfd_create: {}", std::io::Error::last_os_error());
        // SAFETY: `fd` is new and owned by nobody else.
        File::from(unsafe { OwnedFd::from_raw_fd(fd) })
    }

    fn header_bytes(h: [u32; 6]) -> Vec<u8> {
        h.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }

    #[test]
    fn short_header_is_an_error() {
        let e = stats_file(&[0; 10]).header().unwrap_err();
        assert!(e.to_string().contains("read 10 of 24 bytes"), "{e}");
    }

    #[test]
    fn huge_descriptor_block_is_an_error_not_an_allocation() {
        let s = stats_file(&header_bytes([0, u32::MAX, u32::MAX, 24, 24, 24]));
        let h = s.header().unwrap();
        let e = s.descriptors(&h).unwrap_err();
        assert!(e.to_string().contains("more than") || e.to_string().contains("overflow"), "{e}");
    }

    #[test]
    fn name_without_nul_is_an_error() {
        let mut b = header_bytes([0, 4, 1, 24, 24, 48]);
        b.extend_from_slice(&[0; STATS_DESC_SIZE]);
        b.extend_from_slice(b"abcd");
        let s = stats_file(&b);
        let h = s.header().unwrap();
        let e = s.descriptors(&h).unwrap_err();
        assert!(e.to_string().contains("descriptor 0 name: no NUL within its 4 bytes"), "{e}");
    }

    #[test]
    fn descriptor_and_data_read_back() {
        let mut b = header_bytes([0, 8, 1, 24, 24, 48]);
        b.extend_from_slice(&(0x30u32 | 1).to_ne_bytes());
        b.extend_from_slice(&(-9i16).to_ne_bytes());
        b.extend_from_slice(&1u16.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(&0u32.to_ne_bytes());
        b.extend_from_slice(b"halt\0\0\0\0");
        b.extend_from_slice(&77u64.to_ne_bytes());
        let s = stats_file(&b);
        let h = s.header().unwrap();
        let d = s.descriptors(&h).unwrap();
        assert_eq!(d[0].name, "halt");
        assert_eq!(d[0].exponent, -9);
        assert_eq!(s.read_data(&h, &d[0]).unwrap(), vec![77]);
        assert!(s.read_data_block(&h, 16).is_err(), "a read past the end is an error");
    }
}
