//! The bodies of the fuzz targets of the command line's inputs that the library parses:
//! `device_list`, the text of `softiommu exec --devices FILE`, and `trace_ioctl`, the
//! argument bytes `--trace` decodes for each ioctl. Each must answer any input without a
//! panic; a stable test replays the stored inputs through them.

use crate::config::{DeviceSpec, parse_device_list};
use crate::trace::{Kind, decode_bytes};

/// Any text as a device list: parsed or refused with the line named; what parses names
/// each device once, as many as the lines that are not blank or comments at most, and each
/// device's name parses back to the same device.
pub fn device_list(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    match parse_device_list(&text) {
        Ok(devices) => {
            let lines = text
                .lines()
                .filter(|l| !l.split('#').next().unwrap_or("").trim().is_empty())
                .count();
            assert!(devices.len() <= lines, "more devices than lines");
            for (i, d) in devices.iter().enumerate() {
                assert!(!devices[..i].contains(d), "{} twice", d.name());
                let again = DeviceSpec::parse(&format!("dsa@{}", d.name()));
                assert_eq!(again.as_ref(), Ok(d), "{} does not parse back", d.name());
            }
        }
        Err(e) => assert!(e.starts_with("line "), "no line named: {e}"),
    }
}

/// One traced ioctl: byte 0 picks the file (iommufd, group, device), byte 1 the command
/// number of `_IO(';', nr)` (or, with byte 0's bit 7, a request of no known family), byte 2
/// where in the address space the argument sits; the rest is the argument's bytes. The
/// decoding shows the command's name and only what those bytes hold.
pub fn trace_ioctl(data: &[u8]) {
    let [kind, nr, at, arg @ ..] = data else {
        return;
    };
    let file = match kind % 3 {
        0 => Kind::Iommu,
        1 => Kind::Group,
        _ => Kind::Device,
    };
    let request = if kind & 0x80 != 0 {
        u64::from(*nr) << 16 | 0x3b00
    } else {
        u64::from(b';') << 8 | u64::from(*nr)
    };
    // Low, mid and top of the address space: offsets past the top wrap and read nothing.
    let base = match at % 3 {
        0 => 0,
        1 => 0x7fff_0000_0000,
        _ => u64::MAX - u64::from(*at),
    };
    let shown = decode_bytes(file, request, base, arg);
    assert!(shown.ends_with(" }"), "unfinished: {shown}");
    assert!(shown.contains('{'), "no argument list: {shown}");
}
