//! Guest CPUID control: what a VMM uses to elect the services a guest may use.
//!
//! A vCPU starts with KVM_GET_SUPPORTED_CPUID; a test reads it back with
//! [`Vcpu::cpuid`] (KVM_GET_CPUID2), flips named bits with [`Cpuid::set`],
//! and writes it with [`Vcpu::set_cpuid`] (KVM_SET_CPUID2). KVM accepts a
//! changed CPUID only before the vCPU's first KVM_RUN (api.rst, KVM_SET_CPUID2).

use kvm_bindings::{kvm_cpuid_entry2, CpuId, KVM_MAX_CPUID_ENTRIES};

use crate::{Error, Result, Vcpu};

/// A CPUID output register.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reg {
    /// EAX.
    Eax,
    /// EBX.
    Ebx,
    /// ECX.
    Ecx,
    /// EDX.
    Edx,
}

/// One CPUID bit, named as the kernel names it (`KVM_FEATURE_PV_EOI`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CpuidBit {
    /// The kernel's name for the bit.
    pub name: &'static str,
    /// CPUID leaf (EAX in).
    pub leaf: u32,
    /// CPUID subleaf (ECX in).
    pub subleaf: u32,
    /// Output register holding the bit.
    pub reg: Reg,
    /// Bit number in that register.
    pub bit: u8,
}

impl CpuidBit {
    /// The bit `bit` of `reg` in leaf `leaf`, subleaf `subleaf`, named `name`.
    pub const fn new(name: &'static str, leaf: u32, subleaf: u32, reg: Reg, bit: u8) -> Self {
        CpuidBit { name, leaf, subleaf, reg, bit }
    }

    /// Whether this bit is set in the `[eax, ebx, ecx, edx]` a CPUID instruction returned.
    pub fn in_regs(&self, regs: [u32; 4]) -> bool {
        let r = match self.reg {
            Reg::Eax => regs[0],
            Reg::Ebx => regs[1],
            Reg::Ecx => regs[2],
            Reg::Edx => regs[3],
        };
        r & (1 << self.bit) != 0
    }
}

impl std::fmt::Display for CpuidBit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (CPUID {:#x}.{:?}[{}])", self.name, self.leaf, self.reg, self.bit)
    }
}

/// A vCPU's CPUID table.
#[derive(Clone, PartialEq)]
pub struct Cpuid(CpuId);

impl std::fmt::Debug for Cpuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(
                self.entries().iter().map(|e| {
                    format!("{:#x}.{}: {:#x} {:#x} {:#x} {:#x}", e.function, e.index, e.eax, e.ebx, e.ecx, e.edx)
                }),
            )
            .finish()
    }
}

fn reg_mut(e: &mut kvm_cpuid_entry2, reg: Reg) -> &mut u32 {
    match reg {
        Reg::Eax => &mut e.eax,
        Reg::Ebx => &mut e.ebx,
        Reg::Ecx => &mut e.ecx,
        Reg::Edx => &mut e.edx,
    }
}

fn reg_of(e: &kvm_cpuid_entry2, reg: Reg) -> u32 {
    match reg {
        Reg::Eax => e.eax,
        Reg::Ebx => e.ebx,
        Reg::Ecx => e.ecx,
        Reg::Edx => e.edx,
    }
}

impl Cpuid {
    /// Wraps a kvm-bindings table.
    pub fn from_raw(raw: CpuId) -> Self {
        Cpuid(raw)
    }

    /// The kvm-bindings table, for KVM_SET_CPUID2.
    pub fn as_raw(&self) -> &CpuId {
        &self.0
    }

    /// What the kernel supports (KVM_GET_SUPPORTED_CPUID).
    pub fn supported() -> Result<Self> {
        let kvm = crate::kvm::open_kvm()?;
        kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map(Cpuid).map_err(Error::kvm("KVM_GET_SUPPORTED_CPUID"))
    }

