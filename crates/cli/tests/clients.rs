//! Real clients nobody here wrote: rust-vmm's `vfio-ioctls` and cloud-hypervisor's
//! `iommufd-ioctls`, driven by `examples/rustvmm_client.rs` as a VMM drives them, run
//! unmodified under `softiommu exec` with a copy engine behind VT-d and behind SMMUv3.
//!
//! This binary is the client too: `softiommu exec` runs it again with `--rustvmm-client`.

use std::process::{Command, ExitCode};

#[path = "../examples/rustvmm_client.rs"]
mod client;

const EXE: &str = env!("CARGO_BIN_EXE_softiommu");
const CLIENT: &str = "--rustvmm-client";
const BDF: &str = "0000:00:04.0";

/// The lines both IOMMUs print, in order.
const COMMON: [&str; 9] = [
    "type1: device 8086:0b25, BAR 0 64 KiB, BAR 2 128 KiB, 9 MSI-X vectors",
    "type1: 4096 bytes moved through the IOMMU, MSI-X vector 1 fired",
    "type1: a move from unmapped IOVA 0x40000000 faults there, nothing written",
    "iommufd: device bound (dev_id 2), attached to IOAS 1",
    "iommufd: device 8086:0b25, BAR 0 64 KiB, BAR 2 128 KiB, 9 MSI-X vectors",
    "iommufd: 4096 bytes moved through the IOMMU, MSI-X vector 1 fired",
    "iommufd: a move from unmapped IOVA 0x40000000 faults there, nothing written",
    "iommufd: paging HWPT 4 attached, 4096 bytes moved through it",
    "iommufd: hardware information: ",
];

/// Runs the client under `softiommu exec --iommu IOMMU`; its output, or why it failed.
fn run(iommu: &str) -> Result<String, String> {
    let me = std::env::current_exe().map_err(|e| e.to_string())?;
    let dev = format!("dsa@{BDF}");
    let o = Command::new(EXE)
        .args([
            "exec",
            "--iommu",
            iommu,
            "--device",
            &dev,
            "--memlock",
            "64M",
            "--",
        ])
        .arg(me)
        .args([CLIENT, BDF])
        .output()
        .map_err(|e| e.to_string())?;
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    if !o.status.success() {
        return Err(format!(
            "status {:?}\nstdout:\n{out}stderr:\n{}",
            o.status,
            String::from_utf8_lossy(&o.stderr)
        ));
    }
    Ok(out)
}

/// Whether `out` is the run `tail` ends on an IOMMU: every common line, then `tail`, `ok`.
fn expect(out: &str, hw: &str, tail: &[&str]) -> Result<(), String> {
    let lines: Vec<&str> = out.lines().collect();
    let mut want: Vec<String> = COMMON.iter().map(|l| l.to_string()).collect();
    if let Some(last) = want.last_mut() {
        last.push_str(hw);
    }
    want.extend(tail.iter().map(|l| l.to_string()));
    want.push("ok".into());
    if lines == want {
        Ok(())
    } else {
        Err(format!("expected:\n{}\ngot:\n{out}", want.join("\n")))
    }
}

/// One run and its checks.
type Check = fn() -> Result<(), String>;

fn on_vtd() -> Result<(), String> {
    let out = run("vtd")?;
    expect(
        &out,
        "Intel VT-d",
        &["iommufd: no vIOMMU on Intel VT-d, as in Linux"],
    )
}

fn on_smmuv3() -> Result<(), String> {
    let out = run("smmuv3")?;
    expect(
        &out,
        "Arm SMMUv3",
        &[
            "iommufd: vIOMMU and vDEVICE (virtual stream ID 8)",
            "iommufd: bypass STE: 4096 bytes moved through the nesting parent",
            "iommufd: abort STE: the move and its record fault (SWERR error 0x1a), nothing written",
        ],
    )
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    if args.next().as_deref() == Some(CLIENT) {
        return client::main();
    }
    let tests: [(&str, Check); 2] = [
        ("the_rust_vmm_client_runs_unmodified_on_vtd", on_vtd),
        ("the_rust_vmm_client_runs_unmodified_on_smmuv3", on_smmuv3),
    ];
    println!("\nrunning {} tests", tests.len());
    let mut failed = 0;
    for (name, t) in tests {
        match t() {
            Ok(()) => println!("test {name} ... ok"),
            Err(e) => {
                failed += 1;
                println!("test {name} ... FAILED\n{e}");
            }
        }
    }
    println!(
        "\ntest result: {}. {} passed; {failed} failed\n",
        if failed == 0 { "ok" } else { "FAILED" },
        tests.len() - failed
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
