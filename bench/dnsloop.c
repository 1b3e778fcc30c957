/* dnsloop N PORT [GAP_US]: N DNS questions over UDP on loopback, one at a
 * time, to a responder this program forks on 127.0.0.1:PORT (it answers each
 * with one A record); the dnswatch benchmark's workload. With GAP_US, a pause
 * between questions (a paced client). Prints the mean microseconds from send
 * to answer received, pauses excluded. */
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const unsigned char question[] = {
	0, 0, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0,                    /* id, RD, 1 question */
	5, 'b', 'e', 'n', 'c', 'h', 7, 'e', 'x', 'a', 'm', 'p', 'l', 'e', 4, 't', 'e', 's', 't', 0,
	0, 1, 0, 1,                                                   /* A, IN */
};
static const unsigned char answer_rr[] = {
	0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1,    /* A 192.0.2.1, TTL 60 */
};

static void serve(int s)
{
	unsigned char buf[512];
	struct sockaddr_in peer;
	socklen_t plen;

	for (;;) {
		plen = sizeof(peer);
		ssize_t n = recvfrom(s, buf, sizeof(buf) - sizeof(answer_rr), 0, (void *)&peer, &plen);
		if (n < 12)
			continue;
		buf[2] |= 0x80;  /* QR */
		buf[3] = 0x80;   /* RA, NOERROR */
		buf[7] = 1;      /* 1 answer */
		memcpy(buf + n, answer_rr, sizeof(answer_rr));
		sendto(s, buf, n + sizeof(answer_rr), 0, (void *)&peer, plen);
	}
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000;
	int port = argc > 2 ? atoi(argv[2]) : 15353;
	long gap_us = argc > 3 ? atol(argv[3]) : 0;
	double busy = 0;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	unsigned char q[sizeof(question)], r[512];
	struct timespec t0, t1;
	int srv, c;
	pid_t child;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	srv = socket(AF_INET, SOCK_DGRAM, 0);
	if (bind(srv, (void *)&a, sizeof(a))) {
		perror("bind");
		return 1;
	}
	child = fork();
	if (child == 0)
		serve(srv);
	close(srv);
	c = socket(AF_INET, SOCK_DGRAM, 0);
	connect(c, (void *)&a, sizeof(a));
	memcpy(q, question, sizeof(q));
	for (long i = 0; i < n; i++) {
		q[0] = i >> 8;
		q[1] = i;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		if (send(c, q, sizeof(q), 0) < 0 || recv(c, r, sizeof(r), 0) < 12) {
			perror("dnsloop");
			kill(child, SIGKILL);
			return 1;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		busy += (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
		if (gap_us)
			usleep(gap_us);
	}
	kill(child, SIGKILL);
	waitpid(child, NULL, 0);
	printf("%.3f\n", busy / n / 1e3);
	return 0;
}
