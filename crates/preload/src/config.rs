//! What the library serves, as `softiommu exec` passes it through the environment: which
//! IOMMU, which devices at which PCI addresses, and the user's locked-memory limit.

/// The variable naming the IOMMU (`vtd`, `smmuv3` or `mock`).
pub const ENV_IOMMU: &str = "SOFTIOMMU_IOMMU";
/// The variable listing the devices, `KIND@BDF` separated by commas.
pub const ENV_DEVICES: &str = "SOFTIOMMU_DEVICES";
/// The variable holding `RLIMIT_MEMLOCK` in bytes as the contexts see it.
pub const ENV_MEMLOCK: &str = "SOFTIOMMU_MEMLOCK";
/// The variable that turns the trace on standard error on (`1`).
pub const ENV_TRACE: &str = "SOFTIOMMU_TRACE";

/// The IOMMU the devices sit behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IommuKind {
    /// An Intel VT-d unit in scalable mode, brought up by its driver.
    Vtd,
    /// An Arm SMMUv3 with every feature, brought up by its driver.
    Smmuv3,
    /// The kernel's mock IOMMU of its test channel (`IOMMU_TEST_CMD`), without devices.
    Mock,
}

impl IommuKind {
    /// The kind named `s`.
    pub fn parse(s: &str) -> Result<IommuKind, String> {
        match s {
            "vtd" => Ok(IommuKind::Vtd),
            "smmuv3" => Ok(IommuKind::Smmuv3),
            "mock" => Ok(IommuKind::Mock),
            _ => Err(format!("unknown IOMMU `{s}`: expected vtd, smmuv3 or mock")),
        }
    }

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            IommuKind::Vtd => "vtd",
            IommuKind::Smmuv3 => "smmuv3",
            IommuKind::Mock => "mock",
        }
    }
}

/// One emulated PCI function and its address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceSpec {
    /// Bus number.
    pub bus: u8,
    /// Device number (0 to 31).
    pub device: u8,
    /// Function number (0 to 7).
    pub function: u8,
}

impl DeviceSpec {
    /// `KIND@BDF`: the only kind is `dsa` (the copy engine), the address `0000:bb:dd.f` or
    /// `bb:dd.f` in hexadecimal, on segment 0.
    pub fn parse(s: &str) -> Result<DeviceSpec, String> {
        let Some((kind, bdf)) = s.split_once('@') else {
            return Err(format!(
                "device `{s}`: expected KIND@BDF, e.g. dsa@0000:00:04.0"
            ));
        };
        if kind != "dsa" {
            return Err(format!(
                "device `{s}`: unknown kind `{kind}` (the only kind is dsa)"
            ));
        }
        let bad = || format!("device `{s}`: `{bdf}` is not a PCI address like 0000:00:04.0");
        let parts: Vec<&str> = bdf.split(':').collect();
        let (bus, devfn) = match parts.as_slice() {
            [seg, bus, devfn] => {
                if u16::from_str_radix(seg, 16).map_err(|_| bad())? != 0 || seg.len() > 4 {
                    return Err(format!("device `{s}`: only PCI segment 0000 is served"));
                }
                (*bus, *devfn)
            }
            [bus, devfn] => (*bus, *devfn),
            _ => return Err(bad()),
        };
        let (dev, func) = devfn.split_once('.').ok_or_else(bad)?;
        let hex = |t: &str, max: u8| {
            (!t.is_empty() && t.len() <= 2)
                .then(|| u8::from_str_radix(t, 16).ok())
                .flatten()
                .filter(|v| *v <= max)
        };
        match (hex(bus, 0xff), hex(dev, 0x1f), hex(func, 7)) {
            (Some(bus), Some(device), Some(function)) => Ok(DeviceSpec {
                bus,
                device,
                function,
            }),
            _ => Err(bad()),
        }
    }

    /// The requester ID.
    pub fn rid(self) -> u16 {
        u16::from(self.bus) << 8 | u16::from(self.device) << 3 | u16::from(self.function)
    }

    /// The kernel's name of the function (`0000:bb:dd.f`).
    pub fn name(self) -> String {
        format!(
            "0000:{:02x}:{:02x}.{:x}",
            self.bus, self.device, self.function
        )
    }
}

/// The devices a device-list file names: one `KIND@BDF` a line, blank lines and text from
/// `#` to the end of a line ignored. A wrong line is an error naming its number (from 1).
pub fn parse_device_list(text: &str) -> Result<Vec<DeviceSpec>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line
            .split_once('#')
            .map_or(line, |(before, _)| before)
            .trim();
        if line.is_empty() {
            continue;
        }
        let d = DeviceSpec::parse(line).map_err(|e| format!("line {}: {e}", i + 1))?;
        if out.contains(&d) {
            return Err(format!("line {}: a second device at {}", i + 1, d.name()));
        }
        out.push(d);
    }
    Ok(out)
}

