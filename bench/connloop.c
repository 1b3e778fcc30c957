/* connloop N PORT: N loopback TCP connections (connect, send 100 bytes, wait
 * for the server to close, close) to a server process it forks (accept, read
 * 100 bytes, close); the tcptrack benchmark's workload. The server closes
 * first so that TIME_WAIT sockets do not pile up on the client's ephemeral
 * ports, which would slow every later connect() and skew the comparison. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 20000;
	int port = argc > 2 ? atoi(argv[2]) : 47000, one = 1;
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
	char buf[4096] = {0};
	int srv = socket(AF_INET, SOCK_STREAM, 0);
	pid_t child;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (bind(srv, (struct sockaddr *)&a, sizeof(a)) || listen(srv, 1024)) {
		perror("bind/listen");
		return 1;
	}
	child = fork();
	if (child == 0) {
		for (long i = 0; i < n; i++) {
			int c = accept(srv, NULL, NULL), got = 0, r;

			while (got < 100 && (r = read(c, buf, sizeof(buf))) > 0)
				got += r;
			close(c);
		}
		_exit(0);
	}
	close(srv);
	for (long i = 0; i < n; i++) {
		int c = socket(AF_INET, SOCK_STREAM, 0);

		if (connect(c, (struct sockaddr *)&a, sizeof(a))) {
			perror("connect");
			return 1;
		}
		if (write(c, buf, 100) != 100)
			return 1;
		while (read(c, buf, sizeof(buf)) > 0)
			;
		close(c);
	}
	waitpid(child, NULL, 0);
	return 0;
}
