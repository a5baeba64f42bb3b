/* Processes under `softiommu exec`: fork, exec, and a test harness that forks per test.
 *
 * `fork_exec fork` (VT-d, a copy engine at 0000:00:04.0): the parent sets up a type1
 * container, the device, its BARs and a dedicated work queue, then forks; the child maps
 * buffers of its own for DMA and runs a memory move through the mapped portal; the parent
 * waits for it, then runs a move of its own.
 * `fork_exec exec`: opens /dev/iommu twice (once close-on-exec), then executes itself as
 * `fork_exec after-exec FD`, which finds the close-on-exec descriptor gone and a fresh
 * /dev/iommu working.
 * `fork_exec harness` (mock IOMMU): twenty tests, each in a child of its own as the
 * kernel's selftest harness runs them, each opening many descriptors, mapping memory into a
 * mock domain and checking it; the parent keeps a context of its own open across them.
 * `fork_exec queue` (mock IOMMU): a fault queue made before a fork is destroyed in the
 * child, which ends, and then in the parent.
 * Prints "ok" and exits 0 when every check holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%d line %d: %s (errno %d: %s)\n", \
    (int)getpid(), __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)

/* ---- The copy engine (DSA specification, chapter 9). ---- */
#define GENCAP 0x10
#define WQCAP 0x20
#define ENGCAP 0x38
#define TABLE_OFFSET 0x60
#define GENCTRL 0x88
#define CMD 0xa0
#define CMDSTS 0xa8
#define TABLE_MULT 0x100
#define CMD_ENABLE_DEVICE 1
#define CMD_RESET_DEVICE 5
#define CMD_ENABLE_WQ 6
#define OP_MEMMOVE 3
#define FLAG_CRAV 0x0004
#define FLAG_RCR 0x0008
#define COMP_SUCCESS 1

struct desc {
	uint32_t pasid : 20, rsvd : 11, priv : 1;
	uint32_t flags : 24, opcode : 8;
	uint64_t completion_addr, src_addr, dst_addr;
	uint32_t xfer_size;
	uint16_t int_handle, rsvd1;
	uint8_t rest[24];
} __attribute__((packed));

struct record {
	volatile uint8_t status;
	uint8_t result, rsvd[2];
	uint32_t bytes_completed;
	uint64_t fault_addr;
	uint8_t rest[16];
} __attribute__((packed));

static volatile uint8_t *bar0;
static volatile uint8_t *portal;
static int container;

static uint32_t rd32(uint32_t off) { return *(volatile uint32_t *)(bar0 + off); }
static uint64_t rd64(uint32_t off) { return *(volatile uint64_t *)(bar0 + off); }
static void wr32(uint32_t off, uint32_t v) { *(volatile uint32_t *)(bar0 + off) = v; }
static void wr64(uint32_t off, uint64_t v) { *(volatile uint64_t *)(bar0 + off) = v; }

static unsigned command(unsigned cmd)
{
	wr32(CMD, cmd << 20);
	uint32_t sts;
	for (int i = 0; (sts = rd32(CMDSTS)) & (1u << 31); i++) {
		CHECK(i < 100000);
		usleep(10);
	}
	return sts & 0xff;
}

static void *map_dma(uint64_t iova, size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(p != MAP_FAILED);
	memset(p, 0, len);
	struct vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m), .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)p, .iova = iova, .size = len,
	};
	CHECK(ioctl(container, VFIO_IOMMU_MAP_DMA, &m) == 0);
	return p;
}

/* A move of one page through buffers mapped at `iova`, `iova` + 4K and `iova` + 8K. */
static void move(uint64_t iova, uint8_t seed)
{
	uint8_t *src = map_dma(iova, 4096), *dst = map_dma(iova + 0x1000, 4096);
	struct record *rec = map_dma(iova + 0x2000, 4096);
	for (int i = 0; i < 4096; i++)
		src[i] = (uint8_t)(i * seed + 1);
	struct desc d = {
		.opcode = OP_MEMMOVE, .flags = FLAG_CRAV | FLAG_RCR, .src_addr = iova,
		.dst_addr = iova + 0x1000, .xfer_size = 4096, .completion_addr = iova + 0x2000,
	};
	asm volatile(".byte 0x66, 0x0f, 0x38, 0xf8, 0x02" : : "a"(portal), "d"(&d) : "memory");
	for (int i = 0; i < 200000 && rec->status == 0; i++)
		usleep(10);
	CHECK(rec->status == COMP_SUCCESS);
	CHECK(memcmp(src, dst, 4096) == 0);
}

