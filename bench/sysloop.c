/* sysloop N: N getppid() calls, which no bpfkit tracer traces but which an
 * enabled syscall tracepoint slows down (it puts every syscall of the
 * machine on the kernel's slow path): the floor a tracer's hooks cost. */
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 1000000;

	for (long i = 0; i < n; i++)
		syscall(SYS_getppid);
	return 0;
}
