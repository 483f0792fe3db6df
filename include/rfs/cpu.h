/*
 * cpu.h - where background work and request workers run.
 *
 * Background work (the sweep, emptying the trash) shares the machine's
 * CPUs with the threads that answer the kernel's requests.  The kernels
 * this runs on are commonly built non-preemptible (PREEMPT_NONE): a thread
 * inside a system call keeps its CPU until the call returns, whatever its
 * priority, so a request worker woken on the CPU where the sweep is inside
 * a ~90 us unlink waits for it, and nice or SCHED_IDLE do not help.
 *
 * Background work runs at nice 10, so that on a preemptible kernel, or on
 * a return to user space, the workers go first (measured: a foreground
 * GETATTR's p99 during a sweep, 2.4 -> 1.8 ms; the rest of the way came
 * from the fair meta lock, see src/fs_impl.h, and rarer checkpoints).
 * And while it runs, its thread is confined to one CPU (the
 * highest one the process was allowed at start) and the request workers
 * to the others: they meet only in locks, never in the run queue.  A
 * worker moves when it next waits for a request (rfs_cpu_worker_wait);
 * every waiting worker is woken by the next request, so all have moved
 * within one request of the background work's start or end.  With a
 * single allowed CPU nothing moves: background work only lowers its
 * priority.  The CPUs are those the process had at start: an affinity set
 * from outside later is replaced by the next background work's end.  The
 * price: background work gets one CPU, shared with whatever else runs
 * there, so on a machine that keeps that CPU busy a sweep takes longer
 * (files are hidden at their deadline all the same; only the shredding
 * waits).
 *
 * Measured (make bench shred, 50,000 files, 2 cores, alternating runs):
 * stat p99 during the sweep 105-157 us -> 65-80 us, p50 26-32 -> 14-15 us,
 * and the sweep itself 7,300-7,900 -> 8,100-8,300 files/s.
 */
#ifndef RFS_CPU_H
#define RFS_CPU_H

/* Notes the CPUs the process may use; call once before any thread starts. */
void rfs_cpu_init(void);

/*
 * The calling thread starts background work: it drops to nice 10 and, if
 * the process has two or more CPUs, moves to the background CPU and sends
 * the request workers to the others.  Returns a token for rfs_cpu_bg_end.
 * Calls nest and may come from several threads at once.
 */
int rfs_cpu_bg_begin(void);
void rfs_cpu_bg_end(int token);

/*
 * A request worker calls this each time before it waits for a request: it
 * moves the thread off the background CPU, or back, when that changed.
 * One atomic load when nothing changed.
 */
void rfs_cpu_worker_wait(void);

#endif