    /// The KVM_GET_SUPPORTED_CPUID table every vCPU of this process was
    /// given, asked once per process as selftests' kvm_get_supported_cpuid()
    /// does: its per-CPU fields (leaf 1 EBX[31:24], the APIC ID of the host
    /// CPU that answered) match the vCPUs', which a fresh [`Cpuid::supported`]
    /// on another CPU would not.
    pub fn supported_as_given() -> Result<Self> {
        let kvm = crate::kvm::open_kvm()?;
        crate::arch::x86_64::supported_cpuid(&kvm).map(|c| Cpuid(c.clone()))
    }

    /// The entries, as KVM_SET_CPUID2 takes them.
    pub fn entries(&self) -> &[kvm_cpuid_entry2] {
        self.0.as_slice()
    }

    /// The entry of `leaf`/`subleaf` (subleaf ignored for leaves KVM does not index).
    pub fn entry(&self, leaf: u32, subleaf: u32) -> Option<&kvm_cpuid_entry2> {
        self.entries().iter().find(|e| e.function == leaf && (e.index == subleaf || e.flags & INDEXED == 0))
    }

    fn entry_mut(&mut self, leaf: u32, subleaf: u32) -> Option<&mut kvm_cpuid_entry2> {
        self.0.as_mut_slice().iter_mut().find(|e| e.function == leaf && (e.index == subleaf || e.flags & INDEXED == 0))
    }

    /// True if `bit` is set (false if its leaf is absent).
    pub fn has(&self, bit: CpuidBit) -> bool {
        self.entry(bit.leaf, bit.subleaf).is_some_and(|e| reg_of(e, bit.reg) & (1 << bit.bit) != 0)
    }

    /// Sets or clears `bit`. Its leaf must exist (KVM rejects invented leaves
    /// only by ignoring them; a missing leaf here is a test bug worth reporting).
    pub fn set(&mut self, bit: CpuidBit, on: bool) -> Result<()> {
        let e = self.entry_mut(bit.leaf, bit.subleaf).ok_or_else(|| {
            Error::Config(format!("{bit}: the vCPU's CPUID has no leaf {:#x}.{}", bit.leaf, bit.subleaf))
        })?;
        let r = reg_mut(e, bit.reg);
        if on {
            *r |= 1 << bit.bit;
        } else {
            *r &= !(1 << bit.bit);
        }
        Ok(())
    }

    /// Sets a whole register of an existing leaf.
    pub fn set_reg(&mut self, leaf: u32, subleaf: u32, reg: Reg, value: u32) -> Result<()> {
        let e = self
            .entry_mut(leaf, subleaf)
            .ok_or_else(|| Error::Config(format!("the vCPU's CPUID has no leaf {leaf:#x}.{subleaf}")))?;
        *reg_mut(e, reg) = value;
        Ok(())
    }

    /// Zeroes all four registers of `leaf` (the selftests' vcpu_clear_cpuid_entry).
    pub fn clear_leaf(&mut self, leaf: u32) {
        for e in self.0.as_mut_slice().iter_mut().filter(|e| e.function == leaf) {
            (e.eax, e.ebx, e.ecx, e.edx) = (0, 0, 0, 0);
        }
    }

    /// Drops every entry whose leaf is in `leaves`.
    pub fn remove_leaves(&mut self, leaves: std::ops::Range<u32>) -> Result<()> {
        let kept: Vec<_> = self.entries().iter().filter(|e| !leaves.contains(&e.function)).copied().collect();
        self.0 = CpuId::from_entries(&kept).map_err(|e| Error::Config(format!("CPUID table: {e:?}")))?;
        Ok(())
    }

    /// Appends entries (e.g. the Hyper-V leaves).
    pub fn extend(&mut self, extra: &[kvm_cpuid_entry2]) -> Result<()> {
        let mut all = self.entries().to_vec();
        all.extend_from_slice(extra);
        self.0 = CpuId::from_entries(&all).map_err(|e| {
            Error::Config(format!(
                "CPUID table of {} + {} entries (at most {KVM_MAX_CPUID_ENTRIES}): {e:?}",
                self.entries().len(),
                extra.len()
            ))
        })?;
        Ok(())
    }
}

