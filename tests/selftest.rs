use kvmtest::{asm::AsmGuest, TransportKind, Ucall, Vm};
fn main() {
    for t in TransportKind::all() {
        let mut g = AsmGuest::new();
        g.printf("hi").sync(1, &[2, 3]).done();
        let r = (|| -> kvmtest::Result<()> {
            let mut vm = Vm::builder().transport(*t).payload(g.finish()?).build()?;
            let u = vm.vcpu(0).run_until_ucall()?;
            println!("{t}: {u:?}");
            let u = vm.vcpu(0).run_until_ucall()?;
            println!("{t}: {u:?}");
            let u = vm.vcpu(0).run_until_ucall()?;
            println!("{t}: {u:?}");
            assert_eq!(u, Ucall::Done);
            Ok(())
        })();
        println!("{t}: {r:?}");
        if let Err(e) = r { println!("{e}"); }
    }
}
