//! `cargo xtask <verb>`: every kvmtest workflow as plain Rust.
//!
//! One module per verb, each with its clap `Args`; `cargo xtask help` lists
//! the verbs and `cargo xtask VERB --help` their options.

mod bench;
mod build_payloads;
mod bundle;
mod ci;
mod dist;
mod fuzz;
mod interrupt;
mod kernel_ci;
mod kselftest;
mod libtest_output;
mod lint;
mod mutants;
mod reports;
mod results;
mod setup;
mod soak;
mod test;
mod tidy;
mod util;
mod vm_run;
mod vm_test;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

use util::Result;

/// Every kvmtest workflow: `cargo xtask <verb> [options]`.
#[derive(Parser, Debug)]
#[command(name = "cargo xtask", bin_name = "cargo xtask")]
struct Cli {
    #[command(subcommand)]
    verb: Option<Verb>,
}

#[derive(Subcommand, Debug)]
enum Verb {
    Setup(setup::Args),
    BuildPayloads(build_payloads::Args),
    Test(test::Args),
    Lint(lint::Args),
    Ci(ci::Args),
    Bench(bench::Args),
    Fuzz(fuzz::Args),
    Soak(soak::Args),
    VmTest(vm_test::Args),
    VmRun(vm_run::Args),
    Dist(dist::Args),
    KtapCheck(kernel_ci::KtapCheckArgs),
    KernelCiCheck(kernel_ci::KernelCiCheckArgs),
    Tidy(tidy::Args),
    /// The Ctrl-C mechanism with a dummy child (xtask/tests/interrupt.rs)
    #[command(hide = true)]
    InterruptDrill,
    Mutants(mutants::Args),
}

