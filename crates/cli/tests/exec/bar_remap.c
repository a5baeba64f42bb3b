/* mprotect, mremap and munmap of a mapped BAR: the window keeps reaching the device, or the
 * call fails as the kernel fails it for a VM_IO | VM_PFNMAP mapping. Run under `softiommu
 * exec` with a copy engine at 0000:00:04.0; prints "ok" and exits 0 when every check
 * holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>
#include <linux/vfio.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s (errno %d: %s)\n", \
    __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)

/* The engine's GENCAP register, and its table offsets (read only, never zero). */
#define GENCAP 0x10
#define TABLE_OFFSET 0x60

static sigjmp_buf caught;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	faults++;
	siglongjmp(caught, 1);
}

/* A load at `p` faults to the program's own handler. */
static int own_fault(volatile uint64_t *p)
{
	int before = faults;
	if (sigsetjmp(caught, 1) == 0)
		(void)*p;
	return faults == before + 1;
}

static uint64_t rd64(volatile uint8_t *bar, uint32_t off) { return *(volatile uint64_t *)(bar + off); }

int main(void)
{
	int container = open("/dev/vfio/vfio", O_RDWR);
	int group = open("/dev/vfio/0", O_RDWR);
	CHECK(container >= 0 && group >= 0);
	CHECK(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0);
	CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0);
	int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0");
	CHECK(dev >= 0);
	struct vfio_region_info r0 = { .argsz = sizeof(r0), .index = 0 };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &r0) == 0 && r0.size >= 0x3000);
	uint64_t cfg = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40;
	uint16_t cmd;
	CHECK(pread(dev, &cmd, 2, cfg + 4) == 2);
	cmd |= 2; /* memory space */
	CHECK(pwrite(dev, &cmd, 2, cfg + 4) == 2);

	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);

	volatile uint8_t *bar = mmap(NULL, 0x3000, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r0.offset);
	CHECK(bar != MAP_FAILED);
	uint64_t gencap = rd64(bar, GENCAP), tables = rd64(bar, TABLE_OFFSET);
	CHECK(gencap != 0 && tables != 0);

	/* mprotect works and the registers still answer, whatever it asked. */
	CHECK(mprotect((void *)bar, 0x3000, PROT_READ) == 0);
	CHECK(rd64(bar, GENCAP) == gencap);
	CHECK(mprotect((void *)bar, 0x3000, PROT_READ | PROT_WRITE) == 0);
	CHECK(rd64(bar, TABLE_OFFSET) == tables);

	/* mremap: growing is EFAULT, as is a range not inside the BAR's mapping. */
	CHECK(mremap((void *)bar, 0x3000, 0x4000, MREMAP_MAYMOVE) == MAP_FAILED && errno == EFAULT);
	CHECK(mremap((void *)bar, 0x3000, 0x4000, 0) == MAP_FAILED && errno == EFAULT);
	CHECK(rd64(bar, GENCAP) == gencap);

	/* Moving it: the new address reaches the same registers, the old one is the program's
	 * own fault. */
	void *to = mmap(NULL, 0x3000, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(to != MAP_FAILED);
	volatile uint8_t *moved = mremap((void *)bar, 0x3000, 0x3000, MREMAP_MAYMOVE | MREMAP_FIXED, to);
	CHECK(moved == to);
	CHECK(rd64(moved, GENCAP) == gencap && rd64(moved, TABLE_OFFSET) == tables);
	CHECK(own_fault((volatile uint64_t *)(bar + GENCAP)));

	/* Shrinking it: the tail is gone, the head still answers. */
	CHECK(mremap((void *)moved, 0x3000, 0x1000, 0) == moved);
	CHECK(rd64(moved, GENCAP) == gencap);
	CHECK(own_fault((volatile uint64_t *)(moved + 0x1000)));

	/* A second mapping whose middle page is unmapped: both ends still answer. */
	volatile uint8_t *two = mmap(NULL, 0x3000, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r0.offset);
	CHECK(two != MAP_FAILED);
	CHECK(munmap((void *)(two + 0x1000), 0x1000) == 0);
	CHECK(rd64(two, GENCAP) == gencap);
	CHECK(own_fault((volatile uint64_t *)(two + 0x1000)));
	uint64_t at2 = rd64(two, 0x2000);
	volatile uint8_t *fresh = mmap(NULL, 0x3000, PROT_READ, MAP_SHARED, dev, r0.offset);
	CHECK(fresh != MAP_FAILED && rd64(fresh, 0x2000) == at2);
	/* mprotect over the hole is ENOMEM, as over any unmapped page; over the tail alone it
	 * works and the tail still answers. */
	CHECK(mprotect((void *)(two + 0x1000), 0x2000, PROT_READ) == -1 && errno == ENOMEM);
	CHECK(mprotect((void *)(two + 0x2000), 0x1000, PROT_READ) == 0);
	CHECK(rd64(two, 0x2000) == at2);

	CHECK(munmap((void *)moved, 0x1000) == 0 && munmap((void *)two, 0x3000) == 0);
	CHECK(munmap((void *)fresh, 0x3000) == 0);
	close(dev);
	close(group);
	close(container);
	puts("ok");
	return 0;
}
