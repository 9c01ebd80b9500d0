/* SPDX-License-Identifier: MIT */
/*
 * pupa's side of the agent protocol (container/agent_link.c) against a
 * stand-in pupa-init on Unix sockets, without KVM: HELLO, START, the stdio
 * relay both ways (stdin from a pipe or a regular file, which epoll cannot
 * watch), STARTED, EXIT and its ACK; a signal before STARTED is
 * AGENT_RUN_INTERRUPTED.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "agent_link.h"
#include "agent_proto.h"
#include "proto_io.h"
#include "unit.h"

#define PORT 5000

static char tmpdir[64], uds[80];

struct fake_agent {
	int exit_code;
	int start_at_all;	/* 0: say HELLO, then never answer START */
	char got_stdin[256];
	pthread_t thread;
};

static int fake_connect(unsigned int port)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s_%u", uds, port);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		return -1;
	return fd;
}

static void fake_send(int fd, enum proto_type type, uint16_t tag, uint32_t v)
{
	static struct proto_writer w;

	proto_begin(&w, type);
	if (tag)
		proto_put_u32(&w, tag, v);
	ck_assert_int_eq(proto_send(fd, &w, 5000, NULL), 0);
}

static void write_all(int fd, const char *s)
{
	ck_assert_int_eq(write(fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* pupa-init, as far as the relay sees it. */
static void *fake_run(void *arg)
{
	struct fake_agent *f = arg;
	static struct proto_rbuf rb;
	static struct proto_msg m;
	int ctl = fake_connect(PORT), in, out, err;
	size_t got = 0;
	ssize_t n;

	ck_assert_int_ge(ctl, 0);
	fake_send(ctl, PROTO_HELLO, F_VERSION, AGENT_PROTO_VERSION);
	ck_assert_int_eq(proto_recv(ctl, &rb, &m, 5000, NULL), 0);
	ck_assert_int_eq(m.type, PROTO_START);
	if (!f->start_at_all) {
		pause();	/* until the process ends */
		return NULL;
	}
	in = fake_connect(PORT + 1);
	out = fake_connect(PORT + 2);
	err = fake_connect(PORT + 3);
	ck_assert(in >= 0 && out >= 0 && err >= 0);
	fake_send(ctl, PROTO_STARTED, 0, 0);
	write_all(out, "out:");
	write_all(err, "err\n");
	/* Echo the container's stdin to its stdout, to its end. */
	while ((n = read(in, f->got_stdin + got, sizeof(f->got_stdin) - 1 - got)) > 0)
		got += (size_t)n;
	write_all(out, f->got_stdin);
	close(in);
	close(out);
	close(err);
	fake_send(ctl, PROTO_EXIT, F_EXIT_CODE, (uint32_t)f->exit_code);
	ck_assert_int_eq(proto_recv(ctl, &rb, &m, 5000, NULL), 0);
	ck_assert_int_eq(m.type, PROTO_ACK);
	close(ctl);
	return NULL;
}

static char *slurp(const char *path)
{
	static char buf[4096];
	int fd = open(path, O_RDONLY);
	ssize_t n;

	ck_assert_int_ge(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	ck_assert_int_ge(n, 0);
	buf[n] = '\0';
	close(fd);
	return buf;
}

/* Run a command against the fake; stdin comes from stdin_path, stdout and
 * stderr go to files in tmpdir. */
static int run(struct fake_agent *f, const char *stdin_path, volatile sig_atomic_t *sig, int *code,
	       struct pupa_err *err)
{
	static char *argv[] = { "cat", NULL }, *env[] = { NULL };
	struct agent_command cmd = { .argv = argv, .env = env, .interactive = 1 };
	struct agent_hooks hooks = { .signal = sig };
	struct agent_link a;
	char path[128];
	int fd, ret;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test-agent.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(uds, sizeof(uds), "%s/v", tmpdir);
	ck_assert_int_eq(agent_link_listen(&a, uds, PORT, err), 0);
	ck_assert_int_eq(pthread_create(&f->thread, NULL, fake_run, f), 0);
	{	/* as pupa does: the connection pending first */
		struct pollfd p = { .fd = agent_link_hello_fd(&a), .events = POLLIN };

		ck_assert_int_eq(poll(&p, 1, 5000), 1);
	}
	ck_assert_msg(agent_link_hello(&a, err) == 0, "hello: %s", err->msg);
	fd = open(stdin_path, O_RDONLY);
	ck_assert_int_ge(fd, 0);
	dup2(fd, STDIN_FILENO);
	close(fd);
	snprintf(path, sizeof(path), "%s/stdout", tmpdir);
	dup2(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), STDOUT_FILENO);
	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	dup2(open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600), STDERR_FILENO);
	ret = agent_link_run(&a, &cmd, &hooks, code, err);
	agent_link_close(&a);
	return ret;
}

static void remove_tmpdir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	ck_assert_int_eq(system(cmd), 0);
}

static void relay_from(const char *stdin_path)
{
	struct fake_agent f = { .exit_code = 7, .start_at_all = 1 };
	struct pupa_err err = { 0 };
	volatile sig_atomic_t sig = 0;
	char path[128];
	int code = -1, ret = run(&f, stdin_path, &sig, &code, &err);

	pthread_join(f.thread, NULL);
	ck_assert_msg(ret == AGENT_RUN_EXITED, "result %d: %s", ret, err.msg);
	ck_assert_int_eq(code, 7);
	ck_assert_str_eq(f.got_stdin, "ping\npong\n");
	snprintf(path, sizeof(path), "%s/stdout", tmpdir);
	ck_assert_str_eq(slurp(path), "out:ping\npong\n");
	snprintf(path, sizeof(path), "%s/stderr", tmpdir);
	ck_assert_str_eq(slurp(path), "err\n");
	remove_tmpdir();
}

/* stdin a regular file: epoll refuses it, the relay reads it anyway. */
START_TEST(relay_with_stdin_a_file)
{
	char in[] = "/tmp/test-agent-in.XXXXXX";
	int fd = mkstemp(in);

	ck_assert_int_ge(fd, 0);
	write_all(fd, "ping\npong\n");
	close(fd);
	relay_from(in);
	unlink(in);
}
END_TEST

/* stdin a pipe: watched like any stream. */
START_TEST(relay_with_stdin_a_pipe)
{
	char dir[] = "/tmp/test-agent-fifo.XXXXXX", fifo[64];
	pid_t writer;

	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(fifo, sizeof(fifo), "%s/in", dir);
	ck_assert_int_eq(mkfifo(fifo, 0600), 0);
	writer = fork();
	if (writer == 0) {
		int fd = open(fifo, O_WRONLY);

		if (write(fd, "ping\n", 5) != 5)
			_exit(1);
		usleep(200000);	/* the second line later: a second chunk */
		_exit(write(fd, "pong\n", 5) == 5 ? 0 : 1);
	}
	relay_from(fifo);
	unlink(fifo);
	rmdir(dir);
}
END_TEST

static volatile sig_atomic_t *pending;

static void *interrupt_soon(void *arg)
{
	(void)arg;
	usleep(300000);
	*pending = SIGINT;
	return NULL;
}

/* A signal before STARTED: the outcome says so by its code. */
START_TEST(signal_before_started_is_interrupted)
{
	struct fake_agent f = { .start_at_all = 0 };
	struct pupa_err err = { 0 };
	volatile sig_atomic_t sig = 0;
	pthread_t t;
	int code = -1, ret;

	pending = &sig;
	ck_assert_int_eq(pthread_create(&t, NULL, interrupt_soon, NULL), 0);
	ret = run(&f, "/dev/null", &sig, &code, &err);
	pthread_join(t, NULL);
	ck_assert_int_eq(ret, AGENT_RUN_INTERRUPTED);
	ck_assert_int_eq(code, 128 + SIGINT);
	remove_tmpdir();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("agent-link");
	TCase *tc = tcase_create("core");

	signal(SIGPIPE, SIG_IGN);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, relay_with_stdin_a_file);
	tcase_add_test(tc, relay_with_stdin_a_pipe);
	tcase_add_test(tc, signal_before_started_is_interrupted);
	suite_add_tcase(s, tc);
	return unit_run(s);
}
