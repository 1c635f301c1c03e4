// The kernel's floor for a broadcast on this machine, with no .NET, no HTTP and no WebSocket framing:
// one 600-byte message sent to each of N loopback TCP connections by T sender threads (blocking
// send, TCP_NODELAY), received by one epoll thread in a child process; latency is the receipt
// minus the send stamp carried in the message, both CLOCK_MONOTONIC.
//
//   gcc -O2 -pthread -o /tmp/loopback-fanout ExecutionDistribution.Benchmarks/Floor/loopback-fanout.c
//   /tmp/loopback-fanout 1000 200 10000 1    # N connections, R events, microseconds between events, T threads
//
// 10,000 us between events over 1,000 connections is W4's 100,000 deliveries/s (broadcast).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { MessageBytes = 600 };

static int *connections;
static int count, threads;
static char message[MessageBytes];

static long long now_ns(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000000000LL + t.tv_nsec;
}

static int compare(const void *a, const void *b)
{
    long long x = *(const long long *)a, y = *(const long long *)b;
    return x < y ? -1 : x > y;
}

static void *send_share(void *arg)
{
    for (int i = (int)(long)arg; i < count; i += threads)
        send(connections[i], message, MessageBytes, 0);
    return 0;
}

static int receive(struct sockaddr_in *address, int events)
{
    int epoll = epoll_create1(0);
    for (int i = 0; i < count; i++) {
        int c = socket(AF_INET, SOCK_STREAM, 0);
        connect(c, (struct sockaddr *)address, sizeof *address);
        fcntl(c, F_SETFL, O_NONBLOCK);
        struct epoll_event e = { .events = EPOLLIN, .data.fd = c };
        epoll_ctl(epoll, EPOLL_CTL_ADD, c, &e);
    }

    long long *latency = malloc(sizeof(long long) * count * events);
    long got = 0;
    static char buffer[65536];
    struct epoll_event ready[256];
    while (got < (long)count * events) {
        int n = epoll_wait(epoll, ready, 256, 1000);
        for (int i = 0; i < n; i++) {
            int r = recv(ready[i].data.fd, buffer, sizeof buffer, 0);
            long long t = now_ns();
            for (int k = 0; k + MessageBytes <= r; k += MessageBytes) {
                long long sent;
                memcpy(&sent, buffer + k, sizeof sent);
                latency[got++] = t - sent;
            }
        }
    }

    qsort(latency, got, sizeof *latency, compare);
    printf("%d connections: receipt latency p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", count,
           latency[got / 2] / 1e6, latency[got * 9 / 10] / 1e6, latency[got * 99 / 100] / 1e6, latency[got - 1] / 1e6);
    return 0;
}

int main(int argc, char **argv)
{
    count = argc > 1 ? atoi(argv[1]) : 1000;
    int events = argc > 2 ? atoi(argv[2]) : 200;
    int gap_us = argc > 3 ? atoi(argv[3]) : 10000;
    threads = argc > 4 ? atoi(argv[4]) : 1;

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in address = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    bind(listener, (struct sockaddr *)&address, sizeof address);
    listen(listener, 4096);
    socklen_t length = sizeof address;
    getsockname(listener, (struct sockaddr *)&address, &length);
    if (fork() == 0)
        return receive(&address, events);

    connections = malloc(sizeof(int) * count);
    int one = 1;
    for (int i = 0; i < count; i++) {
        connections[i] = accept(listener, 0, 0);
        setsockopt(connections[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }

    usleep(200000);
    memset(message, 'x', MessageBytes);
    double total_ms = 0;
    for (int r = 0; r < events; r++) {
        long long t = now_ns();
        memcpy(message, &t, sizeof t);
        pthread_t sender[16];
        for (long j = 0; j < threads && j < 16; j++)
            pthread_create(&sender[j], 0, send_share, (void *)j);
        for (int j = 0; j < threads && j < 16; j++)
            pthread_join(sender[j], 0);
        total_ms += (now_ns() - t) / 1e6;
        usleep(gap_us);
    }

    printf("%d connections, %d sender thread(s): %.2f ms per fan-out (%.2f us per send)\n", count, threads,
           total_ms / events, total_ms / events * 1000 / count);
    wait(0);
    return 0;
}
