//! GUEST_* macros in Rust: one macro each, formatting with `core::fmt`.

/// `guest_sync!(stage, values...)`: a checkpoint the host waits for.
#[macro_export]
macro_rules! guest_sync {
    ($stage:expr $(, $arg:expr)* $(,)?) => {
        $crate::ucall::sync(&[
            $crate::ucall::UcallArg::to_ucall_arg(&$stage)
            $(, $crate::ucall::UcallArg::to_ucall_arg(&$arg))*
        ])
    };
}

/// `guest_done!()`: the guest finished successfully.
#[macro_export]
macro_rules! guest_done {
    () => {
        $crate::ucall::done()
    };
}

/// `guest_printf!("fmt", args...)`: a line of output on the host.
#[macro_export]
macro_rules! guest_printf {
    ($($fmt:tt)+) => {
        $crate::ucall::printf(format_args!($($fmt)+))
    };
}

/// `guest_assert!(cond)` or `guest_assert!(cond, "fmt", args...)`.
#[macro_export]
macro_rules! guest_assert {
    ($cond:expr $(,)?) => {
        if !$cond {
            $crate::ucall::abort(file!(), line!(), &[], format_args!("assertion failed: {}", stringify!($cond)))
        }
    };
    ($cond:expr, $($fmt:tt)+) => {
        if !$cond {
            $crate::ucall::abort(
                file!(), line!(), &[],
                format_args!("assertion failed: {}: {}", stringify!($cond), format_args!($($fmt)+)),
            )
        }
    };
}

/// `guest_assert_eq!(left, right)` or with a trailing message; sends both
/// values (as `u64`) as the ABORT's arguments, which the host shows (once,
/// decimal and hex) after the text.
#[macro_export]
macro_rules! guest_assert_eq {
    ($left:expr, $right:expr $(,)?) => {
        $crate::guest_assert_eq!($left, $right, "")
    };
    ($left:expr, $right:expr, $($fmt:tt)+) => {
        match (&$left, &$right) {
            (l, r) => {
                if !(*l == *r) {
                    $crate::ucall::abort(
                        file!(), line!(),
                        &[$crate::ucall::UcallArg::to_ucall_arg(l), $crate::ucall::UcallArg::to_ucall_arg(r)],
                        format_args!(
                            "{} == {} failed. {}",
                            stringify!($left), stringify!($right),
                            format_args!($($fmt)+),
                        ),
                    )
                }
            }
        }
    };
}
