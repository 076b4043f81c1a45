//! vgic_init: the vGIC's creation and initialisation rules (upstream
//! aarch64/vgic_init.c). KVM_CREATE_DEVICE of a vGICv3 (and a vGICv2 where
//! the host's GIC can offer one) with its trial mode and the refusal of a
//! second GIC; the KVM_DEV_ARM_VGIC_GRP_ADDR frames (alignment, IPA limit,
//! legacy and new redistributor regions, their collisions), checked again
//! when a vCPU first runs; GICR_TYPER's processor number and Last bit;
//! the ITS frame; a GICv2 CPU interface without vCPUs.
//!
//! Upstream's C test fails on Debian's 6.1 and 6.12 kernels, on any
//! machine: these kernels kill a VM whose first-run vGIC set-up fails
//! (kvm_vgic_map_resources() -> kvm_vm_dead()), and the C library's
//! kvm_vm_free() then asserts on the EIO of deleting the VM's memslot
//! ("KVM killed/bugged the VM"). kvmtest closes such a VM without further
//! ioctls, and `failed_init_kills_vm` checks the EIO itself.

kvmtest_tests::arch_only_main!("aarch64", scenario::trials);

#[cfg(target_arch = "aarch64")]
mod scenario {
    use kvmtest::aarch64::vgic::*;
    use kvmtest::bare_vm::BareVm;
    use kvmtest::series::Feature;
    use kvmtest::{bail, ensure, runner, Error, Result};
    use libc::{E2BIG, EBUSY, EEXIST, EFAULT, EINVAL, EIO, ENODEV, ENOENT, ENXIO};

    const NR_VCPUS: u64 = 4;
    /// vgic_init.c's `max_phys_size`: the IPA limit of its VMs, `1 << 40`
    /// as they ask, but the host's IPA limit under protected KVM on 6.12+,
    /// which ignores the VM type's IPA size ([`gic_vm_ipa_bits`]).
    fn max_phys_size() -> Result<u64> {
        Ok(1 << gic_vm_ipa_bits()?)
    }

    /// The refusal `$expr` must give, by errno, with upstream's message.
    macro_rules! expect_errno {
        ($expr:expr, $errno:ident, $msg:expr) => {
            match $expr {
                Err(e) if e.errno() == Some($errno) => {}
                Err(e) => bail!("{}: expected {}, got {e}", $msg, stringify!($errno)),
                Ok(_) => bail!("{}: expected {}, got success", $msg, stringify!($errno)),
            }
        };
    }

    /// vgic_init.c's `struct vgic_region_attr`.
    #[derive(Clone, Copy)]
    struct RegionAttr {
        attr: u32,
        size: u64,
        alignment: u64,
    }

    const GIC_V3_DIST_REGION: RegionAttr =
        RegionAttr { attr: KVM_VGIC_V3_ADDR_TYPE_DIST, size: 0x10000, alignment: 0x10000 };
    const GIC_V3_REDIST_REGION: RegionAttr =
        RegionAttr { attr: KVM_VGIC_V3_ADDR_TYPE_REDIST, size: NR_VCPUS * 0x20000, alignment: 0x10000 };
    const GIC_V2_DIST_REGION: RegionAttr =
        RegionAttr { attr: KVM_VGIC_V2_ADDR_TYPE_DIST, size: 0x1000, alignment: 0x1000 };
    const GIC_V2_CPU_REGION: RegionAttr =
        RegionAttr { attr: KVM_VGIC_V2_ADDR_TYPE_CPU, size: 0x2000, alignment: 0x1000 };

    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Gic {
        V2,
        V3,
    }

    impl Gic {
        fn device_type(self) -> u32 {
            match self {
                Gic::V2 => KVM_DEV_TYPE_ARM_VGIC_V2,
                Gic::V3 => KVM_DEV_TYPE_ARM_VGIC_V3,
            }
        }

        /// (dist, rdist or CPU interface) frames, as subtest_dist_rdist picks them.
        fn regions(self) -> (RegionAttr, RegionAttr) {
            match self {
                Gic::V2 => (GIC_V2_DIST_REGION, GIC_V2_CPU_REGION),
                Gic::V3 => (GIC_V3_DIST_REGION, GIC_V3_REDIST_REGION),
            }
        }
    }

