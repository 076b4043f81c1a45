fn main() -> std::process::ExitCode {
    kvmtest::runner::main(vec![])
}
