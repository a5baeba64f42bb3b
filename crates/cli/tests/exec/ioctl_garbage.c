/* Garbage through the real ioctl(2) on every kind of softiommu descriptor. Reads lines of
 * "KIND CMD BADPTR HEXBYTES" from standard input (KIND: 0 /dev/iommu, 1 /dev/vfio/vfio,
 * 2 the group, 3 the device file); prints "done" at the end. Any outcome of a call is fine:
 * what must not happen is a crash. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>
#include <linux/vfio.h>

static unsigned char arg[4096] __attribute__((aligned(4096)));

int main(void)
{
	int fds[4];
	fds[0] = open("/dev/iommu", O_RDWR);
	fds[1] = open("/dev/vfio/vfio", O_RDWR);
	fds[2] = open("/dev/vfio/0", O_RDWR);
	ioctl(fds[2], VFIO_GROUP_SET_CONTAINER, &fds[1]);
	ioctl(fds[1], VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU);
	fds[3] = ioctl(fds[2], VFIO_GROUP_GET_DEVICE_FD, "0000:00:04.0");
	for (int i = 0; i < 4; i++)
		if (fds[i] < 0) {
			fprintf(stderr, "descriptor %d: %m\n", i);
			return 2;
		}
	unsigned kind, badptr;
	unsigned long cmd;
	char hex[8200];
	while (scanf("%u %lx %u %8199s", &kind, &cmd, &badptr, hex) == 4) {
		memset(arg, 0, sizeof(arg));
		size_t n = strlen(hex) / 2;
		for (size_t i = 0; i < n && i < sizeof(arg); i++)
			sscanf(hex + 2 * i, "%2hhx", &arg[i]);
		void *p = badptr ? (void *)(uintptr_t)(0x10 + badptr) : (void *)arg;
		ioctl(fds[kind % 4], cmd, p);
	}
	puts("done");
	return 0;
}