    /// main()'s `test_kvm_device(type) == 0` condition for running a GIC
    /// version's tests, as a skip: whether KVM can offer a vGICv2 is the
    /// host GIC's property (a GICv3 with the GICv2-compatible CPU interface,
    /// a GICV frame, arch/arm64/kvm/vgic/vgic-v3.c vgic_v3_probe()); qemu's
    /// virt machine's GICv3 has none.
    fn require_gic(vm: &BareVm, gic: Gic) -> Result<()> {
        match vm.test_create_device(gic.device_type()) {
            Ok(()) => Ok(()),
            Err(e) if e.errno() == Some(ENODEV) => Err(Error::Skip(match gic {
                Gic::V2 => "KVM offers no vGICv2 here: the host's GICv3 has no GICv2-compatible CPU interface \
                            (no GICV frame; qemu's virt GICv3 has none), a machine property"
                    .into(),
                Gic::V3 => "KVM offers no vGICv3 here: the host's GIC is not a GICv3".into(),
            })),
            Err(e) => Err(e),
        }
    }

    /// vm_gic_create_with_vcpus().
    fn vm_gic_create_with_vcpus(gic: Gic, nr_vcpus: u64) -> Result<(BareVm, VgicDevice)> {
        let vm = BareVm::gic_vm(&(0..nr_vcpus).collect::<Vec<_>>())?;
        require_gic(&vm, gic)?;
        let dev = vm.create_device(gic.device_type())?;
        Ok((vm, dev))
    }

    /// subtest_dist_rdist().
    fn subtest_dist_rdist(gic: Gic, dev: &VgicDevice) -> Result<()> {
        let max_phys_size = max_phys_size()?;
        let (dist, rdist) = gic.regions();
        let grp = KVM_DEV_ARM_VGIC_GRP_ADDR;

        dev.has_attr(grp, dist.attr.into())?;
        dev.has_attr(grp, rdist.attr.into())?;
        expect_errno!(dev.has_attr(grp, u64::MAX), ENXIO, "attribute not supported");

        expect_errno!(dev.set_u64(grp, dist.attr.into(), dist.alignment / 0x10), EINVAL, "GIC dist base not aligned");
        expect_errno!(
            dev.set_u64(grp, rdist.attr.into(), rdist.alignment / 0x10),
            EINVAL,
            "GIC redist/cpu base not aligned"
        );

        expect_errno!(dev.set_u64(grp, dist.attr.into(), max_phys_size), E2BIG, "dist address beyond IPA limit");
        expect_errno!(dev.set_u64(grp, rdist.attr.into(), max_phys_size), E2BIG, "redist address beyond IPA limit");

        // Space for half a rdist (a rdist is: 2 * rdist.alignment).
        expect_errno!(
            dev.set_u64(grp, rdist.attr.into(), max_phys_size - dist.alignment),
            E2BIG,
            "half of the redist is beyond IPA limit"
        );

        dev.set_u64(grp, rdist.attr.into(), 0)?;
        expect_errno!(dev.set_u64(grp, rdist.attr.into(), 0xE0000), EEXIST, "GIC redist base set again");

        if dev.has_attr(grp, KVM_VGIC_V3_ADDR_TYPE_REDIST.into()).is_ok() {
            expect_errno!(
                dev.set_u64(grp, KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION.into(), redist_region(NR_VCPUS, 0x100000, 0, 0)),
                EINVAL,
                "attempt to mix GICv3 REDIST and REDIST_REGION"
            );
        }

        // Overlapping DIST / REDIST: not detected here, but on the first vCPU run.
        dev.set_u64(grp, dist.attr.into(), rdist.size - rdist.alignment)
    }

    /// subtest_v3_redist_regions().
    fn subtest_v3_redist_regions(dev: &VgicDevice) -> Result<()> {
        let max_phys_size = max_phys_size()?;
        let grp = KVM_DEV_ARM_VGIC_GRP_ADDR;
        let region = u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION);

