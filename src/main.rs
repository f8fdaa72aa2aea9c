//! The `snaptool` command line: a thin layer over the library that parses arguments, calls
//! the library, renders, and maps results to exit codes (0 = ok/same, 1 = findings/differences,
//! 2 = could not run). The pieces live in `src/cli/`.

use clap::Parser;
use cli::args::{Cli, Command};
use cli::code;
use std::process::ExitCode;

mod cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() {
                code::FAILED
            } else {
                code::OK
            });
        }
    };
    let result = match &cli.command {
        Command::Inspect {
            vmstate,
            mem,
            page_size,
            json,
            no_crc,
        } => cli::inspect::run_inspect(
            vmstate.as_deref(),
            mem.as_deref(),
            *page_size,
            *json,
            *no_crc,
        ),
        Command::Convert {
            input,
            out,
            to,
            mem,
            compress,
            allow_lossy,
            json,
        } => cli::convert::run_convert(
            input,
            out,
            to,
            mem.as_deref(),
            compress.as_deref(),
            *allow_lossy,
            *json,
        ),
        Command::Diff {
            a,
            b,
            json,
            provenance,
        } => cli::convert::run_diff(a, b, *json, *provenance),
        Command::Decode { vmstate, out } => cli::convert::run_decode(vmstate, out),
        Command::Edit {
            input,
            out,
            sets,
            json,
        } => cli::editcmd::run(input, out, sets, *json),
        Command::Encode {
            json_file,
            out,
            to,
            mem,
            compress,
        } => cli::convert::run_encode(
            json_file,
            out,
            to.as_deref(),
            mem.as_deref(),
            compress.as_deref(),
        ),
        Command::Merge {
            base,
            diffs,
            out,
            in_place,
            json,
        } => cli::memcmd::merge(base, diffs, out.as_deref(), *in_place, *json),
        Command::Memdiff {
            a,
            b,
            out,
            page_size,
            json,
        } => cli::memcmd::memdiff(a, b, out.as_deref(), *page_size, *json),
        Command::Sparsify {
            input,
            out,
            page_size,
            json,
        } => cli::memcmd::sparsify(input, out, *page_size, *json),
        Command::ConvertMem {
            input,
            out,
            to,
            page_size,
            level,
            json,
        } => cli::memcmd::convert(input, out, to, *page_size, *level, *json),
        Command::Verify { vmstate, mem, json } => {
            cli::verify::run_verify(vmstate, mem.as_deref(), *json)
        }
        #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
        Command::CheckHost { vmstate, mem, json } => {
            cli::restore::run_check_host(vmstate, mem.as_deref(), *json)
        }
        #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
        Command::Restore {
            vmstate,
            mem,
            lines,
            timeout,
            expect,
            json,
            refuse_host_mismatch,
        } => cli::restore::run_restore(
            vmstate,
            mem.as_deref(),
            (*lines, *timeout),
            expect.as_deref(),
            *json,
            *refuse_host_mismatch,
        ),
        #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
        Command::Run {
            kernel,
            mem_size,
            vcpus,
            snapshot_after_lines,
            diff_after_lines,
            out,
            format,
            timeout,
        } => cli::restore::run_run(
            kernel.as_deref(),
            *mem_size,
            *vcpus,
            (*snapshot_after_lines, *diff_after_lines),
            out,
            format,
            *timeout,
        ),
        #[cfg(all(feature = "kvm", target_os = "linux", target_arch = "x86_64"))]
        Command::Demo { json } => cli::restore::run_demo(*json),
    };
    match result {
        Ok(c) => ExitCode::from(c),
        Err(e) if cli::is_broken_pipe(&e) => ExitCode::from(code::OK),
        Err(e) => {
            eprintln!("snaptool: error: {e:#}");
            ExitCode::from(code::FAILED)
        }
    }
}
