/* ports_workload.c: what tests/test_ports.py profiles, counts and iterates.
 *
 *   ports_workload spin SECONDS        thread "spinner" loops in hot_function(),
 *                                      thread "syscaller" in getppid() calls
 *   ports_workload getppid B N US      after a line on stdin: B bursts of N
 *                                      getppid() calls, US microseconds apart
 *
 * Built by the test with gcc -g -O1 -fno-omit-frame-pointer (user stacks are
 * walked by frame pointers). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double seconds;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

__attribute__((noinline)) void hot_function(void)
{
	volatile unsigned long x = 0;

	for (int i = 0; i < 1000000; i++)
		x += i;
}

__attribute__((noinline)) void *syscall_loop(void *arg)
{
	double end = now() + seconds;

	prctl(PR_SET_NAME, "syscaller");
	while (now() < end)
		for (int i = 0; i < 1000; i++)
			syscall(SYS_getppid);
	return arg;
}

static int spin(void)
{
	pthread_t t;
	double end = now() + seconds;

	prctl(PR_SET_NAME, "spinner");
	if (pthread_create(&t, NULL, syscall_loop, NULL))
		return 1;
	printf("ready\n");
	fflush(stdout);
	while (now() < end)
		hot_function();
	pthread_join(t, NULL);
	return 0;
}

int main(int argc, char **argv)
{
	char line[16];

	if (argc == 3 && !strcmp(argv[1], "spin")) {
		seconds = atof(argv[2]);
		return spin();
	}
	if (argc == 5 && !strcmp(argv[1], "getppid")) {
		long bursts = atol(argv[2]), per = atol(argv[3]), pause_us = atol(argv[4]);

		if (!fgets(line, sizeof(line), stdin))
			return 1;
		for (long b = 0; b < bursts; b++) {
			for (long i = 0; i < per; i++)
				syscall(SYS_getppid);
			usleep(pause_us);
		}
		return 0;
	}
	fprintf(stderr, "usage: %s spin SECONDS | getppid BURSTS N PAUSE_US\n", argv[0]);
	return 2;
}
