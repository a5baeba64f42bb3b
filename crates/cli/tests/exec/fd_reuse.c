/* Descriptors of /dev/iommu closed or replaced every way the C library offers, and their
 * numbers given out again: each call on a number reaches the file open on it now. Prints
 * "ok" and exits 0 when every check holds. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/iommufd.h>

#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "line %d: %s (errno %d: %s)\n", \
    __LINE__, #c, errno, strerror(errno)); exit(1); } } while (0)

/* IOMMU_IOAS_ALLOC on `fd`: the new IOAS's ID, or -errno. */
static long alloc(int fd)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a) != 0)
		return -errno;
	return a.out_ioas_id;
}

static int iommu(void)
{
	int fd = open("/dev/iommu", O_RDWR);
	CHECK(fd >= 0 && alloc(fd) > 0);
	return fd;
}

/* After `fd` was closed: the next descriptor made has its number, and is an eventfd. */
static void reused_by_eventfd(int fd)
{
	CHECK(alloc(fd) == -EBADF);
	int e = eventfd(0, 0);
	CHECK(e == fd && alloc(e) == -ENOTTY);
	CHECK(close(e) == 0);
}

int main(void)
{
	/* dup2 of a pipe over a context: the number is the pipe's. */
	int a = iommu(), p[2];
	CHECK(pipe(p) == 0 && dup2(p[0], a) == a && alloc(a) == -ENOTTY);
	CHECK(close(a) == 0 && close(p[0]) == 0 && close(p[1]) == 0);

	/* dup2 and dup3 of one context over another: both numbers name the first one, whose
	 * IOAS IDs go on counting. */
	int b = iommu(), c = iommu();
	CHECK(dup2(b, c) == c && alloc(c) == 2 && alloc(b) == 3);
	CHECK(dup3(c, b, O_CLOEXEC) == b && alloc(b) == 4);
	CHECK(close(c) == 0 && alloc(b) == 5 && close(b) == 0);

	/* close_range, closefrom, fclose of an fdopen'd stream: forgotten, and the number's
	 * next file is an ordinary one. */
	int d = iommu();
	CHECK(close_range(d, d, 0) == 0);
	reused_by_eventfd(d);
	int f = iommu();
	closefrom(f);
	reused_by_eventfd(f);
	int g = iommu();
	FILE *s = fdopen(g, "r+");
	CHECK(s != NULL && fclose(s) == 0);
	reused_by_eventfd(g);

	/* close_range that only marks close-on-exec closes nothing. */
	int h = iommu();
	CHECK(close_range(h, h, CLOSE_RANGE_CLOEXEC) == 0 && alloc(h) == 2);
	CHECK((fcntl(h, F_GETFD) & FD_CLOEXEC) != 0);

	/* A close by a raw system call, past the C library: when the number comes back from
	 * open, it is the new file's. */
	CHECK(syscall(SYS_close, h) == 0);
	int k = open("/dev/null", O_RDWR);
	CHECK(k == h && alloc(k) == -ENOTTY);
	CHECK(close(k) == 0);
	/* The same with memfd_create and socketpair giving the numbers out again. */
	int m = iommu(), n = iommu();
	CHECK(syscall(SYS_close, m) == 0 && syscall(SYS_close, n) == 0);
	int mf = memfd_create("plain", 0);
	CHECK(mf == m && alloc(mf) == -ENOTTY && close(mf) == 0);
	int sv[2];
	CHECK(socketpair(AF_UNIX, SOCK_STREAM, 0, sv) == 0 && sv[0] == m && sv[1] == n);
	CHECK(alloc(sv[0]) == -ENOTTY && alloc(sv[1]) == -ENOTTY);
	puts("ok");
	return 0;
}
