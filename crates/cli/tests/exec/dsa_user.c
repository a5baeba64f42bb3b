/* A user-space driver of a DSA copy engine as one is written: libc, the system's own
 * <linux/vfio.h> and <linux/idxd.h> (the DSA specification's layouts where the latter is
 * absent), nothing else. Through a type1 container it maps its buffers for DMA, resets the
 * engine, configures a group and a dedicated work queue through the mapped BAR 0 with plain
 * loads and stores, enables them, routes MSI-X vector 1 to an eventfd, and submits a memory
 * move with MOVDIR64B to the mapped portal in BAR 2; then a move from an address it never
 * mapped, which must fault and touch nothing. Run under `softiommu exec` with one copy
 * engine at 0000:00:04.0; prints "ok" and exits 0 when every check holds. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <linux/pci_regs.h>
#if __has_include(<linux/idxd.h>)
#include <linux/idxd.h>
#else
/* The descriptor and completion record as the DSA specification lays them out. */
#define IDXD_OP_FLAG_CRAV 0x0004
#define IDXD_OP_FLAG_RCR 0x0008
#define IDXD_OP_FLAG_RCI 0x0010
#define DSA_OPCODE_MEMMOVE 3
#define DSA_COMP_SUCCESS 1
#define DSA_COMP_PAGE_FAULT_NOBOF 3
#define DSA_COMP_STATUS_MASK 0x7f
struct dsa_hw_desc {
	uint32_t pasid : 20, rsvd : 11, priv : 1;
	uint32_t flags : 24, opcode : 8;
	uint64_t completion_addr, src_addr, dst_addr;
	uint32_t xfer_size;
	uint16_t int_handle, rsvd1;
	uint8_t rest[24];
} __attribute__((packed));
struct dsa_completion_record {
	volatile uint8_t status;
	uint8_t result, rsvd[2];
	uint32_t bytes_completed;
	uint64_t fault_addr;
	uint8_t rest[16];
} __attribute__((packed));
#endif
#include <linux/vfio.h>

#define BDF "0000:00:04.0"

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s (errno %d: %s)\n", \
    __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)

/* The engine's registers in BAR 0 (DSA architecture specification, chapter 9). */
#define GENCAP 0x10
#define WQCAP 0x20
#define ENGCAP 0x38
#define TABLE_OFFSET 0x60
#define GENCTRL 0x88
#define GENSTS 0x90
#define CMD 0xa0
#define CMDSTS 0xa8
#define TABLE_MULT 0x100
#define CMD_ENABLE_DEVICE 1
#define CMD_RESET_DEVICE 5
#define CMD_ENABLE_WQ 6
#define WQCAP_DEDICATED (1ull << 49)
#define GENSTS_ENABLED 1

/* IOVAs of the buffers, and one nothing is mapped at. */
#define IOVA_SRC 0x100000ull
#define IOVA_DST 0x200000ull
#define IOVA_COMP 0x300000ull
#define IOVA_HOLE 0x40000000ull
#define LEN 4096

static uint8_t src[LEN] __attribute__((aligned(4096)));
static uint8_t dst[LEN] __attribute__((aligned(4096)));
static struct dsa_completion_record comp[4096 / sizeof(struct dsa_completion_record)]
	__attribute__((aligned(4096)));

static volatile uint8_t *bar0;

static uint32_t rd32(uint32_t off) { return *(volatile uint32_t *)(bar0 + off); }
static uint64_t rd64(uint32_t off) { return *(volatile uint64_t *)(bar0 + off); }
static void wr32(uint32_t off, uint32_t v) { *(volatile uint32_t *)(bar0 + off) = v; }
static void wr64(uint32_t off, uint64_t v) { *(volatile uint64_t *)(bar0 + off) = v; }

/* A command through CMD; its error code from CMDSTS once it is no longer active. */
static unsigned command(unsigned cmd, unsigned operand)
{
	wr32(CMD, cmd << 20 | operand);
	uint32_t sts;
	for (int i = 0; (sts = rd32(CMDSTS)) & (1u << 31); i++) {
		CHECK(i < 100000);
		usleep(10);
	}
	return sts & 0xff;
}

static void map_dma(int container, void *va, uint64_t iova, uint64_t size)
{
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)va, .iova = iova, .size = size,
	};
	CHECK(ioctl(container, VFIO_IOMMU_MAP_DMA, &map) == 0);
}

/* Region `index`'s info; whether its capability chain holds `cap`. */
static struct vfio_region_info region(int dev, unsigned index, unsigned cap, int *has)
{
	struct vfio_region_info r = { .argsz = sizeof(r), .index = index };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &r) == 0);
	*has = 0;
	if (!(r.flags & VFIO_REGION_INFO_FLAG_CAPS) || r.argsz <= sizeof(r))
		return r;
	uint32_t sz = r.argsz;
	struct vfio_region_info *full = calloc(1, sz);
	CHECK(full != NULL);
	full->argsz = sz;
	full->index = index;
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, full) == 0 && full->cap_offset >= sizeof(r));
	for (uint32_t at = full->cap_offset; at != 0;) {
		CHECK(at + sizeof(struct vfio_info_cap_header) <= sz);
		struct vfio_info_cap_header *h = (void *)((char *)full + at);
		*has |= h->id == cap;
		at = h->next;
	}
	free(full);
	return r;
}