        ensure!(
            dev.has_attr(grp, KVM_VGIC_V3_ADDR_TYPE_REDIST.into()).is_ok(),
            "Multiple redist regions advertised: expected KVM_VGIC_V3_ADDR_TYPE_REDIST to exist, got it refused"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(NR_VCPUS, 0x100000, 2, 0)),
            EINVAL,
            "redist region attr value with flags != 0"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(0, 0x100000, 0, 0)),
            EINVAL,
            "redist region attr value with count== 0"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(2, 0x200000, 0, 1)),
            EINVAL,
            "attempt to register the first rdist region with index != 0"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(2, 0x201000, 0, 1)),
            EINVAL,
            "rdist region with misaligned address"
        );
        dev.set_u64(grp, region, redist_region(2, 0x200000, 0, 0))?;
        expect_errno!(
            dev.set_u64(grp, region, redist_region(2, 0x200000, 0, 1)),
            EINVAL,
            "register an rdist region with already used index"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(1, 0x210000, 0, 2)),
            EINVAL,
            "register an rdist region overlapping with another one"
        );
        expect_errno!(
            dev.set_u64(grp, region, redist_region(1, 0x240000, 0, 2)),
            EINVAL,
            "register redist region with index not +1"
        );
        dev.set_u64(grp, region, redist_region(1, 0x240000, 0, 1))?;
        // With a 52-bit IPA (protected KVM on an LPA2 host) no base beyond
        // the range fits the value's base field: REDIST_REGION_ATTR_ADDR
        // would carry bit 52 into the count and name base 0.
        if max_phys_size < REDIST_REGION_BASE_END {
            expect_errno!(
                dev.set_u64(grp, region, redist_region(1, max_phys_size, 0, 2)),
                E2BIG,
                "register redist region with base address beyond IPA range"
            );
        }
        // The last redist is above the pa range.
        expect_errno!(
            dev.set_u64(grp, region, redist_region(2, max_phys_size - 0x30000, 0, 2)),
            E2BIG,
            "register redist region with top address beyond IPA range"
        );
        expect_errno!(
            dev.set_u64(grp, KVM_VGIC_V3_ADDR_TYPE_REDIST.into(), 0x260000),
            EINVAL,
            "Mix KVM_VGIC_V3_ADDR_TYPE_REDIST and REDIST_REGION"
        );

        // Two regions now: #0 @ 0x200000 with 2 redists, #1 @ 0x240000 with 1.
        let read = |index| dev.get_u64(grp, region, redist_region(0, 0, 0, index));
        let want = redist_region(2, 0x200000, 0, 0);
        let got = read(0)?;
        ensure!(got == want, "read characteristics of region #0: expected {want:#x}, got {got:#x}");
        let want = redist_region(1, 0x240000, 0, 1);
        let got = read(1)?;
        ensure!(got == want, "read characteristics of region #1: expected {want:#x}, got {got:#x}");
        expect_errno!(read(2), ENOENT, "read characteristics of non existing region");

        dev.set_u64(grp, KVM_VGIC_V3_ADDR_TYPE_DIST.into(), 0x260000)?;
        expect_errno!(
            dev.set_u64(grp, region, redist_region(1, 0x260000, 0, 2)),
            EINVAL,
            "register redist region colliding with dist"
        );
        Ok(())
    }

    /// test_vcpus_then_vgic(): every vCPU exists before the vGIC is set up.
    fn vcpus_then_vgic(gic: Gic) -> Result<()> {
        let (mut vm, dev) = vm_gic_create_with_vcpus(gic, NR_VCPUS)?;
        subtest_dist_rdist(gic, &dev)?;
        expect_errno!(vm.run_gic_vcpu(3), EINVAL, "dist/rdist overlap detected on 1st vcpu run");
        Ok(())
    }

    /// test_vgic_then_vcpus(): the vGIC is set up with one vCPU, the rest follow.
    fn vgic_then_vcpus(gic: Gic) -> Result<()> {
        let (mut vm, dev) = vm_gic_create_with_vcpus(gic, 1)?;
        subtest_dist_rdist(gic, &dev)?;
        for i in 1..NR_VCPUS {
            vm.add_gic_vcpu(i)?;
        }
        expect_errno!(vm.run_gic_vcpu(3), EINVAL, "dist/rdist overlap detected on 1st vcpu run");
        Ok(())
    }

    /// test_v2_uaccess_cpuif_no_vcpus().
    fn v2_uaccess_cpuif_no_vcpus() -> Result<()> {
        let vm = BareVm::gic_vm(&[])?;
        require_gic(&vm, Gic::V2)?;
        let dev = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V2)?;
        subtest_dist_rdist(Gic::V2, &dev)?;
        const GIC_CPU_CTRL: u32 = 0x00;
        let attr = v2_cpu_reg(GIC_CPU_CTRL, 0);
        let grp = KVM_DEV_ARM_VGIC_GRP_CPU_REGS;
        expect_errno!(dev.has_attr(grp, attr), EINVAL, "accessed non-existent CPU interface (has)");
        expect_errno!(dev.get_u32(grp, attr), EINVAL, "accessed non-existent CPU interface (get)");
        expect_errno!(dev.set_u32(grp, attr, 0), EINVAL, "accessed non-existent CPU interface (set)");
        Ok(())
    }

    /// test_v3_new_redist_regions(), its three steps.
    fn v3_new_redist_regions() -> Result<()> {
        let grp = KVM_DEV_ARM_VGIC_GRP_ADDR;
        let region = u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION);

        let (mut vm, dev) = vm_gic_create_with_vcpus(Gic::V3, NR_VCPUS)?;
        subtest_v3_redist_regions(&dev)?;
        dev.init()?;
        expect_errno!(vm.run_gic_vcpu(3), ENXIO, "running without sufficient number of rdists");
        drop((dev, vm));

        // step 2
        let (mut vm, dev) = vm_gic_create_with_vcpus(Gic::V3, NR_VCPUS)?;
        subtest_v3_redist_regions(&dev)?;
        dev.set_u64(grp, region, redist_region(1, 0x280000, 0, 2))?;
        expect_errno!(vm.run_gic_vcpu(3), EBUSY, "running without vgic explicit init");
        drop((dev, vm));

        // step 3
        let (mut vm, dev) = vm_gic_create_with_vcpus(Gic::V3, NR_VCPUS)?;
        subtest_v3_redist_regions(&dev)?;
        expect_errno!(dev.set_null(grp, region), EFAULT, "register a third region allowing to cover the 4 vcpus");
        dev.set_u64(grp, region, redist_region(1, 0x280000, 0, 2))?;
        dev.init()?;
        vm.run_gic_vcpu(3).map_err(|e| Error::Config(format!("vcpu run: expected success, got {e}")))
    }

    fn typer(dev: &VgicDevice, vcpu: u64, want: u32, msg: &str) -> Result<()> {
        let got = dev.get_u32(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, redist_reg(vcpu, GICR_TYPER))?;
        ensure!(got == want, "{msg}: GICR_TYPER of vCPU {vcpu}: expected {want:#x}, got {got:#x}");
        Ok(())
    }

    /// test_v3_typer_accesses().
    fn v3_typer_accesses() -> Result<()> {
        let grp = KVM_DEV_ARM_VGIC_GRP_ADDR;
        let region = u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION);
        let typer_attr = |vcpu| redist_reg(vcpu, GICR_TYPER);

        let mut vm = BareVm::gic_vm(&[0])?;
        require_gic(&vm, Gic::V3)?;
        let dev = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3)?;
        vm.add_gic_vcpu(3)?;
        expect_errno!(
            dev.get_u32(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, typer_attr(1)),
            EINVAL,
            "attempting to read GICR_TYPER of non created vcpu"
        );
        vm.add_gic_vcpu(1)?;
        expect_errno!(
            dev.get_u32(KVM_DEV_ARM_VGIC_GRP_REDIST_REGS, typer_attr(1)),
            EBUSY,
            "read GICR_TYPER before GIC initialized"
        );
        vm.add_gic_vcpu(2)?;
        dev.init()?;
        for i in 0..NR_VCPUS {
            typer(&dev, i, i as u32 * 0x100, "read GICR_TYPER before rdist region setting")?;
        }

        dev.set_u64(grp, region, redist_region(2, 0x200000, 0, 0))?;
        // The 2 first rdists should be put there (vcpu 0 and 3).
        typer(&dev, 0, 0x0, "read typer of rdist #0")?;
        typer(&dev, 3, 0x310, "read typer of rdist #1")?;

        expect_errno!(
            dev.set_u64(grp, region, redist_region(10, 0x100000, 0, 1)),
            EINVAL,
            "collision with previous rdist region"
        );
        typer(&dev, 1, 0x100, "no redist region attached to vcpu #1 yet, last cannot be returned")?;
        typer(&dev, 2, 0x200, "no redist region attached to vcpu #2, last cannot be returned")?;

        dev.set_u64(grp, region, redist_region(10, 0x20000, 0, 1))?;
        typer(&dev, 1, 0x100, "read typer of rdist #1")?;
        typer(&dev, 2, 0x210, "read typer of rdist #1, last properly returned")
    }

    /// vm_gic_v3_create_with_vcpuids() with vgic_init.c's { 0, 3, 5, 4, 1, 2 }.
    fn vm_gic_v3_create_with_vcpuids() -> Result<(BareVm, VgicDevice)> {
        let vm = BareVm::gic_vm(&[0, 3, 5, 4, 1, 2])?;
        require_gic(&vm, Gic::V3)?;
        let dev = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3)?;
        Ok((vm, dev))
    }

    /// test_v3_last_bit_redist_regions(): regions #0 @0x100000 (rdists 0,
    /// 3 Last), #1 @0x240000 (5, 4 Last), #2 @0x200000 (1, 2), #1 and #2
    /// contiguous.
    fn v3_last_bit_redist_regions() -> Result<()> {
        let (_vm, dev) = vm_gic_v3_create_with_vcpuids()?;
        dev.init()?;
        let region = u64::from(KVM_VGIC_V3_ADDR_TYPE_REDIST_REGION);
        for (base, index) in [(0x100000, 0), (0x240000, 1), (0x200000, 2)] {
            dev.set_u64(KVM_DEV_ARM_VGIC_GRP_ADDR, region, redist_region(2, base, 0, index))?;
        }
        for (vcpu, want) in [(0, 0x000), (1, 0x100), (2, 0x200), (3, 0x310), (5, 0x500), (4, 0x410)] {
            typer(&dev, vcpu, want, &format!("read typer of rdist #{vcpu}"))?;
        }
        Ok(())
    }

    /// test_v3_last_bit_single_rdist(): the legacy region.
    fn v3_last_bit_single_rdist() -> Result<()> {
        let (_vm, dev) = vm_gic_v3_create_with_vcpuids()?;
        dev.init()?;
        dev.set_u64(KVM_DEV_ARM_VGIC_GRP_ADDR, KVM_VGIC_V3_ADDR_TYPE_REDIST.into(), 0x10000)?;
        for (vcpu, want) in [(0, 0x000), (3, 0x300), (5, 0x500), (1, 0x100), (2, 0x210)] {
            typer(&dev, vcpu, want, &format!("read typer of rdist #{vcpu}"))?;
        }
        Ok(())
    }

    /// test_v3_redist_ipa_range_check_at_vcpu_run(): the legacy region.
    fn v3_redist_ipa_range_check_at_vcpu_run() -> Result<()> {
        let max_phys_size = max_phys_size()?;
        let grp = KVM_DEV_ARM_VGIC_GRP_ADDR;
        let (mut vm, dev) = vm_gic_create_with_vcpus(Gic::V3, 1)?;
        // Space for 3 redists, we have 1 vcpu, so this succeeds.
        dev.set_u64(grp, KVM_VGIC_V3_ADDR_TYPE_REDIST.into(), max_phys_size - 3 * 2 * 0x10000)?;
        dev.set_u64(grp, KVM_VGIC_V3_ADDR_TYPE_DIST.into(), 0)?;
        for i in 1..NR_VCPUS {
            vm.add_gic_vcpu(i)?;
        }
        dev.init()?;
        expect_errno!(vm.run_gic_vcpu(2), EINVAL, "redist base+size above PA range detected on 1st vcpu run");
        Ok(())
    }

    /// test_v3_its_region().
    fn v3_its_region() -> Result<()> {
        let max_phys_size = max_phys_size()?;
        let (vm, _dev) = vm_gic_create_with_vcpus(Gic::V3, NR_VCPUS)?;
        let its = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_ITS)?;
        let (grp, attr) = (KVM_DEV_ARM_VGIC_GRP_ADDR, u64::from(KVM_VGIC_ITS_ADDR_TYPE));
        expect_errno!(its.set_u64(grp, attr, 0x401000), EINVAL, "ITS region with misaligned address");
        expect_errno!(
            its.set_u64(grp, attr, max_phys_size),
            E2BIG,
            "register ITS region with base address beyond IPA range"
        );
        expect_errno!(its.set_u64(grp, attr, max_phys_size - 0x10000), E2BIG, "Half of ITS region is beyond IPA range");
        its.set_u64(grp, attr, 0x400000)?;
        expect_errno!(its.set_u64(grp, attr, 0x300000), EEXIST, "ITS base set again");
        Ok(())
    }

    /// test_kvm_device(): creation rules.
    fn kvm_device(gic: Gic) -> Result<()> {
        let vm = BareVm::gic_vm(&(0..NR_VCPUS).collect::<Vec<_>>())?;
        // Type 0 (KVM_DEV_TYPE_FSL_MPIC_20) has no device on arm64.
        expect_errno!(vm.test_create_device(0), ENODEV, "unsupported device");
        require_gic(&vm, gic)?;
        let _gic = vm.create_device(gic.device_type())?;
        expect_errno!(vm.create_device(gic.device_type()), EEXIST, "create GIC device twice");
        let other = match gic {
            Gic::V2 => Gic::V3,
            Gic::V3 => Gic::V2,
        };
        if vm.test_create_device(other.device_type()).is_ok() {
            match vm.create_device(other.device_type()) {
                Err(e) if matches!(e.errno(), Some(EINVAL) | Some(EEXIST)) => {}
                Err(e) => bail!("create GIC device while other version exists: expected EINVAL or EEXIST, got {e}"),
                Ok(_) => bail!("create GIC device while other version exists: expected EINVAL or EEXIST, got success"),
            }
        }
        Ok(())
    }

    /// kvmtest adds: once the vGIC is initialised, KVM_CREATE_VCPU is EBUSY
    /// (arch/arm64/kvm/arm.c kvm_arch_vcpu_precreate(), 6.12:452-453,
    /// 6.1:323-324): its redistributors are laid out for the vCPUs it had.
    fn vcpu_after_init_refused() -> Result<()> {
        let mut vm = BareVm::gic_vm(&[0])?;
        require_gic(&vm, Gic::V3)?;
        let dev = vm.create_device(KVM_DEV_TYPE_ARM_VGIC_V3)?;
        vm.add_gic_vcpu(1)?;
        dev.init()?;
        expect_errno!(vm.add_gic_vcpu(2), EBUSY, "KVM_CREATE_VCPU after KVM_DEV_ARM_VGIC_CTRL_INIT");
        Ok(())
    }

    /// Why upstream's C test fails on these kernels: after the failed first
    /// run of test_vcpus_then_vgic(), KVM has killed the VM and every VM
    /// ioctl (the memslot delete of kvm_vm_free(), KVM_CHECK_EXTENSION) is EIO.
    /// 6.12+, and 6.1 from its stable release 6.1.115 (`series::BACKPORTS`).
    fn failed_init_kills_vm() -> Result<()> {
        Feature::VgicInitFailureKillsVm.require()?;
        let (mut vm, dev) = vm_gic_create_with_vcpus(Gic::V3, NR_VCPUS)?;
        subtest_dist_rdist(Gic::V3, &dev)?;
        vm.check_alive()?;
        expect_errno!(vm.run_gic_vcpu(3), EINVAL, "dist/rdist overlap detected on 1st vcpu run");
        expect_errno!(vm.check_alive(), EIO, "KVM_CHECK_EXTENSION on the VM after its vGIC set-up failed");
        Ok(())
    }

    pub fn trials() -> Vec<runner::Trial> {
        let mut trials = Vec::new();
        for (gic, name) in [(Gic::V3, "v3"), (Gic::V2, "v2")] {
            trials.push(runner::test(format!("vgic_init::kvm_device::{name}"), move || kvm_device(gic)));
            trials.push(runner::test(format!("vgic_init::vcpus_then_vgic::{name}"), move || vcpus_then_vgic(gic)));
            trials.push(runner::test(format!("vgic_init::vgic_then_vcpus::{name}"), move || vgic_then_vcpus(gic)));
        }
        trials.push(runner::test("vgic_init::v2_uaccess_cpuif_no_vcpus", v2_uaccess_cpuif_no_vcpus));
        trials.push(runner::test("vgic_init::v3_new_redist_regions", v3_new_redist_regions));
        trials.push(runner::test("vgic_init::v3_typer_accesses", v3_typer_accesses));
        trials.push(runner::test("vgic_init::v3_last_bit_redist_regions", v3_last_bit_redist_regions));
        trials.push(runner::test("vgic_init::v3_last_bit_single_rdist", v3_last_bit_single_rdist));
        trials.push(runner::test(
            "vgic_init::v3_redist_ipa_range_check_at_vcpu_run",
            v3_redist_ipa_range_check_at_vcpu_run,
        ));
        trials.push(runner::test("vgic_init::v3_its_region", v3_its_region));
        trials.push(runner::test("vgic_init::vcpu_after_init_refused", vcpu_after_init_refused));
        trials.push(runner::test("vgic_init::failed_init_kills_vm", failed_init_kills_vm));
        trials
    }
}
