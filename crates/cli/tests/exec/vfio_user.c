/* A VFIO and iommufd user as a program would be written: libc and the system's own
 * <linux/iommufd.h> and <linux/vfio.h>, nothing else. Run under `softiommu exec` with one
 * copy engine at 0000:00:04.0; prints "ok" and exits 0 when every check holds. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define BDF "0000:00:04.0"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s (errno %d: %s)\n", \
    __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)
/* The call fails with exactly errno `e`. */
#define FAILS(call, e) do { errno = 0; CHECK((call) == -1 && errno == (e)); } while (0)

static char buf[1 << 20] __attribute__((aligned(4096)));

static void iommufd(void)
{
	int fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHECK(fd >= 0);
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc) == 0 && alloc.out_ioas_id != 0);
	struct iommu_ioas_map map = {
		.size = sizeof(map),
		.flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = alloc.out_ioas_id,
		.user_va = (uintptr_t)buf,
		.length = sizeof(buf),
		.iova = 1 << 20,
	};
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &map) == 0);
	/* The same range again: it is in use. */
	FAILS(ioctl(fd, IOMMU_IOAS_MAP, &map), EEXIST);
	struct iommu_ioas_unmap unmap = {
		.size = sizeof(unmap), .ioas_id = alloc.out_ioas_id, .iova = 1 << 20, .length = sizeof(buf),
	};
	CHECK(ioctl(fd, IOMMU_IOAS_UNMAP, &unmap) == 0 && unmap.length == sizeof(buf));
	struct iommu_destroy destroy = { .size = sizeof(destroy), .id = alloc.out_ioas_id };
	CHECK(ioctl(fd, IOMMU_DESTROY, &destroy) == 0);
	FAILS(ioctl(fd, IOMMU_DESTROY, &destroy), ENOENT);
	/* A bad pointer, an unknown command, a closed descriptor. */
	FAILS(ioctl(fd, IOMMU_IOAS_ALLOC, (void *)8), EFAULT);
	FAILS(ioctl(fd, _IO(IOMMUFD_TYPE, 0x7f), &alloc), ENOTTY);
	/* A duplicate is the same context. */
	int copy = dup(fd);
	CHECK(copy >= 0 && ioctl(copy, IOMMU_IOAS_ALLOC, &alloc) == 0 && alloc.out_ioas_id != 0);
	CHECK(close(fd) == 0 && close(copy) == 0);
	FAILS(ioctl(fd, IOMMU_IOAS_ALLOC, &alloc), EBADF);
	/* mmap of the context is the kernel's ENODEV. */
	fd = open("/dev/iommu", O_RDWR);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0) == MAP_FAILED && errno == ENODEV);
	FAILS(read(fd, buf, 8), EINVAL);
	close(fd);
}

static int group_number(void)
{
	char link[256];
	ssize_t n = readlink("/sys/bus/pci/devices/" BDF "/iommu_group", link, sizeof(link) - 1);
	CHECK(n > 0);
	link[n] = 0;
	char *slash = strrchr(link, '/');
	CHECK(slash != NULL);
	return atoi(slash + 1);
}

static void sysfs(int group)
{
	char path[128], text[32] = { 0 };
	int fd = open("/sys/bus/pci/devices/" BDF "/vendor", O_RDONLY);
	CHECK(fd >= 0 && read(fd, text, sizeof(text) - 1) > 0 && strcmp(text, "0x8086\n") == 0);
	close(fd);
	CHECK(access("/sys/bus/pci/devices/" BDF "/device", R_OK) == 0);
	FAILS(access("/sys/bus/pci/devices/" BDF "/device", W_OK), EACCES);
	snprintf(path, sizeof(path), "/sys/kernel/iommu_groups/%d/devices", group);
	DIR *d = opendir(path);
	CHECK(d != NULL);
	int found = 0;
	for (struct dirent *e; (e = readdir(d)) != NULL;)
		found += strcmp(e->d_name, BDF) == 0;
	CHECK(closedir(d) == 0 && found == 1);
	d = opendir("/sys/bus/pci/devices/" BDF "/vfio-dev");
	CHECK(d != NULL);
	struct dirent *e;
	while ((e = readdir(d)) != NULL && e->d_name[0] == '.')
		;
	CHECK(e != NULL && strcmp(e->d_name, "vfio0") == 0);
	closedir(d);
	struct stat st;
	CHECK(stat("/dev/vfio/vfio", &st) == 0 && S_ISCHR(st.st_mode));
	CHECK(lstat("/sys/bus/pci/devices/" BDF "/iommu_group", &st) == 0 && S_ISLNK(st.st_mode));
}