static void fork_test(void)
{
	container = open("/dev/vfio/vfio", O_RDWR);
	CHECK(container >= 0);
	int group = open("/dev/vfio/0", O_RDWR);
	CHECK(group >= 0);
	CHECK(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0);
	CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0);
	int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0");
	CHECK(dev >= 0);
	struct vfio_region_info r0 = { .argsz = sizeof(r0), .index = 0 };
	struct vfio_region_info r2 = { .argsz = sizeof(r2), .index = 2 };
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &r0) == 0);
	CHECK(ioctl(dev, VFIO_DEVICE_GET_REGION_INFO, &r2) == 0);
	uint64_t cfg = (uint64_t)VFIO_PCI_CONFIG_REGION_INDEX << 40;
	uint16_t cmd;
	CHECK(pread(dev, &cmd, 2, cfg + 4) == 2);
	cmd |= 6; /* memory space, bus master */
	CHECK(pwrite(dev, &cmd, 2, cfg + 4) == 2);
	bar0 = mmap(NULL, r0.size, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r0.offset);
	portal = mmap(NULL, 0x1000, PROT_READ | PROT_WRITE, MAP_SHARED, dev, r2.offset);
	CHECK(bar0 != MAP_FAILED && portal != MAP_FAILED);

	CHECK(command(CMD_RESET_DEVICE) == 0);
	uint64_t gencap = rd64(GENCAP);
	CHECK(rd64(WQCAP) & (1ull << 49));
	uint64_t tables = rd64(TABLE_OFFSET);
	uint32_t grpcfg = (tables & 0xffff) * TABLE_MULT, wqcfg = ((tables >> 16) & 0xffff) * TABLE_MULT;
	unsigned engines = rd64(ENGCAP) & 0xff;
	wr64(grpcfg, 1);
	wr64(grpcfg + 32, (1ull << engines) - 1);
	wr32(wqcfg + 0, 16);
	wr32(wqcfg + 4, 8);
	wr32(wqcfg + 8, 1 | 10 << 4);
	wr32(wqcfg + 12, ((gencap >> 16) & 0x1f) | ((gencap >> 21) & 0xf) << 5);
	wr32(GENCTRL, 1);
	CHECK(command(CMD_ENABLE_DEVICE) == 0);
	CHECK(command(CMD_ENABLE_WQ) == 0);

	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		move(0x100000, 3);
		close(dev);
		close(group);
		close(container);
		_exit(0);
	}
	int st;
	CHECK(waitpid(child, &st, 0) == child && WIFEXITED(st) && WEXITSTATUS(st) == 0);
	/* The parent's own state is untouched by the child's. */
	move(0x400000, 5);
	close(dev);
	close(group);
	close(container);
}

static void exec_test(const char *self)
{
	int keep = open("/dev/iommu", O_RDWR);
	int gone = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHECK(keep >= 0 && gone >= 0);
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	CHECK(ioctl(gone, IOMMU_IOAS_ALLOC, &a) == 0);
	char arg[16];
	snprintf(arg, sizeof(arg), "%d", gone);
	execl(self, self, "after-exec", arg, (char *)NULL);
	CHECK(!"exec");
}

static void after_exec(const char *fd)
{
	/* The close-on-exec descriptor went with the old program. */
	CHECK(fcntl(atoi(fd), F_GETFD) == -1 && errno == EBADF);
	CHECK(getenv("LD_PRELOAD") != NULL);
	/* A fresh platform: a new context's first object is 1 again. */
	int fd2 = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	CHECK(fd2 >= 0);
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	CHECK(ioctl(fd2, IOMMU_IOAS_ALLOC, &a) == 0 && a.out_ioas_id == 1);
	close(fd2);
}

