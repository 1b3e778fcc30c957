/* writeloop DIR N: create N files in DIR (open O_CREAT|O_WRONLY|O_TRUNC,
 * write 64 bytes, close); the fileaudit benchmark's workload. */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 100000;
	char path[4096], data[64] = {0};

	for (long i = 0; i < n; i++) {
		int fd;

		snprintf(path, sizeof(path), "%s/f%ld", argv[1], i);
		fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0644);
		if (fd < 0 || write(fd, data, sizeof(data)) != sizeof(data)) {
			perror(path);
			return 1;
		}
		close(fd);
	}
	return 0;
}