static void config16(int dev, unsigned off, uint16_t set)
{
	uint64_t base = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40;
	uint16_t v;
	CHECK(pread(dev, &v, 2, base + off) == 2);
	v |= set;
	CHECK(pwrite(dev, &v, 2, base + off) == 2);
}

static void movdir64b(volatile void *portal, const void *desc)
{
	/* MOVDIR64B (%rdx), %rax, as bytes: the assembler need not know the instruction. */
	asm volatile(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02" : : "a"(portal), "d"(desc) : "memory");
}

/* The completion record's status once the engine wrote it (0: it never did). */
static uint8_t wait_record(volatile struct dsa_completion_record *r)
{
	for (int i = 0; i < 200000 && r->status == 0; i++)
		usleep(10);
	return r->status;
}

static sigjmp_buf caught;
static volatile int faults;

static void on_segv(int sig, siginfo_t *si, void *uc)
{
	(void)sig; (void)si; (void)uc;
	faults++;
	siglongjmp(caught, 1);
}

static volatile sig_atomic_t ills;

static void on_ill(int sig)
{
	(void)sig;
	ills++;
}

/* A load at `p` faults to the program's own handler. */
static int own_fault(volatile uint32_t *p)
{
	int before = faults;
	if (sigsetjmp(caught, 1) == 0)
		(void)*p;
	return faults == before + 1;
}

int main(void)
{
	char link[256];
	ssize_t n = readlink("/sys/bus/pci/devices/" BDF "/iommu_group", link, sizeof(link) - 1);
	CHECK(n > 0);
	link[n] = 0;
	char path[64];
	snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(link, '/') + 1);

	/* Container, group, type1, DMA mappings. */
	int container = open("/dev/vfio/vfio", O_RDWR);
	CHECK(container >= 0 && ioctl(container, VFIO_GET_API_VERSION) == VFIO_API_VERSION);
	int group = open(path, O_RDWR);
	CHECK(group >= 0);
	struct vfio_group_status gs = { .argsz = sizeof(gs) };
	CHECK(ioctl(group, VFIO_GROUP_GET_STATUS, &gs) == 0 && (gs.flags & VFIO_GROUP_FLAGS_VIABLE));
	CHECK(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0);
	CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0);
	map_dma(container, src, IOVA_SRC, LEN);
	map_dma(container, dst, IOVA_DST, LEN);
	map_dma(container, comp, IOVA_COMP, sizeof(comp));

	int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, BDF);
	CHECK(dev >= 0);
	struct vfio_device_info di = { .argsz = sizeof(di) };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_INFO, &di) == 0 && (di.flags & VFIO_DEVICE_FLAGS_PCI));
	CHECK(di.flags & VFIO_DEVICE_FLAGS_RESET);
	CHECK(ioctl(dev, VFIO_DEVICE_RESET) == 0);
	config16(dev, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);

	/* BAR 0 holds the registers and the MSI-X table: mappable, with the capability that
	 * says the table may be mapped too; BAR 2 holds the portals. */
	int msix_mappable, none;
	struct vfio_region_info r0 = region(dev, 0, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, &msix_mappable);
	struct vfio_region_info r2 = region(dev, 2, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, &none);
	CHECK((r0.flags & VFIO_REGION_INFO_FLAG_MMAP) && msix_mappable && r0.size >= 0x1000);
	CHECK((r2.flags & VFIO_REGION_INFO_FLAG_MMAP) && !none && r2.size >= 0x2000);
	/* What the kernel refuses: a private mapping, past the BAR, the config region. */
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, dev, r0.offset) == MAP_FAILED && errno == EINVAL);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, dev, r0.offset + r0.size) == MAP_FAILED &&
	      errno == EINVAL);
	CHECK(mmap(NULL, 4096, PROT_READ, MAP_SHARED, dev,
		   (off_t)VFIO_PCI_CONFIG_REGION_INDEX << 40) == MAP_FAILED && errno == EINVAL);
	bar0 = mmap(NULL, r0.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r0.offset);
	CHECK(bar0 != MAP_FAILED);

	/* The program's own fault handler, installed after the BAR is mapped, still gets the
	 * program's own faults. */
	struct sigaction sa = { .sa_sigaction = on_segv, .sa_flags = SA_SIGINFO };
	sigemptyset(&sa.sa_mask);
	CHECK(sigaction(SIGSEGV, &sa, NULL) == 0);
	struct sigaction back;
	CHECK(sigaction(SIGSEGV, NULL, &back) == 0 && back.sa_sigaction == on_segv);
	volatile uint32_t *guard = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(guard != MAP_FAILED && own_fault(guard));

	/* Reset, capabilities, one group with WQ 0 and every engine, WQ 0 dedicated. */
	CHECK(command(CMD_RESET_DEVICE, 0) == 0);
	uint64_t gencap = rd64(GENCAP), wqcap = rd64(WQCAP);
	CHECK((wqcap & WQCAP_DEDICATED) && (wqcap & 0xffff) >= 16 && ((wqcap >> 16) & 0xff) >= 1);
	unsigned max_xfer = (gencap >> 16) & 0x1f, max_batch = (gencap >> 21) & 0xf;
	CHECK(max_xfer >= 12);
	uint64_t tables = rd64(TABLE_OFFSET);
	uint32_t grpcfg = (tables & 0xffff) * TABLE_MULT, wqcfg = ((tables >> 16) & 0xffff) * TABLE_MULT;
	unsigned engines = rd64(ENGCAP) & 0xff;
	CHECK(engines >= 1);
	wr64(grpcfg, 1);                          /* WQs of group 0: WQ 0 */
	wr64(grpcfg + 32, (1ull << engines) - 1); /* engines of group 0: all */
	wr32(wqcfg + 0, 16);                      /* WQ size */
	wr32(wqcfg + 4, 8);                       /* threshold */
	wr32(wqcfg + 8, 1 | 10 << 4);             /* dedicated, priority 10 */
	wr32(wqcfg + 12, max_xfer | max_batch << 5);
	wr32(GENCTRL, 1);
	CHECK(command(CMD_ENABLE_DEVICE, 0) == 0);
	CHECK((rd32(GENSTS) & 3) == GENSTS_ENABLED);
	CHECK(command(CMD_ENABLE_WQ, 0) == 0);

	/* MSI-X vectors 0 and 1 signal eventfds. */
	struct vfio_irq_info irq = { .argsz = sizeof(irq), .index = VFIO_PCI_MSIX_IRQ_INDEX };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_IRQ_INFO, &irq) == 0 && irq.count >= 2);
	int efd[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	CHECK(efd[0] >= 0 && efd[1] >= 0);
	char irqbuf[sizeof(struct vfio_irq_set) + sizeof(efd)];
	struct vfio_irq_set *set = (void *)irqbuf;
	*set = (struct vfio_irq_set){
		.argsz = sizeof(irqbuf), .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 2,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	memcpy(set->data, efd, sizeof(efd));
	CHECK(ioctl(dev, VFIO_DEVICE_SET_IRQS, set) == 0);

	/* Two pages of portals; the second is unmapped again and is then the program's own
	 * fault, while the first still takes descriptors. */
	volatile uint8_t *portal = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r2.offset);
	CHECK(portal != MAP_FAILED);
	CHECK(munmap((void *)(portal + 0x1000), 0x1000) == 0);
	CHECK(own_fault((volatile uint32_t *)(portal + 0x1000)));

	/* The program's own SIGILL handler gets its own SIGILL, not the trapped MOVDIR64B. */
	CHECK(signal(SIGILL, on_ill) == SIG_DFL);
	CHECK(raise(SIGILL) == 0 && ills == 1);

	/* The move, with a completion record and an interrupt on vector 1. */
	for (int i = 0; i < LEN; i++)
		src[i] = (uint8_t)(i * 7 + 3);
	memset(dst, 0, LEN);
	memset(comp, 0, sizeof(comp));
	struct dsa_hw_desc d = {
		.opcode = DSA_OPCODE_MEMMOVE,
		.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR | IDXD_OP_FLAG_RCI,
		.src_addr = IOVA_SRC, .dst_addr = IOVA_DST, .xfer_size = LEN,
		.completion_addr = IOVA_COMP, .int_handle = 1,
	};
	movdir64b(portal, &d);
	CHECK(wait_record(&comp[0]) == DSA_COMP_SUCCESS);
	CHECK(comp[0].bytes_completed == 0 || comp[0].bytes_completed == LEN);
	struct pollfd pfd = { .fd = efd[1], .events = POLLIN };
	CHECK(poll(&pfd, 1, 5000) == 1);
	uint64_t count = 0;
	CHECK(read(efd[1], &count, 8) == 8 && count == 1);
	CHECK(memcmp(src, dst, LEN) == 0);
	CHECK(ills == 1 && signal(SIGILL, SIG_DFL) == on_ill);

	/* A move from an address nothing is mapped at: a page fault in the record, naming the
	 * address, and the destination untouched. */
	memset(dst, 0, LEN);
	memset(comp, 0, sizeof(comp));
	d.src_addr = IOVA_HOLE;
	d.flags = IDXD_OP_FLAG_CRAV | IDXD_OP_FLAG_RCR;
	movdir64b(portal, &d);
	CHECK((wait_record(&comp[0]) & DSA_COMP_STATUS_MASK) == DSA_COMP_PAGE_FAULT_NOBOF);
	CHECK(comp[0].fault_addr == IOVA_HOLE);
	for (int i = 0; i < LEN; i++)
		CHECK(dst[i] == 0);

	CHECK(munmap((void *)portal, 0x1000) == 0 && munmap((void *)bar0, r0.size) == 0);
	close(efd[0]);
	close(efd[1]);
	close(dev);
	close(group);
	close(container);
	puts("ok");
	return 0;
}
