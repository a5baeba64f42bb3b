/* A fault queue inherited across a fork (mock IOMMU): `fork_fault`.
 *
 * The parent links a fault queue to a mock device's HWPT and has the device send a page
 * request (group 1), then forks. The queue's descriptor is one file in both processes, as
 * the kernel's is: the child reads the parent's record from it and answers it. The child's
 * copy of the device faulting (group 2) is not the queue's: nothing of it reaches the
 * shared file. The parent, after the child ends, finds nothing waiting, and its own next
 * page request (group 3) is delivered and answered as before.
 * Prints "ok" and exits 0 when every check holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/iommufd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%d line %d: %s (errno %d: %s)\n", \
    (int)getpid(), __LINE__, #c, errno, strerror(errno)); _exit(1); } } while (0)

#define IOMMU_TEST_CMD _IO(IOMMUFD_TYPE, IOMMUFD_CMD_BASE + 32)
#define TEST_OP_MOCK_DOMAIN 2
#define TEST_OP_MOCK_DOMAIN_REPLACE 10
#define TEST_OP_TRIGGER_IOPF 15
#define HWPT_DATA_SELFTEST 0xdead
#define IOTLB_DEFAULT 0xbadbeef
struct test_cmd {
	uint32_t size, op, id, reserved;
	union {
		struct { uint32_t out_stdev_id, out_hwpt_id, out_idev_id; } mock_domain;
		struct { uint32_t pt_id; } replace;
		struct { uint32_t dev_id, pasid, grpid, perm; uint64_t addr; } iopf;
		uint8_t raw[48];
	};
	uint32_t last, pad;
};

static void test_cmd(int fd, struct test_cmd *c)
{
	c->size = sizeof(*c);
	CHECK(ioctl(fd, IOMMU_TEST_CMD, c) == 0);
}

static void trigger(int fd, uint32_t dev, uint32_t grp, uint64_t addr)
{
	struct test_cmd c = { .op = TEST_OP_TRIGGER_IOPF };
	c.iopf.dev_id = dev;
	c.iopf.grpid = grp;
	c.iopf.perm = 3;
	c.iopf.addr = addr;
	test_cmd(fd, &c);
}

/* Waits up to `ms` for a record; reads it, checks it is group `grp`, answers it. */
static void answer(int qfd, uint32_t grp, int ms)
{
	struct pollfd p = { .fd = qfd, .events = POLLIN };
	CHECK(poll(&p, 1, ms) == 1);
	struct iommu_hwpt_pgfault f;
	CHECK(read(qfd, &f, sizeof(f)) == sizeof(f));
	CHECK(f.grpid == grp);
	struct iommu_hwpt_page_response r = { .cookie = f.cookie, .code = 0 };
	CHECK(write(qfd, &r, sizeof(r)) == sizeof(r));
}

/* Nothing is waiting on the queue, for `ms` milliseconds. */
static void nothing(int qfd, int ms)
{
	struct pollfd p = { .fd = qfd, .events = POLLIN };
	CHECK(poll(&p, 1, ms) == 0);
}

int main(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0);
	struct iommu_ioas_alloc ioas = { .size = sizeof(ioas) };
	CHECK(ioctl(fd, IOMMU_IOAS_ALLOC, &ioas) == 0);
	struct test_cmd md = { .op = TEST_OP_MOCK_DOMAIN, .id = ioas.out_ioas_id };
	test_cmd(fd, &md);
	uint32_t dev = md.mock_domain.out_idev_id;
	struct iommu_hwpt_alloc parent = {
		.size = sizeof(parent), .flags = IOMMU_HWPT_ALLOC_NEST_PARENT,
		.dev_id = dev, .pt_id = ioas.out_ioas_id,
	};
	CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &parent) == 0);
	struct iommu_fault_alloc fa = { .size = sizeof(fa) };
	CHECK(ioctl(fd, IOMMU_FAULT_QUEUE_ALLOC, &fa) == 0);
	int qfd = fa.out_fault_fd;
	uint32_t data = IOTLB_DEFAULT;
	struct iommu_hwpt_alloc nested = {
		.size = sizeof(nested), .flags = IOMMU_HWPT_FAULT_ID_VALID, .dev_id = dev,
		.pt_id = parent.out_hwpt_id, .data_type = HWPT_DATA_SELFTEST,
		.data_len = sizeof(data), .data_uptr = (uintptr_t)&data, .fault_id = fa.out_fault_id,
	};
	CHECK(ioctl(fd, IOMMU_HWPT_ALLOC, &nested) == 0);
	struct test_cmd rep = { .op = TEST_OP_MOCK_DOMAIN_REPLACE, .id = md.mock_domain.out_stdev_id };
	rep.replace.pt_id = nested.out_hwpt_id;
	test_cmd(fd, &rep);

	trigger(fd, dev, 1, 0x1000);
	pid_t pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* The shared file: the parent's record is here, and the answer reaches it. */
		answer(qfd, 1, 5000);
		/* The child's copy of the device: refused, never on the shared file. */
		trigger(fd, dev, 2, 0x2000);
		nothing(qfd, 200);
		_exit(0);
	}
	int st;
	CHECK(waitpid(pid, &st, 0) == pid);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	nothing(qfd, 200);
	trigger(fd, dev, 3, 0x3000);
	answer(qfd, 3, 5000);
	nothing(qfd, 0);
	close(qfd);
	close(fd);
	printf("ok\n");
	return 0;
}
