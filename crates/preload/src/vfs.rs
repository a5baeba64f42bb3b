//! The files softiommu adds to the program's view of `/dev` and `/sys`: the device nodes
//! and the sysfs entries of the emulated PCI functions a VFIO program walks.

use std::collections::BTreeMap;

use softiommu_devices::pci::AccessSize;

use crate::platform::Platform;

/// Which object opening a device node makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DevNode {
    /// `/dev/iommu`.
    Iommu,
    /// `/dev/vfio/vfio`.
    Container,
    /// `/dev/vfio/N`.
    Group(u32),
    /// `/dev/vfio/devices/vfioN`: the platform's device `N`.
    Cdev(usize),
}

/// One file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Node {
    /// A directory and the names in it.
    Dir(Vec<String>),
    /// A read-only file and its contents.
    File(Vec<u8>),
    /// The configuration space of the platform's device `N`, read when opened.
    Config(usize),
    /// A symbolic link and its target.
    Link(String),
    /// A character device.
    Dev(DevNode),
}

/// The prefixes of the paths that may be softiommu's.
const ROOTS: [&str; 4] = [
    "/dev/iommu",
    "/dev/vfio",
    "/sys/bus/pci/devices/",
    "/sys/kernel/iommu_groups/",
];

/// `path` with `.`, `..` and repeated slashes resolved, if absolute.
pub(crate) fn normalize(path: &[u8]) -> Option<String> {
    let path = std::str::from_utf8(path).ok()?;
    if !path.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    Some(format!("/{}", parts.join("/")))
}

/// Whether `path` (normalized) may be softiommu's: the test made before the platform is
/// built, so that other paths never build it.
pub(crate) fn candidate(path: &str) -> bool {
    ROOTS
        .iter()
        .any(|r| path.starts_with(r) || r.trim_end_matches('/') == path)
}

/// The tree.
#[derive(Debug, Default)]
pub(crate) struct Vfs {
    nodes: BTreeMap<String, Node>,
}

impl Vfs {
    fn add(&mut self, path: String, node: Node) {
        if let Some((parent, name)) = path.rsplit_once('/')
            && let Some(Node::Dir(names)) = self.nodes.get_mut(parent)
            && !names.iter().any(|n| n == name)
        {
            names.push(name.to_string());
        }
        self.nodes.insert(path, node);
    }

    fn dir(&mut self, path: &str) {
        self.add(path.to_string(), Node::Dir(Vec::new()));
    }

    /// The files of `p`'s devices.
    pub(crate) fn build(p: &Platform) -> Vfs {
        let mut v = Vfs::default();
        v.add("/dev/iommu".into(), Node::Dev(DevNode::Iommu));
        v.dir("/dev/vfio");
        v.add("/dev/vfio/vfio".into(), Node::Dev(DevNode::Container));
        v.dir("/dev/vfio/devices");
        for n in 0..p.groups.len() as u32 {
            v.add(format!("/dev/vfio/{n}"), Node::Dev(DevNode::Group(n)));
            let g = format!("/sys/kernel/iommu_groups/{n}");
            v.dir(&g);
            v.add(format!("{g}/type"), Node::File(b"DMA\n".to_vec()));
            v.dir(&format!("{g}/devices"));
        }
        for (k, d) in p.devices.iter().enumerate() {
            let f = &d.function;
            let hex = |off: u32, size: AccessSize, digits: usize| {
                let val = f.config_read(off, size) >> (if digits == 6 { 8 } else { 0 });
                Node::File(format!("0x{val:0digits$x}\n").into_bytes())
            };
            v.add(
                format!("/dev/vfio/devices/vfio{k}"),
                Node::Dev(DevNode::Cdev(k)),
            );
            let s = format!("/sys/bus/pci/devices/{}", d.name);
            v.dir(&s);
            v.add(format!("{s}/vendor"), hex(0, AccessSize::Word, 4));
            v.add(format!("{s}/device"), hex(2, AccessSize::Word, 4));
            v.add(format!("{s}/class"), hex(8, AccessSize::Dword, 6));
            v.add(format!("{s}/config"), Node::Config(k));
            let group = format!("../../../kernel/iommu_groups/{}", d.group);
            v.add(format!("{s}/iommu_group"), Node::Link(group));
            v.add(
                format!("{s}/driver"),
                Node::Link("../../../bus/pci/drivers/vfio-pci".into()),
            );
            v.dir(&format!("{s}/vfio-dev"));
            v.dir(&format!("{s}/vfio-dev/vfio{k}"));
            v.add(
                format!("/sys/kernel/iommu_groups/{}/devices/{}", d.group, d.name),
                Node::Link(format!("../../../../devices/pci0000:00/{}", d.name)),
            );
        }
        // The link targets under /sys/devices are the same functions' directories.
        let aliases: Vec<(String, Node)> = v
            .nodes
            .iter()
            .filter_map(|(k, n)| {
                let rest = k.strip_prefix("/sys/bus/pci/devices/")?;
                let mut n = n.clone();
                if let Node::Link(t) = &mut n {
                    // One level deeper than /sys/bus/pci/devices/X: one more `..`.
                    *t = format!("../{t}");
                }
                Some((format!("/sys/devices/pci0000:00/{rest}"), n))
            })
            .collect();
        v.nodes.extend(aliases);
        v
    }

    /// The node at `path` (normalized), following links on the way and, if `follow`, at
    /// the end; with the path it was found at.
    pub(crate) fn get(&self, path: &str, follow: bool) -> Option<(String, &Node)> {
        let mut path = path.to_string();
        'restart: for _ in 0..16 {
            let parts: Vec<String> = path.split('/').skip(1).map(str::to_string).collect();
            let mut cur = String::new();
            for (i, c) in parts.iter().enumerate() {
                cur.push('/');
                cur.push_str(c);
                let last = i + 1 == parts.len();
                if let Some(Node::Link(t)) = self.nodes.get(&cur)
                    && (!last || follow)
                {
                    {
                        let parent = cur.rsplit_once('/').map_or("", |(p, _)| p);
                        let rest = parts[i + 1..].join("/");
                        path = normalize(format!("{parent}/{t}/{rest}").as_bytes())?;
                        continue 'restart;
                    }
                }
            }
            return self.nodes.get(&path).map(|n| (path.clone(), n));
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalized() {
        assert_eq!(
            normalize(b"//dev/./vfio/../iommu"),
            Some("/dev/iommu".into())
        );
        assert_eq!(normalize(b"dev/iommu"), None);
        assert!(candidate("/dev/vfio") && candidate("/sys/kernel/iommu_groups/0"));
        assert!(!candidate("/etc/passwd"));
    }
}
