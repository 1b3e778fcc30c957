/* ioctlloop N [getppid]: N x ioctl(TCGETS) on a pseudo-terminal, the snapaudit benchmark's
 * workload (ioctl is hot on some hosts: every KVM_RUN, every terminal query); with "getppid",
 * N x getppid() instead (a syscall that is not an ioctl). Prints nothing. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	int master, slave;
	struct termios t;

	if (argc > 2 && !strcmp(argv[2], "getppid")) {
		for (long i = 0; i < n; i++)
			syscall(SYS_getppid);
		return 0;
	}
	master = posix_openpt(O_RDWR | O_NOCTTY);
	if (master < 0 || grantpt(master) || unlockpt(master)) {
		perror("posix_openpt");
		return 1;
	}
	slave = open(ptsname(master), O_RDWR | O_NOCTTY);
	if (slave < 0) {
		perror("open pts");
		return 1;
	}
	for (long i = 0; i < n; i++)
		if (ioctl(slave, TCGETS, &t)) {
			perror("TCGETS");
			return 1;
		}
	return 0;
}