/// Everything the library serves.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// The IOMMU.
    pub iommu: IommuKind,
    /// The devices, in the order given (device `k` is `/dev/vfio/devices/vfio{k}`).
    pub devices: Vec<DeviceSpec>,
    /// The locked-memory limit in bytes; `None`: the process's own `RLIMIT_MEMLOCK`.
    pub memlock: Option<u64>,
    /// Whether calls, BAR accesses and the IOMMU's events are traced on standard error.
    pub trace: bool,
}

impl Config {
    /// Checks what cannot be served: two devices at one address, devices on the mock IOMMU.
    pub fn validate(&self) -> Result<(), String> {
        for (i, d) in self.devices.iter().enumerate() {
            if self.devices[..i].contains(d) {
                return Err(format!("two devices at {}", d.name()));
            }
        }
        if self.iommu == IommuKind::Mock && !self.devices.is_empty() {
            return Err(
                "the mock IOMMU has no PCI devices (its test channel makes mock ones)".into(),
            );
        }
        Ok(())
    }

    /// The environment variables that carry this configuration.
    pub fn to_env(&self) -> Vec<(&'static str, String)> {
        let devices: Vec<String> = self
            .devices
            .iter()
            .map(|d| format!("dsa@{}", d.name()))
            .collect();
        let mut env = vec![
            (ENV_IOMMU, self.iommu.name().to_string()),
            (ENV_DEVICES, devices.join(",")),
        ];
        if let Some(m) = self.memlock {
            env.push((ENV_MEMLOCK, m.to_string()));
        }
        if self.trace {
            env.push((ENV_TRACE, "1".to_string()));
        }
        env
    }

    /// The configuration `get` (a reader of the environment) carries: VT-d without devices
    /// when nothing is set.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Config, String> {
        let iommu = match get(ENV_IOMMU) {
            Some(s) => IommuKind::parse(&s)?,
            None => IommuKind::Vtd,
        };
        let devices = match get(ENV_DEVICES) {
            Some(s) if !s.is_empty() => s
                .split(',')
                .map(DeviceSpec::parse)
                .collect::<Result<Vec<_>, _>>()?,
            _ => Vec::new(),
        };
        let memlock = match get(ENV_MEMLOCK) {
            Some(s) => Some(
                s.parse::<u64>()
                    .map_err(|_| format!("{ENV_MEMLOCK}=`{s}` is not a number of bytes"))?,
            ),
            None => None,
        };
        let trace = get(ENV_TRACE).is_some_and(|v| !v.is_empty() && v != "0");
        let c = Config {
            iommu,
            devices,
            memlock,
            trace,
        };
        c.validate()?;
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let d = DeviceSpec::parse("dsa@0000:00:04.0").expect("parsed");
        assert_eq!((d.bus, d.device, d.function, d.rid()), (0, 4, 0, 0x20));
        assert_eq!(
            DeviceSpec::parse("dsa@6a:01.7").map(|d| d.name()),
            Ok("0000:6a:01.7".into())
        );
        for bad in [
            "dsa",
            "iax@0000:00:04.0",
            "dsa@0000:00:20.0",
            "dsa@0000:00:04.8",
            "dsa@0001:00:04.0",
            "dsa@00:04",
            "dsa@:00:04.0",
        ] {
            assert!(DeviceSpec::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn device_lists() {
        let text = "# the engines\n\ndsa@0000:00:04.0\n  dsa@00:05.0   # the second\n";
        let got = parse_device_list(text).map(|v| v.iter().map(|d| d.name()).collect::<Vec<_>>());
        assert_eq!(got, Ok(vec!["0000:00:04.0".into(), "0000:00:05.0".into()]));
        assert_eq!(parse_device_list("# nothing\n"), Ok(Vec::new()));
        let e = parse_device_list("dsa@00:04.0\n\ndsa@00:40.0\n").expect_err("bad address");
        assert!(e.starts_with("line 3: "), "{e}");
        let e = parse_device_list("dsa@00:04.0\ndsa@0000:00:04.0").expect_err("twice");
        assert!(e.starts_with("line 2: "), "{e}");
    }

    #[test]
    fn round_trip_through_the_environment() {
        let c = Config {
            iommu: IommuKind::Smmuv3,
            devices: vec![DeviceSpec::parse("dsa@0000:00:04.0").expect("parsed")],
            memlock: Some(1 << 20),
            trace: true,
        };
        let env = c.to_env();
        let get = |k: &str| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone());
        assert_eq!(Config::from_env(get), Ok(c));
        let dup = |k: &str| (k == ENV_DEVICES).then(|| "dsa@00:04.0,dsa@0000:00:04.0".to_string());
        assert!(Config::from_env(dup).is_err());
    }
}
