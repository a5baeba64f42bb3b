//! The kernel's structures as bytes: decoding what a caller passed and encoding what goes
//! back, for the `repr(C)` structures of the bindings crates.

use iommufd_bindings as k;
use vfio_bindings::bindings::vfio as v;

/// A kernel interface structure made of integers only, with no padding, so that every byte
/// string of its size is a valid value and its bytes are all initialised.
///
/// # Safety
/// Implement only for `repr(C)` structures of integer fields without implicit padding.
pub(crate) unsafe trait Pod: Copy + Default {}

macro_rules! pod {
    ($($t:ty = $size:expr),* $(,)?) => {$(
        // SAFETY: a bindgen `repr(C)` structure of `__u16`/`__u32`/`__u64`/`__s32` fields
        // laid out by the kernel without holes; the size assertion below is the kernel's.
        unsafe impl Pod for $t {}
        const _: () = assert!(std::mem::size_of::<$t>() == $size);
    )*};
}

pod! {
    k::iommu_destroy = 8,
    k::iommu_ioas_alloc = 12,
    k::iommu_ioas_allow_iovas = 24,
    k::iommu_ioas_copy = 40,
    k::iommu_ioas_iova_ranges = 32,
    k::iommu_iova_range = 16,
    k::iommu_ioas_map = 40,
    k::iommu_ioas_map_file = 40,
    k::iommu_ioas_unmap = 24,
    k::iommu_option = 24,
    k::iommu_vfio_ioas = 12,
    v::vfio_info_cap_header = 8,
    v::vfio_iommu_type1_info = 24,
    v::vfio_iommu_type1_info_dma_avail = 12,
    v::vfio_iova_range = 16,
    v::vfio_iommu_type1_dma_map = 32,
    v::vfio_group_status = 8,
    v::vfio_device_info = 24,
    v::vfio_region_info = 32,
    v::vfio_irq_info = 16,
    v::vfio_device_bind_iommufd = 24,
    v::vfio_device_attach_iommufd_pt = 16,
    v::vfio_device_detach_iommufd_pt = 12,
    k::iommu_hwpt_alloc = 48,
    k::iommu_hwpt_vtd_s1 = 24,
    k::iommu_hwpt_arm_smmuv3 = 16,
    k::iommu_hw_info = 40,
    k::iommu_hwpt_set_dirty_tracking = 16,
    k::iommu_hwpt_get_dirty_bitmap = 48,
    k::iommu_hwpt_invalidate = 32,
    k::iommu_hwpt_vtd_s1_invalidate = 24,
    k::iommu_viommu_arm_smmuv3_invalidate = 16,
    k::iommu_viommu_alloc = 40,
    k::iommu_vdevice_alloc = 24,
    k::iommu_fault_alloc = 16,
    k::iommu_veventq_alloc = 32,
}

/// Decodes a `T` from the start of `bytes` (zero-filled when short).
pub(crate) fn decode<T: Pod>(bytes: &[u8]) -> T {
    let mut v = T::default();
    let n = bytes.len().min(std::mem::size_of::<T>());
    // SAFETY: `T: Pod` accepts any bytes; at most `size_of::<T>()` bytes are copied into
    // `v`, from a slice that has at least `n`.
    unsafe {
        std::ptr::copy_nonoverlapping(bytes.as_ptr(), (&raw mut v).cast::<u8>(), n);
    }
    v
}

/// The bytes of `v`.
pub(crate) fn encode<T: Pod>(v: &T) -> &[u8] {
    // SAFETY: `T: Pod` has no padding, so all `size_of::<T>()` bytes of `v` are initialised.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structures_round_trip_through_their_bytes() {
        let m = k::iommu_ioas_map {
            size: 40,
            flags: 7,
            ioas_id: 3,
            __reserved: 0,
            user_va: 0x1122_3344_5566_7788,
            length: 0x1000,
            iova: 0x2000,
        };
        let b = encode(&m).to_vec();
        assert_eq!(&b[0..4], &40u32.to_ne_bytes());
        assert_eq!(&b[16..24], &0x1122_3344_5566_7788u64.to_ne_bytes());
        assert_eq!(decode::<k::iommu_ioas_map>(&b), m);
        let short: k::iommu_ioas_map = decode(&b[..12]);
        assert_eq!((short.ioas_id, short.user_va), (3, 0));
    }
}