fn main() -> ExitCode {
    let Some(verb) = Cli::parse().verb else {
        // No verb: the help, as `cargo xtask help` prints it.
        let _ = Cli::command().print_help();
        return ExitCode::SUCCESS;
    };
    if let Err(e) = interrupt::install() {
        eprintln!("xtask: {e}");
        return ExitCode::FAILURE;
    }
    let result = match verb {
        // The exit code is the test binary's, so cargo's runner protocol holds.
        Verb::VmRun(args) => {
            let code = vm_run::vm_run(&args);
            return if interrupt::interrupted() { ExitCode::from(interrupt::EXIT_INTERRUPTED) } else { code };
        }
        Verb::Setup(args) => setup::setup(&args),
        Verb::BuildPayloads(args) => build_payloads::build_payloads(&args),
        Verb::Test(args) => test::test(&args),
        Verb::Lint(args) => lint::lint(&args),
        Verb::Ci(args) => ci::ci(&args),
        Verb::Bench(args) => bench::bench(&args),
        Verb::Fuzz(args) => fuzz::fuzz(&args),
        Verb::Soak(args) => soak::soak(&args),
        Verb::VmTest(args) => vm_test::vm_test(&args),
        Verb::Dist(args) => dist::dist(&args),
        Verb::KtapCheck(args) => kernel_ci::ktap_check(&args),
        Verb::KernelCiCheck(args) => kernel_ci::kernel_ci_check(&args),
        Verb::Tidy(args) => tidy::tidy(&args),
        Verb::InterruptDrill => interrupt::drill(),
        Verb::Mutants(args) => mutants::mutants(&args),
    };
    if interrupt::interrupted() {
        eprintln!("xtask: interrupted (Ctrl-C): the child processes were stopped and the temporary files removed");
        return ExitCode::from(interrupt::EXIT_INTERRUPTED);
    }
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(line: &str) -> std::result::Result<Verb, clap::Error> {
        let argv = std::iter::once("xtask").chain(line.split_whitespace());
        Cli::try_parse_from(argv).map(|cli| cli.verb.expect("a verb"))
    }

    #[test]
    fn the_command_line_is_well_formed() {
        Cli::command().debug_assert();
    }

    #[test]
    fn vm_run_passes_the_binary_and_its_arguments_through() {
        let Verb::VmRun(a) = parse("vm-run --arch aarch64 /t/ucall-123 --test-threads 1 --exact x --arch y").unwrap()
        else {
            panic!("not vm-run")
        };
        assert_eq!(a.vm.arch.as_deref(), Some("aarch64"));
        assert_eq!(a.command, ["/t/ucall-123", "--test-threads", "1", "--exact", "x", "--arch", "y"]);
        // libtest's own options, --help included, are the binary's.
        let Verb::VmRun(a) = parse("vm-run /t/bin --help -q --list -- x").unwrap() else { panic!("not vm-run") };
        assert_eq!(a.command, ["/t/bin", "--help", "-q", "--list", "--", "x"]);
        let Verb::VmRun(a) = parse("vm-run /t/bin").unwrap() else { panic!("not vm-run") };
        assert!(a.command == ["/t/bin"] && a.vm.arch.is_none());
        assert!(parse("vm-run --arch x86_64").is_err(), "a binary is required");
        assert!(parse("vm-run --bogus /t/bin").is_err());
    }

    #[test]
    fn vm_test_takes_test_arguments_after_the_options_or_a_double_dash() {
        for line in [
            "vm-test --arch aarch64 --kernel-version 6.1 -- ucall --exact",
            "vm-test --arch aarch64 --kernel-version 6.1 ucall --exact",
        ] {
            let Verb::VmTest(a) = parse(line).unwrap() else { panic!("not vm-test") };
            assert_eq!(a.vm.arch.as_deref(), Some("aarch64"));
            assert_eq!(a.vm.kernel_version.as_deref(), Some("6.1"));
            assert_eq!(a.test_args, ["ucall", "--exact"], "{line}");
        }
        let Verb::VmTest(a) = parse("vm-test --append a=1 --append b --timeout 60 --kselftest --smoke").unwrap() else {
            panic!("not vm-test")
        };
        assert_eq!(
            (a.vm.append, a.vm.timeout, a.vm.kselftest, a.vm.smoke),
            (vec!["a=1".into(), "b".into()], Some(60), true, true)
        );
        let Verb::VmTest(a) = parse("vm-test ucall --help --timeout 1").unwrap() else { panic!("not vm-test") };
        assert_eq!(a.test_args, ["ucall", "--help", "--timeout", "1"]);
        assert!(parse("vm-test --bogus").is_err());
        assert!(parse("vm-test --timeout soon").is_err());
        assert!(parse("vm-test --arch").is_err());
    }

    #[test]
    fn unknown_options_are_errors() {
        for line in [
            "setup --vmm",
            "dist --arch x86_64 --chek",
            "bench --quik",
            "lint --fix",
            "ci --fast",
            "kernel-ci-check x",
            "fuzz --smok",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
    }

    #[test]
    fn vm_test_config_stands_alone() {
        let Verb::VmTest(a) = parse("vm-test --config default --timeout 300 -- ucall").unwrap() else {
            panic!("not vm-test")
        };
        assert_eq!((a.config.as_deref(), a.vm.timeout), (Some("default"), Some(300)));
        assert_eq!(a.test_args, ["ucall"]);
        for line in [
            "vm-test --config all --arch x86_64",
            "vm-test --config all --kvm-mode vhe",
            "vm-test --config all --smoke",
        ] {
            assert!(parse(line).is_err(), "{line}");
        }
        let Verb::VmTest(a) = parse("vm-test --arch aarch64 --kvm-mode protected").unwrap() else {
            panic!("not vm-test")
        };
        assert_eq!(a.vm.kvm_mode, Some(vm_test::ArmKvmMode::Protected));
    }

    #[test]
    fn passthrough_verbs_keep_their_arguments() {
        let Verb::Test(a) = parse("test -- --test-threads 1 ucall").unwrap() else { panic!("not test") };
        assert_eq!(a.test_args, ["--test-threads", "1", "ucall"]);
        let Verb::Soak(a) = parse("soak --nocapture").unwrap() else { panic!("not soak") };
        assert_eq!(a.test_args, ["--nocapture"]);
        let Verb::Mutants(a) = parse("mutants --in-diff --lib-only").unwrap() else { panic!("not mutants") };
        assert_eq!((a.in_diff.as_deref(), a.lib_only), (Some("HEAD~1"), true));
        let Verb::Mutants(a) = parse("mutants --in-diff origin/main -- --re payload/elf.rs").unwrap() else {
            panic!("not mutants")
        };
        assert_eq!(a.in_diff.as_deref(), Some("origin/main"));
        assert_eq!(a.mutants_args, ["--re", "payload/elf.rs"]);
        let Verb::Mutants(a) = parse("mutants").unwrap() else { panic!("not mutants") };
        assert!(a.in_diff.is_none() && !a.lib_only && a.mutants_args.is_empty());
        let Verb::Fuzz(a) = parse("fuzz --seconds 5 elf_loader ucall_message").unwrap() else { panic!("not fuzz") };
        assert_eq!((a.seconds, a.targets), (Some(5), vec!["elf_loader".into(), "ucall_message".into()]));
        let Verb::Bench(a) = parse("bench --quick --arch aarch64 --kernel-version 6.1").unwrap() else {
            panic!("not bench")
        };
        assert!(a.quick);
        assert_eq!((a.vm.arch.as_deref(), a.vm.kernel_version.as_deref()), (Some("aarch64"), Some("6.1")));
    }
}
