//! The GICv3 from the guest (the selftests' lib/aarch64/gic_v3.c): the
//! distributor and this vCPU's redistributor by MMIO at the addresses the
//! host passes (`kvmtest::arch::aarch64::layout::{gicd_base, gicr_base}`),
//! the CPU interface by ICC_* system registers.

use core::arch::asm;
use core::ptr::{read_volatile, write_volatile};

/// GICD_CTLR and its bits (ARE_NS, EnableGrp1A, RWP).
const GICD_CTLR: u64 = 0x0000;
const GICD_CTLR_ARE_NS: u32 = 1 << 4;
const GICD_CTLR_ENABLE_G1A: u32 = 1 << 1;
const GICD_CTLR_RWP: u32 = 1 << 31;
/// GICD_ISENABLER<n> (SPIs).
const GICD_ISENABLER: u64 = 0x0100;
/// The SGI/PPI frame of a redistributor, 64 KiB above its RD frame.
const GICR_SGI_FRAME: u64 = 0x1_0000;
/// GICR_WAKER and its bits, in the RD frame.
const GICR_WAKER: u64 = 0x0014;
const GICR_WAKER_PROCESSOR_SLEEP: u32 = 1 << 1;
const GICR_WAKER_CHILDREN_ASLEEP: u32 = 1 << 2;
/// GICR_ISENABLER0 (SGIs and PPIs), in the SGI frame.
const GICR_ISENABLER0: u64 = 0x0100;
/// The first SPI's INTID.
const FIRST_SPI: u32 = 32;
/// INTIDs 1020-1023 are special: 1023 is "no pending interrupt" (IAR_SPURIOUS).
pub const IAR_SPURIOUS: u32 = 1023;

/// The vGICv3 of this VM as this vCPU sees it.
#[derive(Clone, Copy)]
pub struct Gic {
    gicd: u64,
    gicr: u64,
}

fn write32(addr: u64, value: u32) {
    // SAFETY: `addr` is a GIC register in the MMIO window the harness maps
    // as device memory; KVM's vGIC handles the access.
    unsafe { write_volatile(addr as *mut u32, value) }
}

fn read32(addr: u64) -> u32 {
    // SAFETY: as in `write32`.
    unsafe { read_volatile(addr as *const u32) }
}

impl Gic {
    /// `gic_init(GIC_V3, ..)` for this vCPU: the distributor enabled
    /// (affinity routing, group 1), this vCPU's redistributor awake, and the
    /// CPU interface on (system registers, priority mask open, group 1
    /// enabled). `gicr` is the first redistributor; this vCPU's is
    /// `vcpu_id * gicr_stride` above.
    pub fn init(gicd: u64, gicr: u64, gicr_stride: u64) -> Gic {
        let gic = Gic { gicd, gicr: gicr + crate::vcpu_id() * gicr_stride };
        write32(gicd + GICD_CTLR, GICD_CTLR_ARE_NS | GICD_CTLR_ENABLE_G1A);
        while read32(gicd + GICD_CTLR) & GICD_CTLR_RWP != 0 {}
        let waker = gic.gicr + GICR_WAKER;
        write32(waker, read32(waker) & !GICR_WAKER_PROCESSOR_SLEEP);
        while read32(waker) & GICR_WAKER_CHILDREN_ASLEEP != 0 {}
        // SAFETY: EL1 system-register writes of this vCPU's GIC CPU
        // interface: system-register access on, every priority unmasked,
        // group 1 interrupts enabled.
        unsafe {
            asm!(
                "mrs {t}, icc_sre_el1", "orr {t}, {t}, #1", "msr icc_sre_el1, {t}", "isb",
                "msr icc_pmr_el1, {pmr}", "msr icc_bpr1_el1, xzr", "msr icc_igrpen1_el1, {one}", "isb",
                t = out(reg) _, pmr = in(reg) 0xf0u64, one = in(reg) 1u64, options(nostack)
            )
        };
        gic
    }

    /// `gic_irq_enable(intid)`: a PPI/SGI in this vCPU's redistributor, an
    /// SPI in the distributor.
    pub fn irq_enable(&self, intid: u32) {
        if intid < FIRST_SPI {
            write32(self.gicr + GICR_SGI_FRAME + GICR_ISENABLER0, 1 << intid);
        } else {
            write32(self.gicd + GICD_ISENABLER + 4 * u64::from(intid / 32), 1 << (intid % 32));
        }
    }
}

/// `gic_get_and_ack_irq()`: ICC_IAR1_EL1, the INTID acknowledged
/// ([`IAR_SPURIOUS`] if none is pending).
pub fn ack() -> u32 {
    let iar: u64;
    // SAFETY: reading IAR acknowledges the interrupt, which the caller EOIs.
    unsafe { asm!("mrs {}, icc_iar1_el1", "dsb sy", out(reg) iar, options(nostack)) };
    (iar & 0xff_ffff) as u32
}

/// `gic_set_eoi(intid)`: ICC_EOIR1_EL1 (EOImode 0: also deactivates).
pub fn eoi(intid: u32) {
    // SAFETY: ends the interrupt this vCPU acknowledged.
    unsafe { asm!("msr icc_eoir1_el1, {}", "isb", in(reg) u64::from(intid), options(nostack)) };
}
