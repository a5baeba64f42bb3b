/* Waiting on softiommu's descriptors as a program does: poll, ppoll and epoll on an iommufd
 * fault queue, select and pselect on a VFIO device's MSI-X eventfd.
 *
 * `poll_fds fault` (under `--iommu mock`): a mock device on a nested HWPT with a fault
 * queue (the kernel's test channel, IOMMU_TEST_CMD), whose page requests are waited for
 * with poll, ppoll and epoll, read and answered.
 * `poll_fds msix` (under VT-d with a copy engine at 0000:00:04.0): MSI-X vector 0 on an
 * eventfd, fired by VFIO's loopback trigger, waited for with select and pselect.
 * Prints "ok" and exits 0 when every check holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>
#include <linux/iommufd.h>
#include <linux/vfio.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s (errno %d: %s)\n", \
    __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)

/* The kernel's test channel (drivers/iommu/iommufd/iommufd_test.h), which the system
 * headers do not carry: the header, a 48-byte union, `last`. */
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

/* A page request of `dev` at `addr` (group `grp`). */
static void trigger(int fd, uint32_t dev, uint32_t grp, uint64_t addr)
{
	struct test_cmd c = { .op = TEST_OP_TRIGGER_IOPF };
	c.iopf.dev_id = dev;
	c.iopf.grpid = grp;
	c.iopf.perm = 3;
	c.iopf.addr = addr;
	test_cmd(fd, &c);
}

/* Reads the one waiting record, checks it and answers it with success. */
static void answer(int qfd, uint32_t dev, uint32_t grp, uint64_t addr)
{
	struct iommu_hwpt_pgfault f;
	CHECK(read(qfd, &f, sizeof(f)) == sizeof(f));
	CHECK(f.dev_id == dev && f.grpid == grp && f.addr == (addr & ~0xfffull));
	struct iommu_hwpt_page_response r = { .cookie = f.cookie, .code = 0 };
	CHECK(write(qfd, &r, sizeof(r)) == sizeof(r));
}

static int fault_queue(void)
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

	/* Nothing waiting: poll times out, the queue is not readable. */
	struct pollfd p = { .fd = qfd, .events = POLLIN };
	CHECK(poll(&p, 1, 0) == 0);

	/* poll. */
	trigger(fd, dev, 1, 0x1000);
	CHECK(poll(&p, 1, 5000) == 1 && (p.revents & POLLIN));
	answer(qfd, dev, 1, 0x1000);
	CHECK(poll(&p, 1, 0) == 0);

	/* ppoll with a signal mask. */
	sigset_t mask;
	sigemptyset(&mask);
	struct timespec ts = { .tv_sec = 5 };
	trigger(fd, dev, 2, 0x2000);
	CHECK(ppoll(&p, 1, &ts, &mask) == 1 && (p.revents & POLLIN));
	answer(qfd, dev, 2, 0x2000);

	/* epoll, edge-triggered. */
	int ep = epoll_create1(EPOLL_CLOEXEC);
	CHECK(ep >= 0);
	struct epoll_event ev = { .events = EPOLLIN | EPOLLET, .data.u32 = 77 };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, qfd, &ev) == 0);
	struct epoll_event got[2];
	CHECK(epoll_wait(ep, got, 2, 0) == 0);
	trigger(fd, dev, 3, 0x3000);
	CHECK(epoll_wait(ep, got, 2, 5000) == 1 && got[0].data.u32 == 77 &&
	      (got[0].events & EPOLLIN));
	answer(qfd, dev, 3, 0x3000);
	CHECK(epoll_wait(ep, got, 2, 0) == 0);
	/* The iommufd descriptor itself is a file epoll refuses, as the kernel's is. */
	struct epoll_event ev2 = { .events = EPOLLIN };
	CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev2) == -1 && errno == EPERM);
	close(ep);
	struct iommu_destroy bad = { .size = sizeof(bad), .id = 9999 };
	CHECK(ioctl(fd, IOMMU_DESTROY, &bad) == -1 && errno == ENOENT);
	close(qfd);
	close(fd);
	return 0;
}

static int msix(void)
{
	int container = open("/dev/vfio/vfio", O_RDWR);
	CHECK(container >= 0);
	int group = open("/dev/vfio/0", O_RDWR);
	CHECK(group >= 0);
	CHECK(ioctl(group, VFIO_GROUP_SET_CONTAINER, &container) == 0);
	CHECK(ioctl(container, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) == 0);
	int dev = ioctl(group, VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0");
	CHECK(dev >= 0);

	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	CHECK(efd >= 0);
	char buf[sizeof(struct vfio_irq_set) + sizeof(int)];
	struct vfio_irq_set *set = (void *)buf;
	*set = (struct vfio_irq_set){
		.argsz = sizeof(buf), .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
	};
	memcpy(set->data, &efd, sizeof(efd));
	CHECK(ioctl(dev, VFIO_DEVICE_SET_IRQS, set) == 0);
	struct vfio_irq_set fire = {
		.argsz = sizeof(fire), .index = VFIO_PCI_MSIX_IRQ_INDEX, .start = 0, .count = 1,
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
	};

	/* select: nothing yet, then the vector. */
	fd_set rd;
	FD_ZERO(&rd);
	FD_SET(efd, &rd);
	struct timeval tv = { 0, 0 };
	CHECK(select(efd + 1, &rd, NULL, NULL, &tv) == 0);
	CHECK(ioctl(dev, VFIO_DEVICE_SET_IRQS, &fire) == 0);
	FD_ZERO(&rd);
	FD_SET(efd, &rd);
	tv.tv_sec = 5;
	CHECK(select(efd + 1, &rd, NULL, NULL, &tv) == 1 && FD_ISSET(efd, &rd));
	uint64_t n = 0;
	CHECK(read(efd, &n, 8) == 8 && n == 1);

	/* pselect. */
	CHECK(ioctl(dev, VFIO_DEVICE_SET_IRQS, &fire) == 0);
	FD_ZERO(&rd);
	FD_SET(efd, &rd);
	struct timespec ts = { .tv_sec = 5 };
	sigset_t mask;
	sigemptyset(&mask);
	CHECK(pselect(efd + 1, &rd, NULL, NULL, &ts, &mask) == 1 && FD_ISSET(efd, &rd));
	CHECK(read(efd, &n, 8) == 8 && n == 1);
	close(efd);
	close(dev);
	close(group);
	close(container);
	return 0;
}

int main(int argc, char **argv)
{
	CHECK(argc == 2);
	if (strcmp(argv[1], "fault") == 0)
		fault_queue();
	else if (strcmp(argv[1], "msix") == 0)
		msix();
	else
		return 2;
	puts("ok");
	return 0;
}
