//! Opens a snapshot of any supported format, prints each vCPU's instruction pointer and, given a
//! target, converts it.
//!
//! ```text
//! cargo run --example vcpus -- fixtures/firecracker-1.16.1/counter-1vcpu/vmstate
//! cargo run --example vcpus -- vmstate firecracker@11.0.0 vmstate.11
//! ```

use snaptool::{Vcpu, registry};
use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(input) = args.first() else {
        eprintln!("usage: vcpus SNAPSHOT [TARGET OUT]");
        return ExitCode::from(2);
    };
    let snap = match snaptool::open(Path::new(input)) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{input}: {e}");
            return ExitCode::from(2);
        }
    };
    println!(
        "{input}: {} ({})",
        snap.format.id(),
        snap.model.arch().name()
    );
    for (i, v) in snap.model.vcpus.iter().enumerate() {
        match v {
            Vcpu::X86_64(x) => println!("vcpu {i}: rip 0x{:x}", x.regs.rip),
            Vcpu::Aarch64(a) => println!("vcpu {i}: {} registers", a.regs.len()),
        }
    }
    if let [_, to, out] = args.as_slice() {
        let target = match registry::parse_target(to) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("{e}");
                return ExitCode::from(2);
            }
        };
        match snaptool::convert_loaded(&snap, target, None, false) {
            Ok(done) => {
                if let Err(e) = registry::write_output(&done.output, Path::new(out)) {
                    eprintln!("{out}: {e}");
                    return ExitCode::from(2);
                }
                println!(
                    "{out}: {} ({})",
                    done.report.to,
                    if done.report.lossless {
                        "lossless"
                    } else {
                        "lossy"
                    }
                );
            }
            Err(e) => {
                eprintln!("{input} -> {to}: {e}");
                return ExitCode::from(2);
            }
        }
    }
    ExitCode::SUCCESS
}