/* ---- The kernel's test channel (iommufd_test.h). ---- */
#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)
#define TEST_OP_MOCK_DOMAIN 2
#define TEST_OP_MD_CHECK_MAP 3
struct test_cmd {
	uint32_t size, op, id, reserved;
	union {
		struct { uint32_t out_stdev_id, out_hwpt_id, out_idev_id; } mock_domain;
		struct { uint64_t iova, length, uptr; } check_map;
		uint8_t raw[48];
	};
	uint32_t last, pad;
};

static void one_test(int n)
{
	int fds[16];
	for (int i = 0; i < 16; i++) {
		fds[i] = open("/dev/iommu", O_RDWR);
		CHECK(fds[i] >= 0);
	}
	int fd = fds[n % 16];
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &a) == 0);
	struct test_cmd md = { .size = sizeof(md), .op = TEST_OP_MOCK_DOMAIN, .id = a.out_ioas_id };
	CHECK(ioctl(fd, IOMMU_TEST_CMD, &md) == 0);
	size_t len = 16 * 4096;
	void *buf = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(buf != MAP_FAILED);
	memset(buf, n, len);
	struct iommu_ioas_map m = {
		.size = sizeof(m), .flags = IOMMU_IOAS_MAP_FIXED_IOVA | IOMMU_IOAS_MAP_READABLE |
		IOMMU_IOAS_MAP_WRITEABLE, .ioas_id = a.out_ioas_id, .user_va = (uintptr_t)buf,
		.length = len, .iova = 1ull << 24,
	};
	CHECK(ioctl(fd, IOMMU_IOAS_MAP, &m) == 0);
	struct test_cmd chk = { .size = sizeof(chk), .op = TEST_OP_MD_CHECK_MAP, .id = md.mock_domain.out_hwpt_id };
	chk.check_map.iova = 1ull << 24;
	chk.check_map.length = len;
	chk.check_map.uptr = (uintptr_t)buf;
	CHECK(ioctl(fd, IOMMU_TEST_CMD, &chk) == 0);
	for (int i = 0; i < 16; i++)
		close(fds[i]);
}

/* A fault queue made before the fork: the child closes its copy (whose service thread
 * stayed in the parent) and ends; the parent's queue still works. */
static void queue_test(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	CHECK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa) == 0);
	pid_t child = fork();
	CHECK(child >= 0);
	if (child == 0) {
		struct iommu_destroy d = { .size = sizeof(d), .id = fa.out_fault_id };
		CHECK(ioctl(fd, IOMMU_DESTROY, &d) == 0);
		close(fa.out_fault_fd);
		close(fd);
		_exit(0);
	}
	int st = 0;
	for (int i = 0; i < 500 && waitpid(child, &st, WNOHANG) == 0; i++)
		usleep(10000);
	if (waitpid(child, &st, WNOHANG) == 0) {
		kill(child, SIGKILL);
		CHECK(!"the child ended");
	}
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	struct iommu_destroy d = { .size = sizeof(d), .id = fa.out_fault_id };
	CHECK(ioctl(fd, IOMMU_DESTROY, &d) == 0);
	close(fa.out_fault_fd);
	close(fd);
}

static void harness(void)
{
	int mine = open("/dev/iommu", O_RDWR);
	CHECK(mine >= 0);
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	CHECK(ioctl(mine, IOMMU_IOAS_ALLOC, &a) == 0);
	for (int n = 0; n < 20; n++) {
		pid_t child = fork();
		CHECK(child >= 0);
		if (child == 0) {
			one_test(n);
			_exit(0);
		}
		int st;
		CHECK(waitpid(child, &st, 0) == child);
		if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
			fprintf(stderr, "test %d failed (status %#x)\n", n, st);
			exit(1);
		}
	}
	struct iommu_destroy d = { .size = sizeof(d), .id = a.out_ioas_id };
	CHECK(ioctl(mine, IOMMU_DESTROY, &d) == 0);
	close(mine);
}

int main(int argc, char **argv)
{
	CHECK(argc >= 2);
	if (strcmp(argv[1], "fork") == 0)
		fork_test();
	else if (strcmp(argv[1], "exec") == 0)
		exec_test(argv[0]);
	else if (strcmp(argv[1], "after-exec") == 0 && argc == 3)
		after_exec(argv[2]);
	else if (strcmp(argv[1], "queue") == 0)
		queue_test();
	else if (strcmp(argv[1], "harness") == 0)
		harness();
	else
		return 2;
	puts("ok");
	return 0;
}
