/*
 * timeit - run a command, print its wall time from CLOCK_MONOTONIC.
 *
 *   timeit OUTFILE CMD [ARG...]
 *
 * Writes "seconds=S" to OUTFILE (so the command keeps stdout and stderr)
 * and exits with the command's status (125 when it could not be run).
 * Also "timeit now" prints the monotonic clock, for bounded polling in
 * the shell.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	double t0, t1;
	pid_t pid;
	FILE *out;
	int st;

	if (argc == 2 && strcmp(argv[1], "now") == 0) {
		printf("%.6f\n", now());
		return 0;
	}
	if (argc < 3) {
		fprintf(stderr, "usage: timeit OUTFILE CMD [ARG...] | timeit now\n");
		return 125;
	}
	t0 = now();
	pid = fork();
	if (pid < 0) {
		perror("timeit: fork");
		return 125;
	}
	if (pid == 0) {
		execvp(argv[2], argv + 2);
		fprintf(stderr, "timeit: %s: %s\n", argv[2], strerror(errno));
		_exit(125);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR) {
			perror("timeit: waitpid");
			return 125;
		}
	t1 = now();
	out = fopen(argv[1], "w");
	if (out == NULL) {
		perror("timeit: OUTFILE");
		return 125;
	}
	fprintf(out, "seconds=%.6f\n", t1 - t0);
	fclose(out);
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}