static uint32_t config(int dev, uint64_t offset, int size)
{
	struct vfio_region_info reg = { .argsz = sizeof(reg), .index = VFIO_PCI_CONFIG_REGION_INDEX };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &reg) == 0 && reg.size >= 256);
	uint32_t v = 0;
	CHECK(pread(dev, &v, size, reg.offset + offset) == size);
	return v;
}

static void type1(int group)
{
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%d", group);
	int container = open("/dev/vfio/vfio", O_RDWR);
	CHECK(container >= 0);
	CHECK(ioctl(container, VFIO_GET_API_VERSION) == VFIO_API_VERSION);
	CHECK(ioctl(container, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) == 1);
	int grp = open(path, O_RDWR);
	CHECK(grp >= 0);
	struct vfio_group_status status = { .argsz = sizeof(status) };
	CHECK(ioctl(grp, VFIO_GROUP_GET_STATUS, &status) == 0);
	CHECK(status.flags & VFIO_GROUP_FLAGS_VIABLE);
	CHECK(ioctl(grp, VFIO_GROUP_SET_CONTAINER, &container) == 0);
	CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0);
	struct vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	CHECK(ioctl(container, VFIO_IOMMU_GET_INFO, &info) == 0);
	CHECK((info.flags & VFIO_IOMMU_INFO_PGSIZES) && (info.iova_pgsizes & 4096));
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)buf, .iova = 1 << 30, .size = sizeof(buf),
	};
	CHECK(ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0);
	int dev = ioctl(grp, VFIO_GROUP_GET_DEVICE_FD, BDF);
	CHECK(dev >= 0);
	FAILS(ioctl(grp, VFIO_GROUP_GET_DEVICE_FD, "0000:00:1f.7"), ENODEV);
	struct vfio_device_info dinfo = { .argsz = sizeof(dinfo) };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_INFO, &dinfo) == 0 && (dinfo.flags & VFIO_DEVICE_FLAGS_PCI));
	CHECK(dinfo.num_regions >= VFIO_PCI_CONFIG_REGION_INDEX + 1);
	struct vfio_region_info bar0 = { .argsz = sizeof(bar0), .index = 0 };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &bar0) == 0 && bar0.size > 0);
	CHECK(config(dev, 0, 2) == 0x8086 && config(dev, 2, 2) == 0x0b25);
	/* The same through read at the descriptor's position. */
	uint16_t id = 0;
	CHECK(lseek(dev, ((off_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) + 2, SEEK_SET) >= 0);
	CHECK(read(dev, &id, 2) == 2 && id == 0x0b25);
	FAILS(ioctl(dev, VFIO_DEVICE_GET_INFO, (void *)16), EFAULT);
	FAILS(ioctl(dev, _IO(VFIO_TYPE, VFIO_BASE + 63)), ENOTTY);
	struct vfio_iommu_type1_dma_unmap unmap = {
		.argsz = sizeof(unmap), .iova = 1 << 30, .size = sizeof(buf),
	};
	CHECK(ioctl(container, VFIO_IOMMU_UNMAP_DMA, &unmap) == 0 && unmap.size == sizeof(buf));
	CHECK(close(dev) == 0);
	FAILS(ioctl(dev, VFIO_DEVICE_GET_INFO, &dinfo), EBADF);
	close(grp);
	close(container);
}

int main(void)
{
	iommufd();
	int group = group_number();
	sysfs(group);
	type1(group);
	puts("ok");
	return 0;
}
