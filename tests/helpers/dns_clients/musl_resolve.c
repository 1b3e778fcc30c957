/* getaddrinfo() of argv[1] through musl's stub resolver (built static with musl-gcc).
 *
 *   musl_resolve NAME [4|6]     family: AF_INET, AF_INET6, or AF_UNSPEC when absent
 *
 * Waits for a line on stdin first when MUSL_RESOLVE_GATE is set (so a test can start
 * its tracer on our pid). Prints one "ADDR" line per distinct address. Exit codes:
 * 0 found, 2 EAI_NONAME (NXDOMAIN / no data), 3 EAI_AGAIN (timeout, SERVFAIL), 1 other.
 */
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

int main(int argc, char **argv)
{
	struct addrinfo hints, *res, *ai;
	char buf[INET6_ADDRSTRLEN];
	int rc;

	if (argc < 2) {
		fprintf(stderr, "usage: %s NAME [4|6]\n", argv[0]);
		return 1;
	}
	if (getenv("MUSL_RESOLVE_GATE")) {
		char line[16];
		if (!fgets(line, sizeof(line), stdin))
			return 1;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	if (argc > 2 && !strcmp(argv[2], "4"))
		hints.ai_family = AF_INET;
	else if (argc > 2 && !strcmp(argv[2], "6"))
		hints.ai_family = AF_INET6;
	hints.ai_socktype = SOCK_STREAM;
	rc = getaddrinfo(argv[1], NULL, &hints, &res);
	if (rc) {
		fprintf(stderr, "getaddrinfo: %s\n", gai_strerror(rc));
		return rc == EAI_NONAME ? 2 : rc == EAI_AGAIN ? 3 : 1;
	}
	for (ai = res; ai; ai = ai->ai_next) {
		const void *a = ai->ai_family == AF_INET
			? (const void *)&((struct sockaddr_in *)ai->ai_addr)->sin_addr
			: (const void *)&((struct sockaddr_in6 *)ai->ai_addr)->sin6_addr;
		if (inet_ntop(ai->ai_family, a, buf, sizeof(buf)))
			printf("%s\n", buf);
	}
	freeaddrinfo(res);
	return 0;
}
