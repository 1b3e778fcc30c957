/* ports_usdt.c: fires USDT probe bpfkit:tick(int seq, long long value,
 * const char *msg) N times once a line arrives on stdin. Needs <sys/sdt.h>
 * (Debian/Ubuntu: systemtap-sdt-dev). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/sdt.h>

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5;
	char line[16], msg[32];

	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 1; i <= n; i++) {
		long long value = -1000000007LL * i;   /* negative and wider than 32 bits */

		snprintf(msg, sizeof(msg), "tick-%d", i);
		DTRACE_PROBE3(bpfkit, tick, i, value, msg);
	}
	return 0;
}
