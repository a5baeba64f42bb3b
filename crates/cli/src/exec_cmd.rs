//! `softiommu exec`: runs a program with the preload library in `LD_PRELOAD`, so that it
//! finds `/dev/iommu`, `/dev/vfio` and the sysfs entries of the emulated devices.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use clap::Args;
use softiommu_cli::parse::parse_num;

// The configuration's parser and environment names, shared with the library itself (which
// the command does not link: its exports would interpose the command's own calls).
#[path = "../../preload/src/config.rs"]
#[allow(dead_code)]
mod config;

use config::{Config, DeviceSpec, IommuKind};

/// The library's file name.
const LIBRARY: &str = "libsoftiommu_preload.so";
/// The variable that names the library, overriding the search beside the command.
const ENV_LIBRARY: &str = "SOFTIOMMU_PRELOAD";

/// `softiommu exec [options] -- PROGRAM ARGS...`.
#[derive(Debug, Args)]
pub struct ExecArgs {
    /// The IOMMU: vtd, smmuv3, or mock (the kernel's test channel, without devices).
    #[arg(long, default_value = "vtd", value_parser = IommuKind::parse)]
    iommu: IommuKind,
    /// A device at a PCI address, as KIND@BDF (the kind is dsa); repeatable.
    #[arg(long = "device", value_name = "KIND@BDF", value_parser = DeviceSpec::parse)]
    devices: Vec<DeviceSpec>,
    /// A file listing devices, one KIND@BDF a line (`#` starts a comment); they come after
    /// those of --device.
    #[arg(long = "devices", value_name = "FILE")]
    device_list: Option<PathBuf>,
    /// Shows on standard error each call on softiommu's files with its decoded arguments
    /// and result, each trapped BAR access, and the faults, invalidations and page requests
    /// of the IOMMU and its driver.
    #[arg(long)]
    trace: bool,
    /// RLIMIT_MEMLOCK in bytes as the program's contexts see it (units K, M, G allowed);
    /// default: the process's own limit.
    #[arg(long, value_name = "BYTES", value_parser = parse_num)]
    memlock: Option<u64>,
    /// The program and its arguments.
    #[arg(required = true, last = true, value_name = "PROGRAM ARGS")]
    program: Vec<OsString>,
}

/// The library: `$SOFTIOMMU_PRELOAD`, or beside the command (or in its `deps/`, where cargo
/// puts it for tests).
fn library() -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(ENV_LIBRARY) {
        return Ok(PathBuf::from(p));
    }
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this command: {e}"))?;
    let dir = exe.parent().unwrap_or(Path::new("."));
    [dir.join(LIBRARY), dir.join("deps").join(LIBRARY)]
        .into_iter()
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{LIBRARY} is not beside {}: build it with `cargo build -p softiommu-preload` or name it in {ENV_LIBRARY}",
                exe.display()
            )
        })
}

/// The devices of `--device` followed by those of the `--devices` file.
fn devices(args: &ExecArgs) -> Result<Vec<DeviceSpec>, String> {
    let mut all = args.devices.clone();
    if let Some(path) = &args.device_list {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read the device list {}: {e}", path.display()))?;
        let listed =
            config::parse_device_list(&text).map_err(|e| format!("{}: {e}", path.display()))?;
        all.extend(listed);
    }
    Ok(all)
}

/// Runs the program; its exit code is the command's (128 + the signal if one ended it).
pub fn run(args: &ExecArgs) -> ExitCode {
    let cfg = devices(args).map(|devices| Config {
        iommu: args.iommu,
        devices,
        memlock: args.memlock,
        trace: args.trace,
    });
    let lib = cfg.and_then(|cfg| cfg.validate().and_then(|()| library()).map(|l| (cfg, l)));
    let (cfg, lib) = match lib {
        Ok(l) => l,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut preload = OsString::from(lib);
    if let Some(more) = std::env::var_os("LD_PRELOAD").filter(|v| !v.is_empty()) {
        preload.push(":");
        preload.push(more);
    }
    let mut cmd = Command::new(&args.program[0]);
    cmd.args(&args.program[1..]).env("LD_PRELOAD", preload);
    if cfg.memlock.is_none() {
        cmd.env_remove(config::ENV_MEMLOCK);
    }
    if !cfg.trace {
        cmd.env_remove(config::ENV_TRACE);
    }
    for (k, v) in cfg.to_env() {
        cmd.env(k, v);
    }
    match cmd.status() {
        Ok(st) => {
            use std::os::unix::process::ExitStatusExt;
            let code = st.code().or(st.signal().map(|s| 128 + s)).unwrap_or(1);
            ExitCode::from(u8::try_from(code).unwrap_or(1))
        }
        Err(e) => {
            eprintln!(
                "error: cannot run {}: {e}",
                args.program[0].to_string_lossy()
            );
            ExitCode::from(127)
        }
    }
}
