/* openloop N PATH: N x (openat + close) of one path; the fileopen benchmark's workload. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;
	const char *path = argc > 2 ? argv[2] : "/tmp/bpfkit-bench-open";

	for (long i = 0; i < n; i++) {
		int fd = openat(AT_FDCWD, path, O_RDONLY);
		if (fd >= 0)
			close(fd);
	}
	return 0;
}
