/* netload tcp BYTES PORT | udp COUNT PORT connected|unconnected
 * Non-DNS socket traffic on loopback for the dnswatch benchmark: a TCP bulk
 * transfer (64 KiB writes to a forked reader), or a UDP flood (100-byte
 * datagrams, each received before the next is sent, send/recv on a connected
 * socket or sendto/recvfrom on unconnected ones). Prints seconds taken. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	long n = atol(argv[2]);
	int port = atoi(argv[3]);
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	static char buf[65536];
	double t0;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (!strcmp(argv[1], "tcp")) {
		int l = socket(AF_INET, SOCK_STREAM, 0), one = 1, c;
		pid_t child;

		setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (bind(l, (void *)&a, sizeof(a)) || listen(l, 1)) {
			perror("bind");
			return 1;
		}
		child = fork();
		if (child == 0) {
			int s = accept(l, NULL, NULL);

			while (read(s, buf, sizeof(buf)) > 0)
				;
			_exit(0);
		}
		c = socket(AF_INET, SOCK_STREAM, 0);
		connect(c, (void *)&a, sizeof(a));
		t0 = now();
		for (long done = 0; done < n;) {
			ssize_t w = write(c, buf, n - done < (long)sizeof(buf) ? n - done : (long)sizeof(buf));

			if (w <= 0) {
				perror("write");
				return 1;
			}
			done += w;
		}
		close(c);
		waitpid(child, NULL, 0);
	} else {
		int rx = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
		int connected = argc > 4 && !strcmp(argv[4], "connected");
		struct sockaddr_in from;
		socklen_t flen;

		if (bind(rx, (void *)&a, sizeof(a))) {
			perror("bind");
			return 1;
		}
		if (connected)
			connect(tx, (void *)&a, sizeof(a));
		t0 = now();
		for (long i = 0; i < n; i++) {
			if (connected) {
				send(tx, buf, 100, 0);
				recv(rx, buf, sizeof(buf), 0);
			} else {
				sendto(tx, buf, 100, 0, (void *)&a, sizeof(a));
				flen = sizeof(from);
				recvfrom(rx, buf, sizeof(buf), 0, (void *)&from, &flen);
			}
		}
	}
	printf("%.6f\n", now() - t0);
	return 0;
}
