/* histloop MODE N: the hist benchmark's workloads.
 *   getppid N    N x getppid(2): one syscall span each
 *   pingpong N   N round trips over two pipes between two processes: two
 *                wake-ups and two context switches each (run-queue spans) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 2 ? atol(argv[2]) : 1000000;

	if (argc > 1 && !strcmp(argv[1], "pingpong")) {
		int ab[2], ba[2];
		char c = 0;

		if (pipe(ab) || pipe(ba))
			return 1;
		pid_t pid = fork();
		if (pid == 0) {
			for (long i = 0; i < n; i++)
				if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1)
					_exit(1);
			_exit(0);
		}
		for (long i = 0; i < n; i++)
			if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1)
				return 1;
		waitpid(pid, NULL, 0);
		return 0;
	}
	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
