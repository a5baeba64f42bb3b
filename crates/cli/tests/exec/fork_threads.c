/* Forks while other threads are inside softiommu: `fork_threads` (VT-d, no devices).
 *
 * Three threads hammer a shared /dev/iommu descriptor (IOAS alloc, map, unmap, destroy) and
 * open and close descriptors of their own, while the main thread forks again and again.
 * Each child opens /dev/iommu, allocates an IOAS, maps and unmaps a buffer, does the same on
 * the descriptor it inherited, and exits; the parent checks every child's status.
 * Prints "ok" and exits 0 when every check holds; a child that hangs hangs the program. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <linux/iommufd.h>

#define CHECK(c) do { if (!(c)) { fprintf(stderr, "%d line %d: %s (errno %d: %s)\n", \
    (int)getpid(), __LINE__, #c, errno, strerror(errno)); _exit(1); } } while (0)

#define THREADS 3
#define FORKS 150
#define LEN (64 * 1024)

static volatile int stop;
static int shared_fd;

/* One round on `fd`: an IOAS, a buffer mapped and unmapped, the IOAS destroyed. */
static int round_on(int fd, void *buf)
{
	struct iommu_ioas_alloc a = { .size = sizeof(a) };
	if (ioctl(fd, IOMMU_IOAS_ALLOC, &a))
		return -1;
	struct iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = IOMMU_IOAS_MAP_READABLE | IOMMU_IOAS_MAP_WRITEABLE,
		.ioas_id = a.out_ioas_id,
		.user_va = (uintptr_t)buf,
		.length = LEN,
	};
	if (ioctl(fd, IOMMU_IOAS_MAP, &m))
		return -2;
	struct iommu_ioas_unmap u = {
		.size = sizeof(u), .ioas_id = a.out_ioas_id, .iova = m.iova, .length = LEN,
	};
	if (ioctl(fd, IOMMU_IOAS_UNMAP, &u) || u.length != LEN)
		return -3;
	struct iommu_destroy d = { .size = sizeof(d), .id = a.out_ioas_id };
	if (ioctl(fd, IOMMU_DESTROY, &d))
		return -4;
	return 0;
}

static void *buffer(void)
{
	void *b = mmap(NULL, LEN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	CHECK(b != MAP_FAILED);
	memset(b, 0x5a, LEN);
	return b;
}

static void *hammer(void *unused)
{
	(void)unused;
	void *buf = buffer();
	while (!stop) {
		CHECK(round_on(shared_fd, buf) == 0);
		int fd = open("/dev/iommu", O_RDWR);
		CHECK(fd >= 0);
		CHECK(round_on(fd, buf) == 0);
		CHECK(close(fd) == 0);
	}
	return NULL;
}

int main(void)
{
	shared_fd = open("/dev/iommu", O_RDWR);
	CHECK(shared_fd >= 0);
	pthread_t t[THREADS];
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_create(&t[i], NULL, hammer, NULL) == 0);
	for (int i = 0; i < FORKS; i++) {
		pid_t pid = fork();
		CHECK(pid >= 0);
		if (pid == 0) {
			void *buf = buffer();
			int fd = open("/dev/iommu", O_RDWR);
			CHECK(fd >= 0);
			int r = round_on(fd, buf);
			if (r)
				fprintf(stderr, "child: a fresh descriptor's round failed at step %d\n", -r);
			CHECK(r == 0);
			r = round_on(shared_fd, buf);
			if (r)
				fprintf(stderr, "child: the inherited descriptor's round failed at step %d\n", -r);
			CHECK(r == 0);
			CHECK(close(fd) == 0);
			_exit(0);
		}
		int st;
		CHECK(waitpid(pid, &st, 0) == pid);
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
	stop = 1;
	for (int i = 0; i < THREADS; i++)
		CHECK(pthread_join(t[i], NULL) == 0);
	printf("ok\n");
	return 0;
}