/// KVM_CPUID_FLAG_SIGNIFCANT_INDEX: the entry is specific to its subleaf.
const INDEXED: u32 = kvm_bindings::KVM_CPUID_FLAG_SIGNIFCANT_INDEX;

impl Vcpu {
    /// The vCPU's CPUID (KVM_GET_CPUID2).
    ///
    /// Older kernels (seen on 6.1) set `nent` only on KVM_GET_CPUID2's error
    /// path, so a successful call leaves the caller's capacity there and the
    /// unwritten tail of zeroed entries would come back as leaf 0. Those are
    /// dropped: a real table's leaf-0 entry is never all zero (it holds the
    /// vendor string), and KVM writes the real entries first.
    pub fn cpuid(&self) -> Result<Cpuid> {
        let raw = self.fd().get_cpuid2(KVM_MAX_CPUID_ENTRIES).map_err(Error::kvm("KVM_GET_CPUID2"))?;
        let entries = raw.as_slice();
        let padding = |e: &kvm_cpuid_entry2| e.function == 0 && (e.eax, e.ebx, e.ecx, e.edx) == (0, 0, 0, 0);
        let n = entries.iter().rposition(|e| !padding(e)).map_or(0, |i| i + 1);
        if n == entries.len() {
            return Ok(Cpuid(raw));
        }
        CpuId::from_entries(&entries[..n]).map(Cpuid).map_err(|e| Error::Config(format!("CPUID table: {e:?}")))
    }

    /// Replaces the vCPU's CPUID (KVM_SET_CPUID2). After the first KVM_RUN
    /// KVM only accepts an identical table (EINVAL otherwise, api.rst).
    pub fn set_cpuid(&self, cpuid: &Cpuid) -> Result<()> {
        self.fd().set_cpuid2(&cpuid.0).map_err(Error::kvm("KVM_SET_CPUID2"))
    }

    /// Reads, edits and writes back the vCPU's CPUID: `vcpu.update_cpuid(|c| c.set(BIT, false))?`.
    pub fn update_cpuid(&self, edit: impl FnOnce(&mut Cpuid) -> Result<()>) -> Result<()> {
        let mut c = self.cpuid()?;
        edit(&mut c)?;
        self.set_cpuid(&c)
    }
}

/// What one KVM_GET_CPUID2 did with a buffer: its errno (`None` on success)
/// and the `nent` KVM left in the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GetCpuid2Outcome {
    /// The ioctl's errno, `None` when it succeeded.
    pub errno: Option<i32>,
    /// The header's `nent` afterwards.
    pub nent: u32,
}

impl Vcpu {
    /// KVM_GET_CPUID2 into a buffer of `capacity` entries whose header says
    /// `nent` (at most `capacity`), as a VMM probing the table's size does;
    /// returns the errno and the `nent` KVM left (cpuid_test.c test_get_cpuid2()).
    pub fn get_cpuid2_nent(&self, capacity: usize, nent: u32) -> Result<GetCpuid2Outcome> {
        vmm_sys_util::ioctl_iowr_nr!(KVM_GET_CPUID2, kvm_bindings::KVMIO, 0x91, kvm_bindings::kvm_cpuid2);
        if nent as usize > capacity {
            return Err(Error::Config(format!("KVM_GET_CPUID2 with nent {nent} in a buffer of {capacity} entries")));
        }
        let mut buffer =
            CpuId::new(capacity).map_err(|e| Error::Config(format!("a CPUID buffer of {capacity}: {e:?}")))?;
        // SAFETY: lowering the header's nent to at most the allocated
        // capacity keeps the wrapper's entries in bounds.
        unsafe { buffer.as_mut_fam_struct().nent = nent };
        // SAFETY: the buffer holds `capacity` >= nent entries after the
        // header, and KVM writes entries only when nent covers the table.
        let ret = unsafe {
            vmm_sys_util::ioctl::ioctl_with_mut_ptr(self.fd(), KVM_GET_CPUID2(), buffer.as_mut_fam_struct_ptr())
        };
        let errno = (ret != 0).then(|| std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        Ok(GetCpuid2Outcome { errno, nent: buffer.as_fam_struct_ref().nent })
    }
}
